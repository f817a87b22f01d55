# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the two trees model_links compares: the link tree (one scandir walk) and the store.

LinkTree holds what the walk found plus the changes planned so far (an overlay), so each planning
step sees the tree as the earlier steps leave it. StoreIndex checks link targets with one listing
per store folder. Both record the directory stat values the re-check cache (layout_cache.py)
compares on the next run. Standard library only: this runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import is_inside
from ansible_collections.ai4artsed.devserver.plugins.module_utils.layout_cache import stat_key, top_kind
from ansible_collections.ai4artsed.devserver.plugins.module_utils.layout_plan import RECORD_NAME

ABSENT = ("absent", None)
DIR = ("dir", None)


class LinkTree(object):
    """The link tree as read once (scandir, links not followed), plus the planned changes."""

    def __init__(self, link_root):
        self.root = link_root
        self.entries = {}  # rel -> (kind, link value or None)
        self.overlay = {}
        self.fresh = set()  # planned real directories whose content is only what the overlay says
        self.dir_links = []  # rel paths of directory-level symlinks
        self.broken = []  # rel paths of symlinks that resolve to nothing (now)
        self.dir_stats = {}  # absolute path of each real directory below the root -> stat_key
        self.top = {}  # the root's own entries, name -> top_kind (the root changes with each record write)
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
                self.dir_stats[self.root + "/" + rel_dir] = stat_key(os.fstat(descriptor))  # before reading
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
                            entries[rel] = DIR
                            stack.append(rel)
                        elif not prefix and name == RECORD_NAME:
                            continue
                        elif entry.is_file(follow_symlinks=False):
                            entries[rel] = ("file", None)
                        else:
                            entries[rel] = ("other", None)
                        if not prefix and name not in self.top:
                            self.top[name] = top_kind(entry)
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
                    return ABSENT
                parent = os.path.dirname(parent)
        return self.entries.get(rel, ABSENT)

    def set(self, rel, state, fresh=False):
        self.overlay[rel] = state
        if fresh:
            self.fresh.add(rel)


def store_location(real, store_root, real_store):
    """Where a link should point for a file whose real path is `real`: inside the store when it is."""
    if is_inside(real, real_store):
        return os.path.normpath(os.path.join(store_root, os.path.relpath(real, real_store)))
    return real


def expansion(link_root, rel, store_root, real_store, must_be_real):
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
                entries.append((kind, rel_item, store_location(real, store_root, real_store)))
            else:
                skipped += 1
    return entries, skipped


class StoreIndex(object):
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
            self.dir_stats[path] = stat_key(result)
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
