"""The README's first command, as a user runs it: scripts/demo twice, then --destroy."""

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTAINER = "ai4artsed-demo-selftest"


def demo(*arguments):
    env = dict(os.environ, AI4ARTSED_DEMO_CONTAINER=CONTAINER, ANSIBLE_NOCOLOR="1")
    completed = subprocess.run(
        [str(REPO_ROOT / "scripts" / "demo"), *arguments],
        env=env, capture_output=True, text=True, check=False, timeout=900,
    )
    return completed.returncode, completed.stdout + completed.stderr


def recaps(output):
    """changed= counts of each PLAY RECAP line, in order."""
    return [int(count) for count in re.findall(r"ai4artsed-demo\s+:\s+ok=\d+\s+changed=(\d+)", output)]


@pytest.fixture(scope="module")
def two_runs():
    demo("--destroy")
    first = demo()
    second = demo()
    yield first, second
    demo("--destroy")


def test_first_run_provisions_a_fresh_container(two_runs):
    (code, output), _second = two_runs
    assert code == 0, output[-3000:]
    site_changes, status_changes = recaps(output)
    assert site_changes > 0
    assert status_changes == 0, "the status report must not change anything"


def test_second_run_reports_zero_changes(two_runs):
    _first, (code, output) = two_runs
    assert code == 0, output[-3000:]
    assert recaps(output) == [0, 0], output[-3000:]


@pytest.mark.parametrize(
    "line",
    [
        r"platform: Debian 12\.\d+ \(x86_64\), init systemd",
        r"service user: ai4artsed uid \d+, home /home/ai4artsed",
        r"path: /home/ai4artsed/ai/SwarmUI/Models ai4artsed:ai4artsed 0755",
        r"path: /home/ai4artsed/ai/model-archive ai4artsed:ai4artsed 0750",
        r"disk: [0-9.]+ [KMGT]B free of [0-9.]+ [KMGT]B on /",
        r"service: ",
    ],
)
def test_demo_prints_what_it_provisioned(two_runs, line):
    _first, (_code, output) = two_runs
    assert re.search(line, output), output[-3000:]


def test_destroy_removes_the_container(two_runs):
    code, _output = demo("--destroy")
    assert code == 0
    inspect = subprocess.run(["docker", "inspect", CONTAINER], capture_output=True, check=False)
    assert inspect.returncode != 0
