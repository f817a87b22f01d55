# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ComfyUI link layout as declared state: plan (pure reading), then apply.

plan_links() reads the link tree once and returns a Plan: an ordered list of actions that turn
the current tree into the declared one. Check mode reports the plan; a real run hands the same
plan to apply_plan(). The only things in the layout ever unlinked are symlinks (checked again right before
the unlink); real files and directories in the way go to the archive (archive.archive_path).

The record of managed links lives beside the layout, in <link_root>/.ai4artsed-model-links.json:

    {"version": 1, "store_root": "/abs/Models", "links": {"vae/x.safetensors": "vae/QwenImage/x.safetensors"},
     "verified": {...}}

"verified" is the re-check cache (see _plan_from_cache): written after a full check that found nothing
to do, it lets the next run skip reading every link while no directory involved has changed.

Standard library only: this runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import time

from ansible_collections.ai4artsed.devserver.plugins.module_utils.archive import (
    ArchiveError,
    archive_path,
    is_inside,
    move_over_symlink,
    move_with_record,
    record_symlink_removal,
    same_content,
    same_filesystem,
)

RECORD_NAME = ".ai4artsed-model-links.json"
RECORD_VERSION = 1
ON_CONFLICT = ("fail", "archive")
# Where the operator sets on_conflict when the model_store role runs this module.
ON_CONFLICT_HINT = "set on_conflict: archive (model_store_on_conflict: archive in the model_store role)"
VERIFY = ("fast", "full")
CACHE_FORMAT = 1
# A directory whose mtime or ctime lies this close before (or after) the verification time may have
# changed within the same timestamp tick as the listing that was read: it is re-checked in full.
RACY_NS = 2 * 10 ** 9

_ABSENT = ("absent", None)
_DIR = ("dir", None)


class LayoutError(Exception):
    """The declared layout cannot be reached safely; nothing was changed."""


class Plan(object):
    """The actions, the problems found while planning, and the counts a module reports."""

    def __init__(self, link_root, store_root, archive_root):
        self.link_root = link_root
        self.store_root = store_root
        self.archive_root = archive_root
        self.actions = []
        self.errors = []
        self.unchanged = 0
        self.record = None
        self.verified = "full"  # "fast" when the re-check cache was trusted
        self.verification = None  # the cache a no-op full check can leave for the next run

    @property
    def changed(self):
        return bool(self.actions)

    def counts(self):
        counts = {"linked": 0, "relinked": 0, "unlinked": 0, "expanded": 0, "archived": 0,
                  "directories": 0, "moved": 0, "unchanged": self.unchanged}
        names = {"link": "linked", "relink": "relinked", "unlink": "unlinked", "expand": "expanded",
                 "archive": "archived", "mkdir": "directories", "move_in": "moved"}
        for action in self.actions:
            if action["action"] in names:
                counts[names[action["action"]]] += 1
            if action["action"] == "expand":
                counts["moved"] += len([1 for kind, _rel, _value in action["entries"] if kind == "move"])
        return counts

    def changes(self):
        """The actions as the module returns them: paths relative to the link root."""
        shown = []
        for action in self.actions:
            item = dict((key, value) for key, value in action.items() if key not in ("entries", "sha256"))
            if "path" in item:
                item["path"] = os.path.relpath(item["path"], self.link_root)
            if action["action"] == "expand":
                item["links"] = len([1 for kind, _rel, _value in action["entries"] if kind == "link"])
                item["moved"] = [rel for kind, rel, _value in action["entries"] if kind == "move"]
            shown.append(item)
        return shown

    def diff(self):
        before, after = [], []
        for action in self.actions:
            kind = action["action"]
            name = os.path.relpath(action["path"], self.link_root) if "path" in action else RECORD_NAME
            if kind == "link":
                before.append("%s: absent" % name)
                after.append("%s -> %s" % (name, action["after"]))
            elif kind == "relink":
                before.append("%s -> %s" % (name, action["before"]))
                after.append("%s -> %s" % (name, action["after"]))
            elif kind == "unlink":
                before.append("%s -> %s" % (name, action["before"]))
                after.append("%s: absent" % name)
            elif kind == "expand":
                before.append("%s -> %s (directory symlink)" % (name, action["before"]))
                after.append("%s/ (real directory)" % name)
                for entry_kind, rel, value in action["entries"]:
                    if entry_kind == "link":
                        after.append("%s -> %s" % (os.path.join(name, rel), value))
                    elif entry_kind == "move":
                        after.append("%s (real file, moved from %s)" % (os.path.join(name, rel), value))
            elif kind == "move_in":
                before.append("%s -> %s" % (name, action["before"]))
                after.append("%s (real file, moved from %s)" % (name, action["source"]))
            elif kind == "archive":
                before.append("%s: %s" % (name, action["before"]))
                after.append("%s: moved to the archive (%s)" % (name, action["reason"]))
            elif kind == "mkdir":
                before.append("%s/: absent" % name)
                after.append("%s/ (real directory)" % name)
            elif kind == "record":
                before.append("%s: %d managed links" % (name, len(action["before"])))
                after.append("%s: %d managed links" % (name, len(action["after"])))
        return {"before_header": self.link_root, "after_header": self.link_root,
                "before": "\n".join(before) + ("\n" if before else ""),
                "after": "\n".join(after) + ("\n" if after else "")}


def _clean_relative(value, root):
    """A normalised path relative to root, or None when it is empty, escapes root or is odd."""
    if not isinstance(value, str) or not value.strip():
        return None
    if value[0] != "/" and value[-1] != "/" and "//" not in value:
        parts = value.split("/")
        if "." not in parts and ".." not in parts:
            return value  # already clean: the common case, without normpath/relpath per link
    path = value if os.path.isabs(value) else os.path.join(root, value)
    path = os.path.normpath(path)
    if not is_inside(path, root) or path == os.path.normpath(root):
        return None
    return os.path.relpath(path, root)


def read_record(link_root):
    path = os.path.join(link_root, RECORD_NAME)
    if not os.path.lexists(path):
        return None
    try:
        with open(path) as handle:
            record = json.load(handle)
        if not isinstance(record.get("links"), dict):
            raise ValueError("no links")
    except (ValueError, OSError, AttributeError) as error:
        raise LayoutError(
            "The record of managed links %s cannot be read (%s). Move it aside and run again: links"
            " it listed are then treated as unmanaged and left alone." % (path, error)
        )
    return record


def _stat_key(result):
    """What must stay the same for a directory's listing to be known unchanged."""
    return [result.st_ino, result.st_dev, result.st_mode, result.st_mtime_ns, result.st_ctime_ns]


def _identity(result):
    return [result.st_ino, result.st_dev, stat.S_IFMT(result.st_mode)]


def _top_kind(entry):
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


def _ancestors(*paths):
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


class _Tree(object):
    """The link tree as read once (scandir, links not followed), plus the planned changes."""

    def __init__(self, link_root):
        self.root = link_root
        self.entries = {}  # rel -> (kind, link value or None)
        self.overlay = {}
        self.fresh = set()  # planned real directories whose content is only what the overlay says
        self.dir_links = []  # rel paths of directory-level symlinks
        self.broken = []  # rel paths of symlinks that resolve to nothing (now)
        self.dir_stats = {}  # absolute path of each real directory below the root -> _stat_key
        self.top = {}  # the root's own entries, name -> _top_kind (the root changes with each record write)
        self.watch = {}  # symlinks that are not declared links, absolute path -> what they resolve to

    def scan(self, wanted_links):
        """Walk once (directory file descriptors, so the kernel does not resolve full paths again);
        a symlink is stat'ed only when its value is not the declared one."""
        stack = [""]
        entries, flags = self.entries, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0)
        while stack:
            rel_dir = stack.pop()
            prefix = rel_dir + "/" if rel_dir else ""
            descriptor = os.open(os.path.join(self.root, rel_dir), flags)
            if rel_dir:
                self.dir_stats[self.root + "/" + rel_dir] = _stat_key(os.fstat(descriptor))  # before reading
            try:
                with os.scandir(descriptor) as listing:
                    for entry in listing:
                        name = entry.name
                        rel = prefix + name
                        if entry.is_symlink():
                            value = os.readlink(name, dir_fd=descriptor)
                            entries[rel] = ("link", value)
                            if not prefix:
                                self.top[name] = "l:" + value
                            if wanted_links.get(rel) != value:
                                try:
                                    mode = os.stat(name, dir_fd=descriptor).st_mode
                                    if stat.S_ISDIR(mode):
                                        self.dir_links.append(rel)
                                    self.watch[self.root + "/" + rel] = "file" if stat.S_ISREG(mode) else "other"
                                except OSError:
                                    self.broken.append(rel)
                                    self.watch[self.root + "/" + rel] = "broken"
                        elif entry.is_dir(follow_symlinks=False):
                            entries[rel] = _DIR
                            stack.append(rel)
                        elif not prefix and name == RECORD_NAME:
                            continue
                        elif entry.is_file(follow_symlinks=False):
                            entries[rel] = ("file", None)
                        else:
                            entries[rel] = ("other", None)
                        if not prefix and name not in self.top:
                            self.top[name] = _top_kind(entry)
            finally:
                os.close(descriptor)
        self.dir_links.sort()

    def state(self, rel):
        if rel in self.overlay:
            return self.overlay[rel]
        if self.fresh:
            parent = os.path.dirname(rel)
            while parent:
                if parent in self.fresh:
                    return _ABSENT
                parent = os.path.dirname(parent)
        return self.entries.get(rel, _ABSENT)

    def set(self, rel, state, fresh=False):
        self.overlay[rel] = state
        if fresh:
            self.fresh.add(rel)


def _store_location(real, store_root, real_store):
    """Where a link should point for a file whose real path is `real`: inside the store when it is."""
    if is_inside(real, real_store):
        return os.path.normpath(os.path.join(store_root, os.path.relpath(real, real_store)))
    return real


def _expansion(link_root, rel, store_root, real_store, must_be_real):
    """The real directories, per-file links and moves that replace the directory symlink at rel.

    Entries: ("dir", path below rel, None), ("link", path below rel, absolute target) and, for a
    store file at a path must_be_real(path relative to link_root) names (a ComfyUI-only file written
    through the link into the store), ("move", path below rel, its path in the store): it moves into the
    new real folder instead of being linked. Follows nested directory symlinks (ComfyUI does) with a
    guard against loops; broken links and special files expose nothing and are left out.
    """
    entries, skipped = [], 0
    link_dir = os.path.join(link_root, rel)
    seen = set()
    stack = [("", os.path.realpath(link_dir))]
    while stack:
        rel_dir, real_dir = stack.pop()
        if real_dir in seen:
            continue
        seen.add(real_dir)
        for name in sorted(os.listdir(real_dir)):
            source = os.path.join(real_dir, name)
            rel_item = os.path.join(rel_dir, name) if rel_dir else name
            if os.path.isdir(source):
                entries.append(("dir", rel_item, None))
                stack.append((rel_item, os.path.realpath(source)))
            elif os.path.isfile(source):
                real = os.path.realpath(source)
                kind = "link"
                if must_be_real(os.path.join(rel, rel_item)) and not os.path.islink(source) and \
                        is_inside(real, real_store):
                    kind = "move"
                entries.append((kind, rel_item, _store_location(real, store_root, real_store)))
            else:
                skipped += 1
    return entries, skipped


def _must_be_real_test(real_paths):
    """must_be_real(rel): whether rel is, or lies below, one of the paths that hold real files."""
    def must_be_real(rel):
        while rel:
            if rel in real_paths:
                return True
            rel = rel.rpartition("/")[0]
        return False
    return must_be_real


def _check_roots(link_root, store_root, archive_root):
    if os.path.islink(link_root):
        raise LayoutError(
            "The link root %s is a symlink; refusing to work through it. Point link_root at the real"
            " directory (ComfyUI's models/ folder)." % link_root)
    if not os.path.isdir(link_root):
        raise LayoutError("The link root %s is not a directory; install ComfyUI first or fix link_root." % link_root)
    if not os.path.isdir(store_root):
        raise LayoutError("The store root %s is not a directory; create the model store first." % store_root)
    named = (("link_root", link_root), ("store_root", store_root), ("archive_root", archive_root))
    for first_name, first in named:
        for second_name, second in named:
            if first_name != second_name and is_inside(first, second):
                raise LayoutError("%s (%s) must not be inside %s (%s); keep the three trees apart." % (
                    first_name, first, second_name, second))
    if os.path.islink(archive_root):
        raise LayoutError("The archive root %s is a symlink; point archive_root at the real directory." % archive_root)
    if not same_filesystem(link_root, archive_root):
        raise LayoutError(
            "The archive %s is not on the filesystem of the link root %s. Files are only moved, never copied"
            " and deleted: put the archive on the same filesystem (model_store_archive_dir, common_archive_dir)."
            % (archive_root, link_root))


class _StoreIndex(object):
    """Validates targets with one directory listing per store folder instead of a stat per file."""

    def __init__(self, store_root):
        self.store_root = store_root
        self.real_store = os.path.realpath(store_root)
        self.listings = {}
        self.dir_problems = {}
        self.dir_stats = {}  # each store folder holding a target and its parents up to the store root
        self.cacheable = True  # False when a target or a store folder is a symlink: those are always re-read

    def _record_chain(self, directory):
        path = directory
        while path not in self.dir_stats:
            try:
                result = os.stat(path) if path == self.store_root else os.lstat(path)
            except OSError:
                self.cacheable = False
                return
            if stat.S_ISLNK(result.st_mode):
                self.cacheable = False
            self.dir_stats[path] = _stat_key(result)
            if len(path) <= len(self.store_root):
                return
            path = os.path.dirname(path)

    def problem(self, target):
        """None when target is a regular file inside the store (after links), else why not."""
        directory, _sep, name = target.rpartition("/")
        if directory not in self.listings:
            self._record_chain(directory)  # before the listing is read
            real = os.path.realpath(directory)
            self.dir_problems[directory] = None if is_inside(real, self.real_store) else (
                "its folder resolves to %s, outside the store %s" % (real, self.real_store))
            try:
                with os.scandir(directory) as listing:
                    self.listings[directory] = dict(
                        (entry.name, "file" if entry.is_file(follow_symlinks=False)
                         else "link" if entry.is_symlink() else "other") for entry in listing)
            except OSError:
                self.listings[directory] = {}
        if self.dir_problems[directory]:
            return self.dir_problems[directory]
        kind = self.listings[directory].get(name)
        if kind is None:
            return "it does not exist in the store; download it first or remove the link from the declaration"
        if kind == "file":
            return None
        if kind == "link":
            self.cacheable = False
        if kind == "link" and os.path.isfile(target):
            if is_inside(os.path.realpath(target), self.real_store):
                return None
            return "it is a symlink that resolves outside the store"
        return "it is not a regular file (declare one link per file, not per folder)"


def _options(link_root, store_root, archive_root, on_conflict, real_files=()):
    """Everything besides the declared links that changes the plan."""
    return {"link_root": link_root, "store_root": store_root, "archive_root": archive_root,
            "on_conflict": on_conflict, "real_files": sorted(real_files)}


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
def _plan_from_cache(link_root, store_root, archive_root, links, on_conflict, real_files):
    """The no-op Plan when the recorded verification still holds, else None (then check in full)."""
    try:
        record = read_record(link_root)
    except LayoutError:
        return None  # the full check reports it
    try:
        verified = record["verified"]
        if verified["format"] != CACHE_FORMAT or record["version"] != RECORD_VERSION or \
                record["store_root"] != store_root or record["links"] != links or \
                verified["options"] != _options(link_root, store_root, archive_root, on_conflict, real_files):
            return None
        racy = verified["at"] - RACY_NS
        for path, identity in verified["ancestors"].items():
            if _identity(os.lstat(path)) != identity:
                return None
        for path, recorded in verified["directories"].items():
            now = os.stat(path) if path == store_root else os.lstat(path)
            if recorded[3] >= racy or recorded[4] >= racy or _stat_key(now) != recorded:
                return None
        for path, kind in verified["watch"].items():
            if _resolved_kind(path) != kind:
                return None
        with os.scandir(link_root) as listing:
            top = dict((entry.name, _top_kind(entry)) for entry in listing if entry.name != RECORD_NAME)
        if top != verified["top"]:
            return None
    except (OSError, TypeError, ValueError, KeyError, IndexError, AttributeError):
        return None  # no record, no cache, a path gone, or a cache that is not ours: check in full
    plan = Plan(link_root, store_root, archive_root)
    plan.unchanged = len(record["links"])
    plan.record = dict((key, value) for key, value in record.items() if key != "verified")
    plan.verified = "fast"
    return plan


def plan_links(link_root, store_root, links, archive_root, on_conflict="fail", verify="fast", real_files=()):
    """Compare the tree with the declared links and return the Plan; raises LayoutError when a
    safe plan is impossible (the message lists every problem). Reads only.

    verify="fast" trusts the re-check cache when it still holds (see _plan_from_cache); "full" reads
    every link and store folder. real_files: paths relative to link_root (files or folders) that must
    hold real files, not links (ComfyUI-only downloads); see _plan_real_files."""
    link_root = os.path.abspath(link_root)
    store_root = os.path.abspath(store_root)
    archive_root = os.path.abspath(archive_root)
    if on_conflict not in ON_CONFLICT:
        raise LayoutError("on_conflict must be one of %s, not %r" % (", ".join(ON_CONFLICT), on_conflict))
    if verify not in VERIFY:
        raise LayoutError("verify must be one of %s, not %r" % (", ".join(VERIFY), verify))
    _check_roots(link_root, store_root, archive_root)
    real_paths = set()
    for raw in real_files or ():
        clean = _clean_relative(raw, link_root)
        if clean is None or clean == RECORD_NAME:
            raise LayoutError("Nothing was changed. real_files entry %r is not a path inside the link root %s"
                              % (raw, link_root))
        real_paths.add(clean)
    must_be_real = _must_be_real_test(real_paths)
    started = time.time_ns()
    if verify == "fast":
        cached = _plan_from_cache(link_root, store_root, archive_root, links, on_conflict, real_paths)
        if cached is not None:
            return cached
    ancestors = _ancestors(link_root, store_root)
    plan = Plan(link_root, store_root, archive_root)
    index = _StoreIndex(store_root)
    if os.sep != "/":
        raise LayoutError("model_links runs on POSIX hosts only")

    declared = {}
    for raw_link, raw_target in sorted((links or {}).items()):
        rel = _clean_relative(raw_link, link_root)
        target_rel = _clean_relative(raw_target, store_root)
        if rel is None or rel == RECORD_NAME:
            plan.errors.append("link %r: not a path inside the link root %s" % (raw_link, link_root))
            continue
        if target_rel is None:
            plan.errors.append("link %s: target %r is not a path inside the store %s" % (rel, raw_target, store_root))
            continue
        problem = index.problem(store_root + "/" + target_rel)
        if problem:
            plan.errors.append("link %s: target %s: %s" % (rel, os.path.join(store_root, target_rel), problem))
            continue
        declared[rel] = target_rel
    for rel in sorted(declared):
        if must_be_real(rel) or any(is_inside(real, rel) for real in real_paths):
            plan.errors.append("%s is declared as a link and as a real file (real_files); declare it once" % rel)
    folders = set(rel.rpartition("/")[0] for rel in declared)
    for folder in sorted(folders):
        parent = folder
        while parent:
            if parent in declared:
                plan.errors.append("links are declared inside %s, which is declared as a link itself" % parent)
            parent = parent.rpartition("/")[0]
    if plan.errors:
        raise LayoutError("Nothing was changed. " + "; ".join(plan.errors))

    # The link value: from the link's folder up to the store, then down to the target (one relpath per folder).
    prefixes, desired = {}, {}
    for rel, target_rel in declared.items():
        folder = rel.rpartition("/")[0]
        if folder not in prefixes:
            prefixes[folder] = os.path.relpath(store_root, os.path.join(link_root, folder) if folder else link_root)
        desired[rel] = prefixes[folder] + "/" + target_rel
    tree = _Tree(link_root)
    tree.scan(desired)

    # 1. Directory-level symlinks become real directories with one link per file they exposed; a
    #    ComfyUI-only file (real_files) written through the link into the store moves into the folder.
    targets = set(declared.values())
    expansions = []
    for rel in tree.dir_links:  # never nested: the scan does not descend into symlinks
        entries, skipped = _expansion(link_root, rel, store_root, index.real_store, must_be_real)
        expansions.append((rel, entries, skipped))
    moved = {}  # store path -> its new place under the link root
    for rel, entries, _skipped in expansions:
        for kind, item, source in entries:
            if kind == "move":
                _check_move(plan, source, os.path.join(link_root, rel, item), targets)
                moved[source] = os.path.join(link_root, rel, item)
    for rel, entries, skipped in expansions:
        shown = []
        for kind, item, target in entries:
            if kind == "link":  # a link to a file moved by another expansion follows it
                target = os.path.relpath(moved.get(target, target), os.path.dirname(os.path.join(link_root, rel, item)))
            shown.append((kind, item, target))
            tree.set(os.path.join(rel, item), _DIR if kind == "dir" else ("file", None) if kind == "move" else
                     ("link", target))
        plan.actions.append({"action": "expand", "path": os.path.join(link_root, rel),
                             "before": tree.entries[rel][1], "entries": shown, "skipped": skipped})
        tree.set(rel, _DIR, fresh=True)

    # 2. Every declared link, with real directories above it.
    hashes, ready = {}, set()
    for rel in sorted(declared):
        folder = rel.rpartition("/")[0]
        if folder and folder not in ready:
            parts = folder.split("/")
            for depth in range(1, len(parts) + 1):
                parent = "/".join(parts[:depth])
                if parent in ready:
                    continue
                if not _ensure_directory(plan, tree, parent, on_conflict, hashes):
                    break
                ready.add(parent)
            if folder not in ready:
                continue
        kind_value = tree.state(rel)
        if kind_value[0] == "link" and kind_value[1] == desired[rel]:
            plan.unchanged += 1  # the common no-op case, without building paths
            continue
        _ensure_link(plan, tree, rel, os.path.join(link_root, rel), os.path.join(store_root, declared[rel]),
                     desired[rel], on_conflict, hashes)

    # 2b. A symlink where a real file belongs (left by an older expansion): its store file moves there.
    if real_paths:
        _plan_real_files(plan, tree, must_be_real, index.real_store, targets)

    # 3. Links this module made earlier and that are no longer declared.
    record = read_record(link_root)
    if record:
        old_store = os.path.abspath(record.get("store_root") or store_root)
        for rel in sorted(record["links"]):
            if rel in declared:
                continue
            clean = _clean_relative(rel, link_root)
            if clean is None or clean in declared:
                continue
            kind, value = tree.state(clean)
            if kind != "link":
                continue  # replaced by something else since: no longer ours
            pointed = os.path.normpath(os.path.join(os.path.dirname(os.path.join(link_root, clean)), value))
            if is_inside(pointed, store_root) or is_inside(pointed, old_store):
                plan.actions.append({"action": "unlink", "path": os.path.join(link_root, clean), "before": value,
                                     "reason": "managed link no longer declared"})
                tree.set(clean, _ABSENT)

    # 4. A broken symlink that points at a directory this plan creates would become a directory-level
    #    symlink: it goes to the archive (it exposes nothing now, and a rollback can put it back).
    for rel in tree.broken:
        kind, value = tree.state(rel)
        if kind != "link":
            continue
        pointed = os.path.normpath(os.path.join(os.path.dirname(os.path.join(link_root, rel)), value))
        if is_inside(pointed, link_root) and pointed != link_root and \
                tree.state(os.path.relpath(pointed, link_root))[0] == "dir":
            _archive_action(plan, tree, rel, kind, value,
                            "broken symlink that would become a directory-level symlink")

    if plan.errors:
        raise LayoutError("Nothing was changed. " + "; ".join(plan.errors))

    # 5. The record of what is managed now (the re-check cache in it is not part of the layout).
    new_record = {"version": RECORD_VERSION, "store_root": store_root, "links": declared}
    if record is None or dict((key, value) for key, value in record.items() if key != "verified") != new_record:
        plan.actions.append({"action": "record", "before": (record or {}).get("links", {}), "after": declared})
    plan.record = new_record
    if not plan.actions and index.cacheable:
        directories = dict(tree.dir_stats)
        directories.update(index.dir_stats)
        plan.verification = {"format": CACHE_FORMAT, "at": started, "ancestors": ancestors,
                             "directories": directories, "top": tree.top, "watch": tree.watch,
                             "options": _options(link_root, store_root, archive_root, on_conflict, real_paths)}
    return plan


def _check_move(plan, source, destination, targets):
    """Record a plan error when the store file source cannot move to destination (a real file place)."""
    relative = os.path.relpath(source, plan.store_root)
    if relative in targets:
        plan.errors.append("%s must be a real file (real_files), but its store file %s is the target of a declared"
                           " link; declare it once" % (destination, source))
    elif not same_filesystem(source, os.path.dirname(destination)):
        plan.errors.append("%s must be a real file (real_files), and its only copy %s is on another filesystem;"
                           " files are only moved, never copied: move it there by hand" % (destination, source))


def _plan_real_files(plan, tree, must_be_real, real_store, targets):
    """Where a real file belongs (real_files), a symlink is what an older expansion of a directory-level
    link left (the ComfyUI-only download then refuses it as its dest, on every run). A symlink to a file
    in the store is replaced by that file, moved by one rename (ledger line); a dangling one is removed
    (ledger line) so the download can put the file there. Other symlinks are left for the download to
    report."""
    for rel in sorted(set(tree.entries) | set(tree.overlay)):  # the overlay holds the expansions' links
        kind, value = tree.state(rel)
        if kind != "link" or not must_be_real(rel):
            continue
        path = os.path.join(plan.link_root, rel)
        real = _planned_end(tree, plan.link_root, path, value)
        if not os.path.lexists(real):
            plan.actions.append({"action": "unlink", "path": path, "before": value, "ledger": True,
                                 "reason": "removed dangling symlink where a real file belongs (real_files)"})
            tree.set(rel, _ABSENT)
        elif os.path.isfile(real) and is_inside(real, real_store):
            source = _store_location(real, plan.store_root, real_store)
            _check_move(plan, source, path, targets)
            plan.actions.append({"action": "move_in", "path": path, "before": value, "source": source,
                                 "reason": "a ComfyUI-only file (real_files) moved from the store to replace its"
                                           " symlink"})
            tree.set(rel, ("file", None))


def _planned_end(tree, link_root, path, value, hops=0):
    """Where the link at path ends once the plan is applied. An expansion's link sits in a folder that is
    still a directory-level symlink on disk, and may point at a sibling entry that the plan itself turns
    into a link to the store (an identical copy replaced by its link): links inside the link root are
    followed through their planned state, the rest is resolved on disk."""
    target = os.path.normpath(os.path.join(os.path.dirname(path), value))
    if hops < 40 and target != link_root and is_inside(target, link_root):
        kind, next_value = tree.state(os.path.relpath(target, link_root))
        if kind == "link":
            return _planned_end(tree, link_root, target, next_value, hops + 1)
    return os.path.realpath(target)


def _describe_state(link_root, rel, kind, value):
    path = os.path.join(link_root, rel)
    if kind == "link":
        return "symlink -> %s" % value
    if kind == "file":
        return "file, %d bytes" % os.lstat(path).st_size
    return "%s" % ("directory" if kind == "dir" else "special file")


def _archive_action(plan, tree, rel, kind, value, reason, sha256=None):
    plan.actions.append({"action": "archive", "path": os.path.join(plan.link_root, rel),
                         "before": _describe_state(plan.link_root, rel, kind, value),
                         "reason": reason, "sha256": sha256})
    tree.set(rel, _ABSENT)


def _ensure_directory(plan, tree, rel, on_conflict, hashes):
    kind, value = tree.state(rel)
    if kind == "dir":
        return True
    path = os.path.join(plan.link_root, rel)
    if kind == "link":
        dangling = rel in tree.broken
        plan.actions.append({"action": "unlink", "path": path, "before": value, "ledger": True,
                             "reason": "removed %s in the way of a directory the declared links need" % (
                                 "dangling symlink" if dangling else "symlink")})
    elif kind != "absent":
        if on_conflict != "archive":
            plan.errors.append(
                "%s (%s) is in the way of a directory the declared links need; move it away or %s" % (
                    path, _describe_state(plan.link_root, rel, kind, value), ON_CONFLICT_HINT))
            return False
        _archive_action(plan, tree, rel, kind, value, "in the way of a link directory")
    plan.actions.append({"action": "mkdir", "path": path})
    tree.set(rel, _DIR, fresh=True)
    return True


def _ensure_link(plan, tree, rel, path, target, wanted, on_conflict, hashes):
    kind, value = tree.state(rel)
    if kind == "link":
        if value == wanted:
            plan.unchanged += 1
            return
        plan.actions.append({"action": "relink", "path": path, "before": value, "after": wanted})
        tree.set(rel, ("link", wanted))
        return
    if kind == "file":
        equal, digest = same_content(path, target, hashes)
        if equal:
            _archive_action(plan, tree, rel, kind, value, "identical copy of store file %s" % target, digest)
        elif on_conflict == "archive":
            _archive_action(plan, tree, rel, kind, value, "differs from store file %s (on_conflict: archive)" % target)
        else:
            plan.errors.append(
                "%s (%d bytes) is a real file that differs from the store file %s (%d bytes); move one of them"
                " away, or %s to archive %s" % (
                    path, os.lstat(path).st_size, target, os.stat(target).st_size, ON_CONFLICT_HINT, path))
            return
    elif kind != "absent":
        if on_conflict != "archive":
            plan.errors.append("%s (%s) is where a link is declared; move it away or %s" % (
                path, _describe_state(plan.link_root, rel, kind, value), ON_CONFLICT_HINT))
            return
        _archive_action(plan, tree, rel, kind, value, "in the way of declared link (on_conflict: archive)")
    plan.actions.append({"action": "link", "path": path, "after": wanted})
    tree.set(rel, ("link", wanted))


# Apply ---------------------------------------------------------------------------------------


def unlink_symlink(path):
    """The only unlink in the link layout: refuses anything that is not a symlink right now."""
    if not stat.S_ISLNK(os.lstat(path).st_mode):
        raise LayoutError("Refusing to remove %s: it is no longer a symlink (changed while running?)" % path)
    os.unlink(path)


def _replace_symlink(path, value):
    if not os.path.islink(path):
        raise LayoutError("Refusing to replace %s: it is no longer a symlink (changed while running?)" % path)
    temporary = "%s.ai4artsed-new" % path
    number = 0
    while os.path.lexists(temporary):
        number += 1
        temporary = "%s.ai4artsed-new-%d" % (path, number)
    os.symlink(value, temporary)
    os.replace(temporary, path)  # atomic: the name always points somewhere


def _write_record(link_root, record):
    path = os.path.join(link_root, RECORD_NAME)
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_verification(plan):
    """After a full check that planned nothing: store the re-check cache in the record (not a change
    of the layout). Returns whether it was written."""
    if plan.changed or not plan.verification:
        return False
    record = dict(plan.record)
    record["verified"] = plan.verification
    _write_record(plan.link_root, record)
    return True


def apply_plan(plan, now=None):
    """Carry out the plan in order. Every step re-checks what it acts on; returns archive records."""
    records = []
    try:
        for action in plan.actions:
            kind = action["action"]
            path = action.get("path")
            if kind == "expand":
                unlink_symlink(path)
                record_symlink_removal(plan.archive_root, path, action["before"],
                                       "expanded directory-level symlink into a real directory", now=now)
                os.mkdir(path)
                for entry_kind, rel, value in action["entries"]:
                    if entry_kind == "dir":
                        os.mkdir(os.path.join(path, rel))
                    elif entry_kind == "move":
                        records.append(move_with_record(
                            value, os.path.join(path, rel), plan.archive_root,
                            "a ComfyUI-only file (real_files) moved from the store into the expanded folder", now=now))
                    else:
                        os.symlink(value, os.path.join(path, rel))
            elif kind == "mkdir":
                os.mkdir(path)
            elif kind == "unlink":
                unlink_symlink(path)
                if action.get("ledger"):
                    record_symlink_removal(plan.archive_root, path, action["before"], action["reason"], now=now)
            elif kind == "move_in":
                records.append(move_over_symlink(action["source"], path, plan.archive_root, action["reason"], now=now))
            elif kind == "link":
                os.symlink(action["after"], path)
            elif kind == "relink":
                _replace_symlink(path, action["after"])
            elif kind == "archive":
                records.append(archive_path(path, plan.link_root, plan.archive_root, action["reason"],
                                            sha256=action.get("sha256"), now=now))
            elif kind == "record":
                _write_record(plan.link_root, plan.record)
    except (OSError, ArchiveError) as error:
        raise LayoutError("Stopped at %s %s: %s. Steps before it were done; run again to finish." % (
            kind, path or RECORD_NAME, error))
    return records
