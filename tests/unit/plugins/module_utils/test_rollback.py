"""rollback: the plan replays the ledger newest first, never over something that is there again, and only
lines that moved bytes."""

import os

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import archive, rollback

from helpers.model_trees import build


def test_archived_twice_at_the_same_place_restores_the_newest_and_reports_the_older(tmp_path):
    store, archive_root = tmp_path / "Models", tmp_path / "a"
    for content in ("first", "second"):
        build(store, {"x.bin": content})
        archive.archive_path(str(store / "x.bin"), str(store), str(archive_root), content)
    plan = rollback.plan_rollback(str(archive_root))
    assert [(e["state"], e["archive_reason"]) for e in plan] == [("restore", "second"), ("conflict", "first")]
    rollback.apply_rollback(str(archive_root), plan)
    assert (store / "x.bin").read_text() == "second"


def test_a_bad_since_time_is_explained(tmp_path):
    with pytest.raises(archive.ArchiveError, match="ISO 8601"):
        rollback.plan_rollback(str(tmp_path), since="yesterday")


def test_a_rollback_does_not_replay_lines_that_moved_no_bytes(tmp_path):
    store, archive_root = tmp_path / "Models", tmp_path / "model-archive"
    build(store, {"a.bin": "a"})
    archive.record_symlink_removal(str(archive_root), str(store / "gone"), "../nowhere", "removed dangling symlink")
    archive.archive_path(str(store / "a.bin"), str(store), str(archive_root), "r")
    assert [entry["to"] for entry in rollback.plan_rollback(str(archive_root))] == [str(store / "a.bin")]


def test_a_moved_file_replaced_since_by_a_link_is_not_moved_back_in_its_stead(tmp_path):
    store, comfy, archive_root = tmp_path / "Models", tmp_path / "comfy", tmp_path / "model-archive"
    build(store, {"clip/t5-base.bin": "weights"})
    comfy.mkdir()
    archive.move_with_record(str(store / "clip/t5-base.bin"), str(comfy / "t5-base.bin"), str(archive_root), "moved")
    os.rename(str(comfy / "t5-base.bin"), str(tmp_path / "kept.bin"))  # a person moved it on ...
    os.symlink("kept.bin", str(comfy / "t5-base.bin"))  # ... and left a link in its place
    (entry,) = rollback.plan_rollback(str(archive_root))
    assert entry["state"] == "conflict" and "no longer what was moved" in entry["problem"]
    assert rollback.apply_rollback(str(archive_root), [entry]) == [] and not (store / "clip/t5-base.bin").exists()
