"""The inventories' secrets: every vault_* name the group_vars read is documented in the inventory's
vault.example.yml (and nothing else is), the example is plain text with placeholders only, and Ansible
does not load it as variables."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
INVENTORIES_DIR = REPO_ROOT / "inventories"
INVENTORIES = sorted(path.name for path in INVENTORIES_DIR.iterdir() if path.is_dir())
# Where the example lives: group_vars/ files load only for a group of that name, and no group is "vault.example".
EXAMPLE = Path("group_vars") / "vault.example.yml"
# Where the real (encrypted, uncommitted) vault file goes, per .gitignore and the README.
REAL_VAULT = Path("group_vars") / "all" / "vault.yml"
VAULT_NAME = re.compile(r"\bvault_[a-z0-9_]+")
PLACEHOLDER = "CHANGE_ME"
# Shapes of real secrets: a Hugging Face token, OpenRouter/OpenAI keys, an AWS key id, long hex or base64 strings.
REAL_LOOKING = [
    re.compile(r"hf_[A-Za-z0-9]{30,}"),
    re.compile(r"sk-[A-Za-z0-9-]{20,}"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"[0-9a-fA-F]{32,}"),
    re.compile(r"[A-Za-z0-9+/]{40,}={0,2}"),
]


def vault_names_referenced(inventory):
    """vault_* names in the inventory's hosts file, group_vars and host_vars (the example and vault files excluded)."""
    root = INVENTORIES_DIR / inventory
    names = set()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_dir() or relative == EXAMPLE or path.name == REAL_VAULT.name:
            continue
        names.update(VAULT_NAME.findall(path.read_text(encoding="utf-8")))
    return names


def example_path(inventory):
    return INVENTORIES_DIR / inventory / EXAMPLE


def leaf_strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from leaf_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaf_strings(item)
    else:
        yield str(value)


def test_the_environments_with_secrets_have_examples():
    assert [name for name in INVENTORIES if vault_names_referenced(name)] == ["production", "staging"]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_vault_variable_the_group_vars_read_is_in_the_example_and_no_other(inventory):
    referenced = vault_names_referenced(inventory)
    if not referenced:
        assert not example_path(inventory).exists(), "an example of a vault nobody reads"
        return
    documented = set(yaml.safe_load(example_path(inventory).read_text(encoding="utf-8")))
    assert sorted(referenced - documented) == [], "read in the inventory but not documented in " + str(EXAMPLE)
    assert sorted(documented - referenced) == [], "documented in %s but read nowhere in the inventory" % EXAMPLE


@pytest.mark.parametrize("inventory", ["production", "staging"])
def test_the_example_is_plain_yaml_holding_only_placeholders(inventory):
    text = example_path(inventory).read_text(encoding="utf-8")
    assert not text.startswith("$ANSIBLE_VAULT"), "the example must stay readable: it is not a secret"
    for value in leaf_strings(yaml.safe_load(text)):
        assert PLACEHOLDER in value, "%r is not an obvious placeholder (put %s in it)" % (value, PLACEHOLDER)
        assert [pattern.pattern for pattern in REAL_LOOKING if pattern.search(value)] == [], value


@pytest.mark.parametrize("inventory", ["production", "staging"])
def test_the_production_and_staging_secrets_are_all_documented(inventory):
    # What issue 15 names: the HF token, the app's secret key, its settings password, its API keys, the tunnel.
    wanted = {"vault_model_store_hf_token", "vault_devserver_secret_key", "vault_devserver_settings_password",
              "vault_devserver_api_keys"} | ({"vault_cloudflared_credentials"} if inventory == "production" else set())
    assert set(yaml.safe_load(example_path(inventory).read_text(encoding="utf-8"))) == wanted


def test_git_ignores_the_real_vault_files():
    for inventory in ("production", "staging"):
        result = subprocess.run(["git", "check-ignore", "-q", str(Path("inventories") / inventory / REAL_VAULT)],
                                cwd=REPO_ROOT, check=False)
        assert result.returncode == 0, "inventories/%s/%s would be committed" % (inventory, REAL_VAULT)


def inventory_list(inventory_dir):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(["ansible-inventory", "-i", str(inventory_dir), "--list"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("inventory", ["production", "staging"])
def test_ansible_does_not_load_the_example_and_parses_without_a_vault(tmp_path, inventory):
    # A copy without group_vars/all/vault.yml: an operator's real (encrypted) vault stays out of the test.
    copy = tmp_path / inventory
    shutil.copytree(INVENTORIES_DIR / inventory, copy, ignore=shutil.ignore_patterns("vault.yml"))
    result = inventory_list(copy)
    assert "WARNING" not in result.stderr, result.stderr
    listing = json.loads(result.stdout)
    for host, variables in listing["_meta"]["hostvars"].items():
        loaded = sorted(name for name in variables if name.startswith("vault_"))
        assert loaded == [], "%s got %s from the example" % (host, loaded)
        assert variables["devserver_secret_key"] == "{{ vault_devserver_secret_key | default('') }}"


def test_production_never_reboots_by_itself_and_runs_the_tunnel():
    variables = yaml.safe_load((INVENTORIES_DIR / "production" / "group_vars" / "devservers.yml").read_text())
    assert variables["nvidia_driver_reboot"] == "never"
    assert variables["cloudflared_enabled"] is True
    assert variables["devserver_environment"] == "production"
    staging = yaml.safe_load((INVENTORIES_DIR / "staging" / "group_vars" / "devservers.yml").read_text())
    assert staging["cloudflared_enabled"] is False
    assert staging["devserver_environment"] == "staging"


def rendered_mirror(inventory_dir, host):
    """model_store_hf_mirror as Ansible renders it for host (the debug action runs on the controller only)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(["ansible", "-i", str(inventory_dir), host, "-m", "ansible.builtin.debug",
                             "-a", "var=model_store_hf_mirror"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # "<host> | SUCCESS => {...}"
    return json.loads(result.stdout.split("=>", 1)[1])["model_store_hf_mirror"]


@pytest.mark.parametrize("inventory", ["production", "staging"])
def test_the_store_uses_the_mirror_only_where_the_inventory_has_one(tmp_path, inventory):
    copy = tmp_path / inventory
    shutil.copytree(INVENTORIES_DIR / inventory, copy, ignore=shutil.ignore_patterns("vault.yml"))
    hosts = yaml.safe_load((copy / "hosts.yml").read_text())
    workstation = sorted(hosts["devservers"]["hosts"])[0]
    assert rendered_mirror(copy, workstation) == "", "no mirror host: straight to Hugging Face"
    assert yaml.safe_load((copy / "group_vars" / "devservers.yml").read_text())["model_store_hf_mirror_fallback"] is False

    hosts["model_mirrors"] = {"hosts": {"hf-mirror": {"ansible_host": "192.168.10.5"}}}
    (copy / "hosts.yml").write_text(yaml.safe_dump(hosts))
    assert rendered_mirror(copy, workstation) == "http://192.168.10.5:8090"

    hosts["model_mirrors"]["hosts"]["hf-mirror"]["model_mirror_url"] = "https://mirror.school.example:8443"
    (copy / "hosts.yml").write_text(yaml.safe_dump(hosts))
    assert rendered_mirror(copy, workstation) == "https://mirror.school.example:8443"
