"""store_cleanup: plan_merge refuses what it cannot merge safely (the module cases are in test_model_archive)."""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import archive, store_cleanup

from helpers.model_trees import build


def test_merge_refuses_a_destination_that_is_not_a_real_directory(roots):
    store, _archive_root = roots
    build(store, {"VAE/a": "a", "vae": ("link", "VAE")})
    with pytest.raises(archive.ArchiveError, match="not a real directory"):
        store_cleanup.plan_merge(str(store), "VAE", "vae")


def test_merge_skips_a_deprecated_folder_that_is_only_a_symlink(roots):
    store, _archive_root = roots
    build(store, {"vae/a": "a", "VAE": ("link", "vae")})
    assert [entry["action"] for entry in store_cleanup.plan_merge(str(store), "VAE", "vae")] == ["skip"]
