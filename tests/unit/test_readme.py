"""The README's runbook names only what exists: its variables in the role argument specs, its tags in the roles."""

import re
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
ROLES_DIR = REPO_ROOT / "roles"
IDENTIFIER = re.compile(r"`([a-z][a-z0-9_]*)`")


def section(heading):
    """The text of one '### heading' section of the README, up to the next heading."""
    match = re.search(r"^### %s\n(.*?)(?=^#)" % re.escape(heading), README, re.S | re.M)
    assert match, "README has no section '### %s'" % heading
    return match.group(1)


def table_rows(text):
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|") and not line.startswith("| ---")][1:]


def argument_spec_options(role):
    spec = yaml.safe_load((ROLES_DIR / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    return set(spec["argument_specs"]["main"]["options"])


ALL_OPTIONS = set().union(*(argument_spec_options(path.name) for path in ROLES_DIR.iterdir() if path.is_dir()))


def tags_in(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "tags":
                yield from [item] if isinstance(item, str) else item
            else:
                yield from tags_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from tags_in(item)


ROLE_TAGS = {tag for path in ROLES_DIR.glob("*/tasks/*.yml")
             for tag in tags_in(yaml.safe_load(path.read_text(encoding="utf-8")))}

VARIABLE_ROWS = table_rows(section("The most important variables"))


def test_the_variables_table_covers_every_role_of_the_site():
    roles = {re.match(r"\[(\w+)\]", row[0]).group(1) for row in VARIABLE_ROWS}
    assert roles == {path.name for path in ROLES_DIR.iterdir() if path.is_dir()}


@pytest.mark.parametrize("row", VARIABLE_ROWS, ids=lambda row: row[0].split("]")[0].strip("["))
def test_every_variable_in_the_table_is_in_its_roles_argument_spec(row):
    role, link = re.match(r"\[(\w+)\]\(([^)]+)\)", row[0]).groups()
    assert link == "roles/%s/meta/argument_specs.yml" % role
    named = IDENTIFIER.findall(row[1])
    assert named, row
    assert sorted(set(named) - argument_spec_options(role)) == [], "not in roles/%s/meta/argument_specs.yml" % role


def test_every_variable_the_upgrade_table_names_exists():
    rows = table_rows(section("Upgrading a pinned version"))
    named = {name for row in rows for name in IDENTIFIER.findall(row[1])}
    assert {"devserver_version", "comfyui_version", "swarmui_version", "ollama_version",
            "nvidia_driver_branch"} <= named
    assert sorted(named - ALL_OPTIONS) == []


def test_every_tag_the_readme_names_is_a_tag_of_a_role():
    tables = table_rows(section("One role or one step: tags"))
    named = {name for row in tables for cell in row[1:] for name in IDENTIFIER.findall(cell)}
    for option in re.findall(r"--(?:skip-)?tags ([a-z0-9_,]+)", README):
        named |= set(option.split(","))
    assert sorted(named - ROLE_TAGS) == []
    # and the table lists every step tag there is, so an operator finds each
    assert sorted(ROLE_TAGS - named - {"always"}) == []
