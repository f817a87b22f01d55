# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The model archive: move instead of delete, a ledger of every move, and rollback.

Nothing here deletes a regular file or a directory. Files leave the model tree only by
os.rename() into the archive (one filesystem; a move across filesystems is refused, never done
as copy + delete), and every move appends one JSON line to archive_root/ledger.jsonl:

    {"time": "...+00:00", "from": "/abs/original", "to": "/abs/archive/...", "size": 123,
     "sha256": "..." or null, "reason": "..."}

Rollback replays that ledger backwards. A restoration is itself a ledger line with
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
import hashlib
import json
import os
import stat

from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import existing_ancestor

LEDGER_NAME = "ledger.jsonl"
TORN_PREFIX = "ledger.torn-"
RESTORE_ACTION = "restore"
UNLINK_ACTION = "unlink"
SET_ASIDE_ACTION = "set-aside"
_CHUNK = 1024 * 1024


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


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_size(path):
    """Bytes of a regular file, or of all regular files below a directory (links not followed).

    A symlink holds no data: 0.
    """
    info = os.lstat(path)
    if stat.S_ISREG(info.st_mode):
        return info.st_size
    if not stat.S_ISDIR(info.st_mode):
        return 0
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            member = os.lstat(os.path.join(top, name))
            if stat.S_ISREG(member.st_mode):
                total += member.st_size
    return total


def is_inside(path, root):
    """Whether the absolute, normalised path is root itself or below it (lexically)."""
    path = os.path.normpath(path)
    root = os.path.normpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def symlinked_component(path, root):
    """The first directory between root (exclusive) and path (exclusive) that is a symlink, or None."""
    relative = os.path.relpath(os.path.dirname(path), root)
    if relative == os.curdir:
        return None
    current = root
    for part in relative.split(os.sep):
        current = os.path.join(current, part)
        if os.path.islink(current):
            return current
    return None


def free_name(path):
    """path itself when free, else path.archived-1, path.archived-2, ... (never overwrite)."""
    if not os.path.lexists(path):
        return path
    number = 1
    while os.path.lexists("%s.archived-%d" % (path, number)):
        number += 1
    return "%s.archived-%d" % (path, number)


def same_filesystem(path, directory):
    """Whether os.rename(path, <inside directory>) stays on one filesystem (directory may not exist yet)."""
    return os.lstat(path).st_dev == os.stat(existing_ancestor(directory, os.path.lexists)).st_dev


def _make_folder(path):
    """makedirs that accepts a folder a parallel move (hf_model archives with several workers) made first."""
    if not os.path.isdir(path):
        try:
            os.makedirs(path)
        except OSError:
            if not os.path.isdir(path):
                raise


def append_ledger(archive_root, record, now=None):
    """Append one JSON line and fsync, so a record survives a crash right after the move.

    Holds an exclusive lock on the ledger (parallel downloads and other runs append too), and sets
    a torn last line aside first (see _set_aside_torn_tail), so the record starts on its own line.
    """
    _make_folder(archive_root)
    path = os.path.join(archive_root, LEDGER_NAME)
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # released when the descriptor is closed
        note = _set_aside_torn_tail(descriptor, archive_root, now)
        if note is not None:
            _write_line(descriptor, note)
        _write_line(descriptor, record)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_line(descriptor, record):
    _write_all(descriptor, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))


def _last_line_start(descriptor, size):
    """Offset just after the last newline in the first `size` bytes (0 when there is none)."""
    end = size
    while end > 0:
        start = max(0, end - _CHUNK)
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
    if not os.path.exists(path):
        return []
    records = []
    with open(path, "rb") as handle:
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


def move_with_record(source, destination, archive_root, reason, sha256=None, now=None, extra=None):
    """Rename source to destination (which must be free), append the ledger line, return it."""
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
    _make_folder(parent)
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
    }
    if extra:
        record.update(extra)
    append_ledger(archive_root, record, now=now)
    return record


def move_over_symlink(source, link_path, archive_root, reason, now=None):
    """Rename the file source onto link_path, which must be a symlink to it right now; one ledger line.

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
              "reason": reason, "replaced": "symlink -> %s" % value}
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
    return move_with_record(path, destination, archive_root, reason, sha256=sha256, now=now)


# Rollback ------------------------------------------------------------------------------------


def outstanding_moves(records):
    """The moves not yet undone, oldest first: an archive line is undone by a later restore line
    whose 'from' is that line's 'to' (its current place)."""
    outstanding = {}
    order = []
    for index, record in enumerate(records):
        if record.get("action") in (UNLINK_ACTION, SET_ASIDE_ACTION) or not record.get("to"):
            continue  # no bytes were moved: nothing to put back
        if record.get("action") == RESTORE_ACTION:
            outstanding.pop(record.get("from"), None)
        else:
            outstanding[record["to"]] = index
            order.append(index)
    return [records[index] for index in order if outstanding.get(records[index]["to"]) == index]


def plan_rollback(archive_root, since=None, path_prefix=None, problems=None):
    """What a rollback would do, newest move first: a list of dicts with 'state' one of
    'restore' (will be put back), 'conflict' (something exists at the original place: left alone),
    'missing' (no longer where the ledger says). Changes nothing. Torn ledger lines are described
    in `problems` (a list, when given)."""
    archive_root = os.path.abspath(archive_root)
    since_time = parse_time(since) if since else None
    prefix = os.path.normpath(os.path.abspath(path_prefix)) if path_prefix else None
    occupied = set()
    freed = set()
    plan = []
    for record in reversed(outstanding_moves(read_ledger(archive_root, problems))):
        if since_time is not None and parse_time(record["time"]) < since_time:
            continue
        if prefix is not None and not is_inside(record["from"], prefix):
            continue
        original, current = record["from"], record["to"]
        entry = {"from": current, "to": original, "size": record.get("size"), "sha256": record.get("sha256"),
                 "archived_at": record["time"], "archive_reason": record.get("reason")}
        problem = None
        if not _present(current, occupied, freed):
            entry["state"] = "missing"
            problem = "%s is no longer there; nothing to put back" % current
        elif current not in occupied and not _still_what_was_moved(current, record):
            entry["state"] = "conflict"
            problem = ("%s is no longer what was moved there (%s bytes); left alone (something replaced it since)"
                       % (current, record.get("size")))
        elif _present(original, occupied, freed):
            entry["state"] = "conflict"
            problem = "%s exists again; left alone (move it away and run the rollback again)" % original
        else:
            blocker = _blocking_parent(original, occupied)
            if blocker:
                entry["state"] = "conflict"
                problem = blocker
            else:
                entry["state"] = "restore"
                occupied.add(original)
                freed.add(current)
                occupied.discard(current)
                freed.discard(original)
        if problem:
            entry["problem"] = problem
        plan.append(entry)
    return plan


def _still_what_was_moved(path, record):
    """Whether path still looks like what the record moved there (same size; a file is still a file).

    A move into a live place (a merge destination, ComfyUI's folder) can be replaced later, for
    example by a link: that must not be moved back in its stead. Sizes only: hashing every file
    on each rollback plan would take too long."""
    if record.get("size") is None:
        return True
    if record.get("sha256") and not stat.S_ISREG(os.lstat(path).st_mode):
        return False
    return tree_size(path) == record["size"]


def _present(path, occupied, freed):
    """Whether path exists once the restorations planned so far are done."""
    return path in occupied or (path not in freed and os.path.lexists(path))


def _blocking_parent(original, occupied):
    """Why the parent of original cannot take it back, or None."""
    parent = os.path.dirname(original)
    if parent in occupied:
        return None
    nearest = existing_ancestor(parent, os.path.lexists)
    if os.path.islink(nearest):
        return "the parent %s of %s is a symlink; refusing to restore through it" % (nearest, original)
    if not os.path.isdir(nearest):
        return "%s is in the way of the directory %s" % (nearest, parent)
    return None


def apply_rollback(archive_root, plan, now=None):
    """Carry out the 'restore' entries of plan_rollback(); returns the restore ledger records."""
    archive_root = os.path.abspath(archive_root)
    done = []
    for entry in plan:
        if entry["state"] != "restore":
            continue
        record = move_with_record(
            entry["from"], entry["to"], archive_root, "rollback of: %s" % entry.get("archive_reason"),
            sha256=entry.get("sha256"), now=now, extra={"action": RESTORE_ACTION},
        )
        done.append(record)
    return done


# Merging deprecated folders and archiving unlisted files (model_archive) ----------------------


def _inside_root(root, relative, what):
    path = os.path.normpath(os.path.join(root, relative))
    if not is_inside(path, root) or path == os.path.normpath(root):
        raise ArchiveError("The %s %r is not a folder inside %s; give a path relative to it" % (what, relative, root))
    return path


def _walk_entries(top):
    """(relative path, lstat result) of every non-directory entry below top, links not followed, sorted."""
    found = []
    for current, dirs, files in os.walk(top):
        dirs.sort()
        names = list(files) + [name for name in dirs if os.path.islink(os.path.join(current, name))]
        for name in sorted(names):
            path = os.path.join(current, name)
            found.append((os.path.relpath(path, top), os.lstat(path)))
    return found


def same_content(first, second, hashes=None):
    """Whether two regular files hold the same bytes (size, then sha256); returns (equal, sha256 of first)."""
    hashes = {} if hashes is None else hashes
    first_info, second_info = os.lstat(first), os.lstat(second)
    if not (stat.S_ISREG(first_info.st_mode) and stat.S_ISREG(second_info.st_mode)):
        return False, None
    if first_info.st_size != second_info.st_size:
        return False, None
    for path in (first, second):
        if path not in hashes:
            hashes[path] = sha256_file(path)
    return hashes[first] == hashes[second], hashes[first]


def plan_merge(root, source, destination, unwanted=None):
    """Plan merging the deprecated folder root/source into root/destination (e.g. VAE -> vae).

    Each entry of source: 'move' into destination when absent there, 'archive' when destination
    holds an identical file, 'conflict' (kept where it is, reported) when it holds something
    else. When nothing is left in conflict, the emptied source folder itself is archived.
    unwanted(path relative to root) -> reason or None: a regular file whose new place is unwanted
    (not listed) is archived instead, whatever the destination holds.
    """
    root = os.path.abspath(root)
    source_path = _inside_root(root, source, "deprecated folder")
    destination_path = _inside_root(root, destination, "merge destination")
    if is_inside(source_path, destination_path) or is_inside(destination_path, source_path):
        raise ArchiveError("Cannot merge %s into %s: one is inside the other" % (source_path, destination_path))
    for path in (source_path, destination_path):
        through = symlinked_component(path, root)
        if through:
            raise ArchiveError("Refusing to merge through the symlinked directory %s" % through)
    if os.path.islink(destination_path) or (os.path.lexists(destination_path) and not os.path.isdir(destination_path)):
        raise ArchiveError(
            "Cannot merge into %s: it is not a real directory. Make it one and run again." % destination_path
        )
    if not os.path.lexists(source_path):
        return []
    if os.path.islink(source_path) or not os.path.isdir(source_path):
        return [{"action": "skip", "path": source_path,
                 "problem": "%s is not a real directory; nothing merged from it" % source_path}]
    reason = "merge of deprecated %s/ into %s/" % (source, destination)
    plan, hashes, conflicts = [], {}, 0
    planned_dirs = set()
    for relative, info in _walk_entries(source_path):
        path = os.path.join(source_path, relative)
        target = os.path.join(destination_path, relative)
        why = unwanted(os.path.relpath(target, root)) if unwanted and stat.S_ISREG(info.st_mode) else None
        if why:
            plan.append({"action": "archive", "path": path, "size": info.st_size, "reason": why})
            continue
        blocker = _blocking_parent_in(destination_path, target, planned_dirs)
        if blocker:
            conflicts += 1
            plan.append({"action": "conflict", "path": path, "to": target, "problem": blocker})
            continue
        if not os.path.lexists(target):
            plan.append({"action": "move", "path": path, "to": target, "size": tree_size(path), "reason": reason})
            parent = os.path.dirname(target)
            while parent != destination_path and parent not in planned_dirs:
                planned_dirs.add(parent)
                parent = os.path.dirname(parent)
            continue
        equal, digest = same_content(path, target, hashes)
        if equal:
            plan.append({"action": "archive", "path": path, "to": target, "size": info.st_size, "sha256": digest,
                         "reason": "identical duplicate of %s (%s)" % (target, reason)})
        else:
            conflicts += 1
            plan.append({"action": "conflict", "path": path, "to": target, "problem": (
                "%s (%d bytes) differs from %s (%s); both kept, decide by hand" % (
                    path, info.st_size, target, _describe(target)))})
    if not conflicts:
        plan.append({"action": "archive", "path": source_path, "size": 0,
                     "reason": "emptied deprecated folder (%s)" % reason})
    return plan


def _describe(path):
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return "a symlink"
    if stat.S_ISDIR(info.st_mode):
        return "a directory"
    return "%d bytes" % info.st_size


def _blocking_parent_in(top, target, planned_dirs):
    """Why a parent of target (below top) cannot be a directory to move into, or None."""
    parent = os.path.dirname(target)
    while parent != top and is_inside(parent, top):
        if parent not in planned_dirs and os.path.lexists(parent) and (
                os.path.islink(parent) or not os.path.isdir(parent)):
            return "%s is in the way of the directory %s; kept where it is" % (parent, os.path.dirname(target))
        parent = os.path.dirname(parent)
    return None


def plan_unlisted(root, listed, archive_root=None, listed_prefixes=()):
    """Plan archiving every regular file below root that `listed` (paths relative to root) leaves out.

    A file below a folder in `listed_prefixes` (a multi-file model's folder) counts as listed. Names
    starting with a dot (sidecar records, the tools' own state) are never touched, and neither are
    symlinks or the archive itself when it sits below root.
    """
    root = os.path.abspath(root)
    keep = set(os.path.normpath(item) for item in listed)
    prefixes = tuple(os.path.normpath(item) + "/" for item in listed_prefixes)
    skip = os.path.abspath(archive_root) if archive_root else None
    plan = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(name for name in dirs if not name.startswith(".")
                         and not (skip and os.path.join(current, name) == skip))
        for name in sorted(files):
            path = os.path.join(current, name)
            if name.startswith(".") or not os.path.isfile(path) or os.path.islink(path):
                continue
            relative = os.path.relpath(path, root)
            if relative not in keep and not relative.startswith(prefixes):
                plan.append({"action": "archive", "path": path, "size": os.lstat(path).st_size,
                             "reason": "no longer listed in the model manifest"})
    return plan


def apply_archive_plan(root, archive_root, plan, now=None, done=None):
    """Carry out 'move' and 'archive' entries (in order); returns the ledger records written.

    done: a list the records are appended to as they are written, so a caller that catches a refusal
    half-way still knows what moved.
    """
    records = [] if done is None else done
    for entry in plan:
        if entry["action"] == "archive":
            records.append(archive_path(entry["path"], root, archive_root, entry["reason"],
                                        sha256=entry.get("sha256"), now=now))
        elif entry["action"] == "move":
            check_archivable(entry["path"], root, archive_root)
            records.append(move_with_record(entry["path"], entry["to"], os.path.abspath(archive_root),
                                            entry["reason"], sha256=entry.get("sha256"), now=now))
    return records


def plan_model_archive(root, archive_root, paths=(), merges=(), archive_unlisted=False, listed=(),
                       reason="archived by model_archive", listed_prefixes=()):
    """The whole model_archive plan: merges, then named paths, then (opt-in) unlisted store files.

    With archive_unlisted, a file a merge would move is archived instead when its new place is not
    listed, so the plan is the same whether it is only reported (check mode) or carried out.
    """
    root = os.path.abspath(root)
    archive_root = os.path.abspath(archive_root)
    if is_inside(archive_root, root) or is_inside(root, archive_root):
        raise ArchiveError("The archive %s and the tree %s must not be inside one another" % (archive_root, root))
    keep = set(os.path.normpath(item) for item in listed)
    prefixes = tuple(os.path.normpath(item) + "/" for item in listed_prefixes)
    plan, taken, sources = [], set(), []
    for merge in merges:
        source_path = _inside_root(root, merge["src"], "deprecated folder")
        sources.append(source_path)
        unwanted = None
        if archive_unlisted:
            def unwanted(relative, folder=merge["src"]):
                if relative in keep or relative.startswith(prefixes) or os.path.basename(relative).startswith("."):
                    return None
                return "no longer listed in the model manifest (was in deprecated %s/)" % folder
        for entry in plan_merge(root, merge["src"], merge["dest"], unwanted=unwanted):
            plan.append(entry)
            taken.add(entry["path"])
    for item in paths:
        path = _inside_root(root, item, "path to archive")
        if os.path.lexists(path) and path not in taken:
            plan.append({"action": "archive", "path": path, "size": tree_size(path), "reason": reason})
            taken.add(path)
    if archive_unlisted:
        for entry in plan_unlisted(root, keep, archive_root, listed_prefixes):
            if entry["path"] in taken or any(is_inside(entry["path"], source) for source in sources):
                continue
            if any(is_inside(entry["path"], other) for other in taken):
                continue
            plan.append(entry)
    check_plan(root, archive_root, plan)
    return plan


def check_plan(root, archive_root, plan):
    """Every check a move makes, made before the first one, so a refusal moves nothing (ArchiveError)."""
    for entry in plan:
        if entry["action"] in ("archive", "move"):
            check_archivable(entry["path"], root, archive_root)
            if entry["action"] == "move" and not same_filesystem(entry["path"], os.path.dirname(entry["to"])):
                raise ArchiveError(
                    "Cannot move %s to %s: they are on different filesystems, and files are only moved, never"
                    " copied and deleted. Nothing was moved." % (entry["path"], entry["to"]))
