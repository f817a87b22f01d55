# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and writing a file in a folder that a service account may own: the one way every module does it.

The modules run as root in folders the service accounts own (SwarmUI's Data/, the app's devserver/, the model
store, olah's cache). Whoever can write such a folder can put a symlink, a FIFO or a device where a module expects
its file. None of that may make root read, copy, chmod or hang on something else, so every operation here:
- opens the file's folder once and names the file relative to it (a folder swapped for a symlink afterwards
  changes nothing), and follows a folder that is a symlink only when root or the account running the module
  placed it where no other account can replace it (the kernel's protected_symlinks rule, one level up);
- opens the file itself with O_NOFOLLOW and O_NONBLOCK and checks fstat: a regular file, or UnsafeFile saying what
  is there, never a hang on a FIFO or a device;
- reads at most a limit of bytes (a settings file is kilobytes; a planted /dev/zero look-alike is not);
- writes through a temporary file beside it (0600 until it has its owner and mode, removed on every error path),
  synced and renamed over the file, and changes owner and mode through a descriptor, never by path.
Errors are UnsafeFile (a ValueError) with a message that names the path and says what to do; the modules turn
them into fail_json. Standard library only: this runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import grp
import os
import pwd
import secrets
import stat

TEXT_LIMIT = 16 * 1024 * 1024  # a settings file, record or report is kilobytes; this stops a planted endless file
MAX_ID = 2 ** 32 - 2  # (uid_t)-1 means "leave as it is" to chown
NOT_YET = -2  # an account check mode expects an earlier task to create: differs from every file's owner
NOTHING_CHANGED = "nothing was read or changed"

KINDS = ((stat.S_ISLNK, "a symlink"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
         (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


class UnsafeFile(ValueError):
    """A path that is not what a module may read or write, or input it cannot use; the message says what to do."""


def kind_of(mode):
    """'a symlink', 'a FIFO (named pipe)', ... for an st_mode; 'a regular file' for one."""
    for test, name in KINDS:
        if test(mode):
            return name
    return "a regular file"


def not_regular(path, mode, what):
    return UnsafeFile("%s is %s, not a regular file (%s belongs there); %s: move it aside and run again"
                      % (path, kind_of(mode), what, NOTHING_CHANGED))


def _trusted(uid):
    return uid in (0, os.geteuid())


def _folder_flags(folder, path):
    """The flags that open folder: it must stay what it is now (O_NOFOLLOW), unless it is a symlink we trust."""
    info = os.lstat(folder)
    if not stat.S_ISLNK(info.st_mode):
        return os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    container = os.stat(os.path.dirname(folder) or os.sep)
    writable_by_others = container.st_mode & 0o022 and not container.st_mode & stat.S_ISVTX
    if not (_trusted(info.st_uid) and _trusted(container.st_uid)) or writable_by_others:
        raise UnsafeFile("%s: its folder %s is a symlink that another account (uid %d) placed or can replace; %s: "
                         "make %s a real folder (or a link only root can change) and run again"
                         % (path, folder, info.st_uid if not _trusted(info.st_uid) else container.st_uid,
                            NOTHING_CHANGED, folder))
    return os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@contextlib.contextmanager
def folder_of(path):
    """(descriptor of path's folder, path's name in it); UnsafeFile when the folder is missing or untrusted."""
    path = os.path.abspath(path)
    folder, name = os.path.split(path)
    try:
        descriptor = os.open(folder, _folder_flags(folder, path))
    except FileNotFoundError:
        raise UnsafeFile("%s: the folder %s does not exist; create it first, %s" % (path, folder, NOTHING_CHANGED))
    except OSError as error:
        if error.errno == errno.ELOOP:  # it became a symlink after we looked
            raise UnsafeFile("%s: its folder %s was replaced by a symlink; %s" % (path, folder, NOTHING_CHANGED))
        raise UnsafeFile("%s: its folder %s cannot be opened (%s); %s"
                         % (path, folder, error.strerror or error, NOTHING_CHANGED))
    try:
        yield descriptor, name
    finally:
        os.close(descriptor)


def _lstat_in(folder, name):
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _open_in(folder, name, path, what, flags, create_mode=0o600):
    """A descriptor of the regular file name in folder (created where flags hold O_CREAT), or None when missing.

    lstat first, so a device or FIFO is never opened at all; then O_NOFOLLOW | O_NONBLOCK and fstat, so a file
    swapped in between is caught too.
    """
    info = _lstat_in(folder, name)
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise not_regular(path, info.st_mode, what)
    if info is None and not flags & os.O_CREAT:
        return None
    try:
        descriptor = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, create_mode, dir_fd=folder)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise not_regular(path, stat.S_IFLNK, what)
        swapped = _lstat_in(folder, name)  # a FIFO or socket put there since the lstat (ENXIO)
        if swapped is not None and not stat.S_ISREG(swapped.st_mode):
            raise not_regular(path, swapped.st_mode, what)
        raise UnsafeFile("%s cannot be opened (%s); %s" % (path, error.strerror or error, NOTHING_CHANGED))
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise not_regular(path, info.st_mode, what)
    fcntl.fcntl(descriptor, fcntl.F_SETFL, fcntl.fcntl(descriptor, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return descriptor


def open_regular(path, what="the file", flags=os.O_RDONLY, create_mode=0o600):
    """A descriptor of the regular file at path (the caller closes it), or None when it does not exist.

    With O_CREAT in flags a missing file is created with create_mode (less the umask). Anything but a regular file
    raises UnsafeFile.
    """
    path = os.path.abspath(path)
    with folder_of(path) as (folder, name):
        return _open_in(folder, name, path, what, flags, create_mode)


def _read_all(descriptor, path, what, limit):
    chunks, total = [], 0
    while True:
        chunk = os.read(descriptor, min(1024 * 1024, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise UnsafeFile("%s is larger than %d bytes, too large for %s; %s: move it aside and run again"
                             % (path, limit, what, NOTHING_CHANGED))


def read_bytes(path, what="the file", limit=TEXT_LIMIT):
    """The file's bytes, or None when it does not exist; its folder must exist."""
    descriptor = open_regular(path, what)
    if descriptor is None:
        return None
    try:
        return _read_all(descriptor, os.path.abspath(path), what, limit)
    except OSError as error:
        raise UnsafeFile("%s cannot be read (%s); %s" % (path, error.strerror or error, NOTHING_CHANGED))
    finally:
        os.close(descriptor)


def read_text(path, what="the file", limit=TEXT_LIMIT):
    """The file's UTF-8 text, or None when it does not exist; its folder must exist."""
    data = read_bytes(path, what, limit)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnsafeFile("%s is not UTF-8 text (%s), so it is not %s; fix it or move it aside, %s"
                         % (path, error, what, NOTHING_CHANGED))


def _write_all(descriptor, data):
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


def write_bytes(path, data, mode=None, uid=-1, gid=-1, keep_attributes=False, sync=True, what="the file"):
    """Replace the file at path with data so that readers see the old file or the new one, never half of one.

    A temporary file beside it is written, synced and renamed over it; the folder is synced. With mode (an int)
    and uid/gid (-1: leave) the temporary file has them before the rename, and is 0600 until then, so a secret is
    never visible to others; without mode a new file gets 0666 less the umask. keep_attributes: an existing file's
    owner, group and mode stay where uid, gid or mode do not say otherwise. A symlink, FIFO or other non-regular
    file at path is never replaced (UnsafeFile). On any error only our temporary file is removed.
    """
    path = os.path.abspath(path)
    with folder_of(path) as (folder, name):
        existing = _lstat_in(folder, name)
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            raise not_regular(path, existing.st_mode, what)
        if existing is not None and keep_attributes:
            uid = existing.st_uid if uid == -1 else uid
            gid = existing.st_gid if gid == -1 else gid
            mode = stat.S_IMODE(existing.st_mode) if mode is None else mode
        temporary = ".%s.tmp-%s" % (name, secrets.token_hex(6))
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o666 if mode is None else 0o600, dir_fd=folder)
        try:
            try:
                if uid != -1 or gid != -1:
                    os.fchown(descriptor, uid, gid)
                if mode is not None:
                    os.fchmod(descriptor, mode)
                _write_all(descriptor, data)
                if sync:
                    os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=folder)  # our own temporary file, never the file at path
            raise
        if sync:
            os.fsync(folder)


def write_text(path, text, mode=None, uid=-1, gid=-1, keep_attributes=False, sync=True, what="the file"):
    """write_bytes of text as UTF-8; text that cannot be UTF-8 (a lone surrogate) fails before anything is touched."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise UnsafeFile("%s: the text to write is not valid Unicode (%s); %s" % (path, error, NOTHING_CHANGED))
    write_bytes(path, data, mode, uid, gid, keep_attributes, sync, what)


def attributes_differ(info, mode, uid, gid):
    """Whether an lstat/fstat result differs from the wanted mode, owner or group (None or -1: not wanted)."""
    return ((mode is not None and stat.S_IMODE(info.st_mode) != mode) or (uid != -1 and info.st_uid != uid)
            or (gid != -1 and info.st_gid != gid))


def ensure_attributes(path, mode, uid, gid, check_mode=False, what="the file"):
    """Give the existing regular file at path its wanted mode, owner and group (through a descriptor).

    Returns whether they differed (in check mode: would change); False when the file does not exist.
    """
    descriptor = open_regular(path, what)
    if descriptor is None:
        return False
    try:
        if not attributes_differ(os.fstat(descriptor), mode, uid, gid):
            return False
        if not check_mode:
            os.fchown(descriptor, uid, gid)
            if mode is not None:
                os.fchmod(descriptor, mode)
        return True
    except OSError as error:
        raise UnsafeFile("%s: its owner, group or mode cannot be set (%s)" % (path, error.strerror or error))
    finally:
        os.close(descriptor)


def parse_mode(value):
    """A file mode from the task as an int of permission bits, or None when not given.

    Only text of three or four octal digits up to 0777: a YAML number is refused (YAML reads 640 as six hundred
    and forty and 0640 as 416, so a number cannot say which was meant), and so are setuid, setgid and sticky bits
    (no file these modules write is a program or a shared folder).
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise UnsafeFile("mode %r is a number, not text: YAML reads 640 as six hundred and forty and 0640 as 416; "
                         "quote it, for example mode: '0640'; nothing was changed" % (value,))
    text = value.strip()
    if not (3 <= len(text) <= 4 and all(digit in "01234567" for digit in text)):
        raise UnsafeFile("mode %r is not a file mode; write it as three or four octal digits in quotes, for example "
                         "'0640'; nothing was changed" % (value,))
    bits = int(text, 8)
    if bits > 0o777:
        raise UnsafeFile("mode %s sets setuid, setgid or sticky bits; a file this module writes takes only "
                         "permission bits (0000 to 0777), for example '0640'; nothing was changed" % text)
    return bits


def _id_of(value, option, kind, lookup, missing_ok):
    if value in (None, ""):
        return -1
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        number = int(text)
        if number > MAX_ID:
            raise UnsafeFile("%s %s is larger than any %s id (at most %d); give the name or a real id; nothing was "
                             "changed" % (option, text, kind, MAX_ID))
        return number
    try:
        return lookup(text)
    except KeyError:
        if missing_ok:
            return NOT_YET
        raise UnsafeFile("%s %s: there is no such %s on this host; create it first, nothing was changed"
                         % (option, text, kind))
    except ValueError as error:  # a NUL byte, a lone surrogate
        raise UnsafeFile("%s %r is not a %s name (%s); nothing was changed" % (option, text, kind, error))


def resolve_ids(owner, group, missing_ok=False):
    """(uid, gid) for a user and a group, by name or number; -1 where not given. UnsafeFile for unknown names,
    unless missing_ok (check mode on a fresh host, where an earlier task creates the account): then NOT_YET, which
    counts as a change and must never reach a write."""
    return (_id_of(owner, "owner", "user", lambda name: pwd.getpwnam(name).pw_uid, missing_ok),
            _id_of(group, "group", "group", lambda name: grp.getgrnam(name).gr_gid, missing_ok))
