"""Benchmark: N workstations downloading one model through an olah mirror, against N direct downloads, on loopback.

Prints figures; it is not a test. Run: .venv/bin/python bench/fleet.py [--workstations 1,3,6] [--file-mb 64,16]

For each N, three passes, each with N simulated workstations started at the same moment:
  direct        N workstations straight from the hub double: every delivered byte went upstream (ratio 1)
  mirror        N workstations through a fresh olah (empty cache): the target is ratio 1/N, each byte upstream once
  mirror, warm  N more workstations through the same olah, its cache now full: the target is ratio 0
A workstation is a process of its own that downloads every file with hf_model's own code (hf_plan.run, the real
huggingface_hub client underneath) into its own folder; the sha256 of every file it got is checked against the
double's. Upstream bytes are the file body bytes the hub double's CDN sent during the pass (its per-file counts).

The hub double runs in this process (its CDN serves with sendfile, which leaves the interpreter free). olah comes from
roles/model_mirror/files/requirements.txt, the role's own pins, in the venv the unit tests build and reuse
(tests/unit/helpers/olah.py: ~/.cache/ai4artsed-devserver, rebuilt when the pins change; --olah-venv names another);
each N gets an olah with its own HOME and cache, started by that helper's OlahMirror.
Exit status 1 when a workstation failed or a file's sha256 was wrong.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / ".collections"))
sys.path.insert(0, str(REPO_ROOT / "tests" / "doubles"))
sys.path.insert(0, str(REPO_ROOT / "tests" / "unit" / "helpers"))

from hf_hub_double import CHUNK, HubDouble  # noqa: E402
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import sha256_file  # noqa: E402
from olah import OlahMirror, OlahUnavailable, olah_venv  # noqa: E402

REPO_ID = "bench/fleet-model"
OLAH_START_SECONDS = 60


# -- the workstation: a child process ---------------------------------------------------------------

def workstation(arguments):
    """Download every file with hf_model's code once the parent says go; print one JSON line with the figures."""
    from ansible_collections.ai4artsed.devserver.plugins.module_utils import hf_record
    from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_hub import HubClient, hub_library
    from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_plan import Settings, run
    from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_progress import progress_path

    hub_library()  # import huggingface_hub before the clock starts: an import is not a download
    root = Path(arguments.dest)
    root.mkdir(parents=True, exist_ok=True)
    state_dir = hf_record.default_state_dir(str(root))
    settings = Settings(root=str(root), state_dir=state_dir, archive_root=None,
                        hub=HubClient(arguments.endpoint, None, 60), retries=0, verify="metadata",
                        free_space_margin=0, max_workers=8, progress_file=progress_path(state_dir), check_mode=False)
    names = arguments.files.split(",")
    params = {"repo_id": arguments.repo, "revision": "main", "repo_type": "model",
              "files": [{"filename": name, "dest": "model/" + name} for name in names]}
    print("ready", flush=True)
    sys.stdin.readline()  # the parent's go, written to every workstation at once
    started = time.time()
    result = run(params, settings)
    finished = time.time()
    digests = {name: sha256_file(root / "model" / name) for name in names if (root / "model" / name).exists()}
    print(json.dumps({"started": started, "finished": finished, "bytes": result["bytes_downloaded"],
                      "failed": ["%s: %s" % (entry["filename"], entry.get("error")) for entry in result["files"]
                                 if entry["action"] == "failed"], "sha256": digests}), flush=True)


# -- the parent: hub double, olah, passes -----------------------------------------------------------

def make_hub(workdir, sizes):
    """The hub double on loopback with one repository of random files of the given sizes (bytes)."""
    generated = workdir / "generated"
    generated.mkdir()
    files = {}
    for index, size in enumerate(sizes):
        path = generated / ("part-%02d.safetensors" % index)
        with open(path, "wb") as handle:
            remaining = size
            while remaining > 0:
                block = os.urandom(min(16 * CHUNK, remaining))
                handle.write(block)
                remaining -= len(block)
        files[path.name] = path
    hub = HubDouble(workdir / "hub").start()
    repo = hub.add_repo(REPO_ID, files)
    return hub, repo


def start_olah(venv, hub, folder):
    """olah on a free loopback port with its own HOME and an empty cache, once it answers for the benchmark's model
    (olah asks the hub in turn), as before each measured pass."""
    mirror = OlahMirror(venv, hub, folder).start(timeout=OLAH_START_SECONDS)
    status, _body = mirror.get("/api/models/%s" % REPO_ID)
    if status != 200:
        mirror.stop()
        raise RuntimeError("olah answered %s for /api/models/%s; its log: %s" % (status, REPO_ID, mirror.log))
    return mirror


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_pass(endpoint, hub, repo, folder, count, timeout):
    """count workstations, started together, against endpoint; returns the pass's figures and its problems."""
    names = sorted(repo.files)
    processes = []
    try:
        for index in range(count):
            command = [sys.executable, str(Path(__file__).resolve()), "workstation", "--endpoint", endpoint,
                       "--repo", REPO_ID, "--files", ",".join(names), "--dest", str(folder / ("ws-%d" % index))]
            env = dict(os.environ, HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1",
                       HF_HOME=str(folder / ("hf-home-%d" % index)))
            processes.append(subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                              text=True))
        for process in processes:
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("a workstation did not start (exit status %s)" % process.wait())
        before = hub.stats.as_dict()
        go = time.time()
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in processes:
            out, _err = process.communicate(timeout=timeout)
            reports.append(json.loads(out.strip().splitlines()[-1]) if process.returncode == 0 else None)
        after = hub.stats.as_dict()
    finally:
        for process in processes:
            stop(process)
    shutil.rmtree(folder, ignore_errors=True)
    return figures(repo, reports, before, after, go)


def figures(repo, reports, before, after, go):
    """The pass's figures from the workstations' reports and the hub double's stats (as_dict) before and after it."""
    problems = []
    for index, report in enumerate(reports):
        if report is None:
            problems.append("workstation %d failed (see its output above)" % index)
            continue
        problems += ["workstation %d: %s" % (index, failure) for failure in report["failed"]]
        for name, entry in sorted(repo.files.items()):
            got = report["sha256"].get(name)
            if got != entry.sha256:
                problems.append("workstation %d: %s has sha256 %s, the hub's is %s" % (index, name, got, entry.sha256))
    done = [report for report in reports if report]
    upstream = {name: after["files"].get(entry.key, 0) - before["files"].get(entry.key, 0)
                for name, entry in repo.files.items()}
    return {"delivered": sum(report["bytes"] for report in done), "upstream": sum(upstream.values()),
            "upstream_per_file": upstream, "upstream_requests": after["requests"] - before["requests"],
            "wall": max([report["finished"] for report in done], default=go) - go, "problems": problems}


def table_row(count, mode, result):
    delivered, upstream, wall = result["delivered"], result["upstream"], result["wall"]
    ratio = "%.3f" % (upstream / delivered) if delivered else "-"
    speed = delivered / wall / 1e6 if wall > 0 else 0.0
    cells = (count, mode, delivered, upstream, ratio, result["upstream_requests"], wall, speed)
    return "| %d | %s | %d | %d | %s | %d | %.2f | %.0f |" % cells


def once_line(count, repo, result):
    """Whether the mirror's cold pass fetched each file's bytes exactly once."""
    counts = ", ".join("%s %d of %d bytes" % (name, result["upstream_per_file"][name], repo.files[name].size)
                       for name in sorted(repo.files))
    once = all(result["upstream_per_file"][name] == entry.size for name, entry in repo.files.items())
    verdict = "each byte went upstream once" if once else "NOT each byte upstream once"
    return "N=%d through the mirror: %s (%s)" % (count, verdict, counts)


def benchmark(arguments, workdir):
    sizes = [int(float(mb) * 2**20) for mb in arguments.file_mb.split(",")]
    counts = [int(n) for n in arguments.workstations.split(",")]
    venv = None
    if not arguments.direct_only:
        print("olah from %s (built once, about 30 s) ..." % REPO_ROOT.joinpath("roles/model_mirror/files/requirements.txt"),
              flush=True)
        venv = Path(arguments.olah_venv) if arguments.olah_venv else olah_venv()
    print("hub double with %s MB of random files in %s ..." % (arguments.file_mb, workdir), flush=True)
    hub, repo = make_hub(workdir, sizes)
    rows, notes, problems = [], [], []
    try:
        for count in counts:
            result = run_pass(hub.url, hub, repo, workdir / ("direct-%d" % count), count, arguments.timeout)
            rows.append(table_row(count, "direct", result))
            problems += result["problems"]
            if venv is None:
                continue
            olah = start_olah(venv, hub, workdir / ("olah-%d" % count))
            try:
                cold = run_pass(olah.url, hub, repo, workdir / ("mirror-%d" % count), count, arguments.timeout)
                warm = run_pass(olah.url, hub, repo, workdir / ("warm-%d" % count), count, arguments.timeout)
            finally:
                olah.stop()
            rows += [table_row(count, "mirror", cold), table_row(count, "mirror, warm", warm)]
            notes += [once_line(count, repo, cold),
                      "N=%d through the warm mirror: %d bytes upstream" % (count, warm["upstream"])]
            problems += cold["problems"] + warm["problems"]
            print(rows[-3] + "\n" + rows[-2] + "\n" + rows[-1], flush=True)
    finally:
        hub.stop()
    print("\n| N | mode | delivered bytes | upstream bytes | upstream / delivered | upstream requests | wall s | MB/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print("\n" + "\n".join(notes) if notes else "")
    for problem in problems:
        print("PROBLEM: " + problem)
    return 1 if problems else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("workstation", help="(internal) one simulated workstation")
    child.add_argument("--endpoint", required=True)
    child.add_argument("--repo", required=True)
    child.add_argument("--files", required=True)
    child.add_argument("--dest", required=True)
    parser.add_argument("--workstations", default="1,3,6", help="the values of N, comma-separated (default 1,3,6)")
    parser.add_argument("--file-mb", default="64,16", help="the model's file sizes in MB, comma-separated (default 64,16)")
    parser.add_argument("--olah-venv", help="an existing venv with olah's pinned closure (default: the one the unit tests "
                        "build and reuse in ~/.cache/ai4artsed-devserver)")
    parser.add_argument("--scratch", default="/var/tmp", help="where the files and downloads go for the run")
    parser.add_argument("--timeout", type=int, default=300, help="seconds one pass may take (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (olah's logs and caches) and say where")
    parser.add_argument("--direct-only", action="store_true", help="no olah: only the direct passes (a quick check)")
    arguments = parser.parse_args(argv)
    if arguments.command == "workstation":
        return workstation(arguments)
    workdir = Path(tempfile.mkdtemp(prefix="fleet-bench-", dir=arguments.scratch))
    try:
        return benchmark(arguments, workdir)
    except OlahUnavailable as error:
        print("PROBLEM: olah could not be installed here: %s" % error)
        return 1
    finally:
        if arguments.keep:
            print("kept %s (olah-N/olah.out, olah-N/logs, olah-N/cache)" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
