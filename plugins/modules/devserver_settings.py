#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: devserver_settings
short_description: Merge settings into the DevServer app's user_settings.json, keeping what a teacher set
version_added: "0.1.0"
description:
  - The DevServer app keeps the values set on its settings page in C(devserver/user_settings.json), one JSON object
    of top-level keys (C(STAGE1_TEXT_MODEL), C(DEFAULT_SAFETY_LEVEL), ...). At start the app applies each key that
    exists in its C(config.py); its settings page rewrites the whole file with every key.
  - This module sets the keys in O(settings) and keeps every other key with the file's value, so a value a teacher
    set on the settings page survives a run unless the inventory names that key. The inventory wins for the keys it
    names.
  - Values compare as JSON values, type-strict (V(true) is not V(1), V(1) is not V(1.0)); the file is written only
    when a value changes, keeping the file's key order and appending new keys. It is written as the app writes it
    (two-space indent, no final newline), atomically (a temporary file and a rename).
  - A real run holds the file's lock from reading to writing, so two runs on one file never lose an update.
  - A missing file is created; its folder (the app's C(devserver/)) must exist.
  - A file that is not a JSON object (empty, invalid JSON, a list) fails the task, naming the file and the problem,
    and is left as it is.
  - The owner, group and mode are enforced on every run, also when no value changes.
  - No secret belongs in this file; the app keeps its API keys in separate C(*.key) files.
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  path:
    description: The app's settings file, for example C(/opt/ai4artsed/production/devserver/user_settings.json).
    type: path
    required: true
  settings:
    description:
      - The wanted top-level keys and their values; any JSON value (text, number, boolean, list, object, null).
      - Models served by Ollama carry the app's C(local/) prefix, for example C(local/mistral-nemo).
    type: dict
    required: true
  mode:
    description:
      - The file's permission bits as quoted text such as V('0640'); a YAML number and setuid, setgid or sticky bits
        are refused. O(owner) must be able to rewrite the file (the app's settings page does).
    type: raw
    default: '0640'
extends_documentation_fragment:
  - ai4artsed.devserver.owned_file
attributes:
  check_mode:
    support: full
    description: Computes the same merge and reports it; the file is not touched.
  diff_mode:
    support: full
    description: The file's text before and after.
  platform:
    support: full
    platforms: posix
    description: Runs on the POSIX hosts this collection provisions (Debian and Ubuntu).
notes:
  - The app reads the file only at start (or when its settings page saves); restart its service after a change.
  - The app's own writes are not atomic; a file it left half-written fails this module instead of being replaced.
seealso:
  - name: The DevServer app
    description: Its settings routes (C(devserver/my_app/routes/settings_routes.py)) write this file.
    link: https://github.com/joeriben/ai4artsed_webserver
"""

EXAMPLES = r"""
- name: Stage models from the inventory, everything else as the teachers set it
  ai4artsed.devserver.devserver_settings:
    path: /opt/ai4artsed/production/devserver/user_settings.json
    settings:
      STAGE1_TEXT_MODEL: local/mistral-nemo
      STAGE2_INTERCEPTION_MODEL: local/mistral-nemo
      DEFAULT_SAFETY_LEVEL: youth
      DSGVO_CONFORMITY: true
    owner: ai4artsed
    group: ai4artsed
    mode: "0640"
  register: devserver_settings_result
  notify: Restart the DevServer app

- name: Which inventory settings differ from the file, without changing it
  ai4artsed.devserver.devserver_settings:
    path: /opt/ai4artsed/production/devserver/user_settings.json
    settings: {STAGE3_MODEL: local/llama3.2}
  check_mode: true
  register: devserver_settings_drift
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
  sample: /opt/ai4artsed/production/devserver/user_settings.json
settings:
  description: The file's settings after the merge (in check mode, what they would be).
  returned: success
  type: dict
  sample: {UI_MODE: kids, STAGE1_TEXT_MODEL: local/mistral-nemo}
set_keys:
  description: The keys whose value this run changed or added, in the order of O(settings).
  returned: success
  type: list
  elements: str
  sample: [STAGE1_TEXT_MODEL]
kept_keys:
  description: The keys the file had that O(settings) does not name, kept with the file's values.
  returned: success
  type: list
  elements: str
  sample: [UI_MODE]
"""

import os
from collections import OrderedDict

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.app_settings import (
    check_wanted,
    dump_settings,
    merge_settings,
    parse_settings,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.owned_file import (
    FILE_OPTIONS,
    update_file,
    wanted_attributes,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(FILE_OPTIONS, **{
            "path": {"type": "path", "required": True},
            "settings": {"type": "dict", "required": True},
            "mode": {"type": "raw", "default": "0640"},
        }),
        supports_check_mode=True,
    )
    path = os.path.abspath(module.params["path"])
    merge = {}

    def merged_text(before):
        current = parse_settings(before, path) if before is not None else OrderedDict()
        merge["settings"], merge["set_keys"], merge["kept_keys"] = merge_settings(current, module.params["settings"])
        return dump_settings(merge["settings"]) if merge["set_keys"] or before is None else before

    try:
        check_wanted(module.params["settings"])
        attributes = wanted_attributes(module.params, module.check_mode)
        before, after, changed = update_file(path, "the app's settings", merged_text, attributes, module.check_mode)
    except ValueError as error:
        module.fail_json(msg=str(error), path=path)
    result = dict(merge, changed=changed, path=path)
    if module._diff:
        result["diff"] = {"before": before or "", "after": after, "before_header": path, "after_header": path}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
