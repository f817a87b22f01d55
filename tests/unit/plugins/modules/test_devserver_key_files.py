"""devserver_key_files: the vault's API keys in the files the DevServer app and the ai4artsed node pack read.

The readers are the app's and the pack's own code: backend_router.py reads the whole file stripped, the pack's nodes
the first line stripped. These tests read the files the same way, and check the role's key table against the
vendored sources (every key file they read is in the table, and nothing else).
"""

import json
import os
import re
import stat
from pathlib import Path

import pytest
import yaml

from ansible_collections.ai4artsed.devserver.plugins.modules import devserver_key_files
from helpers.app_source import APP_BUNDLE, PACK_BUNDLE, clone_tree
from helpers.hostile import KINDS, KIND_IDS, SECRET, no_hang, plant, snapshot
from helpers.module_runner import run_module

PROJECT = Path(__file__).resolve().parents[4]
TABLE = yaml.safe_load((PROJECT / "roles" / "devserver" / "vars" / "main.yml").read_text())["__devserver_api_key_table"]
OPENROUTER = "sk-or-v1-vault-openrouter-key-0123456789"
OPENAI = "sk-proj-vault-openai-key-9876543210"
OLD = 1000000000  # an mtime in the past, to see whether a run rewrote a file
ME = "%d" % os.getuid()


@pytest.fixture
def folders(tmp_path):
    app = tmp_path / "ai4artsed_production" / "devserver"
    pack = tmp_path / "ComfyUI" / "custom_nodes" / "ai4artsed_comfyui"
    app.mkdir(parents=True)
    pack.mkdir(parents=True)
    return app, pack


def run(capsys, app, pack, keys, check_mode=False, diff=False, **args):
    arguments = dict(table=TABLE, app_dir=str(app), node_pack_dir=str(pack), keys=keys, owner=ME, group=ME, **args)
    failed, result = run_module(capsys, devserver_key_files, arguments, check_mode=check_mode, diff=diff)
    shown = json.dumps(result)
    for value in keys.values():
        if isinstance(value, str) and value.strip():
            assert value.strip() not in shown, "a key appears in the module's result"
    return failed, result


def the_app_reads(path):
    """backend_router.py _load_api_key: the whole file, stripped; None when missing or empty."""
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def the_pack_reads(path):
    """ai4artsed_openrouter_key.get_key: the first line, stripped."""
    with path.open("r", encoding="utf-8") as handle:
        return handle.readline().strip()


def mode_of(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_each_key_the_vault_sets_is_written_where_its_readers_read_it(tmp_path, folders, capsys):
    app, pack = folders
    failed, result = run(capsys, app, pack, {"OPENROUTER_API_KEY": OPENROUTER, "OPENAI_API_KEY": " %s\n" % OPENAI})
    assert not failed and result["changed"], result
    assert the_app_reads(app / "openrouter.key") == OPENROUTER and the_pack_reads(pack / "openrouter.key") == OPENROUTER
    assert the_app_reads(app / "openai.key") == OPENAI
    assert (app / "openai.key").read_text() == OPENAI + "\n"
    for path in (app / "openrouter.key", pack / "openrouter.key", app / "openai.key"):
        assert mode_of(path) == 0o600 and path.stat().st_uid == os.getuid()
    # no file for a key the vault does not set, and nothing else in the folders (no temporary or lock file left)
    assert sorted(os.listdir(str(app))) == ["openai.key", "openrouter.key"]
    assert sorted(os.listdir(str(pack))) == ["openrouter.key"]
    assert {entry["state"] for entry in result["files"] if entry["key"] in ("OPENROUTER_API_KEY", "OPENAI_API_KEY")} \
        == {"created"}
    lacking = result["features_without_key"]
    assert any("Mistral" in feature or "mistral/" in feature for feature in lacking)
    assert any("bedrock/" in feature for feature in lacking)
    assert not any("GPT-Image-1" in feature or "Gemini 3 Pro" in feature or "legacy_surrealization" in feature
                   for feature in lacking)
    assert result["node_pack_installed"] and result["set_on_host"] == [] and result["unknown_keys"] == []


def test_a_second_run_changes_nothing_and_a_wrong_mode_is_corrected(folders, capsys):
    app, pack = folders
    keys = {"OPENROUTER_API_KEY": OPENROUTER}
    run(capsys, app, pack, keys)
    os.utime(str(app / "openrouter.key"), (OLD, OLD))
    failed, result = run(capsys, app, pack, keys)
    assert not failed and not result["changed"] and (app / "openrouter.key").stat().st_mtime == OLD
    (pack / "openrouter.key").chmod(0o644)
    failed, result = run(capsys, app, pack, keys)
    assert not failed and result["changed"] and mode_of(pack / "openrouter.key") == 0o600
    assert {"path": str(pack / "openrouter.key"), "key": "OPENROUTER_API_KEY",
            "state": "as the vault sets it; owner, group or mode corrected"} in result["files"]


def test_the_same_key_the_settings_page_wrote_is_kept_and_another_one_replaced(folders, capsys):
    app, pack = folders
    (app / "openrouter.key").write_text(OPENROUTER)  # what the settings page writes: stripped, no newline
    (app / "openrouter.key").chmod(0o600)
    os.utime(str(app / "openrouter.key"), (OLD, OLD))
    (app / "openai.key").write_text("sk-a-teachers-own-openai-key\n")
    failed, result = run(capsys, app, pack, {"OPENROUTER_API_KEY": OPENROUTER, "OPENAI_API_KEY": OPENAI})
    assert not failed
    assert (app / "openrouter.key").read_text() == OPENROUTER and (app / "openrouter.key").stat().st_mtime == OLD
    assert the_app_reads(app / "openai.key") == OPENAI
    states = {entry["path"]: entry["state"] for entry in result["files"]}
    assert states[str(app / "openrouter.key")] == "as the vault sets it"
    assert states[str(app / "openai.key")] == "replaced by the vault's key"


def test_a_key_file_without_a_vault_key_is_left_and_reported_set_on_the_host(folders, capsys):
    app, pack = folders
    (app / "mistral.key").write_text("a-teachers-mistral-key")  # typed on the settings page
    (app / "mistral.key").chmod(0o644)
    os.utime(str(app / "mistral.key"), (OLD, OLD))
    failed, result = run(capsys, app, pack, {})
    assert not failed and not result["changed"]
    assert (app / "mistral.key").read_text() == "a-teachers-mistral-key" and mode_of(app / "mistral.key") == 0o644
    assert (app / "mistral.key").stat().st_mtime == OLD
    assert result["set_on_host"] == [str(app / "mistral.key")]
    assert not any("mistral/" in feature for feature in result["features_without_key"])
    assert any("GPT-Image-1" in feature for feature in result["features_without_key"])
    assert sorted(os.listdir(str(app))) == ["mistral.key"] and os.listdir(str(pack)) == []


def test_a_node_pack_that_is_not_installed_is_skipped_and_said(tmp_path, folders, capsys):
    app, _pack = folders
    absent = tmp_path / "ComfyUI" / "custom_nodes" / "not_installed"
    failed, result = run(capsys, app, absent, {"OPENROUTER_API_KEY": OPENROUTER})
    assert not failed and result["changed"] and not result["node_pack_installed"] and not absent.exists()
    assert {"path": str(absent / "openrouter.key"), "key": "OPENROUTER_API_KEY",
            "state": "skipped: the node pack is not installed"} in result["files"]
    assert the_app_reads(app / "openrouter.key") == OPENROUTER


def test_check_mode_reports_the_plan_and_touches_nothing(folders, capsys):
    app, pack = folders
    (app / "openai.key").write_text("sk-another-key\n")
    os.utime(str(app / "openai.key"), (OLD, OLD))
    keys = {"OPENROUTER_API_KEY": OPENROUTER, "OPENAI_API_KEY": OPENAI}
    failed, result = run(capsys, app, pack, keys, check_mode=True, diff=True)
    assert not failed and result["changed"]
    assert sorted(os.listdir(str(app))) == ["openai.key"] and os.listdir(str(pack)) == []
    assert (app / "openai.key").read_text() == "sk-another-key\n" and (app / "openai.key").stat().st_mtime == OLD
    states = {entry["path"]: entry["state"] for entry in result["files"]}
    assert states[str(app / "openrouter.key")] == "created"
    assert states[str(app / "openai.key")] == "replaced by the vault's key"
    # the same plan as the real run
    failed, real = run(capsys, app, pack, keys)
    assert real["files"] == result["files"] and real["features_without_key"] == result["features_without_key"]


def test_diff_says_which_keys_change_and_never_shows_one(folders, capsys):
    app, pack = folders
    (app / "openai.key").write_text("sk-another-key\n")
    failed, result = run(capsys, app, pack, {"OPENROUTER_API_KEY": OPENROUTER, "OPENAI_API_KEY": OPENAI}, diff=True)
    assert not failed
    diffs = {entry["before_header"]: entry for entry in result["diff"]}
    assert diffs[str(app / "openrouter.key")]["before"] == "" and "(secret" in diffs[str(app / "openrouter.key")]["after"]
    assert diffs[str(app / "openai.key")]["before"] != diffs[str(app / "openai.key")]["after"]
    assert "sk-another-key" not in json.dumps(result)
    failed, again = run(capsys, app, pack, {"OPENROUTER_API_KEY": OPENROUTER, "OPENAI_API_KEY": OPENAI}, diff=True)
    assert all(entry["before"] == entry["after"] for entry in again["diff"])


@pytest.mark.parametrize("value, said", [
    ("", "is empty"), ("   ", "is empty"), ("sk-or-first\nsk-or-second", "line break"),
])
def test_a_key_that_is_empty_or_has_a_line_break_fails_and_writes_nothing(folders, capsys, value, said):
    app, pack = folders
    failed, result = run(capsys, app, pack, {"OPENAI_API_KEY": OPENAI, "OPENROUTER_API_KEY": value})
    assert failed and said in result["msg"] and "OPENROUTER_API_KEY" in result["msg"]
    assert os.listdir(str(app)) == [] and os.listdir(str(pack)) == []


def test_a_name_the_table_does_not_know_is_a_warning(folders, capsys):
    app, pack = folders
    failed, result = run(capsys, app, pack, {"OPENROUTR_API_KEY": OPENROUTER})
    assert not failed and result["unknown_keys"] == ["OPENROUTR_API_KEY"]
    assert "OPENROUTR_API_KEY" in json.dumps(result["warnings"])
    assert os.listdir(str(app)) == []


@pytest.mark.parametrize(("kind", "said"), KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("vault_sets_it", [True, False], ids=["vault key", "no vault key"])
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_a_planted_key_file_fails_the_run_before_anything_is_written(tmp_path, folders, capsys, kind, said,
                                                                     vault_sets_it, check_mode):
    """The service account owns devserver/: whatever it put where openai.key belongs, no other key file is
    written either, and nothing of a symlink's target is read, shown or changed."""
    app, pack = folders
    plant(app / "openai.key", kind, tmp_path)
    before, listing = snapshot(tmp_path), sorted(os.listdir(str(app)))
    keys = {"OPENROUTER_API_KEY": OPENROUTER}
    if vault_sets_it:
        keys["OPENAI_API_KEY"] = OPENAI
    with no_hang():
        failed, result = run(capsys, app, pack, keys, check_mode=check_mode, diff=True, _ansible_verbosity=3)
    assert failed and str(app / "openai.key") in result["msg"] and said in result["msg"]
    assert SECRET not in json.dumps(result)
    assert snapshot(tmp_path) == before and sorted(os.listdir(str(app))) == listing and os.listdir(str(pack)) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="a link owned by another account needs root to make")
def test_a_node_pack_folder_the_service_account_replaced_by_a_symlink_is_refused(tmp_path, folders, capsys):
    app, pack = folders
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    pack.rmdir()
    pack.symlink_to(elsewhere)
    os.lchown(str(pack), 4242, 4242)  # placed by the service account, which owns custom_nodes/
    failed, result = run(capsys, app, pack, {"OPENROUTER_API_KEY": OPENROUTER})
    assert failed and "is a symlink that another account (uid 4242)" in result["msg"]
    assert os.listdir(str(elsewhere)) == [] and os.listdir(str(app)) == []


def test_an_app_folder_that_is_missing_fails_with_what_to_do(tmp_path, capsys):
    failed, result = run(capsys, tmp_path / "no-checkout" / "devserver", tmp_path / "pack",
                         {"OPENROUTER_API_KEY": OPENROUTER})
    assert failed and "does not exist; create it first" in result["msg"]


def test_an_owner_not_created_yet_is_a_change_in_check_mode_and_an_error_in_a_run(folders, capsys):
    app, pack = folders
    keys = {"OPENROUTER_API_KEY": OPENROUTER}
    args = dict(table=TABLE, app_dir=str(app), node_pack_dir=str(pack), keys=keys, owner="ai4artsed-not-yet",
                group="ai4artsed-not-yet")
    failed, result = run_module(capsys, devserver_key_files, args, check_mode=True)
    assert not failed and result["changed"]
    failed, result = run_module(capsys, devserver_key_files, args)
    assert failed and "owner ai4artsed-not-yet: there is no such user" in result["msg"]
    assert os.listdir(str(app)) == []


# --- the role's key table against the vendored sources ------------------------------------------------------------

KEY_FILE_NAME = re.compile(r"""["']([A-Za-z0-9_.-]+\.key)["']""")


def source_tree(bundle, tmp_path_factory, name):
    if not bundle.exists():
        pytest.skip("needs the vendored source: %s is absent (the shared folder beside this checkout, see its "
                    "vendor/README.md)" % bundle)
    return clone_tree(bundle, tmp_path_factory.mktemp(name) / "tree")


def key_files_read_by(tree, folder="."):
    """Every '<name>.key' string literal in the Python files under folder, but settings_password.key (the
    settings password's hash: devserver_password's file) and the helper scripts under testfiles/."""
    names = set()
    for path in (tree / folder).rglob("*.py"):
        if "testfiles" in path.parts:
            continue
        names |= set(KEY_FILE_NAME.findall(path.read_text(encoding="utf-8", errors="replace")))
    return names - {"settings_password.key"}


def table_files(where):
    return {reader["file"] for entry in TABLE for reader in entry["readers"] if reader["where"] == where}


@pytest.fixture(scope="module")
def app_tree(tmp_path_factory):
    return source_tree(APP_BUNDLE, tmp_path_factory, "app")


def test_the_table_names_every_key_file_the_app_reads_and_no_other(app_tree):
    found = key_files_read_by(app_tree, "devserver")
    assert found, "no '<name>.key' in the app's Python: has the way it reads keys changed?"
    assert table_files("app") == found


def test_the_table_names_every_key_file_the_node_pack_reads_and_no_other(tmp_path_factory):
    tree = source_tree(PACK_BUNDLE, tmp_path_factory, "pack")
    assert table_files("node_pack") == key_files_read_by(tree)


def test_each_api_output_names_the_key_file_it_reads_as_a_feature(app_tree):
    """backend_router.py _process_api_output_chunk: provider openai reads openai.key, anthropic anthropic.key,
    anything else openrouter.key; the feature of that file in the table names the output as the app shows it."""
    router = (app_tree / "devserver" / "schemas" / "engine" / "backend_router.py").read_text()
    assert "key_file = 'openai.key'" in router and "key_file = 'openrouter.key'" in router
    file_of = {"openai": "openai.key", "anthropic": "anthropic.key"}
    features = {reader["file"]: " ".join(reader["features"]) for entry in TABLE for reader in entry["readers"]
                if reader["where"] == "app"}
    outputs = [json.loads(path.read_text()) for path in (app_tree / "devserver" / "schemas" / "configs" / "output")
               .glob("*.json")]
    checked = 0
    for chunk_path in (app_tree / "devserver" / "schemas" / "chunks").glob("output_*.json"):
        chunk = json.loads(chunk_path.read_text())
        if "api_config" not in chunk:
            continue
        key_file = file_of.get(chunk["api_config"].get("provider", "openrouter"), "openrouter.key")
        for output in outputs:
            if output.get("parameters", {}).get("OUTPUT_CHUNK") == chunk_path.stem:
                assert output["name"]["en"] in features[key_file], (chunk_path.name, key_file)
                checked += 1
    assert checked >= 2  # GPT-Image-1 and Gemini 3 Pro Image at the pinned commit


def test_each_legacy_workflow_that_uses_the_packs_key_node_is_a_feature_of_the_packs_file(app_tree):
    """A workflow whose ai4artsed_openrouter_key node feeds another node needs the pack's openrouter.key."""
    features = " ".join(feature for entry in TABLE for reader in entry["readers"]
                        if reader["where"] == "node_pack" and reader["file"] == "openrouter.key"
                        for feature in reader["features"])
    needing = []
    for chunk_path in (app_tree / "devserver" / "schemas" / "chunks").glob("legacy_*.json"):
        workflow = json.loads(chunk_path.read_text()).get("workflow", {})
        key_nodes = {node_id for node_id, node in workflow.items()
                     if isinstance(node, dict) and node.get("class_type") == "ai4artsed_openrouter_key"}
        if any(isinstance(value, list) and value and str(value[0]) in key_nodes
               for node in workflow.values() if isinstance(node, dict)
               for value in node.get("inputs", {}).values()):
            needing.append(chunk_path.stem)
    assert needing == ["legacy_surrealization"]  # at the pinned commit; a new one must be named in the table
    assert all(name in features for name in needing)
