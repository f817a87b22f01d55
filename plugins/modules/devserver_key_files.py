#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: devserver_key_files
short_description: Write the DevServer app's API key files (and the ai4artsed node pack's) from the vault
version_added: "0.1.0"
description:
  - Parts of the DevServer app read an API key only from a file in its C(devserver/) folder, never from the
    environment (the GPT-Image-1 output reads C(openai.key), the Gemini 3 Pro Image output C(openrouter.key)), and
    the ai4artsed ComfyUI node pack reads C(openrouter.key) beside its nodes (the C(legacy_surrealization) workflow).
    The app's settings page writes the same files.
  - For each key of O(table) that O(keys) sets, this module writes each file the table names for it, holding the key
    and a newline, with O(owner), O(group) and O(mode) from the start. A file whose key (stripped, as every reader
    strips it) already is the vault's keeps its text; only its owner, group and mode are corrected.
  - A key file whose key the vault does not set is left as it is (a teacher may have typed it on the settings page)
    and reported as set on the host. No key file is ever deleted.
  - Every key file is read before any is written, so a symlink, FIFO or other non-regular file where a key file
    belongs fails the task with nothing changed.
  - The result names the app features whose key is neither in the vault nor in the file they read.
  - No key appears in the result, the diff or the log; the option O(keys) is C(no_log).
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  table:
    description:
      - The key table (the devserver role's C(__devserver_api_key_table)). Each entry has C(key), an environment
        variable name as the vault names it, and C(readers), a list of C(where) (V(app) for the app's C(devserver/)
        folder, V(node_pack) for the node pack's folder, V(environment) for a reader of the environment only),
        C(file) (the file's name in that folder; none for V(environment)) and C(features) (the app features that
        need the key there, as a teacher knows them).
    type: list
    elements: dict
    required: true
  app_dir:
    description: The app's C(devserver/) folder, for example C(/home/ai4artsed/ai/ai4artsed_production/devserver). It must exist.
    type: path
    required: true
  node_pack_dir:
    description:
      - The ai4artsed ComfyUI node pack's folder, for example C(<ComfyUI>/custom_nodes/ai4artsed_comfyui).
      - When it does not exist (or is not given) its key files are skipped and the result says so
        (RV(node_pack_installed) false).
    type: path
  keys:
    description:
      - The vault's API keys by name, for example C(OPENROUTER_API_KEY). White space around a value is stripped; an
        empty value, or one with a line break or another control character inside, fails the task and changes
        nothing.
      - Names the table does not know are left to the env file, with a warning.
    type: dict
    default: {}
  mode:
    description:
      - The key files' permission bits as quoted text such as V('0600'). O(owner) is the service account that runs the
        app and ComfyUI, which read the files (and the settings page rewrites them).
    type: raw
    default: '0600'
extends_documentation_fragment:
  - ai4artsed.devserver.owned_file
attributes:
  check_mode:
    support: full
    description: Says which files would be written or corrected and which features lack a key; touches nothing.
  diff_mode:
    support: full
    description: Shows per file whether its key changes, as C((secret)) texts; never a key.
  platform:
    support: full
    platforms: posix
    description: Runs on the POSIX hosts this collection provisions (Debian and Ubuntu).
notes:
  - The app reads its key files at each use and the node pack at each node run; no restart is needed.
  - A key that the vault sets replaces one a teacher typed on the settings page for the same key; the vault is the
    source of truth for the keys it sets.
seealso:
  - module: ai4artsed.devserver.devserver_password
"""

EXAMPLES = r"""
- name: The API key files the app and the node pack read
  ai4artsed.devserver.devserver_key_files:
    table:
      - key: OPENROUTER_API_KEY
        readers:
          - {where: app, file: openrouter.key, features: [the Gemini 3 Pro Image output]}
          - {where: node_pack, file: openrouter.key, features: [the legacy_surrealization workflow]}
    app_dir: /home/ai4artsed/ai/ai4artsed_production/devserver
    node_pack_dir: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/custom_nodes/ai4artsed_comfyui
    keys: "{{ devserver_api_keys }}"
    owner: ai4artsed
    group: ai4artsed
  no_log: true
"""

RETURN = r"""
files:
  description: Each key file of the table that was looked at, with the vault key it holds and its state.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    key:
      description: The vault key's name (never its value).
      type: str
    state:
      description:
        - "C(created), C(replaced by the vault's key), C(as the vault sets it), C(as the vault sets it; owner, group or
          mode corrected) for a key the vault sets; C(set on the host, not from the vault) or C(missing) for one it
          does not; C(skipped: the node pack is not installed)."
      type: str
  sample:
    - {path: /home/ai4artsed/ai/ai4artsed_production/devserver/openrouter.key, key: OPENROUTER_API_KEY, state: created}
features_without_key:
  description: The app features whose key neither the vault nor the file they read holds, in the table's order.
  returned: success
  type: list
  elements: str
  sample: [the GPT-Image-1 output]
set_on_host:
  description: The key files that hold a key the vault does not set (typed on the settings page, or by hand).
  returned: success
  type: list
  elements: str
node_pack_installed:
  description: Whether O(node_pack_dir) exists; false means its key files were skipped.
  returned: success
  type: bool
unknown_keys:
  description: Names in O(keys) that the table does not know (only the env file has them).
  returned: success
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.app_keys import (
    NO_PACK,
    NODE_PACK,
    ON_HOST,
    MISSING,
    check_keys,
    check_table,
    features_without_key,
    holds_key,
    key_file,
    state_of,
    wanted_text,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.owned_file import (
    FILE_OPTIONS,
    update_file,
    wanted_attributes,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import read_text

WHAT = "an API key file"
# What diff mode shows: whether the key changes, never the key.
VAULTS = "(secret: the vault's key)\n"
OTHER = "(secret: another key)\n"


def key_files(table, app_dir, node_pack_dir):
    """(vault key, reader, path) of every key file the table names; path None for one in a node pack not installed."""
    for entry in table:
        for reader in entry["readers"]:
            path = key_file(reader, app_dir, node_pack_dir)
            if path is not None or reader["where"] == NODE_PACK:
                yield entry["key"], reader, path


def bring_up_to_date(module, table, values, app_dir, node_pack_dir):
    """(files, held paths, changed, diffs): every key file read first (nothing is written when one is unsafe),
    then each file the vault sets written or corrected."""
    attributes = wanted_attributes(module.params, module.check_mode)
    found = [(key, reader, path, None if path is None else read_text(path, WHAT))
             for key, reader, path in key_files(table, app_dir, node_pack_dir)]
    files, held, changed_any, diffs = [], set(), False, []
    for key, reader, path, text in found:
        if path is None:
            state = NO_PACK
            path = os.path.join(module.params["node_pack_dir"] or "(node_pack_dir not given)", reader["file"])
        elif key in values:
            value = values[key]
            before, after, changed = update_file(path, WHAT, lambda old, value=value: wanted_text(old, value),
                                                 attributes, module.check_mode)
            state, changed_any = state_of(before, after, changed), changed_any or changed
            held.add(path)
            diffs.append({"before": "" if before is None else (VAULTS if before == after else OTHER),
                          "after": VAULTS, "before_header": path, "after_header": path})
        elif holds_key(text):
            state = ON_HOST
            held.add(path)
        else:
            state = MISSING
        files.append({"path": path, "key": key, "state": state})
    return files, held, changed_any, diffs


def main():
    module = AnsibleModule(
        argument_spec=dict(FILE_OPTIONS, **{
            "table": {"type": "list", "elements": "dict", "required": True},
            "app_dir": {"type": "path", "required": True},
            "node_pack_dir": {"type": "path"},
            "keys": {"type": "dict", "default": {}, "no_log": True},
            "mode": {"type": "raw", "default": "0600"},
        }),
        supports_check_mode=True,
    )
    app_dir = os.path.abspath(module.params["app_dir"])
    given_pack = module.params["node_pack_dir"]
    node_pack_dir = os.path.abspath(given_pack) if given_pack and os.path.lexists(given_pack) else None
    try:
        table = check_table(module.params["table"])
        values, unknown = check_keys(module.params["keys"], table)
        files, held, changed, diffs = bring_up_to_date(module, table, values, app_dir, node_pack_dir)
    except ValueError as error:
        module.fail_json(msg=str(error))
    if unknown:
        module.warn("the key table does not know %s: only the app's env file holds %s, no key file"
                    % (", ".join(unknown), "it" if len(unknown) == 1 else "them"))
    result = {
        "changed": changed,
        "files": files,
        "features_without_key": features_without_key(table, values, held, app_dir, node_pack_dir),
        "set_on_host": [entry["path"] for entry in files if entry["state"] == ON_HOST],
        "node_pack_installed": node_pack_dir is not None,
        "unknown_keys": unknown,
    }
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
