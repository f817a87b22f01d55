"""Host facts for the nvidia tests: the real output shapes in tests/fixtures/nvidia, and a builder
for each cell of the platform x container x GPU x driver matrix."""

from pathlib import Path

import yaml

from ansible_collections.ai4artsed.devserver.plugins.module_utils import nvidia, nvidia_facts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nvidia"
ROLE_DEFAULTS = Path(__file__).resolve().parents[3] / "roles" / "nvidia_driver" / "defaults" / "main.yml"
RTX = "NVIDIA RTX PRO 6000 Blackwell Workstation Edition"


def role_settings(**changes):
    """The plan's settings as the nvidia_driver role passes them by default (its defaults/main.yml, the one
    place they are set), with changes."""
    defaults = yaml.safe_load(ROLE_DEFAULTS.read_text())
    found = dict((name, defaults["nvidia_driver_" + name]) for name in nvidia.SETTINGS)
    found.update(changes)
    return found


def fixture(name):
    return (FIXTURES / name).read_text()


def pci(address, device, klass="0x030000", vendor="0x10de"):
    return {"address": address, "vendor": vendor, "device": device, "class": klass,
            "subsystem_vendor": "0x10de", "subsystem_device": "0x204b", "driver": ""}


PLATFORMS = {
    # platform: (repository kind, pinning packages, driver packages, headers meta package)
    "Ubuntu-22.04": ("ubuntu-archive", [],
                     ["nvidia-headless-580-server-open", "nvidia-utils-580-server", "nvidia-compute-utils-580-server"],
                     "linux-headers-generic"),
    "Ubuntu-24.04": ("ubuntu-archive", [],
                     ["nvidia-headless-580-server-open", "nvidia-utils-580-server", "nvidia-compute-utils-580-server"],
                     "linux-headers-generic"),
    "Debian-12": ("cuda", ["nvidia-driver-pinning-580"],
                  ["nvidia-driver-cuda", "nvidia-kernel-open-dkms", "nvidia-persistenced"], "linux-headers-amd64"),
}
GPUS = {
    "none": [pci("0000:00:02.0", "0x4680", vendor="0x8086")],
    "blackwell": [pci("0000:01:00.0", "0x2bb1"), pci("0000:01:00.1", "0x22e8", klass="0x040300")],
    "older": [pci("0000:18:00.0", "0x2330", klass="0x030200")],  # H100 80GB HBM3 (Hopper)
}
SMI = {"blackwell": "smi-rtx-pro-6000.csv", "older": None}
KERNEL = "6.8.0-45-generic"


def old_packages(platform):
    if platform == "Debian-12":
        return {"nvidia-driver-pinning-570": "570.133.07-1", "nvidia-driver-cuda": "570.133.07-1",
                "nvidia-kernel-open-dkms": "570.133.07-1", "nvidia-persistenced": "570.133.07-1"}
    return {"nvidia-headless-570-server-open": "570.133.07-0ubuntu1", "nvidia-utils-570-server": "570.133.07-0ubuntu1",
            "nvidia-compute-utils-570-server": "570.133.07-0ubuntu1"}


def host_facts(platform, container, gpu, driver, secure_boot):
    repo_kind, pinning, packages, headers = PLATFORMS[platform]
    facts = nvidia_facts.empty_facts()
    facts.update(platform=platform, kernel=KERNEL, container="docker" if container else "",
                 pci_devices=GPUS[gpu], secure_boot=secure_boot, mok_enrolled=False if secure_boot else None)
    smi_line = fixture("smi-rtx-pro-6000.csv") if gpu == "blackwell" else (
        "NVIDIA H100 80GB HBM3, 580.95.05, 81559, 00000000:18:00.0\n")
    if gpu == "none":
        return facts  # no GPU, so no driver either
    if driver == "old":
        facts.update(proc_version=fixture("proc-version-open-570.txt"), module_version="570.133.07",
                     smi_output=smi_line.replace("580.95.05", "570.133.07"), packages=old_packages(platform))
    elif driver == "current":
        wanted = pinning + packages + ["build-essential", "dkms", headers, "linux-headers-" + KERNEL]
        facts.update(proc_version=fixture("proc-version-open-580.txt"), module_version="580.95.05",
                     smi_output=smi_line, packages=dict((name, "580.95.05-1") for name in wanted + ["cuda-keyring"]),
                     persistenced={"load": "loaded", "active": "active", "enabled": "enabled"},
                     repository_files=["/etc/apt/sources.list.d/ai4artsed-nvidia-cuda.list"])
    return facts
