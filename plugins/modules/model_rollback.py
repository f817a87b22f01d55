#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_rollback
short_description: Put archived model files back by replaying the archive ledger backwards
version_added: "0.1.0"
description:
  - Reads C(ledger.jsonl) in O(archive_root) (written by M(ai4artsed.devserver.model_archive),
    M(ai4artsed.devserver.model_links) and C(hf_model)) and moves every file that is still archived back to where
    it came from, newest move first. Merge moves (C(VAE/) into C(vae/)) are undone the same way.
  - Never overwrites. When something exists at the original place again, that entry is left in the archive and
    reported in RV(conflicts); when the archived file is gone, it is reported in RV(missing).
  - Each restoration is appended to the ledger as a line with C(action=restore), so a second run reports no change.
  - Lines that moved no bytes are not replayed, for example C(action=unlink), a symlink that
    M(ai4artsed.devserver.model_links) removed (the line keeps its value).
  - Obeys only lines of its own ledger, because whoever can write C(ledger.jsonl) could otherwise make this
    module (run as root) move any file anywhere. A line is replayed only when its archive path (C(to)) lies inside
    O(archive_root) (or, for a move between live folders such as a merge or a ComfyUI-only file moved out of the
    store, inside one of O(roots)), its store path (C(from)) lies inside the root the line records (C(root)), and
    that root is one of O(roots) or below one. Paths must be absolute and normalised (no C(..)), and no folder
    between a root and the path may be a symlink. Any other line is reported in RV(refused) and as a warning, and
    skipped; nothing is moved for it, and the module does not fail because of it.
  - Lines written before the root was recorded have no C(root). Such a legacy line is replayed only when its
    store path lies inside one of O(roots) and its archive path inside O(archive_root) (or one of O(roots));
    otherwise it is refused with C(no root recorded).
  - Fails at once, naming the path, when C(ledger.jsonl) is a symlink, a FIFO, a socket, a device or a directory.
  - A line that is not a JSON record (torn by a crash while appending) does not stop the rollback. Every complete
    record is read, and the torn line is reported in RV(ledger_problems) and as a warning, as is a torn line set
    aside earlier in C(ledger.torn-<time>). A complete record glued onto a torn line by an older version is read.
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  archive_root:
    description:
      - The archive that holds C(ledger.jsonl).
    type: path
    required: true
  roots:
    description:
      - The roots this rollback may put files back into, for example the model store and ComfyUI's C(models/)
        folder. A ledger line whose recorded root is not one of these (or below one) is refused.
      - Compared as written after normalising, not after resolving symlinks, so give them as the roles do
        (C(model_store_root), C(model_store_comfyui_models_dir)).
    type: list
    elements: path
    required: true
  since:
    description:
      - Only undo moves made at or after this time (ISO 8601, for example C(2026-11-27T10:00:00Z); a time
        without zone is UTC).
    type: str
  path_prefix:
    description:
      - Only undo moves whose original path is this path or below it.
    type: path
attributes:
  check_mode:
    support: full
    description: Reports what it would restore, the conflicts and the missing entries; moves nothing.
  diff_mode:
    support: full
    description: Lists each file before (in the archive) and after (back in place).
seealso:
  - module: ai4artsed.devserver.model_archive
"""

EXAMPLES = r"""
- name: Put back everything archived since this morning under the ComfyUI models folder
  ai4artsed.devserver.model_rollback:
    archive_root: /home/ai4artsed/ai/model-archive
    roots:
      - /home/ai4artsed/ai/SwarmUI/Models
      - /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/models
    since: "2026-11-27T06:00:00Z"
    path_prefix: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/models
  register: rollback
"""

RETURN = r"""
changed:
  description: Whether a file was (or in check mode would be) put back.
  returned: always
  type: bool
restored:
  description: The entries put back (in check mode, those that would be), newest first.
  returned: always
  type: list
  elements: dict
  sample: [{from: /home/ai4artsed/ai/model-archive/vae/a.safetensors,
            to: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/models/vae/a.safetensors, size: 335304388}]
conflicts:
  description: Entries left in the archive because their original place is taken; C(problem) says by what.
  returned: always
  type: list
  elements: dict
missing:
  description: Entries whose archived file is no longer where the ledger says.
  returned: always
  type: list
  elements: dict
refused:
  description:
    - Ledger lines not replayed because they are not this archive's own (forged, or written for another store),
      newest first; nothing was moved for them. C(problem) says why, for example C(archive path outside
      archive_root), C(store path outside the root it names), C(root not one this rollback restores into) or
      C(no root recorded).
  returned: always
  type: list
  elements: dict
  sample: [{from: /home/ai4artsed/.ssh/authorized_keys, to: /home/ai4artsed/ai/SwarmUI/Models/keys,
            state: refused, problem: "Not replayed: archive path outside archive_root: ..."}]
ledger_problems:
  description: Torn ledger lines skipped, and torn lines set aside earlier; each a sentence naming the line or file.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.archive import ArchiveError
from ansible_collections.ai4artsed.devserver.plugins.module_utils.rollback import apply_rollback, plan_rollback


def main():
    module = AnsibleModule(
        argument_spec={
            "archive_root": {"type": "path", "required": True},
            "roots": {"type": "list", "elements": "path", "required": True},
            "since": {"type": "str"},
            "path_prefix": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False, "restored": [], "conflicts": [], "missing": [], "refused": [], "ledger_problems": []}
    try:
        plan = plan_rollback(params["archive_root"], params["roots"], since=params["since"],
                             path_prefix=params["path_prefix"], problems=result["ledger_problems"])
        for problem in result["ledger_problems"]:
            module.warn(problem)
        states = (("restore", "restored"), ("conflict", "conflicts"), ("missing", "missing"), ("refused", "refused"))
        for state, key in states:
            result[key] = [entry for entry in plan if entry["state"] == state]
        result["changed"] = bool(result["restored"])
        for entry in result["conflicts"] + result["refused"]:
            module.warn(entry["problem"])
        if module._diff and result["restored"]:
            result["diff"] = {
                "before": "".join("%s (archived)\n" % entry["from"] for entry in result["restored"]),
                "after": "".join("%s (restored)\n" % entry["to"] for entry in result["restored"]),
            }
        if result["changed"] and not module.check_mode:
            apply_rollback(params["archive_root"], plan)
    except ArchiveError as error:
        module.fail_json(msg=str(error), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
