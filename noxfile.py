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
import shutil
import subprocess
import time
from pathlib import Path

import nox
from nox.command import CommandFailed

nox.options.default_venv_backend = "none"  # every session runs in the venv scripts/bootstrap built
nox.options.sessions = ["lint", "unit", "sanity", "molecule", "demo"]

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


@nox.session(python=False)
def molecule(session):
    """Every Molecule scenario (`-- SCENARIO...` runs only those), one after another: they share the
    host's network. Each runs even after another failed, and the log ends with each one's time."""
    _require_containers(session, "molecule")
    scenarios = session.posargs or sorted(path.parent.name for path in Path("molecule").glob("*/molecule.yml"))
    _run_each(session, [(scenario, ["molecule", "test", "-s", scenario]) for scenario in scenarios])


@nox.session(python=False)
def demo(session):
    """The README's demo command as a user runs it (tests/integration): converges, then zero changes."""
    _require_containers(session, "demo")
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "tests/integration", *session.posargs)
