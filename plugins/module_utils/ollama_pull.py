# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a streaming ``POST /api/pull`` says, turned into progress a person can watch and errors they can act on.

Ollama answers a pull with one JSON object per line (``api.ProgressResponse``): ``pulling manifest``, then per
layer ``{"status": "pulling <12 hex>", "digest", "total", "completed"}`` about every 60 ms, then ``verifying sha256
digest``, ``writing manifest``, ``success``. The HTTP status is already 200, so a failure comes as a last line
``{"error": "..."}``. ``PullProgress`` sums the layers into bytes done/total, rate and ETA, keeps a short log
(one line per status, not thousands) and mirrors it to a progress file in the keys ``hf_model_progress`` reads.
``follow_pull`` consumes the lines and raises ``PullFailed`` with an actionable message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import time

from ansible_collections.ai4artsed.devserver.plugins.module_utils.bounded_http import HttpFailure
from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_progress import ProgressFileWriter, progress_line

SUCCESS = "success"
RESUME_HINT = "Re-running the task resumes the pull: Ollama keeps the parts it has downloaded."
MODELS_FOLDER_DEFAULT = "/usr/share/ollama/.ollama/models"

# Go's network errors, as Ollama passes them on: no DNS, no route, refused, timed out, TLS or proxy trouble.
NETWORK_MARKERS = ("dial tcp", "lookup ", "no such host", "i/o timeout", "network is unreachable", "no route to host",
                   "connection refused", "connection reset", "deadline exceeded", "tls handshake", "proxyconnect",
                   "timeout awaiting", "server misbehaving", "certificate")
UNKNOWN_MODEL_MARKERS = ("file does not exist", "manifest unknown", "model not found", "not found")
DISK_FULL_MARKER = "no space left on device"


class PullFailed(Exception):
    """The pull did not end in success; ``kind`` names the cause (error_kind in the module result)."""

    def __init__(self, message, kind):
        super(PullFailed, self).__init__(message)
        self.kind = kind


class PullProgress:
    """Per-digest byte counts of one pull, summed into a snapshot and a short log; written to ``path`` when set.

    The total grows as Ollama reaches each layer (it names a layer's size when it starts pulling it), so before
    the last layer starts the total is a lower bound. The clock is injectable for tests.
    """

    def __init__(self, model, path=None, clock=time.monotonic, interval=1.0, window=5.0):
        self.model = model
        self.path = path
        self.status = "starting"
        self.error = None
        self.finished = False
        self.layers = {}  # digest -> [completed, total], in the order Ollama reached them
        self._order = []
        self._log = []  # status lines in order; a layer's line is an int, its index in self._order
        self._clock = clock
        self._window = window
        self._samples = [(clock(), 0)]
        self._file = ProgressFileWriter(path, clock, interval)

    def update(self, event):
        """Take one line of the stream (a dict) into account; write the progress file now and then."""
        status = event.get("status") or self.status
        digest = event.get("digest")
        changed_status = status != self.status
        self.status = status
        if digest:
            if digest not in self.layers:
                self.layers[digest] = [0, 0]
                self._order.append(digest)
                self._log.append(len(self._order) - 1)
            layer = self.layers[digest]
            layer[0] = int(event.get("completed") or 0)
            layer[1] = int(event.get("total") or 0) or layer[1]
        elif changed_status and status not in self._log:
            self._log.append(status)
        if status == SUCCESS:
            self.finished = True
        self._maybe_write(force=changed_status and not digest)

    def fail(self, message):
        self.error = message
        self._maybe_write(force=True)

    def done_bytes(self):
        return sum(layer[0] for layer in self.layers.values())

    def total_bytes(self):
        return sum(layer[1] for layer in self.layers.values())

    def layers_done(self):
        return sum(1 for done, total in self.layers.values() if total and done >= total)

    def rate(self):
        """Bytes per second over the last few seconds, so the ETA follows the current speed."""
        now, done = self._clock(), self.done_bytes()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window:
            self._samples.pop(0)
        elapsed = now - self._samples[0][0]
        return (done - self._samples[0][1]) / elapsed if elapsed > 0 else 0.0

    def line(self, rate=None):
        """One line for a person: bytes, rate and ETA while layers download, else what Ollama is doing."""
        done, total = self.done_bytes(), self.total_bytes()
        if self.error:
            return "failed: %s" % self.error
        if self.finished:
            return "success: %s in %d layers" % (human_bytes(total), len(self.layers))
        if not total:
            return self.status
        if done < total:
            rate = self.rate() if rate is None else rate
            return "%s (%s)" % (progress_line(done, total, rate), self.status)
        return "%s (%s)" % (human_bytes(total), self.status)

    def log(self):
        """The short log: each status once, each layer once with its final count (``pulling 8eeb52dfb3bb: 13.8 GB``)."""
        lines = []
        for entry in self._log:
            if isinstance(entry, int):
                digest = self._order[entry]
                done, total = self.layers[digest]
                size = human_bytes(total) if done >= total else "%s of %s" % (human_bytes(done), human_bytes(total))
                lines.append("pulling %s: %s" % (short_digest(digest), size))
            else:
                lines.append(entry)
        if self.error:
            lines.append("error: %s" % self.error)
        return lines

    def snapshot(self):
        rate = self.rate()
        done, total = self.done_bytes(), self.total_bytes()
        running = not (self.finished or self.error)
        return {
            "model": self.model,
            "status": self.status,
            "finished": self.finished,
            "error": self.error,
            "done_bytes": done,
            "total_bytes": total,
            # 'files' as hf_model_progress counts them: each layer is one blob file below OLLAMA_MODELS/blobs.
            "files_done": self.layers_done(),
            "files_total": len(self.layers),
            "bytes_per_second": int(rate) if running else 0,
            "eta_seconds": int(max(total - done, 0) / rate) if running and rate > 0 and total > done else None,
            "line": self.line(rate),
            "updated": time.time(),
        }

    def _maybe_write(self, force=False):
        self._file.write(self.snapshot, force)

    def close(self):
        self._maybe_write(force=True)


def short_digest(digest):
    """The 12 hex characters Ollama shows for a layer: ``sha256:8eeb52dfb3bb...`` -> ``8eeb52dfb3bb``."""
    return digest.split(":", 1)[-1][:12]


def parse_line(raw):
    """One NDJSON line (bytes or str) as a dict; None for a blank line; PullFailed for anything that is not JSON."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = text.strip()
    if not text:
        return None
    try:
        event = json.loads(text)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise PullFailed("Ollama's pull answer is not a line of JSON: %r. Does the host option point at Ollama?"
                         % text[:200], "protocol")
    return event


def models_folder(error):
    """OLLAMA_MODELS as the path in Ollama's error shows it (the part before /blobs/ or /manifests/), else None."""
    match = re.search(r"(/\S*?)/(?:blobs|manifests)(?:/|\b)", error)
    return match.group(1) if match else None


def classify_error(error, name, registry, progress=None):
    """A PullFailed for Ollama's error text: what happened and what to do, by cause."""
    lowered = error.lower()
    if DISK_FULL_MARKER in lowered:
        folder = models_folder(error)
        where = ("the models folder %s (OLLAMA_MODELS)" % folder if folder else
                 "the models folder of the ollama service (OLLAMA_MODELS, by default %s)" % MODELS_FOLDER_DEFAULT)
        need = ""
        if progress is not None and progress.total_bytes():
            still = max(progress.total_bytes() - progress.done_bytes(), 0)
            need = " The layers Ollama reached so far need %s, %s of them still to download." % (
                human_bytes(progress.total_bytes()), human_bytes(still))
        return PullFailed("Pulling %s failed: the disk is full (%s). Free space on the disk of %s, or point OLLAMA_MODELS "
                          "at a bigger disk.%s %s" % (name, error, where, need, RESUME_HINT), "disk_full")
    if any(marker in lowered for marker in NETWORK_MARKERS):
        return PullFailed("Pulling %s failed: Ollama could not reach the registry %s (%s). This host has no route to %s: "
                          "check its network and DNS, and if it must go through a proxy, set HTTPS_PROXY for the ollama "
                          "service (systemctl edit ollama: Environment=\"HTTPS_PROXY=http://proxy:port\"; Ollama uses "
                          "no HTTP_PROXY). %s" % (name, registry, error, registry, RESUME_HINT), "registry_unreachable")
    if any(marker in lowered for marker in UNKNOWN_MODEL_MARKERS):
        return PullFailed("Ollama's registry %s has no model %s (%s). Check the name and tag on "
                          "https://ollama.com/library." % (registry, name, error), "unknown_model")
    return PullFailed("Pulling %s failed: %s" % (name, error), "pull_error")


def follow_pull(lines, progress, name, registry, deadline=None, clock=time.monotonic):
    """Read the pull's lines as they arrive until ``success``; PullFailed for an error line, a cut or a timeout.

    ``lines`` yields raw lines (bounded_http's ``Stream.lines``); it raises HttpFailure when the connection breaks,
    stays silent too long or sends a line over the limit.
    """
    try:
        for raw in lines:
            event = parse_line(raw)
            if event is None:
                continue
            if event.get("error"):
                failure = classify_error(str(event["error"]), name, registry, progress)
                progress.fail(str(event["error"]))
                raise failure
            progress.update(event)
            if progress.finished:
                return progress
            if deadline is not None and clock() > deadline:
                progress.fail("timed out")
                raise PullFailed("Pulling %s did not finish within the timeout (%s so far). %s"
                                 % (name, progress.line(), RESUME_HINT), "timeout")
    except HttpFailure as error:  # from bounded_http's Stream: silent too long, a line too long, a cut
        if error.kind == "idle":
            progress.fail("Ollama sent nothing for too long")
            raise PullFailed("Pulling %s did not finish: Ollama sent nothing for the whole timeout, after %s. %s"
                             % (name, _where(progress), RESUME_HINT), "timeout")
        if error.kind == "too_large":
            progress.fail(str(error))
            raise PullFailed("Pulling %s failed: %s" % (name, error), "protocol")
        progress.fail("the connection broke: %s" % error)
        raise PullFailed("Pulling %s did not finish: the connection to Ollama broke (%s) after %s. %s"
                         % (name, error, _where(progress), RESUME_HINT), "incomplete")
    progress.fail("the stream ended without success")
    raise PullFailed("Pulling %s did not finish: Ollama's answer ended without \"success\" after %s. %s"
                     % (name, _where(progress), RESUME_HINT), "incomplete")


def _where(progress):
    if not progress.total_bytes():
        return "'%s'" % progress.status
    return "%s of %s, at '%s'" % (human_bytes(progress.done_bytes()), human_bytes(progress.total_bytes()), progress.status)
