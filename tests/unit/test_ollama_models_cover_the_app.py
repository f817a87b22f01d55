"""Every local Ollama model the DevServer app's devserver/config.py names is pulled by the ollama role's defaults.

config.py at the pinned commit names five (three of them safety models, two of which fail closed and one open
without it). This reads the vendored config.py with ``ast`` (never importing it), resolves simple references
(``STAGE1_TEXT_MODEL = LOCAL_DEFAULT_MODEL``), keeps the values that are Ollama models (``local/<name>`` or a bare
name; ``openrouter/``, ``bedrock/``, ``mistral/``, ``anthropic/`` and ``openai/`` are cloud providers) and compares
them as Ollama does (case-insensitive, ``latest`` when no tag) with ``ollama_models`` of
roles/ollama/defaults/main.yml. Moving the app's pin to a config.py with a new local model fails here, naming it.
"""

import ast
from pathlib import Path

import pytest
import yaml

from ansible_collections.ai4artsed.devserver.plugins.module_utils.ollama_names import InvalidModelName, normalise
from helpers.app_source import APP_BUNDLE, SKIP_REASON, app_file

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE_DEFAULTS = REPO_ROOT / "roles" / "ollama" / "defaults" / "main.yml"
APP_CONFIG = "devserver/config.py"
MODEL_KEY_SUFFIX = "_MODEL"
CLOUD_PREFIXES = ("openrouter", "bedrock", "mistral", "anthropic", "openai")


def model_keys(source):
    """({key: value} of config.py's module-level *_MODEL assignments, a name reference resolved to the string it
    names, [a sentence per *_MODEL key whose value is not a string or a reference to one])."""
    strings, keys, problems = {}, {}, []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            strings[target.id] = value.value
        elif isinstance(value, ast.Name) and value.id in strings:
            strings[target.id] = strings[value.id]
        else:
            strings.pop(target.id, None)
            if target.id.endswith(MODEL_KEY_SUFFIX):
                problems.append("%s (line %d) is not a string or a name of one: read it and decide by hand"
                                % (target.id, node.lineno))
            continue
        if target.id.endswith(MODEL_KEY_SUFFIX):
            keys[target.id] = strings[target.id]
    return keys, problems


def local_ollama_models(keys):
    """({Ollama's name of the model: [config.py keys that name it]}, [a sentence per value it cannot place])."""
    models, problems = {}, []
    for key, value in keys.items():
        if not value.strip():
            continue
        prefix, slash, rest = value.partition("/")
        if slash and prefix in CLOUD_PREFIXES:
            continue
        if slash and prefix != "local":
            problems.append("%s = %r: provider prefix %r is neither local/ nor a known cloud provider (%s)"
                            % (key, value, prefix, ", ".join(CLOUD_PREFIXES)))
            continue
        name = rest if slash else value
        try:
            models.setdefault(normalise(name), []).append(key)
        except InvalidModelName as error:
            problems.append("%s = %r: %s" % (key, value, error))
    return models, problems


def missing_from_defaults(config_source, ollama_models):
    """({model config.py names that ollama_models lacks: [its keys]}, [problems]) for a config.py text."""
    keys, problems = model_keys(config_source)
    models, placing = local_ollama_models(keys)
    wanted = {normalise(name) for name in ollama_models}
    return {name: used_by for name, used_by in models.items() if name not in wanted}, problems + placing


def report(missing, problems):
    """The failure message: each missing model with the keys that use it, and what to do."""
    lines = ["%s (%s)" % (name, ", ".join(keys)) for name, keys in sorted(missing.items())]
    text = ""
    if lines:
        text += ("%s names local Ollama model(s) that ollama_models in roles/ollama/defaults/main.yml lacks: %s. "
                 "Add each to ollama_models with a comment saying which app key uses it and what breaks without it, "
                 "and its download size to __ollama_download_bytes (roles/ollama/vars/main.yml). "
                 % (APP_CONFIG, "; ".join(lines)))
    if problems:
        text += "Values this test cannot place: %s." % "; ".join(problems)
    return text


def role_default_models():
    return yaml.safe_load(ROLE_DEFAULTS.read_text(encoding="utf-8"))["ollama_models"]


@pytest.fixture(scope="module")
def app_config(tmp_path_factory):
    if not APP_BUNDLE.exists():
        pytest.skip(SKIP_REASON % APP_BUNDLE)
    return app_file(APP_CONFIG, tmp_path_factory.mktemp("app"))


def test_every_local_ollama_model_of_the_app_is_pulled_by_default(app_config):
    models = local_ollama_models(model_keys(app_config)[0])[0]
    # the reading found the app's safety models (a parser that finds nothing would pass vacuously)
    used = {key for keys_of_model in models.values() for key in keys_of_model}
    assert {"SAFETY_MODEL", "DSGVO_VERIFY_MODEL", "VLM_SAFETY_MODEL", "STAGE1_TEXT_MODEL"} <= used, models
    missing, problems = missing_from_defaults(app_config, role_default_models())
    assert (missing, problems) == ({}, []), report(missing, problems)


# A config.py in the app's shape: references, a mixed-case name, a bare name without a tag, cloud models.
CONFIG = '''
import os
LOCAL_DEFAULT_MODEL = "local/gpt-OSS:20b"
LOCAL_VISION_MODEL = "local/llama3.2-vision"
REMOTE_FAST_MODEL = "bedrock/eu.anthropic.claude-haiku-4-5-20251001-v1:0"
REMOTE_SMALL_MODEL = "openrouter/mistralai/mistral-nemo"
CODING_MODEL = "mistral/codestral-latest"
STAGE1_TEXT_MODEL = LOCAL_DEFAULT_MODEL
STAGE1_VISION_MODEL = LOCAL_VISION_MODEL
SAFETY_MODEL = "llama-guard3:1b"
DSGVO_VERIFY_MODEL = "qwen3:1.7b"
VLM_SAFETY_MODEL = "qwen3-vl:2b"
OLLAMA_API_BASE_URL = os.environ.get("OLLAMA_API_BASE_URL", "http://localhost:11434")
'''


def test_the_defaults_cover_a_config_in_the_apps_shape():
    assert missing_from_defaults(CONFIG, role_default_models()) == ({}, [])


@pytest.mark.parametrize("extra, missing", [
    ('NEW_SAFETY_MODEL = "Llama-Guard3:8B"\n', {"llama-guard3:8b": ["NEW_SAFETY_MODEL"]}),
    ('CAPTION_MODEL = "local/mistral-nemo"\nCAPTION_CLEANUP_MODEL = CAPTION_MODEL\n',
     {"mistral-nemo:latest": ["CAPTION_MODEL", "CAPTION_CLEANUP_MODEL"]}),
    ('SAFETY_MODEL = "llama-guard3:8b"\n', {"llama-guard3:8b": ["SAFETY_MODEL"]}),  # a later assignment wins
])
def test_a_local_model_the_defaults_lack_is_reported_by_name(extra, missing):
    found, problems = missing_from_defaults(CONFIG + extra, role_default_models())
    assert (found, problems) == (missing, [])
    message = report(found, problems)
    for name, keys in missing.items():
        assert name in message and all(key in message for key in keys)


def test_a_value_it_cannot_place_is_reported_not_skipped():
    extra = 'PERSONA_MODEL = "ionos/meta-llama"\nWATERMARK_MODEL = os.environ.get("X", "local/qwen3:4b")\n'
    found, problems = missing_from_defaults(CONFIG + extra, role_default_models())
    assert found == {}
    assert any("PERSONA_MODEL" in problem and "'ionos'" in problem for problem in problems)
    assert any(problem.startswith("WATERMARK_MODEL (line") for problem in problems)


def test_without_the_five_defaults_the_apps_models_are_reported():
    found = missing_from_defaults(CONFIG, ["gpt-oss:20b", "llama3.2-vision:latest"])[0]  # the role before issue 25
    assert found == {"llama-guard3:1b": ["SAFETY_MODEL"], "qwen3:1.7b": ["DSGVO_VERIFY_MODEL"],
                     "qwen3-vl:2b": ["VLM_SAFETY_MODEL"]}
