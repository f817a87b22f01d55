# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The model archive: move instead of delete, and a ledger of every move.

Nothing here deletes a regular file or a directory. Files leave the model tree only by
os.rename() into the archive (one filesystem; a move across filesystems is refused, never done
as copy + delete), and every move appends one JSON line to archive_root/ledger.jsonl:

    {"time": "...+00:00", "from": "/abs/original", "to": "/abs/archive/...", "size": 123,
     "sha256": "..." or null, "reason": "...", "root": "/abs/store-root"}

"root" is the root the move was made for ("from" lies in it); rollback replays a line only when
that root is one it restores into (lines written before it was recorded have none: see rollback.py).

Rollback (rollback.py) replays that ledger backwards; planning which files a clean-up moves is in
store_cleanup.py. A restoration is itself a ledger line with
"action": "restore" (from = where the file was, to = where it is put back), so a second rollback
finds nothing left to do. Two kinds of line move no bytes and are not replayed: "action": "unlink"
(a symlink the link layout removed: from = where it was, link = its value) and "action":
"set-aside" (a torn line found at the end of the ledger and copied to the file named in "to").

Appends hold an exclusive lock on the ledger. Before appending, a last line without its newline
(a crash mid-append) is either terminated (when it is a complete record) or copied to
ledger.torn-<time> next to the ledger and cut off, so every record starts on its own line and the
ledger stays JSON lines; nothing is lost. Standard library only: this runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import fcntl
import json
import os
import stat

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import (
    CHUNK,
    is_inside,
    make_folder,
    same_filesystem,
    sha256_file,
    symlinked_component,
    tree_size,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import UnsafeFile, open_regular

LEDGER_NAME = "ledger.jsonl"
TORN_PREFIX = "ledger.torn-"
RESTORE_ACTION = "restore"
UNLINK_ACTION = "unlink"
SET_ASIDE_ACTION = "set-aside"


class ArchiveError(Exception):
    """A refusal: the message says what, on which path, and what to do."""


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def format_time(now=None):
    """ISO 8601 in UTC with microseconds; accepts a datetime, an ISO string or None (now)."""
    if now is None:
        now = utc_now()
    if not isinstance(now, datetime.datetime):
        now = parse_time(now)
    if now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    return now.astimezone(datetime.timezone.utc).isoformat(timespec="microseconds")


def parse_time(text):
    """Parse an ISO 8601 time ('Z' allowed; a time without zone is taken as UTC)."""
    value = str(text).strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ArchiveError(
            "Cannot read the time %r: write it as ISO 8601, for example 2026-11-27T10:00:00Z" % (text,)
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def free_name(path):
    """path itself when free, else path.archived-1, path.archived-2, ... (never overwrite)."""
    if not os.path.lexists(path):
        return path
    number = 1
    while os.path.lexists("%s.archived-%d" % (path, number)):
        number += 1
    return "%s.archived-%d" % (path, number)


def append_ledger(archive_root, record, now=None):
    """Append one JSON line and fsync, so a record survives a crash right after the move.

    Holds an exclusive lock on the ledger (parallel downloads and other runs append too), and sets
    a torn last line aside first (see _set_aside_torn_tail), so the record starts on its own line.
    """
    make_folder(archive_root)
    path = os.path.join(archive_root, LEDGER_NAME)
    descriptor = open_ledger(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # released when the descriptor is closed
        note = _set_aside_torn_tail(descriptor, archive_root, now)
        if note is not None:
            _write_line(descriptor, note)
        _write_line(descriptor, record)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def open_ledger(path, flags):
    """A descriptor of the ledger at path, which must be a regular file (ArchiveError otherwise).

    safe_file.open_regular: never follows a symlink in its place and never waits on a FIFO (looks with
    lstat, opens with O_NOFOLLOW | O_NONBLOCK, checks fstat). A ledger it creates is 0600.
    """
    try:
        descriptor = open_regular(path, "the archive's ledger", flags)
    except UnsafeFile as error:
        raise ArchiveError("Refusing to read or append to the ledger (a rollback acts on what it says): %s. Put the"
                           " real ledger, a file only this collection writes, back in its place." % error)
    if descriptor is None:
        raise ArchiveError("The ledger %s vanished while opening it; run again." % path)
    return descriptor


def _write_line(descriptor, record):
    _write_all(descriptor, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))


def _last_line_start(descriptor, size):
    """Offset just after the last newline in the first `size` bytes (0 when there is none)."""
    end = size
    while end > 0:
        start = max(0, end - CHUNK)
        block = os.pread(descriptor, end - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def _parse_record(data):
    try:
        record = json.loads(data.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None
    return record if isinstance(record, dict) else None


def _set_aside_torn_tail(descriptor, archive_root, now=None):
    """Make the ledger end with a newline before a record is appended; returns a note record or None.

    A last line without its newline is what a crash mid-append leaves. When it still parses as a
    record, only the newline was lost: it is added. Otherwise its bytes are copied (and synced) to
    ledger.torn-<time> next to the ledger, and only then cut off the ledger; the returned note says
    where they went, so a reader of the ledger finds them.
    """
    size = os.fstat(descriptor).st_size
    start = _last_line_start(descriptor, size)
    if start == size:
        return None
    torn = os.pread(descriptor, size - start, start)
    if _parse_record(torn) is not None:
        _write_all(descriptor, b"\n")
        return None
    stamp = format_time(now).replace(":", "").replace("+0000", "Z")
    aside = free_name(os.path.join(archive_root, TORN_PREFIX + stamp))
    copy = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        _write_all(copy, torn)
        os.fsync(copy)
    finally:
        os.close(copy)
    os.ftruncate(descriptor, start)
    return {"time": format_time(now), "action": SET_ASIDE_ACTION, "from": os.path.join(archive_root, LEDGER_NAME),
            "to": aside, "size": len(torn), "sha256": None,
            "reason": "torn last line of the ledger (a crash while appending) set aside before appending"}


def _write_all(descriptor, data):
    while data:
        data = data[os.write(descriptor, data):]


def read_ledger(archive_root, problems=None):
    """All complete records in the order they were written.

    A line that is not a JSON record (torn by a crash) is skipped and described in `problems` (a
    list, when given), never fatal: one bad line must not hide the other moves from a rollback. A
    record an older version glued onto a torn line ('{"ti{"time": ...}') is recovered from it.
    Notes of torn lines set aside earlier are described in `problems` as well.
    """
    path = os.path.join(archive_root, LEDGER_NAME)
    problems = [] if problems is None else problems
    if not os.path.lexists(path):
        return []
    records = []
    with os.fdopen(open_ledger(path, os.O_RDONLY), "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            record = _parse_record(line)
            if record is None:
                record, torn = _recover_glued(line)
                problems.append("Line %d of %s is a torn record (%d bytes that are not JSON%s); skipped. The move"
                                " it recorded, if any, is not replayed: look at it by hand." % (
                                    number, path, torn, ", followed by a complete record, which is read"
                                    if record else ""))
                if record is None:
                    continue
            if record.get("action") == SET_ASIDE_ACTION:
                problems.append("A torn last line of the ledger was set aside in %s (%s bytes) at %s; the move it"
                                " recorded, if any, is not replayed: look at it by hand." % (
                                    record.get("to"), record.get("size"), record.get("time")))
            records.append(record)
    return records


def _recover_glued(line):
    """(record, bytes before it) when a complete record follows a torn prefix on one line, else (None, len)."""
    position = line.find(b'{"', 1)
    while position > 0:
        record = _parse_record(line[position:])
        if record is not None and "from" in record:
            return record, position
        position = line.find(b'{"', position + 1)
    return None, len(line.rstrip(b"\n"))


def move_with_record(source, destination, archive_root, reason, root, sha256=None, now=None, extra=None):
    """Rename source to destination (which must be free), append the ledger line, return it.

    root: the store root the move is made for (the one source lies in, or destination for a
    restoration); recorded in the line, so a rollback can tell its own lines from forged ones."""
    if os.path.lexists(destination):
        raise ArchiveError("Refusing to overwrite %s while moving %s there" % (destination, source))
    parent = os.path.dirname(destination)
    if not same_filesystem(source, parent):
        raise ArchiveError(
            "Cannot move %s to %s: they are on different filesystems, and files are only moved, never"
            " copied and deleted. Put the archive on the filesystem of the model store"
            " (model_store_archive_dir, common_archive_dir) and run again." % (source, destination)
        )
    size = tree_size(source)
    make_folder(parent)
    try:
        os.rename(source, destination)
    except OSError as error:
        if error.errno == errno.EXDEV:
            raise ArchiveError(
                "Cannot move %s to %s: different filesystems. Put the archive on the filesystem of the"
                " model store and run again." % (source, destination)
            )
        raise ArchiveError("Cannot move %s to %s: %s" % (source, destination, error.strerror))
    record = {
        "time": format_time(now),
        "from": source,
        "to": destination,
        "size": size,
        "sha256": sha256,
        "reason": reason,
        "root": os.path.abspath(root),
    }
    if extra:
        record.update(extra)
    append_ledger(archive_root, record, now=now)
    return record


def move_over_symlink(source, link_path, archive_root, reason, root, now=None):
    """Rename the file source onto link_path, which must be a symlink to it right now; one ledger line.

    root: the store root source lies in (recorded in the line, as by move_with_record).
    One rename replaces the link by the file, so a crash leaves either the link and the file where it
    was, or the file in its new place: never neither. The line keeps the link's value ("replaced").
    """
    if not os.path.islink(link_path) or os.path.realpath(link_path) != os.path.realpath(source):
        raise ArchiveError("Refusing to move %s onto %s: that is no longer a symlink to it (changed while running?)"
                           % (source, link_path))
    if not stat.S_ISREG(os.lstat(source).st_mode):
        raise ArchiveError("Refusing to move %s: it is not a regular file" % source)
    if not same_filesystem(source, os.path.dirname(link_path)):
        raise ArchiveError("Cannot move %s to %s: they are on different filesystems, and files are only moved,"
                           " never copied and deleted." % (source, link_path))
    value = os.readlink(link_path)
    size = os.lstat(source).st_size
    try:
        os.rename(source, link_path)
    except OSError as error:
        raise ArchiveError("Cannot move %s to %s: %s" % (source, link_path, error.strerror))
    record = {"time": format_time(now), "from": source, "to": link_path, "size": size, "sha256": None,
              "reason": reason, "replaced": "symlink -> %s" % value, "root": os.path.abspath(root)}
    append_ledger(archive_root, record, now=now)
    return record


def record_symlink_removal(archive_root, path, value, reason, now=None):
    """The ledger line of a symlink the layout removed: it held no bytes, so it names where it was and
    what it pointed to (to recreate it by hand); rollback does not replay it."""
    record = {"time": format_time(now), "action": UNLINK_ACTION, "from": path, "to": None, "link": value,
              "size": 0, "sha256": None, "reason": reason}
    append_ledger(archive_root, record, now=now)
    return record


def check_archivable(path, root, archive_root):
    """Raise ArchiveError unless path may be archived; return the absolute (path, root, archive_root)."""
    path = os.path.abspath(path)
    root = os.path.abspath(root)
    archive_root = os.path.abspath(archive_root)
    if not is_inside(path, root) or path == os.path.normpath(root):
        raise ArchiveError("Refusing to archive %s: it is not inside %s" % (path, root))
    if is_inside(path, archive_root):
        raise ArchiveError("Refusing to archive %s: it is already inside the archive %s" % (path, archive_root))
    if is_inside(archive_root, path):
        raise ArchiveError("Refusing to archive %s: the archive %s is inside it" % (path, archive_root))
    if not os.path.lexists(path):
        raise ArchiveError("Cannot archive %s: it does not exist" % path)
    through = symlinked_component(path, root)
    if through:
        raise ArchiveError(
            "Refusing to archive %s: its parent %s is a symlink; the move would act on another tree."
            " Replace the directory symlink by a real directory (model_links does) and run again." % (path, through)
        )
    if not same_filesystem(path, archive_root):
        raise ArchiveError(
            "Cannot archive %s into %s: they are on different filesystems, and files are only moved, never"
            " copied and deleted. Put the archive on the filesystem of the model store (model_store_archive_dir,"
            " common_archive_dir) and run again." % (path, archive_root)
        )
    return path, root, archive_root


def archive_path(path, root, archive_root, reason, sha256=None, now=None):
    """Move `path` (a file, a symlink or a directory; must be inside `root`) to
    archive_root/<path relative to root>, never overwriting (append a suffix such as
    '.archived-1' on collision), create parents as needed, append one JSON line to
    archive_root/ledger.jsonl ({"time", "from", "to", "size", "sha256", "reason"}, absolute
    paths, size in bytes of the file or the sum for a directory), and return that record
    as a dict. Raises ArchiveError with a clear message on refusal (path outside root,
    path inside the archive, missing path, cross-device move)."""
    path, root, archive_root = check_archivable(path, root, archive_root)
    destination = free_name(os.path.join(archive_root, os.path.relpath(path, root)))
    if sha256 is None and stat.S_ISREG(os.lstat(path).st_mode):
        # The digest is what lets a person match an archived file to a download or a rollback later.
        # Hashing reads the whole file (minutes for tens of GB), which is accepted: a file leaves the
        # tree rarely, and only once.
        sha256 = sha256_file(path)
    return move_with_record(path, destination, archive_root, reason, root, sha256=sha256, now=now)
