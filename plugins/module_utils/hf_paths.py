# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where hf_model may write: inside its root, never through a symlinked directory.

Checked before anything is written, so a bad ``dest`` changes nothing on disk.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import is_inside


class PathRefused(ValueError):
    """A destination that would write outside the allowed root."""


def resolve_inside(root, path):
    """Absolute path of ``path`` (relative to ``root``, or absolute) that stays inside ``root``.

    ``root`` itself may be a symlink (a store moved to a larger disk); below it, no existing
    directory on the way may be a symlink, since writing through one could land anywhere.
    """
    root_abs = os.path.realpath(root)
    candidate = os.path.normpath(os.path.join(root_abs, path))
    if os.path.isabs(path) and not is_inside(candidate, root_abs):
        # An absolute dest given in terms of the unresolved root (/home/x/Models/...) is fine.
        unresolved = os.path.normpath(os.path.abspath(root))
        if is_inside(candidate, unresolved):
            candidate = os.path.join(root_abs, os.path.relpath(candidate, unresolved))
    if not is_inside(candidate, root_abs) or candidate == root_abs:
        raise PathRefused(
            "Refusing dest %r: it resolves to %s, which is not inside the allowed root %s. "
            "Give dest as a path below the root (no '..' that leaves it)." % (path, candidate, root_abs)
        )
    current = root_abs
    for part in os.path.relpath(os.path.dirname(candidate), root_abs).split(os.sep):
        if part in ("", "."):
            continue
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise PathRefused(
                "Refusing dest %r: %s is a symlink, and writing through it could land outside %s. "
                "Replace the link with a real directory (model_links does this) and run again."
                % (path, current, root_abs)
            )
    if os.path.islink(candidate):
        raise PathRefused(
            "Refusing dest %r: %s is a symlink, not a file. Point dest at the file in the store." % (path, candidate)
        )
    return candidate


def partial_paths(dest):
    """The in-progress download beside ``dest`` (same filesystem, so the final rename is atomic)."""
    directory, name = os.path.split(dest)
    partial = os.path.join(directory, ".%s.hf-partial" % name)
    return partial, partial + ".json"
