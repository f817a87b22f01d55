"""What an account that owns a module's folder can put where the module expects its file: the table every
file-writing and file-reading module's tests run through.

Each kind is planted at a path with plant(); a symlink points at a root-only file holding SECRET (or a folder, or
nowhere), so a test can check that no byte of it reached the result and that the target is unchanged.
"""

import os
import signal
import stat
from contextlib import contextmanager

import pytest

SECRET = "root-only-secret-7c1f0e"  # never in a result, a diff, a message or a file the module wrote

# (id, what the module's message must say is there)
KINDS = [
    ("symlink to a root-only file", "is a symlink"),
    ("symlink to a folder", "is a symlink"),
    ("dangling symlink", "is a symlink"),
    ("symlink loop", "is a symlink"),
    ("FIFO", "is a FIFO"),
    ("socket", "is a socket"),
    ("character device", "is a character device"),
    ("folder", "is a folder"),
]
KIND_IDS = [kind for kind, _said in KINDS]


def secret_file(tmp_path):
    """A root-only file (0600) holding SECRET, outside the module's folder: /etc/shadow's stand-in."""
    target = tmp_path / "etc" / "shadow"
    target.parent.mkdir(exist_ok=True)
    if not target.exists():
        target.write_text("root:%s:19000:0:99999:7:::\n" % SECRET)
        target.chmod(0o600)
    return target


def plant(path, kind, tmp_path):
    """Put kind at path (a pathlib.Path whose folder exists); returns the symlink's target, or None."""
    target = None
    if kind == "symlink to a root-only file":
        target = secret_file(tmp_path)
        path.symlink_to(target)
    elif kind == "symlink to a folder":
        target = secret_file(tmp_path).parent
        path.symlink_to(target)
    elif kind == "dangling symlink":
        path.symlink_to(tmp_path / "nowhere" / "file")
    elif kind == "symlink loop":
        path.symlink_to(path.name)
    elif kind == "FIFO":
        os.mkfifo(str(path))
    elif kind == "socket":
        os.mknod(str(path), 0o600 | stat.S_IFSOCK)
    elif kind == "character device":
        try:
            os.mknod(str(path), 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero: endless bytes if read
        except PermissionError:
            pytest.skip("making a device node needs root")
    elif kind == "folder":
        path.mkdir()
        (path / "inside").write_text(SECRET)
    return target


def snapshot(tmp_path):
    """The secret file's bytes and mode, to show a module changed nothing of it."""
    target = secret_file(tmp_path)
    info = os.stat(str(target))
    return target.read_bytes(), stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid


@contextmanager
def no_hang(seconds=10):
    """Fail the test instead of hanging when the code under test blocks (an open() of a FIFO does)."""
    def expire(_signum, _frame):
        raise AssertionError("blocked for %d s (an open or read of a FIFO or device?)" % seconds)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
