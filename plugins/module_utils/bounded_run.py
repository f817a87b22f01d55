# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a command with a timeout: a hung nvidia-smi or systemctl must not hang the task with it.

AnsibleModule.run_command has no timeout, so the modules that start commands use ``run`` instead.
Standard library only: it runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import subprocess

DEFAULT_TIMEOUT = 60


class CommandTimedOut(Exception):
    """The command ran over its timeout and was killed; the message names it and the timeout."""


def run(argv, timeout=DEFAULT_TIMEOUT):
    """(rc, stdout, stderr) of argv, text; CommandTimedOut when it runs longer than ``timeout`` seconds."""
    try:
        done = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, universal_newlines=True, errors="replace")
    except subprocess.TimeoutExpired:
        raise CommandTimedOut("`%s` did not finish within %s s and was stopped." % (" ".join(argv), timeout))
    return done.returncode, done.stdout, done.stderr
