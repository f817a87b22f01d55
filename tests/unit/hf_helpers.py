"""Shared helpers for hf_model's tests: the hub double and a way to run the module in-process."""

import json
import os
import sys
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))

from hf_hub_double import HubDouble, safetensors_bytes  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.ai4artsed.devserver.plugins.modules import hf_model  # noqa: E402

__all__ = ["HubDouble", "safetensors_bytes", "run_hf_model"]


def run_hf_model(capsys, args, check_mode=False, diff=False):
    """Run hf_model's main() like Ansible would; return (failed, result)."""
    arguments = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(arguments), pytest.raises(SystemExit) as exit_info:
        hf_model.main()
    result = json.loads(capsys.readouterr().out)
    return exit_info.value.code != 0, result


# Helpers both hf_model test files use (the `store` fixture is in conftest.py).
def base(hub, store, **overrides):
    """The module arguments of one file of org/model into the store, without retries."""
    args = {"repo_id": "org/model", "filename": "model.safetensors", "root": str(store),
            "dest": "Stable-Diffusion/model.safetensors", "endpoint": hub.url, "retries": 0}
    args.update(overrides)
    return args


def tree(root):
    """Every path below root, for 'nothing was written' checks."""
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, ds, fs in os.walk(root) for n in ds + fs)
