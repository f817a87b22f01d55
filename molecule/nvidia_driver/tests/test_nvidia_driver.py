"""What an operator sees from the nvidia_driver role in a container, and the plan it makes for real hosts.

A container has no GPU of its own, no kernel module and no reboot: converge must skip with a reason
and change nothing. The plan for an RTX PRO 6000 on Debian 12 and Ubuntu is rehearsed in check mode
with faked facts (plan_probe.yml); the kernel module, the reboot and Secure Boot need real hardware.
"""

import json
import re

import pytest

RTX_PCI = [
    {"address": "0000:01:00.0", "vendor": "0x10de", "device": "0x2bb1", "class": "0x030000", "driver": ""},
    {"address": "0000:01:00.1", "vendor": "0x10de", "device": "0x22e8", "class": "0x040300", "driver": ""},
]
CUDA = "https://developer.download.nvidia.com/compute/cuda/repos"
NOTHING_INSTALLED = ["nvidia-driver-cuda", "nvidia-kernel-open-dkms", "nvidia-driver-pinning-580", "cuda-keyring",
                     "nvidia-headless-580-server-open", "nvidia-utils-580-server", "dkms"]
WRITTEN_FILES = ["/etc/apt/sources.list.d/ai4artsed-nvidia-cuda.list", "/etc/modprobe.d/ai4artsed-blacklist-nouveau.conf"]


def fake(platform, **more):
    facts = {"platform": platform, "container": "", "pci_devices": RTX_PCI, "proc_version": "", "smi_output": None,
             "module_version": "", "secure_boot": False, "packages": {}, "candidates": {}, "repository_files": []}
    facts.update(more)
    return {"fake": facts}


def plan_of(path, output):
    assert path.exists(), output
    return json.loads(path.read_text())


def recap(output, key):
    match = re.search(key + r"=(\d+)", output)
    assert match, output
    return int(match.group(1))


def test_converge_detected_the_container_and_said_why_it_skipped(run_playbook):
    returncode, output = run_playbook("converge.yml")
    assert returncode == 0, output
    text = " ".join(output.split())
    assert "skipped: running in a container (docker) - no kernel modules, reboot or services" in text
    assert "State absent, 0 NVIDIA GPU(s)" in text
    assert recap(output, "changed") == 0


def test_status_report_shows_no_gpu_and_changes_nothing(run_playbook):
    returncode, output = run_playbook("../../playbooks/status.yml")
    assert returncode == 0, output
    assert "nvidia driver: absent" in output and "gpu: none found" in output
    assert recap(output, "changed") == 0


@pytest.mark.parametrize(
    ("platform", "repository", "pinning", "packages", "headers"),
    [
        pytest.param("Debian-12", CUDA + "/debian12/x86_64/", ["nvidia-driver-pinning-580"],
                     ["nvidia-driver-cuda", "nvidia-kernel-open-dkms", "nvidia-persistenced"], "linux-headers-amd64",
                     id="debian12"),
        pytest.param("Ubuntu-22.04", None, [],
                     ["nvidia-headless-580-server-open", "nvidia-utils-580-server", "nvidia-compute-utils-580-server"],
                     "linux-headers-generic", id="ubuntu2204"),
        pytest.param("Ubuntu-24.04", None, [],
                     ["nvidia-headless-580-server-open", "nvidia-utils-580-server", "nvidia-compute-utils-580-server"],
                     "linux-headers-generic", id="ubuntu2404"),
    ],
)
def test_check_mode_selects_repository_and_open_packages_and_installs_nothing(
        host, run_playbook, tmp_path, platform, repository, pinning, packages, headers):
    plan_file = tmp_path / "plan.json"
    returncode, output = run_playbook("plan_probe.yml", dict(fake(platform), plan_file=str(plan_file)), check=True)
    assert returncode == 0, output
    result = plan_of(plan_file, output)
    plan = result["plan"]
    assert plan["action"] == "install"
    assert result["state"] == "absent"
    assert result["gpus"][0]["pci_id"] == "10de:2bb1"
    assert result["gpus"][0]["name"] == "NVIDIA RTX PRO 6000 Blackwell Workstation Edition"
    assert (plan["pinning_packages"], plan["packages"]) == (pinning, packages)
    assert headers in plan["prerequisites"]
    assert not [name for name in plan["packages"] if name.startswith("cuda-drivers")]
    if repository:
        assert plan["repository"]["kind"] == "cuda"
        assert plan["repository"]["line"] == (
            "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] %s /" % repository)
        assert "Would install the keyring package %scuda-keyring_1.1-1_all.deb" % repository in output
        assert "+deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] %s /" % repository in output  # --diff
    else:
        assert plan["repository"]["kind"] == "ubuntu-archive"
    assert "Would install " + ", ".join(pinning + packages) in " ".join(output.split())
    assert "+blacklist nouveau" in output
    for package in NOTHING_INSTALLED:
        assert not host.package(package).is_installed, package
    for path in WRITTEN_FILES:
        assert not host.file(path).exists, path


def test_check_mode_with_secure_boot_shows_the_mok_steps(run_playbook):
    returncode, output = run_playbook("plan_probe.yml", fake("Ubuntu-24.04", secure_boot=True, mok_enrolled=False),
                                      check=True)
    assert returncode == 0, output
    text = " ".join(output.split())
    assert "a real run stops here" in text
    assert "sudo mokutil --import /var/lib/shim-signed/mok/MOK.der" in text
    assert "'Enroll MOK'" in text


def test_check_mode_refuses_an_old_branch_for_blackwell(run_playbook):
    returncode, output = run_playbook("plan_probe.yml", dict(fake("Debian-12"), nvidia_driver_branch="550"),
                                      check=True)
    assert returncode != 0, output
    assert "needs driver 570.133.07 or newer; nvidia_driver_branch=550 is older" in " ".join(output.split())
