"""hf_model against the loopback hub double: what an operator sees for each situation."""

import json
import os
import re

import pytest

from helpers.hf import HubDouble, base, run_hf_model, safetensors_bytes, tree
from ansible_collections.ai4artsed.devserver.plugins.module_utils import hf_download, hf_plan

SIZE = 256 * 1024
MODEL = safetensors_bytes("model", SIZE)
CLIP_G = safetensors_bytes("clip_g", SIZE // 2)
SHARDS = {"shard-%d.safetensors" % i: safetensors_bytes("shard%d" % i, 64 * 1024) for i in range(6)}
AUDIO = {
    "model_config.json": b'{"sample_rate": 44100}',
    "model.safetensors": safetensors_bytes("audio", 32 * 1024),
    "vae/diffusion_pytorch_model.safetensors": safetensors_bytes("audio-vae", 16 * 1024),
    "README.md": b"# stand-in",
}
GATED_TOKEN_OK = "hf_test_accepted"
GATED_TOKEN_NOT_ACCEPTED = "hf_test_not_accepted"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubDouble(tmp_path_factory.mktemp("hub")) as double:
        double.add_repo("org/model", {"model.safetensors": MODEL, "config.json": b'{"hidden": 1}'})
        double.add_repo("stabilityai/sd35", {"text_encoder_2/model.fp16.safetensors": CLIP_G})
        double.add_repo("org/shards", SHARDS)
        double.add_repo("stabilityai/stable-audio-open-1.0", AUDIO)
        double.add_repo("org/gated", {"model.safetensors": MODEL}, gated=True)
        yield double


@pytest.fixture(autouse=True)
def clean_faults(hub):
    hub.set_faults()
    yield
    hub.set_faults()


def partials(root):
    return [path for path in tree(root) if ".hf-partial" in path]


def hub_delta(hub, before):
    """The counters' growth since before (the per-file byte counts left out)."""
    after = hub.stats.as_dict()
    return {key: after[key] - before[key] for key in after if key != "files"}


# -- the happy path, its re-run, check mode and diff --------------------------------------------

def test_first_download_places_the_verified_file(capsys, hub, store):
    failed, result = run_hf_model(capsys, base(hub, store, owner=str(os.getuid()), mode="0640"))
    dest = store / "Stable-Diffusion" / "model.safetensors"
    assert not failed, result
    assert dest.read_bytes() == MODEL
    assert oct(dest.stat().st_mode & 0o777) == "0o640"
    assert result["changed"] is True
    assert result["action"] == "download"
    assert result["sha256"] == hub.repos[("model", "org/model")].files["model.safetensors"].sha256
    assert result["commit"] == hub.repos[("model", "org/model")].commit
    assert result["files"][0]["bytes_downloaded"] == len(MODEL)
    assert result["files"][0]["resumed_from"] == 0
    assert partials(store) == []


def test_rerun_is_a_no_op_that_does_not_read_the_file(capsys, hub, store, monkeypatch):
    run_hf_model(capsys, base(hub, store))
    monkeypatch.setattr(hf_plan, "sha256_of", lambda path: pytest.fail("re-run read %s" % path))
    monkeypatch.setattr(hf_plan, "git_oid_of", lambda path, size: pytest.fail("re-run read %s" % path))
    before = hub.stats.as_dict()
    failed, result = run_hf_model(capsys, base(hub, store))
    assert not failed, result
    assert result["changed"] is False
    assert result["action"] == "unchanged"
    assert hub_delta(hub, before)["body_bytes"] == 0


def test_rerun_with_pinned_commit_and_sha256_asks_the_hub_nothing(capsys, hub, store):
    repo = hub.repos[("model", "org/model")]
    pinned = base(hub, store, revision=repo.commit, sha256=repo.files["model.safetensors"].sha256.upper())
    run_hf_model(capsys, pinned)
    before = hub.stats.as_dict()
    failed, result = run_hf_model(capsys, pinned)
    assert not failed and result["changed"] is False
    assert hub_delta(hub, before)["requests"] == 0


def test_check_mode_reports_files_and_bytes_and_writes_nothing(capsys, hub, store):
    failed, result = run_hf_model(capsys, base(hub, store), check_mode=True)
    assert not failed, result
    assert result["changed"] is True
    assert result["action"] == "download"
    assert result["would_download_bytes"] == len(MODEL)
    assert "would download" in result["summary"]
    assert tree(store) == []


def test_check_mode_after_a_download_reports_no_change(capsys, hub, store):
    run_hf_model(capsys, base(hub, store))
    failed, result = run_hf_model(capsys, base(hub, store), check_mode=True)
    assert not failed and result["changed"] is False and result["would_download_bytes"] == 0


def test_diff_shows_revision_sha256_and_size_before_and_after(capsys, hub, store):
    repo = hub.repos[("model", "org/model")]
    failed, result = run_hf_model(capsys, base(hub, store), diff=True)
    assert not failed
    dest = str(store / "Stable-Diffusion" / "model.safetensors")
    assert result["diff"]["before"][dest] == {"revision": None, "sha256": None, "size": None}
    assert result["diff"]["after"][dest] == {"revision": repo.commit, "sha256": repo.files["model.safetensors"].sha256,
                                             "size": len(MODEL)}


def test_renamed_dest(capsys, hub, store):
    failed, result = run_hf_model(capsys, base(hub, store, repo_id="stabilityai/sd35",
                                               filename="text_encoder_2/model.fp16.safetensors",
                                               dest="clip/clip_g.safetensors"))
    assert not failed, result
    assert (store / "clip" / "clip_g.safetensors").read_bytes() == CLIP_G
    assert not (store / "text_encoder_2").exists()


def test_small_git_file_is_verified_by_its_git_blob_id(capsys, hub, store):
    failed, result = run_hf_model(capsys, base(hub, store, filename="config.json", dest="configs/config.json"))
    assert not failed, result
    assert (store / "configs" / "config.json").read_bytes() == b'{"hidden": 1}'
    failed, again = run_hf_model(capsys, base(hub, store, filename="config.json", dest="configs/config.json"))
    assert not failed and again["changed"] is False


def test_progress_file_ends_complete(capsys, hub, store):
    run_hf_model(capsys, base(hub, store))
    progress = json.loads((store / ".hf_model" / "progress.json").read_text())
    assert progress["done_bytes"] == progress["total_bytes"] == len(MODEL)
    assert progress["files_done"] == progress["files_total"] == 1
    assert re.match(r"^262\.3 / 262\.3 KB, [0-9.]+ [KMG]B/s, ETA 0 s$", progress["line"]), progress["line"]


# -- interrupted and broken transfers -----------------------------------------------------------

def test_resume_after_a_cut_transfers_only_the_remainder(capsys, hub, store):
    cut = 100 * 1024
    hub.set_faults(cut_after_bytes=cut)
    failed, result = run_hf_model(capsys, base(hub, store))
    dest = store / "Stable-Diffusion" / "model.safetensors"
    assert failed
    assert "still failing after 0 retries" in result["msg"]
    assert "102.4 KB of 262.3 KB are kept" in result["msg"]
    assert not dest.exists(), "an interrupted run must leave nothing at dest"
    assert [os.path.getsize(store / p) for p in partials(store) if p.endswith(".hf-partial")] == [cut]

    hub.set_faults()
    before = hub.stats.as_dict()
    failed, result = run_hf_model(capsys, base(hub, store))
    assert not failed, result
    assert result["files"][0]["resumed_from"] == cut
    assert result["files"][0]["bytes_downloaded"] == len(MODEL) - cut
    assert hub_delta(hub, before)["range_requests"] == 1
    assert dest.read_bytes() == MODEL
    assert partials(store) == []


def test_retries_resume_within_one_run(capsys, hub, store):
    hub.set_faults(cut_after_bytes=64 * 1024, cut_count=2)
    failed, result = run_hf_model(capsys, base(hub, store, retries=3))
    assert not failed, result
    assert (store / "Stable-Diffusion" / "model.safetensors").read_bytes() == MODEL


def test_network_still_failing_after_retries_says_what_is_kept(capsys, hub, store, monkeypatch):
    monkeypatch.setattr(hf_download.time, "sleep", lambda seconds: None)
    hub.set_faults(cut_after_bytes=50 * 1024)
    failed, result = run_hf_model(capsys, base(hub, store, retries=2))
    assert failed
    assert "still failing after 2 retries" in result["msg"]
    assert "153.6 KB of 262.3 KB are kept in" in result["msg"]
    assert "next run resumes" in result["msg"]


def test_server_ignoring_range_starts_over_and_still_verifies(capsys, hub, store):
    hub.set_faults(cut_after_bytes=100 * 1024)
    run_hf_model(capsys, base(hub, store))
    hub.set_faults(ignore_range=True)
    failed, result = run_hf_model(capsys, base(hub, store))
    assert not failed, result
    assert result["files"][0]["range_ignored"] is True
    assert result["files"][0]["resumed_from"] == 0
    assert result["files"][0]["bytes_downloaded"] == len(MODEL)
    assert (store / "Stable-Diffusion" / "model.safetensors").read_bytes() == MODEL


def test_wrong_bytes_fail_with_both_digests_and_keep_the_existing_file(capsys, hub, store, tmp_path):
    dest = store / "Stable-Diffusion" / "model.safetensors"
    dest.parent.mkdir()
    dest.write_bytes(b"an older model the operator still has" * 100)
    hub.set_faults(wrong_bytes=True)
    failed, result = run_hf_model(capsys, base(hub, store, archive_root=str(tmp_path / "archive")))
    expected = hub.repos[("model", "org/model")].files["model.safetensors"].sha256
    assert failed
    assert "Checksum mismatch" in result["msg"]
    assert "expected sha256 %s, got " % expected in result["msg"]
    assert re.search(r"got [0-9a-f]{64}", result["msg"])
    assert dest.read_bytes() == b"an older model the operator still has" * 100
    assert partials(store) == []
    assert not (tmp_path / "archive").exists(), "nothing is archived when the new file does not verify"


def test_pinned_sha256_that_differs_from_the_hub_fails_before_downloading(capsys, hub, store):
    before = hub.stats.as_dict()
    failed, result = run_hf_model(capsys, base(hub, store, sha256="0" * 64))
    assert failed
    assert "pinned sha256 is " + "0" * 64 in result["msg"]
    assert hub_delta(hub, before)["body_bytes"] == 0
    assert tree(store) == []


# -- existing files -----------------------------------------------------------------------------

def test_existing_identical_file_is_adopted_without_download(capsys, hub, store):
    dest = store / "Stable-Diffusion" / "model.safetensors"
    dest.parent.mkdir()
    dest.write_bytes(MODEL)
    before = hub.stats.as_dict()
    failed, result = run_hf_model(capsys, base(hub, store))
    assert not failed and result["changed"] is False and result["action"] == "adopt"
    assert hub_delta(hub, before)["body_bytes"] == 0
    failed, again = run_hf_model(capsys, base(hub, store))
    assert again["action"] == "unchanged"


def test_existing_different_file_is_never_overwritten_without_an_archive(capsys, hub, store):
    dest = store / "Stable-Diffusion" / "model.safetensors"
    dest.parent.mkdir()
    dest.write_bytes(b"x" * len(MODEL))
    failed, result = run_hf_model(capsys, base(hub, store))
    assert failed
    assert "exists with different content" in result["msg"] and "archive_root" in result["msg"]
    assert dest.read_bytes() == b"x" * len(MODEL)


def test_verify_full_finds_corruption_a_record_would_trust(capsys, hub, store, tmp_path):
    run_hf_model(capsys, base(hub, store))
    dest = store / "Stable-Diffusion" / "model.safetensors"
    stat = dest.stat()
    with open(dest, "r+b") as handle:  # flip one byte in place: same size, inode, and mtime restored
        handle.seek(1000)
        handle.write(b"\x00" if MODEL[1000:1001] != b"\x00" else b"\x01")
    os.utime(dest, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    failed, trusting = run_hf_model(capsys, base(hub, store), check_mode=True)
    assert trusting["action"] == "unchanged"
    failed, full = run_hf_model(capsys, base(hub, store, verify="full"), check_mode=True)
    assert failed
    assert "exists with different content (content differs (sha256" in full["msg"]


# -- access and lookup errors -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("token", "failed", "message"),
    [
        (None, True, r"org/gated is a gated repository and no token was given\. .*accept the licence on "
                     r"http://127\.0\.0\.1:\d+/org/gated"),
        (GATED_TOKEN_NOT_ACCEPTED, True, r"has not been granted access \(HTTP 403\)\. Accept the licence on "
                                         r"http://127\.0\.0\.1:\d+/org/gated"),
        (GATED_TOKEN_OK, False, None),
    ],
    ids=["no-token", "licence-not-accepted", "accepted"],
)
def test_gated_repository(capsys, hub, store, monkeypatch, token, failed, message):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    before = hub.stats.as_dict()
    args = base(hub, store, repo_id="org/gated")
    if token:
        args["token"] = token
    is_failed, result = run_hf_model(capsys, args)
    assert is_failed is failed, result
    if failed:
        assert re.search(message, result["msg"]), result["msg"]
        assert tree(store) == []
    else:
        assert (store / "Stable-Diffusion" / "model.safetensors").read_bytes() == MODEL
    assert hub_delta(hub, before)["cdn_auth_headers"] == 0, "the token must never reach the CDN"
    assert token is None or token not in json.dumps(result)


def test_token_falls_back_to_hf_token(capsys, hub, store, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", GATED_TOKEN_OK)
    failed, result = run_hf_model(capsys, base(hub, store, repo_id="org/gated"))
    assert not failed, result


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"repo_id": "org/missing"}, r"Repository org/missing \(model\) was not found at http://127"),
        ({"revision": "v9.9"}, r"Revision 'v9\.9' does not exist in org/model"),
        ({"filename": "nope.safetensors"}, r"File 'nope\.safetensors' does not exist in org/model at revision 'main'"),
        ({"repo_type": "dataset"}, r"Repository org/model \(dataset\) was not found"),
    ],
    ids=["repo", "revision", "file", "repo-type"],
)
def test_not_found_errors_name_what_is_missing(capsys, hub, store, overrides, message):
    failed, result = run_hf_model(capsys, base(hub, store, **overrides))
    assert failed
    assert re.search(message, result["msg"]), result["msg"]
    assert tree(store) == []


@pytest.mark.parametrize(
    "dest",
    ["../outside.safetensors", "/etc/evil.safetensors", "clip/../../escape.safetensors", "via-link/m.safetensors"],
    ids=["dot-dot", "absolute-outside", "nested-dot-dot", "symlinked-parent"],
)
def test_path_traversal_is_refused_before_anything_is_written(capsys, hub, store, tmp_path, dest):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", store / "via-link")
    before = hub.stats.as_dict()
    failed, result = run_hf_model(capsys, base(hub, store, dest=dest))
    assert failed
    assert "Refusing dest" in result["msg"]
    assert tree(store) == ["via-link"]
    assert os.listdir(tmp_path / "elsewhere") == []
    assert hub_delta(hub, before)["requests"] == 0


def test_not_enough_disk_space_fails_with_the_numbers(capsys, hub, store, monkeypatch):
    from ansible_collections.ai4artsed.devserver.plugins.module_utils import disk

    real = disk.disk_space
    monkeypatch.setattr(hf_download, "disk_space",
                        lambda path: real(path)._replace(free_bytes=100 * 1000, mount="/srv"))
    failed, result = run_hf_model(capsys, base(hub, store, free_space_margin_mb=0))
    assert failed
    assert re.search(r"Not enough free space for .*model\.safetensors: 262\.3 KB still to download plus 0 B "
                     r"margin, but only 100\.0 KB free on /srv", result["msg"]), result["msg"]
    assert not (store / "Stable-Diffusion" / "model.safetensors").exists()


def test_disk_filling_up_on_a_real_small_filesystem(capsys, hub, tmp_path):
    root = tmp_path / "small"
    root.mkdir()
    if os.system("mount -t tmpfs -o size=128k tmpfs %s 2>/dev/null" % root) != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        failed, result = run_hf_model(capsys, base(hub, root, free_space_margin_mb=0))
        assert failed
        assert "Not enough free space" in result["msg"]
        assert "only 131.1 KB free" in result["msg"]
        assert [path for path in tree(root) if not path.startswith(".hf_model")] == []
    finally:
        os.system("umount %s" % root)


# -- batches ------------------------------------------------------------------------------------

def test_batch_downloads_in_parallel_with_one_result_per_file(capsys, hub, store):
    files = [{"filename": name, "dest": "loras/%s" % name} for name in sorted(SHARDS)]
    failed, result = run_hf_model(capsys, {"root": str(store), "endpoint": hub.url, "repo_id": "org/shards",
                                           "max_workers": 3, "files": files})
    assert not failed, result
    assert [entry["dest"] for entry in result["files"]] == [str(store / "loras" / n) for n in sorted(SHARDS)]
    assert all(entry["action"] == "download" for entry in result["files"])
    assert result["bytes_downloaded"] == sum(len(data) for data in SHARDS.values())
    for name, data in SHARDS.items():
        assert (store / "loras" / name).read_bytes() == data
    failed, again = run_hf_model(capsys, {"root": str(store), "endpoint": hub.url, "repo_id": "org/shards",
                                          "files": files})
    assert again["changed"] is False and {e["action"] for e in again["files"]} == {"unchanged"}


def test_batch_with_one_bad_entry_writes_nothing(capsys, hub, store):
    files = [{"filename": "shard-0.safetensors", "dest": "loras/a.safetensors"},
             {"filename": "shard-1.safetensors", "dest": "../b.safetensors"}]
    failed, result = run_hf_model(capsys, {"root": str(store), "endpoint": hub.url, "repo_id": "org/shards",
                                           "files": files})
    assert failed
    assert "Refusing dest '../b.safetensors'" in result["msg"]
    assert tree(store) == []


def test_allow_patterns_download_a_multi_file_model_as_a_folder(capsys, hub, store):
    args = {"root": str(store), "endpoint": hub.url, "repo_id": "stabilityai/stable-audio-open-1.0",
            "allow_patterns": ["*.json", "*.safetensors"], "dest": "stableaudio/stable-audio-open-1.0"}
    failed, result = run_hf_model(capsys, args)
    assert not failed, result
    folder = store / "stableaudio" / "stable-audio-open-1.0"
    assert sorted(tree(folder)) == ["model.safetensors", "model_config.json", "vae",
                                    "vae/diffusion_pytorch_model.safetensors"]
    for path in ("model.safetensors", "model_config.json", "vae/diffusion_pytorch_model.safetensors"):
        assert (folder / path).read_bytes() == AUDIO[path]
    failed, again = run_hf_model(capsys, args)
    assert again["changed"] is False


# -- nothing is ever deleted: absent and replace go through the archive -------------------------

def ledger(archive):
    return [json.loads(line) for line in (archive / "ledger.jsonl").read_text().splitlines()]


def test_absent_moves_the_file_to_the_archive_with_a_ledger_line(capsys, hub, store, tmp_path):
    archive = tmp_path / "archive"
    run_hf_model(capsys, base(hub, store))
    dest = store / "Stable-Diffusion" / "model.safetensors"
    absent = base(hub, store, state="absent", archive_root=str(archive))

    failed, planned = run_hf_model(capsys, absent, check_mode=True)
    assert not failed and planned["changed"] is True and planned["action"] == "archive"
    assert dest.exists() and not archive.exists()

    failed, result = run_hf_model(capsys, absent)
    assert not failed, result
    assert result["changed"] is True
    archived = archive / "Stable-Diffusion" / "model.safetensors"
    assert result["archived_to"] == str(archived)
    assert not dest.exists()
    assert archived.read_bytes() == MODEL
    (line,) = ledger(archive)
    assert (line["from"], line["to"], line["size"]) == (str(dest), str(archived), len(MODEL))
    assert line["sha256"] == hub.repos[("model", "org/model")].files["model.safetensors"].sha256
    assert "hf_model state=absent" in line["reason"]

    failed, again = run_hf_model(capsys, absent)
    assert not failed and again["changed"] is False and again["action"] == "absent"


def test_absent_without_an_archive_root_is_refused(capsys, hub, store):
    run_hf_model(capsys, base(hub, store))
    failed, result = run_hf_model(capsys, base(hub, store, state="absent"))
    assert failed and "archive_root is not set" in result["msg"]
    assert (store / "Stable-Diffusion" / "model.safetensors").read_bytes() == MODEL


def test_a_different_file_is_archived_before_the_verified_one_replaces_it(capsys, hub, store, tmp_path):
    archive = tmp_path / "archive"
    dest = store / "Stable-Diffusion" / "model.safetensors"
    dest.parent.mkdir()
    truncated = MODEL[: len(MODEL) // 2]
    dest.write_bytes(truncated)
    failed, result = run_hf_model(capsys, base(hub, store, archive_root=str(archive)))
    assert not failed, result
    assert result["action"] == "replace"
    assert dest.read_bytes() == MODEL
    assert (archive / "Stable-Diffusion" / "model.safetensors").read_bytes() == truncated
    assert ledger(archive)[0]["to"] == result["archived_to"]


def test_check_mode_reports_a_wrong_mode_and_a_real_run_fixes_it(capsys, hub, store):
    run_hf_model(capsys, base(hub, store, mode="0644"))
    dest = store / "Stable-Diffusion" / "model.safetensors"
    dest.chmod(0o600)
    failed, planned = run_hf_model(capsys, base(hub, store, mode="0644"), check_mode=True)
    assert not failed and planned["changed"] is True and planned["action"] == "unchanged"
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    failed, fixed = run_hf_model(capsys, base(hub, store, mode="0644"))
    assert fixed["changed"] is True and oct(dest.stat().st_mode & 0o777) == "0o644"
    failed, again = run_hf_model(capsys, base(hub, store, mode="0644"))
    assert again["changed"] is False


SECRET = "hf_ThisMustNeverBePrinted0123"


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_token_inside_a_files_entry_is_refused_without_showing_it(capsys, hub, store, check_mode):
    entry = {"repo_id": "org/model", "filename": "model.safetensors", "dest": "Stable-Diffusion/model.safetensors",
             "token": SECRET}
    args = base(hub, store, files=[entry])
    for key in ("repo_id", "filename", "dest"):
        args.pop(key)
    failed, result = run_hf_model(capsys, args, check_mode=check_mode)
    assert failed and result["error_kind"] == "invalid", result
    assert "files[0] has a token" in result["msg"] and "the module's own token option" in result["msg"]
    assert SECRET not in json.dumps(result)
    assert tree(store) == []
