"""model_links re-check cache: the fast path is taken on an unchanged layout, and every kind of drift
made right after a verification is still found (and fixed, or refused) by the next run.

The layouts are built once and then aged past the racy window (one sleep of about 2 s for the whole
table): only then can a verification be trusted at all. Each case then verifies (a full check that
writes the cache), proves the fast path with os.readlink made to fail, changes something at once
(inside the racy window of that verification) and runs again.
"""

import json
import os
import time

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import layout, layout_cache, layout_plan
from ansible_collections.ai4artsed.devserver.plugins.modules import model_links

from helpers.model_trees import build, contents, snapshot
from helpers.module_runner import run_module

STORE = {"vae/QwenImage/qwen_image_vae.safetensors": "qwen-vae", "clip/t5.safetensors": "t5",
         "clip/qwen_vl.safetensors": "qwen-vl", "loras/a.safetensors": "lora-a", "loras/sub/b.safetensors": "lora-b"}
LINKS = {"vae/qwen_image_vae.safetensors": "vae/QwenImage/qwen_image_vae.safetensors",
         "clip/t5.safetensors": "clip/t5.safetensors", "clip/qwen_vl.safetensors": "clip/qwen_vl.safetensors"}
# Unmanaged entries present before the verification: a folder without declared links, a broken link.
UNMANAGED = {"musicgen/model.bin": "mg", "clip/spare": ("link", "../../../../../spare")}


def _paths(top):
    ai = os.path.join(str(top), "ai")
    return (os.path.join(ai, "SwarmUI", "Models"), os.path.join(ai, "SwarmUI", "dlbackend", "ComfyUI", "models"),
            os.path.join(ai, "model-archive"))


def _args(top, links=None, **extra):
    store, link_root, archive = _paths(top)
    return dict({"link_root": link_root, "store_root": store, "archive_root": archive,
                 "links": dict(LINKS if links is None else links)}, **extra)


def _relink(path, value):
    """Retarget a symlink by renaming a new one over it (no unlink: the directory still changes)."""
    os.symlink(value, path + ".new")
    os.replace(path + ".new", path)


def _dir_symlink_for_link_dir(store, link_root, top):
    os.rename(os.path.join(link_root, "clip"), os.path.join(str(top), "old-clip"))
    os.symlink("../../../Models/clip", os.path.join(link_root, "clip"))


def _replace_store_file(store, link_root, top):
    build(store, {"clip/t5.new": "t5 v2"})
    os.replace(os.path.join(store, "clip", "t5.new"), os.path.join(store, "clip", "t5.safetensors"))


def _swap_store_folder(store, link_root, top):
    os.rename(os.path.join(store, "vae", "QwenImage"), os.path.join(store, "qwen-real"))
    os.symlink("../qwen-real", os.path.join(store, "vae", "QwenImage"))


def _edit_record(change):
    def mutate(store, link_root, top):
        path = os.path.join(link_root, layout_plan.RECORD_NAME)
        with open(path) as handle:
            record = json.load(handle)
        change(record)
        with open(path, "w") as handle:  # in place: the link root's own times stay as they were
            json.dump(record, handle)
    return mutate


def _corrupt_record(store, link_root, top):
    with open(os.path.join(link_root, layout_plan.RECORD_NAME), "r+") as handle:
        handle.write("{not json")


def _spare_becomes_directory(store, link_root, top):
    build(os.path.join(str(top), "ai", "spare"), {"x.bin": "spare"})


# name, change made right after the verification, declared links / extra options for the next run,
# expected: counts (subset) and whether that run changes something, or words of the refusal
CASES = [
    ("a link retargeted", lambda store, link_root, top: _relink(
        os.path.join(link_root, "clip", "t5.safetensors"), "../../../../Models/loras/a.safetensors"),
     None, {}, {"relinked": 1}),
    ("a link retargeted to an absolute path", lambda store, link_root, top: _relink(
        os.path.join(link_root, "clip", "t5.safetensors"), os.path.join(store, "clip", "t5.safetensors")),
     None, {}, {"relinked": 1}),
    ("a link deleted", lambda store, link_root, top: os.unlink(os.path.join(link_root, "clip", "t5.safetensors")),
     None, {}, {"linked": 1}),
    ("a store target deleted", lambda store, link_root, top: os.rename(
        os.path.join(store, "clip", "t5.safetensors"), os.path.join(str(top), "t5-elsewhere")),
     None, {}, ["does not exist"]),
    ("a store target replaced by a symlink out of the store", lambda store, link_root, top: _relink(
        os.path.join(store, "clip", "t5.safetensors"), os.path.join(str(top), "t5-outside")),
     None, {}, ["outside the store"]),
    ("a store target replaced by another file", _replace_store_file, None, {}, {"unchanged": 3, "changed": False}),
    ("a store folder swapped for a symlink", _swap_store_folder, None, {}, {"unchanged": 3, "changed": False}),
    ("a link directory swapped for a directory-level symlink", _dir_symlink_for_link_dir,
     None, {}, {"expanded": 1}),
    ("a directory-level symlink added in an unmanaged folder", lambda store, link_root, top: os.symlink(
        "../../../../Models/loras", os.path.join(link_root, "musicgen", "loras")), None, {}, {"expanded": 1}),
    ("a directory-level symlink added in the link root", lambda store, link_root, top: os.symlink(
        "../../../Models/loras", os.path.join(link_root, "loras")), None, {}, {"expanded": 1}),
    ("an unmanaged broken link that starts to resolve to a directory", _spare_becomes_directory,
     None, {}, {"expanded": 1}),
    ("the declared links changed", lambda store, link_root, top: None,
     dict(LINKS, **{"loras/a.safetensors": "loras/a.safetensors"}), {}, {"linked": 1, "directories": 1}),
    ("a declared link removed", lambda store, link_root, top: None,
     dict((key, value) for key, value in LINKS.items() if key != "clip/t5.safetensors"), {}, {"unlinked": 1}),
    ("an option changed", lambda store, link_root, top: None, None, {"on_conflict": "archive"},
     {"unchanged": 3, "changed": False}),
    ("the record deleted", lambda store, link_root, top: os.unlink(os.path.join(link_root, layout_plan.RECORD_NAME)),
     None, {}, {"unchanged": 3, "changed": True}),
    ("the record corrupted", _corrupt_record, None, {}, ["cannot be read"]),
    ("the record's links edited", _edit_record(lambda record: record["links"].pop("clip/t5.safetensors")),
     None, {}, {"unchanged": 3, "changed": True}),
    ("the record's cache garbled", _edit_record(lambda record: record.update(verified={"at": "soon"})),
     None, {}, {"unchanged": 3, "changed": False}),
    ("the record's cache dropped", _edit_record(lambda record: record.pop("verified")),
     None, {}, {"unchanged": 3, "changed": False}),
]


@pytest.fixture(scope="module")
def aged_layouts(tmp_path_factory):
    """One built layout per case, all older than the racy window."""
    tops = {}
    for case in CASES:
        top = tmp_path_factory.mktemp("cache")
        store, link_root, archive = _paths(top)
        build(store, STORE)
        build(link_root, UNMANAGED)
        build(top, {"t5-outside": "t5"})
        plan = layout.plan_links(link_root, store, LINKS, archive)
        layout.apply_plan(plan)
        tops[case[0]] = top
    time.sleep(layout_cache.RACY_NS / 1e9 + 0.2)
    return tops


def _no_readlink(*args, **kwargs):
    raise AssertionError("readlink called: the re-check cache was not trusted")


@pytest.mark.parametrize(("name", "mutate", "links", "options", "expected"), CASES, ids=[case[0] for case in CASES])
def test_drift_after_a_verification_is_found(capsys, monkeypatch, aged_layouts, name, mutate, links, options,
                                             expected):
    top = aged_layouts[name]
    store, link_root, archive = _paths(top)

    # The verification: a full check (nothing cached yet) that plans nothing and writes the cache.
    code, first = run_module(capsys, model_links, _args(top))
    assert code == 0 and first["changed"] is False and first["verified"] == "full", first
    with open(os.path.join(link_root, layout_plan.RECORD_NAME)) as handle:
        assert "verified" in json.load(handle)

    # The fast path: no link is read, in check mode and for real, and the result is the same.
    with monkeypatch.context() as patch:
        patch.setattr(os, "readlink", _no_readlink)
        for check in (True, False):
            code, fast = run_module(capsys, model_links, dict(_args(top), _ansible_check_mode=check))
            assert code == 0 and fast["verified"] == "fast", fast
            assert fast["changed"] is False and fast["counts"] == first["counts"] and fast["changes"] == []

    # Drift right after the verification, then the next run.
    mutate(store, link_root, top)
    before = contents(store, link_root, archive)
    code, result = run_module(capsys, model_links, _args(top, links, **options))
    if isinstance(expected, list):  # refused by the full check (a fast plan has no errors to report)
        assert code == 1
        for word in expected:
            assert word in result["msg"]
        return
    assert code == 0 and result["verified"] == "full", result
    expected = dict(expected)
    assert result["changed"] is expected.pop("changed", True), result["changes"]
    for key, value in expected.items():
        assert result["counts"][key] == value, (key, result["changes"])
    assert contents(store, link_root, archive) == before
    declared = LINKS if links is None else links
    for rel, target in declared.items():
        path = os.path.join(link_root, rel)
        assert os.path.islink(path) and not os.path.isabs(os.readlink(path))
        assert os.path.realpath(path) == os.path.realpath(os.path.join(store, target))

    # Fixed: a full check now plans nothing, and so does the fast one.
    for verify in ("full", "fast"):
        code, again = run_module(capsys, model_links, _args(top, links, verify=verify, **options))
        assert code == 0 and again["changed"] is False, again["changes"]
        assert again["counts"]["unchanged"] == len(declared)


def test_a_verification_inside_the_racy_window_is_not_trusted(capsys, tmp_path):
    """Directories changed within RACY_NS of the verification are always re-read: right after a build,
    the re-check cache is written but not used."""
    store, link_root, archive = _paths(tmp_path)
    build(store, STORE)
    os.makedirs(link_root)
    assert run_module(capsys, model_links, _args(tmp_path))[1]["changed"] is True
    for _run in range(2):
        code, result = run_module(capsys, model_links, _args(tmp_path))
        assert code == 0 and result["changed"] is False and result["verified"] == "full"


def test_verify_full_never_uses_the_cache_and_check_mode_never_writes_it(capsys, monkeypatch, tmp_path):
    store, link_root, archive = _paths(tmp_path)
    build(store, STORE)
    os.makedirs(link_root)
    plan = layout.plan_links(link_root, store, LINKS, archive)
    layout.apply_plan(plan)
    record = os.path.join(link_root, layout_plan.RECORD_NAME)
    start = snapshot(tmp_path)
    code, checked = run_module(capsys, model_links, dict(_args(tmp_path), _ansible_check_mode=True))
    assert code == 0 and checked["changed"] is False
    assert snapshot(tmp_path) == start  # check mode wrote no cache
    monkeypatch.setattr(layout_cache, "RACY_NS", -10 ** 12)  # even with every directory counted as old
    assert run_module(capsys, model_links, _args(tmp_path))[1]["verified"] == "full"  # writes the cache
    with open(record) as handle:
        assert "verified" in json.load(handle)
    assert run_module(capsys, model_links, _args(tmp_path))[1]["verified"] == "fast"
    code, full = run_module(capsys, model_links, _args(tmp_path, verify="full"))
    assert code == 0 and full["verified"] == "full" and full["changed"] is False


def test_a_store_target_that_is_a_symlink_disables_the_cache(capsys, monkeypatch, tmp_path):
    store, link_root, archive = _paths(tmp_path)
    build(store, dict(STORE, **{"clip/alias.safetensors": ("link", "t5.safetensors")}))
    os.makedirs(link_root)
    links = dict(LINKS, **{"clip/alias.safetensors": "clip/alias.safetensors"})
    layout.apply_plan(layout.plan_links(link_root, store, links, archive))
    monkeypatch.setattr(layout_cache, "RACY_NS", -10 ** 12)
    for _run in range(2):
        code, result = run_module(capsys, model_links, _args(tmp_path, links))
        assert code == 0 and result["changed"] is False and result["verified"] == "full"
