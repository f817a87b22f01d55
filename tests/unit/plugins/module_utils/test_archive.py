"""archive: archive_path moves (never copies, never overwrites) and writes one ledger line; the ledger
survives a torn last line."""

import errno
import hashlib
import json
import os

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import archive

from helpers.model_trees import build, ledger, snapshot

NOW = "2026-11-27T10:00:00Z"


def _lines(archive_root):
    return (archive_root / "ledger.jsonl").read_bytes().splitlines()


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
                      "to": str(archive_root / placed), "size": size, "sha256": sha256, "reason": "test",
                      "root": str(store)}
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


def test_a_ledger_line_that_is_not_json_is_reported_and_the_others_are_read(roots):
    _store, archive_root = roots
    archive_root.mkdir()
    (archive_root / "ledger.jsonl").write_text('{"time": "x"}\nnot json\n{"time": "y"}\n')
    problems = []
    assert archive.read_ledger(str(archive_root), problems) == [{"time": "x"}, {"time": "y"}]
    assert len(problems) == 1 and "Line 2" in problems[0] and "torn" in problems[0]


def test_a_last_record_that_lost_only_its_newline_is_kept(tmp_path):
    store, archive_root = tmp_path / "Models", tmp_path / "model-archive"
    build(store, {"a.bin": "a", "b.bin": "b"})
    archive.archive_path(str(store / "a.bin"), str(store), str(archive_root), "r")
    path = archive_root / "ledger.jsonl"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    archive.archive_path(str(store / "b.bin"), str(store), str(archive_root), "r")
    assert [json.loads(line)["from"] for line in _lines(archive_root)] == [str(store / "a.bin"), str(store / "b.bin")]
    assert not [name for name in os.listdir(str(archive_root)) if name.startswith("ledger.torn-")]


def _fifo(path):
    os.mkfifo(str(path))


def _symlink_to_a_victim(path):
    victim = path.parent.parent / "passwd"
    victim.write_text('{"time": "t", "from": "/x", "to": "/y"}\n')
    os.symlink(str(victim), str(path))


def _dangling_symlink(path):
    os.symlink(str(path.parent / "nowhere"), str(path))


# name, what is put where the ledger belongs, words of the refusal
LEDGER_KIND_CASES = [
    ("a FIFO: no hang", _fifo, "a FIFO"),
    ("a symlink to another file", _symlink_to_a_victim, "a symlink"),
    ("a dangling symlink", _dangling_symlink, "a symlink"),
]


@pytest.mark.parametrize(("name", "make", "words"), LEDGER_KIND_CASES, ids=[case[0] for case in LEDGER_KIND_CASES])
def test_a_ledger_that_is_not_a_regular_file_is_refused_at_once(tmp_path, name, make, words):
    store, archive_root = tmp_path / "Models", tmp_path / "model-archive"
    build(store, {"a.bin": "a"})
    archive_root.mkdir()
    path = archive_root / "ledger.jsonl"
    make(path)
    for use in (lambda: archive.read_ledger(str(archive_root)),
                lambda: archive.append_ledger(str(archive_root), {"time": "t", "from": "/a", "to": "/b"})):
        with pytest.raises(archive.ArchiveError) as raised:
            use()
        assert words in str(raised.value) and str(path) in str(raised.value)
    assert not os.path.lexists(str(archive_root / "nowhere")) and (store / "a.bin").exists()
    if name == "a symlink to another file":
        assert (tmp_path / "passwd").read_text().count("\n") == 1  # nothing appended through the link
