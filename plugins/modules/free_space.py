#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: free_space
short_description: Report free disk space for a path that may not exist yet
version_added: "0.1.0"
description:
  - Reports the free and total bytes of the filesystem that holds O(path).
  - When O(path) does not exist yet (a fresh host), the nearest existing parent directory is
    measured, since that is where the path will be created.
  - Used by preflight checks before anything is written, so it changes nothing on the host.
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  path:
    description:
      - The path whose filesystem to measure, for example the base directory of the model store.
    type: path
    required: true
extends_documentation_fragment:
  - ai4artsed.devserver.read_only
"""

EXAMPLES = r"""
- name: Measure the disk that will hold the AI directory
  ai4artsed.devserver.free_space:
    path: /home/ai4artsed/ai
  register: disk

- name: Stop when less than 30 GB are free
  ansible.builtin.assert:
    that: disk.free_bytes >= 30 * 1000 ** 3
    fail_msg: "Only {{ disk.free_human }} free on {{ disk.mount }}; 30 GB are needed."
"""

RETURN = r"""
path:
  description: The path that was asked for.
  returned: always
  type: str
  sample: /home/ai4artsed/ai
checked_path:
  description: The existing path that was measured (O(path) or its nearest existing parent).
  returned: always
  type: str
  sample: /home
exists:
  description: Whether O(path) itself exists.
  returned: always
  type: bool
  sample: false
mount:
  description: Mount point of the filesystem that holds O(path).
  returned: always
  type: str
  sample: /
free_bytes:
  description: Bytes an unprivileged user can still write on that filesystem.
  returned: always
  type: int
  sample: 412345678901
free_human:
  description: RV(free_bytes) in decimal units, for messages.
  returned: always
  type: str
  sample: 412.3 GB
total_bytes:
  description: Size of that filesystem in bytes.
  returned: always
  type: int
  sample: 1000204886016
total_human:
  description: RV(total_bytes) in decimal units, for messages.
  returned: always
  type: str
  sample: 1.0 TB
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import disk_space, human_bytes


def main():
    module = AnsibleModule(
        argument_spec={"path": {"type": "path", "required": True}},
        supports_check_mode=True,
    )
    try:
        space = disk_space(module.params["path"])
    except OSError as error:
        module.fail_json(msg="Cannot measure free space for %s: %s" % (module.params["path"], error))
    result = space._asdict()
    result.update(
        changed=False,
        free_human=human_bytes(space.free_bytes),
        total_human=human_bytes(space.total_bytes),
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
