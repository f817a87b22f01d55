# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Free space on the filesystem that holds (or will hold) a path.

Pure helpers with no Ansible imports, so unit tests call them directly and the hf_model and
model_store preflights can share them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from collections import namedtuple

DiskSpace = namedtuple("DiskSpace", "path checked_path exists mount free_bytes total_bytes")

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def existing_ancestor(path, exists=os.path.exists):
    """The path itself if it exists, else its nearest existing parent.

    A fresh host has no base directory yet; its free space is that of the parent it will be
    created in. Pass exists=os.path.lexists to count a dangling symlink as existing.
    """
    current = os.path.abspath(path)
    while not exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def mount_point(path):
    """The mount point of the filesystem holding an existing path (walk up until the device changes)."""
    current = os.path.realpath(path)
    device = os.stat(current).st_dev
    while True:
        parent = os.path.dirname(current)
        if parent == current or os.stat(parent).st_dev != device:
            return current
        current = parent


def disk_space(path, statvfs=os.statvfs):
    """Free and total bytes for the filesystem of path; free counts what an unprivileged user may use."""
    checked = existing_ancestor(path)
    stats = statvfs(checked)
    return DiskSpace(
        path=path,
        checked_path=checked,
        exists=checked == os.path.abspath(path),
        mount=mount_point(checked),
        free_bytes=stats.f_bavail * stats.f_frsize,
        total_bytes=stats.f_blocks * stats.f_frsize,
    )


def human_bytes(count):
    """Decimal units as disks are sold: 1 GB = 10**9 bytes. human_bytes(35500000000) == '35.5 GB'."""
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1000 or unit == _UNITS[-1]:
            if unit == "B":
                return "%d B" % count
            return "%.1f %s" % (value, unit)
        value /= 1000
    return "%d B" % count  # pragma: no cover - loop always returns
