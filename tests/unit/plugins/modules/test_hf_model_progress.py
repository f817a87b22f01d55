"""hf_model_progress: finds the progress file of an hf_model run from its root, as the model store role calls it."""

import json

import pytest

from ansible_collections.ai4artsed.devserver.plugins.modules import hf_model_progress
from helpers.hf import HubDouble, base, run_hf_model, safetensors_bytes
from helpers.module_runner import run_module

MODEL = safetensors_bytes("model", 256 * 1024)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubDouble(tmp_path_factory.mktemp("hub")) as double:
        double.add_repo("org/model", {"model.safetensors": MODEL})
        yield double


def test_reads_the_progress_hf_model_wrote_below_its_root(capsys, hub, store, tmp_path):
    failed, result = run_hf_model(capsys, base(hub, store))
    assert not failed, result
    results = tmp_path / "job"
    results.write_text(json.dumps({"changed": True, "files": result["files"]}))
    failed, status = run_module(capsys, hf_model_progress, {"root": str(store), "results_file": str(results)})
    assert not failed, status
    assert status["finished"] and status["files_done"] == status["files_total"] == 1
    assert status["line"].startswith("262.3 / 262.3 KB, ") and status["line"].endswith(" (1 of 1 files)")
    failed, by_file = run_module(capsys, hf_model_progress, {
        "progress_file": str(store / ".hf_model" / "progress.json"), "results_file": str(results)})
    assert not failed and by_file["line"] == status["line"]


@pytest.mark.parametrize("args, message", [
    ({}, "one of the following is required: root, progress_file"),
    ({"root": "/srv/models", "progress_file": "/srv/p.json"}, "mutually exclusive: root|progress_file"),
    ({"root": "/srv/models", "results_file": "job"}, "results_file must be absolute"),
], ids=["neither", "both", "relative results_file"])
def test_refuses_unclear_arguments(capsys, args, message):
    failed, result = run_module(capsys, hf_model_progress, args)
    assert failed and message in result["msg"], result
