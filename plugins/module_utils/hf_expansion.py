# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Expansion records: which files an ``allow_patterns`` entry matched, so a re-run can go without the listing.

One JSON file per dest folder, beside the folder's file records under the state directory
(``<state_dir>/<dest>.allow_patterns.json``), holds one listing per repository and pattern set:
the revision asked for, the commit it resolved to and the matching paths. A commit's files never
change, so a listing at the same commit is reused without asking the hub; when the hub cannot be
asked, the last listing at the same revision stands in (with a warning).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import write_json_atomically
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_paths import PathRefused, resolve_inside
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import RECORD_VERSION, read_record


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
