# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wanted settings applied to an FDS tree (module_utils/fds) and compared by value, as SwarmUI reads them.

SwarmUI rewrites Data/Settings.fds at every start (all keys, its own comments and order), so comparing text
would never settle. Here values compare as SwarmUI reads them: 7801 equals "7801", true equals "True", an
empty section equals "" and an empty list. Only values that differ are set; everything else stays as it is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import math
import re
from collections import OrderedDict

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fds import Entry, Section, get, set_value, split_path

DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def to_fds(value):
    """A wanted Python value as an FDS value: bool true/false, numbers as text, list of scalars, dict a section."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("%r is not a number SwarmUI can read" % value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        items = [Entry(to_fds(item)) for item in value]
        if any(not isinstance(item.value, str) for item in items):
            raise ValueError("a list may only hold text, numbers and booleans")
        return items or Section()  # FDS writes an empty list as an empty section
    if isinstance(value, dict):
        return Section((str(key), Entry(to_fds(item))) for key, item in value.items())
    raise ValueError("FDS has no value for %r (use '' for an empty string)" % (value,))


def wanted_values(settings, prefix=()):
    """(path tuple, FDS value) per wanted value; dotted keys and nested dicts both name a path."""
    values = []
    for key, value in settings.items():
        path = prefix + split_path(str(key))
        if "" in path:
            raise ValueError("settings key %r has an empty part" % ".".join(path))
        if isinstance(value, dict) and value:
            values += wanted_values(value, path)
            continue
        try:
            values.append((path, to_fds(value)))
        except ValueError as error:
            raise ValueError("settings key %s: %s" % (".".join(path), error))
    paths = [pair[0] for pair in values]
    for path in paths:
        if any(other[:len(path)] == path and other != path for other in paths) or paths.count(path) > 1:
            raise ValueError("settings name %s more than once (as a value and as a section, or twice)"
                             % ".".join(path))
    return values


def leaves(section, prefix=()):
    """(path tuple, value) of every value that is not a non-empty section, in file order."""
    for key, entry in section.entries.items():
        if isinstance(entry.value, Section) and entry.value.entries:
            yield from leaves(entry.value, prefix + (key,))
        else:
            yield prefix + (key,), entry.value


def to_plain(value):
    """A value as plain data for a report: text, base64 text, list, dict (None stays None)."""
    if isinstance(value, Section):
        return OrderedDict((key, to_plain(entry.value)) for key, entry in value.entries.items())
    if isinstance(value, list):
        return [to_plain(item.value) for item in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _same_text(a, b):
    if a == b:
        return True
    if DECIMAL.match(a) and DECIMAL.match(b):
        return float(a) == float(b)
    return a.lower() in ("true", "false") and a.lower() == b.lower()  # FDS's AsBool lower-cases


def same_value(a, b):
    """Whether SwarmUI reads two FDS values alike (None: no value at all)."""
    a, b = ("" if isinstance(v, Section) and not v.entries else v for v in (a, b))
    if a is None or b is None or type(a) is not type(b):
        return a is b or (a in ("", []) and b in ("", []))
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x.value, y.value) for x, y in zip(a, b))
    if isinstance(a, str):
        return _same_text(a, b)
    return a == b


def _carry_comments(old, new):
    for key, entry in new.entries.items():
        before = old.entries.get(key)
        if before is not None:
            entry.comments = list(before.comments)
            if isinstance(entry.value, Section) and isinstance(before.value, Section):
                _carry_comments(before.value, entry.value)


def apply_settings(root, settings, exclusive=False):
    """A new tree with the wanted settings (root is not changed), and the changes.

    A value equal to the wanted one keeps its text. exclusive: the data becomes exactly the settings, keeping
    the comments of keys that stay. ValueError for settings FDS cannot hold.
    """
    wanted = wanted_values(settings)
    result = Section(post_comments=root.post_comments) if exclusive else copy.deepcopy(root)
    for path, value in wanted:
        current = get(root, path)
        if current is not None and same_value(current.value, value):
            if exclusive:
                set_value(result, path, copy.deepcopy(current.value))
        else:
            set_value(result, path, value)
    if exclusive:
        _carry_comments(root, result)
    return result, changes(root, result)


def changes(before, after):
    """[{key, before, after}] for each value that differs (None: no such key), the new tree's order first."""
    old, new = OrderedDict(leaves(before)), OrderedDict(leaves(after))
    rows = []
    for path in list(new) + [path for path in old if path not in new]:
        was, now = old.get(path), new.get(path)
        if same_value(was, now) or _empty_section_filled(path, was, now, old, new):
            continue
        rows.append({"key": ".".join(path), "before": to_plain(was), "after": to_plain(now)})
    return rows


def _empty_section_filled(path, was, now, old, new):
    """An empty section that got keys (or lost them all): its keys are the changes, not the section."""
    def below(paths):
        return any(other[:len(path)] == path and len(other) > len(path) for other in paths)
    return (was is None and now == Section() and below(old)) or (now is None and was == Section() and below(new))
