# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hf_model's planner: what a run does with each file of a batch, then the run itself.

``normalize_requests`` turns the module's options into one request per entry, ``Expansion`` (hf_expansion)
turns an ``allow_patterns`` entry into one request per matching file, and ``plan_file`` decides, for one
file, what a run would do. Check mode stops there and reports it; a real run hands each plan to
``apply_plan`` (hf_apply). Both use the same plan, so what ``--check`` prints is what a run does.
``vouched_for`` is the same decision for callers that skip the module call altogether.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import open_to_hash, sha256_file
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_apply import (
    WRITING_ACTIONS,
    apply_plan,
    make_dirs,
    stat_key,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_download import (
    CHUNK_SIZE,
    partial_identity,
    resumable_bytes,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_errors import UNREACHABLE, HfModelError
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_expansion import (
    Expansion,
    expansion_path,
    is_full_commit,
    recorded_listing,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_paths import PathRefused, resolve_inside
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_preflight import (
    check_archive_filesystem,
    check_owner_group,
    check_state_dir_writable,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_progress import ProgressBoard
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import (
    is_trusted,
    read_record,
    record_path,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_result import summarize

REQUEST_KEYS = ("repo_id", "filename", "allow_patterns", "revision", "repo_type", "dest", "sha256", "size", "state")


class Settings:
    """What applies to every file of one module call; ``hub`` is the HubClient every request goes through."""

    def __init__(self, root, state_dir, archive_root, hub, retries, verify,
                 free_space_margin, max_workers, progress_file, check_mode, set_file_attributes=None,
                 set_dir_owner=None, backoff=1.0, lock_timeout=60, owner=None, group=None):
        self.root = root
        self.state_dir = state_dir
        self.archive_root = archive_root
        self.hub = hub
        self.retries = retries
        self.verify = verify
        self.free_space_margin = free_space_margin
        self.max_workers = max(1, max_workers)
        self.progress_file = progress_file
        self.check_mode = check_mode
        self.set_file_attributes = set_file_attributes or (lambda path: False)
        self.set_dir_owner = set_dir_owner or (lambda path: None)
        self.backoff = backoff
        self.lock_timeout = lock_timeout
        self.owner = owner
        self.group = group


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
        self.warning = None  # the hub could not be asked about a file its record vouches for
        self.dest_stat = None  # (size, mtime, inode) at planning time; a change means another writer

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
    with os.fdopen(open_to_hash(path), "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


TEXT_KEYS = ("repo_id", "filename", "revision", "repo_type", "dest", "sha256", "state")
# The hub's own rule (huggingface_hub's validate_repo_id): one optional owner, letters, digits, '-', '_', '.'.
REPO_ID = re.compile(r"^(?:[A-Za-z0-9_.-]{1,96}/)?[A-Za-z0-9_.-]{1,96}$")


def check_entry_types(request):
    """HfModelError('invalid') for a value of the wrong type or a repository id the hub would refuse, before any
    request: a number where text belongs (sha256: 5) was a traceback, and so was a repo_id with a space."""
    entry = request["entry"]
    for key in TEXT_KEYS:
        if request.get(key) is not None and not isinstance(request[key], str):
            raise HfModelError("invalid", "%s: %s must be text, not %s; quote it; nothing was downloaded"
                               % (entry, key, type(request[key]).__name__))
    size = request.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise HfModelError("invalid", "%s: size must be a number of bytes, not %r; nothing was downloaded"
                           % (entry, size))
    patterns = request.get("allow_patterns")
    if patterns is not None and not (isinstance(patterns, str) or
                                     (isinstance(patterns, list) and all(isinstance(p, str) for p in patterns))):
        raise HfModelError("invalid", "%s: allow_patterns must be a pattern or a list of patterns (text); nothing "
                           "was downloaded" % entry)
    repo_id = request.get("repo_id")
    if repo_id and (not REPO_ID.match(repo_id) or "--" in repo_id or ".." in repo_id):
        raise HfModelError("invalid", "%s: repo_id %r is not a Hugging Face repository id (owner/name of letters, "
                           "digits, '-', '_' and '.'); copy it from the model's page; nothing was downloaded"
                           % (entry, repo_id))


def normalize_requests(params):
    """The single-file form and the ``files`` list both become a list of complete requests."""
    defaults = dict((key, params.get(key)) for key in REQUEST_KEYS)
    items = params.get("files") or [{}]
    requests = []
    for number, item in enumerate(items):
        request = dict(defaults)
        request.update(dict((key, value) for key, value in item.items() if value is not None))
        request["revision"] = request.get("revision") or "main"
        request["repo_type"] = request.get("repo_type") or "model"
        request["state"] = request.get("state") or "present"
        request["entry"] = "files[%d]" % number if params.get("files") else "the file"
        check_entry_types(request)
        if request.get("sha256"):
            request["sha256"] = request["sha256"].lower()
        missing = [key for key in ("repo_id", "dest") if not request.get(key)]
        if not request.get("filename") and not request.get("allow_patterns"):
            missing.append("filename or allow_patterns")
        if missing:
            raise HfModelError("invalid", "A file entry lacks %s: %s" % (", ".join(missing), item or params))
        requests.append(request)
    return requests


def refuse_duplicate_dests(requests, root):
    """Two entries that write one file (x/s.bin and x/./s.bin) would interleave: refuse the batch."""
    seen = {}
    for request in requests:
        try:
            dest = resolve_inside(root, request["dest"])
        except PathRefused:
            continue  # plan_file reports it
        if dest in seen:
            first = seen[dest]
            raise HfModelError(
                "invalid",
                "%s (%s %s, dest %r) and %s (%s %s, dest %r) both write %s. Give each file its own dest; "
                "nothing was written." % (first["entry"], first["repo_id"], first["filename"], first["dest"],
                                          request["entry"], request["repo_id"], request["filename"],
                                          request["dest"], dest),
            )
        seen[dest] = request


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
    plan.dest_stat = stat_key(dest)
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

    if trusted and _pinned_and_recorded(request, record):
        # Pinned to a commit and vouched for by the record: a commit's files never change, nothing to ask.
        plan.action = "unchanged"
        plan.after = dict(plan.before)
        return plan

    try:
        # A file its record vouches for needs no answer: no retries, so an offline re-run stays fast.
        remote = settings.hub.file_metadata(request, retry=not trusted)
    except HfModelError as error:
        if trusted and error.kind in UNREACHABLE:
            return _unchecked(plan, record, str(error))
        raise
    if remote.commit is None or remote.missing_checks():
        if trusted:
            return _unchecked(plan, record, "the answer carried no commit or digest (%s)" % (
                remote.missing_checks() or "no X-Repo-Commit"))
        if not request.get("sha256"):
            raise HfModelError(
                "unverifiable",
                "Refusing to download %s/%s from %s: no sha256 is pinned and the hub's answer carried %s, so the "
                "bytes could not be verified (a captive portal or a proxy answers like this). Check the host's "
                "network and proxy, or pin sha256 for this file (the sha256 shown on its page on the hub); "
                "nothing was downloaded." % (request["repo_id"], request["filename"], settings.hub.endpoint,
                                             remote.missing_checks() or "no commit (X-Repo-Commit)"),
            )
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
        plan.resumable = max(resumable_bytes(dest, partial_identity(remote, plan.expected_sha256)), 0)
    return plan


def vouched_for(entry, root, state_dir, follow_branches=True):
    """The files of an entry when a run for it would change no bytes, else None.

    That is when each file is in place as its record describes it, at the commit (and sha256) the entry
    is pinned to, so a run asks the hub nothing; for an allow_patterns entry, the files its recorded
    listing at that revision names. With follow_branches=False, an entry that follows a branch counts too
    when its records are of the same repository files (a run would only ask whether the branch moved).
    The plan_file shortcut, for callers that skip the hf_model call altogether (the model store's no-op
    re-run); owner and mode are theirs to check.
    """
    request = normalize_requests({"files": [entry]})[0]
    if request["state"] != "present":
        return None
    requests = [request]
    if request.get("allow_patterns"):
        if follow_branches and not is_full_commit(request["revision"]):
            return None
        listing = recorded_listing(expansion_path(state_dir, root, request["dest"]), request)
        if listing is None:
            return None
        requests = [dict(request, filename=path, allow_patterns=None, sha256=None,
                         dest=os.path.join(request["dest"], path)) for path in listing["files"]]
    paths = []
    for single in requests:
        try:
            dest = resolve_inside(root, single["dest"])
            stat_result = os.stat(dest)
        except (PathRefused, OSError):
            return None
        record = read_record(record_path(state_dir, root, dest))
        if not is_trusted(record, stat_result) or not (
                _pinned_and_recorded(single, record) or not follow_branches and _recorded_origin(single, record)):
            return None
        paths.append(dest)
    return paths


def _recorded_origin(request, record):
    """The record is of this request's repository file, and of its pin where it has one."""
    if is_full_commit(request["revision"]) and record.get("commit") != request["revision"]:
        return False
    if request.get("sha256") and record.get("sha256") != request["sha256"]:
        return False
    return all(record.get(key) == request[key] for key in ("repo_id", "filename", "repo_type"))


def _pinned_and_recorded(request, record):
    """The record is of this request's file at its pinned commit (and pinned sha256, when one is given)."""
    if not is_full_commit(request["revision"]) or record.get("commit") != request["revision"]:
        return False
    if record.get("repo_id") != request["repo_id"]:
        return False
    if request.get("sha256"):
        return record.get("sha256") == request["sha256"]  # the same bytes, wherever they were listed
    return record.get("filename") == request["filename"] and record.get("repo_type") == request["repo_type"]


def _unchecked(plan, record, why):
    """Keep a file its record vouches for when the hub cannot be asked: a warning, not a failure."""
    plan.action = "unchanged"
    plan.after = dict(plan.before)
    plan.local_sha256 = record.get("sha256")
    plan.warning = "%s: could not check %s/%s for updates (%s); kept the recorded file (commit %s)." % (
        plan.dest, plan.request["repo_id"], plan.request["filename"], why, record.get("commit"))
    return plan


def preflight(plans, settings, records_listings=False):
    """What would fail after the download, checked before the first byte (real runs only)."""
    check_owner_group(settings.owner, settings.group)
    if records_listings or any(plan.action in WRITING_ACTIONS for plan in plans):
        check_state_dir_writable(settings.state_dir, lambda path: make_dirs(path, settings))


def run(params, settings):
    """Expand patterns, then plan every file (in parallel: one HEAD each, none for a recorded pinned commit)
    and apply (downloads in parallel, bounded). An entry's listing that stood in for the hub adds a warning."""
    started = time.monotonic()
    check_archive_filesystem(settings.root, settings.archive_root)
    expansion = Expansion(normalize_requests(params), settings)
    result = _plan_and_apply(expansion, settings, started)
    result["warnings"] = expansion.warnings + result["warnings"]
    return result


def _plan_and_apply(expansion, settings, started):
    requests = expansion.requests
    refuse_duplicate_dests(requests, settings.root)
    with ThreadPoolExecutor(max_workers=settings.max_workers) as pool:
        planned = list(pool.map(lambda request: _capture(plan_file, request, settings), requests))
    plans = [(request, plan, error) for request, (plan, error) in zip(requests, planned)]
    hard_errors = [error for _request, _plan, error in plans if error is not None]
    if hard_errors:
        # Nothing is written when any entry is invalid, refused or unreachable: fix the input first.
        return summarize(plans, {}, started, settings)

    if settings.check_mode:
        # Owner, group and mode of files that stay: Ansible's attribute helpers only report in check mode.
        outcomes = dict((id(plan), ({"attributes_changed": bool(settings.set_file_attributes(plan.dest)),
                                     "bytes_downloaded": 0, "seconds": 0.0}, None))
                        for _request, plan, _error in plans if plan.action in ("unchanged", "adopt", "relabel"))
        return summarize(plans, outcomes, started, settings)
    preflight([plan for _request, plan, _error in plans], settings, records_listings=bool(expansion.listings))
    expansion.record()
    downloads = [plan for _request, plan, _error in plans if plan.action in ("download", "replace")]
    progress = ProgressBoard(settings.progress_file if downloads else None,
                             sum(plan.remote.size or 0 for plan in downloads), len(downloads))
    outcomes = {}
    with ThreadPoolExecutor(max_workers=settings.max_workers) as pool:
        futures = dict((id(plan), pool.submit(_capture, apply_plan, plan, settings, progress, plan_file))
                       for _request, plan, _error in plans)
        for _request, plan, _error in plans:
            outcomes[id(plan)] = futures[id(plan)].result()
            if plan.action in ("download", "replace") and outcomes[id(plan)][1] is None:
                progress.file_finished()
    progress.close()
    return summarize(plans, outcomes, started, settings)


def _capture(function, *arguments):
    try:
        return function(*arguments), None
    except HfModelError as error:
        return None, error
