#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_driver_facts
short_description: Detect NVIDIA GPUs and their driver, and plan the open-module driver install
version_added: "0.1.0"
description:
  - Reads, and never changes, what decides the NVIDIA driver of a host, in this order, first
    whether it runs in a container (Ansible's virtualization facts, C(systemd-detect-virt --container),
    C(/.dockerenv), C(/run/.containerenv)); the NVIDIA GPUs in C(/sys/bus/pci/devices) with their PCI ids;
    the loaded driver from C(/proc/driver/nvidia/version); the module the next boot loads (C(modinfo));
    each GPU's name, memory and driver from C(nvidia-smi) when it answers; Secure Boot and MOK
    enrolment (C(mokutil)); installed and installable packages (C(dpkg-query), C(apt-cache policy)).
  - Returns the facts RV(ansible_facts.nvidia_driver_gpus) and RV(ansible_facts.nvidia_driver_state),
    the plan the C(nvidia_driver) role follows (RV(plan)) and the problems of a running driver
    (RV(problems)).
  - The decisions are pure functions in the collection's C(nvidia) module_utils, unit-tested with
    facts of every supported platform, with and without a GPU or a container.
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  platform:
    description:
      - The platform id, C(Debian-12), C(Ubuntu-22.04) or C(Ubuntu-24.04).
    type: str
    required: true
  architecture:
    description: The machine architecture (C(ansible_facts['architecture'])).
    type: str
    default: x86_64
  kernel:
    description: The running kernel release, for its headers package (C(ansible_facts['kernel'])).
    type: str
    default: ""
  virtualization_type:
    description: C(ansible_facts['virtualization_type']), checked before anything else.
    type: str
    default: ""
  virtualization_tech_guest:
    description: C(ansible_facts['virtualization_tech_guest']); contains C(container) in a container.
    type: list
    elements: str
    default: []
  branch:
    description: The driver branch to plan for, for example C(580) (the role's C(nvidia_driver_branch)).
    type: str
    required: true
  flavour:
    description: C(headless) (compute only) or C(desktop) (with the X and GL libraries).
    type: str
    choices: [headless, desktop]
    required: true
  source:
    description:
      - Where the driver comes from. C(auto) is the Ubuntu archive on Ubuntu and NVIDIA's CUDA repository
        on Debian 12; C(distribution) forces the Ubuntu archive; C(cuda) forces NVIDIA's repository.
    type: str
    choices: [auto, distribution, cuda]
    required: true
  reboot:
    description: C(auto) plans a reboot when one is needed, C(never) only reports it.
    type: str
    choices: [auto, never]
    required: true
  persistenced:
    description: Whether the plan enables nvidia-persistenced and verification expects it active.
    type: bool
    required: true
  packages:
    description: Driver packages that replace the planned list; empty keeps the planned list.
    type: list
    elements: str
    required: true
  cuda_repo_base_url:
    description: Base URL of NVIDIA's CUDA repositories; C(<distro>/<arch>/) is appended.
    type: str
    required: true
  cuda_keyring_file:
    description: File name of the keyring package in that repository.
    type: str
    required: true
  mok_certificate:
    description: Certificate DKMS signs modules with; empty uses the platform's default path.
    type: path
    required: true
  facts_override:
    description:
      - Raw facts that replace what would be read on the host, for tests and rehearsals (see the examples).
        Keys are those of C(empty_facts()) in the C(nvidia) module_utils, for example C(container),
        C(pci_devices), C(smi_output), C(secure_boot), C(packages) and C(platform). Overridden facts are not read.
    type: dict
    default: {}
extends_documentation_fragment:
  - ai4artsed.devserver.read_only
attributes:
  facts:
    support: full
    description: Sets RV(ansible_facts.nvidia_driver_gpus) and RV(ansible_facts.nvidia_driver_state).
"""

EXAMPLES = r"""
# The settings come from the nvidia_driver role's variables (its defaults/main.yml holds their defaults).
- name: Detect the GPUs and plan the driver
  ai4artsed.devserver.nvidia_driver_facts:
    platform: "{{ ansible_facts['distribution'] }}-{{ ansible_facts['distribution_version'] }}"
    kernel: "{{ ansible_facts['kernel'] }}"
    virtualization_type: "{{ ansible_facts['virtualization_type'] | default('') }}"
    virtualization_tech_guest: "{{ ansible_facts['virtualization_tech_guest'] | default([]) }}"
    branch: "{{ nvidia_driver_branch }}"
    flavour: "{{ nvidia_driver_flavour }}"
    source: "{{ nvidia_driver_source }}"
    reboot: "{{ nvidia_driver_reboot }}"
    persistenced: "{{ nvidia_driver_persistenced }}"
    packages: "{{ nvidia_driver_packages }}"
    cuda_repo_base_url: "{{ nvidia_driver_cuda_repo_base_url }}"
    cuda_keyring_file: "{{ nvidia_driver_cuda_keyring_file }}"
    mok_certificate: "{{ nvidia_driver_mok_certificate }}"
  register: nvidia

- name: Show the driver state and every GPU's memory
  ansible.builtin.debug:
    msg: "{{ nvidia_driver_state }}: {{ nvidia_driver_gpus | map(attribute='memory_mib') | list }}"

- name: Rehearse the plan for an RTX PRO 6000 on Ubuntu 24.04, wherever this runs
  ai4artsed.devserver.nvidia_driver_facts:
    platform: Ubuntu-24.04
    branch: "{{ nvidia_driver_branch }}"
    flavour: "{{ nvidia_driver_flavour }}"
    source: "{{ nvidia_driver_source }}"
    reboot: "{{ nvidia_driver_reboot }}"
    persistenced: "{{ nvidia_driver_persistenced }}"
    packages: "{{ nvidia_driver_packages }}"
    cuda_repo_base_url: "{{ nvidia_driver_cuda_repo_base_url }}"
    cuda_keyring_file: "{{ nvidia_driver_cuda_keyring_file }}"
    mok_certificate: "{{ nvidia_driver_mok_certificate }}"
    facts_override:
      container: ""
      pci_devices:
        - {address: "0000:01:00.0", vendor: "0x10de", device: "0x2bb1", class: "0x030000"}
"""

RETURN = r"""
ansible_facts:
  description: Facts for other roles.
  returned: always
  type: dict
  contains:
    nvidia_driver_gpus:
      description:
        - One entry per NVIDIA GPU, with C(pci_address), C(pci_id) (C(10de:2bb1)), C(name),
          C(memory_mib) and C(driver_version) (the last two null or empty until nvidia-smi answers).
      type: list
      elements: dict
      sample:
        - pci_address: "0000:01:00.0"
          pci_id: "10de:2bb1"
          name: NVIDIA RTX PRO 6000 Blackwell Workstation Edition
          memory_mib: 97887
          driver_version: 580.95.05
    nvidia_driver_state:
      description: C(absent), C(installed_pending_reboot), C(active) or C(unsupported).
      type: str
      sample: active
plan:
  description:
    - What the role does here. C(action) is C(skip), C(refuse) or C(install); C(message) says why.
    - Also C(repository), C(pinning_packages), C(packages), C(prerequisites), C(remove_packages),
      C(missing_packages), C(unresolvable_packages), C(upgrade), C(blacklist_nouveau), C(persistenced),
      C(reboot_expected), C(reboot), C(secure_boot) and C(min_driver).
  returned: always
  type: dict
  sample:
    action: install
    state: absent
    message: installs the open driver, branch 580 (Ubuntu archive); a reboot is needed to load it
    repository: {kind: ubuntu-archive, component: restricted}
    packages: [nvidia-headless-580-server-open, nvidia-utils-580-server, nvidia-compute-utils-580-server]
facts:
  description: The raw facts the plan was made from, after O(facts_override).
  returned: always
  type: dict
problems:
  description:
    - What is wrong with the running driver; empty when every GPU works with the open module.
    - Also, first and whatever the plan, what could not be read; a command that ran over its 30 second timeout (a hung
      C(nvidia-smi)), C(nvidia-smi) exiting with an error (C(No devices were found)), and each line of its answer
      that is not a GPU in the module's query. These are reported, not failed, and leave their facts empty.
  returned: always
  type: list
  elements: str
  sample: ["nvidia-persistenced is not active"]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils import nvidia, nvidia_facts
from ansible_collections.ai4artsed.devserver.plugins.module_utils.bounded_run import CommandTimedOut
from ansible_collections.ai4artsed.devserver.plugins.module_utils.bounded_run import run as run_bounded

PACKAGE_PATTERNS = ["nvidia-*", "libnvidia-*", "cuda-*", "linux-modules-nvidia-*", "linux-headers-*",
                    "build-essential", "dkms"]
APT_SOURCES = ["/etc/apt/sources.list", "/etc/apt/sources.list.d"]
COMMAND_TIMEOUT = 30  # nvidia-smi hangs when the driver is wedged; that is a finding, not a hung task


class Gatherer(object):
    """Reads raw facts on the host; every method returns the value of one key of empty_facts()."""

    def __init__(self, module):
        self.module = module
        self.findings = []  # commands that hung or failed in a way worth telling

    def run(self, *argv):
        """(rc, output) of a command; (None, "") when it is not installed or ran over COMMAND_TIMEOUT."""
        binary = self.module.get_bin_path(argv[0])
        if not binary:
            return None, ""
        try:
            rc, out, err = run_bounded([binary] + list(argv[1:]), COMMAND_TIMEOUT)
        except CommandTimedOut as error:
            self.findings.append("%s Its facts are left out; is the driver hung (see `dmesg`)?" % error)
            return None, ""
        return rc, out + err

    def read(self, path):
        try:
            with open(path) as handle:
                return handle.read()
        except (IOError, OSError):
            return ""

    def container(self):
        params = self.module.params
        rc, out = self.run("systemd-detect-virt", "--container")
        markers = [path for path in ("/.dockerenv", "/run/.containerenv") if os.path.exists(path)]
        return nvidia_facts.detect_container(params["virtualization_type"], params["virtualization_tech_guest"],
                                             out if rc == 0 else "", markers)

    def smi_output(self):
        rc, out = self.run("nvidia-smi", "--query-gpu=" + ",".join(nvidia_facts.SMI_FIELDS),
                           "--format=csv,noheader,nounits")
        if rc not in (0, None):  # "No devices were found" (6), "couldn't communicate with the NVIDIA driver" (9)
            self.findings.append("nvidia-smi exited with %d: %s" % (rc, out.strip() or "(no output)"))
        return out if rc == 0 else None

    def modinfo(self, field):
        rc, out = self.run("modinfo", "-F", field, "nvidia")
        return out.strip() if rc == 0 else ""

    def secure_boot(self):
        rc, out = self.run("mokutil", "--sb-state")
        return nvidia_facts.parse_secure_boot(out) if rc is not None else None

    def mok_enrolled(self, certificate):
        if not os.path.exists(certificate):
            return False
        rc, out = self.run("mokutil", "--test-key", certificate)
        return nvidia_facts.parse_mok_test_key(out) if rc is not None else None

    def packages(self):
        rc, out = self.run("dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n",
                           *PACKAGE_PATTERNS)
        return nvidia_facts.parse_dpkg(out)

    def candidates(self, names):
        if not names:
            return {}
        rc, out = self.run("apt-cache", "policy", *names)
        return nvidia_facts.parse_apt_policy(out)

    def repository_files(self, url):
        found = []
        for source in APT_SOURCES:
            paths = [source]
            if os.path.isdir(source):
                paths = sorted(os.path.join(source, name) for name in os.listdir(source))
            for path in paths:
                if os.path.isfile(path) and url and url in self.read(path):
                    found.append(path)
        return found

    def persistenced(self):
        rc, out = self.run("systemctl", "show", "--property=LoadState,ActiveState,UnitFileState",
                           "nvidia-persistenced.service")
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return {"load": values.get("LoadState", "not-found"), "active": values.get("ActiveState", "inactive"),
                "enabled": values.get("UnitFileState", "")}


def gather(module, settings):
    params = module.params
    override = params["facts_override"] or {}
    unknown = sorted(set(override) - set(nvidia_facts.empty_facts()))
    if unknown:
        module.fail_json(msg="facts_override has unknown keys %s; known keys: %s"
                         % (", ".join(unknown), ", ".join(sorted(nvidia_facts.empty_facts()))))
    host = Gatherer(module)
    facts = nvidia_facts.empty_facts()
    facts.update(platform=params["platform"], architecture=params["architecture"], kernel=params["kernel"])
    readers = {
        "container": host.container,
        "pci_devices": nvidia_facts.read_pci_devices,
        "proc_version": lambda: host.read("/proc/driver/nvidia/version"),
        "smi_output": host.smi_output,
        "module_version": lambda: host.modinfo("version"),
        "module_signer": lambda: host.modinfo("signer"),
        "secure_boot": host.secure_boot,
        "packages": host.packages,
        "persistenced": host.persistenced,
    }
    for key, reader in readers.items():
        if key not in override:
            facts[key] = reader()
    facts.update(override)
    # The rest depends on the plan: which certificate, which packages, which repository URL.
    first = nvidia.plan(facts, settings)
    if "mok_enrolled" not in override and facts["secure_boot"]:
        facts["mok_enrolled"] = host.mok_enrolled(first.get("mok_certificate") or "")
    if "candidates" not in override:
        facts["candidates"] = host.candidates(first["missing_packages"])
    if "repository_files" not in override:
        facts["repository_files"] = host.repository_files(first["repository"].get("url", ""))
    return facts, host.findings + nvidia_facts.smi_findings(facts["smi_output"])


def main():
    module = AnsibleModule(
        argument_spec={
            "platform": {"type": "str", "required": True},
            "architecture": {"type": "str", "default": "x86_64"},
            "kernel": {"type": "str", "default": ""},
            "virtualization_type": {"type": "str", "default": ""},
            "virtualization_tech_guest": {"type": "list", "elements": "str", "default": []},
            # The role's settings: required, so that their defaults live only in the role's defaults/main.yml.
            "branch": {"type": "str", "required": True},
            "flavour": {"type": "str", "required": True, "choices": ["headless", "desktop"]},
            "source": {"type": "str", "required": True, "choices": ["auto", "distribution", "cuda"]},
            "reboot": {"type": "str", "required": True, "choices": ["auto", "never"]},
            "persistenced": {"type": "bool", "required": True},
            "packages": {"type": "list", "elements": "str", "required": True},
            "cuda_repo_base_url": {"type": "str", "required": True},
            "cuda_keyring_file": {"type": "str", "required": True},
            "mok_certificate": {"type": "path", "required": True},
            "facts_override": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    settings = dict((key, module.params[key]) for key in nvidia.SETTINGS)
    facts, findings = gather(module, settings)
    try:
        the_plan = nvidia.plan(facts, settings)
        problems = nvidia.verify(facts, settings) if the_plan["action"] == "install" else []
    except ValueError as error:
        module.fail_json(msg="Cannot read the NVIDIA facts of this host: %s" % error, facts=facts)
    gpus = [dict((key, gpu[key]) for key in ("pci_address", "pci_id", "name", "memory_mib", "driver_version"))
            for gpu in the_plan["gpus"]]
    module.exit_json(
        changed=False,
        ansible_facts={"nvidia_driver_gpus": gpus, "nvidia_driver_state": the_plan["state"]},
        plan=the_plan,
        facts=facts,
        problems=findings + problems,
    )


if __name__ == "__main__":
    main()
