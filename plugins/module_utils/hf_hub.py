# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hf_model's client of one hub: the questions it asks, through the real huggingface_hub library.

``HubClient(endpoint, token, timeout)`` resolves a revision to a commit, lists the files that match
``allow_patterns``, reads one file's metadata (commit, size, digest, download location) and streams
its bytes; every error of the library comes back as an HfModelError whose message says what to do.
The library is imported on first use, so a run that asks the hub nothing never imports it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import sys
import threading
from contextlib import contextmanager
from types import SimpleNamespace

from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_errors import HfModelError

DEFAULT_ENDPOINT = "https://huggingface.co"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
GIT_OID_RE = re.compile(r"^[0-9a-f]{40}$")

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


def redact(text, token):
    """text with the token (as given, stripped, or escaped as a client quotes it) replaced by <token>."""
    if not text or not token:
        return text
    for secret in sorted({token, token.strip(), repr(token)[1:-1]}, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "<token>")
    return text


def same_origin(first, second):
    def origin(url):
        match = re.match(r"^([a-z]+)://([^/]+)", url or "")
        return match.groups() if match else (None, None)
    return origin(first) == origin(second)


class HubClient:
    """One hub (``endpoint``) as seen with one ``token`` (None: anonymous), each request given up after
    ``timeout`` seconds without data. Requests name the file as hf_model's requests do: a dict with
    ``repo_id``, ``repo_type``, ``revision`` and ``filename`` (or ``allow_patterns``)."""

    def __init__(self, endpoint=DEFAULT_ENDPOINT, token=None, timeout=30):
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.timeout = timeout

    def repo_page(self, repo_id, repo_type):
        prefix = {"dataset": "datasets/", "space": "spaces/"}.get(repo_type, "")
        return "%s/%s%s" % (self.endpoint, prefix, repo_id)

    def redact(self, text):
        return redact(text, self.token)

    def error_text(self, error):
        """First line of an exception's text, without the token: a client error may quote a request header."""
        return self.redact(str(error).splitlines()[0] if str(error) else type(error).__name__)

    def file_metadata(self, request, retry=True):
        """Resolve one file: commit, size, digest and download URL (one HEAD request, redirects not followed).

        retry=False gives up at the first network error (a file a record vouches for needs no answer).
        """
        library = hub_library()
        url = library.hf_hub_url(request["repo_id"], request["filename"], repo_type=request["repo_type"],
                                 revision=request["revision"], endpoint=self.endpoint)
        metadata = self._call(
            lambda: library.get_hf_file_metadata(url, token=self.token or False, timeout=self.timeout,
                                                 endpoint=self.endpoint, retry_on_errors=retry),
            request,
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

    def resolve_commit(self, request):
        """The commit an allow_patterns entry's revision points to now: one request, without the client's retries."""
        api = hub_library().HfApi(endpoint=self.endpoint, token=self.token or False)
        info = self._call(
            lambda: api.repo_info(request["repo_id"], revision=request["revision"], repo_type=request["repo_type"],
                                  timeout=self.timeout),
            dict(request, filename=", ".join(request["allow_patterns"])),
        )
        return info.sha

    def list_files(self, request):
        """Paths of the repository at the revision that match the request's ``allow_patterns`` (fnmatch, as the
        hub client uses them), sorted; none is an error."""
        library = hub_library()
        patterns = request["allow_patterns"]
        api = library.HfApi(endpoint=self.endpoint, token=self.token or False)
        entries = self._call(
            lambda: list(api.list_repo_tree(request["repo_id"], recursive=True, revision=request["revision"],
                                            repo_type=request["repo_type"])),
            dict(request, filename=", ".join(patterns)),
        )
        files = [entry for entry in entries if hasattr(entry, "blob_id")]
        selected = list(library.filter_repo_objects(files, allow_patterns=patterns, key=lambda entry: entry.path))
        if not selected:
            raise HfModelError(
                "file_not_found",
                "No file of %s at revision %r matches allow_patterns %s." % (
                    request["repo_id"], request["revision"], patterns),
            )
        return sorted(entry.path for entry in selected)

    @contextmanager
    def stream(self, url, offset=0, name=None):
        """GET ``url`` from byte ``offset`` on (a Range request when offset > 0); yields the response.

        An HTTP error status and a broken connection, also while the body is read in the ``with`` block,
        become HfModelError: kind ``network`` for what a retry may cure (5xx, 429, transport), else ``http``.
        The token goes only to the endpoint's own host, never to a CDN.
        """
        library = hub_library()
        headers = library.build_hf_headers(token=self.token if self.token and same_origin(url, self.endpoint)
                                           else False)
        headers["Accept-Encoding"] = "identity"
        if offset:
            headers["Range"] = "bytes=%d-" % offset
        try:
            with library.get_session().stream("GET", url, headers=headers, follow_redirects=True,
                                              timeout=library.httpx.Timeout(self.timeout)) as response:
                if response.status_code >= 400:
                    response.read()
                    if response.status_code >= 500 or response.status_code == 429:
                        raise HfModelError("network", "HTTP %d from %s" % (response.status_code, url))
                    raise HfModelError("http", "HTTP %d while downloading %s from %s. Run again; if it persists, "
                                       "check the endpoint." % (response.status_code, name or url, url))
                yield response
        except library.httpx.TransportError as error:
            raise HfModelError("network", "%s: %s" % (type(error).__name__, self.error_text(error)))

    def _call(self, function, request):
        try:
            return function()
        except ValueError as error:
            # JSON that did not parse: an HTML page (captive portal, proxy login) where the hub's API should be.
            raise HfModelError(
                "not_hub",
                "%s answered for %s with something that is not the hub's API (%s). A captive portal or a proxy is "
                "probably in the way: check the host's network and proxy, or set endpoint to a working mirror."
                % (self.endpoint, request["repo_id"], type(error).__name__),
            )
        except Exception as error:  # pylint: disable=broad-except
            library = hub_library()
            if isinstance(error, (library.errors.HfHubHTTPError, library.errors.EntryNotFoundError,
                                  library.httpx.HTTPError)):
                raise self.translate(error, request)
            raise

    def translate(self, error, request):
        """huggingface_hub's exception as an HfModelError with a message an operator can act on."""
        repo_id, repo_type, revision = request["repo_id"], request["repo_type"], request["revision"]
        page = self.repo_page(repo_id, repo_type)
        status = getattr(getattr(error, "response", None), "status_code", None)
        errors = hub_library().errors
        if isinstance(error, errors.GatedRepoError):
            if not self.token:
                return HfModelError(
                    "gated_no_token",
                    "%s is a gated repository and no token was given. Log in at %s, accept the licence on %s, "
                    "create a read token at %s/settings/tokens, and pass it as `token` or set HF_TOKEN on the host."
                    % (repo_id, self.endpoint, page, self.endpoint),
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
                % (request.get("filename"), repo_id, revision, page, revision),
            )
        if isinstance(error, errors.RepositoryNotFoundError):
            hint = "" if self.token else " If it is private, pass a token that can read it."
            return HfModelError(
                "repo_not_found",
                "Repository %s (%s) was not found at %s. Check repo_id and repo_type.%s"
                % (repo_id, repo_type, self.endpoint, hint),
            )
        return HfModelError(
            "network",
            "Could not reach %s for %s/%s: %s. Check the host's network, proxy and the endpoint." % (
                self.endpoint, repo_id, request.get("filename"), self.error_text(error)),
        )
