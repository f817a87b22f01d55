"""The files modules read where a service account can plant something: olah's meta.bin (the mirror's account owns
its cache), model_links' record and hf_model's records (in folders the service account owns). A FIFO there hung
the module for ever; a symlink there was read as the module's own file. Now: a clear error at once, or, for a
record that only saves work, no record at all."""

import os
from pathlib import Path

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import (
    fileutil,
    hf_download,
    hf_plan,
    hf_record,
    layout_plan,
    mirror_cache,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_errors import HfModelError
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_paths import partial_paths
from helpers.hostile import SECRET, no_hang, plant
from helpers.olah import write_entry

RESOLVE = "files/models/org/model/resolve/0123456789abcdef0123456789abcdef01234567"
PLANTED = ["FIFO", "symlink to a root-only file", "socket"]


@pytest.mark.parametrize("kind", PLANTED)
def test_a_planted_meta_bin_stops_the_mirror_report_with_its_path(tmp_path, kind):
    entry = write_entry(tmp_path, RESOLVE + "/model.bin", 16, 16, [0])
    (entry / "meta.bin").unlink()
    plant(entry / "meta.bin", kind, tmp_path)
    with no_hang(), pytest.raises(mirror_cache.CacheUnreadable) as error:
        mirror_cache.scan_cache(str(tmp_path))
    assert str(entry / "meta.bin") in str(error.value) and "not a regular file" in str(error.value)
    assert SECRET not in str(error.value)


@pytest.mark.parametrize("kind", PLANTED)
def test_a_planted_record_of_managed_links_is_an_error_that_says_what_to_do(tmp_path, kind):
    plant(tmp_path / layout_plan.RECORD_NAME, kind, tmp_path)
    with no_hang(), pytest.raises(layout_plan.LayoutError, match="cannot be read .*not a regular file.*Move it aside"):
        layout_plan.read_record(str(tmp_path))


@pytest.mark.parametrize("kind", PLANTED)
def test_a_planted_hf_model_record_vouches_for_nothing(tmp_path, kind):
    plant(tmp_path / "model.safetensors.json", kind, tmp_path)
    with no_hang():
        assert hf_record.read_record(str(tmp_path / "model.safetensors.json")) is None


def test_hashing_a_planted_fifo_in_the_store_is_an_error_not_a_hang(tmp_path):
    plant(tmp_path / "model.safetensors", "FIFO", tmp_path)
    with no_hang():
        for digest in (fileutil.sha256_file, lambda path: hf_plan.git_oid_of(path, 0)):
            with pytest.raises(OSError, match="not a regular file .a FIFO"):
                digest(str(tmp_path / "model.safetensors"))


@pytest.mark.parametrize("kind", ["dangling symlink", "symlink to a root-only file", "FIFO"])
def test_a_planted_partial_download_is_refused_and_nothing_is_appended_through_it(tmp_path, kind):
    """A link at <dest>.partial made root append the download to its target (a dangling one was created)."""
    dest = tmp_path / "store" / "model.safetensors"
    dest.parent.mkdir()
    partial, _meta = partial_paths(str(dest))
    target = plant(Path(partial), kind, tmp_path)
    before = sorted(str(path) for path in tmp_path.rglob("*"))
    with no_hang(), pytest.raises(HfModelError, match="not a regular file"):
        hf_download.resumable_bytes(str(dest), {"size": 10})
    with no_hang(), pytest.raises(HfModelError, match="not a regular file"):
        hf_download.open_partial(partial, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    assert sorted(str(path) for path in tmp_path.rglob("*")) == before
    if target is not None:
        assert SECRET in target.read_text()
