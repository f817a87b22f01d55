#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: devserver_password
short_description: Set the DevServer app's settings password (the Werkzeug hash in settings_password.key)
version_added: "0.1.0"
description:
  - The DevServer app guards its settings page with a password whose Werkzeug hash it keeps in
    C(devserver/settings_password.key). On its first start it writes the hash of a password hard-coded in its
    source, the same on every installation. This module makes the file hold the hash of O(password), so that
    default never survives a run.
  - When the file's hash already verifies O(password) (whatever Werkzeug format it has, also one the settings page
    wrote), the file is left as it is. Otherwise a new hash is written in the format the app writes,
    C(pbkdf2:sha256:1000000$<salt>$<hex>), what Werkzeug 3.1's C(generate_password_hash) writes for
    C(method='pbkdf2:sha256'), with a random 16-character salt, atomically, with its owner and mode from the start.
  - The hashes are computed with Python's hashlib; the host needs no Werkzeug. Werkzeug's C(pbkdf2) and C(scrypt)
    formats are read.
  - Neither the password nor the hash appears in the result, the diff or the log.
  - The owner, group and mode are enforced on every run, also when the hash is right.
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  path:
    description: The app's password file, for example C(/opt/ai4artsed/production/devserver/settings_password.key).
    type: path
    required: true
  password:
    description: The settings password, from the vault.
    type: str
    required: true
  min_length:
    description:
      - The fewest characters O(password) may have; a shorter one fails the task and changes nothing.
      - V(12) is the app's own rule for a new password on its settings page.
    type: int
    default: 12
  mode:
    description:
      - The file's permission bits as quoted text such as V('0600'); a YAML number and setuid, setgid or sticky bits
        are refused. O(owner) is the app's service account, which reads the file (and rewrites it when a teacher
        changes the password on the settings page).
    type: raw
    default: '0600'
extends_documentation_fragment:
  - ai4artsed.devserver.owned_file
attributes:
  check_mode:
    support: full
    description: Says whether the hash or the file's attributes would change; the file is not touched.
  diff_mode:
    support: full
    description: Shows only that the hash changes (which password it belongs to), never its value.
  platform:
    support: full
    platforms: posix
    description: Runs on the POSIX hosts this collection provisions (Debian and Ubuntu).
notes:
  - A password a teacher set on the settings page is replaced by O(password) on the next run; the vault is the
    source of truth.
  - The app reads the file at each login; no restart is needed.
  - Checking a pbkdf2 hash with 1000000 iterations takes under a second; each run checks once.
seealso:
  - name: Werkzeug's password hashing
    description: generate_password_hash and check_password_hash, the format of this file.
    link: https://werkzeug.palletsprojects.com/en/stable/utils/#werkzeug.security.generate_password_hash
"""

EXAMPLES = r"""
- name: The settings password from the vault
  ai4artsed.devserver.devserver_password:
    path: /opt/ai4artsed/production/devserver/settings_password.key
    password: "{{ vault_devserver_settings_password }}"
    owner: ai4artsed
    group: ai4artsed
  no_log: true
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
  sample: /opt/ai4artsed/production/devserver/settings_password.key
reason:
  description:
    - Why the file was (or in check mode would be) written, or that it was not.
    - "One of these texts. C(created); C(already set); C(already set; owner, group or mode corrected);
      C(set: the file held another password's hash) followed by C(the app's built-in default or an earlier one) in
      parentheses; C(set: the file held nothing Werkzeug can check a password against) followed by
      C(no hash in its format) in parentheses."
  returned: success
  type: str
  sample: "set: the file held another password's hash (the app's built-in default or an earlier one)"
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.app_password import (
    ALREADY_SET,
    check_new_password,
    hash_password,
    plan,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.owned_file import (
    FILE_OPTIONS,
    update_file,
    wanted_attributes,
)

# What diff mode shows: which password the hash belongs to, never the hash.
GIVEN = "(the hash of the given password)\n"
OTHER = "(a hash that does not verify the given password)\n"


def main():
    module = AnsibleModule(
        argument_spec=dict(FILE_OPTIONS, **{
            "path": {"type": "path", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "min_length": {"type": "int", "default": 12},
            "mode": {"type": "raw", "default": "0600"},
        }),
        supports_check_mode=True,
    )
    path = os.path.abspath(module.params["path"])
    password = module.params["password"]
    decision = {}

    def hashed_text(stored):
        decision["write"], decision["reason"] = plan(stored, password, path)
        return hash_password(password) if decision["write"] else stored

    try:
        check_new_password(password, module.params["min_length"])
        attributes = wanted_attributes(module.params, module.check_mode)
        stored, _after, changed = update_file(path, "a password hash", hashed_text, attributes, module.check_mode)
    except ValueError as error:
        module.fail_json(msg=str(error), path=path)
    write, reason = decision["write"], decision["reason"]
    if changed and not write:
        reason = ALREADY_SET + "; owner, group or mode corrected"
    result = {"changed": changed, "path": path, "reason": reason}
    if module._diff:
        before = "" if stored is None else (GIVEN if not write else OTHER)
        result["diff"] = {"before": before, "after": GIVEN, "before_header": path, "after_header": path}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
