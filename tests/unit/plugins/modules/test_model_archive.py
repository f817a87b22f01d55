"""model_archive: move instead of delete, the ledger, merging deprecated folders, unlisted files."""

import errno
import os

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import archive
from ansible_collections.ai4artsed.devserver.plugins.modules import model_archive

from helpers.model_trees import build, contents, ledger, snapshot
from helpers.module_runner import run_module


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
