# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DevServer app's settings password: Werkzeug's password hash format, written and checked with hashlib.

The app keeps the hash in devserver/settings_password.key. On first start it writes the hash of a
password hard-coded in its source; its change-password route writes
generate_password_hash(new, method='pbkdf2:sha256') and refuses a new password under 12 characters.
It checks with check_password_hash(file text stripped, password).

Werkzeug's format is "<method>$<salt>$<hex digest>" (werkzeug/security.py):
  pbkdf2[:<hash name>[:<iterations>]]  hashlib.pbkdf2_hmac(hash name (sha256), password, salt, iterations)
  scrypt[:<n>:<r>:<p>]                 hashlib.scrypt(password, salt, n (2**15), r (8), p (1), maxmem 132*n*r*p)
with password and salt encoded as UTF-8 and the salt 16 characters of letters and digits. Missing
parameters take Werkzeug's defaults. The host needs no Werkzeug; the unit tests prove the format
against the real one both ways.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import string
from random import SystemRandom

# Werkzeug 3.1's DEFAULT_PBKDF2_ITERATIONS (3.0 had 600000); the app pins Flask 3.0.0, which takes Werkzeug 3.x.
PBKDF2_ITERATIONS = 1000000
# The most work a stored hash may ask of a check: ten times what the app writes, and Werkzeug's scrypt default
# (2**15 * 8 * 128 bytes, 32 MiB) sixteen times over. A file that asks for more (2**31 iterations: hours) was not
# written by the app; checking it would hang the run, so it is refused instead.
MAX_PBKDF2_ITERATIONS = 10 * PBKDF2_ITERATIONS
MAX_SCRYPT_BYTES = 512 * 1024 * 1024
SALT_CHARS = string.ascii_letters + string.digits
SALT_LENGTH = 16

CREATED = "created"
ALREADY_SET = "already set"
REPLACED = "set: the file held another password's hash (the app's built-in default or an earlier one)"
UNREADABLE = "set: the file held nothing Werkzeug can check a password against (no hash in its format)"


def hash_password(password, salt=None, iterations=None):
    """What generate_password_hash(password, method='pbkdf2:sha256') writes: pbkdf2:sha256:<iterations>$<salt>$<hex>."""
    iterations = PBKDF2_ITERATIONS if iterations is None else iterations
    if salt is None:
        choose = SystemRandom().choice  # secrets.choice, as Werkzeug's gen_salt
        salt = "".join(choose(SALT_CHARS) for _position in range(SALT_LENGTH))
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode("utf-8"), iterations).hex()
    return "pbkdf2:sha256:%d$%s$%s" % (iterations, salt, digest)


def split_hash(stored):
    """(method, salt, hex digest) of a stored hash (the file's text) in a format Werkzeug writes; None otherwise.

    Only the method's shape is checked here (pbkdf2 with a hash name this host has, scrypt with three
    numbers), so telling "another password" from "no hash at all" costs no key derivation.
    """
    parts = stored.strip().split("$", 2)
    if len(parts) != 3:
        return None
    name, _sep, parameters = parts[0].partition(":")
    arguments = parameters.split(":") if parameters else []
    if name == "pbkdf2" and len(arguments) <= 2:
        known = (not arguments or arguments[0] in hashlib.algorithms_available) and all(a.isdigit() for a in arguments[1:])
    elif name == "scrypt" and len(arguments) in (0, 3):
        known = hasattr(hashlib, "scrypt") and all(argument.isdigit() for argument in arguments)
    else:
        known = False
    return tuple(parts) if known else None


def method_parameters(method):
    """A split_hash method with Werkzeug's defaults filled in: ("scrypt", (n, r, p)) or
    ("pbkdf2", (hash name, iterations))."""
    name, _sep, parameters = method.partition(":")
    arguments = parameters.split(":") if parameters else []
    if name == "scrypt":
        return name, tuple(int(argument) for argument in arguments) if arguments else (2 ** 15, 8, 1)
    return name, (arguments[0] if arguments else "sha256",
                  int(arguments[1]) if len(arguments) == 2 else PBKDF2_ITERATIONS)


def _cost(method):
    """(pbkdf2 iterations, scrypt memory in bytes) a check of a split_hash method takes."""
    name, arguments = method_parameters(method)
    if name == "scrypt":
        n, r, p = arguments
        return 0, 128 * n * r * p
    return arguments[1], 0


def too_costly(stored):
    """Why checking a password against stored would take far longer or more memory than the app's own hash; None
    when it would not (or stored is no hash at all)."""
    parts = split_hash(stored)
    if parts is None:
        return None
    iterations, memory = _cost(parts[0])
    if iterations > MAX_PBKDF2_ITERATIONS:
        return "a pbkdf2 hash of %d iterations (the app writes %d; checking it would take hours)" % (
            iterations, PBKDF2_ITERATIONS)
    if memory > MAX_SCRYPT_BYTES:
        return "a scrypt hash that needs %d MiB to check (Werkzeug's default needs 32)" % (memory // 2 ** 20)
    return None


def derive(method, salt, password):
    """The hex digest Werkzeug's _hash_internal computes for a method of split_hash, with its defaults."""
    name, arguments = method_parameters(method)
    salt_bytes, password_bytes = salt.encode("utf-8"), password.encode("utf-8")
    if name == "scrypt":
        n, r, p = arguments
        return hashlib.scrypt(password_bytes, salt=salt_bytes, n=n, r=r, p=p, maxmem=132 * n * r * p).hex()
    hash_name, iterations = arguments
    return hashlib.pbkdf2_hmac(hash_name, password_bytes, salt_bytes, iterations).hex()


def verify_password(stored, password):
    """check_password_hash(stored.strip(), password), as the app calls it; False for anything that is not such a hash."""
    parts = split_hash(stored)
    if parts is None:
        return False
    method, salt, expected = parts
    try:
        actual = derive(method, salt, password)
    except (ValueError, MemoryError):  # parameters hashlib refuses (scrypt's n not a power of 2, a hash name without pbkdf2)
        return False
    return hmac.compare_digest(actual.encode("utf-8"), expected.encode("utf-8"))


def check_new_password(password, min_length):
    """ValueError when the password is one the app's change-password route would refuse (too short)."""
    if len(password) < min_length:
        raise ValueError("the settings password has %d characters, fewer than min_length %d (the app's own rule for "
                         "a new password); set a longer one in the vault" % (len(password), min_length))


def plan(stored, password, path="the password file"):
    """(write, reason): whether the file needs a new hash, and why, for the file's text (None when missing).

    ValueError for a hash too costly to check: nobody but an intruder writes one, and the app would hang on it too.
    """
    if stored is None:
        return True, CREATED
    costly = too_costly(stored)
    if costly:
        raise ValueError("%s holds %s, not a hash the app wrote; move it aside and run again (the run then writes the "
                         "vault's password), nothing was changed" % (path, costly))
    if verify_password(stored, password):
        return False, ALREADY_SET
    return True, REPLACED if split_hash(stored) is not None else UNREADABLE
