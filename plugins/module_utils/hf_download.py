# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verified, resumable downloads from a Hugging Face hub with the real huggingface_hub client.

huggingface_hub resolves what to fetch (commit, digest, size, CDN location; typed errors for
gated repositories and missing repos, revisions and files) and provides the HTTP session.
The transfer itself is ours, because none of the client's download functions does all of:
a partial file beside the destination (never /tmp) that the next run resumes with Range,
sha256 computed while streaming (the file is never read again), an atomic rename, and an
existing good file left untouched when the new bytes do not verify.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import queue
import re
import sys
import threading
import time
from types import SimpleNamespace

from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import disk_space, human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import write_json_atomically
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_paths import partial_paths
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import RECORD_VERSION, read_record

DEFAULT_ENDPOINT = "https://huggingface.co"
CHUNK_SIZE = 4 * 1024 * 1024
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
GIT_OID_RE = re.compile(r"^[0-9a-f]{40}$")


class HfModelError(Exception):
    """A failure with a message that says what went wrong and what to do; ``kind`` names the case."""

    def __init__(self, kind, message, **details):
        super(HfModelError, self).__init__(message)
        self.kind = kind
        self.details = details


_LIBRARY = {}
_LIBRARY_LOCK = threading.Lock()


def hub_library():
    """huggingface_hub and its HTTP library, imported on first use (by any of the download threads).

    A re-run whose files are all pinned and recorded asks the hub nothing; leaving the client
    unimported then saves about a quarter of a second per module call (the no-op re-run's cost).
    """
    with _LIBRARY_LOCK:
        if not _LIBRARY:
            try:
                _LIBRARY.update(_import_library())
            except ImportError as error:
                raise HfModelError(
                    "missing_library",
                    "%s cannot import the Hugging Face client (%s). Run the hf_client role, which installs "
                    "huggingface_hub in its own venv, and run hf_model with ansible_python_interpreter set to that "
                    "venv's python." % (sys.executable, error),
                )
    return SimpleNamespace(**_LIBRARY)


def _import_library():
    try:
        import httpx2 as httpx  # huggingface_hub 2.x is built on httpx2
    except ImportError:  # pragma: no cover - depends on the installed client
        import httpx
    from huggingface_hub import HfApi, errors, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers, filter_repo_objects, get_session
    return {"httpx": httpx, "HfApi": HfApi, "errors": errors, "get_hf_file_metadata": get_hf_file_metadata,
            "hf_hub_url": hf_hub_url, "build_hf_headers": build_hf_headers,
            "filter_repo_objects": filter_repo_objects, "get_session": get_session}


class RemoteFile:
    """What the hub says about one file at one revision."""

    def __init__(self, path, commit, size, sha256=None, git_oid=None, url=None):
        self.path = path
        self.commit = commit
        self.size = size
        self.sha256 = sha256  # known for LFS files (the hub's X-Linked-Etag)
        self.git_oid = git_oid  # git blob id of small, non-LFS files
        self.url = url  # where the bytes are (the CDN for LFS files)

    def missing_checks(self):
        """Why the hub's answer cannot verify the bytes (empty when it can)."""
        if self.sha256 or self.git_oid:
            return ""
        missing = "neither an LFS sha256 (X-Linked-Etag) nor a git blob id (ETag)"
        return missing + ("" if self.commit else ", and no commit (X-Repo-Commit)")


def repo_page(endpoint, repo_id, repo_type):
    prefix = {"dataset": "datasets/", "space": "spaces/"}.get(repo_type, "")
    return "%s/%s%s" % (endpoint.rstrip("/"), prefix, repo_id)


def _translate_hub_error(error, repo_id, repo_type, filename, revision, endpoint, token):
    """Turn huggingface_hub's exceptions into messages an operator can act on."""
    page = repo_page(endpoint, repo_id, repo_type)
    status = getattr(getattr(error, "response", None), "status_code", None)
    errors = hub_library().errors
    if isinstance(error, errors.GatedRepoError):
        if not token:
            return HfModelError(
                "gated_no_token",
                "%s is a gated repository and no token was given. Log in at %s, accept the licence on %s, "
                "create a read token at %s/settings/tokens, and pass it as `token` or set HF_TOKEN on the host."
                % (repo_id, endpoint, page, endpoint.rstrip("/")),
                licence_page=page,
            )
        return HfModelError(
            "gated_not_accepted",
            "%s is a gated repository and the token's account has not been granted access (HTTP %s). "
            "Accept the licence on %s with the account that owns the token, wait for approval if the page "
            "asks for it, then run again." % (repo_id, status, page),
            licence_page=page,
        )
    if isinstance(error, errors.RevisionNotFoundError):
        return HfModelError(
            "revision_not_found",
            "Revision %r does not exist in %s. Use a branch, tag or full 40-character commit listed on %s/commits."
            % (revision, repo_id, page),
        )
    if isinstance(error, errors.EntryNotFoundError):
        return HfModelError(
            "file_not_found",
            "File %r does not exist in %s at revision %r. Check the path on %s/tree/%s."
            % (filename, repo_id, revision, page, revision),
        )
    if isinstance(error, errors.RepositoryNotFoundError):
        hint = "" if token else " If it is private, pass a token that can read it."
        return HfModelError(
            "repo_not_found",
            "Repository %s (%s) was not found at %s. Check repo_id and repo_type.%s" % (repo_id, repo_type, endpoint, hint),
        )
    return HfModelError(
        "network",
        "Could not reach %s for %s/%s: %s. Check the host's network, proxy and the endpoint." % (
            endpoint, repo_id, filename, _error_text(error, token)),
    )


def redact(text, token):
    """text with the token (as given, stripped, or escaped as a client quotes it) replaced by <token>."""
    if not text or not token:
        return text
    for secret in sorted({token, token.strip(), repr(token)[1:-1]}, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "<token>")
    return text


def _error_text(error, token):
    """First line of an exception's text, without the token: a client error may quote a request header."""
    return redact(str(error).splitlines()[0] if str(error) else type(error).__name__, token)


def _hub_call(function, request, endpoint, token):
    try:
        return function()
    except ValueError as error:
        # JSON that did not parse: an HTML page (captive portal, proxy login) where the hub's API should be.
        raise HfModelError(
            "not_hub",
            "%s answered for %s with something that is not the hub's API (%s). A captive portal or a proxy is "
            "probably in the way: check the host's network and proxy, or set endpoint to a working mirror."
            % (endpoint, request["repo_id"], type(error).__name__),
        )
    except Exception as error:  # pylint: disable=broad-except
        library = hub_library()
        if isinstance(error, (library.errors.HfHubHTTPError, library.errors.EntryNotFoundError,
                              library.httpx.HTTPError)):
            raise _translate_hub_error(
                error, request["repo_id"], request["repo_type"], request.get("filename"), request["revision"],
                endpoint, token,
            )
        raise


def fetch_remote(request, endpoint, token, timeout, retry=True):
    """Resolve one file: commit, size, digest and download URL (one HEAD request, redirects not followed).

    retry=False gives up at the first network error (a file a record vouches for needs no answer).
    """
    library = hub_library()
    url = library.hf_hub_url(
        request["repo_id"], request["filename"], repo_type=request["repo_type"], revision=request["revision"],
        endpoint=endpoint,
    )
    metadata = _hub_call(
        lambda: library.get_hf_file_metadata(url, token=token or False, timeout=timeout, endpoint=endpoint,
                                             retry_on_errors=retry),
        request, endpoint, token,
    )
    etag = (metadata.etag or "").lower()
    return RemoteFile(
        path=request["filename"],
        commit=metadata.commit_hash,
        size=metadata.size,
        sha256=etag if SHA256_RE.match(etag) else None,
        git_oid=etag if GIT_OID_RE.match(etag) else None,
        url=metadata.location,
    )


def resolve_commit(request, endpoint, token, timeout):
    """The commit an allow_patterns entry's revision points to now: one request, without the client's retries."""
    api = hub_library().HfApi(endpoint=endpoint, token=token or False)
    info = _hub_call(
        lambda: api.repo_info(request["repo_id"], revision=request["revision"], repo_type=request["repo_type"],
                              timeout=timeout),
        dict(request, filename=", ".join(request["allow_patterns"])), endpoint, token,
    )
    return info.sha


def list_matching_files(request, endpoint, token, patterns):
    """Paths of the repository at the revision that match ``patterns`` (fnmatch, as the hub client uses them)."""
    library = hub_library()
    api = library.HfApi(endpoint=endpoint, token=token or False)
    entries = _hub_call(
        lambda: list(api.list_repo_tree(request["repo_id"], recursive=True, revision=request["revision"],
                                        repo_type=request["repo_type"])),
        dict(request, filename=", ".join(patterns)), endpoint, token,
    )
    files = [entry for entry in entries if hasattr(entry, "blob_id")]
    selected = list(library.filter_repo_objects(files, allow_patterns=patterns, key=lambda entry: entry.path))
    if not selected:
        raise HfModelError(
            "file_not_found",
            "No file of %s at revision %r matches allow_patterns %s." % (request["repo_id"], request["revision"], patterns),
        )
    return sorted(entry.path for entry in selected)


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


def _same_origin(first, second):
    def origin(url):
        match = re.match(r"^([a-z]+)://([^/]+)", url or "")
        return match.groups() if match else (None, None)
    return origin(first) == origin(second)


def _read_prefix(path, digest, length):
    """Feed the bytes already on disk to the digest (once, when resuming)."""
    with open(path, "rb") as handle:
        remaining = length
        while remaining > 0:
            block = handle.read(min(CHUNK_SIZE, remaining))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)


class Transfer:
    """Moves the bytes of one RemoteFile into its partial file, resuming and retrying."""

    def __init__(self, remote, dest, endpoint, token, timeout, retries, progress=None, backoff=1.0,
                 free_space_margin=0):
        self.remote = remote
        self.dest = dest
        self.partial, self.partial_meta = partial_paths(dest)
        self.endpoint = endpoint
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.progress = progress
        self.backoff = backoff
        self.margin = free_space_margin
        self.resumed_from = 0
        self.range_ignored = False
        self.bytes_downloaded = 0
        self.digest = None
        self.offset = 0

    def identity(self, expected_sha256):
        return {"url_path": self.remote.path, "commit": self.remote.commit, "size": self.remote.size,
                "sha256": expected_sha256, "git_oid": self.remote.git_oid}

    def resumable_bytes(self, expected_sha256):
        """Bytes of a partial file from an earlier run of the same file and commit, else 0."""
        meta = read_record(self.partial_meta) if os.path.exists(self.partial_meta) else None
        if not os.path.exists(self.partial):
            return 0
        size = os.path.getsize(self.partial)
        if meta is None or meta.get("identity") != self.identity(expected_sha256) or size > (self.remote.size or 0):
            return -1  # a stale partial of another file or revision
        return size

    def check_free_space(self, already):
        needed = max((self.remote.size or 0) - already, 0) + self.margin
        space = disk_space(os.path.dirname(self.dest))
        if space.free_bytes < needed:
            raise HfModelError(
                "disk_full",
                "Not enough free space for %s: %s still to download plus %s margin, but only %s free on %s. "
                "Free space there or move the store to a larger disk, then run again (%s already downloaded "
                "are kept)." % (self.dest, human_bytes(needed - self.margin), human_bytes(self.margin),
                                human_bytes(space.free_bytes), space.mount, human_bytes(already)),
            )

    def _new_digest(self, expected_sha256):
        # Small git-stored files have no sha256 on the hub: verify their git blob id as well.
        return StreamDigest(self.remote.size if self.remote.git_oid and not expected_sha256 else None)

    def run(self, expected_sha256):
        """Download into the partial file; return (sha256, git_oid) of the complete bytes.

        The caller checks free space first (check_free_space), before it creates any directory.
        """
        already = self.resumable_bytes(expected_sha256)
        if already < 0:
            os.unlink(self.partial)  # our own leftover of another revision, never a user's file
            already = 0
        write_json_atomically(self.partial_meta, {"version": RECORD_VERSION,
                                                  "identity": self.identity(expected_sha256)})
        self.digest = self._new_digest(expected_sha256)
        if already:
            _read_prefix(self.partial, self.digest, already)
            if self.progress is not None:
                self.progress.add(already)
        self.resumed_from = already
        self.offset = already
        attempt = 0
        with open(self.partial, "ab") as handle:
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
        library = hub_library()
        headers = {}
        if self.token and _same_origin(self.remote.url, self.endpoint):
            headers.update(library.build_hf_headers(token=self.token))  # never send the token to the CDN
        else:
            headers.update(library.build_hf_headers(token=False))
        headers["Accept-Encoding"] = "identity"
        size = self.remote.size
        if size is not None and self.offset >= size:
            return
        if self.offset:
            headers["Range"] = "bytes=%d-" % self.offset
        try:
            with library.get_session().stream("GET", self.remote.url, headers=headers, follow_redirects=True,
                                              timeout=library.httpx.Timeout(self.timeout)) as response:
                if response.status_code >= 400:
                    response.read()
                    if response.status_code >= 500 or response.status_code == 429:
                        raise HfModelError("network", "HTTP %d from %s" % (response.status_code, self.remote.url))
                    raise HfModelError("http", "HTTP %d while downloading %s from %s. Run again; if it persists, "
                                       "check the endpoint." % (response.status_code, self.remote.path,
                                                                self.remote.url))
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
        except library.httpx.TransportError as error:
            raise HfModelError("network", "%s: %s" % (type(error).__name__, _error_text(error, self.token)))
        if size is not None and self.offset < size:
            raise HfModelError("network", "connection closed at %d of %d bytes" % (self.offset, size))
