"""Shared helpers for hf_model's tests: the hub double and a way to run the module in-process."""

import os

from hf_hub_double import HubDouble, safetensors_bytes

from ansible_collections.ai4artsed.devserver.plugins.modules import hf_model
from helpers.module_runner import run_module

__all__ = ["HubDouble", "safetensors_bytes", "run_hf_model"]


def run_hf_model(capsys, args, check_mode=False, diff=False):
    """Run hf_model like Ansible would; return (failed, result)."""
    return run_module(capsys, hf_model, args, check_mode=check_mode, diff=diff)


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
