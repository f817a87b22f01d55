# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DevServer app's devserver/user_settings.json: the inventory's settings merged into what a teacher set.

The app's settings page (POST /api/settings/) rewrites the whole file with every key, as
json.dump(data, f, indent=2); at start reload_user_settings() applies each top-level key that exists
in the app's config.py. So the file is one JSON object of top-level keys. The inventory wins for the
keys it names; every other key keeps the file's value. Values compare as JSON: true is not 1 and 1
is not 1.0 (Python's == says both are equal), a nested object's key order does not matter.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
from collections import OrderedDict

FIX = "fix it or move it aside (the app then starts from its own defaults) and run again; nothing was changed"


def parse_settings(text, path):
    """The file's settings as an OrderedDict (the file's key order), or ValueError saying what is wrong."""
    if not text.strip():
        raise ValueError("%s is empty, not a JSON object of settings; %s" % (path, FIX))
    try:
        data = json.loads(text, object_pairs_hook=OrderedDict, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("%s is nested too deeply to be the app's settings; %s" % (path, FIX))
    except ValueError as error:
        raise ValueError("%s is not valid JSON (%s); %s" % (path, error, FIX))
    if not isinstance(data, dict):
        raise ValueError("%s holds a JSON %s, not an object of settings; %s" % (path, json_type(data), FIX))
    return data


def _refuse_constant(name):
    raise ValueError("%s is not a JSON number" % name)


def _finite(text):
    number = float(text)
    if math.isinf(number):
        raise ValueError("the number %s is too large for a float" % text)
    return number


def check_wanted(wanted):
    """ValueError when a wanted value cannot be written as the app's JSON: no key or text that is not valid
    Unicode (a lone surrogate, which json.dumps would write as an escape the app then cannot encode), no number
    that is not finite (json.dumps would write Infinity, which is not JSON)."""
    try:
        json.dumps(wanted, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, TypeError) as error:  # UnicodeEncodeError is a ValueError
        raise ValueError("settings cannot be written as the app's JSON (%s): give finite numbers and valid text; "
                         "nothing was changed" % error)


def json_type(value):
    """The JSON name of a parsed value's type, for messages."""
    for kind, name in ((bool, "boolean"), (list, "array"), (str, "string"), (dict, "object")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else "number"


def same_json(first, second):
    """Whether two values are the same JSON value (type-strict; object key order ignored)."""
    return json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def merge_settings(current, wanted):
    """(merged, set_keys, kept_keys): wanted applied over current.

    merged keeps current's key order and appends wanted's new keys in their order; a key whose value
    is already the same JSON keeps the file's value as it is. set_keys: the keys whose value changes
    (new ones included); kept_keys: the file's keys that wanted does not name.
    """
    merged = OrderedDict(current)
    set_keys = []
    for key, value in wanted.items():
        if key in current and same_json(current[key], value):
            continue
        merged[key] = value
        set_keys.append(key)
    kept_keys = [key for key in current if key not in wanted]
    return merged, set_keys, kept_keys


def dump_settings(settings):
    """The file's text as the app writes it: json.dump(data, f, indent=2), no final newline."""
    return json.dumps(settings, indent=2)
