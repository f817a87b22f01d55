# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollback: replay the archive's ledger backwards, putting moved files back where they were.

plan_rollback() reads the ledger (archive.read_ledger) and decides, newest move first, what can be
put back; apply_rollback() moves those back with archive.move_with_record, so every restoration is
itself a ledger line ("action": "restore") and a second rollback finds nothing left to do. Nothing
is ever put back over something that exists, or through a symlinked folder.
Standard library only: this runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.ai4artsed.devserver.plugins.module_utils.archive import (
    RESTORE_ACTION,
    SET_ASIDE_ACTION,
    UNLINK_ACTION,
    move_with_record,
    parse_time,
    read_ledger,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import existing_ancestor
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import is_inside, tree_size


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
