"""Helpers for the model layout tests: build a tree from a small spec, snapshot it, list the ledger."""

import hashlib
import json
import os
from collections import Counter


def build(root, spec):
    """spec: {relative path: bytes/str (a file) | ("link", value) | ("dir",)}; parents are created."""
    for relative, what in sorted(spec.items()):
        path = os.path.join(str(root), relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(what, tuple) and what[0] == "link":
            os.symlink(what[1], path)
        elif isinstance(what, tuple) and what[0] == "dir":
            os.makedirs(path, exist_ok=True)
        else:
            with open(path, "wb") as handle:
                handle.write(what.encode() if isinstance(what, str) else what)


def snapshot(root):
    """{relative path: ("file", bytes) | ("link", value) | ("dir",)}, links not followed."""
    found = {}
    root = str(root)
    for current, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(current, name)
            relative = os.path.relpath(path, root)
            if os.path.islink(path):
                found[relative] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                found[relative] = ("dir",)
            else:
                with open(path, "rb") as handle:
                    found[relative] = ("file", handle.read())
    return found


def contents(*roots, ignore=("ledger.jsonl", ".ai4artsed-model-links.json")):
    """Multiset of sha256 of every regular file under the roots (links not followed)."""
    counter = Counter()
    for root in roots:
        for current, _dirs, files in os.walk(str(root)):
            for name in files:
                path = os.path.join(current, name)
                if name in ignore or os.path.islink(path):
                    continue
                with open(path, "rb") as handle:
                    counter[hashlib.sha256(handle.read()).hexdigest()] += 1
    return counter


def ledger(archive_root):
    path = os.path.join(str(archive_root), "ledger.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]
