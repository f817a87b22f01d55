"""devserver_password: the app's settings_password.key holds the Werkzeug hash of the vault's password.

The app checks the file with Werkzeug's check_password_hash, so these tests do too.
"""

import json
import os
import re
import stat

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import app_password
from ansible_collections.ai4artsed.devserver.plugins.modules import devserver_password
from helpers.app_source import APP_BUNDLE, SKIP_REASON, app_file
from helpers.module_runner import run_module

PASSWORD = "vault-settings-password-2026"
OLD = 1000000000  # an mtime in the past, to see whether a run rewrote the file
SETTINGS_ROUTES = "devserver/my_app/routes/settings_routes.py"


@pytest.fixture
def werkzeug_security():
    return pytest.importorskip("werkzeug.security", reason="Werkzeug (requirements-dev.txt) is not in this venv; "
                                                           "run scripts/bootstrap to rebuild it")


@pytest.fixture
def fast(monkeypatch):
    """Fewer pbkdf2 iterations for the hashes the module writes: the same format, a test in milliseconds."""
    monkeypatch.setattr(app_password, "PBKDF2_ITERATIONS", 1000)


@pytest.fixture(scope="module")
def app_default_password(tmp_path_factory):
    """The password the app hard-codes for its first start, read from its source (never copied into ours)."""
    if not APP_BUNDLE.exists():
        pytest.skip(SKIP_REASON % APP_BUNDLE)
    source = app_file(SETTINGS_ROUTES, tmp_path_factory.mktemp("app"))
    found = re.search(r'^\s*FIXED_PASSWORD = "([^"]+)"', source, re.MULTILINE)
    assert found, "the app's %s no longer hard-codes FIXED_PASSWORD: see what its first start writes" % SETTINGS_ROUTES
    return found.group(1)


def app_first_start(path, werkzeug_security, password, method="pbkdf2:sha256:1000"):
    """What the app's initialize_password() writes when the file is missing (its method is pbkdf2:sha256:
    Werkzeug's default iterations, which take a second; the other tests ask for fewer)."""
    path.write_text(werkzeug_security.generate_password_hash(password, method=method))
    path.chmod(0o600)
    os.utime(str(path), (OLD, OLD))


def run(capsys, path, password=PASSWORD, **args):
    check_mode, diff = args.pop("check_mode", False), args.pop("diff", False)
    failed, result = run_module(capsys, devserver_password, dict(path=str(path), password=password, **args),
                                check_mode=check_mode, diff=diff)
    shown = json.dumps(result)
    assert not password or password not in shown, "the password appears in the module's result"
    if path.is_file() and path.read_text():
        assert path.read_text().split("$")[-1] not in shown, "the hash appears in the module's result"
    return failed, result


def test_the_apps_default_password_no_longer_works_after_a_run(tmp_path, capsys, werkzeug_security, app_default_password):
    path = tmp_path / "settings_password.key"
    app_first_start(path, werkzeug_security, app_default_password, method="pbkdf2:sha256")
    assert werkzeug_security.check_password_hash(path.read_text().strip(), app_default_password)
    failed, result = run(capsys, path)
    assert not failed and result["changed"]
    assert result["reason"] == "set: the file held another password's hash (the app's built-in default or an earlier one)"
    stored = path.read_text().strip()  # as the app reads it at login
    assert not werkzeug_security.check_password_hash(stored, app_default_password)
    assert werkzeug_security.check_password_hash(stored, PASSWORD)
    assert re.match(r"^pbkdf2:sha256:1000000\$[A-Za-z0-9]{16}\$[0-9a-f]{64}$", stored)  # the app's own format
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_missing_file_is_created_and_a_second_run_changes_nothing(tmp_path, capsys, werkzeug_security, fast):
    path = tmp_path / "settings_password.key"
    failed, result = run(capsys, path)
    assert not failed and result == dict(result, changed=True, reason="created")
    assert werkzeug_security.check_password_hash(path.read_text(), PASSWORD)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and os.listdir(str(tmp_path)) == [path.name]
    os.utime(str(path), (OLD, OLD))
    text = path.read_text()
    failed, result = run(capsys, path)
    assert not failed and not result["changed"] and result["reason"] == "already set"
    assert path.read_text() == text and path.stat().st_mtime == OLD


@pytest.mark.parametrize("method", ["pbkdf2:sha256:1000", "scrypt:1024:8:1"])
def test_a_password_a_teacher_set_to_the_same_value_is_left_alone(tmp_path, capsys, werkzeug_security, method):
    path = tmp_path / "settings_password.key"
    path.write_text(werkzeug_security.generate_password_hash(PASSWORD, method=method))  # the settings page wrote it
    path.chmod(0o600)
    os.utime(str(path), (OLD, OLD))
    failed, result = run(capsys, path)
    assert not failed and not result["changed"] and result["reason"] == "already set" and path.stat().st_mtime == OLD


def test_a_password_a_teacher_changed_is_replaced_by_the_vaults(tmp_path, capsys, werkzeug_security, fast):
    path = tmp_path / "settings_password.key"
    app_first_start(path, werkzeug_security, "a teacher's own password")
    failed, result = run(capsys, path)
    assert not failed and result["changed"] and result["reason"].startswith("set: the file held another password's")
    assert werkzeug_security.check_password_hash(path.read_text(), PASSWORD)
    assert not werkzeug_security.check_password_hash(path.read_text(), "a teacher's own password")


@pytest.mark.parametrize("text", ["", "a password as plain text\n", "sha1$abc$0123"])
def test_a_file_without_a_hash_werkzeug_reads_is_replaced(tmp_path, capsys, werkzeug_security, fast, text):
    path = tmp_path / "settings_password.key"
    path.write_text(text)
    failed, result = run(capsys, path)
    assert not failed and result["changed"] and result["reason"].startswith("set: the file held nothing Werkzeug can")
    assert werkzeug_security.check_password_hash(path.read_text(), PASSWORD)


def test_check_mode_reports_and_touches_nothing(tmp_path, capsys, werkzeug_security):
    path = tmp_path / "settings_password.key"
    failed, result = run(capsys, path, check_mode=True)
    assert not failed and result["changed"] and result["reason"] == "created" and not path.exists()
    app_first_start(path, werkzeug_security, "another password")
    text = path.read_text()
    failed, result = run(capsys, path, check_mode=True)
    assert not failed and result["changed"] and result["reason"].startswith("set: the file held another")
    assert path.read_text() == text and path.stat().st_mtime == OLD


def test_diff_says_the_hash_changes_and_never_shows_it(tmp_path, capsys, werkzeug_security, fast):
    path = tmp_path / "settings_password.key"
    app_first_start(path, werkzeug_security, "another password")
    old_hash = path.read_text()
    failed, result = run(capsys, path, diff=True)
    assert not failed and result["changed"]
    diff = result["diff"]
    assert diff["before"] == "(a hash that does not verify the given password)\n"
    assert diff["after"] == "(the hash of the given password)\n"
    for secret in (old_hash, path.read_text(), old_hash.split("$")[1], path.read_text().split("$")[1]):
        assert secret not in json.dumps(diff)
    failed, result = run(capsys, path, diff=True)
    assert not failed and not result["changed"] and result["diff"]["before"] == result["diff"]["after"]


def test_mode_is_enforced_when_the_hash_is_right(tmp_path, capsys, fast):
    path = tmp_path / "settings_password.key"
    run(capsys, path)
    path.chmod(0o644)
    os.utime(str(path), (OLD, OLD))
    failed, result = run(capsys, path, check_mode=True)
    assert not failed and result["changed"] and stat.S_IMODE(path.stat().st_mode) == 0o644
    failed, result = run(capsys, path, owner=str(os.getuid()), group=str(os.getgid()))
    assert not failed and result["changed"] and result["reason"] == "already set; owner, group or mode corrected"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_mtime == OLD
    failed, result = run(capsys, path)
    assert not failed and not result["changed"]


@pytest.mark.parametrize("password, min_length", [("eleven-char", 12), ("", 12), ("x" * 19, 20)])
def test_a_short_password_fails_without_showing_it_and_changes_nothing(tmp_path, capsys, werkzeug_security,
                                                                       password, min_length):
    path = tmp_path / "settings_password.key"
    app_first_start(path, werkzeug_security, "another password")
    text = path.read_text()
    failed, result = run(capsys, path, password=password, min_length=min_length)
    assert failed and "fewer than min_length %d" % min_length in result["msg"]
    assert path.read_text() == text and path.stat().st_mtime == OLD
