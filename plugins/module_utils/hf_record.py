# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sidecar records: what hf_model verified about a file, so a re-run need not read it again.

A record holds the file's sha256 and origin together with its size, mtime and inode at the time
it was verified. While those three are unchanged the file is trusted without reading a byte;
any change (a truncation, a replacement, a copy) makes the next run hash it again.
Records live under a state directory that mirrors the layout below the root.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import read_text

RECORD_VERSION = 1
# The folder below hf_model's root where its records (and progress file) live: the default of its
# state_dir option, which the storage report, the model store's plan and hf_model_progress also read.
STATE_DIR_NAME = ".hf_model"


def default_state_dir(root):
    """hf_model's state folder for ``root`` when its state_dir option is not set."""
    return os.path.join(root, STATE_DIR_NAME)


def record_path(state_dir, root, dest):
    return os.path.join(state_dir, os.path.relpath(dest, os.path.realpath(root)) + ".json")


def read_record(path):
    """The record at path, or None when there is none or it cannot be parsed."""
    try:
        record = json.loads(read_text(path, "hf_model's record") or "null")
    except (OSError, ValueError, RecursionError):  # also UnsafeFile: a planted FIFO or symlink vouches for nothing
        return None
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return None
    return record


def make_record(stat_result, sha256, origin):
    """origin: {repo_id, repo_type, filename, commit}."""
    record = {
        "version": RECORD_VERSION,
        "size": stat_result.st_size,
        "mtime_ns": stat_result.st_mtime_ns,
        "inode": stat_result.st_ino,
        "device": stat_result.st_dev,
        "sha256": sha256,
    }
    record.update(origin)
    return record


def is_trusted(record, stat_result):
    """True when the file is the one the record describes (same size, mtime and inode)."""
    return bool(record) and (
        record.get("size") == stat_result.st_size
        and record.get("mtime_ns") == stat_result.st_mtime_ns
        and record.get("inode") == stat_result.st_ino
        and record.get("device") == stat_result.st_dev
    )
