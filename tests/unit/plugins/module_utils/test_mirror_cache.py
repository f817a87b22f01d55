"""mirror_cache: the figures of olah's cache, first on a cache that the real olah 0.5.4 wrote, then edge cases."""

import os
import subprocess
import textwrap

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import mirror_cache
from helpers.olah import OlahMirror, OlahUnavailable, entry_header, olah_venv, write_entry
from hf_hub_double import HubDouble, safetensors_bytes

MIB = 1024 * 1024
BLOCK = MIB  # olah's cache-block-size here: small files still span several blocks


@pytest.fixture(scope="session")
def venv():
    try:
        return olah_venv()
    except OlahUnavailable as error:
        pytest.skip("olah's pinned venv cannot be built here (%s)" % error)


@pytest.fixture(scope="session")
def olah_cache(venv, tmp_path_factory):
    """A cache the real olah wrote: one file fetched whole, one of which only the first bytes were asked."""
    hub = HubDouble(tmp_path_factory.mktemp("hub")).start()
    model = hub.add_repo("org/model", {"model.safetensors": safetensors_bytes(1, tensor_bytes=int(2.5 * MIB)),
                                       "big.bin": os.urandom(3 * MIB + 12345)})
    data = hub.add_repo("org/data", {"train.csv": b"a,b\n1,2\n"}, repo_type="dataset")
    try:
        with OlahMirror(venv, hub, tmp_path_factory.mktemp("olah"), block_size=BLOCK) as mirror:
            whole = mirror.get("/org/model/resolve/main/model.safetensors")
            first_bytes = mirror.get("/org/model/resolve/main/big.bin", byte_range=(0, 1023))
            csv = mirror.get("/datasets/org/data/resolve/main/train.csv")
        sent = hub.stats.as_dict()["files"]
    finally:
        hub.stop()
    assert [whole[0], first_bytes[0], csv[0]] == [200, 206, 200]
    return {"cache_dir": str(mirror.cache_dir), "model": model, "data": data, "sent": sent}


def files_by_path(report, repo_id):
    repository = [r for r in report["repositories"] if r["repo_id"] == repo_id][0]
    return dict((record["path"], record) for record in repository["files"]), repository


def test_a_file_fetched_whole_is_fully_cached_with_the_hubs_size_and_commit(olah_cache):
    report = mirror_cache.scan_cache(olah_cache["cache_dir"])
    files, repository = files_by_path(report, "org/model")
    hub_file = olah_cache["model"].files["model.safetensors"]
    record = files["model.safetensors"]
    assert (record["size"], record["cached_bytes"], record["complete"]) == (hub_file.size, hub_file.size, True)
    assert record["cached_fraction"] == 1.0
    assert record["commit"] == olah_cache["model"].commit
    assert record["cached_bytes"] == olah_cache["sent"]["model/org/model/model.safetensors"]  # each byte came once
    assert record["disk_bytes"] > hub_file.size  # the blocks plus olah's header and checksums
    assert repository["type"] == "model"


def test_a_file_of_which_a_range_was_asked_is_partly_cached(olah_cache):
    report = mirror_cache.scan_cache(olah_cache["cache_dir"])
    files, repository = files_by_path(report, "org/model")
    hub_file = olah_cache["model"].files["big.bin"]
    record = files["big.bin"]
    assert record["size"] == hub_file.size and record["complete"] is False
    # olah fetches whole blocks: the range of 1 KiB brought the first block
    assert record["cached_bytes"] == BLOCK == olah_cache["sent"]["model/org/model/big.bin"]
    assert record["cached_fraction"] == round(float(BLOCK) / hub_file.size, 4)
    assert (repository["files_complete"], repository["files_partial"]) == (1, 1)
    assert (report["files_complete"], report["files_partial"]) == (2, 1)


def test_datasets_are_reported_as_their_own_repository(olah_cache):
    report = mirror_cache.scan_cache(olah_cache["cache_dir"])
    files, repository = files_by_path(report, "org/data")
    assert repository["type"] == "dataset"
    assert files["train.csv"]["size"] == olah_cache["data"].files["train.csv"].size
    assert files["train.csv"]["complete"] is True


def test_the_total_is_what_olah_compares_with_its_size_limit(olah_cache, venv):
    report = mirror_cache.scan_cache(olah_cache["cache_dir"])
    olahs_total = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sys; from olah.utils.disk_utils import collect_cache_units; "
         "print(collect_cache_units(sys.argv[1])[0])", olah_cache["cache_dir"]],
        capture_output=True, text=True, check=True).stdout.split()[-1]
    assert report["total_bytes"] == int(olahs_total)
    assert report["total_bytes"] == report["entry_bytes"] + report["metadata_bytes"]
    assert report["metadata_bytes"] > 0  # olah keeps the hub's answers in api/


def test_the_markdown_names_each_file_and_says_hits_are_not_counted(olah_cache):
    text = mirror_cache.markdown(mirror_cache.scan_cache(olah_cache["cache_dir"]))
    commit = olah_cache["model"].commit[:12]
    assert "| org/model | %s | big.bin | 3.2 MB | 33.2 %% |" % commit in text
    assert "| org/model | %s | model.safetensors | 2.6 MB | 100 %% |" % commit in text
    assert "Files: 2 fully cached, 1 partly cached." in text
    assert "does not count cache hits or misses" in text
    assert text == mirror_cache.markdown(mirror_cache.scan_cache(olah_cache["cache_dir"]))


def test_synthetic_headers_are_what_olah_reads(venv, tmp_path):
    """The edge-case tests below write their own meta.bin; olah itself must accept it."""
    path = tmp_path / "meta.bin"
    path.write_bytes(entry_header(5000, 1024, etag=b"abc"))
    script = textwrap.dedent("""
        import sys
        from olah.cache.olah_cache import OlahCacheHeader
        header = OlahCacheHeader.read(open(sys.argv[1], "rb"))
        print(header.file_size, header.block_size, header.etag.decode())
    """)
    done = subprocess.run([str(venv / "bin" / "python"), "-c", script, str(path)], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["5000", "1024", "abc"]


# -- edge cases on synthetic trees ----------------------------------------------------------------

RESOLVE = "files/models/org/model/resolve/" + "c" * 40


def test_an_empty_cache_reports_nothing(tmp_path):
    report = mirror_cache.scan_cache(str(tmp_path))
    assert (report["total_bytes"], report["files_complete"], report["files_partial"]) == (0, 0, 0)
    assert report["repositories"] == [] and report["other_entries"] == [] and report["unreadable"] == []
    assert "Files: 0 fully cached, 0 partly cached." in mirror_cache.markdown(report)


@pytest.mark.parametrize("blocks, cached, complete", [
    ([0, 1, 2], 40, True),
    ([0, 2], 24, False),  # the last block is shorter: 40 bytes in blocks of 16, 16 + 8
    ([], 0, False),
])
def test_cached_bytes_are_the_real_lengths_of_the_present_blocks(tmp_path, blocks, cached, complete):
    write_entry(tmp_path, RESOLVE + "/sub/model.bin", 40, 16, blocks)
    files, _repository = files_by_path(mirror_cache.scan_cache(str(tmp_path)), "org/model")
    record = files["sub/model.bin"]
    assert (record["size"], record["cached_bytes"], record["complete"]) == (40, cached, complete)
    assert record["cached_fraction"] == round(cached / 40.0, 4)


def test_an_empty_or_misnamed_block_file_is_not_a_cached_block(tmp_path):
    entry = write_entry(tmp_path, RESOLVE + "/model.bin", 32, 16, [0])
    (entry / "blocks" / "block_00000001.bin").write_bytes(b"")  # olah's has_block: not there
    (entry / "blocks" / ".block_00000001_4242.tmp").write_bytes(b"y" * 16)  # a write in progress
    files, _repository = files_by_path(mirror_cache.scan_cache(str(tmp_path)), "org/model")
    assert (files["model.bin"]["cached_bytes"], files["model.bin"]["complete"]) == (16, False)


def test_a_block_that_vanishes_mid_scan_is_not_counted(tmp_path, monkeypatch):
    entry = write_entry(tmp_path, RESOLVE + "/model.bin", 32, 16, [0, 1])
    listdir = os.listdir

    def evict_while_listing(path):
        names = listdir(path)
        if str(path).endswith("blocks"):
            os.remove(str(entry / "blocks" / "block_00000001.bin"))  # olah evicts between listing and stat
        return names
    monkeypatch.setattr(mirror_cache.os, "listdir", evict_while_listing)
    files, _repository = files_by_path(mirror_cache.scan_cache(str(tmp_path)), "org/model")
    assert (files["model.bin"]["cached_bytes"], files["model.bin"]["complete"]) == (16, False)


def test_an_entry_evicted_mid_scan_is_left_out(tmp_path, monkeypatch):
    entry = write_entry(tmp_path, RESOLVE + "/gone.bin", 16, 16, [0])
    scan_entry = mirror_cache.scan_entry

    def evict_first(entry_dir):
        if entry_dir == str(entry):
            for name in ("meta.bin", "meta.lock", "chunks.crc"):
                os.remove(os.path.join(entry_dir, name))
        return scan_entry(entry_dir)
    monkeypatch.setattr(mirror_cache, "scan_entry", evict_first)
    report = mirror_cache.scan_cache(str(tmp_path))
    assert report["repositories"] == [] and report["unreadable"] == []


def test_a_damaged_header_is_reported_not_fatal(tmp_path):
    entry = write_entry(tmp_path, RESOLVE + "/bad.bin", 16, 16, [0])
    header = bytearray((entry / "meta.bin").read_bytes())
    header[20] ^= 0xFF  # the file size, so the CRC no longer matches
    (entry / "meta.bin").write_bytes(bytes(header))
    write_entry(tmp_path, RESOLVE + "/good.bin", 16, 16, [0])
    report = mirror_cache.scan_cache(str(tmp_path))
    assert [record["path"] for record in report["unreadable"]] == [RESOLVE + "/bad.bin"]
    assert "CRC" in report["unreadable"][0]["reason"]
    assert report["files_complete"] == 1
    assert report["entry_bytes"] == report["unreadable"][0]["disk_bytes"] + report["repositories"][0]["disk_bytes"]


def test_an_older_cache_version_is_reported_as_such(tmp_path):
    entry = write_entry(tmp_path, RESOLVE + "/old.bin", 16, 16, [0])
    (entry / "meta.bin").write_bytes(entry_header(16, 16, version=9))
    report = mirror_cache.scan_cache(str(tmp_path))
    assert "version 9" in report["unreadable"][0]["reason"]


@pytest.mark.parametrize("relative, place", [
    ("files/models/org/model/resolve/C/a/b.safetensors", ("model", "org/model", "C", "a/b.safetensors")),
    ("files/models/gpt2/resolve/C/config.json", ("model", "gpt2", "C", "config.json")),
    ("files/models/org/resolve/resolve/C/x.bin", ("model", "org/resolve", "C", "x.bin")),
    ("files/spaces/org/app/resolve/C/app.py", ("space", "org/app", "C", "app.py")),
    ("files/datasets/org/data/cdn/" + "a" * 64, ("dataset", "org/data", None, "a" * 64)),
    ("lfs/files/ab/cd/" + "e" * 64 + "/" + "f" * 64, None),
    ("lfs/files/xet/" + "9" * 64, None),
])
def test_where_an_entry_belongs(relative, place):
    assert mirror_cache.locate(relative.split("/")) == place


def test_entries_without_a_repository_are_listed_apart(tmp_path):
    write_entry(tmp_path, "lfs/files/xet/" + "9" * 64, 20, 16, [0])
    report = mirror_cache.scan_cache(str(tmp_path))
    assert report["repositories"] == []
    assert [(r["path"], r["cached_bytes"]) for r in report["other_entries"]] == [("lfs/files/xet/" + "9" * 64, 16)]
    assert "## Objects without a repository" in mirror_cache.markdown(report)


def test_metadata_and_symlinks(tmp_path):
    (tmp_path / "api" / "models").mkdir(parents=True)
    (tmp_path / "api" / "models" / "repo_get.json").write_bytes(b"{}" * 5)
    os.symlink("/etc/passwd", str(tmp_path / "api" / "link"))  # not followed, not counted
    report = mirror_cache.scan_cache(str(tmp_path))
    assert (report["metadata_bytes"], report["total_bytes"]) == (10, 10)


@pytest.mark.parametrize("make, message", [
    (lambda path: None, "does not exist"),
    (lambda path: path.write_text("x"), "is not a folder"),
    (lambda path: (path.mkdir(), (path / "photos").mkdir()), "holds none of olah's folders"),
])
def test_a_folder_that_is_not_olahs_cache_is_refused(tmp_path, make, message):
    target = tmp_path / "cache"
    make(target)
    with pytest.raises(mirror_cache.NotOlahCache) as error:
        mirror_cache.scan_cache(str(target))
    assert message in str(error.value) and "model_mirror_cache_dir" in str(error.value)


def test_a_partial_file_never_shows_as_100_percent():
    assert mirror_cache.percent({"complete": False, "cached_fraction": 0.99996}) == "99.9 %"
    assert mirror_cache.percent({"complete": True, "cached_fraction": 1.0}) == "100 %"


def test_a_folder_the_report_cannot_read_stops_it_rather_than_being_left_out(tmp_path, monkeypatch):
    write_entry(tmp_path, RESOLVE + "/model.bin", 16, 16, [0])
    listdir = os.listdir

    def denied(path):
        if str(path).endswith("blocks"):
            raise PermissionError(13, "Permission denied", str(path))
        return listdir(path)
    monkeypatch.setattr(mirror_cache.os, "listdir", denied)
    with pytest.raises(mirror_cache.CacheUnreadable) as error:
        mirror_cache.scan_cache(str(tmp_path))
    assert "model.bin/blocks cannot be read (Permission denied)" in str(error.value)
    assert "become" in str(error.value)
