"""hf_model under issue 9: one writer per file, only verified bytes, no token in clear, checks before
the first byte, and re-runs while the hub is unreachable."""

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.hf import HubDouble, base, run_hf_model, safetensors_bytes, tree
from ansible_collections.ai4artsed.devserver.plugins.module_utils import disk, hf_download, hf_hub

REPO_ROOT = Path(__file__).resolve().parents[4]
COLLECTIONS = str(REPO_ROOT / ".collections")
MODEL = safetensors_bytes("integrity", 256 * 1024)
BIG = os.urandom(6 * 1024 * 1024)
SHARDS = {"shard-%d.safetensors" % i: safetensors_bytes("ishard%d" % i, 16 * 1024) for i in range(2)}
FOLDER = {"config.json": b'{"a": 1}', "model.safetensors": safetensors_bytes("folder", 8 * 1024)}
SECRET = "hf_SECRETtoken0123456789abcdef"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubDouble(tmp_path_factory.mktemp("hub")) as double:
        double.add_repo("org/model", {"model.safetensors": MODEL, "big.bin": BIG, "config.json": b'{"x": 1}'})
        double.add_repo("org/shards", SHARDS)
        double.add_repo("org/folder", FOLDER)
        double.add_repo("org/gated", {"model.safetensors": MODEL}, gated=True)
        yield double


@pytest.fixture(autouse=True)
def clean_faults(hub):
    hub.set_faults()
    yield
    hub.set_faults()


def leftovers(root):
    return [path for path in tree(root) if ".hf-partial" in path or ".hf-lock" in path or ".tmp-" in path]


def body_bytes(hub):
    return hub.stats.as_dict()["body_bytes"]


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d" % sock.getsockname()[1]


def warning_texts(result):
    """Ansible's warnings as text (ansible-core 2.19 returns them as structured summaries; in one test
    process they also accumulate across runs, so tests look for their own)."""
    return [warning["event"]["msg"] if isinstance(warning, dict) else warning for warning in result["warnings"]]


def start_module_process(tmp_path, name, args):
    """hf_model as Ansible runs it on a host: its own process, arguments from a file."""
    args_file = tmp_path / ("%s.json" % name)
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    environment = dict(os.environ, PYTHONPATH=COLLECTIONS)
    return subprocess.Popen([sys.executable, "-m", "ansible_collections.ai4artsed.devserver.plugins.modules.hf_model",
                             str(args_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)


def wait_for(predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


# -- 1. two writers on one download -------------------------------------------------------------

def test_two_processes_on_one_dest_leave_one_correct_file(hub, store, tmp_path):
    hub.set_faults(throttle_bytes_per_second=3 * 1024 * 1024)  # about 2 s, so the runs overlap
    args = base(hub, store, filename="big.bin", dest="unet/big.bin")
    first = start_module_process(tmp_path, "first", args)
    partial = store / "unet" / ".big.bin.hf-partial"
    wait_for(lambda: partial.exists() and partial.stat().st_size > 0 or first.poll() is not None)
    second = start_module_process(tmp_path, "second", args)
    results = [json.loads(process.communicate(timeout=60)[0]) for process in (first, second)]
    dest = store / "unet" / "big.bin"
    assert [process.returncode for process in (first, second)] == [0, 0], results
    assert dest.stat().st_size == len(BIG)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == hashlib.sha256(BIG).hexdigest()
    assert sorted(result["action"] for result in results) == ["download", "unchanged"]
    record = json.loads((store / ".hf_model" / "unet" / "big.bin.json").read_text())
    assert (record["size"], record["sha256"]) == (len(BIG), hashlib.sha256(BIG).hexdigest())
    assert leftovers(store) == []


def test_a_second_writer_gives_up_after_lock_timeout_naming_the_holder(capsys, hub, store):
    folder = store / "Stable-Diffusion"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_lock import DestinationLock\n"
         "with DestinationLock(sys.argv[1], 0):\n    print('held', flush=True)\n    time.sleep(30)\n",
         str(folder / "model.safetensors")], stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=COLLECTIONS))
    try:
        assert holder.stdout.readline().strip() == b"held"
        before = body_bytes(hub)
        failed, result = run_hf_model(capsys, base(hub, store, lock_timeout=1))
    finally:
        holder.kill()
        holder.wait()
    assert failed
    assert "Another hf_model run is writing" in result["msg"]
    assert "PID %d on host %s" % (holder.pid, socket.gethostname()) in result["msg"]
    assert "lock_timeout" in result["msg"]
    assert body_bytes(hub) == before
    assert not (folder / "model.safetensors").exists()


def test_duplicate_destinations_in_one_batch_are_refused_before_anything_is_written(capsys, hub, store):
    before = body_bytes(hub)
    files = [{"filename": "shard-0.safetensors", "dest": "x/s.bin"},
             {"filename": "shard-1.safetensors", "dest": "x/./s.bin"}]
    failed, result = run_hf_model(capsys, {"root": str(store), "endpoint": hub.url, "repo_id": "org/shards",
                                           "files": files})
    assert failed
    for named in ("files[0]", "'x/s.bin'", "files[1]", "'x/./s.bin'", str(store / "x" / "s.bin")):
        assert named in result["msg"], result["msg"]
    assert tree(store) == []
    assert body_bytes(hub) == before


def test_a_partial_file_longer_than_what_was_hashed_is_not_installed(capsys, hub, store, monkeypatch):
    real_run = hf_download.Transfer.run

    def run_then_another_writer_appends(self, expected_sha256):
        digests = real_run(self, expected_sha256)
        with open(self.partial, "ab") as handle:  # an unlocked writer (an older hf_model) appending
            handle.write(b"\0" * 1000)
        return digests

    monkeypatch.setattr(hf_download.Transfer, "run", run_then_another_writer_appends)
    failed, result = run_hf_model(capsys, base(hub, store))
    assert failed
    assert "%d bytes on disk, but %d bytes were received and hashed" % (len(MODEL) + 1000, len(MODEL)) in result["msg"]
    assert not (store / "Stable-Diffusion" / "model.safetensors").exists()
    assert not (store / ".hf_model" / "Stable-Diffusion" / "model.safetensors.json").exists()
    assert leftovers(store) == []


# -- 2. unverified bytes are never installed ----------------------------------------------------

def test_a_captive_portal_page_is_not_installed_as_the_model(capsys, hub, store):
    hub.set_faults(captive_portal=True)
    failed, result = run_hf_model(capsys, base(hub, store))
    assert failed
    assert "no sha256 is pinned" in result["msg"]
    assert "neither an LFS sha256 (X-Linked-Etag) nor a git blob id (ETag)" in result["msg"]
    assert "pin sha256" in result["msg"]
    assert [path for path in tree(store) if not path.startswith(".hf_model")] == []
    assert not (store / ".hf_model" / "Stable-Diffusion").exists()


def test_allow_patterns_files_through_a_proxy_without_digests_are_refused(capsys, hub, store):
    hub.set_faults(strip_etags=True)
    failed, result = run_hf_model(capsys, {"root": str(store), "endpoint": hub.url, "repo_id": "org/folder",
                                           "allow_patterns": ["*"], "dest": "folder"})
    assert failed
    assert [entry["error_kind"] for entry in result["files"]] == ["unverifiable", "unverifiable"]
    assert "pin sha256" in result["files"][0]["error"]
    assert [path for path in tree(store) if not path.startswith(".hf_model")] == []


def test_allow_patterns_behind_a_captive_portal_fail_with_a_clear_message(capsys, hub, store):
    hub.set_faults(captive_portal=True)
    failed, result = run_hf_model(capsys, {"root": str(store), "endpoint": hub.url, "repo_id": "org/folder",
                                           "allow_patterns": ["*"], "dest": "folder"})
    assert failed
    assert "is not the hub's API" in result["msg"] and "captive portal" in result["msg"]
    assert "Traceback" not in json.dumps(result)
    assert tree(store) == []


def test_a_pinned_sha256_still_protects_against_a_captive_portal(capsys, hub, store):
    hub.set_faults(captive_portal=True)
    pinned = hashlib.sha256(MODEL).hexdigest()
    failed, result = run_hf_model(capsys, base(hub, store, sha256=pinned))
    assert failed and "Checksum mismatch" in result["msg"]
    assert not (store / "Stable-Diffusion" / "model.safetensors").exists()
    assert leftovers(store) == []


# -- 3. the token is never shown ----------------------------------------------------------------

@pytest.mark.parametrize(("token", "problem"), [
    (SECRET + "\n", "a line break"),
    (SECRET + " ", "whitespace"),
    ("hf_SECRET\u00e9token", "a character that is not visible ASCII"),
], ids=["trailing-newline", "space", "non-ascii"])
@pytest.mark.parametrize("source", ["option", "HF_TOKEN"])
def test_a_malformed_token_is_refused_without_showing_it(capsys, hub, store, monkeypatch, token, problem, source):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    args = base(hub, store)
    if source == "option":
        args["token"] = token
    else:
        monkeypatch.setenv("HF_TOKEN", token)
    requests = hub.stats.as_dict()["requests"]
    failed, result = run_hf_model(capsys, args)
    assert failed
    assert result["error_kind"] == "invalid_token"
    assert "contains %s" % problem in result["msg"] and "HF_TOKEN" in result["msg"]
    assert "SECRET" not in json.dumps(result)
    assert hub.stats.as_dict()["requests"] == requests
    assert tree(store) == []


def _gated(hub, store, tmp_path):
    return base(hub, store, repo_id="org/gated")


def _not_found(hub, store, tmp_path):
    return base(hub, store, repo_id="org/missing")


def _network(hub, store, tmp_path):
    return base(hub, store, endpoint=closed_port())


def _checksum(hub, store, tmp_path):
    hub.set_faults(wrong_bytes=True)
    return base(hub, store)


def _cut(hub, store, tmp_path):
    hub.set_faults(cut_after_bytes=1000)
    return base(hub, store)


def _disk_full(hub, store, tmp_path):
    return base(hub, store, free_space_margin_mb=10 ** 9)


def _refused_path(hub, store, tmp_path):
    return base(hub, store, dest="../outside.safetensors")


def _captive_portal(hub, store, tmp_path):
    hub.set_faults(captive_portal=True)
    return base(hub, store)


def _unknown_owner(hub, store, tmp_path):
    return base(hub, store, owner="no-such-user-ai4artsed")


def _conflict(hub, store, tmp_path):
    (store / "Stable-Diffusion").mkdir()
    (store / "Stable-Diffusion" / "model.safetensors").write_bytes(b"other")
    return base(hub, store)


def _lock_held(hub, store, tmp_path):
    from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_lock import DestinationLock

    (store / "Stable-Diffusion").mkdir()
    lock = DestinationLock(str(store / "Stable-Diffusion" / "model.safetensors"), 0)
    lock.__enter__()  # released when the test's process ends; flock conflicts within one process too
    return base(hub, store, lock_timeout=0)


FAILURES = [_gated, _not_found, _network, _checksum, _cut, _disk_full, _refused_path, _captive_portal,
            _unknown_owner, _conflict, _lock_held]


@pytest.mark.parametrize("make_failure", FAILURES, ids=[f.__name__.strip("_") for f in FAILURES])
def test_no_failure_shows_the_token(capsys, caplog, hub, store, tmp_path, monkeypatch, make_failure):
    caplog.set_level("DEBUG")
    monkeypatch.setattr(hf_download.time, "sleep", lambda seconds: None)
    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", lambda seconds: None)
    args = make_failure(hub, store, tmp_path)
    failed, result = run_hf_model(capsys, dict(args, token=SECRET))
    assert failed, result
    assert "SECRET" not in json.dumps(result)
    assert "SECRET" not in caplog.text
    assert "SECRET" not in capsys.readouterr().err
    for path in tree(store):
        if (store / path).is_file():
            assert b"SECRET" not in (store / path).read_bytes(), path


# -- 5. what would fail after the download is checked before it ---------------------------------

@pytest.mark.parametrize("option, name", [("owner", "no-such-user-ai4artsed"), ("group", "no-such-group-ai4artsed")])
def test_an_unknown_owner_or_group_fails_before_the_download(capsys, hub, store, option, name):
    before = body_bytes(hub)
    failed, result = run_hf_model(capsys, base(hub, store, **{option: name}))
    assert failed
    assert "%s '%s' does not exist on this host" % (option, name) in result["msg"]
    assert body_bytes(hub) == before
    assert tree(store) == []


def test_an_archive_on_another_filesystem_fails_before_the_download(capsys, hub, store, tmp_path):
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem (/dev/shm) here")
    archive = other / ("hf-archive-%d" % os.getpid())
    dest = store / "Stable-Diffusion" / "model.safetensors"
    dest.parent.mkdir()
    dest.write_bytes(b"an older model" * 100)
    before = body_bytes(hub)
    failed, result = run_hf_model(capsys, base(hub, store, archive_root=str(archive)))
    assert failed
    assert "archive_root %s is on another filesystem than root" % archive in result["msg"]
    assert body_bytes(hub) == before
    assert dest.read_bytes() == b"an older model" * 100
    assert tree(store) == ["Stable-Diffusion", "Stable-Diffusion/model.safetensors"]
    assert not archive.exists()


def test_a_state_folder_that_cannot_be_written_fails_before_the_download(capsys, hub, store, tmp_path):
    (tmp_path / "not-a-folder").write_text("a file where the state folder should be")
    state_dir = tmp_path / "not-a-folder" / "state"
    before = body_bytes(hub)
    failed, result = run_hf_model(capsys, base(hub, store, state_dir=str(state_dir)))
    assert failed
    assert "The state folder %s cannot be written" % state_dir in result["msg"]
    assert body_bytes(hub) == before
    assert tree(store) == []


def test_a_full_state_folder_fails_before_the_download_and_leaves_no_temporary_file(capsys, hub, store, tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    if os.system("mount -t tmpfs -o size=64k tmpfs %s 2>/dev/null" % state_dir) != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        with open(state_dir / "filler", "wb") as handle:
            try:
                handle.write(b"\0" * (1024 * 1024))
            except OSError:
                pass
        before = body_bytes(hub)
        failed, result = run_hf_model(capsys, base(hub, store, state_dir=str(state_dir)))
        assert failed
        assert "cannot be written (No space left on device)" in result["msg"]
        assert body_bytes(hub) == before
        assert tree(store) == []
        assert os.listdir(state_dir) == ["filler"]
    finally:
        os.system("umount %s" % state_dir)


# -- 9. re-runs while the hub cannot be reached -------------------------------------------------

def test_a_recorded_file_with_the_hub_unreachable_is_kept_with_a_warning(capsys, hub, store):
    files = [{"filename": "model.safetensors", "dest": "a/model.safetensors"},
             {"filename": "config.json", "dest": "a/config.json"}]
    args = {"root": str(store), "endpoint": hub.url, "repo_id": "org/model", "files": files}
    failed, first = run_hf_model(capsys, args)
    assert not failed, first
    started = time.monotonic()
    failed, result = run_hf_model(capsys, dict(args, endpoint=closed_port()))
    assert not failed, result
    assert result["changed"] is False
    assert [entry["action"] for entry in result["files"]] == ["unchanged", "unchanged"]
    for entry in result["files"]:
        assert "could not check org/model/%s for updates" % entry["filename"] in entry["warning"]
        assert entry["warning"] in warning_texts(result)
    assert result["files"][0]["sha256"] == first["files"][0]["sha256"] == hashlib.sha256(MODEL).hexdigest()
    assert time.monotonic() - started < 10, "a file the record vouches for is not retried"


def test_pinned_entries_make_no_request_while_the_hub_is_down(capsys, hub, store):
    repo = hub.repos[("model", "org/model")]
    pinned = {"filename": "model.safetensors", "dest": "p/model.safetensors", "revision": repo.commit,
              "sha256": repo.files["model.safetensors"].sha256}
    unpinned = {"filename": "config.json", "dest": "p/config.json"}
    args = {"root": str(store), "endpoint": hub.url, "repo_id": "org/model", "files": [pinned, unpinned]}
    run_hf_model(capsys, args)
    hub.set_faults(unavailable=True)
    before = len(hub.stats.requests)
    failed, result = run_hf_model(capsys, args)
    paths = [path for _method, path, _range in hub.stats.requests[before:]]
    assert not failed, result
    assert [entry["action"] for entry in result["files"]] == ["unchanged", "unchanged"]
    assert paths == ["/org/model/resolve/main/config.json"], "only the unpinned entry asks, once"
    assert "warning" not in result["files"][0]
    assert "could not check org/model/config.json for updates" in result["files"][1]["warning"]
    assert "503" in result["files"][1]["warning"]


def test_a_missing_file_with_the_hub_unreachable_still_fails(capsys, hub, store, monkeypatch):
    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", lambda seconds: None)
    failed, result = run_hf_model(capsys, base(hub, store, endpoint=closed_port()))
    assert failed
    assert "Could not reach" in result["msg"]
    assert tree(store) == []


def test_disk_space_is_still_checked_before_the_lock(capsys, hub, store, monkeypatch):
    real = disk.disk_space
    monkeypatch.setattr(hf_download, "disk_space", lambda path: real(path)._replace(free_bytes=10, mount="/srv"))
    failed, result = run_hf_model(capsys, base(hub, store, free_space_margin_mb=0))
    assert failed and "Not enough free space" in result["msg"]
    assert leftovers(store) == []


def folder_entry(hub, store, **overrides):
    args = {"root": str(store), "endpoint": hub.url, "repo_id": "org/folder", "allow_patterns": ["*"],
            "dest": "folder"}
    args.update(overrides)
    return args


def test_a_converged_allow_patterns_folder_re_runs_with_the_hub_down(capsys, hub, store):
    failed, first = run_hf_model(capsys, folder_entry(hub, store))
    assert not failed, first
    hub.set_faults(unavailable=True)
    started = time.monotonic()
    failed, result = run_hf_model(capsys, folder_entry(hub, store))
    assert not failed, result
    assert time.monotonic() - started < 10, "an entry with a recorded listing is not retried"
    assert result["changed"] is False
    assert [(entry["filename"], entry["action"]) for entry in result["files"]] == [
        ("config.json", "unchanged"), ("model.safetensors", "unchanged")]
    texts = warning_texts(result)
    listing = [text for text in texts if "could not list org/folder" in text]
    assert listing and "could not check for updates" in listing[0] and "503" in listing[0]
    for entry in result["files"]:
        assert "could not check org/folder/%s for updates" % entry["filename"] in entry["warning"]
    assert (store / "folder" / "model.safetensors").read_bytes() == FOLDER["model.safetensors"]


def test_an_allow_patterns_folder_pinned_to_a_commit_re_runs_without_a_request(capsys, hub, store):
    commit = hub.repos[("model", "org/folder")].commit
    failed, first = run_hf_model(capsys, folder_entry(hub, store, revision=commit))
    assert not failed, first
    hub.set_faults(unavailable=True)
    before = len(hub.stats.requests)
    failed, result = run_hf_model(capsys, folder_entry(hub, store, revision=commit))
    assert not failed, result
    assert hub.stats.requests[before:] == [], "a commit's files never change: nothing to ask"
    assert [entry["action"] for entry in result["files"]] == ["unchanged", "unchanged"]
    assert [entry["commit"] for entry in result["files"]] == [commit, commit]
    assert not any("warning" in entry for entry in result["files"])


def test_an_allow_patterns_folder_never_listed_fails_while_the_hub_is_down(capsys, hub, store, monkeypatch):
    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", lambda seconds: None)
    hub.set_faults(unavailable=True)
    failed, result = run_hf_model(capsys, folder_entry(hub, store))
    assert failed
    assert "Could not reach" in result["msg"] and "503" in result["msg"]
    assert tree(store) == []


def test_a_listing_for_other_patterns_is_not_reused_while_the_hub_is_down(capsys, hub, store, monkeypatch):
    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", lambda seconds: None)
    failed, first = run_hf_model(capsys, folder_entry(hub, store, allow_patterns=["*.json"]))
    assert not failed, first
    hub.set_faults(unavailable=True)
    failed, result = run_hf_model(capsys, folder_entry(hub, store, allow_patterns=["*"]))
    assert failed
    assert "Could not reach" in result["msg"]
    assert not (store / "folder" / "model.safetensors").exists()


def test_check_mode_of_a_new_allow_patterns_folder_records_nothing(capsys, hub, store, monkeypatch):
    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", lambda seconds: None)
    failed, result = run_hf_model(capsys, folder_entry(hub, store), check_mode=True)
    assert not failed, result
    assert [entry["action"] for entry in result["files"]] == ["download", "download"]
    assert tree(store) == []
    hub.set_faults(unavailable=True)
    failed, result = run_hf_model(capsys, folder_entry(hub, store), check_mode=True)
    assert failed and "Could not reach" in result["msg"]


def test_a_branch_is_listed_again_only_when_it_moved(capsys, hub, store):
    hub.add_repo("org/moving", FOLDER)
    args = folder_entry(hub, store, repo_id="org/moving")
    failed, first = run_hf_model(capsys, args)
    assert not failed, first
    before = len(hub.stats.requests)
    failed, again = run_hf_model(capsys, args)
    assert not failed and again["changed"] is False, again
    assert not [path for _method, path, _range in hub.stats.requests[before:] if "/tree/" in path]
    hub.add_repo("org/moving", dict(FOLDER, **{"extra.json": b'{"b": 2}'}))
    failed, moved = run_hf_model(capsys, args)
    assert not failed, moved
    assert [(entry["filename"], entry["action"]) for entry in moved["files"]] == [
        ("config.json", "relabel"), ("extra.json", "download"), ("model.safetensors", "relabel")]
    assert (store / "folder" / "extra.json").read_bytes() == b'{"b": 2}'


def test_a_pinned_re_run_works_without_the_hub_client_and_a_download_says_it_is_missing(capsys, hub, store,
                                                                                        monkeypatch):
    # The client is imported on first use: a re-run that asks the hub nothing does not pay for the import
    # (the no-op re-run's cost), and a host without it gets a message that says how to install it.
    repo = hub.repos[("model", "org/model")]
    pinned = {"filename": "model.safetensors", "dest": "p/model.safetensors", "revision": repo.commit,
              "sha256": repo.files["model.safetensors"].sha256}
    args = {"root": str(store), "endpoint": hub.url, "repo_id": "org/model", "files": [pinned]}
    run_hf_model(capsys, args)

    def no_client():
        raise ImportError("No module named 'huggingface_hub'")

    monkeypatch.setattr(hf_hub, "_LIBRARY", {})
    monkeypatch.setattr(hf_hub, "_import_library", no_client)
    failed, result = run_hf_model(capsys, args)
    assert not failed, result
    assert [entry["action"] for entry in result["files"]] == ["unchanged"]

    failed, result = run_hf_model(capsys, dict(args, files=[dict(pinned, dest="q/model.safetensors")]))
    assert failed
    assert result["files"][0]["error_kind"] == "missing_library"
    assert "hf_client role" in result["msg"] and "huggingface_hub" in result["msg"]
    assert not (store / "q").exists()


@pytest.mark.parametrize("pinned, check_updates, looked_at", [
    (True, True, False), (False, True, True), (False, False, False)],
    ids=["pinned folder", "branch folder, updates checked", "branch folder, updates not checked"])
def test_the_plan_skips_a_folder_hf_model_would_not_change(capsys, hub, store, pinned, check_updates, looked_at):
    # model_manifest's host.to_check decides whether the model store calls hf_model at all on a re-run: a
    # folder it leaves out must be one a real run reports unchanged without a request.
    from ansible_collections.ai4artsed.devserver.plugins.module_utils.store_state import to_check
    commit = hub.repos[("model", "org/folder")].commit
    args = folder_entry(hub, store, revision=commit if pinned else "main")
    failed, first = run_hf_model(capsys, args)
    assert not failed, first
    entry = dict((key, args[key]) for key in ("repo_id", "allow_patterns", "dest", "revision"))
    assert to_check([entry], str(store), os.getuid(), os.getgid(), 0o644, check_updates) == (
        [entry] if looked_at else [])
    if not looked_at:
        hub.set_faults(unavailable=True)
        before = len(hub.stats.requests)
        failed, again = run_hf_model(capsys, dict(args, mode="0644"))
        assert not failed and again["changed"] is False
        if pinned:
            assert hub.stats.requests[before:] == []
    (store / "folder" / "config.json").chmod(0o600)
    assert to_check([entry], str(store), os.getuid(), os.getgid(), 0o644, check_updates) == [entry]
