"""model_rollback: the ledger replayed backwards, never overwriting, and idempotent."""

import os

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import archive
from ansible_collections.ai4artsed.devserver.plugins.modules import model_rollback

from model_trees import build, contents, ledger, run_module, snapshot


@pytest.fixture
def world(tmp_path):
    """A store after three archive moves at known times and one merge move."""
    store, archive_root = tmp_path / "Models", tmp_path / "model-archive"
    build(store, {"vae/old.safetensors": "old", "loras/a.safetensors": "a", "clip/t5.safetensors": "t5",
                  "VAE/new.safetensors": "new"})
    archive.archive_path(str(store / "vae/old.safetensors"), str(store), str(archive_root), "r1",
                         now="2026-11-01T10:00:00Z")
    archive.archive_path(str(store / "loras/a.safetensors"), str(store), str(archive_root), "r2",
                         now="2026-11-20T10:00:00Z")
    archive.archive_path(str(store / "clip/t5.safetensors"), str(store), str(archive_root), "r3",
                         now="2026-11-25T10:00:00Z")
    plan = archive.plan_model_archive(str(store), str(archive_root), merges=[{"src": "VAE", "dest": "vae"}],
                                      reason="x")
    archive.apply_archive_plan(str(store), str(archive_root), plan, now="2026-11-26T10:00:00Z")
    return store, archive_root


# name, module options (paths made absolute below), restored (relative to the store), conflicts, after
CASES = [
    ("everything, newest first", {},
     ["VAE", "VAE/new.safetensors", "clip/t5.safetensors", "loras/a.safetensors", "vae/old.safetensors"], 0,
     {"VAE/new.safetensors": ("file", b"new"), "vae/old.safetensors": ("file", b"old")}),
    ("only since a time", {"since": "2026-11-20T00:00:00Z"},
     ["VAE", "VAE/new.safetensors", "clip/t5.safetensors", "loras/a.safetensors"], 0,
     {"vae/old.safetensors": None, "loras/a.safetensors": ("file", b"a")}),
    ("only under a path prefix", {"path_prefix": "loras"}, ["loras/a.safetensors"], 0,
     {"loras/a.safetensors": ("file", b"a"), "clip/t5.safetensors": None}),
]


@pytest.mark.parametrize(("name", "options", "restored", "conflicts", "after"), CASES, ids=[c[0] for c in CASES])
def test_rollback_cases(capsys, tmp_path, world, name, options, restored, conflicts, after):
    store, archive_root = world
    options = dict(options)
    if "path_prefix" in options:
        options["path_prefix"] = str(store / options["path_prefix"])
    base = dict(options, archive_root=str(archive_root))
    start, files = snapshot(tmp_path), contents(store, archive_root)

    code, checked = run_module(capsys, model_rollback, dict(base, _ansible_check_mode=True, _ansible_diff=True))
    assert code == 0, checked
    assert snapshot(tmp_path) == start
    assert [os.path.relpath(e["to"], str(store)) for e in checked["restored"]] == restored
    assert checked["diff"]["after"]

    code, result = run_module(capsys, model_rollback, base)
    assert code == 0 and result["restored"] == checked["restored"] and len(result["conflicts"]) == conflicts
    final = snapshot(store)
    for key, value in after.items():
        assert final.get(key) == value, key
    assert contents(store, archive_root) == files
    assert len([r for r in ledger(archive_root) if r.get("action") == "restore"]) == len(restored)

    for check in (True, False):
        code, again = run_module(capsys, model_rollback, dict(base, _ansible_check_mode=check))
        assert code == 0 and again["changed"] is False and again["restored"] == []


def test_rollback_refuses_to_overwrite_and_reports(capsys, world):
    store, archive_root = world
    build(store, {"loras/a.safetensors": "a newer download"})
    code, result = run_module(capsys, model_rollback, {"archive_root": str(archive_root)})
    assert code == 0 and result["changed"] is True
    assert [os.path.relpath(e["to"], str(store)) for e in result["conflicts"]] == ["loras/a.safetensors"]
    assert "exists again" in result["conflicts"][0]["problem"]
    assert (store / "loras/a.safetensors").read_text() == "a newer download"
    assert os.path.exists(result["conflicts"][0]["from"])  # still safe in the archive
    assert result["warnings"]
    code, again = run_module(capsys, model_rollback, {"archive_root": str(archive_root)})
    assert again["changed"] is False and len(again["conflicts"]) == 1


def test_an_archived_file_that_vanished_is_reported_missing(capsys, world):
    store, archive_root = world
    moved = [r for r in ledger(archive_root) if r["reason"] == "r1"][0]
    os.rename(moved["to"], str(archive_root.parent / "elsewhere"))
    code, result = run_module(capsys, model_rollback, {"archive_root": str(archive_root), "path_prefix": str(store / "vae")})
    assert code == 0 and [e["to"] for e in result["missing"]] == [moved["from"]]


def test_archived_twice_at_the_same_place_restores_the_newest_and_reports_the_older(tmp_path):
    store, archive_root = tmp_path / "Models", tmp_path / "a"
    for content in ("first", "second"):
        build(store, {"x.bin": content})
        archive.archive_path(str(store / "x.bin"), str(store), str(archive_root), content)
    plan = archive.plan_rollback(str(archive_root))
    assert [(e["state"], e["archive_reason"]) for e in plan] == [("restore", "second"), ("conflict", "first")]
    archive.apply_rollback(str(archive_root), plan)
    assert (store / "x.bin").read_text() == "second"


def test_a_bad_since_time_is_explained(tmp_path):
    with pytest.raises(archive.ArchiveError, match="ISO 8601"):
        archive.plan_rollback(str(tmp_path), since="yesterday")
