# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing a report module's Markdown to its dest: only when the text differs, atomically, with the file attributes
the task gives (owner, group, mode), in check mode and with --diff. Shared by model_storage_report and
model_mirror_report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible_collections.ai4artsed.devserver.plugins.module_utils.storage_report import read_text


def write_report(module, dest, text, prefix=".report."):
    """Write text to dest when it differs (atomically), then owner, group and mode; returns changed, dest and diff."""
    before = read_text(dest)
    changed = before != text
    if changed and not module.check_mode:
        descriptor, temporary = tempfile.mkstemp(prefix=prefix, dir=os.path.dirname(dest) or ".")
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(text.encode("utf-8"))
        module.atomic_move(temporary, dest)
    file_args = module.load_file_common_arguments(module.params, path=dest)
    if os.path.exists(dest):
        changed = module.set_fs_attributes_if_different(file_args, changed)
    else:
        changed = True  # check mode: the report would be created with these attributes
    return {"changed": changed, "dest": dest, "diff": {"before": before or "", "after": text,
                                                       "before_header": dest, "after_header": dest}}
