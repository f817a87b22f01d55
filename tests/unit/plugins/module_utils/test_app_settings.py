"""app_settings: the inventory's settings merged into the DevServer app's user_settings.json."""

import json
from collections import OrderedDict

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.app_settings import (
    dump_settings,
    merge_settings,
    parse_settings,
    same_json,
)

# What the app's settings page leaves behind: every key, json.dump(data, f, indent=2).
TEACHER_FILE = json.dumps({"UI_MODE": "kids", "STAGE1_TEXT_MODEL": "local/llama3.2", "DSGVO_CONFORMITY": False,
                           "STAGE3_MODEL": "local/llama3.2"}, indent=2)


@pytest.mark.parametrize("value, other, same", [
    ("local/mistral-nemo", "local/mistral-nemo", True),
    ("local/mistral-nemo", "local/llama3.2", False),
    (True, True, True),
    (True, 1, False),  # Python's True == 1; the app's config would get an int instead of a bool
    (False, 0, False),
    (1, 1.0, False),
    ("1", 1, False),
    (None, None, True),
    (None, "", False),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
    ([1, 2], [2, 1], False),
])
def test_values_compare_as_json_type_strict(value, other, same):
    assert same_json(value, other) is same
    assert same_json(other, value) is same


@pytest.mark.parametrize("current, wanted, merged, set_keys, kept_keys", [
    # a fresh file: everything the inventory names is set
    ({}, {"STAGE1_TEXT_MODEL": "local/a", "DSGVO_CONFORMITY": True},
     [("STAGE1_TEXT_MODEL", "local/a"), ("DSGVO_CONFORMITY", True)], ["STAGE1_TEXT_MODEL", "DSGVO_CONFORMITY"], []),
    # the inventory wins for its keys, the teacher's other keys stay, in the file's order
    ({"UI_MODE": "kids", "STAGE1_TEXT_MODEL": "local/b"}, {"STAGE1_TEXT_MODEL": "local/a"},
     [("UI_MODE", "kids"), ("STAGE1_TEXT_MODEL", "local/a")], ["STAGE1_TEXT_MODEL"], ["UI_MODE"]),
    # new keys are appended after the file's keys
    ({"UI_MODE": "kids"}, {"STAGE3_MODEL": "local/c", "CODING_MODEL": "local/d"},
     [("UI_MODE", "kids"), ("STAGE3_MODEL", "local/c"), ("CODING_MODEL", "local/d")],
     ["STAGE3_MODEL", "CODING_MODEL"], ["UI_MODE"]),
    # the second run: nothing to set
    ({"UI_MODE": "kids", "STAGE1_TEXT_MODEL": "local/a"}, {"STAGE1_TEXT_MODEL": "local/a"},
     [("UI_MODE", "kids"), ("STAGE1_TEXT_MODEL", "local/a")], [], ["UI_MODE"]),
    # a bool where the file has 1 is a change; an equal object in another key order is not
    ({"DSGVO_CONFORMITY": 1, "X": {"a": 1, "b": 2}}, {"DSGVO_CONFORMITY": True, "X": {"b": 2, "a": 1}},
     [("DSGVO_CONFORMITY", True), ("X", {"a": 1, "b": 2})], ["DSGVO_CONFORMITY"], []),
    # null is a value like any other
    ({"LMSTUDIO_API_BASE_URL": "http://x"}, {"LMSTUDIO_API_BASE_URL": None},
     [("LMSTUDIO_API_BASE_URL", None)], ["LMSTUDIO_API_BASE_URL"], []),
], ids=["fresh", "inventory wins", "appended", "second run", "type-strict", "null"])
def test_merge(current, wanted, merged, set_keys, kept_keys):
    result, changed_keys, kept = merge_settings(OrderedDict(current), wanted)
    assert list(result.items()) == merged
    assert changed_keys == set_keys and kept == kept_keys


def test_a_merge_changes_neither_input():
    current, wanted = OrderedDict([("UI_MODE", "kids")]), {"UI_MODE": "youth"}
    merge_settings(current, wanted)
    assert current == {"UI_MODE": "kids"} and wanted == {"UI_MODE": "youth"}


def test_the_file_reads_in_its_own_key_order_and_is_written_as_the_app_writes_it():
    settings = parse_settings(TEACHER_FILE, "user_settings.json")
    assert list(settings) == ["UI_MODE", "STAGE1_TEXT_MODEL", "DSGVO_CONFORMITY", "STAGE3_MODEL"]
    assert dump_settings(settings) == TEACHER_FILE  # byte for byte: two-space indent, no final newline
    assert dump_settings({"X": "Größe"}) == json.dumps({"X": "Größe"}, indent=2)  # ASCII escapes, as json.dump


@pytest.mark.parametrize("text, problem", [
    ("", "is empty"),
    ("  \n", "is empty"),
    ('{"UI_MODE": "kids",\n  "STAGE1_TEXT_MODEL": "local/a"', "is not valid JSON (Expecting"),  # half-written
    ("[1, 2]", "holds a JSON array, not an object of settings"),
    ("null", "holds a JSON null, not an object"),
    ('"kids"', "holds a JSON string, not an object"),
    ("7", "holds a JSON number, not an object"),
    ("true", "holds a JSON boolean, not an object"),
])
def test_a_file_that_is_not_an_object_of_settings_is_refused_naming_file_problem_and_remedy(text, problem):
    with pytest.raises(ValueError) as error:
        parse_settings(text, "/srv/devserver/user_settings.json")
    message = str(error.value)
    assert message.startswith("/srv/devserver/user_settings.json ") and problem in message
    assert "fix it or move it aside" in message and "nothing was changed" in message
