"""model_manifest as the role calls it: the token rule it shares with hf_model, the preflight verdicts in
its result, and the managed prefixes the report of the same call honours."""

import grp
import os
import pwd

import pytest

from helpers.module_runner import run_module
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_token import token_option
from ansible_collections.ai4artsed.devserver.plugins.modules import hf_model, model_manifest, model_storage_report

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
GATED = {"name": "gated", "repo_id": "org/gated", "path": "g.safetensors", "dest": "clip/g.safetensors", "size": 1,
         "licence": "other", "media": "text_encoder", "gated": True}
MULTI = {"name": "multi", "repo_id": "org/multi", "allow_patterns": ["*.json"], "dest": "musicgen", "root": "comfyui",
         "licence": "mit", "media": "audio"}


def args(tmp_path, **changes):
    """The role's call, less what each test changes: a margin of 0, no GPU known."""
    store, comfy = tmp_path / "Models", tmp_path / "models"
    values = {"manifest": {"workflows": {}, "models": []}, "extra_models": [GATED], "media": [],
              "store_root": str(store), "comfyui_root": str(comfy), "owner": OWNER, "group": GROUP,
              "archive_root": str(tmp_path / "archive"), "report_path": str(tmp_path / "storage-report.md"),
              "free_space_margin_mb": 0}
    values.update(changes)
    return values


def test_hf_model_and_model_manifest_take_the_token_by_the_same_rule():
    assert hf_model.argument_spec()["token"] == token_option()
    assert token_option()["no_log"] is True


# where the token is set (the token option as the role passes it, HF_TOKEN on the host), is a refusal expected
TOKEN_CASES = [
    ("none anywhere", None, None, True),
    ("the role's variable (model_store_hf_token, or HF_TOKEN on the controller)", "hf_role", None, False),
    ("only HF_TOKEN on the host: hf_model would download with it, so the plan accepts it", None, "hf_host", False),
    ("an empty HF_TOKEN on the host is no token", None, "", True),
]


@pytest.mark.parametrize(("where", "option", "host_env", "refused"), TOKEN_CASES, ids=[case[0] for case in TOKEN_CASES])
def test_the_gated_refusal_follows_the_token_the_modules_receive(capsys, tmp_path, monkeypatch, where, option,
                                                                 host_env, refused):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    if host_env is not None:
        monkeypatch.setenv("HF_TOKEN", host_env)
    call = args(tmp_path) if option is None else args(tmp_path, token=option)  # the role omits an empty token
    code, result = run_module(capsys, model_manifest, call)
    assert code == 0, result
    assert [refusal["check"] for refusal in result["refusals"]] == (["gated"] if refused else []), where
    if refused:
        assert "https://huggingface.co/org/gated" in result["refusals"][0]["msg"]


def test_the_refusals_use_the_measurements_of_the_same_call(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_host")
    huge = 10 ** 12  # megabytes: no disk has a margin of an exabyte free
    code, result = run_module(capsys, model_manifest, args(tmp_path, free_space_margin_mb=huge,
                                                           gpu_memory_mib=[None, 8192]))
    assert code == 0, result
    assert [refusal["check"] for refusal in result["refusals"]] == ["space"]
    assert ("(%d bytes) free on %s" % (result["host"]["free_bytes"], result["host"]["mount"])
            in result["refusals"][0]["msg"])
    assert result["summary"][1] == "files: 1 of 1 entries selected"
    assert result["notes"] == [], "a GPU is known and no selected workflow needs more"

    code, result = run_module(capsys, model_manifest, args(tmp_path))
    assert result["refusals"] == [] and result["notes"][0].startswith("VRAM check skipped: no GPU memory is known")


def test_files_a_multi_file_model_downloads_after_the_plan_are_managed_without_planning_again(capsys, tmp_path):
    folder = tmp_path / "models" / "musicgen"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    code, plan = run_module(capsys, model_manifest, args(tmp_path, extra_models=[MULTI]))
    assert code == 0, plan
    assert plan["listed_prefixes"] == {"store": [], "comfyui": ["musicgen"]}
    (folder / "sub").mkdir()
    (folder / "sub" / "weights.bin").write_text("w")  # the downloads step, after the plan
    (tmp_path / "models" / "stray.bin").write_text("s")
    code, report = run_module(capsys, model_storage_report, {
        "store_root": str(tmp_path / "Models"), "comfyui_root": str(tmp_path / "models"),
        "listed": plan["listed"], "listed_prefixes": plan["listed_prefixes"]})
    assert code == 0, report
    assert report["unmanaged"] == ["ComfyUI models/stray.bin"]
