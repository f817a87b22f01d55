"""model_links: the ComfyUI link tree as declared state (table-driven, check mode and second run per case)."""

import hashlib
import os

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import rollback
from ansible_collections.ai4artsed.devserver.plugins.module_utils import hf_paths, layout
from ansible_collections.ai4artsed.devserver.plugins.modules import model_links

from helpers.model_trees import build, contents, ledger, snapshot
from helpers.module_runner import run_module

QWEN = "vae/QwenImage/qwen_image_vae.safetensors"
QWEN_LINK = "../../../../Models/vae/QwenImage/qwen_image_vae.safetensors"  # from models/vae/
STORE = {QWEN: "qwen-vae", "clip/t5.safetensors": "t5", "clip/qwen_vl.safetensors": "qwen-vl",
         "loras/a.safetensors": "lora-a", "loras/sub/b.safetensors": "lora-b"}


@pytest.fixture
def roots(tmp_path):
    ai = tmp_path / "ai"
    store = ai / "SwarmUI" / "Models"
    link_root = ai / "SwarmUI" / "dlbackend" / "ComfyUI" / "models"
    archive = ai / "model-archive"
    for path in (store, link_root, archive):
        path.mkdir(parents=True)
    build(store, STORE)
    return store, link_root, archive


def args(roots, links, **extra):
    store, link_root, archive = roots
    return dict({"link_root": str(link_root), "store_root": str(store), "archive_root": str(archive),
                 "links": links}, **extra)


# name, link tree before, declared links, options, expected counts (subset), expected entries after
# (relative to the link root: ("link", value) | "file content" | None for absent), files in the archive
CASES = [
    ("fresh tree: directories and relative links are created",
     {}, {"vae/qwen_image_vae.safetensors": QWEN, "clip/t5.safetensors": "clip/t5.safetensors"}, {},
     {"linked": 2, "directories": 2},
     {"vae/qwen_image_vae.safetensors": ("link", QWEN_LINK),
      "clip/t5.safetensors": ("link", "../../../../Models/clip/t5.safetensors")}, []),
    ("directory-level symlink is replaced by a real directory with one link per exposed file",
     {"clip": ("link", "../../../Models/clip")}, {"clip/t5.safetensors": "clip/t5.safetensors"}, {},
     {"expanded": 1, "linked": 0, "unchanged": 1},
     {"clip": ("dir",), "clip/t5.safetensors": ("link", "../../../../Models/clip/t5.safetensors"),
      "clip/qwen_vl.safetensors": ("link", "../../../../Models/clip/qwen_vl.safetensors")}, []),
    ("nested folders of an expanded symlink become real directories too",
     {"loras": ("link", "/ABS/loras")}, {}, {},
     {"expanded": 1},
     {"loras/sub": ("dir",), "loras/sub/b.safetensors": ("link", "../../../../../Models/loras/sub/b.safetensors"),
      "loras/a.safetensors": ("link", "../../../../Models/loras/a.safetensors")}, []),
    ("wrong, absolute and broken links are fixed",
     {"vae/qwen_image_vae.safetensors": ("link", "../../../../Models/VAE/qwen_image_vae.safetensors"),
      "clip/t5.safetensors": ("link", "/ABS/clip/t5.safetensors"),
      "clip/qwen_vl.safetensors": ("link", "../missing")},
     {"vae/qwen_image_vae.safetensors": QWEN, "clip/t5.safetensors": "clip/t5.safetensors",
      "clip/qwen_vl.safetensors": "clip/qwen_vl.safetensors"}, {},
     {"relinked": 3},
     {"vae/qwen_image_vae.safetensors": ("link", QWEN_LINK),
      "clip/t5.safetensors": ("link", "../../../../Models/clip/t5.safetensors")}, []),
    ("identical real copy is archived and replaced by the link",
     {"vae/qwen_image_vae.safetensors": "qwen-vae"}, {"vae/qwen_image_vae.safetensors": QWEN}, {},
     {"archived": 1, "linked": 1},
     {"vae/qwen_image_vae.safetensors": ("link", QWEN_LINK)}, ["vae/qwen_image_vae.safetensors"]),
    ("differing real file is archived with on_conflict archive",
     {"vae/qwen_image_vae.safetensors": "other bytes"}, {"vae/qwen_image_vae.safetensors": QWEN},
     {"on_conflict": "archive"},
     {"archived": 1, "linked": 1},
     {"vae/qwen_image_vae.safetensors": ("link", QWEN_LINK)}, ["vae/qwen_image_vae.safetensors"]),
    ("unmanaged real files and links are left alone",
     {"checkpoints/stable-audio-open-1.0.safetensors": "audio", "musicgen/model.bin": "mg",
      "clip/mine.safetensors": ("link", "/somewhere/else")},
     {"clip/t5.safetensors": "clip/t5.safetensors"}, {},
     {"linked": 1},
     {"checkpoints/stable-audio-open-1.0.safetensors": ("file", b"audio"), "musicgen/model.bin": ("file", b"mg"),
      "clip/mine.safetensors": ("link", "/somewhere/else")}, []),
    ("a file symlink in the way of a directory is replaced",
     {"vae": ("link", "../../../Models/vae/QwenImage/qwen_image_vae.safetensors")},
     {"vae/qwen_image_vae.safetensors": QWEN}, {},
     {"unlinked": 1, "directories": 1, "linked": 1},
     {"vae": ("dir",), "vae/qwen_image_vae.safetensors": ("link", QWEN_LINK)}, []),
    ("a real directory in the way of a link is archived with on_conflict archive",
     {"vae/qwen_image_vae.safetensors/readme.txt": "notes"}, {"vae/qwen_image_vae.safetensors": QWEN},
     {"on_conflict": "archive"},
     {"archived": 1, "linked": 1},
     {"vae/qwen_image_vae.safetensors": ("link", QWEN_LINK)}, ["vae/qwen_image_vae.safetensors"]),
    ("nothing declared, nothing there: no change", {}, {}, {}, {"linked": 0}, {}, []),
]


def _expand(roots, value):
    """Replace the /ABS placeholder (absolute links) with the real store path."""
    store = str(roots[0])
    if isinstance(value, tuple) and value[0] == "link":
        return ("link", value[1].replace("/ABS", store))
    return value


@pytest.mark.parametrize(("name", "before", "links", "options", "counts", "after", "archived"), CASES,
                         ids=[case[0] for case in CASES])
def test_model_links_cases(capsys, roots, name, before, links, options, counts, after, archived):
    store, link_root, archive = roots
    build(link_root, dict((key, _expand(roots, value)) for key, value in before.items()))
    start = snapshot(link_root.parent.parent.parent)
    files_before = contents(store, link_root, archive)

    # Check mode: the plan, and nothing touched.
    code, checked = run_module(capsys, model_links, dict(args(roots, links, **options), _ansible_check_mode=True,
                                                         _ansible_diff=True))
    assert code == 0, checked
    assert snapshot(link_root.parent.parent.parent) == start
    for key, value in counts.items():
        assert checked["counts"][key] == value, (key, checked["changes"])
    if checked["changed"]:
        assert checked["diff"]["after"]

    # The real run carries out exactly that plan.
    code, result = run_module(capsys, model_links, args(roots, links, **options))
    assert code == 0, result
    assert result["changes"] == checked["changes"]
    final = snapshot(link_root)
    for key, value in after.items():
        expected = _expand(roots, value)
        if isinstance(expected, str):
            expected = ("file", expected.encode())
        assert final.get(key) == expected, key
    for rel in links:
        path = link_root / rel
        assert os.path.islink(path) and not os.path.isabs(os.readlink(path))
        assert os.path.realpath(path) == os.path.realpath(store / links[rel])
    assert not [key for key, value in final.items()
                if value[0] == "link" and os.path.isdir(os.path.join(str(link_root), key))]
    moves = [record for record in ledger(archive) if record.get("action") != "unlink"]
    assert sorted(os.path.relpath(record["to"], str(archive)) for record in moves) == sorted(archived)
    assert contents(store, link_root, archive) == files_before

    # Second run, real and in check mode: nothing to do.
    for check in (True, False):
        code, again = run_module(capsys, model_links, dict(args(roots, links, **options), _ansible_check_mode=check))
        assert code == 0 and again["changed"] is False, again["changes"]
        assert again["counts"]["unchanged"] == len(links)


def test_links_no_longer_declared_are_removed_but_only_managed_symlinks(capsys, roots):
    store, link_root, archive = roots
    links = {"clip/t5.safetensors": "clip/t5.safetensors", "clip/qwen_vl.safetensors": "clip/qwen_vl.safetensors"}
    assert run_module(capsys, model_links, args(roots, links))[0] == 0
    os.symlink("../../../../Models/loras/a.safetensors", str(link_root / "clip" / "user-made.safetensors"))
    # the user replaced a managed link by a real file: it is no longer ours
    os.unlink(str(link_root / "clip" / "qwen_vl.safetensors"))
    (link_root / "clip" / "qwen_vl.safetensors").write_bytes(b"user file")
    code, result = run_module(capsys, model_links, args(roots, {}))
    assert code == 0
    assert [change["path"] for change in result["changes"] if change["action"] == "unlink"] == ["clip/t5.safetensors"]
    assert not os.path.lexists(str(link_root / "clip" / "t5.safetensors"))
    assert (link_root / "clip" / "qwen_vl.safetensors").read_bytes() == b"user file"
    assert os.path.islink(str(link_root / "clip" / "user-made.safetensors"))
    assert run_module(capsys, model_links, args(roots, {}))[1]["changed"] is False


# name, link tree before, declared links, extra arguments, words the message must contain
REFUSALS = [
    ("differing real file without on_conflict", {"vae/qwen_image_vae.safetensors": "other bytes!"},
     {"vae/qwen_image_vae.safetensors": QWEN}, {},
     ["differs", "12 bytes", "8 bytes", "on_conflict", "model_store_on_conflict"]),
    ("target missing from the store", {}, {"vae/x.safetensors": "vae/x.safetensors"}, {}, ["does not exist"]),
    ("target is a folder", {}, {"loras/sub": "loras/sub"}, {}, ["not a regular file"]),
    ("link outside the link root", {}, {"../escape": QWEN}, {}, ["not a path inside the link root"]),
    ("target outside the store", {}, {"vae/x": "../../etc/passwd"}, {}, ["not a path inside the store"]),
    ("real file in the way of a directory", {"vae": "a file"}, {"vae/qwen_image_vae.safetensors": QWEN}, {},
     ["in the way", "model_store_on_conflict"]),
    ("a path declared as a link and as a real file", {}, {"clip/t5.safetensors": "clip/t5.safetensors"},
     {"real_files": ["clip/t5.safetensors"]}, ["declared as a link and as a real file"]),
    ("a real file whose store file is also a declared link's target", {"clip": ("link", "../../../Models/clip")},
     {"text_encoders/t5.safetensors": "clip/t5.safetensors"}, {"real_files": ["clip/t5.safetensors"]},
     ["is the target of a declared link"]),
]


@pytest.mark.parametrize(("name", "before", "links", "extra", "words"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_change_nothing_and_say_why(capsys, roots, name, before, links, extra, words):
    store, link_root, archive = roots
    build(link_root, before)
    start = snapshot(link_root.parent.parent.parent)
    for check in (True, False):
        code, result = run_module(capsys, model_links, dict(args(roots, links, **extra), _ansible_check_mode=check))
        assert code == 1
        for word in words:
            assert word in result["msg"]
        assert "Nothing was changed" in result["msg"]
        assert snapshot(link_root.parent.parent.parent) == start


def test_refuses_a_symlinked_link_root(tmp_path, roots):
    store, link_root, archive = roots
    os.symlink(str(link_root), str(tmp_path / "models-link"))
    with pytest.raises(layout.LayoutError, match="is a symlink"):
        layout.plan_links(str(tmp_path / "models-link"), str(store), {}, str(archive))


def test_refuses_an_archive_inside_the_store(roots):
    store, link_root, _archive = roots
    with pytest.raises(layout.LayoutError, match="must not be inside"):
        layout.plan_links(str(link_root), str(store), {}, str(store / "archive"))


def test_refuses_a_target_that_leaves_the_store_through_a_symlink(tmp_path, roots):
    store, link_root, archive = roots
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.safetensors").write_bytes(b"x")
    os.symlink(str(tmp_path / "outside"), str(store / "elsewhere"))
    with pytest.raises(layout.LayoutError, match="outside the store"):
        layout.plan_links(str(link_root), str(store), {"x.safetensors": "elsewhere/x.safetensors"}, str(archive))


def test_unlink_symlink_refuses_regular_files(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(layout.LayoutError, match="no longer a symlink"):
        layout.unlink_symlink(str(tmp_path / "model.safetensors"))
    assert (tmp_path / "model.safetensors").read_bytes() == b"weights"


def test_only_symlinks_are_ever_unlinked_by_construction():
    """No module_utils code path removes a regular file or a tree: one os.unlink, guarded by lstat."""
    root = os.path.join(os.path.dirname(layout.__file__))
    for name in ("layout.py", "layout_plan.py", "layout_scan.py", "layout_cache.py", "archive.py", "rollback.py",
                 "store_cleanup.py"):
        with open(os.path.join(root, name)) as handle:
            source = handle.read()
        for forbidden in ("rmtree", "os.remove(", "os.rmdir(", "removedirs"):
            assert forbidden not in source, (name, forbidden)
        expected = 1 if name == "layout.py" else 0
        assert source.count("os.unlink(") == expected, name


# The reference workstation: ComfyUI's clip/ was a directory-level symlink into the store, and the
# ComfyUI-only t5-base.safetensors was downloaded through it, so it sits in the store.
COMFY_ONLY = "clip/t5-base.safetensors"
SHARED = {"clip/t5.safetensors": "clip/t5.safetensors"}


def _comfyui_download_accepts_its_dest(link_root):
    """hf_model's own check of a dest: it refuses a symlink or a path through a symlinked folder."""
    return hf_paths.resolve_inside(str(link_root), COMFY_ONLY)


def _after_one_run(capsys, roots):
    """One run converges: the ComfyUI-only file is a real file where its download puts it, moved (not
    copied) from the store with a ledger line, and a second run changes nothing."""
    store, link_root, archive = roots
    files = contents(store, link_root, archive)
    start = snapshot(link_root.parent.parent.parent)
    code, checked = run_module(capsys, model_links, args(roots, SHARED, real_files=[COMFY_ONLY],
                                                         _ansible_check_mode=True, _ansible_diff=True))
    assert code == 0 and checked["counts"]["moved"] == 1, checked
    assert snapshot(link_root.parent.parent.parent) == start
    code, result = run_module(capsys, model_links, args(roots, SHARED, real_files=[COMFY_ONLY]))
    assert code == 0, result
    assert result["changes"] == checked["changes"]
    real = link_root / COMFY_ONLY
    assert real.is_file() and not real.is_symlink() and real.read_bytes() == b"t5-base weights"
    assert not os.path.lexists(str(store / COMFY_ONLY))
    _comfyui_download_accepts_its_dest(link_root)
    assert os.path.realpath(str(link_root / "clip/t5.safetensors")) == str(store / "clip/t5.safetensors")
    assert contents(store, link_root, archive) == files  # no bytes lost
    (moved,) = [record for record in ledger(archive) if record["to"] == str(real)]
    assert moved["from"] == str(store / COMFY_ONLY) and moved["size"] == len(b"t5-base weights")
    assert "real_files" in moved["reason"]
    for check in (True, False):
        code, again = run_module(capsys, model_links, args(roots, SHARED, real_files=[COMFY_ONLY],
                                                           _ansible_check_mode=check))
        assert code == 0 and again["changed"] is False, again["changes"]
    return result, moved


def test_a_comfyui_only_file_in_the_store_behind_a_directory_link_moves_into_the_expanded_folder(capsys, roots):
    store, link_root, archive = roots
    build(store, {COMFY_ONLY: "t5-base weights"})
    build(link_root, {"clip": ("link", "../../../Models/clip")})
    result, _moved = _after_one_run(capsys, roots)
    (expand,) = [change for change in result["changes"] if change["action"] == "expand"]
    assert expand["moved"] == ["t5-base.safetensors"]


def test_a_symlink_left_where_a_comfyui_only_file_belongs_is_replaced_by_its_store_file(capsys, roots):
    store, link_root, archive = roots
    build(store, {COMFY_ONLY: "t5-base weights"})
    # what the expansion of an older version left: one link per file, t5-base's too
    build(link_root, {"clip/t5.safetensors": ("link", "../../../../Models/clip/t5.safetensors"),
                      COMFY_ONLY: ("link", "../../../../Models/" + COMFY_ONLY)})
    with pytest.raises(hf_paths.PathRefused, match="symlink"):
        _comfyui_download_accepts_its_dest(link_root)  # the state every re-run failed on
    _result, moved = _after_one_run(capsys, roots)
    assert moved["replaced"] == "symlink -> ../../../../Models/" + COMFY_ONLY


def test_a_dangling_symlink_where_a_comfyui_only_file_belongs_is_removed_with_a_ledger_line(capsys, roots):
    store, link_root, archive = roots
    build(link_root, {COMFY_ONLY: ("link", "../../../Models/" + COMFY_ONLY)})
    code, result = run_module(capsys, model_links, args(roots, {}, real_files=[COMFY_ONLY]))
    assert code == 0 and not os.path.lexists(str(link_root / COMFY_ONLY))
    (line,) = ledger(archive)
    assert line["action"] == "unlink" and line["from"] == str(link_root / COMFY_ONLY)
    assert line["link"] == "../../../Models/" + COMFY_ONLY and "dangling" in line["reason"]


def test_a_move_to_another_filesystem_is_refused_before_anything_changes(capsys, roots, monkeypatch):
    store, link_root, archive = roots
    build(store, {COMFY_ONLY: "t5-base weights"})
    build(link_root, {"clip": ("link", "../../../Models/clip")})
    start = snapshot(link_root.parent.parent.parent)
    same = layout.same_filesystem
    monkeypatch.setattr(layout, "same_filesystem",
                        lambda path, directory: False if path.startswith(str(store)) else same(path, directory))
    code, result = run_module(capsys, model_links, args(roots, SHARED, real_files=[COMFY_ONLY]))
    assert code == 1 and "another filesystem" in result["msg"] and "Nothing was changed" in result["msg"]
    assert snapshot(link_root.parent.parent.parent) == start


def test_removed_symlinks_are_recorded_in_the_ledger(capsys, roots):
    """The reference workstation's OfficialStableDiffusion link is one '..' short and resolves nowhere;
    the clip/ directory-level link is expanded. Neither may vanish without a line."""
    store, link_root, archive = roots
    build(store, {"Stable-Diffusion/OfficialStableDiffusion/sd3.5_large.safetensors": "sd35"})
    broken = "../../../Models/Stable-Diffusion/OfficialStableDiffusion"
    build(link_root, {"checkpoints/OfficialStableDiffusion": ("link", broken),
                      "clip": ("link", "../../../Models/clip")})
    links = {"checkpoints/OfficialStableDiffusion/sd3.5_large.safetensors":
             "Stable-Diffusion/OfficialStableDiffusion/sd3.5_large.safetensors"}
    code, result = run_module(capsys, model_links, args(roots, links))
    assert code == 0, result
    lines = dict((record["from"], record) for record in ledger(archive))
    dangling = lines[str(link_root / "checkpoints/OfficialStableDiffusion")]
    assert (dangling["action"], dangling["link"], dangling["size"]) == ("unlink", broken, 0)
    assert "removed dangling symlink" in dangling["reason"]
    expanded = lines[str(link_root / "clip")]
    assert (expanded["action"], expanded["link"], expanded["size"]) == ("unlink", "../../../Models/clip", 0)
    assert "expanded directory-level symlink" in expanded["reason"]
    assert rollback.plan_rollback(str(archive), [str(link_root)]) == []  # lines that moved no bytes: nothing to put back


def test_an_archived_differing_file_carries_its_sha256(capsys, roots):
    store, link_root, archive = roots
    build(link_root, {"vae/qwen_image_vae.safetensors": "other bytes"})
    code, _result = run_module(capsys, model_links, args(roots, {"vae/qwen_image_vae.safetensors": QWEN},
                                                         on_conflict="archive"))
    assert code == 0
    (line,) = ledger(archive)
    assert line["sha256"] == hashlib.sha256(b"other bytes").hexdigest()
    with open(line["to"], "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == line["sha256"]
