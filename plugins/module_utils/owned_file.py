# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One file a module owns outright, updated as a whole: read, work out the new text, write it back, set attributes.

swarmui_settings, devserver_settings, devserver_password and the report modules share this. A real run holds the
file's lock (hf_lock, the one hf_model holds per destination) from the read to the write, so two runs on one file
never lose an update; check mode takes no lock (it writes nothing, not even a lock file). Every read and write goes
through safe_file. Errors are ValueError (UnsafeFile) with a message that names the file and says what to do.
Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_lock import DestinationLock, LockHeld
from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import (
    UnsafeFile,
    ensure_attributes,
    parse_mode,
    read_text,
    resolve_ids,
    write_text,
)

# The options of plugins/doc_fragments/owned_file.py; a module may give mode a default of its own.
FILE_OPTIONS = {"owner": {"type": "str"}, "group": {"type": "str"}, "mode": {"type": "raw"}}
LOCK_TIMEOUT = 60  # seconds another run may hold the file before this one gives up


def wanted_attributes(params, check_mode=False):
    """(mode, uid, gid) from the task's mode, owner and group; UnsafeFile for any that cannot be. In check mode an
    account that does not exist yet is one an earlier task would create: it counts as a change, not an error."""
    mode = parse_mode(params.get("mode"))
    uid, gid = resolve_ids(params.get("owner"), params.get("group"), missing_ok=check_mode)
    return mode, uid, gid


@contextlib.contextmanager
def _locked(path, check_mode, timeout):
    if check_mode:
        yield
        return
    try:
        with DestinationLock(path, timeout):
            yield
    except LockHeld as held:
        raise UnsafeFile("%s: another run (%s) has been changing it for over %d s; wait for it to finish and run "
                         "again, nothing was changed" % (path, held.holder, timeout))


def update_file(path, what, new_text, attributes, check_mode, timeout=LOCK_TIMEOUT):
    """Bring the file at path to new_text(before) and attributes (mode, uid, gid); returns (before, after, changed).

    before is the file's text (None when missing); new_text returns the wanted text, which is written only when it
    differs. An existing file keeps its owner, group and mode where attributes do not name them.
    """
    mode, uid, gid = attributes
    with _locked(path, check_mode, timeout):
        before = read_text(path, what)
        after = new_text(before)
        changed = after != before
        if changed and not check_mode:
            write_text(path, after, mode, uid, gid, keep_attributes=True, what=what)
        elif before is not None:
            changed = ensure_attributes(path, mode, uid, gid, check_mode, what) or changed
    return before, after, changed
