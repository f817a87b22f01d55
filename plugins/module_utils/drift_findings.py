# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a check-mode run of the site found: one finding per task that would change or failed.

Pure helpers with no Ansible imports: the drift_report callback hands each task result here
(the module's short name, its arguments, its result) and prints format_report's text. A
finding says what kind of thing drifted (CATEGORIES) and where (a unit, a path, a key, a
package), in words a person reads without the run's log.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

CATEGORIES = ("units", "files", "links", "packages", "settings", "model files", "other")

# The first line of a report; drift.yml's last play reads it to decide the exit code.
NO_DRIFT = "no drift"
DRIFT = "drift"

# A report line stays readable: a long "what a real run would do" message keeps its start and its end.
MAX_DETAIL = 260
# How many paths of one task a finding lists before it says "and N more".
MAX_PLACES = 5

# The whole detail of a finding whose task has no_log: its arguments, result and loop item may hold a secret.
HIDDEN = "details hidden (no_log)"

UNIT_SUFFIXES = (".service", ".timer", ".socket", ".mount", ".path", ".target")

BY_MODULE = {
    "systemd": "units", "systemd_service": "units", "service": "units",
    "apt": "packages", "package": "packages", "pip": "packages", "dnf": "packages", "apt_repository": "packages",
    "apt_key": "packages", "deb822_repository": "packages",
    "model_links": "links",
    "hf_model": "model files", "model_archive": "model files", "model_rollback": "model files",
    "ollama_model": "model files",
    "swarmui_settings": "settings", "devserver_settings": "settings", "devserver_password": "settings",
    "ini_file": "settings", "sysctl": "settings",
    "copy": "files", "template": "files", "file": "files", "lineinfile": "files", "blockinfile": "files",
    "unarchive": "files", "get_url": "files", "git": "files", "user": "files", "group": "files",
}

# For tasks whose module says nothing about what they touch (debug's "what a real run would do",
# command, async_status): the first keyword found in the task's name decides.
BY_NAME = (
    ("venv", "packages"), ("package", "packages"), ("pip", "packages"), ("apt", "packages"),
    ("setting", "settings"), ("link", "links"), ("model", "model files"), ("download", "model files"),
    ("unit", "units"), ("service", "units"), ("checkout", "files"), ("file", "files"),
)


def short_module(action):
    """ansible.builtin.copy and ai4artsed.devserver.hf_model as copy and hf_model."""
    return (action or "").rsplit(".", 1)[-1]


def compact(text, limit=MAX_DETAIL):
    """One line; a text longer than limit keeps its start and its end (where a message says what differs)."""
    line = re.sub(r"\s+", " ", str(text)).strip()
    if len(line) <= limit:
        return line
    head = limit // 3
    tail = limit - head - 5
    return "%s ... %s" % (line[:head].rstrip(), line[-tail:].lstrip())


def _listed(places):
    """At most MAX_PLACES places, then how many more."""
    shown = list(places[:MAX_PLACES])
    if len(places) > MAX_PLACES:
        shown.append("and %d more" % (len(places) - MAX_PLACES))
    return shown


def _path_of(args, result):
    for source in (result, args):
        for key in ("dest", "path", "name"):
            value = source.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def _unit(args, result):
    name = args.get("name") or args.get("unit") or result.get("name") or "(daemon-reload)"
    wanted = []
    if args.get("state"):
        wanted.append("would be %s" % args["state"])
    if args.get("enabled") is not None:
        wanted.append("enabled" if _truthy(args["enabled"]) else "disabled")
    status = result.get("status") or {}
    now = [value for value in (status.get("ActiveState"), status.get("UnitFileState")) if value]
    detail = ", ".join(wanted)
    if now:
        detail += " (now %s)" % "/".join(now)
    return [name], detail


def _truthy(value):
    return value is True or str(value).lower() in ("true", "yes", "on", "1")


def _model_links(args, result):
    root = result.get("link_root") or args.get("link_root") or ""
    places = ["%s %s" % (change.get("action", "?"), os.path.join(root, change.get("path", "")))
              for change in result.get("changes") or [] if change.get("action") != "record"]
    return _listed(places), ""


def _model_files(args, result):
    files = result.get("files") or []
    places = ["%s %s" % (entry.get("action"), entry.get("dest")) for entry in files
              if isinstance(entry, dict) and entry.get("action") not in (None, "unchanged", "absent")]
    if not places and result.get("dest"):
        places = [result["dest"]]
    return _listed(places), ""


def _swarmui_settings(args, result):
    keys = [change.get("key") for change in result.get("changes") or [] if change.get("key")]
    path = result.get("path") or args.get("path")
    return [path], ("keys " + ", ".join(keys)) if keys else "owner, group or mode"


def _devserver_settings(args, result):
    keys = result.get("set_keys") or []
    path = result.get("path") or args.get("path")
    return [path], ("keys " + ", ".join(keys)) if keys else "owner, group or mode"


def _model_archive(args, result):
    places = ["%s %s" % (entry.get("action"), entry.get("path")) for entry in result.get("planned") or []]
    return _listed(places), ""


def _packages(args, result):
    names = args.get("name") or args.get("pkg") or args.get("deb") or args.get("requirements") or []
    if isinstance(names, str):
        names = [part.strip() for part in names.split(",")]
    where = [", ".join(str(name) for name in names)] if names else []
    return where, "would be %s" % args.get("state", "present")


def _debug(args, result):
    message = result.get("msg", args.get("msg", ""))
    if not isinstance(message, str):
        message = str(message)
    return [], compact(message)


def _command(args, result):
    argv = args.get("argv") or args.get("cmd") or args.get("_raw_params") or ""
    if isinstance(argv, list):
        argv = " ".join(str(part) for part in argv)
    return [compact(argv, 120)] if argv else [], ""


def _file(args, result):
    path = _path_of(args, result)
    details = []
    if args.get("state") == "link":
        details.append("link to %s" % args.get("src", result.get("src", "?")))
    diff = result.get("diff")
    for change in diff if isinstance(diff, list) else [diff] if isinstance(diff, dict) else []:
        before, after = change.get("before"), change.get("after")
        if isinstance(before, dict) and isinstance(after, dict):
            details.extend("%s %s -> %s" % (key, before.get(key), after[key]) for key in sorted(after)
                           if key != "path" and before.get(key) != after[key])
    if not details and short_module(args.get("__module__")) != "file":
        details.append("content or attributes differ")
    return [path] if path else [], ", ".join(details)


def _git(args, result):
    before, after = result.get("before"), result.get("after")
    detail = "at %s, wanted %s" % (before, after) if before != after else ""
    return [args.get("dest") or result.get("dest") or "?"], detail


EXTRACTORS = {
    "systemd": _unit, "systemd_service": _unit, "service": _unit,
    "model_links": _model_links,
    "hf_model": _model_files, "model_rollback": _model_files,
    "swarmui_settings": _swarmui_settings,
    "devserver_settings": _devserver_settings,
    "model_archive": _model_archive,
    "apt": _packages, "package": _packages, "pip": _packages, "dnf": _packages,
    "debug": _debug, "command": _command, "shell": _command,
    "git": _git,
}


def classify(module, task_name, result):
    """The category of a finding: by module, else by what the result holds, else by the task's name."""
    module = short_module(module)
    if module in ("copy", "template") and str(_path_of({}, result) or "").endswith(UNIT_SUFFIXES):
        return "units"
    if module == "file" and result.get("state") == "link":
        return "links"
    if module in BY_MODULE:
        return BY_MODULE[module]
    if isinstance(result.get("files"), list):
        return "model files"  # hf_model's result, collected by async_status
    name = (task_name or "").lower()
    for keyword, category in BY_NAME:
        if keyword in name:
            return category
    return "other"


def describe(module, args, result, task_name=""):
    """(category, places, detail) of one changed or failed result."""
    args = dict(args or {})
    result = dict(result or {})
    module = short_module(module)
    if module in ("copy", "template") and not result.get("dest"):
        result["dest"] = args.get("dest")
    if module == "file" and not result.get("state"):
        result["state"] = args.get("state")
    if module == "async_status" and isinstance(result.get("files"), list):
        extractor = _model_files
    else:
        extractor = EXTRACTORS.get(module, _file if module in BY_MODULE else _debug)
    args["__module__"] = module
    places, detail = extractor(args, result)
    places = [str(place) for place in places if place]
    if not places and module != "debug":
        places = [value for value in (args.get("url"), _path_of(args, {})) if isinstance(value, str) and value][:1]
    if result.get("failed"):
        detail = "failed: " + compact(result.get("msg") or result.get("stderr") or "no message", MAX_DETAIL)
    return classify(module, task_name, result), places, detail


def finding(host, role, task_name, module, args, result, state="would change", no_log=False):
    """One line's worth of a report, as a dict (the callback collects them per host).

    With no_log, args and result are never read: the finding keeps what the playbook says in the open (host,
    role, task name, the module's kind) and HIDDEN for a detail.
    """
    if no_log:
        return {"host": host, "role": role or "", "task": task_name or "", "category": classify(module, task_name, {}),
                "where": [], "detail": HIDDEN, "state": state}
    category, places, detail = describe(module, args, result, task_name)
    return {"host": host, "role": role or "", "task": task_name or "", "category": category,
            "where": places, "detail": detail, "state": state}


def unreachable(host, task_name, message, no_log=False):
    detail = HIDDEN if no_log else compact(message or "no message")
    return {"host": host, "role": "", "task": task_name or "", "category": "other", "where": [],
            "detail": "unreachable: " + detail, "state": "unreachable"}


def _line(item):
    where = "; ".join(item["where"])
    what = " - ".join(part for part in (where, item["detail"]) if part)
    task = "%s: %s" % (item["role"], item["task"]) if item["role"] else item["task"]
    prefix = "" if item["state"] == "would change" else item["state"].upper() + " "
    return "    %s%s (%s)" % (prefix, what or "(the task names no place)", task)


def format_report(findings, hosts):
    """The text a person reads; its first line starts with NO_DRIFT or DRIFT."""
    hosts = sorted(set(hosts) | set(item["host"] for item in findings))
    if not findings:
        return "%s on %s\n" % (NO_DRIFT, ", ".join(hosts) or "no host")
    drifted = sorted(set(item["host"] for item in findings))
    lines = ["%s: %d finding%s on %s (checked: %s)" % (DRIFT, len(findings), "" if len(findings) == 1 else "s",
                                                       ", ".join(drifted), ", ".join(hosts))]
    for host in drifted:
        mine = [item for item in findings if item["host"] == host]
        lines.append("%s: %d finding%s" % (host, len(mine), "" if len(mine) == 1 else "s"))
        for category in CATEGORIES:
            inside = [item for item in mine if item["category"] == category]
            if inside:
                lines.append("  %s:" % category)
                lines.extend(_line(item) for item in inside)
    return "\n".join(lines) + "\n"


def has_drift(report_text):
    """Whether a report (format_report's text) found anything."""
    return not report_text.startswith(NO_DRIFT)
