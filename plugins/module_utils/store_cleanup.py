# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Store clean-up planning for model_archive: merge deprecated folders, archive named and unlisted files.

plan_model_archive() reads the tree and returns a list of entries ('move', 'archive', 'conflict',
'skip'); check mode reports it, a real run hands the same list to apply_archive_plan(), which moves
each file with the archive's ledger (archive.archive_path, archive.move_with_record). check_plan()
makes every check a move makes before the first one, so a refusal moves nothing.
Standard library only: this runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import os
import stat

from ansible_collections.ai4artsed.devserver.plugins.module_utils.archive import (
    ArchiveError,
    archive_path,
    check_archivable,
    move_with_record,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import (
    is_inside,
    same_content,
    same_filesystem,
    symlinked_component,
    tree_size,
)


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


def _is_listed(relative, keep, prefixes):
    """Whether a path relative to the store is managed: listed itself, or below a multi-file model's folder."""
    return relative in keep or relative.startswith(prefixes)


def _prefixes(listed_prefixes):
    return tuple(os.path.normpath(item) + "/" for item in listed_prefixes)


def plan_unlisted(root, listed, archive_root=None, listed_prefixes=()):
    """Plan archiving every regular file below root that `listed` (paths relative to root) leaves out.

    A file below a folder in `listed_prefixes` (a multi-file model's folder) counts as listed. Names
    starting with a dot (sidecar records, the tools' own state) are never touched, and neither are
    symlinks or the archive itself when it sits below root.
    """
    root = os.path.abspath(root)
    keep = set(os.path.normpath(item) for item in listed)
    prefixes = _prefixes(listed_prefixes)
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
            if not _is_listed(relative, keep, prefixes):
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
                                            entry["reason"], root, sha256=entry.get("sha256"), now=now))
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
    prefixes = _prefixes(listed_prefixes)

    def unlisted_reason(relative, folder):
        if _is_listed(relative, keep, prefixes) or os.path.basename(relative).startswith("."):
            return None
        return "no longer listed in the model manifest (was in deprecated %s/)" % folder

    plan, taken, sources = [], set(), []
    for merge in merges:
        source_path = _inside_root(root, merge["src"], "deprecated folder")
        sources.append(source_path)
        unwanted = None
        if archive_unlisted:
            unwanted = functools.partial(unlisted_reason, folder=merge["src"])
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
