"""safe_file: the one way modules read and write a file in a folder a service account may own."""

import errno
import grp
import os
import pwd
import stat

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import safe_file
from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import UnsafeFile
from helpers.hostile import KIND_IDS, KINDS, SECRET, no_hang, plant, snapshot


@pytest.mark.parametrize(("kind", "said"), KINDS, ids=KIND_IDS)
def test_reading_anything_but_a_regular_file_fails_at_once_and_reads_nothing(tmp_path, kind, said):
    path = tmp_path / "Settings.fds"
    plant(path, kind, tmp_path)
    with no_hang(), pytest.raises(UnsafeFile) as error:
        safe_file.read_text(str(path), "SwarmUI's settings")
    message = str(error.value)
    assert str(path) in message and said in message and "move it aside" in message
    assert SECRET not in message


@pytest.mark.parametrize(("kind", "said"), KINDS, ids=KIND_IDS)
def test_writing_never_replaces_or_follows_anything_but_a_regular_file(tmp_path, kind, said):
    folder = tmp_path / "Data"
    folder.mkdir()
    path = folder / "Settings.fds"
    plant(path, kind, tmp_path)
    before = snapshot(tmp_path)
    planted = os.lstat(str(path))
    with no_hang(), pytest.raises(UnsafeFile, match=said):
        safe_file.write_text(str(path), "new text", mode=0o644)
    assert snapshot(tmp_path) == before
    assert os.lstat(str(path)).st_ino == planted.st_ino  # still the planted thing, not replaced
    assert os.listdir(str(folder)) == ["Settings.fds"]  # no temporary file left


@pytest.mark.parametrize("kind", ["symlink to a root-only file", "FIFO"])
def test_attributes_are_never_set_through_a_symlink_or_on_a_fifo(tmp_path, kind):
    path = tmp_path / "user_settings.json"
    plant(path, kind, tmp_path)
    before = snapshot(tmp_path)
    with no_hang(), pytest.raises(UnsafeFile):
        safe_file.ensure_attributes(str(path), 0o644, -1, -1)
    assert snapshot(tmp_path) == before


def test_a_folder_symlink_that_another_account_could_replace_is_refused(tmp_path):
    shared = tmp_path / "shared"
    (tmp_path / "real").mkdir()
    shared.mkdir()
    (shared / "Data").symlink_to(tmp_path / "real")
    shared.chmod(0o777)  # any account can swap the link
    with pytest.raises(UnsafeFile, match="its folder .*Data is a symlink that another account"):
        safe_file.write_text(str(shared / "Data" / "Settings.fds"), "x")
    with pytest.raises(UnsafeFile, match="is a symlink that another account"):
        safe_file.read_text(str(shared / "Data" / "Settings.fds"))
    assert os.listdir(str(tmp_path / "real")) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="a link owned by another account needs root to make")
def test_a_folder_symlink_owned_by_a_service_account_is_refused(tmp_path):
    (tmp_path / "etc").mkdir()
    link = tmp_path / "Data"
    link.symlink_to(tmp_path / "etc")
    os.lchown(str(link), 4242, 4242)  # placed by the service account
    with pytest.raises(UnsafeFile, match=r"uid 4242"):
        safe_file.write_text(str(link / "Settings.fds"), "x")
    assert os.listdir(str(tmp_path / "etc")) == []


def test_a_folder_symlink_of_our_own_in_our_own_folder_is_followed(tmp_path):
    (tmp_path / "disk").mkdir()
    (tmp_path / "Models").symlink_to(tmp_path / "disk")  # a big disk linked in by whoever runs the module
    safe_file.write_text(str(tmp_path / "Models" / "record.json"), "{}")
    assert (tmp_path / "disk" / "record.json").read_text() == "{}"


def test_read_text_of_missing_file_text_and_other_bytes(tmp_path):
    assert safe_file.read_text(str(tmp_path / "missing"), "the settings") is None
    (tmp_path / "f").write_text("Größe")
    assert safe_file.read_text(str(tmp_path / "f"), "the settings") == "Größe"
    (tmp_path / "latin1").write_bytes(b"Gr\xf6\xdfe")
    with pytest.raises(UnsafeFile, match="is not UTF-8 text .*so it is not the settings; fix it or move it aside"):
        safe_file.read_text(str(tmp_path / "latin1"), "the settings")
    with pytest.raises(UnsafeFile, match="the folder .*absent does not exist; create it first"):
        safe_file.read_text(str(tmp_path / "absent" / "f"))


def test_a_file_larger_than_the_limit_is_refused(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 101)
    assert safe_file.read_bytes(str(tmp_path / "big"), limit=101) == b"x" * 101
    with pytest.raises(UnsafeFile, match="larger than 100 bytes, too large for the file"):
        safe_file.read_bytes(str(tmp_path / "big"), limit=100)


@pytest.mark.parametrize(("mode", "expected"), [(0o600, 0o600), (0o640, 0o640), (None, 0o644)],
                         ids=["secret", "group-readable", "as open() would"])
def test_a_new_file_has_its_mode_before_anyone_can_read_it(tmp_path, monkeypatch, mode, expected):
    path = tmp_path / "settings_password.key"
    seen = []
    real_replace = os.replace

    def replace_and_look(source, target, **folders):  # the temporary file's mode just before it takes the name
        seen.append(stat.S_IMODE(os.stat(source, dir_fd=folders["src_dir_fd"]).st_mode))
        real_replace(source, target, **folders)

    monkeypatch.setattr(safe_file.os, "replace", replace_and_look)
    old_umask = os.umask(0o022)
    try:
        safe_file.write_text(str(path), "new", mode=mode, uid=os.getuid(), gid=os.getgid())
    finally:
        os.umask(old_umask)
    assert path.read_text() == "new" and seen == [expected] and stat.S_IMODE(path.stat().st_mode) == expected
    assert os.listdir(str(tmp_path)) == ["settings_password.key"]


def test_keep_attributes_keeps_an_existing_files_mode(tmp_path):
    path = tmp_path / "Settings.fds"
    path.write_text("old")
    path.chmod(0o604)
    safe_file.write_text(str(path), "new", keep_attributes=True)
    assert (path.read_text(), stat.S_IMODE(path.stat().st_mode)) == ("new", 0o604)
    safe_file.write_text(str(path), "newer", mode=0o640, keep_attributes=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_rewrite_without_owner_or_group_keeps_the_files_own(tmp_path):
    path = tmp_path / "settings_password.key"
    path.write_text("old")
    os.chown(str(path), 4242, 4343)  # the app's service account, say
    safe_file.write_text(str(path), "new", 0o600, keep_attributes=True)
    assert (path.stat().st_uid, path.stat().st_gid, path.read_text()) == (4242, 4343, "new")
    safe_file.write_text(str(path), "newer", 0o600, -1, 4444, keep_attributes=True)
    assert (path.stat().st_uid, path.stat().st_gid) == (4242, 4444)


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "user_settings.json"
    path.write_text("old")

    def disk_full(_descriptor, _data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safe_file.os, "write", disk_full)
    with pytest.raises(OSError, match="No space left"):
        safe_file.write_text(str(path), "new", mode=0o640)
    monkeypatch.undo()
    assert path.read_text() == "old" and os.listdir(str(tmp_path)) == ["user_settings.json"]


def test_text_that_is_not_unicode_fails_before_anything_is_touched(tmp_path):
    with pytest.raises(UnsafeFile, match="not valid Unicode"):
        safe_file.write_text(str(tmp_path / "f"), "lone \udc80 surrogate")
    assert os.listdir(str(tmp_path)) == []


def test_ensure_attributes_says_whether_they_differed_and_sets_them(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(0o644)
    assert safe_file.ensure_attributes(str(path), 0o600, -1, -1, check_mode=True) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # check mode changes nothing
    assert safe_file.ensure_attributes(str(path), 0o600, os.getuid(), os.getgid()) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert safe_file.ensure_attributes(str(path), 0o600, os.getuid(), -1) is False
    assert safe_file.ensure_attributes(str(tmp_path / "missing"), 0o600, -1, -1) is False


@pytest.mark.parametrize(("value", "mode"), [("0640", 0o640), ("640", 0o640), (" 0600 ", 0o600), ("0777", 0o777),
                                             (None, None)])
def test_modes_as_quoted_octal_text(value, mode):
    assert safe_file.parse_mode(value) == mode


@pytest.mark.parametrize(("value", "said"), [
    (640, "is a number, not text.*quote it, for example mode: '0640'"),
    (0o640, "is a number"),  # YAML's 0640 arrives as 416: it cannot say what was meant
    (True, "is a number"),
    ("4755", "sets setuid, setgid or sticky bits"),
    ("2750", "sets setuid, setgid or sticky bits"),
    ("1777", "sets setuid, setgid or sticky bits"),
    ("0648", "is not a file mode"),
    ("u=rw,g=r", "is not a file mode"),
    ("", "is not a file mode"),
    ("06400", "is not a file mode"),
])
def test_modes_that_are_not_permission_bits_as_text_are_refused(value, said):
    with pytest.raises(UnsafeFile, match=said):
        safe_file.parse_mode(value)


def test_owner_and_group_by_name_or_number():
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    assert safe_file.resolve_ids(user, group) == (os.getuid(), os.getgid())
    assert safe_file.resolve_ids(str(os.getuid()), None) == (os.getuid(), -1)
    assert safe_file.resolve_ids(None, "") == (-1, -1)


@pytest.mark.parametrize(("owner", "group", "said"), [
    ("no-such-user-4f2", None, "owner no-such-user-4f2: there is no such user on this host; create it first"),
    (None, "no-such-group-4f2", "group no-such-group-4f2: there is no such group"),
    ("99999999999999999999", None, "owner 99999999999999999999 is larger than any user id"),
    (None, "4294967295", "group 4294967295 is larger than any group id"),
    ("ai\x00root", None, "is not a user name"),
    ("\udc80", None, "there is no such user"),  # pwd reads a lone surrogate as a byte: an unknown name
    ("\u00b2", None, "there is no such user"),  # a superscript two is a digit to str.isdigit, not to int()
])
def test_owners_and_groups_that_cannot_be_are_a_message_not_a_traceback(owner, group, said):
    with pytest.raises(UnsafeFile, match=said):
        safe_file.resolve_ids(owner, group)


def test_open_regular_creates_a_missing_file_only_when_asked(tmp_path):
    assert safe_file.open_regular(str(tmp_path / "lock")) is None
    descriptor = safe_file.open_regular(str(tmp_path / "lock"), flags=os.O_RDWR | os.O_CREAT)
    os.close(descriptor)
    assert stat.S_IMODE((tmp_path / "lock").stat().st_mode) == 0o600
