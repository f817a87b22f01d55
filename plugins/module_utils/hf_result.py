# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hf_model's result: one entry per file, the totals, a one-line summary and the diff."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_hub import redact


def describe(request, plan, outcome=None, error=None, token=None):
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
    if plan is not None and plan.warning:
        entry["warning"] = redact(plan.warning, token)
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
        entry.update(action="failed", changed=False, error=redact(str(error), token), error_kind=getattr(error, "kind", "error"))
    return entry


def summarize(plans, outcomes, started, settings):
    """The module's result; a file's warning (a hub that could not be asked) is also in ``warnings``."""
    files = []
    for request, plan, error in plans:
        outcome, apply_error = outcomes.get(id(plan), (None, None))
        files.append(describe(request, plan, outcome, error or apply_error, settings.hub.token))
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
        "warnings": [entry["warning"] for entry in files if entry.get("warning")],
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
