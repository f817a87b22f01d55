# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The disk space the Ollama models still to pull need: the ollama role's preflight.

Pure helpers with no Ansible imports: the ollama_pull_space filter calls them, unit tests call them directly.
A model counts as present when its manifest is on disk (``<OLLAMA_MODELS>/manifests/<host>/<namespace>/<model>/<tag>``,
one ``find`` on the host, no request to Ollama, which may not run yet); names are compared as Ollama compares them
(case-insensitive, ``library`` and ``latest`` filled in). A missing model counts with its download size from a table
of published sizes; one the table lacks counts with a stated default and is named, so the run can say so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath

from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.ollama_names import (
    InvalidModelName, parse_name, short_name)

GB = 1000 ** 3
# What a model the table of download sizes lacks counts as, unless the caller says otherwise.
DEFAULT_UNLISTED_BYTES = 10 * GB


def _whole_bytes(value, what):
    """value as a count of bytes (an int >= 0), or a sentence saying what is wrong with it."""
    if isinstance(value, bool):
        return None, "%s must be a number of bytes, got %r." % (what, value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None, "%s must be a number of bytes, got %r." % (what, value)
    if number < 0 or number != float(value):
        return None, "%s must be a whole number of bytes, 0 or more, got %r." % (what, value)
    return number, None


def manifest_keys(paths, manifests_dir):
    """The models whose manifests are at ``paths`` (files below ``manifests_dir``), as lower-case
    (host, namespace, model, tag) tuples. Paths of any other depth (a stray file) are left out."""
    root = posixpath.normpath(manifests_dir or "/")
    keys = set()
    for path in paths or []:
        relative = posixpath.relpath(posixpath.normpath(path), root) if path.startswith("/") else path
        parts = relative.split("/")
        if len(parts) == 4 and all(parts) and ".." not in parts:
            keys.add(tuple(part.lower() for part in parts))
    return keys


def pull_space(models, sizes, present=(), manifests_dir="/", unlisted_bytes=DEFAULT_UNLISTED_BYTES, margin_bytes=0,
               fixed_bytes=None):
    """What the models of ``models`` not yet on disk need, and whether the preflight must check it.

    ``sizes``: {model name: download bytes} (names in any spelling Ollama accepts). ``present``: the manifest files
    found below ``manifests_dir``. ``fixed_bytes``: an operator's figure that replaces the computed need (0: no check).
    Returns a dict: ``missing`` (one {name, bytes, human, listed} per model still to pull, in the given order, each
    model once), ``present`` (names), ``unlisted`` (missing models the table lacks), ``models_bytes``,
    ``margin_bytes``, ``required_bytes`` and their ``*_human`` forms, ``summary`` ("gpt-oss:20b 13.8 GB, ..."),
    ``check`` (whether a free-space check is due: something is missing and ``required_bytes`` > 0) and ``errors``
    (one sentence per invalid input; with errors nothing else is to be trusted).
    """
    errors = []
    table = {}
    for name, size in (sizes or {}).items():
        number, problem = _whole_bytes(size, "The download size of %s" % name)
        try:
            key = parse_name(name)
        except InvalidModelName as error:
            errors.append("The table of download sizes has an invalid name: %s" % error)
            continue
        if problem:
            errors.append(problem)
            continue
        table[key] = number
    unlisted_bytes, problem = _whole_bytes(unlisted_bytes, "The size an unlisted model counts as (__ollama_unlisted_model_bytes)")
    errors += [problem] if problem else []
    margin_bytes, problem = _whole_bytes(margin_bytes, "The margin (ollama_free_margin_gb)")
    errors += [problem] if problem else []
    if fixed_bytes is not None:
        fixed_bytes, problem = _whole_bytes(fixed_bytes, "The fixed figure (ollama_min_free_gb)")
        errors += [problem] if problem else []
    if isinstance(models, str) or not isinstance(models, (list, tuple)):
        errors.append("ollama_models must be a list of model names, got %r." % (models,))
        models = []

    on_disk = manifest_keys(present, manifests_dir)
    missing, present_names, seen = [], [], set()
    for text in models:
        try:
            name = parse_name(text)
        except (InvalidModelName, TypeError) as error:
            errors.append("ollama_models: %s" % error)
            continue
        if name in seen:
            continue
        seen.add(name)
        if tuple(name) in on_disk:
            present_names.append(short_name(name))
            continue
        listed = name in table
        size = table[name] if listed else unlisted_bytes
        missing.append({"name": short_name(name), "bytes": size, "human": human_bytes(size or 0), "listed": listed})

    models_bytes = sum(entry["bytes"] or 0 for entry in missing)
    computed = models_bytes + (margin_bytes or 0) if missing else 0
    required = computed if fixed_bytes is None else fixed_bytes
    return {
        "missing": missing,
        "present": present_names,
        "unlisted": [entry["name"] for entry in missing if not entry["listed"]],
        "models_bytes": models_bytes,
        "models_human": human_bytes(models_bytes),
        "margin_bytes": margin_bytes or 0,
        "margin_human": human_bytes(margin_bytes or 0),
        "required_bytes": required or 0,
        "required_human": human_bytes(required or 0),
        "fixed": fixed_bytes is not None,
        "summary": ", ".join("%s %s" % (entry["name"], entry["human"]) for entry in missing),
        "check": bool(missing) and bool(required) and not errors,
        "errors": errors,
    }
