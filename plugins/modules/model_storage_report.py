#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_storage_report
short_description: Report what the model store holds, per folder, as a Markdown table
version_added: "0.1.0"
description:
  - Walks the model store, ComfyUI's C(models/) folder and the archive and reports, per top-level folder, the size
    and number of real files, how many of them a ComfyUI link points to, the symlinks, the files that have an
    identical copy elsewhere (same sha256), broken links and files the manifest does not list; then the archive's
    size and the totals. This is the table operators used to keep by hand.
  - Returns the figures and the report as Markdown (RV(markdown), without a timestamp, so an unchanged store gives
    the same text).
  - With O(dest), also writes the report there, atomically and only when its text changed (so a re-run reports no
    change), with O(owner), O(group) and O(mode). One call instead of a second task that copies it.
  - Reads the store only. Only files that share their size with another file are hashed, and a file whose
    M(ai4artsed.devserver.hf_model) record still matches its size, mtime and inode is not read at all.
  - Names starting with a dot (C(.hf_model/), C(.ai4artsed-model-links.json)) are our own records and left out.
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  store_root:
    description:
      - The model store, C(SwarmUI/Models).
    type: path
    required: true
  comfyui_root:
    description:
      - ComfyUI's C(models/) folder (links and ComfyUI-only files).
    type: path
  archive_root:
    description:
      - The model archive; its size and file count are reported.
    type: path
  listed:
    description:
      - Files the manifest manages, C(store) and C(comfyui) each a list of paths relative to its root (the
        C(listed) return value of M(ai4artsed.devserver.model_manifest)). Other files count as unmanaged. When
        absent, no file is reported as unmanaged.
    type: dict
  listed_prefixes:
    description:
      - Folders whose files the manifest manages whatever they hold, C(store) and C(comfyui) each a list of paths
        relative to its root (the C(listed_prefixes) return value of M(ai4artsed.devserver.model_manifest), the
        folders of multi-file models). Used with O(listed).
    type: dict
  dest:
    description:
      - Where to write the report. Not written when absent.
    type: path
extends_documentation_fragment:
  - ai4artsed.devserver.owned_file
attributes:
  check_mode:
    support: full
    description: Reads the store the same in check mode, and says whether O(dest) would change without writing it.
  diff_mode:
    support: full
    description: The report's old and new text at O(dest), only in diff mode.
seealso:
  - module: ai4artsed.devserver.model_manifest
  - module: ai4artsed.devserver.model_links
"""

EXAMPLES = r"""
- name: Build the storage report
  ai4artsed.devserver.model_storage_report:
    store_root: /home/ai4artsed/ai/SwarmUI/Models
    comfyui_root: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/models
    archive_root: /home/ai4artsed/ai/model-archive
    listed: "{{ plan.listed }}"
    listed_prefixes: "{{ plan.listed_prefixes }}"
  register: report

- name: Build the storage report and write it on the host
  ai4artsed.devserver.model_storage_report:
    store_root: /home/ai4artsed/ai/SwarmUI/Models
    comfyui_root: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/models
    archive_root: /home/ai4artsed/ai/model-archive
    dest: /home/ai4artsed/ai/storage-report.md
    owner: ai4artsed
    group: ai4artsed
    mode: "0644"
"""

RETURN = r"""
dest:
  description: Where the report was written (or would be, in check mode).
  returned: when O(dest) is given
  type: str
  sample: /home/ai4artsed/ai/storage-report.md
markdown:
  description: The report as Markdown, the table first.
  returned: always
  type: str
rows:
  description:
    - One dict per top-level folder (C(folder) as C(Models/clip) or C(ComfyUI models/clip)) with C(size), C(files),
      C(linked), C(links), C(duplicates), C(broken links) and C(unmanaged).
  returned: always
  type: list
  elements: dict
totals:
  description: The columns of RV(rows) summed.
  returned: always
  type: dict
archive:
  description: C(size) and C(files) of the archive (the ledger left out).
  returned: always
  type: dict
duplicates:
  description: Groups of identical files, each with C(sha256), C(size) and C(paths).
  returned: always
  type: list
  elements: dict
broken_links:
  description: Symlinks that do not resolve, each with C(root), C(path) and C(target).
  returned: always
  type: list
  elements: dict
unmanaged:
  description: Files the manifest does not list.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.owned_file import FILE_OPTIONS
from ansible_collections.ai4artsed.devserver.plugins.module_utils.report_file import write_report
from ansible_collections.ai4artsed.devserver.plugins.module_utils.storage_report import markdown, store_report


def main():
    module = AnsibleModule(
        argument_spec=dict(FILE_OPTIONS, **{
            "store_root": {"type": "path", "required": True},
            "comfyui_root": {"type": "path"},
            "archive_root": {"type": "path"},
            "listed": {"type": "dict"},
            "listed_prefixes": {"type": "dict"},
            "dest": {"type": "path"},
        }),
        supports_check_mode=True,
    )
    params = module.params
    report = store_report(params["store_root"], params["comfyui_root"], params["archive_root"], params["listed"],
                          params["listed_prefixes"])
    text = markdown(report)
    result = dict(report, changed=False, markdown=text)
    if params["dest"]:
        try:
            result.update(write_report(module, params["dest"], text))
        except ValueError as error:
            module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
