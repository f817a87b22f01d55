# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollback: replay the archive's ledger backwards, putting moved files back where they were.

plan_rollback() reads the ledger (archive.read_ledger) and decides, newest move first, what can be
put back; apply_rollback() moves those back with archive.move_with_record, so every restoration is
itself a ledger line ("action": "restore") and a second rollback finds nothing left to do. Nothing
is ever put back over something that exists, or through a symlinked folder.

The rollback runs as root and anyone who can write the ledger can write a line, so it obeys only
lines of its own (line_problem): the archive path ("to") must lie in archive_root (or, for a move
between live folders, in a root it restores into) and the store path ("from") in the root the line
names ("root"), itself one of the roots the rollback restores into. A line written before roots were
recorded has none; it is obeyed when its store path lies in one of those roots. Paths are compared
as written, after checking they are absolute and normalised (no '..'), and no folder between a root
and the path may be a symlink. Any other line is reported as "refused" and skipped.
Standard library only: this runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.ai4artsed.devserver.plugins.module_utils.archive import (
    RESTORE_ACTION,
    ArchiveError,
    SET_ASIDE_ACTION,
    UNLINK_ACTION,
    move_with_record,
    parse_time,
    read_ledger,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import existing_ancestor
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import (
    is_inside,
    symlinked_component,
    tree_size,
)


def outstanding_moves(records):
    """The moves not yet undone, oldest first: an archive line is undone by a later restore line
    whose 'from' is that line's 'to' (its current place)."""
    outstanding = {}
    order = []
    for index, record in enumerate(records):
        if record.get("action") in (UNLINK_ACTION, SET_ASIDE_ACTION) or not record.get("to"):
            continue  # no bytes were moved: nothing to put back
        if record.get("action") == RESTORE_ACTION:
            if isinstance(record.get("from"), str):
                outstanding.pop(record["from"], None)
        else:
            outstanding[_key(record, index)] = index
            order.append(index)
    return [records[index] for index in order if outstanding.get(_key(records[index], index)) == index]


def _key(record, index):
    """Where a line's file is now; a line whose 'to' is not text (forged) is its own place."""
    return record["to"] if isinstance(record["to"], str) else ("line", index)


def line_problem(record, archive_root, roots):
    """(problem, root): why this ledger line must not be replayed (a forged or foreign line) or None,
    and the root of `roots` its store path lies in (None when refused).

    archive_root and roots (the roots this rollback restores into) are absolute and normalised."""
    original, current, recorded = record.get("from"), record.get("to"), record.get("root")
    for name, path in (("store path", original), ("archive path", current), ("root", recorded)):
        if (path is not None or name != "root") and not _clean(path):
            return "%s %r is not an absolute path without '..'" % (name, path), None
    current_root = _root_of(current, [archive_root] + roots)
    if current_root is None:
        return ("archive path outside archive_root: %s is not inside %s (nor one of the roots this rollback"
                " restores into)" % (current, archive_root)), None
    root = _root_of(original, roots)
    if recorded is None:  # a line written before roots were recorded
        if root is None:
            return ("no root recorded, and the store path %s is outside every root this rollback restores into"
                    " (%s)" % (original, ", ".join(roots))), None
    elif recorded not in roots and _root_of(recorded, roots) is None:
        return ("root not one this rollback restores into: %s (it restores into %s)"
                % (recorded, ", ".join(roots))), None
    elif not _below(original, recorded):
        return "store path outside the root it names: %s is not inside %s" % (original, recorded), None
    for path, top in ((original, root), (current, current_root)):
        through = symlinked_component(path, top)
        if through:
            return "%s goes through the symlink %s, so it is not inside %s" % (path, through, top), None
    return None, root


def _clean(path):
    return isinstance(path, str) and os.path.isabs(path) and os.path.normpath(path) == path


def _below(path, root):
    return path != root and is_inside(path, root)


def _root_of(path, roots):
    """The first of roots that path lies below (not the root itself), or None."""
    return next((root for root in roots if _below(path, root)), None)


def plan_rollback(archive_root, roots, since=None, path_prefix=None, problems=None):
    """What a rollback would do, newest move first: a list of dicts with 'state' one of
    'restore' (will be put back), 'conflict' (something exists at the original place: left alone),
    'missing' (no longer where the ledger says), 'refused' (not a line of this archive's own: see
    line_problem). roots: the roots it restores into. Changes nothing. Torn ledger lines are
    described in `problems` (a list, when given)."""
    archive_root = os.path.normpath(os.path.abspath(archive_root))
    roots = [os.path.normpath(os.path.abspath(root)) for root in roots]
    since_time = parse_time(since) if since else None
    prefix = os.path.normpath(os.path.abspath(path_prefix)) if path_prefix else None
    occupied = set()
    freed = set()
    plan = []
    for record in reversed(outstanding_moves(read_ledger(archive_root, problems))):
        if since_time is not None and parse_time(record.get("time")) < since_time:
            continue
        if prefix is not None and isinstance(record.get("from"), str) and not is_inside(record["from"], prefix):
            continue
        original, current = record.get("from"), record["to"]
        entry = {"from": current, "to": original, "size": record.get("size"), "sha256": record.get("sha256"),
                 "archived_at": record.get("time"), "archive_reason": record.get("reason")}
        problem, entry["root"] = line_problem(record, archive_root, roots)
        if problem:
            entry["state"] = "refused"
            problem = "Not replayed: %s. Nothing was moved for this ledger line; look at it by hand." % problem
        elif not _present(current, occupied, freed):
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
    archive_root = os.path.normpath(os.path.abspath(archive_root))
    done = []
    for entry in plan:
        if entry["state"] != "restore":
            continue
        through = symlinked_component(entry["to"], entry["root"])
        if through:  # checked when planned; a folder replaced by a symlink since must not be followed now
            raise ArchiveError("Refusing to put %s back: %s became a symlink while running; nothing more was"
                               " moved. Look at it, then run the rollback again." % (entry["to"], through))
        record = move_with_record(
            entry["from"], entry["to"], archive_root, "rollback of: %s" % entry.get("archive_reason"),
            entry["root"], sha256=entry.get("sha256"), now=now, extra={"action": RESTORE_ACTION},
        )
        done.append(record)
    return done
