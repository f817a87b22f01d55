"""devserver_settings: the inventory's settings in the app's user_settings.json, a teacher's other values kept."""

import json
import os
import stat

import pytest

from ansible_collections.ai4artsed.devserver.plugins.modules import devserver_settings
from helpers.module_runner import run_module

INVENTORY = {"STAGE1_TEXT_MODEL": "local/mistral-nemo", "STAGE3_MODEL": "local/llama3.2", "DSGVO_CONFORMITY": True}
OLD = 1000000000  # an mtime in the past, to see whether a run rewrote the file


def app_saves(path, settings):
    """What the app's POST /api/settings/ does: the whole file, json.dump(data, f, indent=2)."""
    with open(str(path), "w") as handle:
        json.dump(settings, handle, indent=2)
    os.utime(str(path), (OLD, OLD))


def run(capsys, path, settings=None, **args):
    check_mode, diff = args.pop("check_mode", False), args.pop("diff", False)
    return run_module(capsys, devserver_settings, dict(path=str(path), settings=INVENTORY if settings is None else settings,
                                                       **args), check_mode=check_mode, diff=diff)


def test_a_missing_file_is_created_with_the_inventorys_settings_and_mode(tmp_path, capsys):
    path = tmp_path / "user_settings.json"
    failed, result = run(capsys, path)
    assert not failed and result["changed"]
    assert json.loads(path.read_text()) == INVENTORY == result["settings"]
    assert result["set_keys"] == list(INVENTORY) and result["kept_keys"] == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text() == json.dumps(INVENTORY, indent=2)  # as the app writes it


def test_a_value_a_teacher_set_survives_unless_the_inventory_names_it(tmp_path, capsys):
    path = tmp_path / "user_settings.json"
    run(capsys, path)
    teacher = dict(json.loads(path.read_text()), UI_MODE="kids", STAGE1_TEXT_MODEL="local/gemma3", CODING_MODEL="x")
    app_saves(path, teacher)
    failed, result = run(capsys, path)
    assert not failed and result["changed"]
    on_disk = json.loads(path.read_text())
    assert on_disk["UI_MODE"] == "kids" and on_disk["CODING_MODEL"] == "x"  # not named: kept
    assert on_disk["STAGE1_TEXT_MODEL"] == "local/mistral-nemo"  # named: the inventory wins
    assert result["set_keys"] == ["STAGE1_TEXT_MODEL"] and result["kept_keys"] == ["UI_MODE", "CODING_MODEL"]
    assert list(on_disk) == list(teacher)  # the file's order stays


def test_a_second_run_changes_nothing_and_leaves_the_file_untouched(tmp_path, capsys):
    path = tmp_path / "user_settings.json"
    app_saves(path, dict(INVENTORY, UI_MODE="kids"))
    path.chmod(0o640)
    text = path.read_bytes()
    failed, result = run(capsys, path)
    assert not failed and not result["changed"] and result["set_keys"] == [] and result["kept_keys"] == ["UI_MODE"]
    assert path.read_bytes() == text and path.stat().st_mtime == OLD


def test_a_file_in_another_layout_with_the_same_values_is_not_rewritten(tmp_path, capsys):
    path = tmp_path / "user_settings.json"
    path.write_text(json.dumps(INVENTORY) + "\n")  # one line, a final newline: same values
    path.chmod(0o640)
    os.utime(str(path), (OLD, OLD))
    failed, result = run(capsys, path, diff=True)
    assert not failed and not result["changed"] and path.stat().st_mtime == OLD
    assert result["diff"]["before"] == result["diff"]["after"]


def test_check_mode_reports_the_merge_and_touches_nothing(tmp_path, capsys):
    path = tmp_path / "user_settings.json"
    app_saves(path, {"UI_MODE": "kids", "STAGE3_MODEL": "local/old"})
    path.chmod(0o640)
    text = path.read_bytes()
    failed, result = run(capsys, path, check_mode=True)
    assert not failed and result["changed"] and result["set_keys"] == list(INVENTORY)
    assert result["settings"] == dict(INVENTORY, UI_MODE="kids")
    assert path.read_bytes() == text and path.stat().st_mtime == OLD
    missing = tmp_path / "other.json"
    failed, result = run(capsys, missing, check_mode=True)
    assert not failed and result["changed"] and not missing.exists()


def test_diff_shows_the_text_before_and_after(tmp_path, capsys):
    path = tmp_path / "user_settings.json"
    app_saves(path, {"UI_MODE": "kids"})
    failed, result = run(capsys, path, {"DSGVO_CONFORMITY": False}, diff=True)
    assert not failed and result["changed"]
    assert result["diff"]["before"] == '{\n  "UI_MODE": "kids"\n}'
    assert result["diff"]["after"] == '{\n  "UI_MODE": "kids",\n  "DSGVO_CONFORMITY": false\n}' == path.read_text()


def test_mode_is_enforced_when_no_value_changes(tmp_path, capsys):
    path = tmp_path / "user_settings.json"
    app_saves(path, INVENTORY)
    path.chmod(0o644)
    failed, result = run(capsys, path, check_mode=True)
    assert not failed and result["changed"] and stat.S_IMODE(path.stat().st_mode) == 0o644
    failed, result = run(capsys, path, mode="0600", owner=str(os.getuid()), group=str(os.getgid()))
    assert not failed and result["changed"] and result["set_keys"] == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_mtime == OLD
    failed, result = run(capsys, path, mode=0o600)  # a YAML octal number arrives as an int: refused
    assert failed and "quote it" in result["msg"] and stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("text, problem", [
    ("", "is empty"),
    ('{"UI_MODE": "kids",', "is not valid JSON"),
    ('["UI_MODE"]', "holds a JSON array"),
])
def test_a_file_that_is_not_a_json_object_fails_and_is_left_alone(tmp_path, capsys, text, problem):
    path = tmp_path / "user_settings.json"
    path.write_text(text)
    os.utime(str(path), (OLD, OLD))
    failed, result = run(capsys, path)
    assert failed and result["msg"].startswith(str(path)) and problem in result["msg"]
    assert "fix it or move it aside" in result["msg"]
    assert path.read_text() == text and path.stat().st_mtime == OLD and os.listdir(str(tmp_path)) == [path.name]


@pytest.mark.parametrize("args, words", [
    ({"mode": "rw-r"}, "is not a file mode"),
    ({"mode": 640}, "is a number, not text"),
    ({"mode": "4750"}, "sets setuid, setgid or sticky bits"),
    ({"owner": "no-such-user-ai4artsed"}, "no such user"),
    ({"group": "no-such-group-ai4artsed"}, "no such group"),
])
def test_bad_owner_group_or_mode_fail_before_anything_is_written(tmp_path, capsys, args, words):
    path = tmp_path / "user_settings.json"
    failed, result = run(capsys, path, **args)
    assert failed and words in result["msg"] and not path.exists()


def test_a_missing_folder_fails_clearly(tmp_path, capsys):
    path = tmp_path / "devserver" / "user_settings.json"
    failed, result = run(capsys, path)
    assert failed and "the folder %s does not exist" % path.parent in result["msg"] and not path.parent.exists()


def test_a_folder_in_place_of_the_file_fails_clearly(tmp_path, capsys):
    path = tmp_path / "user_settings.json"
    path.mkdir()
    failed, result = run(capsys, path)
    assert failed and "is a folder, not a regular file" in result["msg"] and path.is_dir()
