#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_manifest
short_description: Validate the model manifest and plan the model store from it
version_added: "0.1.0"
description:
  - Validates the model manifest (C(roles/model_store/files/manifest.yml), documented in
    C(docs/model-manifest.md)) together with O(extra_models), and fails with every problem at once, each naming
    its entry, for unknown keys, duplicate or overlapping destinations, absolute or escaping paths (C(..)), a
    missing C(repo_id), C(path) or C(allow_patterns), a bad C(media), C(root) or C(sha256), and unknown workflows.
  - Selects the entries the chosen workflows need (O(media), O(workflows)); every entry of O(extra_models) is
    always selected.
  - Returns what the other modules take, so no playbook logic rebuilds it, the
    M(ai4artsed.devserver.hf_model) C(files) list per root, the M(ai4artsed.devserver.model_links) C(links) dict,
    the files a prune keeps, the gated repositories with their licence pages, the bytes still missing and the
    VRAM the selected workflows need, and the files a selected workflow loads that no selected entry provides.
  - Reads only. It stats the destinations below O(store_root) and O(comfyui_root) to count missing bytes.
  - With O(owner), it also reads in the same call what the role's other steps would find to fix, RV(host), that is free
    space on the store's filesystem, the downloads that are not pinned and in place, the O(folders) that are missing or not owned by O(owner):O(group) with mode
    0755, the deprecated O(merge_sources) that still exist, and the first path below each root not owned by the
    account. A re-run that finds nothing off then skips those steps instead of calling a module only to learn
    that nothing changed.
  - Decides the preflight in the same call, RV(refusals) with RV(notes) and RV(summary), so the role prints them and
    asserts that nothing was refused. It refuses gated repositories without a token (O(token)), downloads that do
    not fit on the store's filesystem with O(free_space_margin_mb) to spare, and selected workflows that need more
    memory than the largest GPU of O(gpu_memory_mib) has (unless O(check_vram=false)). The messages name the
    M(ai4artsed.devserver.model_store) role's variables, where a user changes the selection.
  - With O(owner) and O(report_path), it also builds the storage report of the store as it is now
    (M(ai4artsed.devserver.model_storage_report)'s text) and says whether O(report_path) already holds it, so a
    re-run that changes nothing neither walks the store twice nor writes the report.
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  manifest:
    description:
      - The parsed manifest, a dict with the keys C(workflows) and C(models).
    type: dict
    required: true
  extra_models:
    description:
      - The user's own entries, with the keys of a manifest entry. Always selected.
    type: list
    elements: dict
    default: []
  media:
    description:
      - Workflow media to select, any of V(image), V(video) and V(audio). An empty list selects no workflow.
    type: list
    elements: str
    default: [image, video, audio]
  workflows:
    description:
      - When not empty, only these workflows (of the selected O(media)) are selected.
    type: list
    elements: str
    default: []
  store_root:
    description:
      - The model store, C(SwarmUI/Models), where entries with C(root=store) go.
    type: path
  comfyui_root:
    description:
      - ComfyUI's C(models/) folder, where entries with C(root=comfyui) go and the links live.
    type: path
  owner:
    description:
      - The account that owns the store. When given, RV(host) is returned.
    type: str
  group:
    description:
      - The group of O(owner). Required with O(owner).
    type: str
  folders:
    description:
      - Folders the role creates, owned by O(owner):O(group) with mode 0755; those that are not are listed in
        RV(host.folders_off).
    type: list
    elements: path
    default: []
  merge_sources:
    description:
      - Names of deprecated folders below O(store_root) (C(VAE), C(Lora)); those that exist are listed in
        RV(host.merge_sources).
    type: list
    elements: str
    default: []
  check_updates:
    description:
      - Whether an entry that follows a branch (not pinned to a commit) stays in RV(host.to_check) while its file
        is in place, so that hf_model asks the hub whether the branch moved. With V(false), only missing or
        drifted files of such entries are checked, and a re-run needs no network.
    type: bool
    default: true
  archive_root:
    description:
      - The model archive, for the storage report (RV(host.report)).
    type: path
  report_path:
    description:
      - Where the role writes the storage report. With O(owner), RV(host.report) is returned.
    type: path
  token:
    description:
      - Hugging Face access token; the preflight refuses gated repositories without one (RV(refusals)).
      - Falls back to the E(HF_TOKEN) environment variable of the target, the same rule as
        M(ai4artsed.devserver.hf_model), so the plan checks the token the downloads will use. Never logged.
    type: str
  free_space_margin_mb:
    description:
      - Megabytes (10^6 bytes) that must stay free on the filesystem of O(store_root) after the downloads.
    type: int
    default: 1024
  gpu_memory_mib:
    description:
      - The memory of each GPU of the host in MiB, null where it is not known (the C(memory_mib) of the
        C(nvidia_driver_gpus) facts). The largest is compared with the C(vram_gb) of the selected workflows
        (MiB / 1024). Empty, or all null, skips that check with a note.
    type: list
    elements: raw
    default: []
  check_vram:
    description:
      - Whether to refuse selected workflows that need more memory than the largest GPU has.
    type: bool
    default: true
extends_documentation_fragment:
  - ai4artsed.devserver.read_only
seealso:
  - module: ai4artsed.devserver.hf_model
  - module: ai4artsed.devserver.model_links
  - module: ai4artsed.devserver.model_archive
"""

EXAMPLES = r"""
- name: Plan the image models of the manifest
  ai4artsed.devserver.model_manifest:
    manifest: "{{ lookup('ansible.builtin.file', 'manifest.yml') | from_yaml }}"
    media: [image]
    store_root: /home/ai4artsed/ai/SwarmUI/Models
    comfyui_root: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/models
  register: plan

- name: Download the planned store files
  ai4artsed.devserver.hf_model:
    root: /home/ai4artsed/ai/SwarmUI/Models
    files: "{{ plan.downloads.store }}"
"""

RETURN = r"""
entries:
  description: How many entries the manifest and O(extra_models) hold together.
  returned: success
  type: int
  sample: 30
selected:
  description: Names of the selected entries, in manifest order.
  returned: success
  type: list
  elements: str
workflows:
  description: Names of the selected workflows.
  returned: success
  type: list
  elements: str
  sample: [flux2, sd35_large]
downloads:
  description: The M(ai4artsed.devserver.hf_model) C(files) list for each root, C(store) and C(comfyui).
  returned: success
  type: dict
  sample: {store: [{repo_id: Comfy-Org/flux2-dev, filename: split_files/vae/flux2-vae.safetensors,
                    dest: vae/Flux/flux2-vae.safetensors, revision: main, size: 336213556}], comfyui: []}
links:
  description: The M(ai4artsed.devserver.model_links) C(links) dict, link below O(comfyui_root) to file in the store.
  returned: success
  type: dict
  sample: {vae/flux2-vae.safetensors: vae/Flux/flux2-vae.safetensors}
links_ready:
  description: The part of RV(links) whose store file exists already (what check mode on a fresh host can link).
  returned: success
  type: dict
listed:
  description:
    - Files each root keeps (paths relative to the root), for a prune with M(ai4artsed.devserver.model_archive).
    - Multi-file entries contribute the files found in their folder; their folder is in RV(listed_prefixes) too.
  returned: success
  type: dict
listed_prefixes:
  description:
    - Folders of multi-file entries (C(allow_patterns)) per root, C(store) and C(comfyui). Every file below one is
      managed, also one downloaded after this plan, so a prune or the storage report after the downloads needs no
      second plan.
  returned: success
  type: dict
  sample: {store: [], comfyui: [musicgen, stableaudio/stable-audio-open-1.0]}
refusals:
  description:
    - What the preflight refuses, each with C(check) (V(gated), V(space) or V(vram)) and C(msg), which says what is
      wrong and what to do. Empty when the selection can be installed.
  returned: success
  type: list
  elements: dict
  sample: [{check: vram, msg: "The largest GPU has 16 GB of memory, but the selected workflows need up to 24 GB: ..."}]
notes:
  description:
    - What the role prints besides the refusals, a warning per selected workflow that loads a file no selected entry
      provides, and why the VRAM check was skipped.
  returned: success
  type: list
  elements: str
summary:
  description: The selection in three lines, workflows, selected entries, and what is still to download.
  returned: success
  type: list
  elements: str
  sample: ["workflows: flux2", "files: 4 of 30 entries selected", "still to download: 0 entries, 0.0 GB of known size"]
gated:
  description: Selected entries from gated repositories, each with C(name), C(repo_id) and C(licence_page).
  returned: success
  type: list
  elements: dict
known_bytes:
  description: Bytes of the selected files whose size the manifest records.
  returned: success
  type: int
missing_bytes:
  description: Bytes of those files not yet in place (missing files, and the rest of files of the wrong size).
  returned: success
  type: int
unknown_size:
  description: Selected entries without a recorded size (multi-file models, files whose size is not known).
  returned: success
  type: list
  elements: str
missing:
  description: Selected entries not yet in place.
  returned: success
  type: list
  elements: str
fetch:
  description:
    - RV(missing) split by root, C(store) and C(comfyui). An empty list means the batch has nothing to download,
      so the role checks it with one short M(ai4artsed.devserver.hf_model) call instead of a background job.
  returned: success
  type: dict
  sample: {store: [flux2-vae], comfyui: []}
missing_by_workflow:
  description:
    - For each selected workflow whose loaders name a file (its C(loads) in the manifest) that no selected entry
      links into or puts in O(comfyui_root), the paths of those files below ComfyUI's C(models/) folder.
    - Empty when every selected workflow has all its files. The role warns with these names.
  returned: success
  type: dict
  sample: {sd35_large: [clip/clip_l.safetensors]}
roots_exist:
  description:
    - Whether O(store_root) and O(comfyui_root) both exist as folders (false on a fresh host, where check mode
      reports plans instead of running the steps that need them).
  returned: success
  type: bool
host:
  description:
    - What the role's steps would find to fix on the host. Only with O(owner).
  returned: when O(owner) is given
  type: dict
  contains:
    free_bytes:
      description: Bytes free for the service account on the filesystem of O(store_root) (or its nearest parent).
      type: int
      sample: 412316860416
    free_human:
      description: RV(host.free_bytes) for people.
      type: str
      sample: 384.0 GB
    mount:
      description: The mount point of that filesystem.
      type: str
      sample: /home
    account_known:
      description: Whether the host knows O(owner) and O(group) (false in check mode on a fresh host).
      type: bool
    folders_off:
      description: The O(folders) that are missing, not a real folder, or not owned as asked with mode 0755.
      type: list
      elements: str
    merge_sources:
      description: The O(merge_sources) that exist below O(store_root).
      type: list
      elements: str
    to_check:
      description:
        - RV(downloads) per batch less the entries a M(ai4artsed.devserver.hf_model) run would not change, those
          in place as their record describes them at the commit they are pinned to (with O(check_updates=false),
          also at the commit their branch had when they were downloaded), owned by O(owner):O(group) with mode
          0644. The role checks only these, and calls nothing when both are empty.
      type: dict
      sample: {store: [], comfyui: []}
    not_owned:
      description:
        - The first path below O(store_root) (C(store)) and below O(comfyui_root) (C(comfyui)) not owned by
          O(owner):O(group), links not followed, or null where everything is.
      type: dict
      sample: {store: null, comfyui: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/models/clip}
    report:
      description:
        - The storage report of the store as it is now (C(markdown)), and whether O(report_path) holds that text
          already, owned by O(owner):O(group) with mode 0644 (C(current)). Only with O(report_path).
      type: dict
      sample: {markdown: "# Model storage report ...", current: true}
vram_gb:
  description: The largest C(vram_gb) of the selected workflows (0 when none is selected).
  returned: success
  type: int
  sample: 24
vram_by_workflow:
  description: C(vram_gb) of each selected workflow.
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import disk_space, human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_token import token_option
from ansible_collections.ai4artsed.devserver.plugins.module_utils.manifest import ManifestError, plan
from ansible_collections.ai4artsed.devserver.plugins.module_utils.store_plan import Measured, largest_gpu_mib, verdicts
from ansible_collections.ai4artsed.devserver.plugins.module_utils.store_state import inspect_host, report_state


def main():
    module = AnsibleModule(
        argument_spec={
            "manifest": {"type": "dict", "required": True},
            "extra_models": {"type": "list", "elements": "dict", "default": []},
            "media": {"type": "list", "elements": "str", "default": ["image", "video", "audio"]},
            "workflows": {"type": "list", "elements": "str", "default": []},
            "store_root": {"type": "path"},
            "comfyui_root": {"type": "path"},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "folders": {"type": "list", "elements": "path", "default": []},
            "merge_sources": {"type": "list", "elements": "str", "default": []},
            "check_updates": {"type": "bool", "default": True},
            "archive_root": {"type": "path"},
            "report_path": {"type": "path"},
            "token": token_option(),
            "free_space_margin_mb": {"type": "int", "default": 1024},
            "gpu_memory_mib": {"type": "list", "elements": "raw", "default": []},
            "check_vram": {"type": "bool", "default": True},
        },
        required_together=[("owner", "group")],
        required_by={"owner": ("store_root", "comfyui_root")},
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = plan(params["manifest"], params["extra_models"], media=params["media"],
                      workflows=params["workflows"], store_root=params["store_root"],
                      comfyui_root=params["comfyui_root"])
    except ManifestError as error:
        module.fail_json(msg=str(error), problems=error.problems)
    if params["owner"]:
        result["host"] = inspect_host(params["store_root"], params["comfyui_root"], params["owner"], params["group"],
                                      params["folders"], params["merge_sources"], result["downloads"],
                                      params["check_updates"])
        if params["report_path"]:
            result["host"]["report"] = report_state(params["store_root"], params["comfyui_root"],
                                                    params["archive_root"], result["listed"], params["report_path"],
                                                    params["owner"], params["group"],
                                                    listed_prefixes=result["listed_prefixes"])
    result.update(verdicts(result, measure(params, result.get("host")), params["comfyui_root"]))
    module.exit_json(changed=False, **result)


def measure(params, host):
    """What the preflight compares the plan with; free space as inspect_host measured it, when it ran."""
    free = dict((key, host[key]) for key in ("free_bytes", "free_human", "mount")) if host else None
    if free is None and params["store_root"]:
        space = disk_space(params["store_root"])
        free = {"free_bytes": space.free_bytes, "free_human": human_bytes(space.free_bytes), "mount": space.mount}
    free = free or {"free_bytes": None, "free_human": None, "mount": None}
    return Measured(margin_bytes=params["free_space_margin_mb"] * 1000 ** 2,
                    gpu_memory_mib=largest_gpu_mib(params["gpu_memory_mib"]),
                    check_vram=params["check_vram"], token_given=bool(params["token"]), **free)


if __name__ == "__main__":
    main()
