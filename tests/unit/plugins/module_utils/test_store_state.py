"""What model_manifest reads of the host for the model store's steps (store_state), and the report file.

The role runs a folder, merge, download check, ownership or report step only where this finds something
to do, so each case here is one a re-run must not miss: if it is missed, drift stays unrepaired.
"""

import grp
import hashlib
import os
import pwd

import pytest

from helpers.module_runner import run_module
from ansible_collections.ai4artsed.devserver.plugins.module_utils import store_state
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import write_json_atomically
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import STATE_DIR_NAME, make_record, record_path
from ansible_collections.ai4artsed.devserver.plugins.modules import model_manifest, model_storage_report

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
COMMIT = "a" * 40
DATA = b"model bytes"
SHA256 = hashlib.sha256(DATA).hexdigest()


def place(root, dest, pinned=True, data=DATA):
    """A file hf_model downloaded earlier: the bytes, mode 0644 and its record."""
    path = root / dest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o644)
    origin = {"repo_id": "org/model", "repo_type": "model", "filename": os.path.basename(dest),
              "commit": COMMIT}
    write_json_atomically(record_path(str(root / STATE_DIR_NAME), str(root), str(path)),
                          make_record(os.stat(str(path)), SHA256, origin))
    entry = {"repo_id": "org/model", "filename": os.path.basename(dest), "dest": dest,
             "revision": COMMIT if pinned else "main"}
    if pinned:
        entry["sha256"] = SHA256
    return path, entry


def drift_mode(path):
    path.chmod(0o600)


def drift_bytes(path):
    path.write_bytes(b"other bytes")


UNPINNED = {"revision": "main", "sha256": None}
CHECK_CASES = [
    # (what happened, change to the file, entry overrides, check_updates, must hf_model look at it?)
    ("pinned, recorded, owned, mode 0644", None, {}, True, False),
    ("its mode drifted", drift_mode, {}, True, True),
    ("its bytes changed (the record no longer vouches for it)", drift_bytes, {}, True, True),
    ("not pinned to a commit (the hub is asked for updates)", None, UNPINNED, True, True),
    ("pinned to another commit", None, {"revision": "b" * 40}, True, True),
    ("pinned to another sha256", None, {"sha256": "0" * 64}, True, True),
    ("a multi-file entry", None, {"allow_patterns": ["*.safetensors"]}, True, True),
    ("missing", os.unlink, {}, True, True),
    # Without update checks, a branch entry in place as recorded is left alone; drift is still checked.
    ("no update checks: not pinned, in place as recorded", None, UNPINNED, False, False),
    ("no update checks: not pinned, bytes changed", drift_bytes, UNPINNED, False, True),
    ("no update checks: not pinned, mode drifted", drift_mode, UNPINNED, False, True),
    ("no update checks: not pinned, the record is of another file", None,
     dict(UNPINNED, filename="other.safetensors"), False, True),
    ("no update checks: pinned to another commit", None, {"revision": "b" * 40}, False, True),
]


@pytest.mark.parametrize("change, overrides, check_updates, looked_at", [case[1:] for case in CHECK_CASES],
                         ids=[case[0] for case in CHECK_CASES])
def test_only_entries_a_run_could_change_are_checked(tmp_path, change, overrides, check_updates, looked_at):
    path, entry = place(tmp_path, "clip/model.safetensors")
    if change is not None:
        change(path)
    entry = dict((key, value) for key, value in dict(entry, **overrides).items() if value is not None)
    checked = store_state.to_check([entry], str(tmp_path), os.getuid(), os.getgid(), 0o644, check_updates)
    assert checked == ([entry] if looked_at else [])


def test_folders_off_names_missing_foreign_and_wrong_mode_folders(tmp_path):
    good, loose, missing, link = tmp_path / "good", tmp_path / "loose", tmp_path / "missing", tmp_path / "link"
    good.mkdir(mode=0o755)
    good.chmod(0o755)
    loose.mkdir()
    loose.chmod(0o777)
    link.symlink_to(good)
    paths = [str(good), str(loose), str(missing), str(link)]
    assert store_state.folders_off(paths, os.getuid(), os.getgid(), 0o755) == [str(loose), str(missing), str(link)]
    assert store_state.folders_off(paths, None, None, 0o755) == paths  # an account the host does not know yet


def test_first_not_owned_walks_without_following_links(tmp_path):
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "a.safetensors").write_bytes(b"a")
    (tmp_path / "clip" / "outside").symlink_to("/")
    assert store_state.first_not_owned(str(tmp_path), os.getuid(), os.getgid()) is None
    assert store_state.first_not_owned(str(tmp_path / "nothing"), os.getuid(), os.getgid()) is None
    assert store_state.first_not_owned(str(tmp_path), os.getuid() + 1, os.getgid()) == str(tmp_path)
    assert store_state.first_not_owned(str(tmp_path), None, None) == str(tmp_path)


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file away takes root")
def test_first_not_owned_finds_a_file_deep_in_the_tree(tmp_path):
    deep = tmp_path / "vae" / "Flux" / "ae.safetensors"
    deep.parent.mkdir(parents=True)
    deep.write_bytes(b"a")
    os.lchown(str(deep), 4242, 4242)
    (tmp_path / store_state.OWNERSHIP_IGNORED[0]).write_text("{}")
    os.lchown(str(tmp_path / store_state.OWNERSHIP_IGNORED[0]), 4242, 4242)
    assert store_state.first_not_owned(str(tmp_path), 0, 0, store_state.OWNERSHIP_IGNORED) == str(deep)


def plan_args(tmp_path, entries):
    store, comfy, archive = tmp_path / "Models", tmp_path / "models", tmp_path / "archive"
    manifest = {"workflows": {}, "models": []}
    return {"manifest": manifest, "extra_models": entries, "media": [], "store_root": str(store),
            "comfyui_root": str(comfy), "owner": OWNER, "group": GROUP,
            "folders": [str(store), str(store / "clip"), str(comfy)], "merge_sources": ["VAE", "Lora"],
            "archive_root": str(archive), "report_path": str(tmp_path / "storage-report.md")}


def test_model_manifest_reads_the_host_in_the_same_call(capsys, tmp_path):
    store, comfy = tmp_path / "Models", tmp_path / "models"
    for folder in (store, store / "clip", comfy):
        folder.mkdir(exist_ok=True)
        folder.chmod(0o755)
    (store / "VAE").mkdir()
    _path, _entry = place(store, "clip/model.safetensors")
    extra = {"name": "model", "repo_id": "org/model", "path": "model.safetensors", "dest": "clip/model.safetensors",
             "revision": COMMIT, "sha256": SHA256, "root": "store", "licence": "mit", "media": "image"}
    code, result = run_module(capsys, model_manifest, plan_args(tmp_path, [extra]))
    assert code == 0, result
    host = result["host"]
    assert host["account_known"] is True and host["free_bytes"] > 0
    assert host["folders_off"] == []
    assert host["merge_sources"] == ["VAE"]
    assert host["to_check"] == {"store": [], "comfyui": []}, "pinned and in place: no hf_model call"
    assert host["not_owned"] == {"store": None, "comfyui": None}
    assert host["report"]["current"] is False, "no report written yet"
    assert host["report"]["markdown"].startswith("# Model storage report")

    # The report file the role writes with model_storage_report is what the next plan finds current.
    report_args = {"store_root": str(store), "comfyui_root": str(comfy), "archive_root": str(tmp_path / "archive"),
                   "listed": result["listed"], "dest": str(tmp_path / "storage-report.md"), "owner": OWNER,
                   "group": GROUP, "mode": "0644"}
    code, written = run_module(capsys, model_storage_report, report_args)
    assert code == 0 and written["changed"] is True
    assert (tmp_path / "storage-report.md").read_text() == host["report"]["markdown"]
    code, again = run_module(capsys, model_storage_report, report_args)
    assert again["changed"] is False
    code, result = run_module(capsys, model_manifest, plan_args(tmp_path, [extra]))
    assert result["host"]["report"]["current"] is True

    (tmp_path / "storage-report.md").chmod(0o600)
    code, result = run_module(capsys, model_manifest, plan_args(tmp_path, [extra]))
    assert result["host"]["report"]["current"] is False, "a report file with another mode is rewritten"


def test_the_report_file_in_check_mode_is_reported_not_written(capsys, tmp_path):
    (tmp_path / "Models").mkdir()
    dest = tmp_path / "storage-report.md"
    args = {"store_root": str(tmp_path / "Models"), "dest": str(dest), "_ansible_check_mode": True,
            "_ansible_diff": True}
    code, result = run_module(capsys, model_storage_report, args)
    assert code == 0 and result["changed"] is True and not dest.exists()
    assert result["diff"]["after"] == result["markdown"] and result["diff"]["before"] == ""
