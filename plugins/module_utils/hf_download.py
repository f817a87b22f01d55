# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verified, resumable transfers of one file from a Hugging Face hub into its partial file.

The hub client (hf_hub) resolves what to fetch (commit, digest, size, CDN location) and opens the
HTTP stream. The transfer itself is ours, because none of the client's download functions does all
of: a partial file beside the destination (never /tmp) that the next run resumes with Range,
sha256 computed while streaming (the file is never read again), an atomic rename, and an existing
good file left untouched when the new bytes do not verify.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import queue
import stat
import threading
import time

from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import disk_space, human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import write_json_atomically
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_errors import HfModelError
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_paths import partial_paths
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import RECORD_VERSION, read_record
from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import UnsafeFile, not_regular, open_regular

CHUNK_SIZE = 4 * 1024 * 1024


class StreamDigest:
    """sha256 (and, for small git-stored files, the git blob id) of bytes as they stream past.

    Hashing runs on its own thread: hashlib releases the GIL, so it overlaps with the network and
    the disk instead of adding to them.
    """

    def __init__(self, git_oid_size=None):
        self.sha256 = hashlib.sha256()
        self.git = None
        if git_oid_size is not None:
            self.git = hashlib.sha1(b"blob %d\0" % git_oid_size)
        self._queue = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            block = self._queue.get()
            if block is None:
                return
            self.sha256.update(block)
            if self.git is not None:
                self.git.update(block)

    def update(self, block):
        self._queue.put(block)

    def finish(self):
        self._queue.put(None)
        self._thread.join()
        return self.sha256.hexdigest(), (self.git.hexdigest() if self.git is not None else None)


def open_partial(path, flags):
    """The partial download's descriptor, never through a symlink or into a FIFO: the store's folders belong to the
    service account, which could plant either there to make root append a download to another file."""
    try:
        return open_regular(path, "a partial download", flags, create_mode=0o666)  # as open() would: the umask
    except UnsafeFile as error:
        raise HfModelError("invalid", str(error))


def _read_prefix(path, digest, length):
    """Feed the bytes already on disk to the digest (once, when resuming)."""
    with os.fdopen(open_partial(path, os.O_RDONLY), "rb") as handle:
        remaining = length
        while remaining > 0:
            block = handle.read(min(CHUNK_SIZE, remaining))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)


def partial_identity(remote, expected_sha256):
    """What a partial file is a download of; kept beside it, so a later run resumes only the same bytes."""
    return {"url_path": remote.path, "commit": remote.commit, "size": remote.size,
            "sha256": expected_sha256, "git_oid": remote.git_oid}


def resumable_bytes(dest, identity):
    """Bytes of the partial download beside ``dest`` that an earlier run left of the same file and commit
    (``identity``, as partial_identity gives it): 0 when there is none, -1 when it is of another file or
    revision (our own stale leftover, to be started over)."""
    partial, partial_meta = partial_paths(dest)
    meta = read_record(partial_meta) if os.path.exists(partial_meta) else None
    try:
        info = os.lstat(partial)
    except FileNotFoundError:
        return 0
    if not stat.S_ISREG(info.st_mode):
        raise HfModelError("invalid", str(not_regular(partial, info.st_mode, "a partial download")))
    size = info.st_size
    if meta is None or meta.get("identity") != identity or size > (identity["size"] or 0):
        return -1
    return size


def check_free_space(dest, size, already, margin):
    """Fail before the first byte when the rest of a ``size``-byte file (``already`` bytes are on disk) plus
    ``margin`` does not fit on the filesystem of ``dest``."""
    needed = max((size or 0) - already, 0) + margin
    space = disk_space(os.path.dirname(dest))
    if space.free_bytes < needed:
        raise HfModelError(
            "disk_full",
            "Not enough free space for %s: %s still to download plus %s margin, but only %s free on %s. "
            "Free space there or move the store to a larger disk, then run again (%s already downloaded "
            "are kept)." % (dest, human_bytes(needed - margin), human_bytes(margin),
                            human_bytes(space.free_bytes), space.mount, human_bytes(already)),
        )


class Transfer:
    """Moves the bytes of one RemoteFile into its partial file through ``hub`` (a HubClient), resuming and
    retrying."""

    def __init__(self, remote, dest, hub, retries, progress=None, backoff=1.0):
        self.remote = remote
        self.dest = dest
        self.partial, self.partial_meta = partial_paths(dest)
        self.hub = hub
        self.retries = retries
        self.progress = progress
        self.backoff = backoff
        self.resumed_from = 0
        self.range_ignored = False
        self.bytes_downloaded = 0
        self.digest = None
        self.offset = 0

    def _new_digest(self, expected_sha256):
        # Small git-stored files have no sha256 on the hub: verify their git blob id as well.
        return StreamDigest(self.remote.size if self.remote.git_oid and not expected_sha256 else None)

    def run(self, expected_sha256):
        """Download into the partial file; return (sha256, git_oid) of the complete bytes.

        The caller checks free space first (check_free_space), before it creates any directory.
        """
        identity = partial_identity(self.remote, expected_sha256)
        already = resumable_bytes(self.dest, identity)
        if already < 0:
            os.unlink(self.partial)  # our own leftover of another revision, never a user's file
            already = 0
        write_json_atomically(self.partial_meta, {"version": RECORD_VERSION, "identity": identity})
        self.digest = self._new_digest(expected_sha256)
        if already:
            _read_prefix(self.partial, self.digest, already)
            if self.progress is not None:
                self.progress.add(already)
        self.resumed_from = already
        self.offset = already
        attempt = 0
        with os.fdopen(open_partial(self.partial, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab") as handle:
            while True:
                try:
                    self._stream(handle, expected_sha256)
                    break
                except OSError as error:
                    self.digest.finish()
                    if error.errno != errno.ENOSPC:
                        raise
                    raise HfModelError(
                        "disk_full",
                        "The disk filled up while downloading %s (%s). %s are kept in %s; free space and run "
                        "again to resume." % (self.remote.path, error, human_bytes(handle.tell()), self.partial),
                        bytes_kept=handle.tell(),
                    )
                except HfModelError as error:
                    if error.kind != "network":
                        self.digest.finish()
                        raise
                    attempt += 1
                    if attempt > self.retries:
                        handle.flush()
                        os.fsync(handle.fileno())
                        self.digest.finish()
                        raise HfModelError(
                            "network",
                            "Download of %s still failing after %d retries (%s). %s of %s are kept in %s and the "
                            "next run resumes from there." % (
                                self.remote.path, self.retries, error, human_bytes(self.offset),
                                human_bytes(self.remote.size or 0), self.partial),
                            bytes_kept=self.offset,
                        )
                    time.sleep(min(self.backoff * (2 ** (attempt - 1)), 30))
            handle.flush()
            os.fsync(handle.fileno())
        return self.digest.finish()

    def _keep(self, handle, block):
        handle.write(block)
        self.digest.update(block)
        self.offset += len(block)
        self.bytes_downloaded += len(block)
        if self.progress is not None:
            self.progress.add(len(block))

    def _stream(self, handle, expected_sha256):
        """One GET from self.offset on; self.offset always counts the bytes safely in the partial file."""
        size = self.remote.size
        if size is not None and self.offset >= size:
            return
        with self.hub.stream(self.remote.url, self.offset, self.remote.path) as response:
            if self.offset and response.status_code == 200:
                # The server ignored Range: start over rather than append the whole file again.
                self.range_ignored = True
                handle.seek(0)
                handle.truncate()
                self.digest.finish()
                self.digest = self._new_digest(expected_sha256)
                if self.progress is not None:
                    self.progress.add(-self.offset)
                self.resumed_from = 0
                self.offset = 0
            # Network reads are small; write and hash in blocks of about CHUNK_SIZE, and keep
            # whatever arrived before a cut (the finally clause) so that nothing is fetched twice.
            pending = bytearray()
            try:
                for block in response.iter_raw():
                    pending += block
                    if len(pending) >= CHUNK_SIZE:
                        self._keep(handle, bytes(pending))
                        pending = bytearray()
            finally:
                if pending:
                    self._keep(handle, bytes(pending))
        if size is not None and self.offset < size:
            raise HfModelError("network", "connection closed at %d of %d bytes" % (self.offset, size))
