# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a running ComfyUI says about itself, compared with what the comfyui role wanted: pure functions.

Used by the comfyui_check module (which reads the journal and the venv) and called directly by the unit tests;
``ComfyUI`` asks the routes through the bounded HTTP layer, each with its deadline, size limit and shape. The
rules follow ComfyUI's own code (nodes.py init_external_custom_nodes and load_custom_node, server.py /object_info
and /models/{folder}, folder_paths.py), the same at 0.3.64 and v0.8.2.
Standard library only, Python 3.8 syntax.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re
from urllib.parse import quote

from ansible_collections.ai4artsed.devserver.plugins.module_utils.bounded_http import DEFAULT_LIMIT, request

# Folders below models/ that ComfyUI serves under another key: GET /models/clip and /models/unet are 404,
# their files are listed by text_encoders and diffusion_models (folder_paths.folder_names_and_paths).
FOLDER_KEY_OF_DIRECTORY = {"clip": "text_encoders", "unet": "diffusion_models", "t2i_adapter": "controlnet"}

# The summary ComfyUI logs after loading the packs: "   0.0 seconds (IMPORT FAILED): /abs/custom_nodes/<pack>".
IMPORT_FAILED_LINE = re.compile(r"(?:^|\s)[\d.]+ seconds \(IMPORT FAILED\): (?P<path>.+?)\s*$")
# The line before the summary that carries the reason: "Cannot import /abs/custom_nodes/<pack> module for ...: <e>".
CANNOT_IMPORT_LINE = re.compile(r"Cannot import (?P<path>.+?) module for custom nodes: (?P<reason>.*)$")
SKIPPED_LINE = re.compile(r"Skip (?P<path>.+?) module for custom nodes due to the lack of NODE_CLASS_MAPPINGS")

# /object_info describes every node class: tens of MB with many packs, and ComfyUI builds it slowly.
OBJECT_INFO_LIMIT = 64 * 1024 * 1024
OBJECT_INFO_DEADLINE = 60
ROUTE_DEADLINE = 10

REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>(?:[<>=!~]=?|===).*)?$")


class ComfyUI(object):
    """GET ComfyUI's JSON routes (no proxy, it is on this host); HttpFailure says what went wrong, where."""

    def __init__(self, url):
        self.url = url.rstrip("/")

    def _get(self, route, shape, keys=(), deadline=ROUTE_DEADLINE, limit=DEFAULT_LIMIT):
        """The JSON of GET <url><route> of that shape, or None for a 404."""
        answer = request(self.url + route, headers={"Accept": "application/json"}, deadline=deadline, limit=limit,
                         accept=(404,))
        return None if answer.status == 404 else answer.json(shape, keys)

    def system_stats(self, deadline=ROUTE_DEADLINE):
        return self._get("/system_stats", dict, ("system",), deadline)

    def object_info(self):
        return self._get("/object_info", dict, deadline=OBJECT_INFO_DEADLINE, limit=OBJECT_INFO_LIMIT) or {}

    def models(self, folder):
        """The names ComfyUI lists in a model folder, or None when it does not know the folder (404)."""
        return self._get("/models/" + quote(folder), list)


def pack_name(entry, is_file):
    """The pack name ComfyUI gives a custom_nodes/ entry (RELATIVE_PYTHON_MODULE's tail), or None if it skips it.

    ComfyUI tries every directory and every .py file, except __pycache__ and names ending in .disabled.
    """
    if entry == "__pycache__" or entry.endswith(".disabled"):
        return None
    if is_file:
        stem, extension = posixpath.splitext(entry)
        return stem if extension == ".py" else None
    return entry


def packs_in(entries):
    """Sorted pack names of (name, is_file) custom_nodes/ entries."""
    names = (pack_name(name, is_file) for name, is_file in entries)
    return sorted(name for name in names if name)


def _pack_of_path(path):
    """custom_nodes/<pack> or custom_nodes/<pack>.py as ComfyUI logs it, to the pack name."""
    base = posixpath.basename(path.rstrip("/"))
    stem, extension = posixpath.splitext(base)
    return stem if extension == ".py" else base


def import_failures(journal_lines):
    """{pack: reason} for every pack ComfyUI logged as not imported, from the log of one start.

    The reason is the exception from "Cannot import ... : <e>" (or the missing NODE_CLASS_MAPPINGS), else
    the summary's "IMPORT FAILED".
    """
    failures = {}
    for line in journal_lines:
        cannot = CANNOT_IMPORT_LINE.search(line)
        skipped = SKIPPED_LINE.search(line)
        summary = IMPORT_FAILED_LINE.search(line)
        if cannot:
            failures[_pack_of_path(cannot.group("path"))] = cannot.group("reason").strip() or "IMPORT FAILED"
        elif skipped:
            failures[_pack_of_path(skipped.group("path"))] = "it has no NODE_CLASS_MAPPINGS (nor comfy_entrypoint)"
        elif summary:
            failures.setdefault(_pack_of_path(summary.group("path")), "IMPORT FAILED")
    return failures


def classes_by_pack(object_info):
    """{pack: sorted class keys} from GET /object_info, by each class's python_module custom_nodes.<pack>."""
    packs = {}
    for key, info in object_info.items():
        module = (info or {}).get("python_module") or ""
        if module.startswith("custom_nodes."):
            packs.setdefault(module[len("custom_nodes."):], []).append(key)
    return dict((pack, sorted(keys)) for pack, keys in packs.items())


def check_packs(packs, failures, classes):
    """One row per pack and the problems: a pack failed when ComfyUI logged it so or it brought no class."""
    rows, problems = [], []
    for pack in packs:
        keys = classes.get(pack, [])
        reason = failures.get(pack)
        if reason is None and not keys:
            reason = "ComfyUI lists none of its node classes in /object_info"
        rows.append({"name": pack, "classes": len(keys), "class_names": keys, "imported": reason is None,
                     "reason": reason})
        if reason is not None:
            problems.append("custom node pack %s did not import: %s" % (pack, reason))
    return rows, problems


def folder_of_link(link):
    """(ComfyUI folder key, the name GET /models/<key> lists) for a link path relative to models/."""
    parts = link.strip("/").split("/", 1)
    if len(parts) < 2:
        return None, parts[0]
    return FOLDER_KEY_OF_DIRECTORY.get(parts[0], parts[0]), parts[1]


def expected_by_folder(links):
    """{folder key: sorted names ComfyUI should list} for link paths relative to models/."""
    folders = {}
    for link in links:
        folder, name = folder_of_link(link)
        if folder is not None:
            folders.setdefault(folder, []).append(name)
    return dict((folder, sorted(names)) for folder, names in folders.items())


def broken_link(lexists, target, resolves):
    """Why a link is unusable (lexists: anything at its path; target: its value or None), or None when it resolves."""
    if not lexists:
        return "is missing"
    if resolves:
        return None
    return "points to %s, which does not exist" % target if target is not None else "is not a file"


def compare_models(expected, listed, broken):
    """Rows, report lines and problems from {folder: names linked}, {folder: names listed or None for a 404}.

    broken: {link path relative to models/: why (broken_link)}. ComfyUI lists a dangling link too (os.walk puts
    it among the files), so its listing alone proves nothing about the target.
    """
    rows, lines, problems = [], [], []
    for folder in sorted(expected):
        names = expected[folder]
        listing = listed.get(folder)
        if listing is None:
            rows.append({"folder": folder, "listed": None, "linked": len(names), "missing": []})
            lines.append("%s: not a ComfyUI model folder (GET /models/%s is 404), the manifest links %d"
                         % (folder, folder, len(names)))
            continue
        missing = sorted(set(names) - set(listing))
        rows.append({"folder": folder, "listed": len(listing), "linked": len(names), "missing": missing})
        lines.append("%s: ComfyUI lists %d, the manifest links %d" % (folder, len(listing), len(names)))
        problems.extend("ComfyUI does not list the linked model %s/%s (GET /models/%s)" % (folder, name, folder)
                        for name in missing)
    problems.extend("the link models/%s %s" % (link, why) for link, why in sorted(broken.items()))
    return rows, lines, problems


def normalize_name(name):
    """A distribution name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(spec):
    """(normalized name, exact version or None) of a pip requirement such as torch==2.9.1 or requests."""
    match = REQUIREMENT.match(spec)
    if not match:
        raise ValueError("cannot read the requirement %r (expected name, name==version or name>=version)" % spec)
    wanted = (match.group("spec") or "").strip()
    exact = wanted[2:].strip() if wanted.startswith("==") and not wanted.startswith("===") else None
    return normalize_name(match.group("name")), exact


def version_matches(wanted, installed):
    """== as pip reads it: 2.9.1 matches 2.9.1 and a local build such as 2.9.1+cu130."""
    return installed == wanted or installed.split("+", 1)[0] == wanted


def compare_packages(specs, installed):
    """Rows and problems for wanted requirements against {distribution name: version} of the venv.

    A name without == only has to be installed; the last spec of a name wins (the pins come last).
    """
    wanted = {}
    for spec in specs:
        name, exact = parse_requirement(spec)
        wanted[name] = (spec, exact)
    versions = dict((normalize_name(name), version) for name, version in installed.items())
    rows, problems = [], []
    for name in sorted(wanted):
        spec, exact = wanted[name]
        have = versions.get(name)
        ok = have is not None and (exact is None or version_matches(exact, have))
        rows.append({"name": name, "wanted": exact or "any", "installed": have, "ok": ok})
        if have is None:
            problems.append("%s is not installed in the venv (wanted %s)" % (name, spec))
        elif not ok:
            problems.append("%s is %s in the venv, wanted %s" % (name, have, exact))
    return rows, problems


def unit_crash(first, now):
    """Why the unit counts as crashed since `first` (systemctl show values), or None while it is up or starting."""
    state, sub = now.get("ActiveState"), now.get("SubState")
    if state in ("failed", "inactive"):
        return "the unit is %s (%s)" % (state, sub)
    if sub == "auto-restart":
        return "ComfyUI exited and systemd is about to restart it"
    restarts_then, restarts_now = first.get("NRestarts", "0"), now.get("NRestarts", "0")
    if restarts_now.isdigit() and restarts_then.isdigit() and int(restarts_now) > int(restarts_then):
        return "ComfyUI exited and systemd restarted it (NRestarts %s -> %s)" % (restarts_then, restarts_now)
    return None


def parse_systemctl_show(text):
    """{property: value} from `systemctl show -p A -p B unit` output."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values
