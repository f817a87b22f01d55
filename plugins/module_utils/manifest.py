# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The model manifest: validation, selection, and what hf_model and model_links take from it.

The manifest (roles/model_store/files/manifest.yml, documented in docs/model-manifest.md) has two
sections: ``workflows`` ({name: {media, vram_gb, description}}) and ``models`` (one entry per file,
or per multi-file model with ``allow_patterns``). Everything here is pure: it reads a parsed
manifest and, for the plan, stats paths below the two roots. Standard library only: this runs on
the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import is_inside

ROOTS = ("store", "comfyui")
MEDIA = ("image", "video", "audio", "text_encoder", "vae", "lora")
WORKFLOW_MEDIA = ("image", "video", "audio")
TOP_KEYS = ("workflows", "models")
WORKFLOW_KEYS = ("media", "vram_gb", "description", "loads")
# ComfyUI folders known under two names (folder_paths maps the legacy name onto the current one).
COMFYUI_FOLDER_ALIASES = {"text_encoders": "clip", "unet": "diffusion_models"}
ENTRY_KEYS = ("name", "repo_id", "path", "allow_patterns", "revision", "sha256", "size", "root", "dest",
              "comfyui_link", "gated", "licence", "media", "workflows")
REQUIRED_KEYS = ("name", "repo_id", "dest", "licence", "media")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
HUB_URL = "https://huggingface.co"


class ManifestError(Exception):
    """The manifest is invalid; the message lists every problem, one per line."""

    def __init__(self, problems):
        self.problems = list(problems)
        super(ManifestError, self).__init__(
            "The model manifest is invalid (%d problem%s):\n- %s" % (
                len(self.problems), "" if len(self.problems) == 1 else "s", "\n- ".join(self.problems)))


def _relative_problem(value, what):
    """None when value is a clean relative path (no absolute, no .., no empty part), else why not."""
    if not isinstance(value, str) or not value.strip():
        return "%s must be a non-empty string" % what
    if value.startswith("/") or value.startswith("~"):
        return "%s %r is absolute; give it relative to its root" % (what, value)
    parts = value.rstrip("/").split("/")
    if ".." in parts:
        return "%s %r escapes its root with '..'" % (what, value)
    if "" in parts or "." in parts:
        return "%s %r has an empty or '.' component" % (what, value)
    return None


def _label(entry, index, source):
    name = entry.get("name") if isinstance(entry, dict) else None
    return "%s entry %d%s" % (source, index + 1, " (%s)" % name if name else "")


def _check_workflows(workflows):
    problems = []
    if not isinstance(workflows, dict):
        return ["workflows must be a mapping of workflow name to {media, vram_gb, description}"]
    for name, spec in workflows.items():
        if not isinstance(spec, dict):
            problems.append("workflow %s must be a mapping" % name)
            continue
        unknown = sorted(set(spec) - set(WORKFLOW_KEYS))
        if unknown:
            problems.append("workflow %s: unknown key%s %s (allowed: %s)" % (
                name, "" if len(unknown) == 1 else "s", ", ".join(unknown), ", ".join(WORKFLOW_KEYS)))
        if spec.get("media") not in WORKFLOW_MEDIA:
            problems.append("workflow %s: media must be one of %s, not %r" % (
                name, ", ".join(WORKFLOW_MEDIA), spec.get("media")))
        vram = spec.get("vram_gb")
        if vram is not None and (isinstance(vram, bool) or not isinstance(vram, (int, float)) or vram <= 0):
            problems.append("workflow %s: vram_gb must be a positive number, not %r" % (name, vram))
        loads = spec.get("loads", [])
        if not isinstance(loads, list):
            problems.append("workflow %s: loads must be a list of <models folder>/<file> paths" % name)
            continue
        for path in loads:
            problem = _relative_problem(path, "loads path")
            if problem is None and "/" not in path:
                problem = "loads path %r names no models folder (give e.g. clip/%s)" % (path, path)
            if problem:
                problems.append("workflow %s: %s" % (name, problem))
    return problems


def _check_entry(entry, label, workflows):
    if not isinstance(entry, dict):
        return ["%s must be a mapping" % label]
    problems = []
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        problems.append("%s: unknown key%s %s (allowed: %s)" % (
            label, "" if len(unknown) == 1 else "s", ", ".join(unknown), ", ".join(ENTRY_KEYS)))
    for key in REQUIRED_KEYS:
        if entry.get(key) in (None, ""):
            problems.append("%s: %s is missing" % (label, key))
    repo_id = entry.get("repo_id")
    if repo_id not in (None, "") and (not isinstance(repo_id, str) or not REPO_ID_RE.match(repo_id)):
        problems.append("%s: repo_id %r is not namespace/name" % (label, repo_id))
    has_path = entry.get("path") not in (None, "")
    has_patterns = entry.get("allow_patterns") not in (None, [])
    if has_path == has_patterns:
        problems.append("%s: give exactly one of path (one file) or allow_patterns (a multi-file model)" % label)
    if has_path:
        problem = _relative_problem(entry["path"], "path")
        if problem:
            problems.append("%s: %s" % (label, problem))
    if has_patterns and (not isinstance(entry["allow_patterns"], list)
                         or not all(isinstance(p, str) and p for p in entry["allow_patterns"])):
        problems.append("%s: allow_patterns must be a list of glob strings" % label)
    if has_patterns and (entry.get("sha256") or entry.get("size")):
        problems.append("%s: sha256 and size describe one file; a multi-file model (allow_patterns) takes neither"
                        % label)
    if entry.get("dest") not in (None, ""):
        problem = _relative_problem(entry["dest"], "dest")
        if problem:
            problems.append("%s: %s" % (label, problem))
    root = entry.get("root", "store")
    if root not in ROOTS:
        problems.append("%s: root must be one of %s, not %r" % (label, ", ".join(ROOTS), root))
    link = entry.get("comfyui_link")
    if link is not None:
        problem = _relative_problem(link, "comfyui_link")
        if problem:
            problems.append("%s: %s" % (label, problem))
        if root != "store" or has_patterns:
            problems.append("%s: comfyui_link is for single files in the store (root: store) only" % label)
    sha256 = entry.get("sha256")
    if sha256 is not None and (not isinstance(sha256, str) or not SHA256_RE.match(sha256)):
        problems.append("%s: sha256 %r is not 64 lowercase hex digits" % (label, sha256))
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        problems.append("%s: size must be a positive number of bytes, not %r" % (label, size))
    revision = entry.get("revision")
    if revision is not None and (not isinstance(revision, str) or not revision.strip()):
        problems.append("%s: revision must be a commit, branch or tag" % label)
    if not isinstance(entry.get("gated", False), bool):
        problems.append("%s: gated must be true or false" % label)
    media = entry.get("media")
    if media not in (None, "") and media not in MEDIA:
        problems.append("%s: media must be one of %s, not %r" % (label, ", ".join(MEDIA), media))
    used_by = entry.get("workflows", [])
    if not isinstance(used_by, list):
        problems.append("%s: workflows must be a list of workflow names" % label)
    else:
        missing = [name for name in used_by if name not in workflows]
        if missing:
            problems.append("%s: unknown workflow%s %s (declare it under workflows)" % (
                label, "" if len(missing) == 1 else "s", ", ".join(str(name) for name in missing)))
    return problems


def _overlaps(first, second):
    return is_inside(first, second) or is_inside(second, first)


def validate(manifest, extra_models=()):
    """Return the list of entries (manifest models, then extra models) or raise ManifestError."""
    if not isinstance(manifest, dict):
        raise ManifestError(["the manifest must be a mapping with the keys workflows and models"])
    problems = []
    unknown = sorted(set(manifest) - set(TOP_KEYS))
    if unknown:
        problems.append("unknown top-level key%s %s (allowed: %s)" % (
            "" if len(unknown) == 1 else "s", ", ".join(unknown), ", ".join(TOP_KEYS)))
    workflows = manifest.get("workflows") or {}
    problems.extend(_check_workflows(workflows))
    models = manifest.get("models")
    if not isinstance(models, list):
        problems.append("models must be a list of entries")
        models = []
    if not isinstance(extra_models, (list, tuple)):
        problems.append("extra models must be a list of entries")
        extra_models = []
    labelled = [(entry, _label(entry, index, "manifest")) for index, entry in enumerate(models)]
    labelled += [(entry, _label(entry, index, "extra model")) for index, entry in enumerate(extra_models)]
    names, dests, links = {}, [], {}
    for entry, label in labelled:
        entry_problems = _check_entry(entry, label, workflows if isinstance(workflows, dict) else {})
        problems.extend(entry_problems)
        if entry_problems or not isinstance(entry, dict):
            continue
        if entry["name"] in names:
            problems.append("%s: name %s is already used by %s" % (label, entry["name"], names[entry["name"]]))
        names.setdefault(entry["name"], label)
        root, dest = entry.get("root", "store"), entry["dest"].rstrip("/")
        for other_root, other_dest, other_label in dests:
            if other_root == root and _overlaps(dest, other_dest):
                problems.append("%s: dest %s/%s is also the destination of %s" % (label, root, dest, other_label)
                                if dest == other_dest else
                                "%s: dest %s/%s overlaps the destination %s/%s of %s" % (
                                    label, root, dest, other_root, other_dest, other_label))
        dests.append((root, dest, label))
        link = entry.get("comfyui_link")
        if link:
            if link in links:
                problems.append("%s: comfyui_link %s is also declared by %s" % (label, link, links[link]))
            links.setdefault(link, label)
    comfy_dests = [(dest, label) for root, dest, label in dests if root == "comfyui"]
    for link, label in links.items():
        for dest, other_label in comfy_dests:
            if _overlaps(link, dest):
                problems.append("%s: comfyui_link %s collides with the ComfyUI file %s of %s" % (
                    label, link, dest, other_label))
    if problems:
        raise ManifestError(problems)
    return [entry for entry, _label_ in labelled]


def select(manifest, entries, media=None, workflows=None, extra_names=()):
    """Entries needed by the selected workflows, plus every extra entry (always selected).

    A workflow is selected when its media is in ``media`` and, when ``workflows`` is a non-empty list,
    its name is in it. ``media=None`` means every media. Returns (selected entries, selected workflow names).
    """
    declared = manifest.get("workflows") or {}
    unknown = sorted(set(workflows or ()) - set(declared))
    if unknown:
        raise ManifestError(["model_store_workflows names unknown workflow%s %s (declared: %s)" % (
            "" if len(unknown) == 1 else "s", ", ".join(unknown), ", ".join(sorted(declared)))])
    bad_media = sorted(set(media or ()) - set(WORKFLOW_MEDIA))
    if bad_media:
        raise ManifestError(["model_store_media takes %s, not %s" % (", ".join(WORKFLOW_MEDIA), ", ".join(bad_media))])
    chosen = set(name for name, spec in declared.items()
                 if (media is None or spec["media"] in media) and (not workflows or name in workflows))
    selected = [entry for entry in entries
                if entry["name"] in extra_names or chosen.intersection(entry.get("workflows", []))]
    return selected, sorted(chosen)


def hf_files(entries):
    """The hf_model ``files`` list for entries of one root."""
    files = []
    for entry in entries:
        item = {"repo_id": entry["repo_id"], "dest": entry["dest"].rstrip("/"),
                "revision": entry.get("revision") or "main"}
        if entry.get("path"):
            item["filename"] = entry["path"]
        else:
            item["allow_patterns"] = list(entry["allow_patterns"])
        for key in ("sha256", "size"):
            if entry.get(key) is not None:
                item[key] = entry[key]
        files.append(item)
    return files


def comfyui_path(path):
    """A path below ComfyUI's models/ folder with the folder's current name (text_encoders/x is clip/x)."""
    folder, _sep, rest = path.partition("/")
    return "%s/%s" % (COMFYUI_FOLDER_ALIASES.get(folder, folder), rest)


def comfyui_files(entries):
    """{path below ComfyUI's models/ folder: entry name} for what the entries put there (links, ComfyUI files)."""
    provided = {}
    for entry in entries:
        if entry.get("comfyui_link"):
            provided[comfyui_path(entry["comfyui_link"])] = entry["name"]
        elif entry.get("root", "store") == "comfyui" and entry.get("path"):
            provided[comfyui_path(entry["dest"])] = entry["name"]
    return provided


def missing_by_workflow(manifest, entries, workflows):
    """{workflow: [files its loaders load that no entry provides]} for the given workflows; {} when complete.

    ``entries`` are what will be installed (the selection); a file counts as provided when an entry links
    it into ComfyUI's models/ folder or puts it there, since ComfyUI loads by that relative name.
    """
    declared = manifest.get("workflows") or {}
    provided = comfyui_files(entries)
    missing = {}
    for name in workflows:
        lacking = [path for path in (declared.get(name) or {}).get("loads", []) if comfyui_path(path) not in provided]
        if lacking:
            missing[name] = lacking
    return missing


def _file_state(path, size):
    """present (a regular file of the expected size, or any size when unknown), partial or missing."""
    try:
        if os.path.islink(path) or not os.path.isfile(path):
            return "missing", 0
        found = os.path.getsize(path)
    except OSError:
        return "missing", 0
    if size is None or found == size:
        return "present", found
    return "partial", found


def _folder_files(folder):
    found = []
    for directory, subdirs, files in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            found.append(os.path.relpath(os.path.join(directory, name), folder))
    return found


def plan(manifest, extra_models=(), media=None, workflows=None, store_root=None, comfyui_root=None):
    """Everything the model_store role needs, computed from the manifest and the two roots."""
    extra_models = list(extra_models or ())
    entries = validate(manifest, extra_models)
    extra_names = set(entry["name"] for entry in extra_models)
    selected, chosen = select(manifest, entries, media, workflows, extra_names)
    roots = {"store": store_root, "comfyui": comfyui_root}
    declared = manifest.get("workflows") or {}
    result = {
        "entries": len(entries), "selected": [], "workflows": chosen, "downloads": {"store": [], "comfyui": []},
        "links": {}, "links_ready": {}, "listed": {"store": [], "comfyui": []},
        "listed_prefixes": {"store": [], "comfyui": []}, "gated": [],
        "known_bytes": 0, "missing_bytes": 0, "unknown_size": [], "missing": [], "fetch": {"store": [], "comfyui": []},
        "missing_by_workflow": missing_by_workflow(manifest, selected, chosen),
        "roots_exist": bool(store_root and comfyui_root and os.path.isdir(store_root) and os.path.isdir(comfyui_root)),
        "vram_gb": max([declared[name].get("vram_gb") or 0 for name in chosen] or [0]),
        "vram_by_workflow": dict((name, declared[name].get("vram_gb")) for name in chosen),
    }
    for entry in selected:
        root = entry.get("root", "store")
        dest = entry["dest"].rstrip("/")
        result["selected"].append(entry["name"])
        result["downloads"][root].extend(hf_files([entry]))
        if entry.get("gated"):
            result["gated"].append({"name": entry["name"], "repo_id": entry["repo_id"],
                                    "licence_page": "%s/%s" % (HUB_URL, entry["repo_id"])})
        base = roots[root]
        if entry.get("path"):
            result["listed"][root].append(dest)
            size = entry.get("size")
            state, found = _file_state(os.path.join(base, dest), size) if base else ("missing", 0)
            if size is None:
                result["unknown_size"].append(entry["name"])
            else:
                result["known_bytes"] += size
                if state != "present":
                    result["missing_bytes"] += size - found
            if state != "present":
                result["missing"].append(entry["name"])
                result["fetch"][root].append(entry["name"])
        else:
            folder = os.path.join(base, dest) if base else None
            present = _folder_files(folder) if folder and os.path.isdir(folder) else []
            result["listed"][root].extend("%s/%s" % (dest, name) for name in present)
            # What a multi-file model downloads into its folder later is managed too, without planning again.
            result["listed_prefixes"][root].append(dest)
            result["unknown_size"].append(entry["name"])
            if not present:
                result["missing"].append(entry["name"])
                result["fetch"][root].append(entry["name"])
        link = entry.get("comfyui_link")
        if link:
            result["links"][link] = dest
            if base and _file_state(os.path.join(base, dest), None)[0] == "present":
                result["links_ready"][link] = dest
    return result
