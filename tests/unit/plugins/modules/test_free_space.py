"""free_space: read-only, the same in check mode, and a clear error without a path."""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.modules import free_space
from helpers.module_runner import run_module


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "home" / "ai4artsed").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("check_mode", [False, True])
def test_module_reports_the_same_in_check_mode_and_changes_nothing(capsys, tree, check_mode):
    target = tree / "home" / "ai4artsed" / "ai"
    code, result = run_module(capsys, free_space, {"path": str(target), "_ansible_check_mode": check_mode})
    assert code == 0
    assert result["changed"] is False
    assert result["checked_path"] == str(tree / "home" / "ai4artsed")
    assert result["exists"] is False
    assert result["free_bytes"] > 0
    assert result["free_human"].endswith("B")
    assert not target.exists()


def test_module_requires_a_path(capsys):
    code, result = run_module(capsys, free_space, {})
    assert code == 1
    assert "path" in result["msg"]
