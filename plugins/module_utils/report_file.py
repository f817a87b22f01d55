# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing a report module's Markdown to its dest: only when the text differs, atomically, with the owner, group
and mode the task gives, in check mode and with --diff. Shared by model_storage_report and model_mirror_report.

The dest goes through owned_file (safe_file underneath): a symlink or anything but a regular file there fails the
task before a byte of it is read, so no other file's content can reach the result; the old text is returned only
as the diff, and only in --diff mode."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ai4artsed.devserver.plugins.module_utils.owned_file import update_file, wanted_attributes


def write_report(module, dest, text):
    """Write text to dest when it differs, then owner, group and mode; returns changed, dest and, in --diff mode,
    the diff. ValueError (the module fails with it) when dest is not a regular file or its folder is missing."""
    attributes = wanted_attributes(module.params, module.check_mode)
    if module.check_mode and not os.path.isdir(os.path.dirname(dest) or os.curdir):
        before, changed = None, True  # check mode on a fresh host: the run before this one makes the folder
    else:
        before, _after, changed = update_file(dest, "a report", lambda _before: text, attributes, module.check_mode)
    result = {"changed": changed, "dest": dest}
    if module._diff:
        result["diff"] = {"before": before or "", "after": text, "before_header": dest, "after_header": dest}
    return result
