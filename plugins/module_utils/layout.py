# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ComfyUI link layout as declared state: plan (pure reading), then apply.

plan_links() reads the link tree once and returns a Plan (layout_plan.py): an ordered list of
actions that turn the current tree into the declared one. Check mode reports the plan; a real run
hands the same plan to apply_plan(). The only things in the layout ever unlinked are symlinks
(checked again right before the unlink); real files and directories in the way go to the archive
(archive.archive_path). The trees are read by layout_scan.py; a no-op check leaves a re-check
cache (layout_cache.py) that lets the next run skip reading every link.

Standard library only: this runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import time

from ansible_collections.ai4artsed.devserver.plugins.module_utils.archive import (
    ArchiveError,
    archive_path,
    move_over_symlink,
    move_with_record,
    record_symlink_removal,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import is_inside, same_content, same_filesystem
from ansible_collections.ai4artsed.devserver.plugins.module_utils.layout_cache import (
    ancestors_of,
    options,
    plan_from_cache,
    verification,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.layout_plan import (
    ON_CONFLICT,
    ON_CONFLICT_HINT,
    RECORD_NAME,
    RECORD_VERSION,
    VERIFY,
    LayoutError,
    Plan,
    clean_relative,
    read_record,
    write_record,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.layout_scan import (
    ABSENT,
    DIR,
    LinkTree,
    StoreIndex,
    expansion,
    store_location,
)


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


def plan_links(link_root, store_root, links, archive_root, on_conflict="fail", verify="fast", real_files=()):
    """Compare the tree with the declared links and return the Plan; raises LayoutError when a
    safe plan is impossible (the message lists every problem). Reads only.

    verify="fast" trusts the re-check cache when it still holds (see layout_cache.plan_from_cache); "full" reads
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
        clean = clean_relative(raw, link_root)
        if clean is None or clean == RECORD_NAME:
            raise LayoutError("Nothing was changed. real_files entry %r is not a path inside the link root %s"
                              % (raw, link_root))
        real_paths.add(clean)
    must_be_real = _must_be_real_test(real_paths)
    started = time.time_ns()
    if verify == "fast":
        cached = plan_from_cache(link_root, store_root, archive_root, links, on_conflict, real_paths)
        if cached is not None:
            return cached
    ancestors = ancestors_of(link_root, store_root)
    plan = Plan(link_root, store_root, archive_root)
    index = StoreIndex(store_root)
    if os.sep != "/":
        raise LayoutError("model_links runs on POSIX hosts only")

    declared = {}
    for raw_link, raw_target in sorted((links or {}).items()):
        rel = clean_relative(raw_link, link_root)
        target_rel = clean_relative(raw_target, store_root)
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
    tree = LinkTree(link_root)
    tree.scan(desired)

    # 1. Directory-level symlinks become real directories with one link per file they exposed; a
    #    ComfyUI-only file (real_files) written through the link into the store moves into the folder.
    targets = set(declared.values())
    expansions = []
    for rel in tree.dir_links:  # never nested: the scan does not descend into symlinks
        entries, skipped = expansion(link_root, rel, store_root, index.real_store, must_be_real)
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
            tree.set(os.path.join(rel, item), DIR if kind == "dir" else ("file", None) if kind == "move" else
                     ("link", target))
        plan.actions.append({"action": "expand", "path": os.path.join(link_root, rel),
                             "before": tree.entries[rel][1], "entries": shown, "skipped": skipped})
        tree.set(rel, DIR, fresh=True)

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
            clean = clean_relative(rel, link_root)
            if clean is None or clean in declared:
                continue
            kind, value = tree.state(clean)
            if kind != "link":
                continue  # replaced by something else since: no longer ours
            pointed = os.path.normpath(os.path.join(os.path.dirname(os.path.join(link_root, clean)), value))
            if is_inside(pointed, store_root) or is_inside(pointed, old_store):
                plan.actions.append({"action": "unlink", "path": os.path.join(link_root, clean), "before": value,
                                     "reason": "managed link no longer declared"})
                tree.set(clean, ABSENT)

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
        plan.verification = verification(started, ancestors, tree, index,
                                         options(link_root, store_root, archive_root, on_conflict, real_paths))
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
            tree.set(rel, ABSENT)
        elif os.path.isfile(real) and is_inside(real, real_store):
            source = store_location(real, plan.store_root, real_store)
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
    tree.set(rel, ABSENT)


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
    tree.set(rel, DIR, fresh=True)
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
                            "a ComfyUI-only file (real_files) moved from the store into the expanded folder",
                            plan.store_root, now=now))
                    else:
                        os.symlink(value, os.path.join(path, rel))
            elif kind == "mkdir":
                os.mkdir(path)
            elif kind == "unlink":
                unlink_symlink(path)
                if action.get("ledger"):
                    record_symlink_removal(plan.archive_root, path, action["before"], action["reason"], now=now)
            elif kind == "move_in":
                records.append(move_over_symlink(action["source"], path, plan.archive_root, action["reason"],
                                                 plan.store_root, now=now))
            elif kind == "link":
                os.symlink(action["after"], path)
            elif kind == "relink":
                _replace_symlink(path, action["after"])
            elif kind == "archive":
                records.append(archive_path(path, plan.link_root, plan.archive_root, action["reason"],
                                            sha256=action.get("sha256"), now=now))
            elif kind == "record":
                write_record(plan.link_root, plan.record)
    except (OSError, ArchiveError) as error:
        raise LayoutError("Stopped at %s %s: %s. Steps before it were done; run again to finish." % (
            kind, path or RECORD_NAME, error))
    return records
