#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_links
short_description: Keep ComfyUI's models/ folder as real directories with one relative symlink per shared file
version_added: "0.1.0"
description:
  - Makes the link tree under O(link_root) (ComfyUI's C(models/) folder) match the declared O(links), each one a
    relative symlink to a file in the model store O(store_root) (SwarmUI's C(Models/)).
  - A directory-level symlink anywhere under O(link_root) is replaced by a real directory holding one relative
    symlink per file it exposed, so nothing ComfyUI could see disappears. ComfyUI needs real directories.
  - Missing, wrong, absolute and broken declared links are (re)created as relative links that resolve.
  - Links this module made earlier and that are no longer declared are removed, but only when they are symlinks
    into the store. What it manages is recorded in C(.ai4artsed-model-links.json) in O(link_root).
    Unmanaged files and links are left alone.
  - A real file where a link is declared is moved to the archive (with a ledger line, see
    M(ai4artsed.devserver.model_archive)) when it is identical to the store file (size and sha256), and then
    replaced by the link. When it differs the module fails with both paths and sizes, unless
    O(on_conflict=archive).
  - Nothing is ever deleted. The only things removed are symlinks; everything else is moved into the archive.
    Each removed directory-level symlink, and each symlink removed because it was in the way of a directory,
    gets a ledger line (C(action=unlink), with the link's value; dangling ones say so).
  - Paths in O(real_files) hold real files, not links (ComfyUI-only downloads such as C(clip/t5-base.safetensors)).
    When a directory-level symlink is expanded, a store file at such a path (written through the link into the
    store) is moved into the new real folder instead of being linked. A symlink already at such a path is replaced
    by the store file it points to (one rename), and a dangling one is removed. Each move is a ledger line.
  - The whole plan is computed first. When any declared link cannot be reached safely, the module fails and
    changes nothing. Check mode reports the same plan without acting on it.
  - A re-check is fast. After a full check that found nothing to do, the record also keeps the stat values
    (inode, device, mode, mtime, ctime) of every directory under O(link_root), of every store folder holding a
    target and of its parents, and the time of the check. The next run with the same O(links) and options
    reads no link while all those directories are unchanged and none changed within 2 seconds of that check
    (as git treats racy index entries); otherwise it checks everything, see O(verify).
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  link_root:
    description:
      - The real directory that holds the links, for example C(SwarmUI/dlbackend/ComfyUI/models).
      - Refused when it is a symlink.
    type: path
    required: true
  store_root:
    description:
      - The model store the links point into, for example C(SwarmUI/Models).
    type: path
    required: true
  archive_root:
    description:
      - Where files in the way are moved to, with a line each in C(ledger.jsonl).
      - Must be on the filesystem of O(link_root); files are moved, never copied and deleted.
      - Must not be inside O(link_root) or O(store_root), nor contain them.
    type: path
    required: true
  links:
    description:
      - The declared links, C(link path relative to link_root) to C(file relative to store_root).
      - Every target must be a regular file in the store. An empty dict removes every managed link.
    type: dict
    required: true
  on_conflict:
    description:
      - What to do with a real file that differs from the store file where a link is declared (or a directory
        or file in the way).
      - V(fail) stops before changing anything and names both paths and sizes.
      - V(archive) moves it to the archive and puts the link in its place.
      - The C(model_store) role sets it from C(model_store_on_conflict).
    type: str
    choices: [fail, archive]
    default: fail
  real_files:
    description:
      - Paths relative to O(link_root), files or folders, that must hold real files and never links, for example
        the destinations of the ComfyUI-only downloads. A declared link at or below one is refused.
      - Store files found at these paths (through a directory-level symlink, or as the target of a symlink at the
        path) are moved there from the store, on one filesystem, with a ledger line each.
    type: list
    elements: str
    default: []
  verify:
    description:
      - How a run makes sure that an unchanged layout is still right.
      - V(fast) trusts the re-check cache in the record while it holds. A symlink's value cannot change in
        place, so a link added, removed or retargeted, or a store file deleted, renamed or replaced, changes
        the mtime and ctime of its directory, and a directory swapped for a symlink changes its parent. The
        link root's own entries, the identity of every path component above both roots, and what symlinks
        that are not declared links resolve to are checked on every run. A store target or folder that is
        a symlink disables the cache.
      - V(full) reads every link and store folder, as if there were no cache. Use it after changing the
        system clock, or on a filesystem whose directory times cannot be trusted.
    type: str
    choices: [fast, full]
    default: fast
attributes:
  check_mode:
    support: full
    description: Computes the same plan as a real run and reports it; nothing is changed.
  diff_mode:
    support: full
    description: Shows each changed path before and after (link targets, expanded directories, archived files).
notes:
  - Identical copies are recognised by size and sha256; hashing a large file takes time on the first run only,
    since the copy is then replaced by a link.
  - Writing the re-check cache into the record after a full check is not reported as a change; check mode
    never writes it.
seealso:
  - module: ai4artsed.devserver.model_archive
  - module: ai4artsed.devserver.model_rollback
"""

EXAMPLES = r"""
- name: Link shared models into ComfyUI, one relative symlink per file
  ai4artsed.devserver.model_links:
    link_root: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/models
    store_root: /home/ai4artsed/ai/SwarmUI/Models
    archive_root: /home/ai4artsed/ai/model-archive
    links:
      vae/qwen_image_vae.safetensors: vae/QwenImage/qwen_image_vae.safetensors
      clip/qwen_2.5_vl_7b_fp8_scaled.safetensors: clip/qwen_2.5_vl_7b_fp8_scaled.safetensors
  register: layout

- name: Show what changed
  ansible.builtin.debug:
    var: layout.counts
"""

RETURN = r"""
changed:
  description: Whether anything was (or in check mode would be) changed.
  returned: always
  type: bool
counts:
  description:
    - How many of each action the plan holds, and how many declared links were already right.
    - C(directories) counts real directories created above links.
    - C(moved) counts store files moved to a path of O(real_files).
  returned: always
  type: dict
  sample: {linked: 2, relinked: 1, unlinked: 0, expanded: 1, archived: 1, directories: 1, moved: 0, unchanged: 40}
changes:
  description:
    - The plan, in order, with paths relative to O(link_root). C(action) is one of C(expand), C(mkdir), C(link),
      C(relink), C(unlink), C(archive), C(move_in), C(record).
    - C(expand) lists the files it moves from the store in C(moved) (see O(real_files)); C(move_in) replaces a
      symlink by the store file it pointed to (C(source)).
  returned: always
  type: list
  elements: dict
  sample:
    - {action: relink, path: vae/qwen_image_vae.safetensors, before: /abs/old,
       after: ../../../../Models/vae/QwenImage/qwen_image_vae.safetensors}
archived:
  description:
    - The ledger records of files moved to the archive, and of store files moved to a path of O(real_files) (empty
      in check mode).
  returned: always
  type: list
  elements: dict
verified:
  description:
    - How this run checked the layout. V(fast) when the re-check cache held and no link was read (see
      O(verify)), V(full) otherwise.
  returned: success
  type: str
  sample: fast
record:
  description: Path of the record of managed links.
  returned: always
  type: str
  sample: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/models/.ai4artsed-model-links.json
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.layout import apply_plan, plan_links
from ansible_collections.ai4artsed.devserver.plugins.module_utils.layout_cache import write_verification
from ansible_collections.ai4artsed.devserver.plugins.module_utils.layout_plan import ON_CONFLICT, RECORD_NAME, VERIFY, LayoutError


def main():
    module = AnsibleModule(
        argument_spec={
            "link_root": {"type": "path", "required": True},
            "store_root": {"type": "path", "required": True},
            "archive_root": {"type": "path", "required": True},
            "links": {"type": "dict", "required": True},
            "on_conflict": {"type": "str", "choices": list(ON_CONFLICT), "default": "fail"},
            "verify": {"type": "str", "choices": list(VERIFY), "default": "fast"},
            "real_files": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False, "archived": [], "record": os.path.join(params["link_root"], RECORD_NAME)}
    try:
        plan = plan_links(params["link_root"], params["store_root"], params["links"], params["archive_root"],
                          on_conflict=params["on_conflict"], verify=params["verify"],
                          real_files=params["real_files"])
        result.update(changed=plan.changed, counts=plan.counts(), changes=plan.changes(), verified=plan.verified)
        if module._diff and plan.changed:
            result["diff"] = plan.diff()
        if plan.changed and not module.check_mode:
            result["archived"] = apply_plan(plan)
        elif not module.check_mode:
            try:
                write_verification(plan)  # the re-check cache; not a change of the layout
            except OSError as error:
                module.warn("The re-check cache could not be written to %s (%s); the next run checks in full."
                            % (result["record"], error))
    except LayoutError as error:
        module.fail_json(msg=str(error), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
