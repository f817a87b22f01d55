"""Benchmark: a no-op re-run of the model_store role against `ansible -m ping` of the same host.

Issue 9, case 10: a no-op model_store run with the production manifest must take at most 4 times an
`ansible -m ping` of the same host. This script measures both side by side in one run:

1. generates the stand-ins of the production manifest (tests/fixtures/model_store_standins.py: the
   same entries, repositories, paths, destinations, links, pins and workflows, with small files) and
   serves them with the loopback hub double (tests/doubles/hf_hub_double.py);
2. starts a container from the project's Debian 12 systemd image (the one the Molecule scenarios
   use) and converges the common and model_store roles on it over the docker connection (model_store
   sets up the hf_client role itself);
3. times K runs of a playbook that applies the model_store role alone (each must report changed=0)
   and K runs of `ansible -m ping`, alternating, and prints the medians and their ratio.

The container and the hub double are removed at the end (--keep leaves the container for a look).
Run as root on a machine with Docker and the bootstrapped venv: `.venv/bin/python bench/model_store_noop.py`.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(PROJECT, "tests", "fixtures"))
from model_store_standins import standins  # noqa: E402  (a test fixture of this project)

IMAGE = "localhost/ai4artsed-debian12:current"
TARGET_RATIO = 4.0
# The same container options as the Molecule scenarios (.config/molecule/config.yml).
DOCKER_OPTIONS = ["--network", "host", "--cgroupns", "host", "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
                  "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                  "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
                  "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"]

# The settings of both playbooks below: the stand-in manifest, served by the hub double.
STORE_VARS = """---
common_min_free_disk_gb: 2
model_store_manifest: {manifest}
model_store_hf_endpoint: http://127.0.0.1:{port}
model_store_hf_token: hf_test_accepted
model_store_free_space_margin_gb: 1
model_store_poll_interval: 1
"""

CONVERGE = """---
- name: Converge the model store (untimed)
  hosts: bench
  become: true
  vars_files:
    - {work}/store-vars.yml
  roles:
    - role: ai4artsed.devserver.common
    - role: ai4artsed.devserver.model_store
"""

# The timed run: the model_store role alone, with the defaults of the roles it builds on. hf_client_ready says
# the client is set up (the converge did it), so model_store does not include the hf_client role again.
NOOP = """---
- name: Re-run the model store (timed)
  hosts: bench
  become: true
  gather_facts: false
  vars:
    hf_client_ready: true
    hf_client_python: "{{{{ hf_client_venv }}}}/bin/python"
  # The defaults of the roles model_store builds on, read as files: no skipped tasks of theirs are timed.
  vars_files:
    - {project}/roles/common/defaults/main.yml
    - {project}/roles/hf_client/defaults/main.yml
    - {work}/store-vars.yml
  roles:
    - role: ai4artsed.devserver.model_store
"""


def run(command, env=None, check=True, quiet=True):
    completed = subprocess.run(command, env=env, capture_output=quiet, text=True, check=False)
    if check and completed.returncode != 0:
        output = (completed.stdout or "") + (completed.stderr or "")
        raise SystemExit("failed (%d): %s\n%s" % (completed.returncode, " ".join(command), output[-4000:]))
    return completed


def start_hub(work, port):
    repos, overlay, _digests = standins()
    with open(os.path.join(work, "hub-repos.json"), "w", encoding="utf-8") as handle:
        json.dump(repos, handle)
    import yaml  # the venv has PyYAML (ansible needs it)
    manifest = os.path.join(work, "manifest.yml")
    with open(manifest, "w", encoding="utf-8") as handle:
        handle.write("---\n")
        yaml.safe_dump(overlay, handle, sort_keys=False, width=120)
    log = open(os.path.join(work, "hub.log"), "w", encoding="utf-8")
    hub = subprocess.Popen([sys.executable, os.path.join(PROJECT, "tests", "doubles", "hf_hub_double.py"),
                            "--root", os.path.join(work, "hub"), "--port", str(port), "--cdn-port", str(port + 1),
                            "--repos", os.path.join(work, "hub-repos.json")], stdout=log, stderr=subprocess.STDOUT)
    for _attempt in range(60):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/_control/stats" % port, timeout=1).read()
            return hub, manifest, len(overlay["models"])
        except OSError:
            time.sleep(0.5)
    hub.terminate()
    raise SystemExit("the hub double did not answer on port %d (see %s/hub.log)" % (port, work))


def ansible_env(work):
    env = dict(os.environ)
    env.update({"ANSIBLE_COLLECTIONS_PATH": os.path.join(PROJECT, ".collections"),
                "ANSIBLE_CONFIG": os.path.join(PROJECT, "ansible.cfg"),
                "ANSIBLE_INTERPRETER_PYTHON": "/usr/bin/python3", "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCAL_TEMP": os.path.join(work, "ansible-tmp")})
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def timed(command, env):
    started = time.monotonic()
    completed = run(command, env=env)
    return time.monotonic() - started, completed.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", "-k", type=int, default=5, help="timed runs of each (default 5)")
    parser.add_argument("--port", type=int, default=18190, help="hub double port (CDN: port + 1)")
    parser.add_argument("--name", default="ai4artsed-bench-model-store-noop", help="container name")
    parser.add_argument("--keep", action="store_true", help="leave the container running")
    parser.add_argument("--profile", action="store_true", help="print the slowest tasks of one no-op run")
    parser.add_argument("--check-updates", action="store_true",
                        help="time re-runs with model_store_check_updates=true (the hub is asked about entries "
                             "that follow a branch)")
    arguments = parser.parse_args()

    work = tempfile.mkdtemp(prefix="bench-model-store-")
    hub, manifest, entries = start_hub(work, arguments.port)
    env = ansible_env(work)
    inventory = os.path.join(work, "inventory.ini")
    with open(inventory, "w", encoding="utf-8") as handle:
        handle.write("[bench]\n%s ansible_connection=community.docker.docker\n" % arguments.name)
    for name, text in (("store-vars.yml", STORE_VARS), ("converge.yml", CONVERGE), ("noop.yml", NOOP)):
        with open(os.path.join(work, name), "w", encoding="utf-8") as handle:
            handle.write(text.format(manifest=manifest, port=arguments.port, project=PROJECT, work=work))
    run(["docker", "rm", "-f", arguments.name], check=False)
    try:
        run(["docker", "run", "-d", "--name", arguments.name, "--hostname", arguments.name] + DOCKER_OPTIONS
            + [IMAGE, "/lib/systemd/systemd"])
        print("converging model_store with %d manifest entries (stand-ins) on container %s ..." % (
            entries, arguments.name), flush=True)
        seconds, _output = timed(["ansible-playbook", "-i", inventory, os.path.join(work, "converge.yml")], env)
        print("converge: %.1f s" % seconds, flush=True)
        noop = ["ansible-playbook", "-i", inventory, os.path.join(work, "noop.yml"),
                "-e", "model_store_check_updates=%s" % str(arguments.check_updates).lower()]
        ping = ["ansible", "-i", inventory, "bench", "-m", "ansible.builtin.ping"]
        timed(noop, env)  # one warm-up each, so both start with warm caches
        timed(ping, env)
        role_times, ping_times = [], []
        for _index in range(arguments.runs):
            seconds, output = timed(noop, env)
            recap = re.search(r"^%s\s*:\s*ok=(\d+)\s+changed=(\d+)" % re.escape(arguments.name), output, re.MULTILINE)
            if not recap or recap.group(2) != "0":
                raise SystemExit("the re-run was not a no-op:\n%s" % output[-3000:])
            role_times.append(seconds)
            ping_times.append(timed(ping, env)[0])
        if arguments.profile:
            profile_env = dict(env, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="all")
            print(timed(noop, profile_env)[1].split("PLAY RECAP", 1)[1])
        role, ping_median = statistics.median(role_times), statistics.median(ping_times)
        print("no-op model_store runs (s): %s" % " ".join("%.2f" % t for t in role_times))
        print("ansible -m ping runs (s):   %s" % " ".join("%.2f" % t for t in ping_times))
        print("median no-op model_store: %.2f s (%d tasks ok, changed=0, model_store_check_updates=%s)" % (
            role, int(recap.group(1)), str(arguments.check_updates).lower()))
        print("median ansible -m ping:   %.2f s" % ping_median)
        ratio = role / ping_median
        print("ratio: %.1fx (target <= %.0fx): %s" % (ratio, TARGET_RATIO, "met" if ratio <= TARGET_RATIO else "NOT met"))
        return 0 if ratio <= TARGET_RATIO else 1
    finally:
        hub.terminate()
        hub.wait()
        if not arguments.keep:
            run(["docker", "rm", "-f", arguments.name], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
