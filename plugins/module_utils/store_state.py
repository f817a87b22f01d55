# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the model store's steps would find to fix on the host, read in one pass with the plan.

A re-run that finds nothing to do must be cheap: every module call costs about half a second over
SSH or docker exec, so the role does not run a folder, merge or ownership step only to learn that
nothing changed. model_manifest measures free space and looks for drift here, and the role runs
each fixing step only where this found something off. Reads only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import stat

from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import disk_space, human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_plan import vouched_for
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import default_state_dir
from ansible_collections.ai4artsed.devserver.plugins.module_utils.layout_plan import RECORD_NAME
from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import UnsafeFile, read_text
from ansible_collections.ai4artsed.devserver.plugins.module_utils.storage_report import markdown, store_report

# model_links rewrites its record as root after a full check; the ownership step leaves it alone too.
OWNERSHIP_IGNORED = (RECORD_NAME,)


def account_ids(owner, group):
    """(uid, gid) of the names, with None for a name the host does not know (yet: check mode on a fresh host)."""
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        uid = None
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        gid = None
    return uid, gid


def folders_off(paths, uid, gid, mode, kind=stat.S_ISDIR):
    """The folders (or, with kind=stat.S_ISREG, files) that are missing, of another kind, or not uid:gid
    with `mode`, in the given order."""
    off = []
    for path in paths:
        try:
            status = os.lstat(path)
        except FileNotFoundError:
            off.append(path)
            continue
        if (not kind(status.st_mode) or uid is None or gid is None or status.st_uid != uid
                or status.st_gid != gid or stat.S_IMODE(status.st_mode) != mode):
            off.append(path)
    return off


def first_not_owned(top, uid, gid, ignored=()):
    """The first path at or below `top` not owned by uid:gid (links not followed), else None.

    A missing `top` is None (nothing to own yet); an unknown account makes `top` itself the answer.
    """
    if not os.path.lexists(top):
        return None
    if uid is None or gid is None:
        return top
    status = os.lstat(top)
    if status.st_uid != uid or status.st_gid != gid:
        return top
    pending = [top] if stat.S_ISDIR(status.st_mode) else []
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.name in ignored:
                    continue
                status = entry.stat(follow_symlinks=False)
                if status.st_uid != uid or status.st_gid != gid:
                    return entry.path
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
    return None


def report_state(store_root, comfyui_root, archive_root, listed, report_path, owner, group, mode=0o644,
                 listed_prefixes=None):
    """The storage report of the store as it is now, and whether report_path already holds that text
    (owned by owner:group with `mode`).

    When the role's steps then change nothing, this is the report at the end of the run too, and the
    report step neither walks the store again nor writes.
    """
    text = markdown(store_report(store_root, comfyui_root, archive_root, listed, listed_prefixes))
    uid, gid = account_ids(owner, group)
    current = (_report_text(report_path) == text
               and not folders_off([report_path], uid, gid, mode, kind=stat.S_ISREG))
    return {"markdown": text, "current": current}


def _report_text(path):
    """The report written earlier, or None when there is none or something else is there: the report step then
    runs and says what is in the way."""
    try:
        return read_text(path, "the storage report")
    except UnsafeFile:
        return None


def to_check(entries, root, uid, gid, mode, check_updates=True):
    """The hf_model entries a run could still change: all but those whose files are in place, vouched for
    by their records (at their pinned commit; with check_updates=False, also at the commit their branch
    had) and owned by uid:gid with `mode`."""
    state_dir = default_state_dir(root)
    checked = []
    for entry in entries:
        paths = vouched_for(entry, root, state_dir, follow_branches=check_updates)
        if paths is None or folders_off(paths, uid, gid, mode, kind=stat.S_ISREG):
            checked.append(entry)
    return checked


def inspect_host(store_root, comfyui_root, owner, group, folders, merge_sources, downloads, check_updates=True,
                 folder_mode=0o755, file_mode=0o644):
    """Free space for the store, and what the folder, merge, download check and ownership steps would change.

    downloads: the hf_model entries per batch (store, comfyui), as model_manifest plans them.
    """
    uid, gid = account_ids(owner, group)
    space = disk_space(store_root)
    roots = {"store": store_root, "comfyui": comfyui_root}
    return {
        "to_check": dict((batch, to_check(entries, roots[batch], uid, gid, file_mode, check_updates))
                         for batch, entries in downloads.items()),
        "free_bytes": space.free_bytes,
        "free_human": human_bytes(space.free_bytes),
        "mount": space.mount,
        "account_known": uid is not None and gid is not None,
        "folders_off": folders_off(folders, uid, gid, folder_mode),
        "merge_sources": [name for name in merge_sources if os.path.lexists(os.path.join(store_root, name))],
        "not_owned": {
            "store": first_not_owned(store_root, uid, gid),
            "comfyui": first_not_owned(comfyui_root, uid, gid, OWNERSHIP_IGNORED),
        },
    }
