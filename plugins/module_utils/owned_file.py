# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small text file that a module owns outright: read it, write it atomically with its owner, group and mode.

devserver_settings and devserver_password share this: both manage one file in the DevServer app's
devserver/ folder that the app itself also writes. Errors are ValueError with a message that names the
file and says what to do; the module turns them into fail_json. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import stat

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import write_text_atomically


def parse_mode(value):
    """A mode as an int: an int as YAML gives it (0640 is already 416) or octal digits as text ('0640', '640')."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o7777:
        return value
    text = str(value).strip()
    if text and len(text) <= 5 and all(digit in "01234567" for digit in text):
        return int(text, 8)
    raise ValueError("mode %r is not an octal mode; write it as text, for example '0640'" % (value,))


def resolve_ids(owner, group):
    """(uid, gid) for a user and a group name (or number); -1 where not given. Unknown names fail."""
    uid = gid = -1
    if owner not in (None, ""):
        try:
            uid = int(owner) if str(owner).isdigit() else pwd.getpwnam(owner).pw_uid
        except KeyError:
            raise ValueError("owner %s: there is no such user on this host; create the account first" % owner)
    if group not in (None, ""):
        try:
            gid = int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise ValueError("group %s: there is no such group on this host; create the group first" % group)
    return uid, gid


def read_text(path, what):
    """The file's text, or None when it does not exist. what names the file in messages ("the app's settings").

    A missing folder, a folder in the file's place, unreadable or non-UTF-8 bytes raise ValueError.
    """
    folder = os.path.dirname(path) or os.curdir
    if not os.path.isdir(folder):
        raise ValueError("%s: the folder %s does not exist (the app's checkout comes first); nothing was changed"
                         % (path, folder))
    if not os.path.lexists(path):
        return None
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError("%s is not a regular file (%s belongs there); move it aside, nothing was changed" % (path, what))
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError("%s is not UTF-8 text (%s), so it is not %s; fix it or move it aside, nothing was changed"
                         % (path, error, what))
    except (IOError, OSError) as error:
        raise ValueError("%s cannot be read: %s; nothing was changed" % (path, error))


def write_text(path, text, mode, uid, gid):
    """Replace the file atomically; the new file has its owner, group and mode from the start.

    Where uid or gid is -1 an existing file's owner or group is kept (the app's service account must
    still read it), as a rewrite in place would.
    """
    try:
        if os.path.exists(path):
            info = os.stat(path)
            uid, gid = info.st_uid if uid == -1 else uid, info.st_gid if gid == -1 else gid
        write_text_atomically(path, text, mode=mode, uid=uid, gid=gid)
    except (IOError, OSError) as error:
        raise ValueError("%s cannot be written: %s; the file was left as it was" % (path, error))


def attributes_differ(path, mode, uid, gid):
    """Whether the existing file's mode, owner or group (where given) differ from the wanted ones."""
    info = os.stat(path)
    return (stat.S_IMODE(info.st_mode) != mode or (uid != -1 and info.st_uid != uid)
            or (gid != -1 and info.st_gid != gid))


def set_attributes(path, mode, uid, gid):
    """Give an existing file its wanted owner, group and mode."""
    os.chown(path, uid, gid)
    os.chmod(path, mode)
