# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What model_links plans and what it leaves behind: the Plan, and the record of managed links.

A Plan is an ordered list of actions (layout.plan_links builds it, layout.apply_plan carries it
out) plus what the module reports about it: counts, changes and a diff. The record of managed
links lives beside the layout, in <link_root>/.ai4artsed-model-links.json:

    {"version": 1, "store_root": "/abs/Models", "links": {"vae/x.safetensors": "vae/QwenImage/x.safetensors"},
     "verified": {...}}

"verified" is the re-check cache (layout_cache.py). Standard library only: this runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import is_inside, write_json_atomically
from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import read_text

RECORD_NAME = ".ai4artsed-model-links.json"
RECORD_VERSION = 1
ON_CONFLICT = ("fail", "archive")
# Where the operator sets on_conflict when the model_store role runs this module.
ON_CONFLICT_HINT = "set on_conflict: archive (model_store_on_conflict: archive in the model_store role)"
VERIFY = ("fast", "full")


class LayoutError(Exception):
    """The declared layout cannot be reached safely; nothing was changed."""


class Plan(object):
    """The actions, the problems found while planning, and the counts a module reports."""

    def __init__(self, link_root, store_root, archive_root):
        self.link_root = link_root
        self.store_root = store_root
        self.archive_root = archive_root
        self.actions = []
        self.errors = []
        self.unchanged = 0
        self.record = None
        self.verified = "full"  # "fast" when the re-check cache was trusted
        self.verification = None  # the cache a no-op full check can leave for the next run

    @property
    def changed(self):
        return bool(self.actions)

    def counts(self):
        counts = {"linked": 0, "relinked": 0, "unlinked": 0, "expanded": 0, "archived": 0,
                  "directories": 0, "moved": 0, "unchanged": self.unchanged}
        names = {"link": "linked", "relink": "relinked", "unlink": "unlinked", "expand": "expanded",
                 "archive": "archived", "mkdir": "directories", "move_in": "moved"}
        for action in self.actions:
            if action["action"] in names:
                counts[names[action["action"]]] += 1
            if action["action"] == "expand":
                counts["moved"] += len([1 for kind, _rel, _value in action["entries"] if kind == "move"])
        return counts

    def changes(self):
        """The actions as the module returns them: paths relative to the link root."""
        shown = []
        for action in self.actions:
            item = dict((key, value) for key, value in action.items() if key not in ("entries", "sha256"))
            if "path" in item:
                item["path"] = os.path.relpath(item["path"], self.link_root)
            if action["action"] == "expand":
                item["links"] = len([1 for kind, _rel, _value in action["entries"] if kind == "link"])
                item["moved"] = [rel for kind, rel, _value in action["entries"] if kind == "move"]
            shown.append(item)
        return shown

    def diff(self):
        before, after = [], []
        for action in self.actions:
            kind = action["action"]
            name = os.path.relpath(action["path"], self.link_root) if "path" in action else RECORD_NAME
            if kind == "link":
                before.append("%s: absent" % name)
                after.append("%s -> %s" % (name, action["after"]))
            elif kind == "relink":
                before.append("%s -> %s" % (name, action["before"]))
                after.append("%s -> %s" % (name, action["after"]))
            elif kind == "unlink":
                before.append("%s -> %s" % (name, action["before"]))
                after.append("%s: absent" % name)
            elif kind == "expand":
                before.append("%s -> %s (directory symlink)" % (name, action["before"]))
                after.append("%s/ (real directory)" % name)
                for entry_kind, rel, value in action["entries"]:
                    if entry_kind == "link":
                        after.append("%s -> %s" % (os.path.join(name, rel), value))
                    elif entry_kind == "move":
                        after.append("%s (real file, moved from %s)" % (os.path.join(name, rel), value))
            elif kind == "move_in":
                before.append("%s -> %s" % (name, action["before"]))
                after.append("%s (real file, moved from %s)" % (name, action["source"]))
            elif kind == "archive":
                before.append("%s: %s" % (name, action["before"]))
                after.append("%s: moved to the archive (%s)" % (name, action["reason"]))
            elif kind == "mkdir":
                before.append("%s/: absent" % name)
                after.append("%s/ (real directory)" % name)
            elif kind == "record":
                before.append("%s: %d managed links" % (name, len(action["before"])))
                after.append("%s: %d managed links" % (name, len(action["after"])))
        return {"before_header": self.link_root, "after_header": self.link_root,
                "before": "\n".join(before) + ("\n" if before else ""),
                "after": "\n".join(after) + ("\n" if after else "")}


def clean_relative(value, root):
    """A normalised path relative to root, or None when it is empty, escapes root or is odd."""
    if not isinstance(value, str) or not value.strip():
        return None
    if value[0] != "/" and value[-1] != "/" and "//" not in value:
        parts = value.split("/")
        if "." not in parts and ".." not in parts:
            return value  # already clean: the common case, without normpath/relpath per link
    path = value if os.path.isabs(value) else os.path.join(root, value)
    path = os.path.normpath(path)
    if not is_inside(path, root) or path == os.path.normpath(root):
        return None
    return os.path.relpath(path, root)


def read_record(link_root):
    path = os.path.join(link_root, RECORD_NAME)
    if not os.path.lexists(path):
        return None
    try:
        record = json.loads(read_text(path, "the record of managed links"))
        if not isinstance(record.get("links"), dict):
            raise ValueError("no links")
    except (ValueError, AttributeError, RecursionError) as error:  # UnsafeFile (a FIFO, a symlink) is a ValueError
        raise LayoutError(
            "The record of managed links %s cannot be read (%s). Move it aside and run again: links"
            " it listed are then treated as unmanaged and left alone." % (path, error)
        )
    return record


def write_record(link_root, record):
    write_json_atomically(os.path.join(link_root, RECORD_NAME), record, indent=1)
