# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The attributes of the modules that only read the host (facts, plans, progress, free space)."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode and returns the same result.
  diff_mode:
    support: none
    description: Reads only; there is nothing to diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the POSIX hosts this collection provisions (Debian and Ubuntu).
"""
