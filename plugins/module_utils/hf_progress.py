# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress a person can watch: a small JSON file rewritten about once a second.

hf_model writes it (``ProgressBoard``); hf_model_progress reads it (``job_status``) while the
download runs as an async task, and a role prints its ``line``, e.g. ``3.2 / 35.5 GB, 110 MB/s, ETA 5 min``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import threading
import time

from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import write_json_atomically
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import default_state_dir
from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import read_text

PROGRESS_FILE_NAME = "progress.json"


def progress_path(state_dir):
    """hf_model's progress file in its state folder (the default of its progress_file option)."""
    return os.path.join(state_dir, PROGRESS_FILE_NAME)


def default_progress_file(root):
    """The progress file of an hf_model run on ``root`` that sets neither state_dir nor progress_file."""
    return progress_path(default_state_dir(root))


def human_duration(seconds):
    if seconds is None:
        return "unknown"
    seconds = int(round(seconds))
    if seconds < 60:
        return "%d s" % seconds
    if seconds < 3600:
        return "%d min" % round(seconds / 60.0)
    return "%d h %02d min" % (seconds // 3600, (seconds % 3600) // 60)


def progress_line(done, total, rate):
    """'3.2 / 35.5 GB, 110 MB/s, ETA 5 min' (both sizes in the unit of the total)."""
    unit_text = human_bytes(total)
    unit = unit_text.split()[-1]
    scale = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15}[unit]
    if unit == "B":
        amount = "%d / %d B" % (done, total)
    else:
        amount = "%.1f / %.1f %s" % (done / scale, total / scale, unit)
    if rate and rate > 0:
        eta = human_duration(max(total - done, 0) / rate)
        return "%s, %s/s, ETA %s" % (amount, human_bytes(rate), eta)
    return "%s, waiting for data" % amount


class ProgressFileWriter:
    """Rewrites a progress file with a fresh snapshot at most every ``interval`` seconds, or at once when forced.

    No fsync: a courtesy file rewritten every few seconds next to gigabytes being written. An OSError (a full disk)
    is swallowed: it must fail the transfer itself, not its progress report."""

    def __init__(self, path, clock, interval):
        self.path = path
        self._clock = clock
        self._interval = interval
        self._last_write = None

    def write(self, snapshot, force=False):
        """``snapshot`` is called only when the file is due, so a skipped write costs nothing."""
        now = self._clock()
        if self.path and (force or self._last_write is None or now - self._last_write >= self._interval):
            self._last_write = now
            try:
                write_json_atomically(self.path, snapshot(), sync=False)
            except OSError:
                pass


class ProgressBoard:
    """Thread-safe byte counter for a batch of downloads, mirrored to a JSON file when a path is set."""

    def __init__(self, path, total_bytes, files_total, clock=time.monotonic, interval=1.0):
        self.path = path
        self.total = total_bytes
        self.files_total = files_total
        self.files_done = 0
        self.done = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._samples = [(self._started, 0)]
        self._file = ProgressFileWriter(path, clock, interval)

    def add(self, count):
        with self._lock:
            self.done += count
            self._maybe_write()

    def file_finished(self):
        with self._lock:
            self.files_done += 1
            self._maybe_write(force=True)

    def rate(self):
        """Bytes per second over the last few seconds, so the ETA follows the current speed."""
        now = self._clock()
        self._samples.append((now, self.done))
        while len(self._samples) > 2 and now - self._samples[0][0] > 5:
            self._samples.pop(0)
        elapsed = now - self._samples[0][0]
        return (self.done - self._samples[0][1]) / elapsed if elapsed > 0 else 0.0

    def snapshot(self):
        rate = self.rate()
        remaining = max(self.total - self.done, 0)
        return {
            "done_bytes": self.done,
            "total_bytes": self.total,
            "files_done": self.files_done,
            "files_total": self.files_total,
            "bytes_per_second": int(rate),
            "eta_seconds": int(remaining / rate) if rate > 0 else None,
            "line": progress_line(self.done, self.total, rate),
            "updated": time.time(),
        }

    def _maybe_write(self, force=False):
        self._file.write(self.snapshot, force)

    def close(self):
        with self._lock:
            self._maybe_write(force=True)


def _read_json(path):
    try:
        return json.loads(read_text(path, "a progress file") or "null")
    except (IOError, OSError, ValueError, RecursionError):  # also UnsafeFile: never hang on a planted FIFO
        return None


def job_status(progress_file, results_file=None, started=None):
    """What a person watching an async hf_model job sees: {finished, line, done_bytes, total_bytes, files_done,
    files_total}, read from the job's progress file and from the async results file (finished once it holds
    the final result). A progress file last written before ``started`` (Unix time) is an earlier run's."""
    progress = _read_json(progress_file) or {}
    if started is not None and progress.get("updated", 0) < started:
        progress = {}
    job = _read_json(results_file) if results_file else None
    finished = bool(job) and (bool(job.get("finished")) or "started" not in job)
    line = progress.get("line") or "waiting for the first progress report"
    result = {"finished": finished, "line": line}
    for key in ("done_bytes", "total_bytes", "files_done", "files_total"):
        result[key] = int(progress.get(key) or 0)
    if finished and not progress:
        result["line"] = "finished, nothing was downloaded"
    elif result["files_total"]:
        result["line"] = "%s (%d of %d files)" % (line, result["files_done"], result["files_total"])
    return result
