# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What olah's cache holds: its size, and per repository the files fully and partly cached.

olah 0.5.4 (the model_mirror role's pinned version) keeps, below its repos-path:

- ``files/{models|datasets|spaces}/[{org}/]{repo}/resolve/{commit}/{path}/``: one cache entry per
  repository file. ``cdn/{sha256}/`` beside ``resolve/`` holds objects fetched by their CDN address.
- ``lfs/files/...``: entries addressed by content only (LFS and Xet objects), no repository known.
- ``api/``, ``access/``, ``lfs/object_index/``, ``lfs/xet_index/``: metadata (JSON answers of the hub,
  who asked for which repository, index files).

A cache entry is a folder with ``meta.bin`` (a header: magic ``OLAH``, version 10, block size, the
file's size, a CRC32), ``chunks.crc`` and ``blocks/block_00000000.bin`` ...: olah fetches and stores
whole blocks (64 MiB unless ``cache-block-size`` says otherwise), and a block is cached when its file
exists and is not empty (olah's own test). So the entry's cached bytes are the real lengths of its
present blocks; the file is fully cached when every block is there.

olah 0.5.4 counts no cache hits or misses: no HTTP endpoint reports them, the tables of its
~/.olah/database.db (DownloadLogs, FileLevelLRU) are defined but never written, and its log lists
requests without saying which were answered from the cache.

Reads only: no lock is taken and nothing is written, so olah may be writing while we scan; a
block or a whole entry that vanishes mid-scan (olah's eviction) is simply not counted.
Standard library only, so unit tests call these functions directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import struct
import zlib

from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import UnsafeFile, read_bytes

HITS_AND_MISSES = ("olah 0.5.4 does not count cache hits or misses: no endpoint reports them, the DownloadLogs "
                   "and FileLevelLRU tables of its database are never written, and its log does not say which "
                   "requests the cache answered")

HEADER_MAGIC = b"OLAH"
HEADER_VERSION = 10
# magic, version, flags, header_size, block_size, file_size, compression, chunk_size, etag_len, reserved
HEADER_PREFIX = "<4sHHIQQBIH8s"
HEADER_PREFIX_SIZE = struct.calcsize(HEADER_PREFIX)
HEADER_LIMIT = 1024 * 1024  # olah's header is a few hundred bytes; anything larger is not one
OLAH_FOLDERS = ("files", "lfs", "api", "access")
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
ENTRY_KINDS = ("resolve", "cdn")


class NotOlahCache(ValueError):
    """cache_dir is missing, not a folder, or holds something other than olah's cache."""


class CacheUnreadable(ValueError):
    """A part of the cache cannot be read (permissions): a report that left it out would understate it."""


def _unreadable(error):
    return CacheUnreadable("%s cannot be read (%s): run the report as olah's account or as root (become: true)"
                           % (error.filename, error.strerror))


def _walk_error(error):
    """os.walk's onerror: a folder olah removed meanwhile is skipped, any other error stops the report."""
    if not isinstance(error, FileNotFoundError):
        raise _unreadable(error)


def check_cache_dir(cache_dir):
    """Raise NotOlahCache unless cache_dir is a folder that is empty or holds olah's folders."""
    hint = "set model_mirror_cache_dir to the folder olah's repos-path names"
    if not os.path.exists(cache_dir):
        raise NotOlahCache("%s does not exist, so it is not olah's cache (repos-path) on this host: %s"
                           % (cache_dir, hint))
    if not os.path.isdir(cache_dir):
        raise NotOlahCache("%s is not a folder, so it is not olah's cache (repos-path): %s" % (cache_dir, hint))
    try:
        names = os.listdir(cache_dir)
    except OSError as error:
        raise _unreadable(error)
    if names and not any(name in OLAH_FOLDERS for name in names):
        raise NotOlahCache("%s holds none of olah's folders (%s), so it is not olah's cache (repos-path): %s"
                           % (cache_dir, ", ".join(OLAH_FOLDERS), hint))


def parse_header(data):
    """(file_size, block_size) from the bytes of an entry's meta.bin; ValueError says why it is unusable."""
    if len(data) < HEADER_PREFIX_SIZE + 8:
        raise ValueError("meta.bin is truncated")
    fields = struct.unpack(HEADER_PREFIX, data[:HEADER_PREFIX_SIZE])
    magic, version, header_size, block_size, file_size = fields[0], fields[1], fields[3], fields[4], fields[5]
    if magic != HEADER_MAGIC:
        raise ValueError("meta.bin is not an olah cache header")
    if version != HEADER_VERSION:
        raise ValueError("meta.bin has cache version %d, not %d (olah 0.5.4 rebuilds such an entry when it is asked "
                         "for)" % (version, HEADER_VERSION))
    if header_size > len(data) or header_size < HEADER_PREFIX_SIZE + 8:
        raise ValueError("meta.bin is truncated")
    stored_crc = struct.unpack("<I", data[header_size - 4:header_size])[0]
    if zlib.crc32(data[:header_size - 4]) & 0xFFFFFFFF != stored_crc:
        raise ValueError("meta.bin fails its CRC check (olah rebuilds such an entry when it is asked for)")
    if block_size <= 0:
        raise ValueError("meta.bin gives no block size")
    return file_size, block_size


def block_index(name):
    """The index in a block file's name (block_00000003.bin is 3), or None for any other name."""
    if name.startswith("block_") and name.endswith(".bin") and name[6:-4].isdigit():
        return int(name[6:-4])
    return None


def _regular_size(path):
    """A regular file's size, or None when it is not one or vanished (olah may be writing or evicting)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _tree_bytes(folder):
    """Bytes of the regular files below folder (symlinks not followed, vanished files not counted)."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(folder, onerror=_walk_error):
        for name in filenames:
            total += _regular_size(os.path.join(dirpath, name)) or 0
    return total


def present_blocks(blocks_dir, block_count):
    """Indices of the blocks olah counts as cached: block_N.bin exists, is not empty and N < block_count."""
    present = set()
    try:
        names = os.listdir(blocks_dir)
    except FileNotFoundError:  # no block fetched yet, or the entry was evicted meanwhile
        return present
    except OSError as error:
        raise _unreadable(error)
    for name in names:
        index = block_index(name)
        if index is not None and index < block_count and _regular_size(os.path.join(blocks_dir, name)):
            present.add(index)
    return present


def scan_entry(entry_dir):
    """One cache entry: size, cached bytes and fraction, complete, bytes on disk; None when it vanished.

    An entry whose header cannot be used gets 'unreadable' (why) instead of the size figures.
    """
    try:
        header = read_bytes(os.path.join(entry_dir, "meta.bin"), "olah's cache header", limit=HEADER_LIMIT)
    except UnsafeFile as error:  # a FIFO or symlink planted in the cache, unreadable, or its folder gone
        if not os.path.isdir(entry_dir):
            return None  # evicted by olah meanwhile
        raise CacheUnreadable("%s (the report was not written; where permissions are the cause, run it as olah's "
                              "account or as root: become: true)" % error)
    if header is None:  # evicted by olah meanwhile
        return None
    try:
        size, block_size = parse_header(header)
    except ValueError as error:
        return {"unreadable": str(error), "disk_bytes": _tree_bytes(entry_dir)}
    block_count = (size + block_size - 1) // block_size
    blocks = present_blocks(os.path.join(entry_dir, "blocks"), block_count)
    cached = sum(min(block_size, size - index * block_size) for index in blocks)
    return {"size": size, "cached_bytes": cached, "cached_fraction": round(float(cached) / size, 4) if size else 1.0,
            "complete": cached == size, "blocks": block_count, "blocks_cached": len(blocks),
            "disk_bytes": _tree_bytes(entry_dir)}


def locate(parts):
    """Where an entry's path (its parts below the cache) belongs: (repo_type, repo_id, commit, path) or None.

    files/models/org/name/resolve/COMMIT/a/b.bin is ('model', 'org/name', COMMIT, 'a/b.bin');
    a repository without an org (files/models/gpt2/...) has one part less; cdn/SHA256 has no commit.
    Entries below lfs/ are addressed by content only: None.
    """
    if len(parts) < 5 or parts[0] != "files" or parts[1] not in REPO_TYPES:
        return None
    repo_type = REPO_TYPES[parts[1]]
    for repo_parts in (2, 1):  # with an org first: its repository might be named 'resolve'
        kind_at = 2 + repo_parts
        if len(parts) > kind_at + 1 and parts[kind_at] in ENTRY_KINDS:
            repo_id = "/".join(parts[2:kind_at])
            rest = parts[kind_at + 1:]
            if parts[kind_at] == "cdn":
                return repo_type, repo_id, None, "/".join(rest)
            if len(rest) >= 2:
                return repo_type, repo_id, rest[0], "/".join(rest[1:])
    return None


def _file_record(commit, path, entry):
    record = {"commit": commit, "path": path}
    record.update((key, entry[key]) for key in ("size", "cached_bytes", "cached_fraction", "complete", "disk_bytes"))
    return record


def _repository(repositories, repo_type, repo_id):
    key = (repo_type, repo_id)
    if key not in repositories:
        repositories[key] = {"type": repo_type, "repo_id": repo_id, "files_complete": 0, "files_partial": 0,
                             "disk_bytes": 0, "files": []}
    return repositories[key]


def scan_cache(cache_dir):
    """The report of olah's cache at cache_dir; NotOlahCache or CacheUnreadable (both ValueError) say what stops it.

    total_bytes is what olah's cache-size-limit is compared with: every regular file's size below
    cache_dir. entry_bytes is the part inside cache entries (file contents and their headers),
    metadata_bytes the rest.
    """
    check_cache_dir(cache_dir)
    repositories, other_entries, unreadable = {}, [], []
    entry_bytes = metadata_bytes = 0
    for dirpath, dirnames, filenames in os.walk(cache_dir, onerror=_walk_error):
        if "meta.bin" not in filenames:
            metadata_bytes += sum(_regular_size(os.path.join(dirpath, name)) or 0 for name in filenames)
            continue
        dirnames[:] = []  # an entry's blocks/ belong to it
        entry = scan_entry(dirpath)
        if entry is None:
            continue
        entry_bytes += entry["disk_bytes"]
        relative = os.path.relpath(dirpath, cache_dir)
        if "unreadable" in entry:
            unreadable.append({"path": relative, "reason": entry["unreadable"], "disk_bytes": entry["disk_bytes"]})
            continue
        place = locate(relative.split(os.sep))
        if place is None:
            other_entries.append(_file_record(None, relative, entry))
            continue
        repository = _repository(repositories, place[0], place[1])
        repository["files"].append(_file_record(place[2], place[3], entry))
        repository["files_complete" if entry["complete"] else "files_partial"] += 1
        repository["disk_bytes"] += entry["disk_bytes"]
    ordered = [repositories[key] for key in sorted(repositories)]
    for repository in ordered:
        repository["files"].sort(key=lambda record: (record["commit"] or "", record["path"]))
    return {
        "cache_dir": cache_dir,
        "total_bytes": entry_bytes + metadata_bytes,
        "entry_bytes": entry_bytes,
        "metadata_bytes": metadata_bytes,
        "files_complete": sum(repository["files_complete"] for repository in ordered),
        "files_partial": sum(repository["files_partial"] for repository in ordered),
        "repositories": ordered,
        "other_entries": sorted(other_entries, key=lambda record: record["path"]),
        "unreadable": sorted(unreadable, key=lambda record: record["path"]),
    }


def percent(record):
    """'100 %' only for a complete file; a partial one is rounded down, so 99.99 % never shows as 100."""
    if record["complete"]:
        return "100 %"
    return "%.1f %%" % (int(record["cached_fraction"] * 1000) / 10.0)


def cell(text):
    """Text for a Markdown table cell: a '|' in a file name must not end the cell."""
    return text.replace("|", "\\|")


def _file_row(name, record):
    commit = (record["commit"] or "")[:12]
    return "| %s | %s | %s | %s | %s | %s |" % (name, commit, cell(record["path"]), human_bytes(record["size"]),
                                                percent(record), human_bytes(record["disk_bytes"]))


def markdown(report, title="olah mirror cache report"):
    """The report as Markdown; no timestamp, so an unchanged cache gives the same text."""
    lines = [
        "# %s" % title, "",
        "Cache `%s`: %s on disk, %s of it in cached files, %s metadata." % (
            report["cache_dir"], human_bytes(report["total_bytes"]), human_bytes(report["entry_bytes"]),
            human_bytes(report["metadata_bytes"])),
        "Files: %d fully cached, %d partly cached." % (report["files_complete"], report["files_partial"]),
        "Hits and misses: %s." % HITS_AND_MISSES, "",
        "## Repositories", "",
        "| repository | type | fully cached | partly cached | on disk |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for repository in report["repositories"]:
        lines.append("| %s | %s | %d | %d | %s |" % (repository["repo_id"], repository["type"],
                                                     repository["files_complete"], repository["files_partial"],
                                                     human_bytes(repository["disk_bytes"])))
    lines += ["", "## Files", "", "| repository | commit | file | size | cached | on disk |",
              "| --- | --- | --- | ---: | ---: | ---: |"]
    for repository in report["repositories"]:
        lines += [_file_row(repository["repo_id"], record) for record in repository["files"]]
    if report["other_entries"]:
        lines += ["", "## Objects without a repository (addressed by content)", "",
                  "| repository | commit | file | size | cached | on disk |", "| --- | --- | --- | ---: | ---: | ---: |"]
        lines += [_file_row("", record) for record in report["other_entries"]]
    if report["unreadable"]:
        lines += ["", "## Unreadable entries", "", "| entry | why | on disk |", "| --- | --- | ---: |"]
        lines += ["| %s | %s | %s |" % (cell(record["path"]), record["reason"], human_bytes(record["disk_bytes"]))
                  for record in report["unreadable"]]
    return "\n".join(lines) + "\n"
