"""Make the collection importable as ansible_collections.ai4artsed.devserver for unit tests.

scripts/bootstrap links the checkout into .collections/; putting that folder on sys.path merges it
into the ansible_collections namespace package next to the collections the ansible package ships.
tests/unit (for `helpers.*`) and tests/doubles (the fake services) are importable too.
"""

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO_ROOT / ".collections"

if not (COLLECTIONS / "ansible_collections" / "ai4artsed" / "devserver").exists():
    raise RuntimeError("Run scripts/bootstrap first: it links this checkout into .collections/")
sys.path.insert(0, str(COLLECTIONS))
sys.path.insert(0, str(REPO_ROOT / "tests" / "doubles"))
sys.path.insert(0, str(REPO_ROOT / "tests" / "unit"))


@pytest.fixture
def store(tmp_path):
    """An empty model store (SwarmUI/Models) in a fresh temporary folder."""
    root = tmp_path / "Models"
    root.mkdir()
    return root


@pytest.fixture
def roots(tmp_path):
    """(store, archive root): an empty model store and the archive beside it, not yet created."""
    store, archive_root = tmp_path / "Models", tmp_path / "model-archive"
    store.mkdir()
    return store, archive_root
