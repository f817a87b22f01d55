"""The test sessions of this collection: lint, unit, sanity, molecule and demo.

`./scripts/test` is the command to run (the README's and CI's): it builds the venv with the exact pins of
requirements-dev.txt, bootstraps Docker and the base image only for the sessions that start containers,
and runs these sessions in that venv. After a bootstrap they also run directly, e.g.
`.venv/bin/nox -s unit` or `.venv/bin/nox -s lint -- yamllint`.

Plain nox, not antsibull-nox: antsibull-nox installs each session's tools into a venv of its own from
unpinned (or separately pinned) requirements and fetches collection dependencies with ansible-galaxy,
and Galaxy is out of reach here. Our sessions use the one pinned venv instead.

Only molecule and demo need root (the Docker engine), and lint only where shellcheck must be installed.
"""

import glob
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import nox
from nox.command import CommandFailed

nox.options.default_venv_backend = "none"  # every session runs in the venv scripts/bootstrap built
nox.options.sessions = ["lint", "unit", "sanity", "molecule"]  # and demo, when asked for (about 30 minutes)

BASE_IMAGE = "localhost/ai4artsed-debian12:current"  # scripts/lib/image.sh builds it
SHELL_SCRIPTS = ["scripts/bootstrap", "scripts/demo", "scripts/test", ".ci/run",
                 *sorted(glob.glob("scripts/lib/*.sh")), *sorted(glob.glob("tests/images/*/build-rootfs.sh"))]
LINTERS = {
    "shellcheck": ["shellcheck", *SHELL_SCRIPTS],
    "yamllint": ["yamllint", "--strict", "."],
    "ansible-lint": ["ansible-lint"],
    "changelog": ["antsibull-changelog", "lint"],
}


def _run_each(session, commands):
    """Run every named command even after one fails, so one run shows all problems; fail at the end."""
    failed, timings = [], []
    for name, command in commands:
        started = time.monotonic()
        try:
            session.run(*command, external=True)
        except CommandFailed:
            failed.append(name)
        timings.append("%s %s (%d s)" % (name, "FAILED" if name in failed else "passed", time.monotonic() - started))
    session.log("; ".join(timings))
    if failed:
        session.error("failed: %s" % ", ".join(failed))


def _require_containers(session, rerun):
    """Molecule and the demo start containers: the Docker engine and the base image must be there."""
    answers = shutil.which("docker") and subprocess.run(["docker", "image", "inspect", BASE_IMAGE],
                                                        capture_output=True, check=False).returncode == 0
    if not answers:
        session.error("this session needs the Docker engine and the image %s, which only root can set up: "
                      "run `sudo ./scripts/test %s` (it bootstraps both)" % (BASE_IMAGE, rerun))


@nox.session(python=False)
def lint(session):
    """shellcheck, yamllint, ansible-lint and the changelog; `-- NAME...` runs only those."""
    names = session.posargs or list(LINTERS)
    unknown = sorted(set(names) - set(LINTERS))
    if unknown:
        session.error("unknown linter %s; the linters are: %s" % (", ".join(unknown), ", ".join(LINTERS)))
    if "shellcheck" in names and not shutil.which("shellcheck"):
        session.error("shellcheck is not installed: `sudo ./scripts/test lint` installs it from Debian "
                      "(or: sudo apt-get install shellcheck)")
    _run_each(session, [(name, LINTERS[name]) for name in names])


@nox.session(python=False)
def unit(session):
    """The unit tests, on every core (each test uses its own temporary folders and hub doubles on free ports).
    pytest's exit 5 (no test collected) fails the session like any other non-zero exit."""
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "-n", "auto", "--dist", "worksteal",
                *session.posargs)


@nox.session(python=False)
def sanity(session):
    """ansible-test sanity on a copy of the tracked files (scripts/lib/sanity.sh)."""
    session.run("bash", "-c", "source scripts/lib/common.sh && source scripts/lib/sanity.sh && run_sanity",
                external=True)


# The scenarios share this machine's network (their containers use the host's), so two run at once only where they share
# no port, nftables table or network namespace: `site` (7801, 7821, 11434, 17801, its proxy 17811, 20241 and the
# stand-in's edge 20242, the firewall's table and the outside client's namespace) and `firewall` (the same table and
# namespace, listeners on 17851/17852 and 17861/17862) in one lane, every scenario with ports of its own (swarmui,
# ollama, devserver: 17802 and its proxy 17812, cloudflared: 17871, 20251, 20252) in the other.
# `fleet` has a network of its own (198.18.0.0/24) and namespaces per container, so it shares nothing. The model store's
# scenarios and `default` use no port (their hub doubles pick free ones) and balance the lanes: 55 to 60 minutes each on
# two cores, much of it waiting on services.
FIRST_LANE = ("site", "firewall", "drift", "models", "hf_model", "default")
MOLECULE_LOGS = Path("tests/output/molecule")


def _run_scenario(scenario):
    """`molecule test -s SCENARIO`, its output into MOLECULE_LOGS/SCENARIO.log: (passed, seconds)."""
    MOLECULE_LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(MOLECULE_LOGS / ("%s.log" % scenario), "w", encoding="utf-8") as log:
        code = subprocess.run(["molecule", "test", "-s", scenario], stdout=log, stderr=subprocess.STDOUT,
                              check=False).returncode
    return code == 0, time.monotonic() - started


def _run_lanes(session, lanes):
    """Each lane's scenarios one after another, the lanes side by side. A scenario's log is printed whole when it
    ends (so two never interleave), and the session ends with each one's result and time."""
    results, printing = {}, threading.Lock()

    def run_lane(scenarios):
        for scenario in scenarios:
            passed, seconds = _run_scenario(scenario)
            results[scenario] = (passed, seconds)
            with printing:
                print((MOLECULE_LOGS / ("%s.log" % scenario)).read_text(encoding="utf-8"), flush=True)
                session.log("scenario %s %s in %d s" % (scenario, "passed" if passed else "FAILED", seconds))

    started = time.monotonic()
    threads = [threading.Thread(target=run_lane, args=(lane,)) for lane in lanes if lane]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    session.log("; ".join("%s %s (%d s)" % (name, "passed" if passed else "FAILED", seconds)
                          for name, (passed, seconds) in sorted(results.items())))
    session.log("all scenarios: %d s of wall-clock time in %d lanes" % (time.monotonic() - started, len(threads)))
    failed = sorted(name for name, (passed, _seconds) in results.items() if not passed)
    if failed:
        session.error("failed: %s" % ", ".join(failed))


@nox.session(python=False)
def molecule(session):
    """Every Molecule scenario in two lanes (FIRST_LANE and the rest; each scenario's log in tests/output/molecule/),
    or `-- SCENARIO...` one after another. Each runs even after another failed."""
    _require_containers(session, "molecule")
    # The site scenario's model disk needs a free loop device (molecule/site/molecule.yml)
    os.environ.setdefault("AI4ARTSED_SITE_LOOP", subprocess.run(["losetup", "--find"], capture_output=True, text=True,
                                                                check=True).stdout.strip())
    if session.posargs:
        _run_each(session, [(scenario, ["molecule", "test", "-s", scenario]) for scenario in session.posargs])
        return
    scenarios = sorted(path.parent.name for path in Path("molecule").glob("*/molecule.yml"))
    first = [scenario for scenario in FIRST_LANE if scenario in scenarios]
    _run_lanes(session, [first, [scenario for scenario in scenarios if scenario not in first]])


@nox.session(python=False)
def demo(session):
    """The README's demo command as a user runs it (tests/integration): the whole site, a re-run with zero changes and
    an empty drift check, the app's page from this machine. Not among the default sessions: about 30 minutes, and the
    molecule session's `site` scenario runs the same playbooks."""
    _require_containers(session, "demo")
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "tests/integration", *session.posargs)
