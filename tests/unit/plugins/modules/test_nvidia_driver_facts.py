"""nvidia_driver_facts: read-only, the same in check mode, overridable facts."""

import os

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


@pytest.mark.parametrize("smi_output, finding", [
    ("No devices were found\n", "nvidia-smi printed 'No devices were found', which is not a GPU"),
    ("0, 00000000:00:06.0, NVIDIA H100 80GB HBM3, 81559, 580.159.04, GPU-b75ac7d5\n",
     "nvidia-smi printed '0, 00000000:00:06.0, NVIDIA H100 80GB HBM3, 81559, 580.159.04, GPU-b75ac7d5'"),
])
def test_an_unexpected_nvidia_smi_line_is_a_finding_in_the_result(capsys, smi_output, finding):
    override = host_facts("Ubuntu-24.04", False, "blackwell", "current", False)
    override.pop("platform")
    override["smi_output"] = smi_output
    code, result = run_module(capsys, nvidia_driver_facts, dict(role_settings(), platform="Ubuntu-24.04",
                                                                facts_override=override))
    assert code == 0, result["msg"]
    assert any(problem.startswith(finding) for problem in result["problems"]), result["problems"]


@pytest.mark.parametrize("script, finding", [
    ("sleep 30", "`{bin}/nvidia-smi --query-gpu=name,driver_version,memory.total,pci.bus_id "
                 "--format=csv,noheader,nounits` did not finish within 1 s and was stopped."),
    ("echo 'No devices were found'; exit 6", "nvidia-smi exited with 6: No devices were found"),
])
def test_an_nvidia_smi_that_hangs_or_fails_is_a_finding(capsys, monkeypatch, tmp_path, script, finding):
    monkeypatch.setattr(nvidia_driver_facts, "COMMAND_TIMEOUT", 1)
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\n%s\n" % script)
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    code, result = run_module(capsys, nvidia_driver_facts, dict(role_settings(), platform="Debian-12"))
    assert code == 0, result["msg"]
    assert finding.format(bin=tmp_path) in result["problems"][0]
