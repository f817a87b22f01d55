"""model_rollback: the ledger replayed backwards, never overwriting, and idempotent."""

import json
import os

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import archive, rollback, store_cleanup
from ansible_collections.ai4artsed.devserver.plugins.modules import model_archive, model_rollback

from helpers.model_trees import build, contents, ledger, snapshot
from helpers.module_runner import run_module


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
    plan = store_cleanup.plan_model_archive(str(store), str(archive_root), merges=[{"src": "VAE", "dest": "vae"}],
                                            reason="x")
    store_cleanup.apply_archive_plan(str(store), str(archive_root), plan, now="2026-11-26T10:00:00Z")
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
    base = dict(options, archive_root=str(archive_root), roots=[str(store)])
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
    code, result = run_module(capsys, model_rollback, {"archive_root": str(archive_root), "roots": [str(store)]})
    assert code == 0 and result["changed"] is True
    assert [os.path.relpath(e["to"], str(store)) for e in result["conflicts"]] == ["loras/a.safetensors"]
    assert "exists again" in result["conflicts"][0]["problem"]
    assert (store / "loras/a.safetensors").read_text() == "a newer download"
    assert os.path.exists(result["conflicts"][0]["from"])  # still safe in the archive
    assert result["warnings"]
    code, again = run_module(capsys, model_rollback, {"archive_root": str(archive_root), "roots": [str(store)]})
    assert again["changed"] is False and len(again["conflicts"]) == 1


def test_an_archived_file_that_vanished_is_reported_missing(capsys, world):
    store, archive_root = world
    moved = [r for r in ledger(archive_root) if r["reason"] == "r1"][0]
    os.rename(moved["to"], str(archive_root.parent / "elsewhere"))
    code, result = run_module(capsys, model_rollback, {"archive_root": str(archive_root), "roots": [str(store)],
                                                       "path_prefix": str(store / "vae")})
    assert code == 0 and [e["to"] for e in result["missing"]] == [moved["from"]]


def _tear_last_line(archive_root, keep):
    """What a crash while appending leaves: the last record cut after `keep` bytes, without its newline."""
    path = archive_root / "ledger.jsonl"
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[:start + keep])
    return data[start:start + keep]


def _lines(archive_root):
    return (archive_root / "ledger.jsonl").read_bytes().splitlines()


@pytest.fixture
def torn(tmp_path):
    """Three files archived; the crash came while appending the line of the third (its move was done)."""
    store, archive_root = tmp_path / "Models", tmp_path / "model-archive"
    build(store, {"a.bin": "a", "b.bin": "b", "c.bin": "c", "d.bin": "d"})
    for name in ("a.bin", "b.bin", "c.bin"):
        archive.archive_path(str(store / name), str(store), str(archive_root), "before the crash")
    return store, archive_root, _tear_last_line(archive_root, 40)


def test_a_torn_last_line_is_set_aside_before_the_next_record_and_every_real_move_rolls_back(
        capsys, tmp_path, torn):
    store, archive_root, torn_bytes = torn
    files = contents(store, archive_root)
    code, result = run_module(capsys, model_archive, {"root": str(store), "archive_root": str(archive_root),
                                                      "paths": ["d.bin"]})
    assert code == 0 and result["changed"] is True

    records = [json.loads(line) for line in _lines(archive_root)]  # every line is a record of its own
    assert [record["from"] for record in records[:2]] == [str(store / "a.bin"), str(store / "b.bin")]
    assert records[3]["from"] == str(store / "d.bin")
    aside = records[2]
    assert aside["action"] == "set-aside" and os.path.basename(aside["to"]).startswith("ledger.torn-")
    with open(aside["to"], "rb") as handle:
        assert handle.read() == torn_bytes  # kept, not deleted

    code, rolled = run_module(capsys, model_rollback, {"archive_root": str(archive_root), "roots": [str(store)]})
    assert code == 0, rolled
    assert sorted(os.path.basename(entry["to"]) for entry in rolled["restored"]) == ["a.bin", "b.bin", "d.bin"]
    assert [(store / name).read_text() for name in ("a.bin", "b.bin", "d.bin")] == ["a", "b", "d"]
    assert (archive_root / "c.bin").read_text() == "c"  # its record was torn: it waits for a person, safe
    assert any(aside["to"] in problem for problem in rolled["ledger_problems"]) and rolled["warnings"]
    assert not files - contents(store, archive_root)  # nothing lost (the torn bytes' copy is new)


def test_rollback_reads_every_complete_record_and_reports_a_torn_last_line(capsys, torn):
    store, archive_root, _torn_bytes = torn
    code, result = run_module(capsys, model_rollback, {"archive_root": str(archive_root), "roots": [str(store)]})
    assert code == 0, result
    assert sorted(os.path.basename(entry["to"]) for entry in result["restored"]) == ["a.bin", "b.bin"]
    assert len(result["ledger_problems"]) == 1 and "Line 3" in result["ledger_problems"][0]
    assert (store / "a.bin").read_text() == "a" and (store / "b.bin").read_text() == "b"


def test_a_record_glued_onto_a_torn_line_by_an_older_version_is_still_read(tmp_path, torn):
    store, archive_root, torn_bytes = torn
    path = archive_root / "ledger.jsonl"
    build(store, {"d.bin": "d"})
    os.rename(str(store / "d.bin"), str(archive_root / "d.bin"))
    glued = json.dumps({"time": "2026-11-27T10:00:00+00:00", "from": str(store / "d.bin"),
                        "to": str(archive_root / "d.bin"), "size": 1, "sha256": None, "reason": "r"})
    path.write_bytes(path.read_bytes() + glued.encode() + b"\n")  # what appending in mode "a" did
    problems = []
    plan = rollback.plan_rollback(str(archive_root), [str(store)], problems=problems)
    assert sorted(os.path.basename(entry["to"]) for entry in plan) == ["a.bin", "b.bin", "d.bin"]
    assert "followed by a complete record" in problems[0]


def test_a_forged_line_is_reported_refused_and_moves_nothing(capsys, tmp_path, world):
    store, archive_root = world
    victim = tmp_path / "etc/passwd"
    build(tmp_path, {"etc/passwd": "root:x:0:0"})
    with open(str(archive_root / "ledger.jsonl"), "a") as handle:
        handle.write(json.dumps({"time": "2026-11-27T10:00:00+00:00", "from": str(store / "passwd"),
                                 "to": str(victim), "root": str(store), "size": None, "sha256": None,
                                 "reason": "forged"}) + "\n")
    base = {"archive_root": str(archive_root), "roots": [str(store)], "path_prefix": str(store / "passwd")}
    for check in (True, False, False):  # check mode, the run, the second run: the same report, nothing moved
        code, result = run_module(capsys, model_rollback, dict(base, _ansible_check_mode=check))
        assert code == 0 and result["changed"] is False and result["restored"] == [], result
        (refused,) = result["refused"]
        assert refused["from"] == str(victim) and "archive path outside archive_root" in refused["problem"]
        assert str(victim) in json.dumps(result["warnings"])
        assert victim.read_text() == "root:x:0:0" and not (store / "passwd").exists()


def test_a_ledger_that_is_a_fifo_fails_at_once_naming_it(capsys, tmp_path):
    archive_root = tmp_path / "model-archive"
    archive_root.mkdir()
    os.mkfifo(str(archive_root / "ledger.jsonl"))
    code, result = run_module(capsys, model_rollback, {"archive_root": str(archive_root), "roots": [str(tmp_path)]})
    assert code == 1 and str(archive_root / "ledger.jsonl") in result["msg"] and "FIFO" in result["msg"]
