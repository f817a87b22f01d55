"""app_password: Werkzeug's password hash format, written and checked with hashlib alone.

The format is proven against the real Werkzeug both ways (the app checks our hash with
check_password_hash; we check the hashes its generate_password_hash writes, pbkdf2 and scrypt).
"""

import re

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import app_password
from ansible_collections.ai4artsed.devserver.plugins.module_utils.app_password import (
    ALREADY_SET,
    CREATED,
    REPLACED,
    UNREADABLE,
    check_new_password,
    hash_password,
    plan,
    split_hash,
    verify_password,
)

PASSWORD = "correct horse battery staple"
FEW = 1000  # iterations: the format is the same, the tests are fast


@pytest.fixture
def werkzeug_security():
    return pytest.importorskip("werkzeug.security", reason="Werkzeug (requirements-dev.txt) is not in this venv; "
                                                           "run scripts/bootstrap to rebuild it")


def test_our_hash_has_the_apps_format_and_werkzeugs_defaults():
    stored = hash_password(PASSWORD)
    match = re.match(r"^pbkdf2:sha256:(\d+)\$([A-Za-z0-9]{16})\$([0-9a-f]{64})$", stored)
    assert match and int(match.group(1)) == 1000000
    assert hash_password(PASSWORD, iterations=FEW).split("$")[1] != match.group(2)  # a fresh random salt each time


def test_werkzeug_checks_our_hash(werkzeug_security):
    assert app_password.PBKDF2_ITERATIONS == werkzeug_security.DEFAULT_PBKDF2_ITERATIONS
    stored = hash_password(PASSWORD, iterations=FEW)
    assert werkzeug_security.check_password_hash(stored, PASSWORD)
    assert not werkzeug_security.check_password_hash(stored, PASSWORD + "!")
    unicode_password = "Kunst-Passwort-Größe-ß"
    assert werkzeug_security.check_password_hash(hash_password(unicode_password, iterations=FEW), unicode_password)


def test_werkzeug_checks_our_hash_with_the_default_iterations(werkzeug_security):
    assert werkzeug_security.check_password_hash(hash_password(PASSWORD), PASSWORD)


UNICODE = "Größe-ß-ünïcode"


@pytest.mark.parametrize("method, passwords", [
    ("pbkdf2:sha256", [PASSWORD]),  # what the app writes; Werkzeug's default iterations (slow, so one password)
    ("pbkdf2", [PASSWORD]),
    ("pbkdf2:sha256:%d" % FEW, [PASSWORD, UNICODE]),
    ("pbkdf2:sha512:%d" % FEW, [PASSWORD, UNICODE]),
    ("scrypt", [PASSWORD]),  # Werkzeug's default method
    ("scrypt:1024:8:1", [PASSWORD, UNICODE]),
])
def test_we_check_the_hashes_werkzeug_writes(werkzeug_security, method, passwords):
    for password in passwords:
        stored = werkzeug_security.generate_password_hash(password, method=method)
        assert verify_password(stored, password), stored.split("$")[0]
        assert not verify_password(stored, password + "x")


def test_the_apps_way_of_reading_the_file(werkzeug_security):
    """The app strips the file's text; so do we (a newline an editor added does not matter)."""
    stored = werkzeug_security.generate_password_hash(PASSWORD, method="pbkdf2:sha256:%d" % FEW)
    assert verify_password(stored + "\n", PASSWORD) and verify_password("  " + stored, PASSWORD)


@pytest.mark.parametrize("stored, readable", [
    ("pbkdf2:sha256:%d$abc$00" % FEW, True),
    ("pbkdf2$abc$00", True),
    ("scrypt:16384:8:1$abc$00", True),
    ("scrypt$abc$00", True),
    ("", False),
    ("password123", False),
    ("sha256$abc$00", False),  # plain hashes Werkzeug 3 no longer reads
    ("pbkdf2:nosuchhash:1000$abc$00", False),
    ("pbkdf2:sha256:many$abc$00", False),
    ("pbkdf2:sha256:1000:1$abc$00", False),
    ("scrypt:16384:8$abc$00", False),
    ("pbkdf2:sha256:1000$abc", False),
])
def test_which_texts_are_hashes_werkzeug_can_check(stored, readable):
    assert (split_hash(stored) is not None) is readable
    assert not verify_password(stored, PASSWORD)


def test_a_hash_with_parameters_hashlib_refuses_does_not_verify():
    assert split_hash("scrypt:1000:8:1$abc$00") is not None  # n not a power of two: hashlib raises ValueError
    assert not verify_password("scrypt:1000:8:1$abc$00", PASSWORD)


@pytest.mark.parametrize("stored, write, reason", [
    (None, True, CREATED),
    (hash_password(PASSWORD, iterations=FEW), False, ALREADY_SET),
    (hash_password(PASSWORD, iterations=FEW) + "\n", False, ALREADY_SET),
    (hash_password("an earlier password", iterations=FEW), True, REPLACED),
    ("", True, UNREADABLE),
    ("not a hash", True, UNREADABLE),
], ids=["missing", "same", "same with newline", "another password", "empty", "garbage"])
def test_plan(stored, write, reason):
    assert plan(stored, PASSWORD) == (write, reason)


@pytest.mark.parametrize("password, min_length, ok", [
    ("x" * 12, 12, True),
    ("x" * 11, 12, False),
    ("", 12, False),
    ("short", 4, True),
])
def test_a_password_shorter_than_min_length_is_refused_without_showing_it(password, min_length, ok):
    if ok:
        check_new_password(password, min_length)
        return
    with pytest.raises(ValueError) as error:
        check_new_password(password, min_length)
    assert "fewer than min_length %d" % min_length in str(error.value)
    assert not password or password not in str(error.value)
