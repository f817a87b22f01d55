# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carrying out one file's plan: download, verify, archive the old file, rename, record.

Everything that writes happens under the destination's lock (hf_lock), from the first byte to
the record. A file is renamed into place only when its size is the size that was streamed and
hashed (and the hub's size), and its digest matches a pinned sha256, the hub's LFS sha256 or
the git blob id: with none of those to compare against, nothing is installed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time
from contextlib import contextmanager

from ansible_collections.ai4artsed.devserver.plugins.module_utils.archive import ArchiveError, archive_path
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import fsync_directory, write_json_atomically
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_download import Transfer, check_free_space
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_errors import HfModelError
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_lock import DestinationLock, LockHeld
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_paths import partial_paths
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import (
    make_record,
    record_path,
)

WRITING_ACTIONS = ("download", "replace", "adopt", "relabel", "archive")


def make_dirs(directory, settings):
    """Create missing directories (owned like the files), tolerating a parallel worker's mkdir."""
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            continue  # a parallel download of the same batch made it first
        settings.set_dir_owner(directory)


def stat_key(path):
    """What identifies the file at path now (None when there is none): another writer changes it."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    return (found.st_size, found.st_mtime_ns, found.st_ino)


@contextmanager
def destination_lock(dest, settings):
    try:
        with DestinationLock(dest, settings.lock_timeout):
            yield
    except LockHeld as held:
        raise HfModelError(
            "locked",
            "Another hf_model run is writing %s: %s holds the lock %s and did not finish within lock_timeout "
            "(%d s). Wait for it to finish (an async download of an earlier run goes on after its controller "
            "disconnected) or raise lock_timeout; the lock goes away by itself when that process ends. "
            "Nothing was written." % (dest, held.holder, held.path, settings.lock_timeout),
            lock_holder=held.holder,
        )


def _write_record(plan, settings, sha256, git_oid, commit):
    origin = {"repo_id": plan.request["repo_id"], "repo_type": plan.request["repo_type"],
              "filename": plan.request["filename"], "commit": commit, "git_oid": git_oid}
    write_json_atomically(record_path(settings.state_dir, settings.root, plan.dest),
                          make_record(os.stat(plan.dest), sha256, origin))


def _archive(path, settings, reason, sha256):
    try:
        return archive_path(path, settings.root, settings.archive_root, reason, sha256=sha256)
    except ArchiveError as error:
        raise HfModelError("archive", "Could not move %s to the archive: %s" % (path, error))


def _discard_partial(dest):
    for leftover in partial_paths(dest):
        if os.path.exists(leftover):
            os.unlink(leftover)  # our own download that failed verification, never a user's file


def apply_plan(plan, settings, progress, replan):
    """Carry out one plan; returns a result dict. Never deletes a file that is not our own partial.

    replan(request, settings) plans again: used when another writer changed dest while we waited.
    """
    result = {"bytes_downloaded": 0, "resumed_from": 0, "range_ignored": False, "seconds": 0.0}
    started = time.monotonic()
    if plan.action in ("download", "replace"):
        check_free_space(plan.dest, plan.remote.size, plan.resumable, settings.free_space_margin)
        make_dirs(os.path.dirname(plan.dest), settings)  # the lock file lives beside dest
    if plan.action in WRITING_ACTIONS:
        with destination_lock(plan.dest, settings):
            if stat_key(plan.dest) != plan.dest_stat:
                # Another run finished (or changed) this file while we waited: decide again.
                plan.__dict__.update(replan(plan.request, settings).__dict__)
            _apply_locked(plan, settings, progress, result)
    if plan.action == "archive":
        return result
    result["attributes_changed"] = bool(settings.set_file_attributes(plan.dest))
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def _apply_locked(plan, settings, progress, result):
    request = plan.request
    if plan.action == "archive":
        reason = "hf_model state=absent (%s/%s)" % (request["repo_id"], request["filename"])
        result["archived_to"] = _archive(plan.dest, settings, reason, plan.local_sha256)["to"]
        stale = record_path(settings.state_dir, settings.root, plan.dest)
        if os.path.exists(stale):
            os.unlink(stale)  # our bookkeeping for a file that is no longer there
    elif plan.action in ("adopt", "relabel"):
        _write_record(plan, settings, plan.local_sha256 or plan.expected_sha256,
                      None if plan.expected_sha256 else plan.remote.git_oid, plan.remote.commit)
    elif plan.action in ("download", "replace"):
        _download_verify_install(plan, settings, progress, result)


def _download_verify_install(plan, settings, progress, result):
    request = plan.request
    transfer = Transfer(plan.remote, plan.dest, settings.hub, settings.retries, progress=progress,
                        backoff=settings.backoff)
    sha256, git_oid = transfer.run(plan.expected_sha256)
    result.update(bytes_downloaded=transfer.bytes_downloaded, resumed_from=transfer.resumed_from,
                  range_ignored=transfer.range_ignored)
    _check_size(plan, transfer)
    expected = plan.expected_sha256 or plan.remote.git_oid
    if not expected:  # plan_file refuses this case first; this is the last gate before the rename
        _discard_partial(plan.dest)
        raise HfModelError("unverifiable", "Nothing to verify %s/%s against (no sha256 pinned, %s); the download "
                           "was discarded. Pin sha256 for this file." % (
                               request["repo_id"], request["filename"], plan.remote.missing_checks()))
    actual = sha256 if plan.expected_sha256 else git_oid
    if actual != expected:
        _discard_partial(plan.dest)
        raise HfModelError(
            "checksum",
            "Checksum mismatch for %s/%s (commit %s): expected %s %s, got %s. The download was discarded; %s "
            "is untouched. Run again; if it repeats, the mirror at %s serves wrong bytes." % (
                request["repo_id"], request["filename"], plan.remote.commit,
                "sha256" if plan.expected_sha256 else "git oid", expected, actual,
                plan.dest if os.path.exists(plan.dest) else "nothing at dest", settings.hub.endpoint),
            expected=expected, actual=actual,
        )
    partial, partial_meta = partial_paths(plan.dest)
    settings.set_file_attributes(partial)
    if plan.action == "replace":
        result["archived_to"] = _archive(
            plan.dest, settings, "hf_model: replaced by the verified %s/%s at %s" % (
                request["repo_id"], request["filename"], plan.remote.commit), None)["to"]
    os.replace(partial, plan.dest)
    fsync_directory(os.path.dirname(plan.dest))
    os.unlink(partial_meta)
    _write_record(plan, settings, sha256, git_oid if not plan.expected_sha256 else None, plan.remote.commit)


def _check_size(plan, transfer):
    """The file on disk must be exactly the bytes that were hashed, and as long as the hub says."""
    on_disk = os.path.getsize(transfer.partial)
    if on_disk == transfer.offset and (plan.remote.size is None or on_disk == plan.remote.size):
        return
    _discard_partial(plan.dest)
    raise HfModelError(
        "size",
        "The download of %s/%s is %d bytes on disk, but %d bytes were received and hashed and the hub says %s. "
        "Something else wrote to %s; the download was discarded and %s is untouched. Run again." % (
            plan.request["repo_id"], plan.request["filename"], on_disk, transfer.offset,
            plan.remote.size, transfer.partial, plan.dest),
        expected=plan.remote.size, actual=on_disk,
    )
