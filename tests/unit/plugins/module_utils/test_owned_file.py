"""owned_file: the owner, group and mode of a file a module owns, and reading it as text."""

import grp
import os
import pwd

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.owned_file import (
    attributes_differ,
    parse_mode,
    read_text,
    resolve_ids,
    write_text,
)


@pytest.mark.parametrize("value, mode", [
    ("0640", 0o640),
    ("640", 0o640),
    ("0600", 0o600),
    (0o640, 0o640),  # YAML's 0640 arrives as the int 416
    ("02750", 0o2750),
])
def test_modes_as_text_or_yaml_octal(value, mode):
    assert parse_mode(value) == mode


@pytest.mark.parametrize("value", ["u=rw,g=r", "0648", "", "640640", True, -1, 0o10000])
def test_modes_that_are_not_octal_are_refused(value):
    with pytest.raises(ValueError, match="not an octal mode"):
        parse_mode(value)


def test_owner_and_group_by_name_or_number():
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    assert resolve_ids(user, group) == (os.getuid(), os.getgid())
    assert resolve_ids(str(os.getuid()), None) == (os.getuid(), -1)
    assert resolve_ids(None, "") == (-1, -1)


def test_attributes_compare_only_what_is_given(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(0o640)
    assert not attributes_differ(str(path), 0o640, -1, -1)
    assert attributes_differ(str(path), 0o600, -1, -1)
    assert not attributes_differ(str(path), 0o640, os.getuid(), os.getgid())
    assert attributes_differ(str(path), 0o640, os.getuid() + 1, -1)


def test_read_text(tmp_path):
    assert read_text(str(tmp_path / "missing"), "the settings") is None
    (tmp_path / "f").write_text("Größe")
    assert read_text(str(tmp_path / "f"), "the settings") == "Größe"
    (tmp_path / "latin1").write_bytes(b"Gr\xf6\xdfe")
    with pytest.raises(ValueError, match="is not UTF-8 text .*so it is not the settings; fix it or move it aside"):
        read_text(str(tmp_path / "latin1"), "the settings")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_rewrite_without_owner_or_group_keeps_the_files_own(tmp_path):
    path = tmp_path / "settings_password.key"
    path.write_text("old")
    os.chown(str(path), 4242, 4343)  # the app's service account, say
    write_text(str(path), "new", 0o600, -1, -1)
    assert (path.stat().st_uid, path.stat().st_gid, path.read_text()) == (4242, 4343, "new")
    write_text(str(path), "newer", 0o600, -1, 4444)
    assert (path.stat().st_uid, path.stat().st_gid) == (4242, 4444)
