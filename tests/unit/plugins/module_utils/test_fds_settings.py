"""fds_settings: wanted settings applied to an FDS tree and compared by value, as SwarmUI reads them."""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fds import Entry, Section, dump, get, parse
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fds_settings import (
    apply_settings,
    same_value,
    to_fds,
    wanted_values,
)


@pytest.mark.parametrize("wanted, fds", [
    (True, "true"),
    (False, "false"),
    (7801, "7801"),
    (0.05, "0.05"),
    ("none", "none"),
    ("", ""),
    (["owner", 1, True], [Entry("owner"), Entry("1"), Entry("true")]),
    ([], Section()),
    ({}, Section()),
    ({"Address": "http://x"}, Section([("Address", Entry("http://x"))])),
])
def test_wanted_python_values_become_fds_values(wanted, fds):
    assert to_fds(wanted) == fds


@pytest.mark.parametrize("wanted", [None, [["nested"]], [{"a": 1}]])
def test_values_fds_cannot_hold_are_refused(wanted):
    with pytest.raises(ValueError):
        to_fds(wanted)


@pytest.mark.parametrize("first, second, same", [
    ("7801", "7801", True),
    ("7801", to_fds(7801), True),
    ("0", "0.0", True),
    ("0.05", "0.050", True),
    ("7801", "7802", False),
    ("true", to_fds(True), True),
    ("True", "true", True),  # FDS's AsBool lower-cases
    ("true", "false", False),
    ("", Section(), True),  # an empty 'key:' reads as an empty string
    ([], Section(), True),  # ... and as an empty list
    ("", None, False),  # a missing key is not an empty one
    (None, None, True),
    ("Models", "models", False),
    ([Entry("owner")], [Entry("owner")], True),
    ([Entry("owner")], [Entry("owner"), Entry("guest")], False),
    ("x", [Entry("x")], False),
    ("7801", "0x1E79", False),
])
def test_values_compare_as_swarmui_reads_them(first, second, same):
    assert same_value(first, second) is same
    assert same_value(second, first) is same


def test_dotted_keys_and_nested_dicts_name_the_same_paths():
    dotted = wanted_values({"Paths.ModelRoot": "/srv", "Network.Port": 7801})
    nested = wanted_values({"Paths": {"ModelRoot": "/srv"}, "Network": {"Port": 7801}})
    assert dotted == nested == [(("Paths", "ModelRoot"), "/srv"), (("Network", "Port"), "7801")]
    assert wanted_values({0: {"type": "comfyui_api"}}) == [(("0", "type"), "comfyui_api")]


@pytest.mark.parametrize("settings, words", [
    ({"Network": 1, "Network.Port": 7801}, "more than once"),
    ({"Network.Port": 1, "Network": {"Port": 2}}, "more than once"),
    ({"Paths..ModelRoot": "x"}, "empty part"),
    ({"Paths": {"ModelRoot": None}}, "Paths.ModelRoot"),
])
def test_contradicting_or_empty_settings_are_refused_with_the_key(settings, words):
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        wanted_values(settings)


SETTINGS = """#Settings related to file paths.
Paths:
\t#Root path for model files.
\tModelRoot: Models
\tSDClipFolder: text_encoders;clip
Network:
\tPort: 7801
\tPortCanChange: true
IsInstalled: true
#the end
"""


def test_only_differing_values_change_and_everything_else_stays():
    tree = parse(SETTINGS)
    result, changes = apply_settings(tree, {"Paths.ModelRoot": "/srv/models", "Network.Port": 7801,
                                            "IsInstalled": True, "LaunchMode": "none",
                                            "Maintenance": {"CheckForUpdates": False}})
    assert changes == [
        {"key": "Paths.ModelRoot", "before": "Models", "after": "/srv/models"},
        {"key": "LaunchMode", "before": None, "after": "none"},
        {"key": "Maintenance.CheckForUpdates", "before": None, "after": "false"},
    ]
    assert tree == parse(SETTINGS)  # the tree read is not changed
    assert dump(result) == SETTINGS.replace("ModelRoot: Models", "ModelRoot: /srv/models").replace(
        "#the end\n", "LaunchMode: none\nMaintenance:\n\tCheckForUpdates: false\n#the end\n")


def test_equal_values_keep_their_text_and_report_no_change():
    tree = parse("Network:\n\tPort: 7801.0\nFlag: True\nEmpty:\n")
    result, changes = apply_settings(tree, {"Network.Port": 7801, "Flag": True, "Empty": ""})
    assert changes == [] and result == tree


def test_exclusive_replaces_the_data_and_keeps_comments_of_keys_that_stay():
    tree = parse("#backend zero\n0:\n\ttype: comfyui_selfstart\n\t#where\n\tsettings:\n\t\tStartScript: main.py\n"
                 "\t\tGPU_ID: 0\n1:\n\ttype: comfyui_api\n")
    wanted = {"0": {"type": "comfyui_api", "settings": {"Address": "http://127.0.0.1:7821"}}}
    result, changes = apply_settings(tree, wanted, exclusive=True)
    assert dump(result) == ("#backend zero\n0:\n\ttype: comfyui_api\n\t#where\n\tsettings:\n"
                            "\t\tAddress: http://127.0.0.1:7821\n")
    assert changes == [
        {"key": "0.type", "before": "comfyui_selfstart", "after": "comfyui_api"},
        {"key": "0.settings.Address", "before": None, "after": "http://127.0.0.1:7821"},
        {"key": "0.settings.StartScript", "before": "main.py", "after": None},
        {"key": "0.settings.GPU_ID", "before": "0", "after": None},
        {"key": "1.type", "before": "comfyui_api", "after": None},
    ]


def test_exclusive_with_equal_values_in_another_order_changes_nothing():
    tree = parse("0:\n\tenabled: true\n\ttitle: \\x\n\ttype: comfyui_api\n\tsettings:\n")
    wanted = {"0": {"type": "comfyui_api", "title": "", "enabled": True, "settings": {}}}
    result, changes = apply_settings(tree, wanted, exclusive=True)
    assert changes == []


def test_filling_an_empty_section_reports_its_keys_only():
    result, changes = apply_settings(parse("Paths:\nTop: 1\n"), {"Paths.ModelRoot": "/srv"})
    assert changes == [{"key": "Paths.ModelRoot", "before": None, "after": "/srv"}]
    assert get(result, "Paths.ModelRoot").value == "/srv"


def test_a_value_in_the_way_of_a_wanted_section_is_replaced_and_reported():
    result, changes = apply_settings(parse("Paths: Models\n"), {"Paths.ModelRoot": "/srv"})
    assert changes == [{"key": "Paths.ModelRoot", "before": None, "after": "/srv"},
                       {"key": "Paths", "before": "Models", "after": None}]
    assert dump(result) == "Paths:\n\tModelRoot: /srv\n"
