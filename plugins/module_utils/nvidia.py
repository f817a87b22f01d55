# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA driver decisions as pure functions: raw facts in, a plan out.

Used by the nvidia_driver_facts module (which gathers the raw facts on the target with the parsers
in nvidia_facts.py) and called directly by the unit tests. The settings (SETTINGS) have no defaults
here: the nvidia_driver role's defaults/main.yml is their one source, and the role always passes
them. Standard library only, Python 3.8 syntax.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ai4artsed.devserver.plugins.module_utils.nvidia_facts import (
    KNOWN_GPUS,
    branch_of,
    empty_facts,
    nvidia_gpus,
    parse_proc_version,
    parse_smi,
    version_tuple,
)

# The open kernel modules drive Turing and later; Turing's PCI device ids start at 0x1e00.
FIRST_OPEN_MODULE_DEVICE = 0x1E00

SUPPORTED_ARCHITECTURES = {"x86_64": "x86_64"}
CUDA_DISTRO = {"Debian-12": "debian12", "Ubuntu-22.04": "ubuntu2204", "Ubuntu-24.04": "ubuntu2404"}
HEADER_META = {"Debian-12": "linux-headers-amd64", "Ubuntu-22.04": "linux-headers-generic",
               "Ubuntu-24.04": "linux-headers-generic"}
MOK_CERTIFICATE = {"Debian-12": "/var/lib/dkms/mok.pub", "Ubuntu-22.04": "/var/lib/shim-signed/mok/MOK.der",
                   "Ubuntu-24.04": "/var/lib/shim-signed/mok/MOK.der"}
CUDA_KEYRING = "/usr/share/keyrings/cuda-archive-keyring.gpg"

# Proprietary-flavour packages that must go before the open ones are installed (never both).
PROPRIETARY_PATTERNS = (
    r"^cuda-drivers(-\d+)?$",
    r"^nvidia-kernel-dkms$",
    r"^nvidia-dkms-\d+(-server)?$",
    r"^nvidia-headless-\d+(-server)?$",
    r"^nvidia-headless-no-dkms-\d+(-server)?$",
    r"^nvidia-driver-\d+(-server)?$",
    r"^nvidia-kernel-source-\d+(-server)?$",
    r"^linux-modules-nvidia-\d+(-server)?-generic",
)
# Ubuntu-style packages that carry their branch in the name: nvidia-utils-570-server -> 570.
BRANCH_IN_NAME = re.compile(
    r"^(?:nvidia-(?:headless-no-dkms|headless|driver|utils|dkms|kernel-source|kernel-common|compute-utils)"
    r"|libnvidia-compute|nvidia-driver-pinning)-(\d{3})(?:-|$)"
)
# Packages whose version tells which branch the NVIDIA repository installed (names without branch).
BRANCH_FROM_VERSION = ("nvidia-kernel-open-dkms", "nvidia-dkms-open", "nvidia-open", "nvidia-driver-cuda")

STATES = ("absent", "installed_pending_reboot", "active", "unsupported")
# What the role decides (its nvidia_driver_<name> variables); plan() and verify() need every one.
SETTINGS = ("branch", "flavour", "source", "reboot", "persistenced", "packages", "cuda_repo_base_url",
            "cuda_keyring_file", "mok_certificate")


def _require(settings):
    """Name the settings a caller left out (a programming error: the role and the module pass all)."""
    missing = [name for name in SETTINGS if name not in settings]
    if missing:
        raise KeyError("NVIDIA driver settings missing: %s" % ", ".join(missing))


def source_for(platform, settings):
    """'distribution' (the Ubuntu archive) or 'cuda' (NVIDIA's repository); None if unusable."""
    source = settings["source"]
    if platform.startswith("Ubuntu-"):
        return "distribution" if source in ("auto", "distribution") else "cuda"
    if platform == "Debian-12":
        return "cuda" if source in ("auto", "cuda") else None
    return None


def driver_packages(platform, source, branch, flavour):
    """(pinning packages installed first, driver packages): the single table of package names."""
    if source == "distribution":  # Ubuntu archive, component restricted
        if flavour == "desktop":
            return [], ["nvidia-driver-%s-open" % branch]
        return [], ["nvidia-headless-%s-server-open" % branch, "nvidia-utils-%s-server" % branch,
                    "nvidia-compute-utils-%s-server" % branch]
    pinning = ["nvidia-driver-pinning-%s" % branch]
    if platform == "Debian-12":  # NVIDIA's debian12 repository, Debian-style names
        if flavour == "desktop":
            return pinning, ["nvidia-open", "nvidia-persistenced"]
        return pinning, ["nvidia-driver-cuda", "nvidia-kernel-open-dkms", "nvidia-persistenced"]
    # NVIDIA's ubuntu repository: branch in the name up to 580, without it from 590 on.
    suffix = "-%s" % branch if int(branch) < 590 else ""
    if flavour == "desktop":
        return pinning, ["nvidia-open%s" % suffix]
    return pinning, ["nvidia-dkms%s-open" % suffix if suffix else "nvidia-dkms-open",
                     "nvidia-utils%s" % suffix, "libnvidia-compute%s" % suffix,
                     "nvidia-compute-utils%s" % suffix]


def installed_branch(packages):
    """Branch of the installed driver packages, from their names or versions; None if none."""
    branches = set()
    for name, version in packages.items():
        match = BRANCH_IN_NAME.match(name)
        if match and not name.startswith("nvidia-driver-pinning-"):
            branches.add(int(match.group(1)))
        elif name in BRANCH_FROM_VERSION and branch_of(version):
            branches.add(branch_of(version))
    return max(branches) if branches else None


def packages_to_remove(packages, branch, source):
    """Installed proprietary packages, and packages of another branch (a deliberate branch change)."""
    remove = []
    for name in sorted(packages):
        if any(re.match(pattern, name) for pattern in PROPRIETARY_PATTERNS):
            remove.append(name)
            continue
        match = BRANCH_IN_NAME.match(name)
        if match and match.group(1) != str(branch):
            remove.append(name)
    return remove


def mok_message(certificate):
    return (
        "Secure Boot is on and the key DKMS signs the NVIDIA modules with is not enrolled, so the "
        "kernel will refuse to load them. This needs a person at the console: "
        "1) on the workstation run: sudo mokutil --import %s (choose a one-time password); "
        "2) reboot and stay at the console: the blue MOK manager appears, choose 'Enroll MOK', "
        "'Continue', 'Yes', type the password, then 'Reboot'; "
        "3) re-run the playbook (check with: mokutil --test-key %s). "
        "Or turn Secure Boot off in the firmware settings." % (certificate, certificate)
    )


def gpu_state(facts, settings):
    """absent, installed_pending_reboot or active, from what is loaded and what the next boot loads."""
    smi = parse_smi(facts.get("smi_output") or "") if facts.get("smi_output") else []
    loaded = parse_proc_version(facts.get("proc_version", ""))
    on_disk = facts.get("module_version", "")
    if facts.get("container"):
        return "active" if smi else "absent"
    if loaded and smi and (not on_disk or on_disk == loaded["version"]):
        return "active"
    if on_disk and (not loaded or on_disk != loaded["version"]):
        return "installed_pending_reboot"
    return "absent"  # nothing installed, or a loaded module that drives no GPU


def merge_gpus(facts):
    """GPUs from sysfs, completed by nvidia-smi (name, memory, driver) where it answers."""
    smi_rows = parse_smi(facts.get("smi_output") or "") if facts.get("smi_output") else []
    by_address = dict((row.get("pci_address", ""), row) for row in smi_rows)
    gpus = []
    for gpu in nvidia_gpus(facts.get("pci_devices") or []):
        row = by_address.pop(gpu["pci_address"], {})
        gpu = dict(gpu)
        gpu["name"] = row.get("name") or gpu["known"]
        gpu["memory_mib"] = row.get("memory_mib")
        gpu["driver_version"] = row.get("driver_version", "")
        gpus.append(gpu)
    # A container may see the GPUs through nvidia-smi but not in sysfs.
    for row in by_address.values():
        gpus.append({"pci_address": row.get("pci_address", ""), "pci_id": "", "device_id": "", "class": "",
                     "kernel_driver": "", "known": "", "name": row.get("name", ""),
                     "memory_mib": row.get("memory_mib"), "driver_version": row.get("driver_version", "")})
    return gpus


def plan(facts, settings):
    """What the role does on this host. Returns a dict; see the keys of `result` below."""
    merged = empty_facts()
    merged.update(facts)
    facts = merged
    _require(settings)
    branch = str(settings["branch"])
    platform = facts["platform"]
    gpus = merge_gpus(facts)
    loaded = parse_proc_version(facts["proc_version"])
    result = {
        "action": "skip", "state": gpu_state(facts, settings), "message": "", "gpus": gpus,
        "branch": branch, "loaded": loaded, "repository": {"kind": "none"}, "pinning_packages": [],
        "packages": [], "prerequisites": [], "remove_packages": [], "missing_packages": [],
        "unresolvable_packages": [], "upgrade": False, "blacklist_nouveau": False, "persistenced": False,
        "reboot_expected": False, "reboot": False, "secure_boot": {"action": "none", "message": ""},
        "min_driver": "",
    }

    if facts["container"]:
        result["message"] = ("skipped: running in a container (%s) - no kernel modules, reboot or services"
                             % facts["container"])
        return result
    if not nvidia_gpus(facts["pci_devices"]):
        result["message"] = "skipped: no NVIDIA GPU found in /sys/bus/pci/devices - nothing to install"
        return result

    def refuse(message):
        result.update(action="refuse", state="unsupported", message=message)
        return result

    source = source_for(platform, settings)
    if platform not in CUDA_DISTRO or facts["architecture"] not in SUPPORTED_ARCHITECTURES:
        return refuse("unsupported: %s on %s; the nvidia_driver role supports %s on x86_64"
                      % (platform, facts["architecture"], ", ".join(sorted(CUDA_DISTRO))))
    if source is None:
        return refuse("unsupported: nvidia_driver_source=%s on %s: Debian's own driver packages (535) are too "
                      "old for current GPUs; use nvidia_driver_source=auto (NVIDIA's debian12 repository)"
                      % (settings["source"], platform))
    if not re.match(r"^\d{3}$", branch):
        return refuse("unsupported: nvidia_driver_branch=%r is not a driver branch such as 580" % branch)
    for gpu in gpus:
        if not gpu["device_id"]:
            continue
        if int(gpu["device_id"], 16) < FIRST_OPEN_MODULE_DEVICE:
            return refuse("unsupported: GPU %s at %s predates Turing; the open kernel modules this role installs "
                          "do not drive it" % (gpu["pci_id"], gpu["pci_address"]))
        known = KNOWN_GPUS.get(gpu["device_id"])
        if known:
            result["min_driver"] = max(result["min_driver"], known["min_driver"], key=version_tuple)
            if int(branch) < version_tuple(known["min_driver"])[0]:
                return refuse("unsupported: %s (%s) needs driver %s or newer; nvidia_driver_branch=%s is older. "
                              "Use 580 (long-term support)." % (known["name"], gpu["pci_id"], known["min_driver"],
                                                                branch))

    pinning, packages = driver_packages(platform, source, branch, settings["flavour"])
    if settings["packages"]:
        packages = list(settings["packages"])
    prerequisites = ["build-essential", "dkms", HEADER_META[platform]]
    if facts["kernel"]:
        prerequisites.append("linux-headers-%s" % facts["kernel"])
    installed = facts["packages"]
    old_branch = installed_branch(installed)
    if source == "cuda":
        base = settings["cuda_repo_base_url"].rstrip("/")
        url = "%s/%s/%s/" % (base, CUDA_DISTRO[platform], SUPPORTED_ARCHITECTURES[facts["architecture"]])
        result["repository"] = {
            "kind": "cuda", "url": url, "keyring_url": url + settings["cuda_keyring_file"],
            "keyring_package": "cuda-keyring", "keyring_installed": "cuda-keyring" in installed,
            "keyring": CUDA_KEYRING, "configured_in": list(facts["repository_files"]),
            "line": "deb [signed-by=%s] %s /" % (CUDA_KEYRING, url),
        }
    else:
        result["repository"] = {"kind": "ubuntu-archive", "component": "restricted"}
    wanted = pinning + packages + prerequisites
    remove = [name for name in packages_to_remove(installed, branch, source) if name not in wanted]
    certificate = settings["mok_certificate"] or MOK_CERTIFICATE[platform]
    loaded_ok = bool(loaded and loaded["flavour"] == "open" and branch_of(loaded["version"]) == int(branch))
    result.update(
        action="install",
        pinning_packages=pinning,
        packages=packages,
        prerequisites=prerequisites,
        remove_packages=remove,
        missing_packages=[name for name in wanted if name not in installed],
        unresolvable_packages=[name for name in wanted if name not in installed
                               and name not in facts["candidates"]],
        # Packages without the branch in their name move to the new branch only when asked to.
        upgrade=bool(source == "cuda" and old_branch is not None and old_branch != int(branch)),
        blacklist_nouveau=True,
        persistenced=bool(settings["persistenced"]),
        mok_certificate=certificate,
    )
    result["reboot_expected"] = bool(
        result["missing_packages"] or remove or result["upgrade"] or not loaded_ok or result["state"] != "active"
    )
    if facts["secure_boot"] and facts["mok_enrolled"] is not True:
        result["secure_boot"] = {"action": "enrol_mok", "message": mok_message(certificate)}
    result["reboot"] = bool(result["reboot_expected"] and settings["reboot"] == "auto"
                            and result["secure_boot"]["action"] == "none")
    if result["reboot_expected"]:
        what = "installs" if result["missing_packages"] or remove or result["upgrade"] else "keeps"
        result["message"] = "%s the open driver, branch %s (%s); a reboot is needed to load it" % (
            what, branch, "NVIDIA's repository " + result["repository"]["url"] if source == "cuda"
            else "Ubuntu archive")
    else:
        result["message"] = "open driver %s active on %d GPU(s)" % (loaded["version"], len(gpus))
    return result


def verify(facts, settings):
    """Problems with a running driver: an empty list means every GPU works with the open module."""
    _require(settings)
    merged = empty_facts()
    merged.update(facts)
    facts = merged
    problems = []
    loaded = parse_proc_version(facts["proc_version"])
    if not loaded:
        return ["no NVIDIA kernel module is loaded (/proc/driver/nvidia/version is missing)"]
    if loaded["flavour"] != "open":
        problems.append("the loaded module is the proprietary flavour %s; the open kernel module is needed"
                        % loaded["version"])
    if branch_of(loaded["version"]) != int(settings["branch"]):
        problems.append("driver %s is loaded, branch %s is wanted" % (loaded["version"], settings["branch"]))
    for gpu in merge_gpus(facts):
        known = KNOWN_GPUS.get(gpu["device_id"], {})
        where = "%s (%s)" % (gpu["pci_address"], gpu["name"] or gpu["pci_id"])
        if gpu["memory_mib"] is None:
            problems.append("GPU %s is not visible to nvidia-smi" % where)
            continue
        if known.get("memory_mib") and gpu["memory_mib"] < known["memory_mib"]:
            problems.append("GPU %s reports %d MiB, %d MiB expected" % (where, gpu["memory_mib"],
                                                                        known["memory_mib"]))
        if known and version_tuple(gpu["driver_version"]) < version_tuple(known["min_driver"]):
            problems.append("GPU %s needs driver %s or newer, %s runs" % (where, known["min_driver"],
                                                                          gpu["driver_version"]))
    if settings["persistenced"] and facts["persistenced"].get("active") != "active":
        problems.append("nvidia-persistenced is not active")
    return problems
