"""disk: which filesystem a (maybe not yet existing) path lands on, and how much fits."""

import os
from collections import namedtuple

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import disk

FakeStatvfs = namedtuple("FakeStatvfs", "f_bavail f_frsize f_blocks")


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "home" / "ai4artsed").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("home/ai4artsed", "home/ai4artsed"),  # exists: measured itself
        ("home/ai4artsed/ai", "home/ai4artsed"),  # fresh host: the parent it will be created in
        ("home/ai4artsed/ai/SwarmUI/Models", "home/ai4artsed"),  # several levels missing
        ("srv/models", ""),  # only the root exists
    ],
)
def test_existing_ancestor(tree, relative, expected):
    assert disk.existing_ancestor(str(tree / relative)) == str(tree / expected).rstrip("/")


def test_existing_ancestor_of_a_missing_top_level_path_is_root():
    assert disk.existing_ancestor("/no-such-top-level-dir-ai4artsed/x") == "/"


def test_mount_point_of_root_is_root():
    assert disk.mount_point("/") == "/"


def test_mount_point_is_an_ancestor_on_the_same_device(tree):
    mount = disk.mount_point(str(tree / "home"))
    assert str(tree).startswith(mount)
    assert os.stat(mount).st_dev == os.stat(str(tree)).st_dev


@pytest.mark.parametrize(
    ("stats", "free", "total"),
    [
        (FakeStatvfs(f_bavail=10, f_frsize=4096, f_blocks=100), 40960, 409600),
        (FakeStatvfs(f_bavail=0, f_frsize=4096, f_blocks=100), 0, 409600),  # full disk
        (FakeStatvfs(f_bavail=97656250, f_frsize=4096, f_blocks=244140625), 400 * 10**9, 10**12),
    ],
)
def test_disk_space_counts_what_an_unprivileged_user_may_write(tree, stats, free, total):
    space = disk.disk_space(str(tree / "home" / "ai4artsed" / "ai"), statvfs=lambda _path: stats)
    assert (space.free_bytes, space.total_bytes) == (free, total)
    assert space.checked_path == str(tree / "home" / "ai4artsed")
    assert space.exists is False


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 KB"),
        (35_500_000_000, "35.5 GB"),
        (390 * 10**9, "390.0 GB"),
        (1_200_000_000_000, "1.2 TB"),
        (5 * 10**18, "5000.0 PB"),
    ],
)
def test_human_bytes_uses_decimal_units(count, text):
    assert disk.human_bytes(count) == text
