# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The NVIDIA facts of a host: parsers from command output and sysfs to plain data (the raw facts).

The nvidia_driver_facts module runs the commands and hands their output to these functions; the plan
(nvidia.py) decides from the result. Standard library only, Python 3.8 syntax.

Raw facts (a dict, every key optional; see empty_facts()):
  platform          "Debian-12", "Ubuntu-22.04" or "Ubuntu-24.04"
  architecture      "x86_64"
  kernel            running kernel release (uname -r)
  container         container technology ("docker", "podman", ...) or "" on bare metal / a VM
  pci_devices       NVIDIA PCI functions read from /sys/bus/pci/devices (read_pci_devices())
  proc_version      text of /proc/driver/nvidia/version, "" when no NVIDIA module is loaded
  smi_output        nvidia-smi --query-gpu=<SMI_FIELDS> --format=csv,noheader,nounits, or None
  module_version    modinfo -F version nvidia: the module the next boot loads, "" when none
  module_signer     modinfo -F signer nvidia, "" when unsigned
  secure_boot       True, False, or None (unknown: mokutil missing)
  mok_enrolled      whether the DKMS signing certificate is enrolled (True, False, None)
  packages          installed packages that matter here: {name: version}
  candidates        {name: candidate version} that apt can install now
  repository_files  apt source files that already name the CUDA repository URL
  persistenced      {"load": "loaded"|"not-found", "active": "active"|..., "enabled": "enabled"|...}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

NVIDIA_VENDOR = "0x10de"
# nvidia-smi --query-gpu fields the module asks for, in this order.
SMI_FIELDS = ("name", "driver_version", "memory.total", "pci.bus_id")

CONTAINER_TYPES = ("docker", "podman", "lxc", "containerd", "container", "systemd-nspawn", "openvz")

# GPUs whose requirements we know from NVIDIA's open-gpu-kernel-modules "Compatible GPUs" table
# (first driver that lists them) and from real nvidia-smi output (memory.total in MiB).
KNOWN_GPUS = {
    "2bb1": {"name": "NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "min_driver": "570.133.07",
             "memory_mib": 97887, "open_only": True},
    "2bb4": {"name": "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", "min_driver": "570.133.07",
             "memory_mib": None, "open_only": True},
    "2bb5": {"name": "NVIDIA RTX PRO 6000 Blackwell Server Edition", "min_driver": "575.57.08",
             "memory_mib": None, "open_only": True},
}


def empty_facts():
    """The raw facts of a host with nothing NVIDIA on it."""
    return {
        "platform": "", "architecture": "x86_64", "kernel": "", "container": "", "pci_devices": [],
        "proc_version": "", "smi_output": None, "module_version": "", "module_signer": "",
        "secure_boot": None, "mok_enrolled": None, "packages": {}, "candidates": {},
        "repository_files": [],
        "persistenced": {"load": "not-found", "active": "inactive", "enabled": ""},
    }


def detect_container(virtualization_type="", tech_guest=None, detect_virt="", markers=()):
    """The container technology, or "" when not in a container.

    Ansible's virtualization facts first, then `systemd-detect-virt --container` output, then the
    marker files /.dockerenv and /run/.containerenv (passed in `markers` when they exist).
    """
    virtualization_type = (virtualization_type or "").strip()
    if "container" in (tech_guest or []) or virtualization_type in CONTAINER_TYPES:
        return virtualization_type or "container"
    detect_virt = (detect_virt or "").strip()
    if detect_virt and detect_virt != "none":
        return detect_virt
    for marker in markers:
        if marker.endswith("/.dockerenv"):
            return "docker"
        if marker.endswith("/.containerenv"):
            return "podman"
    return ""


def read_pci_devices(root="/sys/bus/pci/devices"):
    """NVIDIA PCI functions under a sysfs tree: one dict per function, any class."""
    devices = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return devices

    def read(path):
        try:
            with open(path) as handle:
                return handle.read().strip()
        except (IOError, OSError):
            return ""

    for name in names:
        base = os.path.join(root, name)
        if read(os.path.join(base, "vendor")).lower() != NVIDIA_VENDOR:
            continue
        driver_link = os.path.join(base, "driver")
        devices.append({
            "address": name,
            "vendor": NVIDIA_VENDOR,
            "device": read(os.path.join(base, "device")).lower(),
            "class": read(os.path.join(base, "class")).lower(),
            "subsystem_vendor": read(os.path.join(base, "subsystem_vendor")).lower(),
            "subsystem_device": read(os.path.join(base, "subsystem_device")).lower(),
            "driver": os.path.basename(os.path.realpath(driver_link)) if os.path.islink(driver_link) else "",
        })
    return devices


def nvidia_gpus(pci_devices):
    """The display-class NVIDIA functions (VGA 0x0300, 3D 0x0302, ...), not their HDMI audio."""
    gpus = []
    for device in pci_devices:
        if device.get("vendor", "").lower() != NVIDIA_VENDOR or not device.get("class", "").lower().startswith("0x03"):
            continue
        device_id = device.get("device", "").lower().replace("0x", "")
        gpus.append({
            "pci_address": normalize_bus_id(device.get("address", "")),
            "pci_id": "10de:%s" % device_id,
            "device_id": device_id,
            "class": device.get("class", ""),
            "kernel_driver": device.get("driver", ""),
            "known": KNOWN_GPUS.get(device_id, {}).get("name", ""),
        })
    return gpus


def normalize_bus_id(bus_id):
    """'00000000:01:00.0' (nvidia-smi) and '0000:01:00.0' (sysfs) -> '0000:01:00.0'."""
    bus_id = (bus_id or "").strip().lower()
    parts = bus_id.split(":")
    if len(parts) == 3:
        try:
            return "%04x:%s:%s" % (int(parts[0], 16), parts[1], parts[2])
        except ValueError:
            return bus_id
    return bus_id


_PROC_OPEN = re.compile(r"NVRM version:\s+NVIDIA UNIX Open Kernel Module for \S+\s+(\d+(?:\.\d+)+)")
_PROC_ANY = re.compile(r"NVRM version:\s+NVIDIA UNIX .*?Kernel Module\s+(\d+(?:\.\d+)+)")


def parse_proc_version(text):
    """/proc/driver/nvidia/version -> {'version': '580.95.05', 'flavour': 'open'|'proprietary'} or None."""
    for line in (text or "").splitlines():
        match = _PROC_OPEN.search(line)
        if match:
            return {"version": match.group(1), "flavour": "open"}
        match = _PROC_ANY.search(line)
        if match:
            return {"version": match.group(1), "flavour": "proprietary"}
    return None


def _mib(value):
    value = value.strip()
    match = re.match(r"^(\d+)(?:\s*MiB)?$", value)
    return int(match.group(1)) if match else None


_BUS_ID = re.compile(r"^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


def _smi_row(line, fields):
    """One GPU of an nvidia-smi --query-gpu line, or None when the line is not in the shape of ``fields``.

    Splits from the right, so a comma in a product name cannot shift the other columns.
    """
    values = line.rsplit(",", len(fields) - 1)
    if len(values) != len(fields):
        return None
    row = dict(zip(fields, (value.strip() for value in values)))
    gpu = {"name": row.get("name", ""), "driver_version": row.get("driver_version", "")}
    if "memory.total" in row:
        gpu["memory_mib"] = _mib(row["memory.total"])
        if gpu["memory_mib"] is None:
            return None
    if "pci.bus_id" in row:
        if not _BUS_ID.match(row["pci.bus_id"]):
            return None
        gpu["pci_address"] = normalize_bus_id(row["pci.bus_id"])
    return gpu


def _smi_lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def parse_smi(text, fields=SMI_FIELDS):
    """nvidia-smi --query-gpu CSV (noheader; with or without nounits) -> one dict per GPU it could read.

    A line it cannot read ("No devices were found", another query's columns) is left out here and named by
    smi_findings, so that the module reports it instead of failing.
    """
    rows = (_smi_row(line, fields) for line in _smi_lines(text))
    return [row for row in rows if row is not None]


def smi_findings(text, fields=SMI_FIELDS):
    """One sentence per nvidia-smi line that is not a GPU in the shape of ``fields``."""
    return ["nvidia-smi printed %r, which is not a GPU as %s; check `nvidia-smi` by hand" % (line, ", ".join(fields))
            for line in _smi_lines(text) if _smi_row(line, fields) is None]


def parse_apt_policy(text):
    """`apt-cache policy P...` -> {package: candidate version}; unknown packages are left out."""
    candidates = {}
    package = None
    for line in (text or "").splitlines():
        header = re.match(r"^(\S+):$", line)
        if header:
            package = header.group(1)
            continue
        candidate = re.match(r"^\s+Candidate:\s+(\S+)", line)
        if candidate and package and candidate.group(1) != "(none)":
            candidates[package] = candidate.group(1)
    return candidates


def parse_secure_boot(text):
    """`mokutil --sb-state` -> True, False or None."""
    text = (text or "").lower()
    if "secureboot enabled" in text:
        return True
    if "secureboot disabled" in text or "efi variables are not supported" in text:
        return False
    return None


def parse_mok_test_key(text):
    """`mokutil --test-key CERT` -> True (enrolled), False (not enrolled) or None."""
    text = (text or "").lower()
    if "is already enrolled" in text:
        return True
    if "is not enrolled" in text:
        return False
    return None


def parse_dpkg(text):
    """`dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'` -> installed {name: version}."""
    packages = {}
    for line in (text or "").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].startswith("ii"):
            packages[parts[0].split(":")[0]] = parts[1]
    return packages


def branch_of(version):
    """'580.95.05-1' -> 580; '' -> None."""
    match = re.match(r"^(?:\d+:)?(\d{3})\.", version or "")
    return int(match.group(1)) if match else None


def version_tuple(version):
    return tuple(int(part) for part in re.findall(r"\d+", (version or "").split("-")[0]))
