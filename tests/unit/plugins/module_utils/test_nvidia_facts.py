"""The NVIDIA facts: parsers over real output shapes (tests/fixtures/nvidia) to plain data."""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import nvidia_facts
from helpers.nvidia_hosts import RTX, fixture


@pytest.mark.parametrize(
    ("name", "fields", "expected"),
    [
        ("smi-rtx-pro-6000.csv", nvidia_facts.SMI_FIELDS,
         [{"name": RTX, "driver_version": "580.95.05", "memory_mib": 97887, "pci_address": "0000:01:00.0"}]),
        ("smi-rtx-pro-6000-x2.csv", nvidia_facts.SMI_FIELDS,
         [{"name": RTX, "driver_version": "580.126.09", "memory_mib": 97887, "pci_address": "0000:01:00.0"},
          {"name": RTX, "driver_version": "580.126.09", "memory_mib": 97887, "pci_address": "0000:c1:00.0"}]),
        ("smi-rtx-pro-6000-units-power.csv", ("name", "driver_version", "memory.total", "power.max_limit"),
         [{"name": RTX, "driver_version": "580.126.09", "memory_mib": 97887}]),
    ],
)
def test_parse_smi_reads_name_driver_and_memory(name, fields, expected):
    assert nvidia_facts.parse_smi(fixture(name), fields) == expected


def test_parse_smi_reads_a_data_centre_node():
    gpus = nvidia_facts.parse_smi(fixture("smi-h100-x4.csv"))
    assert [gpu["name"] for gpu in gpus] == ["NVIDIA H100 80GB HBM3"] * 4
    assert {gpu["memory_mib"] for gpu in gpus} == {81559}
    assert [gpu["pci_address"] for gpu in gpus] == ["0000:18:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:5d:00.0"]


@pytest.mark.parametrize("text", ["", "\n", None])
def test_parse_smi_of_nothing_is_no_gpu(text):
    assert nvidia_facts.parse_smi(text) == []


UNREADABLE = [
    "No devices were found",
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver",
    fixture("smi-h100-other-query.csv").strip(),  # a real H100 host's line of another query
    "NVIDIA H100 80GB HBM3, 580.95.05, [N/A], 00000000:18:00.0",
]


@pytest.mark.parametrize("line", UNREADABLE)
def test_a_line_parse_smi_cannot_read_is_a_finding_not_an_error(line):
    text = line + "\n" + fixture("smi-h100-x4.csv")
    assert len(nvidia_facts.parse_smi(text)) == 4
    assert nvidia_facts.smi_findings(text) == [
        "nvidia-smi printed %r, which is not a GPU as name, driver_version, memory.total, pci.bus_id; "
        "check `nvidia-smi` by hand" % line]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("proc-version-open-580.txt", {"version": "580.95.05", "flavour": "open"}),
        ("proc-version-open-570.txt", {"version": "570.133.07", "flavour": "open"}),
        ("proc-version-proprietary-580.txt", {"version": "580.82.07", "flavour": "proprietary"}),
    ],
)
def test_parse_proc_version_tells_the_flavour(name, expected):
    assert nvidia_facts.parse_proc_version(fixture(name)) == expected


def test_parse_proc_version_of_no_module_is_none():
    assert nvidia_facts.parse_proc_version("") is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"virtualization_type": "docker", "tech_guest": ["container", "docker"]}, "docker"),
        ({"virtualization_type": "lxc"}, "lxc"),
        ({"tech_guest": ["container"]}, "container"),
        ({"virtualization_type": "kvm", "detect_virt": "podman\n"}, "podman"),
        ({"virtualization_type": "kvm", "detect_virt": "none"}, ""),
        ({"markers": ["/.dockerenv"]}, "docker"),
        ({"markers": ["/run/.containerenv"]}, "podman"),
        ({"virtualization_type": "kvm", "tech_guest": ["kvm"]}, ""),  # a VM is not a container
        ({}, ""),
    ],
)
def test_detect_container(args, expected):
    assert nvidia_facts.detect_container(**args) == expected


def test_read_pci_devices_keeps_nvidia_functions_and_gpus_drop_the_audio_function(tmp_path):
    layout = {
        "0000:00:02.0": ("0x8086", "0x4680", "0x030000", None),  # Intel iGPU
        "0000:01:00.0": ("0x10de", "0x2bb1", "0x030000", "nvidia"),  # RTX PRO 6000 WE
        "0000:01:00.1": ("0x10de", "0x22e8", "0x040300", "snd_hda_intel"),  # its HDMI audio
        "0000:c1:00.0": ("0x10de", "0x2bb5", "0x030200", None),  # Server Edition, 3D controller
    }
    for address, (vendor, device, klass, driver) in layout.items():
        base = tmp_path / address
        base.mkdir()
        for key, value in (("vendor", vendor), ("device", device), ("class", klass),
                           ("subsystem_vendor", "0x10de"), ("subsystem_device", "0x204b")):
            (base / key).write_text(value + "\n")
        if driver:
            (tmp_path / driver).mkdir(exist_ok=True)
            (base / "driver").symlink_to(tmp_path / driver)
    devices = nvidia_facts.read_pci_devices(str(tmp_path))
    assert [device["address"] for device in devices] == ["0000:01:00.0", "0000:01:00.1", "0000:c1:00.0"]
    gpus = nvidia_facts.nvidia_gpus(devices)
    assert [(gpu["pci_id"], gpu["kernel_driver"]) for gpu in gpus] == [("10de:2bb1", "nvidia"), ("10de:2bb5", "")]
    assert gpus[0]["known"] == RTX


def test_read_pci_devices_without_sysfs_is_empty(tmp_path):
    assert nvidia_facts.read_pci_devices(str(tmp_path / "missing")) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("SecureBoot enabled\n", True), ("SecureBoot disabled\n", False),
     ("EFI variables are not supported on this system\n", False), ("", None)],
)
def test_parse_secure_boot(text, expected):
    assert nvidia_facts.parse_secure_boot(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("/var/lib/dkms/mok.pub is already enrolled\n", True), ("/var/lib/dkms/mok.pub is not enrolled\n", False),
     ("Failed to read /x\n", None)],
)
def test_parse_mok_test_key(text, expected):
    assert nvidia_facts.parse_mok_test_key(text) == expected


def test_parse_apt_policy_and_dpkg():
    policy = ("nvidia-open:\n  Installed: (none)\n  Candidate: 580.95.05-1\n  Version table:\n"
              "dkms:\n  Installed: (none)\n  Candidate: (none)\n")
    assert nvidia_facts.parse_apt_policy(policy) == {"nvidia-open": "580.95.05-1"}
    dpkg = "dkms\t3.0.10-8\tii \nnvidia-utils-580-server\t580.95.05-0ubuntu1\tii \nold\t1\trc \n"
    assert nvidia_facts.parse_dpkg(dpkg) == {"dkms": "3.0.10-8", "nvidia-utils-580-server": "580.95.05-0ubuntu1"}
