"""Every role's interface is declared once: defaults/main.yml and meta/argument_specs.yml agree."""

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
