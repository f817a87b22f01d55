"""The model store's preflight verdicts (store_plan): one table of situations, the refusals and notes each gives.

The role only prints these and asserts that nothing was refused, so every decision the preflight makes
is a row here: gated repositories and the token, free space and the margin, the GPU's memory and the
workflows' needs, and the notes that say why a check did not run.
"""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import manifest as mf
from ansible_collections.ai4artsed.devserver.plugins.module_utils import store_plan

GB = 1000 ** 3
MIB_16_GB = 16 * 1024
MIB_24_GB = 24 * 1024


def a_manifest():
    """Two image workflows (24 and 16 GB), one audio workflow with a gated multi-file model of unknown size."""
    return {
        "workflows": {"big": {"media": "image", "vram_gb": 24}, "small": {"media": "image", "vram_gb": 16},
                      "snd": {"media": "audio", "loads": ["checkpoints/missing.safetensors"]}},
        "models": [
            {"name": "big-model", "repo_id": "org/big", "path": "big.safetensors", "dest": "diffusion_models/big.st",
             "size": 30 * GB, "licence": "mit", "media": "image", "workflows": ["big"]},
            {"name": "small-model", "repo_id": "org/small", "path": "small.safetensors", "dest": "clip/small.st",
             "size": 2 * GB, "licence": "mit", "media": "text_encoder", "workflows": ["small"]},
            {"name": "gated-a", "repo_id": "org/gated-a", "allow_patterns": ["*.json"], "dest": "audio/a",
             "root": "comfyui", "licence": "other", "media": "audio", "workflows": ["snd"], "gated": True},
            {"name": "gated-b", "repo_id": "org/gated-a", "path": "b.safetensors", "dest": "audio-b/b.st",
             "root": "comfyui", "size": GB, "licence": "other", "media": "audio", "workflows": ["snd"],
             "gated": True},
        ],
    }


def measured(**changes):
    """A host with room to spare, a 24 GB GPU, the VRAM check on and a token."""
    values = {"free_bytes": 100 * GB, "free_human": "100.0 GB", "mount": "/home", "margin_bytes": 20 * GB,
              "gpu_memory_mib": MIB_24_GB, "check_vram": True, "token_given": True}
    values.update(changes)
    return store_plan.Measured(**values)


def plan_of(media=("image", "audio"), workflows=None):
    return mf.plan(a_manifest(), media=list(media), workflows=workflows)  # no roots: everything is missing


# situation, selection (media, workflows), measurements, expected refusals {check: [fragments of its message]},
# expected notes (fragments, one per note, in order)
CASES = [
    ("all fits: a token, room, a large enough GPU",
     (["image", "audio"], None), {}, {},
     ["WARNING: snd loads checkpoints/missing.safetensors, which no selected model provides in /comfy"]),
    ("gated repositories without a token: every licence page once, every model, what to do",
     (["audio"], None), {"token_given": False},
     {"gated": ["2 selected model(s) come from gated repositories and no Hugging Face token is set",
                "https://huggingface.co/org/gated-a (models: gated-a, gated-b)",
                "set model_store_hf_token (or HF_TOKEN on the controller, or in the environment of the host)",
                "Or leave them out with model_store_media / model_store_workflows"]},
     ["WARNING: snd loads"]),
    ("no gated model selected: no token needed",
     (["image"], None), {"token_given": False}, {}, []),
    ("the downloads and the margin do not fit: sizes in GB and bytes, entries of unknown size, where",
     (["image", "audio"], None), {"free_bytes": 40 * GB, "free_human": "40.0 GB"},
     {"space": ["Not enough free space for the models: 33.0 GB still to download (33000000000 bytes, plus entries"
                " of unknown size: gated-a) and 20 GB margin (model_store_free_space_margin_gb), but only 40.0 GB"
                " (40000000000 bytes) free on /home",
                "Free space there, or select fewer models (model_store_media, model_store_workflows)"]},
     ["WARNING: snd loads"]),
    ("exactly the downloads plus the margin free: fits",
     (["image", "audio"], None), {"free_bytes": 53 * GB}, {}, ["WARNING: snd loads"]),
    ("nothing selected still needs the margin free (as before)",
     ([], None), {"free_bytes": GB, "free_human": "1.0 GB", "margin_bytes": int(1.5 * GB)},
     {"space": ["0.0 GB still to download (0 bytes, plus entries of unknown size: none) and 1.5 GB margin"]}, []),
    ("a GPU too small: the largest in GB and the workflows that do not fit",
     (["image"], None), {"gpu_memory_mib": MIB_16_GB},
     {"vram": ["The largest GPU has 16 GB of memory, but the selected workflows need up to 24 GB: big.",
               "Leave them out (model_store_workflows), or set model_store_check_vram=false"]}, []),
    ("a GPU too small, but only workflows it holds selected",
     (["image"], ["small"]), {"gpu_memory_mib": MIB_16_GB}, {}, []),
    ("the VRAM check switched off: a note instead",
     (["image"], None), {"gpu_memory_mib": MIB_16_GB, "check_vram": False}, {},
     ["VRAM check skipped: model_store_check_vram is false. The selected workflows need up to 24 GB."]),
    ("no GPU memory known (a container): a note instead",
     (["image"], None), {"gpu_memory_mib": None}, {},
     ["VRAM check skipped: no GPU memory is known on this host (no NVIDIA GPU, a container, or the nvidia_driver"
      " role did not run). The selected workflows need up to 24 GB."]),
    ("every check fails at once: every refusal is given, not only the first",
     (["image", "audio"], None), {"token_given": False, "free_bytes": 0, "free_human": "0 B",
                                  "gpu_memory_mib": MIB_16_GB},
     {"gated": ["gated repositories"], "space": ["Not enough free space"], "vram": ["The largest GPU has 16 GB"]},
     ["WARNING: snd loads"]),
    ("free space not measured (no store_root): a note, no refusal",
     (["image"], None), {"free_bytes": None, "free_human": None, "mount": None}, {},
     ["Free space not checked"]),
]


@pytest.mark.parametrize(("situation", "selection", "changes", "refusals", "notes"), CASES,
                         ids=[case[0] for case in CASES])
def test_preflight_verdicts(situation, selection, changes, refusals, notes):
    media, workflows = selection
    result = store_plan.verdicts(plan_of(media, workflows), measured(**changes), comfyui_root="/comfy")
    assert [refusal["check"] for refusal in result["refusals"]] == list(refusals), situation
    for refusal in result["refusals"]:
        for fragment in refusals[refusal["check"]]:
            assert fragment in refusal["msg"], (situation, refusal["msg"])
    assert len(result["notes"]) == len(notes), (situation, result["notes"])
    for note, fragment in zip(result["notes"], notes):
        assert fragment in note, (situation, note)


# plan, expected summary lines
SUMMARY_CASES = [
    ("everything missing, one entry of unknown size", (["image", "audio"], None),
     ["workflows: big, small, snd", "files: 4 of 4 entries selected",
      "still to download: 4 entries, 33.0 GB of known size + entries of unknown size: gated-a"]),
    ("nothing selected", ([], None),
     ["workflows: none selected", "files: 0 of 4 entries selected", "still to download: 0 entries, 0.0 GB of known size"]),
]


@pytest.mark.parametrize(("situation", "selection", "expected"), SUMMARY_CASES, ids=[case[0] for case in SUMMARY_CASES])
def test_summary_lines(situation, selection, expected):
    assert store_plan.summary(plan_of(*selection)) == expected


def test_unknown_size_counts_only_entries_still_missing(tmp_path):
    comfy = tmp_path / "models"
    (comfy / "audio" / "a").mkdir(parents=True)
    (comfy / "audio" / "a" / "config.json").write_text("{}")  # the multi-file model is in place
    plan = mf.plan(a_manifest(), media=["audio"], store_root=str(tmp_path / "Models"), comfyui_root=str(comfy))
    assert plan["unknown_size"] == ["gated-a"] and store_plan.missing_of_unknown_size(plan) == []
    assert store_plan.summary(plan)[2] == "still to download: 1 entries, 1.0 GB of known size"


@pytest.mark.parametrize(("memory_mib", "largest"), [
    ([], None), ([None, 0], None), ([8192, None, "24576"], 24576), ([16384], 16384)])
def test_largest_gpu_memory_ignores_unknown_values(memory_mib, largest):
    assert store_plan.largest_gpu_mib(memory_mib) == largest
