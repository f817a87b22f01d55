"""rollback: the plan replays the ledger newest first, never over something that is there again, and only
lines that moved bytes."""

import json
import os

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import archive, rollback

from helpers.model_trees import build, snapshot


def test_archived_twice_at_the_same_place_restores_the_newest_and_reports_the_older(tmp_path):
    store, archive_root = tmp_path / "Models", tmp_path / "a"
    for content in ("first", "second"):
        build(store, {"x.bin": content})
        archive.archive_path(str(store / "x.bin"), str(store), str(archive_root), content)
    plan = rollback.plan_rollback(str(archive_root), [str(store)])
    assert [(e["state"], e["archive_reason"]) for e in plan] == [("restore", "second"), ("conflict", "first")]
    rollback.apply_rollback(str(archive_root), plan)
    assert (store / "x.bin").read_text() == "second"


def test_a_bad_since_time_is_explained(tmp_path):
    with pytest.raises(archive.ArchiveError, match="ISO 8601"):
        rollback.plan_rollback(str(tmp_path), [str(tmp_path)], since="yesterday")


def test_a_rollback_does_not_replay_lines_that_moved_no_bytes(tmp_path):
    store, archive_root = tmp_path / "Models", tmp_path / "model-archive"
    build(store, {"a.bin": "a"})
    archive.record_symlink_removal(str(archive_root), str(store / "gone"), "../nowhere", "removed dangling symlink")
    archive.archive_path(str(store / "a.bin"), str(store), str(archive_root), "r")
    assert [entry["to"] for entry in rollback.plan_rollback(str(archive_root), [str(store)])] == [str(store / "a.bin")]


def test_a_moved_file_replaced_since_by_a_link_is_not_moved_back_in_its_stead(tmp_path):
    store, comfy, archive_root = tmp_path / "Models", tmp_path / "comfy", tmp_path / "model-archive"
    build(store, {"clip/t5-base.bin": "weights"})
    comfy.mkdir()
    archive.move_with_record(str(store / "clip/t5-base.bin"), str(comfy / "t5-base.bin"), str(archive_root), "moved",
                             str(store))
    os.rename(str(comfy / "t5-base.bin"), str(tmp_path / "kept.bin"))  # a person moved it on ...
    os.symlink("kept.bin", str(comfy / "t5-base.bin"))  # ... and left a link in its place
    (entry,) = rollback.plan_rollback(str(archive_root), [str(store), str(comfy)])
    assert entry["state"] == "conflict" and "no longer what was moved" in entry["problem"]
    assert rollback.apply_rollback(str(archive_root), [entry]) == [] and not (store / "clip/t5-base.bin").exists()


def _world(tmp_path):
    """A store, ComfyUI's models folder, the archive, and a victim outside them all (an /etc/passwd)."""
    store, comfy, archive_root = tmp_path / "Models", tmp_path / "comfy/models", tmp_path / "model-archive"
    build(tmp_path, {"Models/vae/.keep": "", "comfy/models/.keep": "", "model-archive/evil": "attacker's bytes",
                     "model-archive/x.bin": "x", "etc/passwd": "root:x:0:0", "etc/cron.d/.keep": ""})
    return store, comfy, archive_root, tmp_path / "etc"


def _append(archive_root, line):
    """What a service account that can write the ledger appends (a forged line)."""
    with open(str(archive_root / "ledger.jsonl"), "a") as handle:
        handle.write(json.dumps(dict({"time": "2026-11-27T10:00:00+00:00", "size": None, "sha256": None,
                                      "reason": "forged"}, **line)) + "\n")


# name, ledger line ({store}, {comfy}, {archive}, {etc}, {tmp} filled in), state, words of the problem
LINE_CASES = [
    ("forged: a victim outside the archive moved into the store",
     {"from": "{store}/passwd", "to": "{etc}/passwd", "root": "{store}"},
     "refused", "archive path outside archive_root"),
    ("forged: an archived file put back outside the store (into /etc/cron.d)",
     {"from": "{etc}/cron.d/evil", "to": "{archive}/evil", "root": "{store}"},
     "refused", "store path outside the root it names"),
    ("forged: the store path in another accepted root than the one named",
     {"from": "{comfy}/evil", "to": "{archive}/evil", "root": "{store}"},
     "refused", "store path outside the root it names"),
    ("forged: '..' in the store path",
     {"from": "{store}/../etc/cron.d/evil", "to": "{archive}/evil", "root": "{store}"},
     "refused", "'..'"),
    ("forged: '..' in the archive path",
     {"from": "{store}/passwd", "to": "{archive}/../etc/passwd", "root": "{store}"},
     "refused", "'..'"),
    ("forged: a root this rollback does not restore into",
     {"from": "{etc}/cron.d/evil", "to": "{archive}/evil", "root": "{etc}"},
     "refused", "root not one this rollback restores into"),
    ("forged: the store path through a symlinked folder",
     {"from": "{store}/vae/etc-link/cron.d/evil", "to": "{archive}/evil", "root": "{store}"},
     "refused", "symlink"),
    ("forged: the archive path through a symlinked folder",
     {"from": "{store}/passwd", "to": "{archive}/etc-link/passwd", "root": "{store}"},
     "refused", "symlink"),
    ("forged: a path that is not a string", {"from": ["{etc}"], "to": "{archive}/evil", "root": "{store}"},
     "refused", "not an absolute path"),
    ("legacy line (no root) inside an accepted root: put back", {"from": "{store}/vae/x.bin", "to": "{archive}/x.bin"},
     "restore", None),
    ("legacy line (no root) outside the accepted roots",
     {"from": "{etc}/cron.d/evil", "to": "{archive}/evil"},
     "refused", "no root recorded"),
    ("a line with its root, inside it: put back",
     {"from": "{store}/vae/x.bin", "to": "{archive}/x.bin", "root": "{store}"},
     "restore", None),
]


@pytest.mark.parametrize(("name", "line", "state", "words"), LINE_CASES, ids=[case[0] for case in LINE_CASES])
def test_rollback_obeys_only_lines_of_its_own_ledger(tmp_path, name, line, state, words):
    store, comfy, archive_root, etc = _world(tmp_path)
    os.symlink(str(etc), str(store / "vae/etc-link"))
    os.symlink(str(etc), str(archive_root / "etc-link"))

    def fill(value):
        if isinstance(value, list):
            return [fill(item) for item in value]
        return value.format(store=store, comfy=comfy, archive=archive_root, etc=etc, tmp=tmp_path)

    _append(archive_root, {key: fill(value) for key, value in line.items()})
    roots = [str(store), str(comfy)]
    before = snapshot(tmp_path)
    plan = rollback.plan_rollback(str(archive_root), roots=roots)
    assert [entry["state"] for entry in plan] == [state]
    if words:
        assert words in plan[0]["problem"]
    for check in (True, False):  # check mode plans and moves nothing; the real run moves only what it planned
        done = [] if check else rollback.apply_rollback(str(archive_root), plan)
        after = snapshot(tmp_path)
        if state == "refused" or check:
            assert done == [] and after == before
    assert (etc / "passwd").read_text() == "root:x:0:0" and not (etc / "cron.d/evil").exists()
    again = rollback.plan_rollback(str(archive_root), roots=roots)  # the second run: nothing left to do
    assert [entry["state"] for entry in again] == ([] if state == "restore" else ["refused"])


def test_a_legacy_line_and_a_layout_move_roll_back_with_the_roots_given(tmp_path):
    store, comfy, archive_root, _etc = _world(tmp_path)
    build(store, {"clip/t5-base.bin": "weights"})
    record = archive.move_with_record(str(store / "clip/t5-base.bin"), str(comfy / "t5-base.bin"),
                                      str(archive_root), "moved", str(store))
    assert record["root"] == str(store)
    (entry,) = rollback.plan_rollback(str(archive_root), roots=[str(store), str(comfy)])
    assert entry["state"] == "restore"
    (restored,) = rollback.apply_rollback(str(archive_root), [entry])
    assert restored["root"] == str(store) and (store / "clip/t5-base.bin").read_text() == "weights"
    assert rollback.plan_rollback(str(archive_root), roots=[str(store), str(comfy)]) == []
