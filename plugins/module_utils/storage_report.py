# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage report: per folder of the model store and of ComfyUI's models/ folder, size, files,
linked files, duplicates by sha256, broken links and unmanaged files, plus the archive and totals.

Reads only. Our own records (names starting with a dot: hf_model's .hf_model/, model_links'
.ai4artsed-model-links.json) are left out. Only files that share their size with another file are
hashed, and a file whose hf_model record still matches (size, mtime, inode) is not read at all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import is_inside, sha256_file
from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import (
    default_state_dir,
    is_trusted,
    read_record,
    record_path,
)

COLUMNS = ("folder", "size", "files", "linked", "links", "duplicates", "broken links", "unmanaged")


def _walk(root):
    """(relative path, lstat) of every file and symlink under root, dot-names left out, sorted."""
    found = []
    for directory, subdirs, files in os.walk(root):
        keep = []
        for name in sorted(subdirs):
            if name.startswith("."):
                continue
            if os.path.islink(os.path.join(directory, name)):
                files.append(name)  # a directory-level symlink is reported as a link
            else:
                keep.append(name)
        subdirs[:] = keep
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(directory, name)
            try:
                found.append((os.path.relpath(path, root), os.lstat(path)))
            except OSError:
                continue
    return sorted(found, key=lambda item: item[0])


def _folder(relative):
    return relative.split("/", 1)[0] if "/" in relative else "(top)"


def _digest(root, relative, stat_result):
    record = read_record(record_path(default_state_dir(root), root, os.path.join(root, relative)))
    if is_trusted(record, stat_result) and record.get("sha256"):
        return record["sha256"]
    return sha256_file(os.path.join(root, relative))


def collect(roots, archive_root=None, listed=None, listed_prefixes=None):
    """roots: [(label, path)], e.g. [("Models", store), ("ComfyUI models", link_root)].
    listed: {label: [relative files the manifest manages]}; None reports no unmanaged files.
    listed_prefixes: {label: [folders whose files the manifest manages]} (multi-file models)."""
    listed = dict((label, set(paths)) for label, paths in (listed or {}).items())
    prefixes = dict((label, tuple(path.rstrip("/") + "/" for path in paths))
                    for label, paths in (listed_prefixes or {}).items())

    def unmanaged(label, relative):
        return label in listed and relative not in listed[label] and not relative.startswith(prefixes.get(label, ()))

    files, links = [], []  # (label, root, relative, stat)
    for label, root in roots:
        if not os.path.isdir(root):
            continue
        for relative, stat_result in _walk(root):
            if os.path.islink(os.path.join(root, relative)):
                links.append((label, root, relative))
            elif os.path.isfile(os.path.join(root, relative)):
                files.append((label, root, relative, stat_result))
    real_roots = [(label, root, os.path.realpath(root)) for label, root in roots]
    linked, broken = set(), []
    for label, root, relative in links:
        path = os.path.join(root, relative)
        target = os.path.realpath(path)
        if not os.path.exists(path):
            broken.append({"root": label, "path": relative, "target": os.readlink(path)})
            continue
        for other_label, _root, real in real_roots:
            if is_inside(target, real):
                linked.add((other_label, os.path.relpath(target, real)))
    by_size = {}
    for item in files:
        by_size.setdefault(item[3].st_size, []).append(item)
    by_digest = {}
    for same_size in by_size.values():
        if len(same_size) < 2 or same_size[0][3].st_size == 0:
            continue
        for label, root, relative, stat_result in same_size:
            by_digest.setdefault((_digest(root, relative, stat_result), stat_result.st_size), []).append(
                (label, relative))
    duplicates = [{"sha256": digest, "size": size, "paths": ["%s/%s" % pair for pair in sorted(paths)]}
                  for (digest, size), paths in sorted(by_digest.items()) if len(paths) > 1]
    duplicated = set((label, relative) for digest, paths in by_digest.items() if len(paths) > 1
                     for label, relative in paths)
    rows = {}
    for label, root, relative, stat_result in files:
        row = rows.setdefault((label, _folder(relative)), _empty_row())
        row["size"] += stat_result.st_size
        row["files"] += 1
        row["linked"] += (label, relative) in linked
        row["duplicates"] += (label, relative) in duplicated
        if unmanaged(label, relative):
            row["unmanaged"] += 1
    for label, root, relative in links:
        row = rows.setdefault((label, _folder(relative)), _empty_row())
        row["links"] += 1
    for item in broken:
        rows[(item["root"], _folder(item["path"]))]["broken links"] += 1
    unmanaged_files = ["%s/%s" % (label, relative) for label, _root, relative, _stat in files
                       if unmanaged(label, relative)]
    order = dict((label, index) for index, (label, _root) in enumerate(roots))
    keys = sorted(rows, key=lambda key: (order[key[0]], key[1]))
    table = [dict(rows[key], folder="%s/%s" % key) for key in keys]
    archive = {"size": 0, "files": 0}
    if archive_root and os.path.isdir(archive_root):
        for relative, stat_result in _walk(archive_root):
            if relative != "ledger.jsonl" and not os.path.islink(os.path.join(archive_root, relative)):
                archive["size"] += stat_result.st_size
                archive["files"] += 1
    totals = _empty_row()
    for row in table:
        for key in totals:
            totals[key] += row[key]
    return {"rows": table, "totals": totals, "archive": archive, "duplicates": duplicates,
            "broken_links": broken, "unmanaged": unmanaged_files}


def _empty_row():
    return {"size": 0, "files": 0, "linked": 0, "links": 0, "duplicates": 0, "broken links": 0, "unmanaged": 0}


def _cells(row, name):
    return [name, human_bytes(row["size"])] + [str(row[key]) for key in COLUMNS[2:]]


def markdown(report, title="Model storage report"):
    """The report as Markdown: the table operators keep by hand, then the details. No timestamp, so an
    unchanged store gives the same text."""
    lines = ["# %s" % title, "",
             "| %s |" % " | ".join(COLUMNS),
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["rows"]:
        lines.append("| %s |" % " | ".join(_cells(row, row["folder"])))
    lines.append("| %s |" % " | ".join(_cells(report["totals"], "**total**")))
    lines.append("")
    lines.append("Archive: %s in %d files. Real files: %s; with an identical copy elsewhere: %d." % (
        human_bytes(report["archive"]["size"]), report["archive"]["files"],
        human_bytes(report["totals"]["size"]), report["totals"]["duplicates"]))
    lines.append("")
    lines.append("`linked`: files a ComfyUI link points to; `links`: symlinks in that folder; `unmanaged`: files the"
                 " manifest does not list.")
    for heading, items, render in (
            ("Duplicates (same sha256)", report["duplicates"],
             lambda d: "%s (%s): %s" % (d["sha256"][:12], human_bytes(d["size"]), ", ".join(d["paths"]))),
            ("Broken links", report["broken_links"], lambda b: "%s/%s -> %s" % (b["root"], b["path"], b["target"])),
            ("Unmanaged files", report["unmanaged"], lambda u: u)):
        lines.append("")
        lines.append("## %s" % heading)
        lines.append("")
        lines.extend(["- %s" % render(item) for item in items] or ["none"])
    return "\n".join(lines) + "\n"


STORE_LABEL = "Models"
COMFYUI_LABEL = "ComfyUI models"


def store_report(store_root, comfyui_root=None, archive_root=None, listed=None, listed_prefixes=None):
    """The report of the store (and ComfyUI's models/ folder); listed and listed_prefixes as model_manifest
    returns them, or None."""
    roots = [(STORE_LABEL, store_root)]
    if comfyui_root:
        roots.append((COMFYUI_LABEL, comfyui_root))
    if listed is not None:
        listed = {STORE_LABEL: listed.get("store") or [], COMFYUI_LABEL: listed.get("comfyui") or []}
    if listed_prefixes is not None:
        listed_prefixes = {STORE_LABEL: listed_prefixes.get("store") or [],
                           COMFYUI_LABEL: listed_prefixes.get("comfyui") or []}
    return collect(roots, archive_root, listed, listed_prefixes)
