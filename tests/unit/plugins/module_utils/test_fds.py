"""fds: SwarmUI's Frenetic Data Syntax, rule by rule as FreneticUtilities' FDSParser and FDSSection implement it."""

from pathlib import Path

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fds import (
    Entry,
    FDSError,
    Section,
    dump,
    escape,
    escape_key,
    get,
    parse,
    set_value,
    unescape,
    unescape_key,
)

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "swarmui"


def values(section):
    """The tree without comments, as plain data: what SwarmUI would load."""
    def plain(value):
        if isinstance(value, Section):
            return dict((key, plain(entry.value)) for key, entry in value.entries.items())
        if isinstance(value, list):
            return [plain(item.value) for item in value]
        return value
    return plain(section)


# Sections by indentation

@pytest.mark.parametrize("text", [
    "Paths:\n    ModelRoot: Models\n    Sub:\n        X: 1\nTop: y\n",  # 4 spaces
    "Paths:\n\tModelRoot: Models\n\tSub:\n\t\tX: 1\nTop: y\n",  # tabs, as SwarmUI writes
    "Paths:\n  ModelRoot: Models\n  Sub:\n     X: 1\nTop: y\n",  # any deeper indentation opens a section
    "Paths:\n\tModelRoot: Models\n    Sub:\n\t    X: 1\nTop: y\n",  # a tab counts as 4 spaces
])
def test_nested_sections_are_any_deeper_indentation(text):
    assert values(parse(text)) == {"Paths": {"ModelRoot": "Models", "Sub": {"X": "1"}}, "Top": "y"}


def test_crlf_and_cr_line_ends_read_like_lf():
    text = "A: 1\nB:\n\tC: 2\n"
    assert parse(text.replace("\n", "\r\n")) == parse(text) == parse(text.replace("\n", "\r"))


@pytest.mark.parametrize("text", ["A:\nB: 1\n", "B: 1\nA:\n", "A:\n# a comment, then\nB: 1\n"])
def test_a_key_with_nothing_below_is_an_empty_section(text):
    assert get(parse(text), "A").value == Section()


def test_value_text_is_trimmed_and_keeps_inner_colons():
    tree = parse("Address:    http://127.0.0.1:7821   \nAuthBypassIPs: 127.0.0.1,::1\n")
    assert values(tree) == {"Address": "http://127.0.0.1:7821", "AuthBypassIPs": "127.0.0.1,::1"}


def test_binary_values_are_base64_after_equals():
    tree = parse("Blob= aGVsbG8=\nList:\n= d29ybGQ=\n")
    assert values(tree) == {"Blob": b"hello", "List": [b"world"]}
    assert parse(dump(tree)) == tree


# Escapes

@pytest.mark.parametrize("value, written", [
    ("", "\\x"),
    ("a\\b", "a\\sb"),
    ("tab\there", "tab\\there"),
    ("two\nlines", "two\\nlines"),
    ("cr\rhere", "cr\\rhere"),
    ("trailing ", "trailing \\x"),
    (" leading", "\\x leading"),
    ("C:\\new", "C:\\snew"),  # the backslash is escaped first, so \n in the text stays two characters
    ("a\\xb", "a\\sxb"),  # and read back last, so a literal \x is not taken for "nothing"
    ("plain text; with: punctuation", "plain text; with: punctuation"),
])
def test_value_escapes(value, written):
    assert escape(value) == written
    assert unescape(written) == value
    assert get(parse("K: %s\n" % written), "K").value == value


@pytest.mark.parametrize("key, written", [
    ("a.b", "a\\db"),
    ("a:b", "a\\cb"),
    ("a=b", "a\\eb"),
    ("-dash", "\\x-dash"),
    (">arrow", "\\x>arrow"),
    ("", "\\x"),
    ("0", "0"),
])
def test_key_escapes(key, written):
    assert escape_key(key) == written
    assert unescape_key(written) == key
    assert list(parse("%s: v\n" % written).entries) == [key]


def test_a_key_that_would_read_as_a_comment_is_refused():
    with pytest.raises(ValueError, match="comment"):
        dump(Section([("#x", Entry("v"))]))


# Lists

def test_list_items_sit_at_their_keys_indentation():
    text = "DefaultUser:\n\tRoles:\n\t- owner\n\t# second\n\t- guest\n\tTheme: modern_dark\n"
    tree = parse(text)
    assert values(tree) == {"DefaultUser": {"Roles": ["owner", "guest"], "Theme": "modern_dark"}}
    assert get(tree, "DefaultUser.Roles").value[1].comments == [" second"]
    assert dump(tree) == text


def test_list_items_are_read_raw_as_fds_does_not_unescape_them():
    assert values(parse("L:\n- a\\sb\n- \\x\n-\n")) == {"L": ["a\\sb", "\\x", ""]}


@pytest.mark.parametrize("item", [" lead", "trail ", "tab\tin", "new\nline"])
def test_list_items_fds_cannot_read_back_are_refused(item):
    with pytest.raises(ValueError, match="list item"):
        dump(Section([("L", Entry([Entry(item)]))]))


def test_comments_after_a_list_belong_to_the_next_key():
    tree = parse("L:\n- a\n# about B\nB: 1\n")
    assert values(tree) == {"L": ["a"], "B": "1"}
    assert get(tree, "B").comments == [" about B"]


# Comments

def test_comments_belong_to_the_following_entry_and_trailing_ones_to_the_root():
    text = "#first\nA: 1\nS:\n\t#nested\n\tX: 2\n\t#after the nested section\nB: 3\n#the end\n# really\n"
    tree = parse(text)
    assert get(tree, "A").comments == ["first"]
    assert get(tree, "S.X").comments == ["nested"]
    assert get(tree, "B").comments == ["after the nested section"]
    assert tree.post_comments == ["the end", " really"]
    assert dump(tree) == text.replace("\t#after the nested section", "#after the nested section")


def test_comments_at_the_end_of_a_nested_section_become_post_comments():
    tree = parse("S:\n\tX: 2\n\t#last\n")
    assert get(tree, "S.X").comments == [] and tree.post_comments == ["last"]


# Round trips, in SwarmUI's layout

@pytest.mark.parametrize("name", ["Settings.fds", "Backends-comfyui_api.fds", "Backends-comfyui_selfstart.fds"])
def test_swarmui_written_files_round_trip_to_the_same_text(name):
    text = (FIXTURES / name).read_text(encoding="utf-8")
    tree = parse(text)
    assert dump(tree) == text
    assert parse(dump(tree)) == tree


def test_swarmui_settings_fixture_reads_as_swarmui_defaults():
    tree = parse((FIXTURES / "Settings.fds").read_text(encoding="utf-8"))
    assert get(tree, "Paths.ModelRoot").value == "Models"
    assert get(tree, "Paths.SDClipFolder").value == "text_encoders;clip"
    assert get(tree, "Network.Port").value == "7801"
    assert get(tree, "Network.ExternalURL").value == ""
    assert [item.value for item in get(tree, "DefaultUser.Roles").value] == ["owner"]
    assert get(tree, "LaunchMode").comments[0] == "How to launch the UI. If 'none', just quietly launch."


def test_spaces_indentation_is_written_back_with_tabs():
    tree = parse("A:\n    B:\n        C: x y\n")
    assert dump(tree) == "A:\n\tB:\n\t\tC: x y\n"
    assert parse(dump(tree)) == tree


def test_built_tree_round_trips():
    tree = Section([
        ("Odd.Key: =", Entry("  spaced\tvalue\\ \n", ["c1"])),
        ("0", Entry(Section([("type", Entry("comfyui_api")), ("settings", Entry(Section()))]))),
        ("Empty", Entry("")),
        ("Roles", Entry([Entry("owner", ["who"]), Entry(b"\x00\x01")])),
    ], post_comments=["end"])
    assert parse(dump(tree)) == tree


# Paths

def test_get_and_set_by_dotted_path_keep_comments_and_create_sections():
    tree = parse("#the root\nPaths:\n\t#where models are\n\tModelRoot: Models\nPort: 1\n")
    set_value(tree, "Paths.ModelRoot", "/srv/models")
    set_value(tree, "Network.Port", "7801")
    set_value(tree, ("0", "settings", "Address"), "http://127.0.0.1:7821")
    set_value(tree, "Port.Sub", "x")  # a value in the way of a section is replaced
    assert get(tree, "Paths.ModelRoot") == Entry("/srv/models", ["where models are"])
    assert values(tree) == {"Paths": {"ModelRoot": "/srv/models"}, "Port": {"Sub": "x"},
                            "Network": {"Port": "7801"}, "0": {"settings": {"Address": "http://127.0.0.1:7821"}}}
    assert get(tree, "Missing.Key") is None and get(tree, "Paths.ModelRoot.Deeper") is None


# Errors name the line

@pytest.mark.parametrize("text, line_number, words", [
    ("A: 1\njust text\n", 2, "missing ':'"),
    ("A: 1\n- item\n", 2, "without a 'key:'"),
    ("A: 1\n: value\n", 2, "empty key"),
    ("A: 1\n    B: 2\n", 2, "indentation grew"),
    ("A:\n\tB: 1\n  C: 2\n", 3, "indentation grew"),  # shallower than B, deeper than A: mixed tabs and spaces
    ("A:\n- a\n    - b\n", 3, "indentation grew"),
    ("A:\n> B: 1\n", 2, "complex list"),
    ("A= not base64!\n", 1, "base64"),
    ("A=\n", 1, "binary data on the same line"),
])
def test_errors_name_the_line(text, line_number, words):
    with pytest.raises(FDSError) as error:
        parse(text)
    assert error.value.line_number == line_number
    assert words in str(error.value)
    assert str(error.value).startswith("line %d: " % line_number)
    assert str(error.value).endswith(text.split("\n")[line_number - 1].strip())
