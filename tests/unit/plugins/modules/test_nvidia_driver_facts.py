"""nvidia_driver_facts: read-only, the same in check mode, overridable facts."""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.modules import nvidia_driver_facts
from helpers.module_runner import run_module
from helpers.nvidia_hosts import RTX, host_facts, role_settings


@pytest.mark.parametrize("check_mode", [False, True])
def test_module_publishes_facts_and_plan_from_overridden_facts(capsys, check_mode):
    override = host_facts("Ubuntu-24.04", False, "blackwell", "absent", False)
    override.pop("platform")
    code, result = run_module(capsys, nvidia_driver_facts, dict(role_settings(), platform="Ubuntu-24.04",
                                                                facts_override=override, _ansible_check_mode=check_mode))
    assert code == 0, result
    assert result["changed"] is False
    assert result["ansible_facts"]["nvidia_driver_state"] == "absent"
    assert result["ansible_facts"]["nvidia_driver_gpus"] == [
        {"pci_address": "0000:01:00.0", "pci_id": "10de:2bb1", "name": RTX, "memory_mib": None, "driver_version": ""}]
    assert result["plan"]["packages"][0] == "nvidia-headless-580-server-open"


def test_module_refuses_unknown_override_keys(capsys):
    code, result = run_module(capsys, nvidia_driver_facts, dict(role_settings(), platform="Debian-12",
                                                                facts_override={"gpu": "yes"}))
    assert code == 1
    assert "facts_override has unknown keys gpu" in result["msg"]


def test_module_on_this_machine_finds_no_gpu_or_a_container(capsys):
    code, result = run_module(capsys, nvidia_driver_facts, dict(role_settings(), platform="Debian-12",
                                                                kernel="6.1.0-28-amd64"))
    assert code == 0, result
    assert result["plan"]["action"] == "skip"
    assert result["plan"]["message"].startswith("skipped: ")


def test_the_role_settings_are_required_so_their_defaults_live_only_in_the_role(capsys):
    code, result = run_module(capsys, nvidia_driver_facts, {"platform": "Debian-12"})
    assert code == 1
    assert "missing required arguments" in result["msg"]
    for name in ("branch", "flavour", "source", "cuda_repo_base_url", "mok_certificate"):
        assert name in result["msg"]
