"""Helpers for the verify step: run a playbook against the scenario's instance from the controller."""

import json
import os
import subprocess
from pathlib import Path

import pytest

SCENARIO_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_playbook():
    """Run a playbook of this scenario against its inventory; return (exit code, combined output)."""

    def run(playbook, extra_vars=None):
        command = [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(SCENARIO_DIR / playbook),
        ]
        if extra_vars:
            command += ["--extra-vars", json.dumps(extra_vars)]
        completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
        return completed.returncode, completed.stdout + completed.stderr

    return run
