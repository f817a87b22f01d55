"""What a user installs and runs: the built collection, its module docs, the playbooks and inventories."""

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(path.stem for path in (REPO_ROOT / "plugins" / "modules").glob("*.py") if path.stem != "__init__")
INVENTORIES = sorted(path.name for path in (REPO_ROOT / "inventories").iterdir() if path.is_dir())


def run(*command, cwd=REPO_ROOT):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture(scope="module")
def built_collection(tmp_path_factory):
    output = tmp_path_factory.mktemp("build")
    result = run("ansible-galaxy", "collection", "build", "--output-path", str(output), str(REPO_ROOT))
    assert result.returncode == 0, result.stderr
    (tarball,) = output.glob("ai4artsed-devserver-*.tar.gz")
    with tarfile.open(tarball) as archive:
        return tarball.name, archive.getnames()


def test_build_is_named_after_galaxy_yml(built_collection):
    name, _members = built_collection
    assert name == "ai4artsed-devserver-0.1.0.tar.gz"


@pytest.mark.parametrize(
    "required",
    ["MANIFEST.json", "README.md", "meta/runtime.yml", "site.yml", "playbooks/site.yml",
     "roles/common/tasks/main.yml", "roles/common/meta/argument_specs.yml", "plugins/modules/free_space.py",
     "plugins/module_utils/disk.py", "inventories/production/hosts.yml", "changelogs/changelog.yaml",
     "roles/nvidia_driver/tasks/main.yml", "roles/nvidia_driver/meta/argument_specs.yml",
     "plugins/modules/nvidia_driver_facts.py", "plugins/module_utils/nvidia.py", "plugins/module_utils/nvidia_facts.py",
     "plugins/doc_fragments/read_only.py",
     "roles/model_store/files/manifest.yml", "roles/model_store/meta/argument_specs.yml",
     "plugins/modules/model_manifest.py", "plugins/module_utils/manifest.py", "playbooks/storage_report.yml",
     "playbooks/drift.yml", "plugins/callback/drift_report.py", "roles/drift_timer/tasks/main.yml"],
)
def test_build_contains_what_users_run(built_collection, required):
    _name, members = built_collection
    assert required in members


@pytest.mark.parametrize(
    "excluded_top_level",
    ["tests", "molecule", "bench", "scripts", ".venv", ".collections", ".ci", ".git", ".config", "pytest.ini"],
)
def test_build_leaves_out_tests_tooling_and_caches(built_collection, excluded_top_level):
    _name, members = built_collection
    assert not [m for m in members if m == excluded_top_level or m.startswith(excluded_top_level + "/")]
    assert not [m for m in members if "__pycache__" in m or m.endswith(".pyc")]


def test_there_are_modules_to_document():
    assert "free_space" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_every_module(module):
    result = run("ansible-doc", f"ai4artsed.devserver.{module}")
    assert result.returncode == 0, result.stderr
    assert f"ai4artsed.devserver.{module}" in result.stdout
    assert "EXAMPLES:" in result.stdout and "RETURN VALUES:" in result.stdout


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_site_playbook_parses_against_every_inventory(inventory):
    result = run("ansible-playbook", "--syntax-check", "-i", f"inventories/{inventory}", "site.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_inventory_has_a_devservers_host(inventory):
    result = run("ansible-inventory", "-i", f"inventories/{inventory}", "--graph", "devservers")
    assert result.returncode == 0, result.stderr
    assert "|--" in result.stdout, result.stdout


def test_ansible_doc_renders_the_drift_report_callback():
    result = run("ansible-doc", "-t", "callback", "ai4artsed.devserver.drift_report")
    assert result.returncode == 0, result.stderr
    assert "AI4ARTSED_DRIFT_REPORT" in result.stdout


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_drift_playbook_parses_against_every_inventory(inventory):
    result = run("ansible-playbook", "--syntax-check", "-i", f"inventories/{inventory}", "playbooks/drift.yml")
    assert result.returncode == 0, result.stdout + result.stderr
