"""After converge: the vault's API keys are where the app and the ai4artsed node pack read them (issue 25).

The scenario's vault (molecule.yml) sets OPENROUTER_API_KEY only. The app's GPT-Image-1 and Gemini 3 Pro Image outputs
and the node pack's nodes read their key only from a file, never from the environment: devserver/openrouter.key and
the pack's openrouter.key hold the vault's key (0600, the service account), no file is written for a key the vault
does not set, and playbooks/status.yml names the app features that lack a key. The scenario installs the fixture
node pack under its own name (vars/test_sources.yml: ai4artsed_fixture_nodes), which devserver_node_pack_dir follows.
"""

import re
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]
VAULT_KEYS = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["provisioner"]["inventory"]["group_vars"][
    "devservers"]["vault_devserver_api_keys"]
TABLE = yaml.safe_load((PROJECT / "roles" / "devserver" / "vars" / "main.yml").read_text())["__devserver_api_key_table"]
APP_DIR = "/home/ai4artsed/ai/ai4artsed_production/devserver"
PACK_DIR = "/home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/custom_nodes/ai4artsed_fixture_nodes"


def words(output):
    """The output without colours and with every run of white space made one space."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", output).split())


def test_the_scenario_sets_the_openrouter_key_only():
    assert sorted(VAULT_KEYS) == ["OPENROUTER_API_KEY"]


@pytest.mark.parametrize("path", [APP_DIR + "/openrouter.key", PACK_DIR + "/openrouter.key"])
def test_the_openrouter_key_is_where_the_app_and_the_node_pack_read_it(host, path):
    key_file = host.file(path)
    assert key_file.is_file, path
    assert key_file.mode == 0o600 and key_file.user == "ai4artsed", (oct(key_file.mode), key_file.user)
    # as backend_router.py (the whole file, stripped) and the pack's nodes (the first line, stripped) read it
    assert key_file.content_string == VAULT_KEYS["OPENROUTER_API_KEY"] + "\n"


@pytest.mark.parametrize("name", ["anthropic.key", "openai.key", "mistral.key"])
def test_no_key_file_for_a_key_the_vault_does_not_set(host, name):
    assert not host.file("%s/%s" % (APP_DIR, name)).exists


def test_the_status_playbook_names_the_features_without_a_key(run_playbook):
    code, output = run_playbook("status.yml")
    text = words(output)
    assert code == 0, text[-3000:]
    found = re.search(r"devserver keys: no key for: (.*?)\"", text)
    assert found, text[-3000:]
    line = found.group(1)
    for entry in TABLE:
        for reader in entry["readers"]:
            for feature in reader["features"]:
                if entry["key"] in VAULT_KEYS:
                    assert feature not in line, feature
                else:
                    assert feature in line, feature
    assert "the GPT-Image-1 output" in line and "not from the vault" not in line
    assert re.search(r"changed=0\b", text), text[-3000:]
