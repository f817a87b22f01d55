"""fileutil: the one sha256, is_inside, size and content checks, and atomic JSON write every module shares."""

import hashlib
import json
import os

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import fileutil


@pytest.mark.parametrize(("path", "root", "inside"), [
    ("/store/vae/a.safetensors", "/store", True),
    ("/store", "/store", True),
    ("/store/", "/store", True),
    ("/store-old/a.safetensors", "/store", False),  # a shared prefix is not a parent
    ("/store/../etc/passwd", "/store", False),
    ("/etc", "/store", False),
    ("/anything", "/", True),
    ("vae/QwenImage/x.safetensors", "vae", True),  # clean relative paths (the manifest's dests)
    ("vae2/x.safetensors", "vae", False),
], ids=str)
def test_is_inside(path, root, inside):
    assert fileutil.is_inside(path, root) is inside


@pytest.mark.parametrize("data", [b"", b"model bytes", b"x" * 10], ids=["empty", "short", "several blocks"])
def test_sha256_file_is_the_digest_of_the_bytes(tmp_path, monkeypatch, data):
    monkeypatch.setattr(fileutil, "CHUNK", 3)  # several blocks without a large file
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    assert fileutil.sha256_file(str(path)) == hashlib.sha256(data).hexdigest()


def test_same_content_compares_bytes_of_regular_files_only(tmp_path):
    for name, data in (("a", b"same"), ("b", b"same"), ("c", b"diff"), ("d", b"longer")):
        (tmp_path / name).write_bytes(data)
    (tmp_path / "link").symlink_to("a")

    def path(name):
        return str(tmp_path / name)

    assert fileutil.same_content(path("a"), path("b")) == (True, hashlib.sha256(b"same").hexdigest())
    assert fileutil.same_content(path("a"), path("c"))[0] is False
    assert fileutil.same_content(path("a"), path("d")) == (False, None)  # sizes differ: nothing read
    assert fileutil.same_content(path("link"), path("a")) == (False, None)


def test_tree_size_counts_regular_files_and_not_links(tmp_path):
    (tmp_path / "folder" / "sub").mkdir(parents=True)
    (tmp_path / "folder" / "a").write_bytes(b"12345")
    (tmp_path / "folder" / "sub" / "b").write_bytes(b"123")
    (tmp_path / "folder" / "link").symlink_to("a")
    assert fileutil.tree_size(str(tmp_path / "folder")) == 8
    assert fileutil.tree_size(str(tmp_path / "folder" / "a")) == 5
    assert fileutil.tree_size(str(tmp_path / "folder" / "link")) == 0


def test_symlinked_component_names_the_first_linked_folder(tmp_path):
    (tmp_path / "real" / "deep").mkdir(parents=True)
    (tmp_path / "linked").symlink_to("real")
    root = str(tmp_path)
    assert fileutil.symlinked_component(os.path.join(root, "real", "deep", "x"), root) is None
    assert fileutil.symlinked_component(os.path.join(root, "linked", "deep", "x"), root) == os.path.join(root, "linked")
    assert fileutil.symlinked_component(os.path.join(root, "x"), root) is None


@pytest.mark.parametrize(("sync", "syncs"), [(True, 2), (False, 0)], ids=["record", "courtesy file"])
def test_write_json_atomically_replaces_the_file_and_syncs_file_and_folder(tmp_path, monkeypatch, sync, syncs):
    path = tmp_path / "state" / "record.json"  # the folder is made when missing
    real_fsync, synced = os.fsync, []
    monkeypatch.setattr(fileutil.os, "fsync", lambda descriptor: synced.append(descriptor) or real_fsync(descriptor))
    fileutil.write_json_atomically(str(path), {"b": 1, "a": [1, 2]}, sync=sync)
    fileutil.write_json_atomically(str(path), {"sha256": "new"}, sync=sync)
    assert json.loads(path.read_text()) == {"sha256": "new"}
    assert os.listdir(str(path.parent)) == ["record.json"]
    assert len(synced) == 2 * syncs


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "record.json"
    fileutil.write_json_atomically(str(path), {"sha256": "old"})
    with pytest.raises(TypeError):
        fileutil.write_json_atomically(str(path), {"sha256": object()})  # fails half-way through the dump
    assert json.loads(path.read_text()) == {"sha256": "old"}
    assert os.listdir(str(tmp_path)) == ["record.json"]


def test_record_folder_made_by_a_parallel_download_is_no_error(tmp_path, monkeypatch):
    """Two downloads of one batch finishing together may both create the record folder."""
    folder = tmp_path / ".hf_model" / "vae" / "Flux"
    folder.mkdir(parents=True)  # the other worker won the race between isdir() and makedirs()
    real_isdir, calls = os.path.isdir, []

    def isdir_before_the_other_worker(path):  # the first look happens before the other worker's mkdir
        calls.append(path)
        return False if len(calls) == 1 else real_isdir(path)

    monkeypatch.setattr(fileutil.os.path, "isdir", isdir_before_the_other_worker)
    fileutil.write_json_atomically(str(folder / "ae.safetensors.json"), {"sha256": "x"})
    monkeypatch.undo()
    assert json.loads((folder / "ae.safetensors.json").read_text()) == {"sha256": "x"}
    assert os.listdir(str(folder)) == ["ae.safetensors.json"]
