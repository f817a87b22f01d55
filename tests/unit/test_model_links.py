"""model_links: the ComfyUI link tree as declared state (table-driven, check mode and second run per case)."""

import os

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import layout
from ansible_collections.ai4artsed.devserver.plugins.modules import model_links

from model_trees import build, contents, ledger, run_module, snapshot

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
    assert sorted(os.path.relpath(record["to"], str(archive)) for record in ledger(archive)) == sorted(archived)
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
     {"vae/qwen_image_vae.safetensors": QWEN}, {}, ["differs", "12 bytes", "8 bytes", "on_conflict"]),
    ("target missing from the store", {}, {"vae/x.safetensors": "vae/x.safetensors"}, {}, ["does not exist"]),
    ("target is a folder", {}, {"loras/sub": "loras/sub"}, {}, ["not a regular file"]),
    ("link outside the link root", {}, {"../escape": QWEN}, {}, ["not a path inside the link root"]),
    ("target outside the store", {}, {"vae/x": "../../etc/passwd"}, {}, ["not a path inside the store"]),
    ("real file in the way of a directory", {"vae": "a file"}, {"vae/qwen_image_vae.safetensors": QWEN}, {},
     ["in the way"]),
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
    for name in ("layout.py", "archive.py"):
        with open(os.path.join(root, name)) as handle:
            source = handle.read()
        for forbidden in ("rmtree", "os.remove(", "os.rmdir(", "removedirs"):
            assert forbidden not in source, (name, forbidden)
        expected = 1 if name == "layout.py" else 0
        assert source.count("os.unlink(") == expected, name
