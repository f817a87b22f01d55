"""Shared by every scenario's verify step (pytest loads this conftest for tests under molecule/)."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub_double():
    """Where the hub double that the scenario's prepare started listens: {url, cdn_url, pid}
    (written by tests/doubles/hf_hub_double.py --port-file, see molecule/shared/start_hub_double.yml)."""
    port_file = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "hub-double.json"
    return json.loads(port_file.read_text(encoding="utf-8"))


@pytest.fixture
def run_playbook(request):
    """Run a playbook of the requesting test's scenario (a path relative to its folder, e.g.
    ../shared/converge_model_store.yml) against its instance; return (exit code, output)."""
    scenario_dir = Path(str(request.path)).resolve().parent.parent

    def run(playbook, extra_vars=None, check=False):
        command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(scenario_dir / playbook)]
        if check:
            command += ["--check", "--diff"]
        if extra_vars:
            command += ["--extra-vars", json.dumps(extra_vars)]
        completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
        return completed.returncode, completed.stdout + completed.stderr

    return run


@pytest.fixture
def security_exposure(host, capsys):
    """systemd-analyze's overall exposure level of a unit (a float; below 7.0 is not "EXPOSED"). The full table is
    recorded in tests/output/<unit>-systemd-analyze-security.txt (git-ignored; the destroy step leaves it) and
    the level printed into the log."""
    def measure(unit):
        report = host.check_output("systemd-analyze security --no-pager %s.service", unit)
        found = re.search(r"Overall exposure level for %s.service: ([0-9.]+) (\S+)" % re.escape(unit), report)
        assert found, report[-2000:]
        record = PROJECT / "tests" / "output" / ("%s-systemd-analyze-security.txt" % unit)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(report + "\n", encoding="utf-8")
        with capsys.disabled():
            print("\nsystemd-analyze security %s.service: exposure %s %s (full table: %s)" % (
                unit, found.group(1), found.group(2), record))
        return float(found.group(1))

    return measure
