"""The README's first command, as a user runs it: scripts/demo twice (the whole site, then the re-run that repairs
drift and finds none), the app's page from this machine, then --destroy. About 30 minutes: the `demo` gate, which
`scripts/test` runs only when asked (`scripts/test demo`); the suite's `site` scenario runs the same playbooks."""

import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTAINER = "ai4artsed-demo-selftest"
SERVICES = ["comfyui", "swarmui", "ollama", "ai4artsed-devserver@production", "cloudflared", "ai4artsed-firewall"]


def demo(*arguments):
    env = dict(os.environ, AI4ARTSED_DEMO_CONTAINER=CONTAINER, ANSIBLE_NOCOLOR="1", PY_COLORS="0")
    completed = subprocess.run([str(REPO_ROOT / "scripts" / "demo"), *arguments], env=env, capture_output=True,
                               text=True, check=False, timeout=3600)
    return completed.returncode, re.sub(r"\x1b\[[0-9;]*m", "", completed.stdout + completed.stderr)


def changed_counts(output):
    return [int(count) for count in re.findall(r"%s\s+:\s+ok=\d+\s+changed=(\d+)" % CONTAINER, output)]


@pytest.fixture(scope="module")
def two_runs():
    demo("--destroy")
    first = demo()
    second = demo()
    yield first, second
    demo("--destroy")


def test_the_first_run_provisions_the_whole_site(two_runs):
    (code, output), _second = two_runs
    assert code == 0, output[-5000:]
    assert max(changed_counts(output)) > 50


def test_the_second_run_changes_nothing_and_its_drift_check_is_empty(two_runs):
    _first, (code, output) = two_runs
    assert code == 0, output[-5000:]
    assert 0 in changed_counts(output)
    assert "Drift check: no drift" in output


@pytest.mark.parametrize("unit", SERVICES)
def test_every_service_is_printed_active(two_runs, unit):
    _first, (_code, output) = two_runs
    assert re.search(r"^%s\s+\S+\s+active$" % re.escape(unit), output, re.MULTILINE), output[-5000:]


def test_the_storage_report_and_the_url_are_printed_and_the_app_answers_here(two_runs):
    _first, (_code, output) = two_runs
    assert "# Model storage report" in output
    assert "http://127.0.0.1:17801/ (HTTP 200)" in output
    with urllib.request.urlopen("http://127.0.0.1:17801/", timeout=20) as page:
        assert page.status == 200


def test_destroy_removes_the_container(two_runs):
    code, _output = demo("--destroy")
    assert code == 0
    inspect = subprocess.run(["docker", "inspect", CONTAINER], capture_output=True, check=False)
    assert inspect.returncode != 0
