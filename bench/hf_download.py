"""Benchmark: hf_model's transfer against huggingface_hub's own `hf download`, on the loopback hub double.

Prints figures; it is not a test. Run: .venv/bin/python bench/hf_download.py [--big-mb 2048] [--reps 3]

(a) one large file (default 2 GB): throughput ratio hf_model / hf download   (target >= 0.95)
(b) 16 files of 128 MB, 8 workers each:  throughput ratio hf_model / hf download   (target >= 1.0)
(c) re-run over a verified store of 16 sparse files totalling 100 GB against one of 16 x 64 KB:
    seconds ratio big / small (target <= 1.2), for a branch revision (one HEAD per file) and for
    pinned commits with sha256 (no request at all).

The hub double runs as its own process (its CDN port serves with sendfile), so client and server do not
share an interpreter. hf_model's logic is called in-process through the same run() the module uses.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / ".collections"))

from ansible_collections.ai4artsed.devserver.plugins.module_utils import fileutil, hf_record  # noqa: E402
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_hub import HubClient  # noqa: E402
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_plan import Settings, run  # noqa: E402
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_progress import progress_path  # noqa: E402

SPARSE_SHA = "ab" * 32


def start_hub(workdir, big_bytes, shard_bytes, shards, sparse_bytes, small_bytes):
    repos = {
        "bench/big": {"files": {"model.safetensors": {"random": big_bytes}}},
        "bench/many": {"files": {"shard-%02d.safetensors" % i: {"random": shard_bytes} for i in range(shards)}},
        "bench/store-100g": {"files": {"part-%02d.safetensors" % i: {"sparse": sparse_bytes, "sha256": SPARSE_SHA}
                                       for i in range(16)}},
        "bench/store-1m": {"files": {"part-%02d.safetensors" % i: {"sparse": small_bytes, "sha256": SPARSE_SHA}
                                     for i in range(16)}},
    }
    (workdir / "repos.json").write_text(json.dumps(repos))
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "tests" / "doubles" / "hf_hub_double.py"), "--root", str(workdir / "hub"),
         "--port", "0", "--cdn-port", "0", "--repos", str(workdir / "repos.json")],
        stdout=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline().split()  # "hub URL cdn URL"
    return process, line[1]


def hub_commit(endpoint, repo_id):
    request = urllib.request.Request("%s/%s/resolve/main/%s" % (endpoint, repo_id, "part-00.safetensors"),
                                     method="HEAD")
    request.add_header("Accept-Encoding", "identity")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(request, timeout=10)
    except urllib.error.HTTPError as redirect:
        return redirect.headers["X-Repo-Commit"]
    raise RuntimeError("expected a redirect")


def settings_for(root, endpoint, workers):
    state_dir = hf_record.default_state_dir(str(root))
    return Settings(root=str(root), state_dir=state_dir, archive_root=None, hub=HubClient(endpoint, None, 30),
                    retries=2, verify="metadata", free_space_margin=0, max_workers=workers,
                    progress_file=progress_path(state_dir), check_mode=False)


def time_hf_model(endpoint, scratch, repo_id, filenames, workers):
    root = Path(tempfile.mkdtemp(dir=scratch))
    params = {"repo_id": repo_id, "files": [{"filename": name, "dest": "out/" + name} for name in filenames],
              "revision": "main", "repo_type": "model"}
    started = time.perf_counter()
    result = run(params, settings_for(root, endpoint, workers))
    seconds = time.perf_counter() - started
    assert not result["failed_files"], result
    shutil.rmtree(root)
    return seconds, result["bytes_downloaded"]


def time_hf_cli(endpoint, scratch, repo_id, filenames, workers):
    out = Path(tempfile.mkdtemp(dir=scratch))
    env = dict(os.environ, HF_ENDPOINT=endpoint, HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HOME=str(out / "home"),
               HF_HUB_DISABLE_TELEMETRY="1")
    command = [str(Path(sys.executable).with_name("hf")), "download", repo_id, *filenames, "--local-dir",
               str(out / "dl"), "--max-workers", str(workers)]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    size = sum(f.stat().st_size for f in (out / "dl").rglob("*.safetensors"))
    shutil.rmtree(out)
    return seconds, size


def compare(label, endpoint, scratch, repo_id, filenames, workers, reps):
    ours, theirs = [], []
    for _rep in range(reps):  # alternate, so both see the same machine state
        seconds, size = time_hf_cli(endpoint, scratch, repo_id, filenames, workers)
        theirs.append(size / seconds)
        seconds, size = time_hf_model(endpoint, scratch, repo_id, filenames, workers)
        ours.append(size / seconds)
    ratio = statistics.median(ours) / statistics.median(theirs)
    print("%s: hf_model %.0f MB/s, hf download %.0f MB/s (medians of %d), ratio %.3f"
          % (label, statistics.median(ours) / 1e6, statistics.median(theirs) / 1e6, reps, ratio))
    return ratio


def verified_store(scratch, endpoint, repo_id, size):
    """A store as hf_model leaves it after downloading: sparse files of the size, and their records."""
    root = Path(tempfile.mkdtemp(dir=scratch))
    commit = hub_commit(endpoint, repo_id)
    for index in range(16):
        name = "part-%02d.safetensors" % index
        dest = root / "store" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as handle:
            handle.truncate(size)
        origin = {"repo_id": repo_id, "repo_type": "model", "filename": name, "commit": commit, "git_oid": None}
        fileutil.write_json_atomically(hf_record.record_path(str(root / ".hf_model"), str(root), str(dest)),
                                       hf_record.make_record(os.stat(dest), SPARSE_SHA, origin))
    return root, commit


def rerun_once(root, endpoint, repo_id, revision, pinned):
    params = {"repo_id": repo_id, "revision": revision, "repo_type": "model",
              "files": [{"filename": "part-%02d.safetensors" % i, "dest": "store/part-%02d.safetensors" % i,
                         "sha256": SPARSE_SHA if pinned else None} for i in range(16)]}
    started = time.perf_counter()
    result = run(params, settings_for(root, endpoint, 8))
    seconds = time.perf_counter() - started
    assert not result["changed"] and not result["failed_files"], result["summary"]
    return seconds


def rerun_ratio(stores, endpoint, pinned, reps):
    """Median seconds of a no-op re-run for each store, measured alternately after one warm-up each."""
    timings = {label: [] for label in stores}
    for rep in range(reps + 1):
        for label, (root, repo_id, commit) in stores.items():
            seconds = rerun_once(root, endpoint, repo_id, commit if pinned else "main", pinned)
            if rep:  # the first round warms connections and caches
                timings[label].append(seconds)
    return {label: statistics.median(values) for label, values in timings.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mb", type=int, default=2048)
    parser.add_argument("--shard-mb", type=int, default=128)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scratch", default="/var/tmp", help="a directory on a disk with ~10 GB free")
    arguments = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hf-bench-", dir=arguments.scratch))
    sparse = 100 * 10**9 // 16
    print("setting up the hub double in %s (random files: %d MB + %d x %d MB) ..."
          % (workdir, arguments.big_mb, arguments.shards, arguments.shard_mb), flush=True)
    hub, endpoint = start_hub(workdir, arguments.big_mb * 2**20, arguments.shard_mb * 2**20, arguments.shards,
                              sparse, 64 * 1024)
    try:
        scratch = workdir / "scratch"
        scratch.mkdir()
        a = compare("(a) 1 x %d MB" % arguments.big_mb, endpoint, scratch, "bench/big", ["model.safetensors"], 8,
                    arguments.reps)
        shard_names = ["shard-%02d.safetensors" % i for i in range(arguments.shards)]
        b = compare("(b) %d x %d MB" % (arguments.shards, arguments.shard_mb), endpoint, scratch, "bench/many",
                    shard_names, 8, arguments.reps)
        big_root, big_commit = verified_store(scratch, endpoint, "bench/store-100g", sparse)
        small_root, small_commit = verified_store(scratch, endpoint, "bench/store-1m", 64 * 1024)
        stores = {"100 GB": (big_root, "bench/store-100g", big_commit),
                  "1 MB": (small_root, "bench/store-1m", small_commit)}
        reps = max(arguments.reps, 21)  # the runs take milliseconds: many, and the median
        c = {}
        for label, pinned in (("branch revision, 1 HEAD per file", False), ("pinned commit + sha256", True)):
            seconds = rerun_ratio(stores, endpoint, pinned, reps)
            c[label] = seconds["100 GB"] / seconds["1 MB"]
            print("(c) re-run of 16 files, %s: 100 GB store %.4f s, 1 MB store %.4f s, ratio %.2f"
                  % (label, seconds["100 GB"], seconds["1 MB"], c[label]))
        print("targets: (a) >= 0.95 -> %s, (b) >= 1.0 -> %s, (c) <= 1.2 -> %s" % (
            "met" if a >= 0.95 else "MISSED", "met" if b >= 1.0 else "MISSED",
            "met" if max(c.values()) <= 1.2 else "MISSED"))
    finally:
        hub.terminate()
        hub.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
