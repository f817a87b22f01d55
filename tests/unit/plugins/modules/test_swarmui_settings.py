"""swarmui_settings: SwarmUI's Data/Settings.fds and Data/Backends.fds, key by key, compared by value."""

import os
import stat
from pathlib import Path

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fds import dump, get, parse, set_value
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fds_settings import leaves
from ansible_collections.ai4artsed.devserver.plugins.modules import swarmui_settings
from helpers.module_runner import run_module

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "swarmui"
WANTED = {"IsInstalled": True, "LaunchMode": "none", "Paths.ModelRoot": "/srv/models", "Network.Port": 7801,
          "Network.PortCanChange": False, "Maintenance": {"CheckForUpdates": False}}
BACKEND = {"0": {"type": "comfyui_api", "title": "ComfyUI (systemd)", "enabled": True,
                 "settings": {"Address": "http://127.0.0.1:7821", "AllowIdle": False, "OverQueue": 1,
                              "EnableFrontendDev": False}}}
OLD = 1000000000  # an mtime in the past, to see whether a run rewrote the file


def fixture(tmp_path, name, as_name=None):
    data = tmp_path / "Data"
    data.mkdir(exist_ok=True)
    path = data / (as_name or name)
    path.write_text((FIXTURES / name).read_text(encoding="utf-8"), encoding="utf-8")
    os.utime(str(path), (OLD, OLD))
    return path


def value(path, key):
    entry = get(parse(path.read_text(encoding="utf-8")), key)
    return None if entry is None else entry.value


def swarmui_rewrite(path):
    """What SwarmUI does at start: every setting in its own order with its comments, values as loaded."""
    current = parse(path.read_text(encoding="utf-8"))
    rewritten = parse((FIXTURES / "Settings.fds").read_text(encoding="utf-8"))
    for key, data in leaves(current):
        set_value(rewritten, key, data)
    path.write_text(dump(rewritten), encoding="utf-8")
    os.utime(str(path), (OLD, OLD))


def run(capsys, path, settings, **args):
    check_mode, diff = args.pop("check_mode", False), args.pop("diff", False)
    return run_module(capsys, swarmui_settings, dict(path=str(path), settings=settings, **args),
                      check_mode=check_mode, diff=diff)


def test_sets_the_wanted_keys_and_keeps_every_other_key_and_comment(tmp_path, capsys):
    path = fixture(tmp_path, "Settings.fds")
    before = parse(path.read_text(encoding="utf-8"))
    failed, result = run(capsys, path, WANTED)
    assert not failed and result["changed"]
    assert sorted(change["key"] for change in result["changes"]) == [
        "IsInstalled", "LaunchMode", "Maintenance.CheckForUpdates", "Network.PortCanChange", "Paths.ModelRoot"]
    assert {"key": "Paths.ModelRoot", "before": "Models", "after": "/srv/models"} in result["changes"]
    after = parse(path.read_text(encoding="utf-8"))
    changed = set(tuple(change["key"].split(".")) for change in result["changes"])
    assert [(key, data) for key, data in leaves(after) if key not in changed] == \
        [(key, data) for key, data in leaves(before) if key not in changed]
    assert [value(path, key) for key in ("IsInstalled", "LaunchMode", "Paths.ModelRoot", "Network.Port")] == \
        ["true", "none", "/srv/models", "7801"]
    assert get(after, "Paths.ModelRoot").comments == get(before, "Paths.ModelRoot").comments
    assert [get(after, key).comments for key in ("Paths", "DefaultUser.Roles")] == \
        [get(before, key).comments for key in ("Paths", "DefaultUser.Roles")]


def test_a_second_run_changes_nothing_and_leaves_the_file_untouched(tmp_path, capsys):
    path = fixture(tmp_path, "Settings.fds")
    run(capsys, path, WANTED)
    os.utime(str(path), (OLD, OLD))
    text = path.read_bytes()
    failed, result = run(capsys, path, WANTED)
    assert not failed and not result["changed"] and result["changes"] == []
    assert path.read_bytes() == text and path.stat().st_mtime == OLD


def test_values_compare_by_value_not_text(tmp_path, capsys):
    path = tmp_path / "Settings.fds"
    path.write_text("IsInstalled: true\nNetwork:\n    Port: 7801\n    ExternalURL: \\x\n    Host:\n", encoding="utf-8")
    os.utime(str(path), (OLD, OLD))
    for port in (7801, "7801"):
        failed, result = run(capsys, path, {"IsInstalled": True, "Network.Port": port, "Network.ExternalURL": "",
                                            "Network.Host": ""})
        assert not failed and not result["changed"], result
    assert path.stat().st_mtime == OLD


def test_swarmui_rewriting_the_whole_file_still_reads_as_unchanged(tmp_path, capsys):
    path = tmp_path / "Settings.fds"  # a short file by hand: our run appends the keys it lacks at the end
    path.write_text("LaunchMode: web\nPaths:\n    ModelRoot: Models\n", encoding="utf-8")
    run(capsys, path, WANTED)
    ours = path.read_text(encoding="utf-8")
    swarmui_rewrite(path)
    swarmui_text = path.read_text(encoding="utf-8")
    assert len(swarmui_text) > 3 * len(ours)  # every default and comment added
    assert ours.index("IsInstalled:") < ours.index("Maintenance:")
    assert swarmui_text.index("Maintenance:") < swarmui_text.index("IsInstalled:")  # and SwarmUI's order back
    failed, result = run(capsys, path, WANTED)
    assert not failed and not result["changed"] and result["changes"] == []
    assert path.read_text(encoding="utf-8") == swarmui_text and path.stat().st_mtime == OLD


def test_check_mode_reports_the_changes_and_touches_nothing(tmp_path, capsys):
    path = fixture(tmp_path, "Settings.fds")
    text = path.read_bytes()
    failed, result = run(capsys, path, WANTED, check_mode=True)
    assert not failed and result["changed"] and len(result["changes"]) == 5
    assert path.read_bytes() == text and path.stat().st_mtime == OLD
    missing = tmp_path / "Data" / "Other.fds"
    failed, result = run(capsys, missing, {"A": 1}, check_mode=True)
    assert not failed and result["changed"] and not missing.exists()


def test_diff_shows_the_text_before_and_after(tmp_path, capsys):
    path = tmp_path / "Settings.fds"
    path.write_text("#port\nNetwork:\n\tPort: 7800\n", encoding="utf-8")
    failed, result = run(capsys, path, {"Network.Port": 7801}, diff=True)
    assert not failed and result["changed"]
    assert result["diff"]["before"] == "#port\nNetwork:\n\tPort: 7800\n"
    assert result["diff"]["after"] == "#port\nNetwork:\n\tPort: 7801\n" == path.read_text(encoding="utf-8")
    assert result["changes"] == [{"key": "Network.Port", "before": "7800", "after": "7801"}]


def test_exclusive_replaces_a_different_backend(tmp_path, capsys):
    path = fixture(tmp_path, "Backends-comfyui_selfstart.fds", "Backends.fds")
    failed, result = run(capsys, path, BACKEND, exclusive=True)
    assert not failed and result["changed"]
    assert {"key": "0.settings.StartScript", "before": "dlbackend/ComfyUI/main.py", "after": None} in result["changes"]
    assert {"key": "0.type", "before": "comfyui_selfstart", "after": "comfyui_api"} in result["changes"]
    data = dict((".".join(key), item) for key, item in leaves(parse(path.read_text(encoding="utf-8"))))
    assert data == {"0.type": "comfyui_api", "0.title": "ComfyUI (systemd)", "0.enabled": "true",
                    "0.settings.Address": "http://127.0.0.1:7821", "0.settings.AllowIdle": "false",
                    "0.settings.OverQueue": "1", "0.settings.EnableFrontendDev": "false"}
    os.utime(str(path), (OLD, OLD))
    failed, result = run(capsys, path, BACKEND, exclusive=True)
    assert not failed and not result["changed"] and path.stat().st_mtime == OLD


def test_exclusive_leaves_an_equal_backend_as_swarmui_wrote_it(tmp_path, capsys):
    path = fixture(tmp_path, "Backends-comfyui_api.fds", "Backends.fds")
    text = path.read_bytes()
    failed, result = run(capsys, path, BACKEND, exclusive=True)
    assert not failed and not result["changed"] and result["changes"] == []
    assert path.read_bytes() == text and path.stat().st_mtime == OLD


def test_exclusive_removes_a_second_backend(tmp_path, capsys):
    path = fixture(tmp_path, "Backends-comfyui_api.fds", "Backends.fds")
    with path.open("a", encoding="utf-8") as handle:
        handle.write("1:\n\ttype: comfyui_selfstart\n\ttitle: \\x\n\tenabled: false\n\tsettings:\n")
    failed, result = run(capsys, path, BACKEND, exclusive=True)
    assert not failed and result["changed"]
    assert sorted(change["key"] for change in result["changes"]) == ["1.enabled", "1.settings", "1.title", "1.type"]
    assert list(parse(path.read_text(encoding="utf-8")).entries) == ["0"]


def test_a_missing_file_is_created(tmp_path, capsys):
    path = tmp_path / "Backends.fds"
    failed, result = run(capsys, path, BACKEND, exclusive=True, mode="0640")
    assert not failed and result["changed"] and len(result["changes"]) == 7
    assert value(path, "0.settings.Address") == "http://127.0.0.1:7821"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_rewrite_keeps_the_files_mode(tmp_path, capsys):
    path = fixture(tmp_path, "Settings.fds")
    path.chmod(0o600)
    failed, result = run(capsys, path, WANTED)
    assert not failed and result["changed"] and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [name for name in os.listdir(str(path.parent)) if name != "Settings.fds"]  # no temporary file left


@pytest.mark.parametrize("text, line", [
    ("Paths:\n\tModelRoot: Models\nthis line has no key\n", 3),
    ("Network:\n\tPort: 7801\n  Host: x\n", 3),
    ("Roles:\n> complex: item\n", 2),
])
def test_a_file_that_is_not_fds_fails_naming_the_line_and_is_left_alone(tmp_path, capsys, text, line):
    path = tmp_path / "Settings.fds"
    path.write_text(text, encoding="utf-8")
    os.utime(str(path), (OLD, OLD))
    failed, result = run(capsys, path, WANTED)
    assert failed
    bad_line = text.split("\n")[line - 1].strip()
    assert result["msg"].startswith("%s line %d: " % (path, line))
    assert bad_line in result["msg"] and "nothing was changed; fix or move the file" in result["msg"]
    assert path.read_text(encoding="utf-8") == text and path.stat().st_mtime == OLD


def test_a_missing_folder_fails_clearly(tmp_path, capsys):
    path = tmp_path / "SwarmUI" / "Data" / "Settings.fds"
    failed, result = run(capsys, path, WANTED)
    assert failed and "the folder %s does not exist" % path.parent in result["msg"]
    assert not path.parent.exists()


def test_a_value_fds_cannot_hold_fails_and_changes_nothing(tmp_path, capsys):
    path = fixture(tmp_path, "Settings.fds")
    failed, result = run(capsys, path, {"DefaultUser.Roles": [" owner"], "Paths.ModelRoot": "/srv"})
    assert failed and "list item" in result["msg"] and "nothing was changed" in result["msg"]
    assert path.stat().st_mtime == OLD


def test_a_folder_in_place_of_the_file_fails_clearly(tmp_path, capsys):
    path = tmp_path / "Settings.fds"
    path.mkdir()
    failed, result = run(capsys, path, WANTED)
    assert failed and "%s is a folder, not a regular file" % path in result["msg"]
    assert "nothing was read or changed" in result["msg"]
