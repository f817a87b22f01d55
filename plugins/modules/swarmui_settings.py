#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: swarmui_settings
short_description: Set keys in a SwarmUI FDS file (Data/Settings.fds, Data/Backends.fds), compared by value
version_added: "0.1.0"
description:
  - Reads a file in Frenetic Data Syntax (FDS), the format of SwarmUI's C(Data/*.fds), sets the keys in
    O(settings) and writes the file back in SwarmUI's own layout (a tab per level, C(#) comments above their key).
  - SwarmUI rewrites C(Data/Settings.fds) at every start, with all keys, its comments and its own order. So values
    are compared as SwarmUI reads them, not as text. The number V(7801) equals the text C(7801) (and C(7801.0)),
    the boolean V(true) equals C(true) and C(True), V("") equals C(\x) and an empty C(key:). When every wanted
    value is already there the file is not written at all (its mtime stays).
  - Without O(exclusive) every other key and every comment is kept. With O(exclusive=true) the file's data
    becomes exactly O(settings) (keys not named there are removed; comments of the keys that stay are kept), as
    for C(Data/Backends.fds) with one backend; it is written only when the data differs by value.
  - A missing file is created; its folder must exist (SwarmUI's C(Data/) folder).
  - A real run holds the file's lock from reading to writing, so two runs on one file never lose an update.
  - A file that is not valid FDS fails the task, naming the line, and is left as it is.
  - The FDS reading and writing is C(module_utils/fds), the value comparison C(module_utils/fds_settings).
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  path:
    description: The FDS file, for example C(~/ai/SwarmUI/Data/Settings.fds).
    type: path
    required: true
  settings:
    description:
      - The wanted values. Keys are dotted paths (C(Paths.ModelRoot)) or nested dicts (C(Paths) holding C(ModelRoot)), or
        both; missing sections are created.
      - Values are text, numbers, booleans (written C(true)/C(false)) or lists of those (written as C(- item)
        lines). An empty dict is an empty section.
      - A key is always text, so a backend id such as C("0") stays the key C(0).
    type: dict
    required: true
  exclusive:
    description:
      - V(false) sets these keys and keeps all others. V(true) makes the file's data exactly O(settings).
    type: bool
    default: false
extends_documentation_fragment:
  - ai4artsed.devserver.owned_file
attributes:
  check_mode:
    support: full
    description: Computes the same changes and reports them; the file is not touched.
  diff_mode:
    support: full
    description: The file's text before and after.
  platform:
    support: full
    platforms: posix
    description: Runs on the POSIX hosts this collection provisions (Debian and Ubuntu).
notes:
  - An existing file keeps its owner and mode unless O(owner), O(group) or O(mode) say otherwise.
  - FDS does not unescape list items, so a list item cannot start or end with a space or hold a tab or newline.
  - Complex list items (C(>) lines) are not supported; such a file fails the task unchanged.
seealso:
  - name: FreneticDataSyntax (the format)
    description: The FDS parser and writer SwarmUI uses.
    link: https://github.com/FreneticLLC/FreneticUtilities/tree/master/FreneticUtilities/FreneticDataSyntax
"""

EXAMPLES = r"""
- name: SwarmUI settings, key by key
  ai4artsed.devserver.swarmui_settings:
    path: /home/ai4artsed/ai/SwarmUI/Data/Settings.fds
    settings:
      IsInstalled: true
      LaunchMode: none
      Paths.ModelRoot: /home/ai4artsed/ai/SwarmUI/Models
      Network:
        Port: 7801
        PortCanChange: false
    owner: ai4artsed
    group: ai4artsed

- name: One ComfyUI API backend, and nothing else
  ai4artsed.devserver.swarmui_settings:
    path: /home/ai4artsed/ai/SwarmUI/Data/Backends.fds
    exclusive: true
    settings:
      "0":
        type: comfyui_api
        title: ComfyUI (systemd)
        enabled: true
        settings: {Address: "http://127.0.0.1:7821", AllowIdle: false, OverQueue: 1, EnableFrontendDev: false}

- name: Which wanted settings differ, without changing anything
  ai4artsed.devserver.swarmui_settings:
    path: /home/ai4artsed/ai/SwarmUI/Data/Settings.fds
    settings: {Network.Port: 7801}
  check_mode: true
  register: swarmui_settings_drift
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
  sample: /home/ai4artsed/ai/SwarmUI/Data/Settings.fds
changes:
  description:
    - One entry per value that differs, by dotted key; C(before) is null for a new key, C(after) null for a key
      that O(exclusive) removes. A section shows as a dict, a list as a list.
  returned: always
  type: list
  elements: dict
  sample: [{key: Network.Port, before: "7800", after: "7801"}, {key: LaunchMode, before: null, after: none}]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fds import FDSError, Section, dump, parse
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fds_settings import apply_settings
from ansible_collections.ai4artsed.devserver.plugins.module_utils.owned_file import (
    FILE_OPTIONS,
    update_file,
    wanted_attributes,
)

UNCHANGED = "nothing was changed; fix or move the file"


def settings_text(path, settings, exclusive, changes):
    """new_text for update_file: the file's text with the wanted settings (FDSError and ValueError say why not)."""
    def new_text(before):
        try:
            tree = parse(before) if before is not None else Section()
        except FDSError as error:
            raise ValueError("%s %s; %s" % (path, error, UNCHANGED))
        try:
            wanted, found = apply_settings(tree, settings, exclusive)
            text = dump(wanted) if found or before is None else before
        except ValueError as error:
            raise ValueError("%s: %s; nothing was changed" % (path, error))
        changes.extend(found)
        return text
    return new_text


def main():
    module = AnsibleModule(
        argument_spec=dict(FILE_OPTIONS, **{
            "path": {"type": "path", "required": True},
            "settings": {"type": "dict", "required": True},
            "exclusive": {"type": "bool", "default": False},
        }),
        supports_check_mode=True,
    )
    path = os.path.abspath(module.params["path"])
    changes = []
    try:
        before, after, changed = update_file(
            path, "SwarmUI's settings", settings_text(path, module.params["settings"], module.params["exclusive"],
                                                      changes),
            wanted_attributes(module.params, module.check_mode), module.check_mode)
    except ValueError as error:
        module.fail_json(msg=str(error), path=path, changes=[])
    result = {"changed": changed, "changes": changes, "path": path}
    if module._diff:
        result["diff"] = {"before": before or "", "after": after, "before_header": path, "after_header": path}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
