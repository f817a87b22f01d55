"""Shared by every scenario's verify step (pytest loads this conftest for tests under molecule/)."""

import json
import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def run_playbook(request):
    """Run a playbook of the requesting test's scenario against its instance; return (exit code, output)."""
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
