"""ollama_space: what the Ollama models still to pull need on disk (the ollama role's free-space preflight)."""

from pathlib import Path

import pytest
import yaml

from ansible_collections.ai4artsed.devserver.plugins.module_utils.ollama_space import manifest_keys, pull_space

REPO_ROOT = Path(__file__).resolve().parents[4]
ROLE = REPO_ROOT / "roles" / "ollama"
GB = 10 ** 9
MANIFESTS = "/var/lib/ollama/models/manifests"
SIZES = {"gpt-oss:20b": 13780154624, "llama3.2-vision:latest": 7816589568, "llama-guard3:1b": 1600000000,
         "qwen3:1.7b": 1400000000, "qwen3-vl:2b": 1900000000}
FIVE = list(SIZES)


def on_disk(*names):
    """The manifest paths Ollama writes for these (host/namespace/model/tag below the manifests folder)."""
    paths = []
    for name in names:
        model, colon, tag = name.partition(":")
        paths.append("%s/registry.ollama.ai/library/%s/%s" % (MANIFESTS, model, tag if colon else "latest"))
    return paths


def space(models, present=(), **options):
    return pull_space(models, SIZES, present=present, manifests_dir=MANIFESTS, **options)


# (models, present on disk, missing names, models' bytes): a fresh host, a partial one, a finished one.
CASES = [
    (FIVE, [], FIVE, sum(SIZES.values())),
    (FIVE, on_disk("gpt-oss:20b", "llama3.2-vision:latest"), ["llama-guard3:1b", "qwen3:1.7b", "qwen3-vl:2b"],
     4900000000),
    (FIVE, on_disk(*FIVE), [], 0),  # the second run: nothing to pull, nothing to check
    (["gpt-OSS:20b", "gpt-oss:20b"], [], ["gpt-oss:20b"], 13780154624),  # one model in two spellings counts once
    (["llama3.2-vision"], on_disk("llama3.2-vision:latest"), [], 0),  # the tag defaults to latest
    ([], [], [], 0),
]


@pytest.mark.parametrize("models, present, missing, models_bytes", CASES)
def test_only_the_models_still_missing_count(models, present, missing, models_bytes):
    result = space(models, present, margin_bytes=5 * GB)
    assert [entry["name"] for entry in result["missing"]] == missing
    assert result["models_bytes"] == models_bytes
    assert result["required_bytes"] == (models_bytes + 5 * GB if missing else 0)
    assert result["check"] is bool(missing)
    assert result["errors"] == [] and result["unlisted"] == []


def test_the_sum_of_the_five_defaults_and_the_message_parts():
    result = space(FIVE, margin_bytes=5 * GB)
    assert result["models_human"] == "26.5 GB" and result["margin_human"] == "5.0 GB"
    assert result["required_human"] == "31.5 GB"
    assert result["summary"] == ("gpt-oss:20b 13.8 GB, llama3.2-vision:latest 7.8 GB, llama-guard3:1b 1.6 GB, "
                                 "qwen3:1.7b 1.4 GB, qwen3-vl:2b 1.9 GB")


def test_a_manifest_written_in_upper_case_counts_as_present():
    present = ["%s/registry.ollama.ai/library/gpt-OSS/20b" % MANIFESTS]
    assert space(["gpt-oss:20b"], present)["missing"] == []


def test_a_model_the_table_lacks_counts_with_the_stated_default_and_is_named():
    result = space(["gpt-oss:20b", "tiny-test"], on_disk("gpt-oss:20b"), unlisted_bytes=10 * GB)
    assert result["missing"] == [{"name": "tiny-test:latest", "bytes": 10 * GB, "human": "10.0 GB", "listed": False}]
    assert result["unlisted"] == ["tiny-test:latest"]
    assert result["required_bytes"] == 10 * GB and result["check"]


@pytest.mark.parametrize("fixed, required, check", [(25 * GB, 25 * GB, True), (0, 0, False)])
def test_a_fixed_figure_replaces_the_computed_need(fixed, required, check):
    result = space(FIVE, margin_bytes=5 * GB, fixed_bytes=fixed)
    assert result["fixed"] is True and result["required_bytes"] == required and result["check"] is check
    assert result["models_bytes"] == sum(SIZES.values())  # still said, for the message


def test_a_fixed_figure_is_not_checked_when_nothing_is_missing():
    assert space(FIVE, on_disk(*FIVE), fixed_bytes=25 * GB)["check"] is False


@pytest.mark.parametrize("models, options, said", [
    (["gpt-oss:"], {}, "ollama_models: The Ollama model name 'gpt-oss:' has an empty tag"),
    ("gpt-oss:20b", {}, "ollama_models must be a list of model names"),
    (FIVE, {"margin_bytes": -1}, "The margin (ollama_free_margin_gb) must be a whole number of bytes, 0 or more"),
    (FIVE, {"unlisted_bytes": "ten"}, "The size an unlisted model counts as (__ollama_unlisted_model_bytes) must be a number of bytes"),
    (FIVE, {"fixed_bytes": True}, "The fixed figure (ollama_min_free_gb) must be a number of bytes"),
])
def test_bad_input_is_named_and_nothing_is_checked(models, options, said):
    result = space(models, **options)
    assert any(said in error for error in result["errors"]), result["errors"]
    assert result["check"] is False


def test_a_bad_size_table_is_named():
    result = pull_space(FIVE, {"qwen3:1.7b": "big", "bad name:": 1}, manifests_dir=MANIFESTS)
    assert any("The download size of qwen3:1.7b" in error for error in result["errors"])
    assert any("The table of download sizes has an invalid name" in error for error in result["errors"])


def test_manifest_paths_of_another_depth_are_left_out():
    paths = on_disk("qwen3:1.7b") + [MANIFESTS + "/stray", MANIFESTS + "/registry.ollama.ai/library/x/y/z"]
    assert manifest_keys(paths, MANIFESTS) == {("registry.ollama.ai", "library", "qwen3", "1.7b")}
    assert manifest_keys(["registry.ollama.ai/library/qwen3/1.7b"], MANIFESTS) == {
        ("registry.ollama.ai", "library", "qwen3", "1.7b")}


def test_the_role_knows_the_size_of_every_default_model():
    """A default model missing from the role's table would count as the 10 GB guess on every fresh host."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    table = yaml.safe_load((ROLE / "vars" / "main.yml").read_text(encoding="utf-8"))["__ollama_download_bytes"]
    result = pull_space(defaults["ollama_models"], table, manifests_dir=MANIFESTS)
    assert result["errors"] == [] and result["unlisted"] == []
    assert len(result["missing"]) == len(defaults["ollama_models"]) == 5
