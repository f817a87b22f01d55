# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""model_links' re-check cache: skip reading every link while no directory involved has changed.

A full check that found nothing to do leaves, in the record of managed links, the stat values of
the directories it read (see the comment above plan_from_cache); the next run trusts them as long
as they still hold. The stat helpers here are also what the scan (layout_scan.py) records.
Standard library only: this runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.ai4artsed.devserver.plugins.module_utils.layout_plan import (
    RECORD_NAME,
    RECORD_VERSION,
    LayoutError,
    Plan,
    read_record,
    write_record,
)

CACHE_FORMAT = 1
# A directory whose mtime or ctime lies this close before (or after) the verification time may have
# changed within the same timestamp tick as the listing that was read: it is re-checked in full.
RACY_NS = 2 * 10 ** 9


def stat_key(result):
    """What must stay the same for a directory's listing to be known unchanged."""
    return [result.st_ino, result.st_dev, result.st_mode, result.st_mtime_ns, result.st_ctime_ns]


def _identity(result):
    return [result.st_ino, result.st_dev, stat.S_IFMT(result.st_mode)]


def top_kind(entry):
    if entry.is_symlink():
        return "l:" + os.readlink(entry.path)
    if entry.is_dir(follow_symlinks=False):
        return "d"
    return "f" if entry.is_file(follow_symlinks=False) else "o"


def _resolved_kind(path):
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "broken"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def ancestors_of(*paths):
    """Identity (inode, device, type; not times) of every path component of the given paths, root included."""
    found = {}
    for path in paths:
        while path not in found:
            found[path] = _identity(os.lstat(path))
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
    return found


def options(link_root, store_root, archive_root, on_conflict, real_files=()):
    """Everything besides the declared links that changes the plan."""
    return {"link_root": link_root, "store_root": store_root, "archive_root": archive_root,
            "on_conflict": on_conflict, "real_files": sorted(real_files)}


def verification(started, ancestors, tree, index, planned_with):
    """The cache a no-op full check leaves: what plan_from_cache compares on the next run.

    started: time.time_ns() before anything was read; ancestors: ancestors_of(link_root, store_root);
    tree, index: the LinkTree and StoreIndex the check read; planned_with: options(...).
    """
    directories = dict(tree.dir_stats)
    directories.update(index.dir_stats)
    return {"format": CACHE_FORMAT, "at": started, "ancestors": ancestors, "directories": directories,
            "top": tree.top, "watch": tree.watch, "options": planned_with}


# The re-check cache, in the manner of git's racy-git index check. A no-op full check records the
# stat values (inode, device, mode, mtime_ns, ctime_ns) of every real directory under the link root
# and of every store folder holding a target plus its parents up to the store root, taken before each
# listing was read, and the time the check started. The next run trusts them, and reads no link, only
# when the declared links (compared as a whole with the record's) and the options are unchanged and
# every directory still stats the same with neither time within RACY_NS of (or after) that start.
# Why that is enough: a symlink's value cannot change in place, so a link retargeted, added, removed
# or replaced (even by a rename) changes its directory's mtime and ctime; a store file deleted,
# renamed or replaced does the same to its store folder; a directory swapped for a symlink changes
# its parent and its own lstat; utime() cannot set ctime. A file's content does not matter to links.
# Not covered by directory times, so checked on every run: the link root itself (the record is
# written there) by listing its entries; the identity of every path component above both roots;
# symlinks that are not declared links (what they resolve to can change anywhere); a store target or
# folder that is a symlink disables the cache. Anything unexpected falls back to the full check.
def plan_from_cache(link_root, store_root, archive_root, links, on_conflict, real_files):
    """The no-op Plan when the recorded verification still holds, else None (then check in full)."""
    try:
        record = read_record(link_root)
    except LayoutError:
        return None  # the full check reports it
    try:
        verified = record["verified"]
        if verified["format"] != CACHE_FORMAT or record["version"] != RECORD_VERSION or \
                record["store_root"] != store_root or record["links"] != links or \
                verified["options"] != options(link_root, store_root, archive_root, on_conflict, real_files):
            return None
        racy = verified["at"] - RACY_NS
        for path, identity in verified["ancestors"].items():
            if _identity(os.lstat(path)) != identity:
                return None
        for path, recorded in verified["directories"].items():
            now = os.stat(path) if path == store_root else os.lstat(path)
            if recorded[3] >= racy or recorded[4] >= racy or stat_key(now) != recorded:
                return None
        for path, kind in verified["watch"].items():
            if _resolved_kind(path) != kind:
                return None
        with os.scandir(link_root) as listing:
            top = dict((entry.name, top_kind(entry)) for entry in listing if entry.name != RECORD_NAME)
        if top != verified["top"]:
            return None
    except (OSError, TypeError, ValueError, KeyError, IndexError, AttributeError):
        return None  # no record, no cache, a path gone, or a cache that is not ours: check in full
    plan = Plan(link_root, store_root, archive_root)
    plan.unchanged = len(record["links"])
    plan.record = dict((key, value) for key, value in record.items() if key != "verified")
    plan.verified = "fast"
    return plan


def write_verification(plan):
    """After a full check that planned nothing: store the re-check cache in the record (not a change
    of the layout). Returns whether it was written."""
    if plan.changed or not plan.verification:
        return False
    record = dict(plan.record)
    record["verified"] = plan.verification
    write_record(plan.link_root, record)
    return True
