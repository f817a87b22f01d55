"""model_manifest: the shipped manifest is valid and complete, every validation rule, selection and the plan."""

import copy
from pathlib import Path

import pytest
import yaml

from ansible_collections.ai4artsed.devserver.plugins.module_utils import manifest as mf

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_PATH = REPO_ROOT / "roles" / "model_store" / "files" / "manifest.yml"

# The reference workstation, as the issue lists it (root, dest).
REFERENCE_FILES = [
    ("store", "Stable-Diffusion/Flux1/flux2_dev_fp8mixed.safetensors"),
    ("store", "Stable-Diffusion/OfficialStableDiffusion/sd3.5_large.safetensors"),
    ("store", "Stable-Diffusion/ltxv-13b-0.9.7-distilled-fp8.safetensors"),
    ("store", "Stable-Diffusion/ace_step_v1_3.5b.safetensors"),
    ("store", "diffusion_models/qwen_image_fp8_e4m3fn.safetensors"),
    ("store", "diffusion_models/wan2.2_ti2v_5B_fp16.safetensors"),
    ("store", "diffusion_models/wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"),
    ("store", "diffusion_models/wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors"),
    ("store", "clip/clip_g.safetensors"),
    ("store", "clip/t5xxl_enconly.safetensors"),
    ("store", "clip/t5xxl_fp16.safetensors"),
    ("store", "clip/mistral_3_small_flux2_fp8.safetensors"),
    ("store", "clip/qwen_2.5_vl_7b_fp8_scaled.safetensors"),
    ("store", "clip/umt5_xxl_fp8_e4m3fn_scaled.safetensors"),
    ("store", "vae/Flux/ae.safetensors"),
    ("store", "vae/Flux/flux2-vae.safetensors"),
    ("store", "vae/QwenImage/qwen_image_vae.safetensors"),
    ("store", "vae/wan2.2_vae.safetensors"),
    ("store", "vae/wan_2.1_vae.safetensors"),
    ("store", "loras/Qwen-Image-Edit-2511-Lightning-4steps-V1.0-bf16.safetensors"),
    ("store", "loras/wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors"),
    ("store", "loras/wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors"),
    ("comfyui", "checkpoints/stable-audio-open-1.0.safetensors"),
    ("comfyui", "clip/t5-base.safetensors"),
    ("comfyui", "stableaudio/stable-audio-open-1.0"),
    ("comfyui", "musicgen"),
]


def load_manifest():
    with open(MANIFEST_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def small_manifest():
    return {
        "workflows": {"img": {"media": "image", "vram_gb": 24}, "vid": {"media": "video", "vram_gb": 16},
                      "snd": {"media": "audio"}},
        "models": [
            {"name": "a", "repo_id": "org/a", "path": "a.safetensors", "dest": "clip/a.safetensors", "size": 10,
             "sha256": "0" * 64, "licence": "mit", "media": "text_encoder", "workflows": ["img", "vid"],
             "comfyui_link": "clip/a.safetensors"},
            {"name": "b", "repo_id": "org/b", "path": "sub/b.safetensors", "dest": "vae/B/b.safetensors",
             "licence": "mit", "media": "vae", "workflows": ["vid"], "comfyui_link": "vae/b.safetensors",
             "revision": "1" * 40},
            {"name": "c", "repo_id": "org/c", "allow_patterns": ["*.json"], "dest": "musicgen", "root": "comfyui",
             "licence": "mit", "media": "audio", "workflows": ["snd"], "gated": True},
        ],
    }


def test_shipped_manifest_is_valid_and_holds_every_reference_file():
    manifest = load_manifest()
    entries = mf.validate(manifest)
    found = sorted((entry.get("root", "store"), entry["dest"].rstrip("/")) for entry in entries)
    assert found == sorted(REFERENCE_FILES)


def test_shipped_manifest_links_match_the_reference_layout():
    result = mf.plan(load_manifest())
    assert result["links"]["checkpoints/OfficialStableDiffusion/sd3.5_large.safetensors"] == (
        "Stable-Diffusion/OfficialStableDiffusion/sd3.5_large.safetensors")
    assert result["links"]["checkpoints/ltxv-13b-0.9.7-distilled-fp8.safetensors"] == (
        "Stable-Diffusion/ltxv-13b-0.9.7-distilled-fp8.safetensors")
    assert result["links"]["vae/qwen_image_vae.safetensors"] == "vae/QwenImage/qwen_image_vae.safetensors"
    store_dests = [dest for root, dest in REFERENCE_FILES if root == "store"]
    for folder in ("clip/", "diffusion_models/", "vae/", "loras/"):
        expected = [d for d in store_dests if d.startswith(folder)]
        assert sorted(v for k, v in result["links"].items() if k.startswith(folder)) == sorted(expected)
    assert len(result["links"]) == 20  # all but the FLUX.2 and ACE-Step checkpoints, seen through SwarmUI


def test_shipped_manifest_selects_everything_by_default_and_names_the_gated_repositories():
    result = mf.plan(load_manifest())
    assert len(result["selected"]) == result["entries"] == len(REFERENCE_FILES)
    assert sorted(g["repo_id"] for g in result["gated"]) == [
        "stabilityai/stable-audio-open-1.0", "stabilityai/stable-diffusion-3.5-large"]
    assert result["vram_gb"] == 24
    assert sorted(result["unknown_size"]) == [
        "ltxv-13b-0.9.7-distilled-fp8", "musicgen-small", "stable-audio-open-1.0-diffusers"]


def broken(change):
    manifest = small_manifest()
    change(manifest)
    return manifest


def _set(index, key, value):
    def change(manifest):
        manifest["models"][index][key] = value
    return change


def _drop(index, key):
    def change(manifest):
        del manifest["models"][index][key]
    return change


# name, change to the small manifest, text the error must contain
INVALID_CASES = [
    ("unknown key", _set(0, "sha", "x"), "entry 1 (a): unknown key sha"),
    ("unknown top-level key", lambda m: m.update(extra=1), "unknown top-level key extra"),
    ("duplicate dest", _set(1, "dest", "clip/a.safetensors"), "dest store/clip/a.safetensors is also the destination"),
    ("dest inside a multi-file folder", lambda m: m["models"][1].update(root="comfyui", dest="musicgen/x.bin",
                                                                        comfyui_link=None),
     "overlaps the destination comfyui/musicgen"),
    ("absolute dest", _set(0, "dest", "/etc/passwd"), "dest '/etc/passwd' is absolute"),
    ("home dest", _set(0, "dest", "~/x"), "is absolute"),
    ("escaping dest", _set(0, "dest", "clip/../../x"), "escapes its root with '..'"),
    ("escaping path", _set(0, "path", "../a.safetensors"), "path '../a.safetensors' escapes"),
    ("escaping link", _set(0, "comfyui_link", "../clip/a.safetensors"), "comfyui_link '../clip/a.safetensors'"),
    ("empty component", _set(0, "dest", "clip//a"), "empty or '.' component"),
    ("missing repo_id", _drop(0, "repo_id"), "entry 1 (a): repo_id is missing"),
    ("bad repo_id", _set(0, "repo_id", "no-namespace"), "is not namespace/name"),
    ("missing path and patterns", _drop(0, "path"), "give exactly one of path"),
    ("both path and patterns", _set(0, "allow_patterns", ["*"]), "give exactly one of path"),
    ("missing dest", _drop(0, "dest"), "dest is missing"),
    ("missing licence", _drop(0, "licence"), "licence is missing"),
    ("missing name", _drop(0, "name"), "entry 1: name is missing"),
    ("bad media", _set(0, "media", "picture"), "media must be one of"),
    ("bad sha256", _set(0, "sha256", "ABC"), "sha256 'ABC' is not 64 lowercase hex digits"),
    ("upper-case sha256", _set(0, "sha256", "A" * 64), "is not 64 lowercase hex digits"),
    ("bad size", _set(0, "size", -1), "size must be a positive number"),
    ("bad root", _set(0, "root", "swarm"), "root must be one of store, comfyui"),
    ("unknown workflow", _set(0, "workflows", ["nope"]), "unknown workflow nope"),
    ("gated not a bool", _set(0, "gated", "yes"), "gated must be true or false"),
    ("digest on a multi-file model", _set(2, "sha256", "0" * 64), "a multi-file model (allow_patterns) takes neither"),
    ("link on a comfyui file", _set(2, "comfyui_link", "x/y"), "comfyui_link is for single files in the store"),
    ("duplicate link", _set(1, "comfyui_link", "clip/a.safetensors"), "comfyui_link clip/a.safetensors is also"),
    ("duplicate name", _set(1, "name", "a"), "name a is already used by manifest entry 1"),
    ("bad workflow media", lambda m: m["workflows"]["img"].update(media="text_encoder"), "workflow img: media"),
    ("bad vram", lambda m: m["workflows"]["img"].update(vram_gb="lots"), "vram_gb must be a positive number"),
]


@pytest.mark.parametrize(("name", "change", "expected"), INVALID_CASES, ids=[c[0] for c in INVALID_CASES])
def test_invalid_manifests_fail_with_a_clear_message(name, change, expected):
    with pytest.raises(mf.ManifestError) as error:
        mf.validate(broken(change))
    assert expected in str(error.value), name


def test_every_problem_is_reported_at_once():
    manifest = small_manifest()
    manifest["models"][0]["dest"] = "/abs"
    manifest["models"][1]["media"] = "bad"
    with pytest.raises(mf.ManifestError) as error:
        mf.validate(manifest)
    assert len(error.value.problems) == 2 and "2 problems" in str(error.value)


def test_extra_model_colliding_with_the_manifest_is_refused():
    extra = [{"name": "mine", "repo_id": "me/mine", "path": "m.safetensors", "dest": "clip/a.safetensors",
              "licence": "mit", "media": "lora"}]
    with pytest.raises(mf.ManifestError, match=r"extra model entry 1 \(mine\): dest store/clip/a.safetensors"):
        mf.validate(small_manifest(), extra)


# name, media, workflows, expected selected entries, expected workflows
SELECT_CASES = [
    ("everything", None, None, ["a", "b", "c"], ["img", "snd", "vid"]),
    ("all three media", ["image", "video", "audio"], [], ["a", "b", "c"], ["img", "snd", "vid"]),
    ("nothing", [], [], [], []),
    ("image only", ["image"], [], ["a"], ["img"]),
    ("video only: a shared encoder and its vae", ["video"], [], ["a", "b"], ["vid"]),
    ("one workflow", None, ["snd"], ["c"], ["snd"]),
    ("workflow outside the media", ["image"], ["vid"], [], []),
]


@pytest.mark.parametrize(("name", "media", "workflows", "expected", "expected_workflows"), SELECT_CASES,
                         ids=[c[0] for c in SELECT_CASES])
def test_selection(name, media, workflows, expected, expected_workflows):
    manifest = small_manifest()
    result = mf.plan(manifest, media=media, workflows=workflows)
    assert result["selected"] == expected, name
    assert result["workflows"] == expected_workflows


def test_extra_models_are_always_selected():
    extra = [{"name": "mine", "repo_id": "me/mine", "path": "m.safetensors", "dest": "loras/mine.safetensors",
              "licence": "mit", "media": "lora"}]
    result = mf.plan(small_manifest(), extra, media=[])
    assert result["selected"] == ["mine"]
    assert result["downloads"]["store"] == [{"repo_id": "me/mine", "filename": "m.safetensors",
                                            "dest": "loras/mine.safetensors", "revision": "main"}]


def test_unknown_selection_names_fail():
    with pytest.raises(mf.ManifestError, match="unknown workflow nope"):
        mf.plan(small_manifest(), workflows=["nope"])
    with pytest.raises(mf.ManifestError, match="model_store_media takes"):
        mf.plan(small_manifest(), media=["pictures"])


def test_plan_splits_downloads_by_root_and_lists_links_gated_and_vram():
    result = mf.plan(small_manifest())
    assert [f["dest"] for f in result["downloads"]["store"]] == ["clip/a.safetensors", "vae/B/b.safetensors"]
    assert result["downloads"]["store"][1]["revision"] == "1" * 40
    assert result["downloads"]["comfyui"] == [{"repo_id": "org/c", "allow_patterns": ["*.json"], "dest": "musicgen",
                                              "revision": "main"}]
    assert result["links"] == {"clip/a.safetensors": "clip/a.safetensors", "vae/b.safetensors": "vae/B/b.safetensors"}
    assert result["gated"] == [{"name": "c", "repo_id": "org/c", "licence_page": "https://huggingface.co/org/c"}]
    assert (result["vram_gb"], result["vram_by_workflow"]) == (24, {"img": 24, "snd": None, "vid": 16})


def test_plan_counts_missing_bytes_from_what_is_on_disk(tmp_path):
    store, comfy = tmp_path / "Models", tmp_path / "models"
    (store / "clip").mkdir(parents=True)
    (comfy / "musicgen" / ".hidden").mkdir(parents=True)
    result = mf.plan(small_manifest(), store_root=str(store), comfyui_root=str(comfy))
    assert (result["known_bytes"], result["missing_bytes"]) == (10, 10)
    assert result["missing"] == ["a", "b", "c"] and result["links_ready"] == {}
    (store / "clip" / "a.safetensors").write_bytes(b"x" * 4)  # truncated: 6 bytes to go
    assert mf.plan(small_manifest(), store_root=str(store), comfyui_root=str(comfy))["missing_bytes"] == 6
    (store / "clip" / "a.safetensors").write_bytes(b"x" * 10)
    (comfy / "musicgen" / "config.json").write_text("{}")
    (comfy / "musicgen" / ".hidden" / "skip").write_text("")
    result = mf.plan(small_manifest(), store_root=str(store), comfyui_root=str(comfy))
    assert result["missing_bytes"] == 0 and result["missing"] == ["b"]
    assert result["links_ready"] == {"clip/a.safetensors": "clip/a.safetensors"}
    assert result["listed"] == {"store": ["clip/a.safetensors", "vae/B/b.safetensors"],
                                "comfyui": ["musicgen/config.json"]}


def test_validation_does_not_change_its_input():
    manifest = small_manifest()
    before = copy.deepcopy(manifest)
    mf.plan(manifest, media=["video"])
    assert manifest == before
