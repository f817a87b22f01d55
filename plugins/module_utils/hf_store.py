# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hf_model's plan and apply steps for a batch of files.

``plan_file`` decides, for one requested file, what a run would do; check mode stops there and
reports it, a real run hands the plan to ``apply_plan``. Both use the same plan, so what
``--check`` prints is what a run does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.ai4artsed.devserver.plugins.module_utils.archive import ArchiveError, archive_path, sha256_file
from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_download import (
    CHUNK_SIZE,
    HfModelError,
    Transfer,
    fetch_remote,
    list_matching_files,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_paths import (
    PathRefused,
    partial_paths,
    resolve_inside,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_progress import ProgressBoard
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import (
    is_trusted,
    make_record,
    read_record,
    record_path,
    write_json_atomically,
)

REQUEST_KEYS = ("repo_id", "filename", "allow_patterns", "revision", "repo_type", "dest", "sha256", "size", "state")
FULL_COMMIT_LENGTH = 40


class Settings:
    """What applies to every file of one module call."""

    def __init__(self, root, state_dir, archive_root, endpoint, token, timeout, retries, verify,
                 free_space_margin, max_workers, progress_file, check_mode, set_file_attributes=None,
                 set_dir_owner=None, backoff=1.0):
        self.root = root
        self.state_dir = state_dir
        self.archive_root = archive_root
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.verify = verify
        self.free_space_margin = free_space_margin
        self.max_workers = max(1, max_workers)
        self.progress_file = progress_file
        self.check_mode = check_mode
        self.set_file_attributes = set_file_attributes or (lambda path: False)
        self.set_dir_owner = set_dir_owner or (lambda path: None)
        self.backoff = backoff


class FilePlan:
    def __init__(self, request, dest):
        self.request = request
        self.dest = dest
        self.action = None  # unchanged | adopt | relabel | download | replace | archive | absent
        self.remote = None
        self.expected_sha256 = None
        self.local_sha256 = None
        self.before = {"revision": None, "sha256": None, "size": None}
        self.after = {"revision": None, "sha256": None, "size": None}
        self.resumable = 0
        self.reason = ""

    @property
    def changes(self):
        return self.action in ("download", "replace", "relabel", "archive")

    @property
    def bytes_to_download(self):
        if self.action not in ("download", "replace"):
            return 0
        return max((self.remote.size or 0) - self.resumable, 0)


# Reads a whole file once; used only for files no record vouches for.
sha256_of = sha256_file


def git_oid_of(path, size):
    digest = hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def normalize_requests(params):
    """The single-file form and the ``files`` list both become a list of complete requests."""
    defaults = dict((key, params.get(key)) for key in REQUEST_KEYS)
    items = params.get("files") or [{}]
    requests = []
    for item in items:
        request = dict(defaults)
        request.update(dict((key, value) for key, value in item.items() if value is not None))
        request["revision"] = request.get("revision") or "main"
        request["repo_type"] = request.get("repo_type") or "model"
        request["state"] = request.get("state") or "present"
        if request.get("sha256"):
            request["sha256"] = request["sha256"].lower()
        missing = [key for key in ("repo_id", "dest") if not request.get(key)]
        if not request.get("filename") and not request.get("allow_patterns"):
            missing.append("filename or allow_patterns")
        if missing:
            raise HfModelError("invalid", "A file entry lacks %s: %s" % (", ".join(missing), item or params))
        requests.append(request)
    return requests


def expand_patterns(requests, settings):
    """Requests with allow_patterns become one request per matching file, below dest as a folder."""
    expanded = []
    for request in requests:
        if not request.get("allow_patterns") or request["state"] == "absent":
            expanded.append(request)
            continue
        for path in list_matching_files(request, settings.endpoint, settings.token, request["allow_patterns"]):
            single = dict(request, filename=path, allow_patterns=None, sha256=None, size=None)
            single["dest"] = os.path.join(request["dest"], path)
            expanded.append(single)
    return expanded


def _origin(request, commit):
    return {"repo_id": request["repo_id"], "repo_type": request["repo_type"], "filename": request["filename"],
            "commit": commit}


def _local_digest(path, size, want_git_oid):
    return git_oid_of(path, size) if want_git_oid else sha256_of(path)


def plan_file(request, settings):
    """Decide what to do with one file. Reads the hub's metadata; writes nothing."""
    try:
        dest = resolve_inside(settings.root, request["dest"])
    except PathRefused as error:
        raise HfModelError("refused", str(error))
    plan = FilePlan(request, dest)
    if os.path.isdir(dest):
        raise HfModelError("refused", "dest %s is a directory; give the path of the file to write." % dest)
    stat_result = os.stat(dest) if os.path.exists(dest) else None
    record_file = record_path(settings.state_dir, settings.root, dest)
    record = read_record(record_file) if stat_result else None
    trusted = stat_result is not None and is_trusted(record, stat_result) and settings.verify == "metadata"
    if stat_result is not None:
        plan.before = {"revision": record.get("commit") if trusted else None,
                       "sha256": record.get("sha256") if trusted else None, "size": stat_result.st_size}

    if request["state"] == "absent":
        plan.action = "archive" if stat_result is not None else "absent"
        plan.after = {"revision": None, "sha256": None, "size": None}
        plan.local_sha256 = plan.before["sha256"]
        if plan.action == "archive" and not settings.archive_root:
            raise HfModelError("invalid", "state=absent moves %s to the archive, but archive_root is not set." % dest)
        return plan

    pinned = len(request["revision"]) == FULL_COMMIT_LENGTH and request.get("sha256")
    if (trusted and pinned and record.get("commit") == request["revision"]
            and record.get("sha256") == request["sha256"] and record.get("repo_id") == request["repo_id"]):
        # Pinned commit and digest, vouched for by the record: nothing to ask the hub.
        plan.action = "unchanged"
        plan.after = dict(plan.before)
        return plan

    remote = fetch_remote(request, settings.endpoint, settings.token, settings.timeout)
    plan.remote = remote
    if request.get("sha256") and remote.sha256 and request["sha256"] != remote.sha256:
        raise HfModelError(
            "checksum",
            "The hub's sha256 for %s/%s at %s (commit %s) is %s, but the pinned sha256 is %s. The file changed on "
            "the hub or the pin is wrong: pin revision to the commit the sha256 belongs to, or update sha256."
            % (request["repo_id"], request["filename"], request["revision"], remote.commit, remote.sha256,
               request["sha256"]),
        )
    if request.get("size") and remote.size is not None and int(request["size"]) != remote.size:
        raise HfModelError(
            "checksum",
            "The hub says %s/%s is %d bytes, but size says %d. Update size or pin the right revision."
            % (request["repo_id"], request["filename"], remote.size, int(request["size"])),
        )
    plan.expected_sha256 = request.get("sha256") or remote.sha256
    plan.after = {"revision": remote.commit, "sha256": plan.expected_sha256, "size": remote.size}

    if stat_result is None:
        plan.action = "download"
    elif remote.size is not None and stat_result.st_size != remote.size:
        plan.action = "replace"
        plan.reason = "size %d differs from the hub's %d" % (stat_result.st_size, remote.size)
    else:
        want_git = plan.expected_sha256 is None
        if trusted and not want_git:
            local = record.get("sha256")
        elif trusted and want_git and record.get("git_oid"):
            local = record.get("git_oid")
        else:
            local = _local_digest(dest, stat_result.st_size, want_git)
        expected = plan.expected_sha256 or remote.git_oid
        if local != expected:
            plan.action = "replace"
            kind = "git oid" if want_git else "sha256"
            plan.reason = "content differs (%s %s, expected %s)" % (kind, local, expected)
        elif trusted:
            plan.local_sha256 = record.get("sha256")
            plan.action = "relabel" if record.get("commit") != remote.commit else "unchanged"
        else:
            plan.local_sha256 = local if not want_git else None
            plan.action = "adopt"
        if plan.action in ("unchanged", "relabel", "adopt"):
            plan.before["sha256"] = plan.before["sha256"] or (local if not want_git else None)
            plan.after["sha256"] = plan.after["sha256"] or plan.before["sha256"]
    if plan.action == "replace" and not settings.archive_root:
        raise HfModelError(
            "conflict",
            "%s exists with different content (%s). It is never overwritten or deleted: set archive_root so it "
            "is moved to the archive first, or move it away yourself." % (dest, plan.reason),
        )
    if plan.action in ("download", "replace"):
        plan.resumable = max(Transfer(remote, dest, settings.endpoint, None, 0, 0).resumable_bytes(
            plan.expected_sha256), 0)
    return plan


def _make_parents(dest, settings):
    missing = []
    directory = os.path.dirname(dest)
    while not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            continue  # a parallel download of the same batch made it first
        settings.set_dir_owner(directory)


def _write_record(plan, settings, sha256, git_oid, commit):
    origin = _origin(plan.request, commit)
    origin["git_oid"] = git_oid
    write_json_atomically(record_path(settings.state_dir, settings.root, plan.dest),
                          make_record(os.stat(plan.dest), sha256, origin))


def _archive(path, settings, reason, sha256):
    try:
        return archive_path(path, settings.root, settings.archive_root, reason, sha256=sha256)
    except ArchiveError as error:
        raise HfModelError("archive", "Could not move %s to the archive: %s" % (path, error))


def apply_plan(plan, settings, progress):
    """Carry out one plan; returns a result dict. Never deletes a file that is not our own partial."""
    result = {"bytes_downloaded": 0, "resumed_from": 0, "range_ignored": False, "seconds": 0.0}
    started = time.monotonic()
    request = plan.request
    if plan.action == "archive":
        reason = "hf_model state=absent (%s/%s)" % (request["repo_id"], request["filename"])
        record = _archive(plan.dest, settings, reason, plan.local_sha256)
        result["archived_to"] = record["to"]
        stale = record_path(settings.state_dir, settings.root, plan.dest)
        if os.path.exists(stale):
            os.unlink(stale)  # our bookkeeping for a file that is no longer there
        return result
    if plan.action in ("adopt", "relabel"):
        commit = plan.remote.commit
        _write_record(plan, settings, plan.local_sha256 or plan.expected_sha256,
                      None if plan.expected_sha256 else plan.remote.git_oid, commit)
    if plan.action in ("download", "replace"):
        transfer = Transfer(plan.remote, plan.dest, settings.endpoint, settings.token, settings.timeout,
                            settings.retries, progress=progress, backoff=settings.backoff,
                            free_space_margin=settings.free_space_margin)
        transfer.check_free_space(plan.resumable)  # before the first directory is created
        _make_parents(plan.dest, settings)
        sha256, git_oid = transfer.run(plan.expected_sha256)
        result.update(bytes_downloaded=transfer.bytes_downloaded, resumed_from=transfer.resumed_from,
                      range_ignored=transfer.range_ignored)
        expected = plan.expected_sha256 or plan.remote.git_oid
        actual = sha256 if plan.expected_sha256 else git_oid
        if actual != expected:
            for leftover in partial_paths(plan.dest):
                if os.path.exists(leftover):
                    os.unlink(leftover)  # our own download that failed verification
            raise HfModelError(
                "checksum",
                "Checksum mismatch for %s/%s (commit %s): expected %s %s, got %s. The download was discarded; %s "
                "is untouched. Run again; if it repeats, the mirror at %s serves wrong bytes." % (
                    request["repo_id"], request["filename"], plan.remote.commit,
                    "sha256" if plan.expected_sha256 else "git oid", expected, actual,
                    plan.dest if os.path.exists(plan.dest) else "nothing at dest", settings.endpoint),
                expected=expected, actual=actual,
            )
        partial, partial_meta = partial_paths(plan.dest)
        settings.set_file_attributes(partial)
        if plan.action == "replace":
            result["archived_to"] = _archive(
                plan.dest, settings, "hf_model: replaced by the verified %s/%s at %s" % (
                    request["repo_id"], request["filename"], plan.remote.commit), None)["to"]
        os.replace(partial, plan.dest)
        _fsync_directory(os.path.dirname(plan.dest))
        os.unlink(partial_meta)
        _write_record(plan, settings, sha256, git_oid if not plan.expected_sha256 else None, plan.remote.commit)
    result["attributes_changed"] = bool(settings.set_file_attributes(plan.dest))
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def _fsync_directory(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def describe(request, plan, outcome=None, error=None):
    """One entry of the module's ``files`` result (plan is None when planning failed)."""
    entry = {
        "dest": plan.dest if plan is not None else request.get("dest"),
        "repo_id": request.get("repo_id"),
        "filename": request.get("filename"),
        "revision": request.get("revision"),
        "action": plan.action if plan is not None else "failed",
        "changed": bool(plan is not None and plan.changes),
        "commit": plan.after.get("revision") if plan is not None else None,
        "sha256": plan.after.get("sha256") if plan is not None else None,
        "size": plan.after.get("size") if plan is not None else None,
    }
    if plan is not None and plan.action == "absent":
        entry.update(commit=None, sha256=None, size=None)
    if plan is not None and plan.action in ("download", "replace"):
        entry["would_download_bytes"] = plan.bytes_to_download
    if outcome:
        entry.update(outcome)
        entry["changed"] = entry["changed"] or bool(outcome.get("attributes_changed"))
        seconds = outcome.get("seconds") or 0
        entry["throughput"] = int(outcome["bytes_downloaded"] / seconds) if seconds and outcome.get(
            "bytes_downloaded") else 0
    if error is not None:
        entry.update(action="failed", changed=False, error=str(error), error_kind=getattr(error, "kind", "error"))
    return entry


def run(params, settings):
    """Plan every file (in parallel: one HEAD each), then apply (downloads in parallel, bounded)."""
    started = time.monotonic()
    requests = expand_patterns(normalize_requests(params), settings)
    with ThreadPoolExecutor(max_workers=settings.max_workers) as pool:
        planned = list(pool.map(lambda request: _capture(plan_file, request, settings), requests))
    plans = [(request, plan, error) for request, (plan, error) in zip(requests, planned)]
    hard_errors = [error for _request, _plan, error in plans if error is not None]
    if hard_errors:
        # Nothing is written when any entry is invalid, refused or unreachable: fix the input first.
        return _summary(plans, {}, started, settings)

    if settings.check_mode:
        # Owner, group and mode of files that stay: Ansible's attribute helpers only report in check mode.
        outcomes = dict((id(plan), ({"attributes_changed": bool(settings.set_file_attributes(plan.dest)),
                                     "bytes_downloaded": 0, "seconds": 0.0}, None))
                        for _request, plan, _error in plans if plan.action in ("unchanged", "adopt", "relabel"))
        return _summary(plans, outcomes, started, settings)
    downloads = [plan for _request, plan, _error in plans if plan.action in ("download", "replace")]
    progress = ProgressBoard(settings.progress_file if downloads else None,
                             sum(plan.remote.size or 0 for plan in downloads), len(downloads))
    outcomes = {}
    with ThreadPoolExecutor(max_workers=settings.max_workers) as pool:
        futures = dict((id(plan), pool.submit(_capture, apply_plan, plan, settings, progress))
                       for _request, plan, _error in plans)
        for _request, plan, _error in plans:
            outcomes[id(plan)] = futures[id(plan)].result()
            if plan.action in ("download", "replace") and outcomes[id(plan)][1] is None:
                progress.file_finished()
    progress.close()
    return _summary(plans, outcomes, started, settings)


def _capture(function, *arguments):
    try:
        return function(*arguments), None
    except HfModelError as error:
        return None, error


def _summary(plans, outcomes, started, settings):
    files = []
    for request, plan, error in plans:
        outcome, apply_error = outcomes.get(id(plan), (None, None))
        files.append(describe(request, plan, outcome, error or apply_error))
    seconds = round(time.monotonic() - started, 3)
    downloaded = sum(entry.get("bytes_downloaded") or 0 for entry in files)
    failed = [entry for entry in files if entry["action"] == "failed"]
    return {
        "changed": any(entry["changed"] for entry in files if entry["action"] != "failed"),
        "files": files,
        "failed_files": len(failed),
        "bytes_downloaded": downloaded,
        "would_download_bytes": sum(entry.get("would_download_bytes") or 0 for entry in files),
        "seconds": seconds,
        "throughput": int(downloaded / seconds) if seconds and downloaded else 0,
        "summary": _headline(files, downloaded, seconds, settings.check_mode),
        "diff": {
            "before": dict((entry["dest"], plan.before) for (_r, plan, _e), entry in zip(plans, files) if plan),
            "after": dict((entry["dest"], plan.after) for (_r, plan, _e), entry in zip(plans, files) if plan),
        },
    }


def _headline(files, downloaded, seconds, check_mode):
    counts = {}
    for entry in files:
        counts[entry["action"]] = counts.get(entry["action"], 0) + 1
    parts = ["%d %s" % (count, action) for action, count in sorted(counts.items())]
    if check_mode:
        parts.append("would download %s" % human_bytes(sum(e.get("would_download_bytes") or 0 for e in files)))
    elif downloaded:
        parts.append("downloaded %s in %.1f s" % (human_bytes(downloaded), seconds))
    return ", ".join(parts)
