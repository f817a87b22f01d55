# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small file utilities the model store's modules share: one of each, so they cannot drift apart.

The sha256 of a file, whether a path lies inside a root, sizes, same-filesystem and same-content
checks, and the atomic JSON write (safe_file.write_text underneath) that every record and state file goes
through. Standard library only: this runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import stat

from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import existing_ancestor
from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import kind_of, write_text

CHUNK = 1024 * 1024


def sha256_file(path):
    """The sha256 of a file's bytes (hex), read in blocks: model files are tens of GB."""
    digest = hashlib.sha256()
    with os.fdopen(open_to_hash(path), "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def open_to_hash(path):
    """Open path to read, never hanging on a FIFO (O_NONBLOCK) and never reading a device: OSError for anything but a
    regular file, which every caller already handles as a file it cannot use."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise OSError(errno.EINVAL, "not a regular file (%s), so not a model file" % kind_of(mode), path)
    return descriptor


def is_inside(path, root):
    """Whether path is root itself or below it, compared lexically after normalising both.

    Works for absolute paths and for clean relative ones alike ('vae/x' is inside 'vae').
    """
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


def same_filesystem(path, directory):
    """Whether os.rename(path, <inside directory>) stays on one filesystem (directory may not exist yet)."""
    return os.lstat(path).st_dev == os.stat(existing_ancestor(directory, os.path.lexists)).st_dev


def same_content(first, second, hashes=None):
    """Whether two regular files hold the same bytes (size, then sha256); returns (equal, sha256 of first).

    hashes: a dict path -> sha256 shared between calls, so no file is read twice in one plan.
    """
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


def make_folder(path):
    """makedirs that accepts a folder a parallel worker (hf_model downloads several files) made first."""
    if not os.path.isdir(path):
        try:
            os.makedirs(path)
        except OSError:
            if not os.path.isdir(path):
                raise


def fsync_directory(path):
    """Make a rename or a new name in the folder path survive a crash."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_json_atomically(path, payload, indent=None, sync=True):
    """Write payload as JSON to path so that readers see the old file or the new one, never half of one.

    The folder is created when missing; the rest is safe_file.write_text (keys sorted, a final newline), which
    never writes through a symlink. sync=False skips both fsyncs, for a file that is only a courtesy (the progress
    file, rewritten every second while gigabytes are written next to it).
    """
    text = json.dumps(payload, indent=indent, sort_keys=True) + "\n"  # fails before any file is touched
    make_folder(os.path.dirname(path) or os.curdir)
    write_text(path, text, sync=sync)
