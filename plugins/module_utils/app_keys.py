# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DevServer app's API keys where its code reads them: the key table, the vault's keys, and the plan.

Parts of the app read a key only from a file, never from the environment (backend_router.py's API output chunks:
the GPT-Image-1 output reads devserver/openai.key, the Gemini 3 Pro Image output devserver/openrouter.key), and the
ai4artsed ComfyUI node pack reads openrouter.key beside its nodes. Other parts take the environment variable first
and the file second (prompt_interception_engine.py, chat_routes.py). The settings page writes the same files.

The key table (the role's vars/main.yml) names, per vault key, its readers: where (the app's devserver/ folder,
the node pack's folder, or only the environment), which file, and the app features that need it. Everything here
is pure: the module devserver_key_files reads and writes through owned_file and safe_file.
Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

APP = "app"
NODE_PACK = "node_pack"
ENVIRONMENT = "environment"
WHERES = (APP, NODE_PACK, ENVIRONMENT)
KEY_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
PASSWORD_FILE = "settings_password.key"  # devserver_password's file, never this module's

# What a key file's state is after (or, in check mode, would be after) a run. Never the key itself.
CREATED = "created"
REPLACED = "replaced by the vault's key"
UNCHANGED = "as the vault sets it"
ATTRIBUTES = "as the vault sets it; owner, group or mode corrected"
ON_HOST = "set on the host, not from the vault"
MISSING = "missing"
NO_PACK = "skipped: the node pack is not installed"


def check_table(table):
    """The key table as a list of {key, readers: [{where, file, features}]}; ValueError naming what is wrong."""
    if not isinstance(table, list) or not table:
        raise ValueError("table must be a non-empty list of {key, readers}; got %r" % type(table).__name__)
    checked, seen_keys, seen_files = [], set(), set()
    for position, entry in enumerate(table):
        where_said = "table entry %d" % (position + 1)
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or not KEY_NAME.match(entry["key"]):
            raise ValueError("%s needs a key: an environment variable name in upper case, such as "
                             "OPENROUTER_API_KEY; got %r" % (where_said, entry))
        key = entry["key"]
        if key in seen_keys:
            raise ValueError("%s: %s is in the table twice; name each key once" % (where_said, key))
        seen_keys.add(key)
        readers = entry.get("readers")
        if not isinstance(readers, list) or not readers:
            raise ValueError("%s (%s) needs readers: a list of {where, file, features}" % (where_said, key))
        checked.append({"key": key, "readers": [check_reader(reader, key, seen_files) for reader in readers]})
    return checked


def check_reader(reader, key, seen_files):
    where = reader.get("where") if isinstance(reader, dict) else None
    if where not in WHERES:
        raise ValueError("a reader of %s needs where: one of %s; got %r" % (key, ", ".join(WHERES), reader))
    name = reader.get("file")
    if where == ENVIRONMENT:
        if name is not None:
            raise ValueError("a reader of %s reads the environment only, so it names no file; got file %r"
                             % (key, name))
    elif not isinstance(name, str) or not FILE_NAME.match(name) or name == PASSWORD_FILE:
        raise ValueError("a reader of %s in the %s folder needs file: a plain file name such as openrouter.key "
                         "(no folder, not %s, which holds the settings password); got %r"
                         % (key, where.replace("_", " "), PASSWORD_FILE, name))
    elif (where, name) in seen_files:
        raise ValueError("%s in the %s folder is named for two keys; each file holds one key"
                         % (name, where.replace("_", " ")))
    else:
        seen_files.add((where, name))
    features = reader.get("features", [])
    if not isinstance(features, list) or not all(isinstance(feature, str) and feature for feature in features):
        raise ValueError("the features of a reader of %s must be a list of names; got %r" % (key, features))
    return {"where": where, "file": name, "features": list(features)}


def check_keys(keys, table):
    """(values, unknown): the vault's keys with white space stripped, and the names the table does not know.

    ValueError, naming the key but never showing its value, for a value that is not text, is empty or holds a
    line break or another control character (the readers take the first line, or the whole file stripped).
    """
    values, known = {}, set(entry["key"] for entry in table)
    for name in sorted(keys or {}):
        value = keys[name]
        if not isinstance(value, str):
            raise ValueError("the vault's %s is a %s, not text; quote it in the vault file; nothing was changed"
                             % (name, type(value).__name__))
        value = value.strip()
        if not value:
            raise ValueError("the vault's %s is empty; set the key, or remove %s from the vault to leave it unset "
                             "(the status report then names what lacks it); nothing was changed" % (name, name))
        if any(ord(character) < 32 or ord(character) == 127 for character in value):
            raise ValueError("the vault's %s holds a line break or another control character inside; an API key is "
                             "one line: fix it in the vault; nothing was changed" % name)
        values[name] = value
    return values, sorted(name for name in values if name not in known)


def key_file(reader, app_dir, node_pack_dir):
    """The path a reader reads, or None for the environment or a node pack that is not installed."""
    folder = {APP: app_dir, NODE_PACK: node_pack_dir}.get(reader["where"])
    if folder is None or reader["file"] is None:
        return None
    return folder.rstrip("/") + "/" + reader["file"]


def wanted_text(before, value):
    """The file's text for the vault's value: the file as it is when its key (stripped, as every reader strips it)
    is already the value, else the value and a newline."""
    if before is not None and before.strip() == value:
        return before
    return value + "\n"


def state_of(before, after, changed):
    """What became of a file the vault sets (CREATED, REPLACED, UNCHANGED or ATTRIBUTES)."""
    if before is None:
        return CREATED
    if before != after:
        return REPLACED
    return ATTRIBUTES if changed else UNCHANGED


def holds_key(text):
    """Whether a file's text (None: missing) holds anything a reader could take for a key."""
    return text is not None and any(line.strip() and not line.strip().startswith(("#", "//"))
                                    for line in text.splitlines())


def features_without_key(table, values, held, app_dir, node_pack_dir):
    """The features, in the table's order, whose reader has no key: the vault does not set it and, for a file,
    the file does not hold one (held: the paths that do). The readers in a node pack that is not installed
    (node_pack_dir None) count neither way: their features lack the pack, not a key."""
    lacking = []
    for entry in table:
        if entry["key"] in values:
            continue
        for reader in entry["readers"]:
            if reader["where"] == NODE_PACK and node_pack_dir is None:
                continue
            if key_file(reader, app_dir, node_pack_dir) in held:
                continue
            lacking.extend(feature for feature in reader["features"] if feature not in lacking)
    return lacking
