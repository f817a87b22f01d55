"""model_archive: move instead of delete, the ledger, merging deprecated folders, unlisted files."""

import errno
import hashlib
import os

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import archive
from ansible_collections.ai4artsed.devserver.plugins.modules import model_archive

from helpers.model_trees import build, contents, ledger, snapshot
from helpers.module_runner import run_module

NOW = "2026-11-27T10:00:00Z"


@pytest.fixture
def roots(tmp_path):
    store, archive_root = tmp_path / "Models", tmp_path / "model-archive"
    store.mkdir()
    return store, archive_root


# name, store before, path to archive, expected place in the archive, expected size, expected sha256
ARCHIVE_CASES = [
    ("a file: its digest is computed", {"vae/a.safetensors": "aaaa"}, "vae/a.safetensors", "vae/a.safetensors", 4,
     hashlib.sha256(b"aaaa").hexdigest()),
    ("a folder: size is the sum", {"musicgen/a.bin": "aa", "musicgen/sub/b.bin": "bbb"}, "musicgen", "musicgen", 5,
     None),
    ("a symlink holds no data", {"clip/x": ("link", "../elsewhere")}, "clip/x", "clip/x", 0, None),
]


@pytest.mark.parametrize(("name", "spec", "relative", "placed", "size", "sha256"), ARCHIVE_CASES,
                         ids=[case[0] for case in ARCHIVE_CASES])
def test_archive_path_moves_keeps_relative_path_and_writes_the_ledger(roots, name, spec, relative, placed, size,
                                                                      sha256):
    store, archive_root = roots
    build(store, spec)
    moved = snapshot(store / relative) if os.path.isdir(str(store / relative)) else None
    record = archive.archive_path(str(store / relative), str(store), str(archive_root), "test", now=NOW)
    assert record == {"time": "2026-11-27T10:00:00.000000+00:00", "from": str(store / relative),
                      "to": str(archive_root / placed), "size": size, "sha256": sha256, "reason": "test"}
    assert ledger(archive_root) == [record]
    assert not os.path.lexists(str(store / relative))
    if moved is not None:
        assert snapshot(archive_root / placed) == moved


def test_archive_path_never_overwrites(roots):
    store, archive_root = roots
    for number, content in enumerate(("first", "second", "third")):
        build(store, {"vae/a.safetensors": content})
        record = archive.archive_path(str(store / "vae/a.safetensors"), str(store), str(archive_root), "x",
                                      sha256="f" * 64)
        assert record["to"].endswith("a.safetensors" + (".archived-%d" % number if number else ""))
        assert record["sha256"] == "f" * 64
    assert sorted(open(r["to"]).read() for r in ledger(archive_root)) == ["first", "second", "third"]


@pytest.mark.parametrize(
    ("name", "path", "words"),
    [
        ("outside the root", "/etc/hostname", "not inside"),
        ("the root itself", "", "not inside"),
        ("missing", "vae/missing.safetensors", "does not exist"),
        ("through a symlinked parent", "linked/a.safetensors", "is a symlink"),
    ],
)
def test_archive_path_refusals(tmp_path, roots, name, path, words):
    store, archive_root = roots
    build(store, {"vae/a.safetensors": "a", "linked": ("link", "vae")})
    start = snapshot(tmp_path)
    with pytest.raises(archive.ArchiveError, match=words):
        archive.archive_path(os.path.join(str(store), path) if path != "/etc/hostname" else path,
                             str(store), str(archive_root), "test")
    assert snapshot(tmp_path) == start


def test_archive_path_refuses_a_path_inside_the_archive(tmp_path):
    build(tmp_path, {"archive/old.bin": "x"})
    with pytest.raises(archive.ArchiveError, match="already inside the archive"):
        archive.archive_path(str(tmp_path / "archive/old.bin"), str(tmp_path), str(tmp_path / "archive"), "x")


def test_archive_path_refuses_another_filesystem_and_copies_nothing(roots, monkeypatch):
    store, archive_root = roots
    build(store, {"vae/a.safetensors": "a"})
    monkeypatch.setattr(archive, "same_filesystem", lambda path, directory: False)
    with pytest.raises(archive.ArchiveError, match="different filesystems"):
        archive.archive_path(str(store / "vae/a.safetensors"), str(store), str(archive_root), "x")
    assert (store / "vae/a.safetensors").read_text() == "a" and not archive_root.exists()


def test_a_rename_that_fails_with_exdev_is_reported_not_copied(roots, monkeypatch):
    store, archive_root = roots
    build(store, {"vae/a.safetensors": "a"})

    def cross_device(_source, _destination):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(archive.os, "rename", cross_device)
    with pytest.raises(archive.ArchiveError, match="different filesystems"):
        archive.archive_path(str(store / "vae/a.safetensors"), str(store), str(archive_root), "x")
    assert (store / "vae/a.safetensors").read_text() == "a" and ledger(archive_root) == []


# name, store before, module arguments, expected store after (subset; None = absent), archived (relative to
# the archive), conflicts
MODULE_CASES = [
    ("merge VAE into vae: moved when absent, identical archived, conflicting kept",
     {"VAE/new.safetensors": "new", "VAE/same.safetensors": "same", "VAE/clash.safetensors": "mine",
      "vae/same.safetensors": "same", "vae/clash.safetensors": "theirs", "VAE/sub/deep.safetensors": "deep"},
     {"merge": [{"src": "VAE", "dest": "vae"}]},
     {"vae/new.safetensors": ("file", b"new"), "vae/sub/deep.safetensors": ("file", b"deep"),
      "VAE/same.safetensors": None, "VAE/clash.safetensors": ("file", b"mine"),
      "vae/clash.safetensors": ("file", b"theirs")},
     ["VAE/same.safetensors"], 1),
    ("merge Lora into loras that does not exist yet; the emptied folder is archived",
     {"Lora/a.safetensors": "a", "Lora/b/c.safetensors": "c"},
     {"merge": [{"src": "Lora", "dest": "loras"}]},
     {"loras/a.safetensors": ("file", b"a"), "loras/b/c.safetensors": ("file", b"c"), "Lora": None},
     ["Lora"], 0),
    ("merge of an absent folder does nothing", {"vae/a": "a"}, {"merge": [{"src": "VAE", "dest": "vae"}]},
     {"vae/a": ("file", b"a")}, [], 0),
    ("named paths are archived, missing ones skipped",
     {"Stable-Diffusion/old.safetensors": "old", "Stable-Diffusion/keep.safetensors": "keep"},
     {"paths": ["Stable-Diffusion/old.safetensors", "Stable-Diffusion/gone.safetensors"], "reason": "replaced"},
     {"Stable-Diffusion/old.safetensors": None, "Stable-Diffusion/keep.safetensors": ("file", b"keep")},
     ["Stable-Diffusion/old.safetensors"], 0),
    ("unlisted store files are archived only when asked; dot files are kept",
     {"vae/listed.safetensors": "l", "vae/unlisted.safetensors": "u", "vae/.sidecar.json": "{}",
      "VAE/moved-unlisted.safetensors": "m"},
     {"archive_unlisted": True, "listed": ["vae/listed.safetensors"], "merge": [{"src": "VAE", "dest": "vae"}]},
     {"vae/listed.safetensors": ("file", b"l"), "vae/unlisted.safetensors": None, "vae/.sidecar.json": ("file", b"{}"),
      "vae/moved-unlisted.safetensors": None},
     ["VAE.archived-1", "VAE/moved-unlisted.safetensors", "vae/unlisted.safetensors"], 0),  # never overwrite
    ("files below a listed prefix (a multi-file model's folder) stay, also those no plan has seen",
     {"musicgen/config.json": "c", "musicgen/sub/weights.bin": "w", "musicgen-old/x.bin": "x",
      "Lora/set/a.bin": "a"},
     {"archive_unlisted": True, "listed": [], "listed_prefixes": ["musicgen", "loras/set"],
      "merge": [{"src": "Lora", "dest": "loras"}]},
     {"musicgen/config.json": ("file", b"c"), "musicgen/sub/weights.bin": ("file", b"w"), "musicgen-old/x.bin": None,
      "loras/set/a.bin": ("file", b"a")},
     ["Lora", "musicgen-old/x.bin"], 0),
    ("unlisted files stay when archive_unlisted is off",
     {"vae/unlisted.safetensors": "u"}, {"listed": []}, {"vae/unlisted.safetensors": ("file", b"u")}, [], 0),
]


@pytest.mark.parametrize(("name", "before", "options", "after", "archived", "conflicts"), MODULE_CASES,
                         ids=[case[0] for case in MODULE_CASES])
def test_model_archive_cases(capsys, tmp_path, roots, name, before, options, after, archived, conflicts):
    store, archive_root = roots
    build(store, before)
    start, files = snapshot(tmp_path), contents(store, archive_root)
    base = dict(options, root=str(store), archive_root=str(archive_root))

    code, checked = run_module(capsys, model_archive, dict(base, _ansible_check_mode=True, _ansible_diff=True))
    assert code == 0, checked
    assert snapshot(tmp_path) == start
    assert checked["changed"] is bool(archived or [k for k, v in after.items() if v is None])
    if checked["changed"]:
        assert checked["diff"]["before"]

    code, result = run_module(capsys, model_archive, base)
    assert code == 0, result
    assert result["planned"] == checked["planned"] and len(result["conflicts"]) == conflicts
    final = snapshot(store)
    for key, value in after.items():
        assert final.get(key) == value, key
    in_archive = sorted(os.path.relpath(r["to"], str(archive_root)) for r in ledger(archive_root)
                        if r["to"].startswith(str(archive_root)))
    assert in_archive == sorted(archived)
    assert contents(store, archive_root) == files

    for check in (True, False):
        code, again = run_module(capsys, model_archive, dict(base, _ansible_check_mode=check))
        assert code == 0 and again["changed"] is False, again["planned"]


def test_merge_refuses_a_destination_that_is_not_a_real_directory(roots):
    store, _archive_root = roots
    build(store, {"VAE/a": "a", "vae": ("link", "VAE")})
    with pytest.raises(archive.ArchiveError, match="not a real directory"):
        archive.plan_merge(str(store), "VAE", "vae")


def test_merge_skips_a_deprecated_folder_that_is_only_a_symlink(roots):
    store, _archive_root = roots
    build(store, {"vae/a": "a", "VAE": ("link", "vae")})
    assert [entry["action"] for entry in archive.plan_merge(str(store), "VAE", "vae")] == ["skip"]


def test_a_ledger_line_that_is_not_json_is_reported_and_the_others_are_read(roots):
    _store, archive_root = roots
    archive_root.mkdir()
    (archive_root / "ledger.jsonl").write_text('{"time": "x"}\nnot json\n{"time": "y"}\n')
    problems = []
    assert archive.read_ledger(str(archive_root), problems) == [{"time": "x"}, {"time": "y"}]
    assert len(problems) == 1 and "Line 2" in problems[0] and "torn" in problems[0]


@pytest.mark.parametrize("check", [True, False], ids=["check mode", "real run"])
def test_a_refused_archive_reports_no_change_and_moves_nothing(capsys, tmp_path, roots, monkeypatch, check):
    store, archive_root = roots
    build(store, {"Stable-Diffusion/old.safetensors": "old", "VAE/a.safetensors": "a"})
    start = snapshot(tmp_path)
    monkeypatch.setattr(archive, "same_filesystem", lambda path, directory: False)
    code, result = run_module(capsys, model_archive, {
        "root": str(store), "archive_root": str(archive_root), "paths": ["Stable-Diffusion/old.safetensors"],
        "merge": [{"src": "VAE", "dest": "vae"}], "_ansible_check_mode": check})
    assert code == 1 and result["changed"] is False, result
    assert "different filesystems" in result["msg"] and "model_store_archive_dir" in result["msg"]
    assert snapshot(tmp_path) == start and result["records"] == []


def test_a_move_that_fails_half_way_reports_what_moved(capsys, roots, monkeypatch):
    store, archive_root = roots
    build(store, {"a.bin": "a", "b.bin": "b"})
    real_rename, calls = os.rename, []

    def second_rename_fails(source, destination):
        calls.append(source)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        real_rename(source, destination)

    monkeypatch.setattr(archive.os, "rename", second_rename_fails)
    code, result = run_module(capsys, model_archive, {"root": str(store), "archive_root": str(archive_root),
                                                      "paths": ["a.bin", "b.bin"]})
    assert code == 1 and result["changed"] is True
    assert [record["from"] for record in result["records"]] == [str(store / "a.bin")] == \
        [record["from"] for record in ledger(archive_root)]
    assert (store / "b.bin").read_text() == "b"
