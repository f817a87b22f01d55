#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: comfyui_check
short_description: Ask a running ComfyUI (and its venv) whether it is what the comfyui role set up
version_added: "0.1.0"
description:
  - Reads, and never changes, what ComfyUI says about itself and compares it with what was wanted. Each part runs
    when its options are given, in this order.
  - O(venv) with O(requirements) compares the venv's installed distributions (C(importlib.metadata)) with the
    wanted requirements; C(name==version) must match exactly (a local build such as C(2.9.1+cu130) matches
    C(2.9.1)), a bare name only has to be installed.
  - O(url) waits up to O(wait_timeout) seconds for C(GET /system_stats). While it waits it watches the systemd
    unit O(unit); when ComfyUI exits (the unit fails, or systemd restarts it) or never answers, the module fails
    with the end of the unit's journal, so a crash at start shows its traceback.
  - O(nodes_dir) (ComfyUI's C(custom_nodes/)) checks every pack ComfyUI tries to import there, a folder or a
    C(.py) file, whoever put it there, fails naming a pack that ComfyUI logged as C(IMPORT FAILED) since the unit's
    last start (its journal) or whose node classes are not in C(GET /object_info) (by C(python_module)
    C(custom_nodes.<pack>)).
  - O(models_dir) (ComfyUI's C(models/)) compares, per ComfyUI folder, the links O(expected_links) (or every
    symlink found below O(models_dir)) with C(GET /models/<folder>), and fails naming each linked model ComfyUI does
    not list or whose link does not resolve. C(clip/) and C(unet/) are served as C(text_encoders) and
    C(diffusion_models) (ComfyUI answers 404 for the old names); a folder ComfyUI does not know is reported, not
    failed.
  - Every request has a total deadline and a size limit, so a hung or hostile server cannot stall the task or
    fill the memory; C(GET /object_info) may take 60 seconds and 64 MiB, the other routes 10 seconds (5 for each
    C(GET /system_stats) while waiting) and 1 MiB. An answer that is not JSON, JSON of the wrong shape, an HTTP
    error (with the first line of its body), one too large or too slow is reported as such, naming the URL.
  - C(systemctl), C(journalctl) and the venv's C(python) are stopped after 60 seconds and that is reported.
  - The comparisons are pure functions in the collection's C(comfyui) module_utils.
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  url:
    description:
      - ComfyUI's base URL, for example C(http://127.0.0.1:7821). Without it, nothing is asked over HTTP.
    type: str
  wait_timeout:
    description: Seconds to wait for C(GET /system_stats) to answer; 0 asks once.
    type: int
    default: 0
  unit:
    description:
      - The systemd unit ComfyUI runs as; its state is watched while waiting and its journal read.
      - An empty string reads neither (a ComfyUI not run by systemd).
    type: str
    default: comfyui
  journal_lines:
    description: How many lines of the unit's journal a failure shows.
    type: int
    default: 60
  nodes_dir:
    description: ComfyUI's C(custom_nodes/) folder, whose packs must all have imported. Needs O(url).
    type: path
  models_dir:
    description: ComfyUI's C(models/) folder, whose links ComfyUI must list. Needs O(url).
    type: path
  expected_links:
    description:
      - The links below O(models_dir) (paths relative to it) that ComfyUI must list, for example the keys of the
        C(links) that M(ai4artsed.devserver.model_manifest) planned.
      - Omitted, every symlink below O(models_dir) is expected.
    type: list
    elements: str
  venv:
    description: ComfyUI's venv, whose installed versions are compared with O(requirements).
    type: path
  requirements:
    description: Wanted requirements, C(name) or C(name==version); the last one of a name wins.
    type: list
    elements: str
    default: []
  fail_on_problems:
    description:
      - Whether problems fail the task. V(false) only reports them (RV(problems)), as the C(report) entry point does.
    type: bool
    default: true
extends_documentation_fragment:
  - ai4artsed.devserver.read_only
"""

EXAMPLES = r"""
- name: Wait for ComfyUI, then check its node packs and the model links
  ai4artsed.devserver.comfyui_check:
    url: http://127.0.0.1:7821
    wait_timeout: 300
    nodes_dir: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/custom_nodes
    models_dir: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/models
    expected_links: "{{ __model_store_plan.links.keys() | list }}"

- name: Compare the venv with the pins, without asking ComfyUI
  ai4artsed.devserver.comfyui_check:
    venv: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/venv
    requirements: [torch==2.9.1, requests, comfy-kitchen==0.2.5]
  register: comfyui_venv_state
"""

RETURN = r"""
msg:
  description: A one-line summary, or every problem.
  returned: always
  type: str
problems:
  description: What does not match, one sentence each (the pack, model or package named).
  returned: always
  type: list
  elements: str
  sample: ["custom node pack broken_pack did not import: No module named 'nonexistent'"]
packages:
  description: Per wanted requirement, its normalized name, the wanted exact version (or C(any)), the installed one.
  returned: when O(venv) is given
  type: list
  elements: dict
  sample: [{name: torch, wanted: 2.9.1, installed: 2.9.1+cu130, ok: true}]
system_stats:
  description: The answer of C(GET /system_stats) (C(system.comfyui_version), C(system.argv), C(devices)).
  returned: when O(url) is given and ComfyUI answered
  type: dict
nodes:
  description: Per pack in O(nodes_dir), whether it imported, its class count and names, and the reason it did not.
  returned: when O(nodes_dir) is given
  type: list
  elements: dict
  sample: [{name: ai4artsed_comfyui, imported: true, classes: 12, class_names: [ai4artsed_prompt_interception],
            reason: null}]
models:
  description: Per ComfyUI folder, how many files ComfyUI lists (null for a 404), how many are linked, which are missing.
  returned: when O(models_dir) is given
  type: list
  elements: dict
model_lines:
  description: One line per folder, C(<folder> ComfyUI lists N, the manifest links M).
  returned: when O(models_dir) is given
  type: list
  elements: str
  sample: ["checkpoints: ComfyUI lists 3, the manifest links 2"]
unit:
  description: The unit's C(ActiveState), C(SubState), C(NRestarts), C(InvocationID) and C(MainPID) when last read.
  returned: when O(unit) is not empty
  type: dict
journal_tail:
  description: The last O(journal_lines) lines of the unit's journal.
  returned: when O(unit) is not empty and there were problems
  type: list
  elements: str
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai4artsed.devserver.plugins.module_utils.bounded_http import HttpFailure
from ansible_collections.ai4artsed.devserver.plugins.module_utils.bounded_run import CommandTimedOut
from ansible_collections.ai4artsed.devserver.plugins.module_utils.bounded_run import run as run_bounded
from ansible_collections.ai4artsed.devserver.plugins.module_utils.comfyui import (
    ComfyUI,
    broken_link,
    check_packs,
    classes_by_pack,
    compare_models,
    compare_packages,
    expected_by_folder,
    import_failures,
    packs_in,
    parse_systemctl_show,
    unit_crash,
)

# While ComfyUI starts, nothing may listen yet or the connection may break: keep waiting on these.
NOT_UP_YET = ("refused", "no_answer", "broken")
UNIT_PROPERTIES = ("ActiveState", "SubState", "NRestarts", "InvocationID", "MainPID")
INSTALLED_VERSIONS = ("import importlib.metadata as m, json; "
                      "print(json.dumps(dict((d.metadata['Name'], d.version) for d in m.distributions() "
                      "if d.metadata['Name'])))")
MODEL_RECORD = ".ai4artsed-model-links.json"
COMMAND_TIMEOUT = 60  # systemctl, journalctl and the venv's python; a hung one is reported, not waited for


class CheckFailed(Exception):
    """A problem that ends the check early (ComfyUI down); the message says what and where."""


class Unit(object):
    """The systemd side: the unit's state and its journal."""

    def __init__(self, name):
        self.name = name

    def _run(self, args):
        try:
            rc, out, err = run_bounded(args, COMMAND_TIMEOUT)
        except CommandTimedOut as error:
            raise CheckFailed("%s Is systemd or the journal stuck? Try it by hand." % error)
        return out if rc == 0 else ""

    def state(self):
        args = ["systemctl", "show"]
        for prop in UNIT_PROPERTIES:
            args += ["-p", prop]
        return parse_systemctl_show(self._run(args + [self.name]))

    def journal_of_this_start(self, invocation):
        """The log lines since the unit's last start (its invocation), else the last 2000 lines."""
        if invocation:
            out = self._run(["journalctl", "--no-pager", "-o", "cat", "_SYSTEMD_INVOCATION_ID=" + invocation])
        else:
            out = self._run(["journalctl", "--no-pager", "-o", "cat", "-u", self.name, "-n", "2000"])
        return out.splitlines()

    def tail(self, lines):
        return self._run(["journalctl", "--no-pager", "-u", self.name, "-n", str(lines)]).splitlines()


def installed_versions(venv):
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        return None
    try:
        rc, out, err = run_bounded([python, "-c", INSTALLED_VERSIONS], COMMAND_TIMEOUT)
    except CommandTimedOut as error:
        raise CheckFailed("%s could not list its packages: %s Try the command by hand in the venv." % (python, error))
    if rc != 0:
        raise CheckFailed("%s could not list its packages: %s" % (python, (err or out).strip()))
    try:
        return json.loads(out)
    except ValueError:
        raise CheckFailed("%s printed something other than its packages as JSON: %s" % (python, out.strip()[:200]))


def wait_for_comfyui(comfyui, unit, timeout):
    """GET /system_stats until it answers; CheckFailed when the unit dies first or time runs out.

    At the end the message is the last failure: "did not answer" only when nothing answered.
    """
    first = unit.state() if unit else {}
    deadline = time.time() + timeout
    while True:
        if unit:
            crash = unit_crash(first, unit.state())
            if crash:
                raise CheckFailed("ComfyUI did not start: %s." % crash)
        try:
            stats = comfyui.system_stats(deadline=5)
            failure = None if stats is not None else "GET %s/system_stats answered 404" % comfyui.url
        except HttpFailure as error:
            stats, failure = None, error
        if stats is not None:
            return stats
        if time.time() >= deadline:
            if getattr(failure, "kind", None) in NOT_UP_YET:
                raise CheckFailed("ComfyUI did not answer GET %s/system_stats within %d seconds: %s"
                                  % (comfyui.url, timeout, failure))
            raise CheckFailed("ComfyUI at %s is not ready after %d seconds: %s" % (comfyui.url, timeout, failure))
        time.sleep(1)


def node_entries(nodes_dir):
    """(name, is_file) of what ComfyUI finds in custom_nodes/ (it follows a linked folder)."""
    real = os.path.realpath(nodes_dir)
    return [(name, os.path.isfile(os.path.join(real, name))) for name in os.listdir(real)]


def symlinks_below(models_dir):
    """Every symlink below models/ that is not a folder, relative to it (what model_links makes)."""
    links = []
    for parent, dirs, files in os.walk(models_dir):
        for name in files:
            path = os.path.join(parent, name)
            if os.path.islink(path):
                links.append(os.path.relpath(path, models_dir))
    return sorted(links)


def broken_links(models_dir, links):
    broken = {}
    for link in links:
        path = os.path.join(models_dir, link)
        target = os.readlink(path) if os.path.islink(path) else None
        why = broken_link(os.path.lexists(path), target, os.path.isfile(path))
        if why:
            broken[link] = why
    return broken


def check_venv(module, params, result):
    installed = installed_versions(params["venv"])
    if installed is None:
        result["packages"] = []
        return ["the venv %s does not exist" % params["venv"]]
    try:
        rows, problems = compare_packages(params["requirements"], installed)
    except ValueError as error:
        module.fail_json(msg=str(error))
    result["packages"] = rows
    return problems


def check_nodes(comfyui, unit, params, result):
    if not os.path.isdir(params["nodes_dir"]):
        result["nodes"] = []
        return ["the custom nodes folder %s does not exist" % params["nodes_dir"]]
    journal = unit.journal_of_this_start(result.get("unit", {}).get("InvocationID")) if unit else []
    classes = classes_by_pack(comfyui.object_info())
    rows, problems = check_packs(packs_in(node_entries(params["nodes_dir"])), import_failures(journal), classes)
    result["nodes"] = rows
    return problems


def check_models(comfyui, params, result):
    models_dir = params["models_dir"]
    links = params["expected_links"]
    if links is None:
        links = symlinks_below(models_dir) if os.path.isdir(models_dir) else []
    links = [link for link in links if link != MODEL_RECORD]
    expected = expected_by_folder(links)
    listed = dict((folder, comfyui.models(folder)) for folder in expected)
    rows, lines, problems = compare_models(expected, listed, broken_links(models_dir, links))
    result["models"], result["model_lines"] = rows, lines
    return problems


def run_checks(module, params, result):
    problems = []
    if params["venv"]:
        problems += check_venv(module, params, result)
    if not params["url"]:
        return problems
    comfyui = ComfyUI(params["url"])
    unit = Unit(params["unit"]) if params["unit"] else None
    result["system_stats"] = wait_for_comfyui(comfyui, unit, params["wait_timeout"])
    if unit:
        result["unit"] = unit.state()
    if params["nodes_dir"]:
        problems += check_nodes(comfyui, unit, params, result)
    if params["models_dir"]:
        problems += check_models(comfyui, params, result)
    return problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str"),
            wait_timeout=dict(type="int", default=0),
            unit=dict(type="str", default="comfyui"),
            journal_lines=dict(type="int", default=60),
            nodes_dir=dict(type="path"),
            models_dir=dict(type="path"),
            expected_links=dict(type="list", elements="str"),
            venv=dict(type="path"),
            requirements=dict(type="list", elements="str", default=[]),
            fail_on_problems=dict(type="bool", default=True),
        ),
        required_by={"nodes_dir": "url", "models_dir": "url"},
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False, "problems": []}
    unit = Unit(params["unit"]) if params["unit"] else None
    try:
        result["problems"] = run_checks(module, params, result)
    except (CheckFailed, HttpFailure) as error:
        result["problems"].append(str(error))
    if result["problems"] and unit and params["url"]:
        result["unit"] = unit.state()
        result["journal_tail"] = unit.tail(params["journal_lines"])
    if result["problems"] and params["fail_on_problems"]:
        tail = result.get("journal_tail")
        log = ("\nThe end of `journalctl -u %s`:\n%s" % (params["unit"], "\n".join(tail))) if tail else ""
        module.fail_json(msg="; ".join(result["problems"]) + log, **result)
    result["msg"] = "; ".join(result["problems"]) or "ComfyUI is as wanted"
    module.exit_json(**result)


if __name__ == "__main__":
    main()
