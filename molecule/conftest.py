"""Shared by every scenario's verify step (pytest loads this conftest for tests under molecule/)."""

import json
import os
import subprocess
from pathlib import Path

import pytest


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
