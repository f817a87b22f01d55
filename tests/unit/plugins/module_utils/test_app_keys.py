"""app_keys: the key table, the vault's keys and which features lack a key, as pure functions."""

from pathlib import Path

import pytest
import yaml

from ansible_collections.ai4artsed.devserver.plugins.module_utils import app_keys

ROLE_TABLE = yaml.safe_load((Path(__file__).resolve().parents[4] / "roles" / "devserver" / "vars" / "main.yml")
                            .read_text())["__devserver_api_key_table"]
TABLE = app_keys.check_table([
    {"key": "OPENROUTER_API_KEY", "readers": [
        {"where": "app", "file": "openrouter.key", "features": ["Gemini", "chat"]},
        {"where": "node_pack", "file": "openrouter.key", "features": ["legacy"]}]},
    {"key": "OPENAI_API_KEY", "readers": [{"where": "app", "file": "openai.key", "features": ["GPT-Image-1", "chat"]}]},
    {"key": "AWS_ACCESS_KEY_ID", "readers": [{"where": "environment", "features": ["Bedrock"]}]},
])
APP, PACK = "/app/devserver", "/comfy/custom_nodes/pack"


def test_the_roles_table_is_valid_and_names_each_key_once():
    table = app_keys.check_table(ROLE_TABLE)
    assert [entry["key"] for entry in table] == ["OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY",
                                                 "MISTRAL_API_KEY", "STABILITY_API_KEY", "AWS_ACCESS_KEY_ID",
                                                 "AWS_SECRET_ACCESS_KEY"]


@pytest.mark.parametrize("table, said", [
    ([], "non-empty list"),
    ([{"key": "openrouter", "readers": []}], "environment variable name in upper case"),
    ([{"key": "A_KEY"}], "needs readers"),
    ([{"key": "A_KEY", "readers": [{"where": "home", "file": "a.key"}]}], "needs where: one of app, node_pack"),
    ([{"key": "A_KEY", "readers": [{"where": "app", "file": "../etc/shadow"}]}], "a plain file name"),
    ([{"key": "A_KEY", "readers": [{"where": "app", "file": "settings_password.key"}]}], "settings password"),
    ([{"key": "A_KEY", "readers": [{"where": "environment", "file": "a.key"}]}], "names no file"),
    ([{"key": "A_KEY", "readers": [{"where": "app", "file": "a.key", "features": "one"}]}], "list of names"),
    ([{"key": "A_KEY", "readers": [{"where": "app", "file": "a.key"}]},
      {"key": "A_KEY", "readers": [{"where": "app", "file": "b.key"}]}], "in the table twice"),
    ([{"key": "A_KEY", "readers": [{"where": "app", "file": "a.key"}]},
      {"key": "B_KEY", "readers": [{"where": "app", "file": "a.key"}]}], "named for two keys"),
])
def test_a_broken_table_is_refused_with_what_is_wrong(table, said):
    with pytest.raises(ValueError, match=said):
        app_keys.check_table(table)


@pytest.mark.parametrize("keys, values, unknown", [
    ({}, {}, []),
    ({"OPENROUTER_API_KEY": "  sk-or-abc \n"}, {"OPENROUTER_API_KEY": "sk-or-abc"}, []),
    ({"OPENAI_API_KEY": "sk-1", "LANGFUSE_KEY": "x"}, {"OPENAI_API_KEY": "sk-1", "LANGFUSE_KEY": "x"},
     ["LANGFUSE_KEY"]),
])
def test_the_vaults_keys_are_stripped_and_unknown_names_listed(keys, values, unknown):
    assert app_keys.check_keys(keys, TABLE) == (values, unknown)


@pytest.mark.parametrize("value, said", [
    ("", "is empty"), ("  \n", "is empty"), ("sk-or-a\nsk-or-b", "line break"), ("sk-or-a\rb", "line break"),
    ("sk-\x00or", "control character"), (12345, "is a int, not text"),
])
def test_a_value_that_is_no_key_is_refused_without_showing_it(value, said):
    with pytest.raises(ValueError, match=said) as error:
        app_keys.check_keys({"OPENROUTER_API_KEY": value}, TABLE)
    assert "OPENROUTER_API_KEY" in str(error.value) and "nothing was changed" in str(error.value)
    if isinstance(value, str) and value.strip():
        assert value.strip() not in str(error.value)


@pytest.mark.parametrize("before, after", [
    (None, "sk-1\n"),                      # missing: the key and a newline
    ("sk-1", "sk-1"),                      # the settings page wrote the same key without a newline: kept
    ("sk-1\n", "sk-1\n"),
    ("sk-old\n", "sk-1\n"),                # another key: replaced
    ("# my key\nsk-1\n", "sk-1\n"),        # a comment the readers of the whole file would choke on
])
def test_the_wanted_text(before, after):
    assert app_keys.wanted_text(before, "sk-1") == after


@pytest.mark.parametrize("before, after, changed, state", [
    (None, "k\n", True, app_keys.CREATED),
    ("old\n", "k\n", True, app_keys.REPLACED),
    ("k\n", "k\n", False, app_keys.UNCHANGED),
    ("k\n", "k\n", True, app_keys.ATTRIBUTES),
])
def test_the_state_of_a_file_the_vault_sets(before, after, changed, state):
    assert app_keys.state_of(before, after, changed) == state


@pytest.mark.parametrize("text, holds", [(None, False), ("", False), ("\n  \n", False), ("# only a comment\n", False),
                                         ("sk-or-x", True), ("# comment\nsk-or-x\n", True)])
def test_holds_key(text, holds):
    assert app_keys.holds_key(text) is holds


@pytest.mark.parametrize("values, held, pack, lacking", [
    # nothing anywhere: every feature once, in the table's order
    ({}, set(), PACK, ["Gemini", "chat", "legacy", "GPT-Image-1", "Bedrock"]),
    # the vault sets everything
    ({"OPENROUTER_API_KEY": "a", "OPENAI_API_KEY": "b", "AWS_ACCESS_KEY_ID": "c"}, set(), PACK, []),
    # a teacher typed the OpenRouter key on the settings page: the pack's file still lacks it
    ({}, {APP + "/openrouter.key"}, PACK, ["legacy", "GPT-Image-1", "chat", "Bedrock"]),
    # the pack is not installed: its feature lacks the pack, not a key
    ({"OPENAI_API_KEY": "b", "AWS_ACCESS_KEY_ID": "c"}, set(), None, ["Gemini", "chat"]),
])
def test_features_without_key(values, held, pack, lacking):
    assert app_keys.features_without_key(TABLE, values, held, APP, pack) == lacking


def test_key_file_paths():
    readers = TABLE[0]["readers"] + TABLE[2]["readers"]
    assert [app_keys.key_file(reader, APP, PACK) for reader in readers] == [
        APP + "/openrouter.key", PACK + "/openrouter.key", None]
    assert app_keys.key_file(readers[1], APP, None) is None
