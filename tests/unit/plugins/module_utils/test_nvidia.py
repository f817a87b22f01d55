"""The nvidia_driver decisions: the plan over the whole matrix, and the verification of a running driver.

Matrix: Ubuntu 22.04, Ubuntu 24.04, Debian 12 x container or bare metal x GPU absent, Blackwell
(RTX PRO 6000, 10de:2bb1), an older card (H100, 10de:2330) x driver absent, old branch, current x
Secure Boot on or off x reboot auto or never. Settings are the nvidia_driver role's defaults with changes.
"""

import itertools
import re

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import nvidia
from helpers.nvidia_hosts import GPUS, KERNEL, PLATFORMS, RTX, fixture, host_facts, old_packages, pci, role_settings

# ------------------------------------------------------------------------------------------------
# The plan over the whole matrix
# ------------------------------------------------------------------------------------------------

MATRIX = list(itertools.product(sorted(PLATFORMS), [True, False], sorted(GPUS), ["absent", "old", "current"],
                                [True, False], ["auto", "never"]))


def case_id(case):
    platform, container, gpu, driver, secure_boot, reboot = case
    return "-".join([platform, "container" if container else "metal", "gpu_" + gpu, "driver_" + driver,
                     "sb_on" if secure_boot else "sb_off", "reboot_" + reboot])


def test_the_matrix_is_complete():
    assert len(MATRIX) == 3 * 2 * 3 * 3 * 2 * 2


@pytest.mark.parametrize("case", MATRIX, ids=[case_id(case) for case in MATRIX])
def test_plan(case):
    platform, container, gpu, driver, secure_boot, reboot = case
    repo_kind, pinning, packages, headers = PLATFORMS[platform]
    result = nvidia.plan(host_facts(platform, container, gpu, driver, secure_boot), role_settings(reboot=reboot))

    if container or gpu == "none":
        # Nothing kernel-side, nothing to reboot, a clear reason.
        assert result["action"] == "skip"
        assert result["packages"] == [] and result["remove_packages"] == [] and result["reboot"] is False
        assert not result["blacklist_nouveau"] and not result["persistenced"]
        reason = "running in a container (docker)" if container else "no NVIDIA GPU found"
        assert result["message"].startswith("skipped: " + reason)
        smi_visible = container and gpu != "none" and driver != "absent"
        assert result["state"] == ("active" if smi_visible else "absent")
        return

    assert result["action"] == "install"
    assert result["repository"]["kind"] == repo_kind
    assert result["pinning_packages"] == pinning
    assert result["packages"] == packages
    assert result["prerequisites"] == ["build-essential", "dkms", headers, "linux-headers-" + KERNEL]
    assert not [name for name in result["packages"] if any(re.match(p, name) for p in nvidia.PROPRIETARY_PATTERNS)]
    assert result["blacklist_nouveau"] and result["persistenced"]
    assert result["min_driver"] == ("570.133.07" if gpu == "blackwell" else "")

    if driver == "absent":
        assert result["state"] == "absent"
        assert result["missing_packages"] == pinning + packages + result["prerequisites"]
        assert result["remove_packages"] == [] and result["upgrade"] is False
    elif driver == "old":
        assert result["state"] == "active"  # 570 runs; the plan moves it to 580
        assert result["remove_packages"] == sorted(name for name in old_packages(platform) if "570" in name)
        # Debian's package names carry no branch: they move to 580 only by an explicit upgrade.
        assert result["upgrade"] is (platform == "Debian-12")
    else:
        assert result["state"] == "active"
        assert result["missing_packages"] == [] and result["remove_packages"] == [] and result["upgrade"] is False

    assert result["reboot_expected"] is (driver != "current")
    assert result["secure_boot"]["action"] == ("enrol_mok" if secure_boot else "none")
    if secure_boot:
        assert "mokutil --import " + nvidia.MOK_CERTIFICATE[platform] in result["secure_boot"]["message"]
        assert "Enroll MOK" in result["secure_boot"]["message"]
    # A reboot needs a person at the console while the MOK is not enrolled: never automatic then.
    assert result["reboot"] is (driver != "current" and reboot == "auto" and not secure_boot)


@pytest.mark.parametrize(
    ("platform", "settings", "kind", "url", "pinning", "packages"),
    [
        ("Debian-12", {}, "cuda", "https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/",
         ["nvidia-driver-pinning-580"], ["nvidia-driver-cuda", "nvidia-kernel-open-dkms", "nvidia-persistenced"]),
        ("Debian-12", {"flavour": "desktop"}, "cuda", "https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/",
         ["nvidia-driver-pinning-580"], ["nvidia-open", "nvidia-persistenced"]),
        ("Ubuntu-24.04", {"flavour": "desktop"}, "ubuntu-archive", None, [], ["nvidia-driver-580-open"]),
        ("Ubuntu-24.04", {"source": "cuda"}, "cuda", "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/",
         ["nvidia-driver-pinning-580"],
         ["nvidia-dkms-580-open", "nvidia-utils-580", "libnvidia-compute-580", "nvidia-compute-utils-580"]),
        ("Ubuntu-22.04", {"source": "cuda", "flavour": "desktop", "cuda_repo_base_url": "http://127.0.0.1:8080/repos/"},
         "cuda", "http://127.0.0.1:8080/repos/ubuntu2204/x86_64/", ["nvidia-driver-pinning-580"], ["nvidia-open-580"]),
        ("Ubuntu-24.04", {"source": "cuda", "branch": "595"}, "cuda",
         "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/", ["nvidia-driver-pinning-595"],
         ["nvidia-dkms-open", "nvidia-utils", "libnvidia-compute", "nvidia-compute-utils"]),
        ("Ubuntu-22.04", {"branch": "595"}, "ubuntu-archive", None, [],
         ["nvidia-headless-595-server-open", "nvidia-utils-595-server", "nvidia-compute-utils-595-server"]),
        ("Ubuntu-22.04", {"packages": ["nvidia-headless-580-open", "nvidia-utils-580"]}, "ubuntu-archive", None, [],
         ["nvidia-headless-580-open", "nvidia-utils-580"]),
    ],
)
def test_plan_selects_repository_and_packages(platform, settings, kind, url, pinning, packages):
    result = nvidia.plan(host_facts(platform, False, "blackwell", "absent", False), role_settings(**settings))
    assert result["repository"]["kind"] == kind
    assert result["repository"].get("url") == url
    if url:
        assert result["repository"]["keyring_url"] == url + "cuda-keyring_1.1-1_all.deb"
        assert result["repository"]["line"] == "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] %s /" % url
    assert (result["pinning_packages"], result["packages"]) == (pinning, packages)
    assert "cuda-drivers" not in " ".join(result["packages"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pci_devices": [pci("0000:01:00.0", "0x1b80")]}, r"GPU 10de:1b80 at 0000:01:00\.0 predates Turing"),
        ({"platform": "Ubuntu-20.04"}, r"unsupported: Ubuntu-20\.04 on x86_64"),
        ({"architecture": "aarch64"}, r"unsupported: Debian-12 on aarch64"),
    ],
)
def test_plan_refuses_what_the_open_driver_cannot_do(change, message):
    facts = host_facts("Debian-12", False, "blackwell", "absent", False)
    facts.update(change)
    result = nvidia.plan(facts, role_settings())
    assert (result["action"], result["state"]) == ("refuse", "unsupported")
    assert re.search(message, result["message"]), result["message"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"branch": "550"}, r"needs driver 570\.133\.07 or newer; nvidia_driver_branch=550 is older"),
        ({"source": "distribution"}, r"Debian's own driver packages \(535\) are too old"),
        ({"branch": "latest"}, r"is not a driver branch"),
    ],
)
def test_plan_refuses_settings_that_cannot_drive_blackwell(settings, message):
    result = nvidia.plan(host_facts("Debian-12", False, "blackwell", "absent", False), role_settings(**settings))
    assert result["action"] == "refuse"
    assert re.search(message, result["message"]), result["message"]


def test_a_proprietary_driver_on_blackwell_is_replaced_by_the_open_one():
    facts = host_facts("Ubuntu-24.04", False, "blackwell", "absent", False)
    facts.update(proc_version=fixture("proc-version-proprietary-580.txt"), module_version="580.82.07",
                 smi_output=None, packages={"nvidia-dkms-580": "580.82.07-0ubuntu1", "nvidia-driver-580": "580.82.07",
                                            "cuda-drivers-580": "580.82.07-1", "nvidia-utils-580": "580.82.07"})
    result = nvidia.plan(facts, role_settings(reboot="auto"))
    assert result["state"] == "absent"  # loaded, but it drives no GPU (RmInitAdapter failed)
    assert result["remove_packages"] == ["cuda-drivers-580", "nvidia-dkms-580", "nvidia-driver-580"]
    assert result["reboot_expected"] and result["reboot"]


def test_an_installed_but_not_loaded_driver_is_pending_a_reboot():
    facts = host_facts("Debian-12", False, "blackwell", "current", False)
    facts.update(proc_version="", smi_output=None)
    result = nvidia.plan(facts, role_settings())
    assert result["state"] == "installed_pending_reboot"
    assert result["missing_packages"] == [] and result["reboot_expected"] and not result["reboot"]


def test_secure_boot_with_an_enrolled_key_goes_ahead():
    facts = host_facts("Ubuntu-22.04", False, "blackwell", "absent", True)
    facts["mok_enrolled"] = True
    result = nvidia.plan(facts, role_settings(reboot="auto"))
    assert result["secure_boot"]["action"] == "none" and result["reboot"] is True


def test_plan_reports_what_apt_cannot_resolve_yet():
    facts = host_facts("Debian-12", False, "blackwell", "absent", False)
    facts["candidates"] = {"build-essential": "12.9", "dkms": "3.0.10-8", "linux-headers-amd64": "6.1"}
    result = nvidia.plan(facts, role_settings())
    assert result["unresolvable_packages"] == ["nvidia-driver-pinning-580", "nvidia-driver-cuda",
                                               "nvidia-kernel-open-dkms", "nvidia-persistenced",
                                               "linux-headers-" + KERNEL]


# ------------------------------------------------------------------------------------------------
# Verification of a running driver
# ------------------------------------------------------------------------------------------------

def test_verify_passes_on_a_working_workstation():
    facts = host_facts("Ubuntu-24.04", False, "blackwell", "current", False)
    assert nvidia.verify(facts, role_settings()) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"proc_version": ""}, "no NVIDIA kernel module is loaded"),
        ({"proc_version": fixture("proc-version-proprietary-580.txt")}, "proprietary flavour 580.82.07"),
        ({"proc_version": fixture("proc-version-open-570.txt")}, "driver 570.133.07 is loaded, branch 580 is wanted"),
        ({"smi_output": None}, "GPU 0000:01:00.0 (" + RTX + ") is not visible to nvidia-smi"),
        ({"smi_output": fixture("smi-rtx-pro-6000.csv").replace("97887", "48000")}, "reports 48000 MiB, 97887 MiB expected"),
        ({"persistenced": {"load": "loaded", "active": "failed"}}, "nvidia-persistenced is not active"),
    ],
)
def test_verify_names_each_problem(change, problem):
    facts = host_facts("Ubuntu-24.04", False, "blackwell", "current", False)
    facts.update(change)
    assert [p for p in nvidia.verify(facts, role_settings()) if problem in p], nvidia.verify(facts, role_settings())


def test_verify_two_gpus_both_visible():
    facts = host_facts("Ubuntu-24.04", False, "blackwell", "current", False)
    facts.update(pci_devices=[pci("0000:01:00.0", "0x2bb1"), pci("0000:c1:00.0", "0x2bb1")],
                 smi_output=fixture("smi-rtx-pro-6000-x2.csv").replace("580.126.09", "580.95.05"))
    assert nvidia.verify(facts, role_settings()) == []
    gpus = nvidia.plan(facts, role_settings())["gpus"]
    assert [(gpu["pci_address"], gpu["memory_mib"]) for gpu in gpus] == [("0000:01:00.0", 97887), ("0000:c1:00.0", 97887)]
