# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One writer per file: an exclusive lock held from the first byte to the record (hf_model), or from reading a
settings file to writing it back (swarmui_settings, devserver_settings), so no update is lost.

Two runs of hf_model on one dest (a re-run while the async job of a run whose controller died
is still going) would otherwise append to the same partial file. The lock is ``flock`` on a
small file beside the partial file, so it also works between threads of one batch, and the
kernel releases it when its holder dies: a lock file left by a killed run never blocks anybody.
The holder writes its PID, host and start time into the file, so a waiting run that gives up
can say which process holds it. The lock file is opened through safe_file (no symlink followed, only a regular
file), since it lies in a folder a service account may own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import json
import os
import socket
import time

from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import open_regular, read_text

POLL_SECONDS = 0.2


class LockHeld(Exception):
    """Another process held the lock for longer than the timeout; ``holder`` describes it."""

    def __init__(self, path, holder):
        super(LockHeld, self).__init__(path)
        self.path = path
        self.holder = holder


def lock_path(dest):
    directory, name = os.path.split(dest)
    return os.path.join(directory, ".%s.hf-lock" % name)


def describe_holder(path):
    """'PID 123 on host h since 2026-...' from the lock file, or a plain phrase when unreadable."""
    try:
        holder = json.loads(read_text(path, "a lock file", limit=4096))
        return "PID %s on host %s since %s" % (holder["pid"], holder["host"], holder["since"])
    except (OSError, ValueError, KeyError, TypeError):  # UnsafeFile is a ValueError
        return "a process that has not yet written its PID"


class DestinationLock:
    """Context manager: ``with DestinationLock(dest, timeout):`` waits at most ``timeout`` seconds."""

    def __init__(self, dest, timeout, clock=time.monotonic, sleep=time.sleep):
        self.path = lock_path(dest)
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._descriptor = None

    def __enter__(self):
        deadline = self._clock() + max(self.timeout, 0)
        while True:
            descriptor = open_regular(self.path, "a lock file", os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                if self._clock() >= deadline:
                    raise LockHeld(self.path, describe_holder(self.path))
                self._sleep(POLL_SECONDS)
                continue
            if self._still_linked(descriptor):
                break
            # The previous holder removed the file between our open and our lock: lock the new one.
            os.close(descriptor)
        self._descriptor = descriptor
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(descriptor, 0)
        os.write(descriptor, json.dumps(holder).encode("utf-8"))
        return self

    def _still_linked(self, descriptor):
        try:
            return os.stat(self.path).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            return False

    def __exit__(self, *_exc):
        # Remove the file while still holding the lock, so the store keeps no lock files; a waiter
        # that opened the old file notices (_still_linked) and locks a fresh one.
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self._descriptor)
        self._descriptor = None
        return False
