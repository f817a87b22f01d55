"""model_mirror_report: the figures and Markdown of olah's cache, and the report written to dest only when it changed."""

import os
import stat

import pytest

from ansible_collections.ai4artsed.devserver.plugins.modules import model_mirror_report
from helpers.module_runner import run_module
from helpers.olah import write_entry

RESOLVE = "files/models/org/model/resolve/" + "c" * 40


def run(capsys, args, check_mode=False, diff=False):
    return run_module(capsys, model_mirror_report, args, check_mode=check_mode, diff=diff)


@pytest.fixture
def cache(tmp_path):
    """A cache with one file whole (3 blocks), one with 1 block of 2, and a metadata answer."""
    root = tmp_path / "repos"
    write_entry(root, RESOLVE + "/model.safetensors", 40, 16, [0, 1, 2])
    write_entry(root, RESOLVE + "/big.bin", 20, 16, [0])
    (root / "api" / "models" / "org" / "model").mkdir(parents=True)
    (root / "api" / "models" / "org" / "model" / "repo_get.json").write_bytes(b"{}")
    return root


def test_reports_the_figures_and_markdown_and_changes_nothing(capsys, cache):
    before = sorted(os.path.join(d, n) for d, _ds, ns in os.walk(str(cache)) for n in ns)
    failed, result = run(capsys, {"cache_dir": str(cache)})
    assert not failed and result["changed"] is False
    figures = result["mirror_cache"]
    assert (figures["files_complete"], figures["files_partial"], figures["metadata_bytes"]) == (1, 1, 2)
    files = dict((f["path"], f) for f in figures["repositories"][0]["files"])
    assert (files["big.bin"]["cached_bytes"], files["big.bin"]["complete"]) == (16, False)
    assert "| org/model | model | 1 | 1 |" in result["markdown"]
    assert "does not count cache hits or misses" in result["markdown"]
    assert "dest" not in result
    assert sorted(os.path.join(d, n) for d, _ds, ns in os.walk(str(cache)) for n in ns) == before


def test_the_report_is_written_once_then_left_alone(capsys, cache, tmp_path):
    dest = tmp_path / "cache-report.md"
    failed, first = run(capsys, {"cache_dir": str(cache), "dest": str(dest), "mode": "0640"}, diff=True)
    assert not failed and first["changed"] is True
    assert dest.read_text() == first["markdown"]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert first["diff"]["before"] == "" and first["diff"]["after"] == first["markdown"]
    failed, second = run(capsys, {"cache_dir": str(cache), "dest": str(dest), "mode": "0640"})
    assert not failed and second["changed"] is False


def test_a_cache_that_changed_rewrites_the_report_with_a_diff(capsys, cache, tmp_path):
    dest = tmp_path / "cache-report.md"
    run(capsys, {"cache_dir": str(cache), "report_path": str(dest)})
    old = dest.read_text()
    (cache / RESOLVE / "big.bin" / "blocks" / "block_00000001.bin").write_bytes(b"x" * 4)  # olah fetched the rest
    failed, result = run(capsys, {"cache_dir": str(cache), "report_path": str(dest)}, diff=True)
    assert not failed and result["changed"] is True
    assert result["mirror_cache"]["files_partial"] == 0
    assert (result["diff"]["before"], result["diff"]["after"]) == (old, dest.read_text())
    assert old != dest.read_text() and "Files: 2 fully cached, 0 partly cached." in dest.read_text()


@pytest.mark.parametrize("existing", [False, True])
def test_check_mode_says_what_would_change_and_writes_nothing(capsys, cache, tmp_path, existing):
    dest = tmp_path / "cache-report.md"
    if existing:
        dest.write_text("an older report\n")
    failed, result = run(capsys, {"cache_dir": str(cache), "dest": str(dest)}, check_mode=True, diff=True)
    assert not failed and result["changed"] is True
    assert result["diff"]["after"] == result["markdown"]
    assert dest.exists() is existing and (not existing or dest.read_text() == "an older report\n")


def test_a_missing_cache_dir_fails_clearly(capsys, tmp_path):
    failed, result = run(capsys, {"cache_dir": str(tmp_path / "nowhere")})
    assert failed
    assert "is not olah's cache (repos-path)" in result["msg"] and "model_mirror_cache_dir" in result["msg"]


def test_a_dest_in_a_missing_folder_fails_clearly(capsys, cache, tmp_path):
    failed, result = run(capsys, {"cache_dir": str(cache), "dest": str(tmp_path / "no" / "report.md")})
    assert failed and "does not exist; create it first" in result["msg"]
    assert not (tmp_path / "no").exists()
