"""Every role's interface is declared once: defaults/main.yml and meta/argument_specs.yml agree."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
ROLES = sorted(path.name for path in ROLES_DIR.iterdir() if path.is_dir())


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def main_options(role):
    return load(ROLES_DIR / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def test_there_are_roles_to_check():
    assert "common" in ROLES


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_list_the_same_variables(role):
    defaults = load(ROLES_DIR / role / "defaults" / "main.yml")
    options = main_options(role)
    assert sorted(set(defaults) - set(options)) == [], "in defaults/main.yml but not in meta/argument_specs.yml"
    assert sorted(set(options) - set(defaults)) == [], "in meta/argument_specs.yml but not in defaults/main.yml"


@pytest.mark.parametrize("role", ROLES)
def test_argument_spec_defaults_equal_the_role_defaults(role):
    defaults = load(ROLES_DIR / role / "defaults" / "main.yml")
    mismatched = {
        name: (spec.get("default"), defaults[name])
        for name, spec in main_options(role).items()
        if name in defaults and spec.get("default") != defaults[name]
    }
    assert mismatched == {}, "argument_specs default != defaults/main.yml value"


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_documented_and_prefixed_with_the_role_name(role):
    for name, spec in main_options(role).items():
        assert name.startswith(role + "_"), name
        assert spec.get("description"), f"{name} has no description"
        assert spec.get("type"), f"{name} has no type"


# model_store without the common role: its argument validation (the task Ansible puts first in the role,
# tagged always) must pass with only model_store_* variables, and the paths follow model_store_root.
VALIDATION_PLAY = """
- name: Validate model_store's arguments only
  hosts: localhost
  gather_facts: false
  vars: %s
  roles:
    - role: ai4artsed.devserver.model_store
  post_tasks:
    - name: Write the paths the role would use
      ansible.builtin.copy:
        content: "{{ {'comfyui': model_store_comfyui_models_dir, 'archive': model_store_archive_dir,
                      'report': model_store_report_path, 'on_conflict': model_store_on_conflict} | to_json }}"
        dest: %s
        mode: "0644"
      tags: [only_the_validation]
"""


def validate_model_store(tmp_path, variables):
    derived = tmp_path / "derived.json"
    play = tmp_path / "play.yml"
    play.write_text(VALIDATION_PLAY % (json.dumps(variables), derived))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROLES_DIR.parent / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
         "--tags", "only_the_validation", str(play)],
        cwd=ROLES_DIR.parent, env=env, capture_output=True, text=True, check=False, timeout=120)
    return result, (json.loads(derived.read_text()) if derived.exists() else None)


@pytest.mark.parametrize("variables", [
    {"model_store_root": "/srv/ai/SwarmUI/Models"},
    {"model_store_root": "/srv/ai/SwarmUI/Models",
     "model_store_comfyui_models_dir": "/srv/ai/SwarmUI/dlbackend/ComfyUI/models",
     "model_store_archive_dir": "/srv/ai/model-archive", "model_store_report_path": "/srv/ai/storage-report.md",
     "model_store_on_conflict": "archive"},
], ids=["only the store root", "every model_store path"])
def test_model_store_validates_without_the_common_role(tmp_path, variables):
    result, derived = validate_model_store(tmp_path, variables)
    assert result.returncode == 0, result.stdout + result.stderr
    assert derived == {"comfyui": "/srv/ai/SwarmUI/dlbackend/ComfyUI/models", "archive": "/srv/ai/model-archive",
                       "report": "/srv/ai/storage-report.md",
                       "on_conflict": variables.get("model_store_on_conflict", "fail")}


def test_model_store_on_conflict_is_validated(tmp_path):
    result, derived = validate_model_store(tmp_path, {"model_store_root": "/srv/ai/SwarmUI/Models",
                                                      "model_store_on_conflict": "overwrite"})
    assert result.returncode != 0 and derived is None
    assert "model_store_on_conflict" in result.stdout and "overwrite" in result.stdout
