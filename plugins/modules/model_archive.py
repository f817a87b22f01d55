#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_archive
short_description: Move model files into an archive with a ledger, never delete them
version_added: "0.1.0"
description:
  - Moves files and folders out of the model store O(root) into O(archive_root), keeping their path relative to
    O(root). Nothing is ever deleted and nothing in the archive is overwritten; a name that is taken gets a
    suffix such as C(.archived-1).
  - Every move is appended to C(ledger.jsonl) in O(archive_root) as one JSON line with C(time), C(from), C(to),
    C(size), C(sha256) (computed for every archived regular file) and C(reason).
    M(ai4artsed.devserver.model_rollback) replays it backwards.
  - O(merge) merges deprecated uppercase folders into their lowercase names (C(VAE/) into C(vae/), C(Lora/) into
    C(loras/)). Files absent from the destination are moved there, identical duplicates (size and sha256) are
    archived, and conflicting ones are kept where they are and reported in RV(conflicts). The emptied deprecated
    folder is archived too.
  - With O(archive_unlisted=true), every regular file under O(root) that O(listed) leaves out, and that is not below
    a folder of O(listed_prefixes), is archived. Names starting with a dot are never touched.
  - Moves use a rename on one filesystem. An archive on another filesystem is refused with a message; files are
    never copied and deleted.
  - Every check a move makes (inside O(root), no symlinked parent, one filesystem) runs for the whole plan before
    the first move, so a refusal moves nothing and reports C(changed=false), in check mode too.
  - Each ledger line is appended under an exclusive lock. A torn last line left by a crash while appending is
    copied to C(ledger.torn-<time>) next to the ledger and cut off first (a note line says where it went), so
    every record starts on its own line and nothing is lost.
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  root:
    description:
      - The tree files are taken from, normally the model store C(SwarmUI/Models).
    type: path
    required: true
  archive_root:
    description:
      - Where files go, with the ledger C(ledger.jsonl). Must be on the filesystem of O(root).
    type: path
    required: true
  paths:
    description:
      - Files or folders to archive, relative to O(root) (or absolute inside it). Missing ones are skipped, so a
        second run reports no change.
    type: list
    elements: path
    default: []
  merge:
    description:
      - Deprecated folders to merge into their current names, in order.
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: The deprecated folder, relative to O(root), for example C(VAE).
        type: str
        required: true
      dest:
        description: The folder it merges into, relative to O(root), for example C(vae).
        type: str
        required: true
  archive_unlisted:
    description:
      - Archive every regular file under O(root) whose path relative to O(root) is not in O(listed).
      - Off by default; turn it on only with a complete O(listed), for example from the model manifest.
    type: bool
    default: false
  listed:
    description:
      - Files (relative to O(root)) that O(archive_unlisted) keeps.
    type: list
    elements: str
    default: []
  listed_prefixes:
    description:
      - Folders (relative to O(root)) whose files O(archive_unlisted) keeps, whatever they hold, for example the
        folder of a multi-file model (the C(listed_prefixes) of M(ai4artsed.devserver.model_manifest)), which holds
        the files its patterns matched.
    type: list
    elements: str
    default: []
  reason:
    description:
      - Reason written to the ledger for O(paths).
    type: str
    default: archived by model_archive
attributes:
  check_mode:
    support: full
    description: Computes the same plan as a real run and reports it; nothing is moved.
  diff_mode:
    support: full
    description: Lists each path before (in the store) and after (in the archive or merge destination).
seealso:
  - module: ai4artsed.devserver.model_links
  - module: ai4artsed.devserver.model_rollback
"""

EXAMPLES = r"""
- name: Merge the deprecated uppercase folders into the lowercase ones
  ai4artsed.devserver.model_archive:
    root: /home/ai4artsed/ai/SwarmUI/Models
    archive_root: /home/ai4artsed/ai/model-archive
    merge:
      - {src: VAE, dest: vae}
      - {src: Lora, dest: loras}
  register: merged

- name: Archive one model that is no longer wanted
  ai4artsed.devserver.model_archive:
    root: /home/ai4artsed/ai/SwarmUI/Models
    archive_root: /home/ai4artsed/ai/model-archive
    paths:
      - Stable-Diffusion/old_model.safetensors
    reason: replaced by the new release

- name: Archive store files the manifest no longer lists (opt-in; plan is the registered model_manifest result)
  ai4artsed.devserver.model_archive:
    root: /home/ai4artsed/ai/SwarmUI/Models
    archive_root: /home/ai4artsed/ai/model-archive
    archive_unlisted: true
    listed: "{{ plan.listed.store }}"
    listed_prefixes: "{{ plan.listed_prefixes.store }}"
"""

RETURN = r"""
changed:
  description: Whether anything was (or in check mode would be) moved.
  returned: always
  type: bool
planned:
  description:
    - The moves in order. C(action) is C(archive) (into the archive) or C(move) (into a merge destination).
  returned: always
  type: list
  elements: dict
  sample: [{action: move, path: /home/ai4artsed/ai/SwarmUI/Models/VAE/a.safetensors,
            to: /home/ai4artsed/ai/SwarmUI/Models/vae/a.safetensors, reason: merge of deprecated VAE/ into vae/}]
conflicts:
  description: Files of a deprecated folder that differ from the file of the same name in the destination; both kept.
  returned: always
  type: list
  elements: dict
records:
  description: The ledger records written (empty in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{time: "2026-11-27T10:00:00.000000+00:00", from: /home/ai4artsed/ai/SwarmUI/Models/VAE/a.safetensors,
            to: /home/ai4artsed/ai/model-archive/VAE/a.safetensors, size: 335304388,
            sha256: 0f4c2a7e9d1b3c5a6e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d,
            reason: identical duplicate}]
ledger:
  description: Path of the ledger.
  returned: always
  type: str
  sample: /home/ai4artsed/ai/model-archive/ledger.jsonl
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.archive import LEDGER_NAME, ArchiveError
from ansible_collections.ai4artsed.devserver.plugins.module_utils.store_cleanup import apply_archive_plan, plan_model_archive


def _diff(plan, root):
    before, after = [], []
    for entry in plan:
        if entry["action"] in ("archive", "move"):
            name = os.path.relpath(entry["path"], root)
            before.append(name)
            after.append("%s -> %s (%s)" % (name, entry.get("to", "archive"), entry["reason"]))
    return {"before_header": root, "after_header": root, "before": "\n".join(before) + "\n",
            "after": "\n".join(after) + "\n"}


def main():
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "archive_root": {"type": "path", "required": True},
            "paths": {"type": "list", "elements": "path", "default": []},
            "merge": {"type": "list", "elements": "dict", "default": [], "options": {
                "src": {"type": "str", "required": True},
                "dest": {"type": "str", "required": True},
            }},
            "archive_unlisted": {"type": "bool", "default": False},
            "listed": {"type": "list", "elements": "str", "default": []},
            "listed_prefixes": {"type": "list", "elements": "str", "default": []},
            "reason": {"type": "str", "default": "archived by model_archive"},
        },
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False, "planned": [], "conflicts": [], "records": [],
              "ledger": os.path.join(params["archive_root"], LEDGER_NAME)}
    try:
        plan = plan_model_archive(params["root"], params["archive_root"], paths=params["paths"],
                                  merges=params["merge"], archive_unlisted=params["archive_unlisted"],
                                  listed=params["listed"], reason=params["reason"],
                                  listed_prefixes=params["listed_prefixes"])
        moves = [entry for entry in plan if entry["action"] in ("archive", "move")]
        result.update(changed=bool(moves), planned=moves,
                      conflicts=[entry for entry in plan if entry["action"] in ("conflict", "skip")])
        for entry in result["conflicts"]:
            module.warn(entry["problem"])
        if module._diff and moves:
            result["diff"] = _diff(plan, os.path.abspath(params["root"]))
        if moves and not module.check_mode:
            apply_archive_plan(params["root"], params["archive_root"], plan, done=result["records"])
    except ArchiveError as error:
        # Changed only when something moved before the refusal (the checks run before the first move).
        result["changed"] = bool(result["records"])
        module.fail_json(msg=str(error), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
