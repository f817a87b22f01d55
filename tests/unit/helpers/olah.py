"""The real olah (the model_mirror role's pinned closure) in front of the hub double, for tests.

olah_venv() builds a venv from roles/model_mirror/files/requirements.txt once (about 20 s; pip
reaches PyPI or the machine's wheel cache) and keeps it in ~/.cache/ai4artsed-devserver/, outside
the checkout where linters would read it, named by the file's sha256 so that a changed pin builds
a new one. A venv cannot be moved, so it is built in place and a 'ready' file, written last, marks
it usable. OlahMirror starts olah-cli on a free loopback port with a HOME of its own (olah writes
~/.olah there) and stops it.
"""

import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import struct
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
REQUIREMENTS = REPO_ROOT / "roles" / "model_mirror" / "files" / "requirements.txt"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ai4artsed-devserver"
HEADER_PREFIX = "<4sHHIQQBIH8s"  # olah/cache/olah_cache.py: OlahCacheHeader.FIXED_PREFIX_FMT


class OlahUnavailable(Exception):
    """olah's venv could not be built here (no PyPI, no wheels); the message says why."""


def olah_venv():
    """The folder of a venv holding olah's pinned closure, built on first use."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    venv = CACHE / ("olah-venv-%s" % digest)
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(str(CACHE / "olah-venv.lock"), "w") as lock:  # parallel test runs build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / "ready").exists():
            return venv
        shutil.rmtree(str(venv), ignore_errors=True)  # a build that was cut short: the marker comes last
        commands = ([sys.executable, "-m", "venv", str(venv)],
                    [str(venv / "bin" / "pip"), "install", "--quiet", "--no-deps", "-r", str(REQUIREMENTS)])
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                shutil.rmtree(str(venv), ignore_errors=True)
                raise OlahUnavailable("%s failed: %s" % (" ".join(command[:4]), done.stderr.strip()[-500:]))
        (venv / "ready").write_text("olah's pinned closure from %s\n" % REQUIREMENTS)
    return venv


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OlahMirror:
    """olah-cli serving hub (a started HubDouble) through cache_dir; use as a context manager."""

    def __init__(self, venv, hub, workdir, block_size=None):
        self.venv, self.hub, self.workdir = Path(venv), hub, Path(workdir)
        self.cache_dir = self.workdir / "cache"
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.block_size = block_size
        self.process = None

    def config(self):
        lines = ["[basic]", 'host = "127.0.0.1"', "port = %d" % self.port, 'hf-scheme = "http"',
                 'hf-netloc = "%s"' % self.hub.url.split("//")[1], 'hf-lfs-netloc = "%s"' % self.hub.cdn_url.split("//")[1],
                 'mirror-netloc = "127.0.0.1:%d"' % self.port, 'mirror-lfs-netloc = "127.0.0.1:%d"' % self.port,
                 'repos-path = "%s"' % self.cache_dir]
        if self.block_size:
            lines.append('cache-block-size = "%d"' % self.block_size)
        return "\n".join(lines) + "\n"

    def start(self, timeout=60):
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "olah.toml"
        config.write_text(self.config())
        self.log = self.workdir / "olah.out"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(self.venv / "bin" / "olah-cli"), "-c", str(config), "--log-path", str(self.workdir / "logs")],
                cwd=str(home), env=dict(os.environ, HOME=str(home)), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("olah exited with %s: %s" % (self.process.returncode, self.log.read_text()[-2000:]))
            try:
                urllib.request.urlopen(self.url + "/api/models/none/none", timeout=2).close()
                return self
            except urllib.error.HTTPError:  # any answer: it listens
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("olah did not answer on %s within %d s: %s" % (self.url, timeout, self.log.read_text()[-2000:]))

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def get(self, url_path, byte_range=None):
        """GET through the mirror: (status, body)."""
        request = urllib.request.Request(self.url + url_path)
        if byte_range:
            request.add_header("Range", "bytes=%d-%d" % byte_range)
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()

    def __enter__(self):
        return self.start()

    def __exit__(self, *_exc):
        self.stop()


def entry_header(file_size, block_size, etag=b"", version=10):
    """meta.bin as olah 0.5.4 writes it (cache format 10), for synthetic cache trees (small blocks allowed)."""
    chunk_size = min(block_size, 1024 * 1024)
    header_size = struct.calcsize(HEADER_PREFIX) + len(etag) + 4 + 4
    prefix = struct.pack(HEADER_PREFIX, b"OLAH", version, 1 if etag else 0, header_size, block_size, file_size, 0,
                         chunk_size, len(etag), b"\0" * 8)
    body = prefix + etag + struct.pack("<I", 0)
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def write_entry(cache_dir, relative, file_size, block_size, blocks, etag=b"0" * 64):
    """A cache entry at cache_dir/relative with the given block indices present (their real lengths)."""
    entry = Path(cache_dir) / relative
    (entry / "blocks").mkdir(parents=True, exist_ok=True)
    (entry / "meta.bin").write_bytes(entry_header(file_size, block_size, etag))
    (entry / "meta.lock").write_bytes(b"")
    chunk_size = min(block_size, 1024 * 1024)
    (entry / "chunks.crc").write_bytes(b"\0" * 4 * ((file_size + chunk_size - 1) // chunk_size))
    for index in blocks:
        length = min(block_size, file_size - index * block_size)
        (entry / "blocks" / ("block_%08d.bin" % index)).write_bytes(b"x" * length)
        (entry / "blocks" / ("block_%08d.bin.dl.lock" % index)).write_bytes(b"")
    return entry
