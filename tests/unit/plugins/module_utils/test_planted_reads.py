"""The files modules read where a service account can plant something: olah's meta.bin (the mirror's account owns
its cache), model_links' record and hf_model's records (in folders the service account owns). A FIFO there hung
the module for ever; a symlink there was read as the module's own file. Now: a clear error at once, or, for a
record that only saves work, no record at all."""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import hf_record, layout_plan, mirror_cache
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
