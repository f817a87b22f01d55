#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_mirror_report
short_description: Report what the Hugging Face mirror's cache (olah) holds, per repository, as Markdown
version_added: "0.1.0"
description:
  - Reads the cache of olah 0.5.4 (its C(repos-path), which the model_mirror role runs) and reports its size on
    disk, the cached files fully and partly cached (olah fetches whole blocks, so a file of which a client asked only
    a range is partly cached), and per repository (type and id) each file's commit, path, size and cached fraction.
  - The total is what olah compares with its C(cache-size-limit) (every file's size below C(repos-path)), split into
    the cached files (their blocks and headers) and metadata (the hub's answers that olah keeps).
  - Cache hits and misses are not reported, because olah 0.5.4 does not count them. No endpoint reports them, the
    C(DownloadLogs) and C(FileLevelLRU) tables of its database are never written, and its log lists requests without
    saying which of them the cache answered.
  - Reads only, without locks, while olah keeps serving. A block or a file that olah evicts during the scan is not
    counted. A folder it cannot read fails the report (run it as olah's account or with become).
  - Returns the figures as RV(mirror_cache) and the report as RV(markdown) (without a timestamp, so an unchanged
    cache gives the same text). With O(dest), also writes the report there, atomically and only when its text
    changed, with O(owner), O(group) and O(mode).
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  cache_dir:
    description:
      - olah's cache, the folder its C(repos-path) names (the model_mirror role's C(model_mirror_cache_dir)).
      - It must exist and be empty or hold olah's folders (C(files/), C(api/), C(lfs/), C(access/)).
    type: path
    required: true
  dest:
    description:
      - Where to write the report. Not written when absent. Writing it is the only change this module makes.
    type: path
    aliases: [report_path]
extends_documentation_fragment:
  - ai4artsed.devserver.owned_file
attributes:
  check_mode:
    support: full
    description: Reads the cache the same in check mode, and says whether O(dest) would change without writing it.
  diff_mode:
    support: full
    description: The report's old and new text at O(dest), only in diff mode.
seealso:
  - module: ai4artsed.devserver.model_storage_report
  - name: olah
    description: The self-hosted Hugging Face mirror whose cache this reads.
    link: https://pypi.org/project/olah/
"""

EXAMPLES = r"""
- name: Report what the mirror's cache holds
  ai4artsed.devserver.model_mirror_report:
    cache_dir: /srv/olah/repos
  register: mirror_report

- name: Show the files that are only partly cached
  ansible.builtin.debug:
    msg: "{{ mirror_report.mirror_cache.repositories | map(attribute='files') | flatten | rejectattr('complete') }}"

- name: Write the report on the mirror host
  ai4artsed.devserver.model_mirror_report:
    cache_dir: /srv/olah/repos
    dest: /srv/olah/cache-report.md
    owner: root
    group: root
    mode: "0644"
"""

RETURN = r"""
dest:
  description: Where the report was written (or would be, in check mode).
  returned: when O(dest) is given
  type: str
  sample: /srv/olah/cache-report.md
markdown:
  description: The report as Markdown, the repositories first, then each file.
  returned: always
  type: str
mirror_cache:
  description: The figures of the cache.
  returned: always
  type: dict
  contains:
    cache_dir:
      description: The cache that was read.
      type: str
      sample: /srv/olah/repos
    total_bytes:
      description: Bytes of every file below O(cache_dir), what olah compares with its C(cache-size-limit).
      type: int
      sample: 72355532
    entry_bytes:
      description: The part of RV(mirror_cache.total_bytes) in cached files (blocks, headers, checksums).
      type: int
    metadata_bytes:
      description: The rest of RV(mirror_cache.total_bytes) (the hub's answers, indexes, access records, locks).
      type: int
    files_complete:
      description: Files of all repositories that are fully cached.
      type: int
      sample: 3
    files_partial:
      description: Files of all repositories of which only some blocks are cached.
      type: int
      sample: 1
    repositories:
      description:
        - One dict per repository, ordered by type and id, with C(type) (C(model), C(dataset) or C(space)),
          C(repo_id), C(files_complete), C(files_partial), C(disk_bytes) and C(files).
        - Each of C(files) has C(commit), C(path), C(size) (the file's size), C(cached_bytes), C(cached_fraction)
          (0 to 1), C(complete) and C(disk_bytes). An object that olah fetched by its CDN address has no C(commit)
          and its sha256 as C(path).
      type: list
      elements: dict
      sample:
        - type: model
          repo_id: org/model
          files_complete: 1
          files_partial: 1
          disk_bytes: 72352551
          files:
            - commit: b476923a5dc774d5107f58926e18bad21176ce95
              path: big.bin
              size: 73412665
              cached_bytes: 67108864
              cached_fraction: 0.9141
              complete: false
              disk_bytes: 67109265
    other_entries:
      description: Cached objects addressed by their content only (below C(lfs/)), with the fields of a file and
        C(path) relative to O(cache_dir).
      type: list
      elements: dict
    unreadable:
      description: Cache entries whose header olah would not accept either (damaged, or another cache version;
        olah rebuilds them when asked), each with C(path), C(reason) and C(disk_bytes).
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.owned_file import FILE_OPTIONS
from ansible_collections.ai4artsed.devserver.plugins.module_utils.mirror_cache import markdown, scan_cache
from ansible_collections.ai4artsed.devserver.plugins.module_utils.report_file import write_report


def main():
    module = AnsibleModule(
        argument_spec=dict(FILE_OPTIONS, **{
            "cache_dir": {"type": "path", "required": True},
            "dest": {"type": "path", "aliases": ["report_path"]},
        }),
        supports_check_mode=True,
    )
    params = module.params
    try:
        report = scan_cache(params["cache_dir"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    text = markdown(report)
    result = {"changed": False, "mirror_cache": report, "markdown": text}
    if params["dest"]:
        try:
            result.update(write_report(module, params["dest"], text))
        except ValueError as error:
            module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
