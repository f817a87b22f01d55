# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``allow_patterns`` entries: which files of the repository they stand for, and records of that listing.

``Expansion`` turns each such entry into one request per matching file, below dest as a folder.
The records let a re-run go without the listing: one JSON file per dest folder, beside the folder's
file records under the state directory (``<state_dir>/<dest>.allow_patterns.json``), holds one
listing per repository and pattern set: the revision asked for, the commit it resolved to and the
matching paths. A commit's files never change, so a listing at the same commit is reused without
asking the hub; when the hub cannot be asked, the last listing at the same revision stands in
(with a warning).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import write_json_atomically
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_errors import UNREACHABLE, HfModelError
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_paths import PathRefused, resolve_inside
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import RECORD_VERSION, read_record

FULL_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


def expansion_path(state_dir, root, dest):
    """Where the listings of the entries writing below the folder ``dest`` are kept (None: dest refused)."""
    try:
        folder = resolve_inside(root, dest)
    except PathRefused:
        return None  # plan_file reports the refused dest of each file
    return os.path.join(state_dir, os.path.relpath(folder, os.path.realpath(root)) + ".allow_patterns.json")


def listing_key(request):
    """Entries of one folder told apart by repository and patterns (their order does not matter)."""
    return json.dumps([request["repo_type"], request["repo_id"], sorted(request["allow_patterns"])])


def recorded_listing(path, request):
    """The listing an earlier run made for this entry at the same revision: {revision, commit, files} or None."""
    record = read_record(path) if path else None
    listing = (record or {}).get("listings", {}).get(listing_key(request))
    if not isinstance(listing, dict) or listing.get("revision") != request["revision"] or not listing.get("files"):
        return None
    return listing


def record_listing(path, request, listing):
    """Keep ``listing`` for this entry, next to the other entries' listings of the same folder."""
    record = read_record(path) or {"version": RECORD_VERSION, "listings": {}}
    listings = record.get("listings") if isinstance(record.get("listings"), dict) else {}
    if listings.get(listing_key(request)) == listing:
        return
    listings[listing_key(request)] = listing
    write_json_atomically(path, {"version": RECORD_VERSION, "listings": listings})


def is_full_commit(revision):
    return bool(FULL_COMMIT_RE.match(revision))


class Expansion:
    """Requests with allow_patterns expanded to one request per matching file, below dest as a folder.

    ``listings``: (record file, request, listing) of fresh listings, recorded by a real run;
    ``warnings``: entries whose earlier listing stood in because the hub could not be asked.
    """

    def __init__(self, requests, settings):
        self.requests = []
        self.listings = []
        self.warnings = []
        for request in requests:
            if not request.get("allow_patterns") or request["state"] == "absent":
                self.requests.append(request)
                continue
            for path in self._matching_paths(request, settings):
                single = dict(request, filename=path, allow_patterns=None, sha256=None, size=None)
                single["dest"] = os.path.join(request["dest"], path)
                self.requests.append(single)

    def _matching_paths(self, request, settings):
        record_file = expansion_path(settings.state_dir, settings.root, request["dest"])
        recorded = recorded_listing(record_file, request)
        if recorded and is_full_commit(request["revision"]):
            return recorded["files"]  # a commit's files never change: nothing to ask
        try:
            commit = settings.hub.resolve_commit(request)
        except HfModelError as error:
            if error.kind not in UNREACHABLE:
                raise
            if recorded:
                self.warnings.append(
                    "%s: could not list %s at %r (allow_patterns %s), so could not check for updates (%s); using "
                    "the %d files an earlier run listed at commit %s." % (
                        request["dest"], request["repo_id"], request["revision"], ", ".join(request["allow_patterns"]),
                        error, len(recorded["files"]), recorded["commit"]))
                return recorded["files"]
            commit = None  # nothing to fall back to: the listing below retries, then fails with the reason
        if recorded and commit and recorded["commit"] == commit:
            return recorded["files"]
        paths = settings.hub.list_files(dict(request, revision=commit or request["revision"]))
        if record_file:
            self.listings.append((record_file, request,
                                  {"revision": request["revision"], "commit": commit, "files": paths}))
        return paths

    def record(self):
        """Keep the fresh listings for the next run (real runs only: check mode writes nothing)."""
        for record_file, request, listing in self.listings:
            record_listing(record_file, request, listing)
