"""model_manifest: the shipped manifest is valid and complete, every validation rule, selection and the plan."""

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.ai4artsed.devserver.plugins.module_utils import manifest as mf

REPO_ROOT = Path(__file__).resolve().parents[4]
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
# Files the DevServer app's workflows load that the reference listing lacks (issue 9, case 11).
ADDED_FOR_THE_APP_WORKFLOWS = [
    ("store", "clip/clip_l.safetensors"),
    ("store", "diffusion_models/qwen_image_edit_fp8_e4m3fn.safetensors"),
    ("store", "diffusion_models/qwen_image_edit_2511_fp8mixed.safetensors"),
    ("store", "loras/Qwen-Image-Edit-Lightning-4steps-V1.0-bf16.safetensors"),
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
    assert found == sorted(REFERENCE_FILES + ADDED_FOR_THE_APP_WORKFLOWS)


def test_shipped_manifest_links_match_the_reference_layout():
    result = mf.plan(load_manifest())
    assert result["links"]["checkpoints/OfficialStableDiffusion/sd3.5_large.safetensors"] == (
        "Stable-Diffusion/OfficialStableDiffusion/sd3.5_large.safetensors")
    assert result["links"]["checkpoints/ltxv-13b-0.9.7-distilled-fp8.safetensors"] == (
        "Stable-Diffusion/ltxv-13b-0.9.7-distilled-fp8.safetensors")
    assert result["links"]["vae/qwen_image_vae.safetensors"] == "vae/QwenImage/qwen_image_vae.safetensors"
    # The app's loaders name these two by their SwarmUI subfolder: ComfyUI must see that name in its own folder.
    assert result["links"]["checkpoints/Flux1/flux2_dev_fp8mixed.safetensors"] == (
        "Stable-Diffusion/Flux1/flux2_dev_fp8mixed.safetensors")
    assert result["links"]["vae/Flux/flux2-vae.safetensors"] == "vae/Flux/flux2-vae.safetensors"
    store_dests = [dest for root, dest in REFERENCE_FILES + ADDED_FOR_THE_APP_WORKFLOWS if root == "store"]
    for folder in ("clip/", "diffusion_models/", "vae/", "loras/"):
        expected = [d for d in store_dests if d.startswith(folder)]
        assert sorted(v for k, v in result["links"].items() if k.startswith(folder)) == sorted(expected)
    # Every store file is linked, so ComfyUI finds it without SwarmUI's folder settings (VAE vs vae).
    assert sorted(result["links"].values()) == sorted(store_dests)


def test_shipped_manifest_selects_everything_by_default_and_names_the_gated_repositories():
    result = mf.plan(load_manifest())
    assert len(result["selected"]) == result["entries"] == len(REFERENCE_FILES + ADDED_FOR_THE_APP_WORKFLOWS)
    assert sorted(g["repo_id"] for g in result["gated"]) == [
        "stabilityai/stable-audio-open-1.0", "stabilityai/stable-diffusion-3.5-large"]
    assert result["vram_gb"] == 24
    assert sorted(result["unknown_size"]) == [
        "clip_l", "ltxv-13b-0.9.7-distilled-fp8", "musicgen-small", "stable-audio-open-1.0-diffusers"]
    assert result["missing_by_workflow"] == {}  # every workflow's loaders find their files


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
    ("loads not a list", lambda m: m["workflows"]["img"].update(loads="clip/a.safetensors"),
     "workflow img: loads must be a list"),
    ("loads without a folder", lambda m: m["workflows"]["img"].update(loads=["a.safetensors"]),
     "loads path 'a.safetensors' names no models folder"),
    ("loads escaping", lambda m: m["workflows"]["img"].update(loads=["../a.safetensors"]),
     "loads path '../a.safetensors' escapes"),
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
    # The multi-file model's folder is managed as a whole: files it downloads after this plan are kept too.
    assert result["listed_prefixes"] == {"store": [], "comfyui": ["musicgen"]}


def test_validation_does_not_change_its_input():
    manifest = small_manifest()
    before = copy.deepcopy(manifest)
    mf.plan(manifest, media=["video"])
    assert manifest == before


# ---- Pins (issue 9, case 9): every entry pinned to a commit wherever a public source shows one ----
# The commits the research notes on model sources cite (model-sources.md: HF commit pages, SwarmUI,
# third-party manifests pinned together with the same sha256). An entry not listed here has no
# public commit and stays unpinned; docs/model-manifest.md cites each pin and names each unpinned entry.
PUBLIC_COMMITS = {
    "flux2_dev_fp8mixed": "ed33133cd56476eac818c0943b6f9419b3e4a3a1",
    "sd3.5_large": "ceddf0a7fdf2064ea28e2213e3b84e4afa170a0f",
    "ace_step_v1_3.5b": "e6d4f4e0ba17b24b35a3fc3b83c8e1c83b7faf9c",
    "qwen_image_fp8_e4m3fn": "1f12b17be14c89b026c51a91d67c32f84bb047bc",
    "qwen_image_edit_fp8_e4m3fn": "83ae44f23af827155718b906c7dcc195a37c60b4",
    "qwen_image_edit_2511_fp8mixed": "44ae38f2cf39d15dbae2dc2c95294edc9fb173c1",
    "wan2.2_ti2v_5B_fp16": "fb1388adc906ab39ffc26ee40e96b22886b56bc4",
    "clip_l": "6af2a98e3f615bdfa612fbd85da93d1ed5f69ef5",
    "t5xxl_enconly": "50d42fdb91a03fb7b6d2b9f395bbaa11482086c9",
    "t5xxl_fp16": "6af2a98e3f615bdfa612fbd85da93d1ed5f69ef5",
    "mistral_3_small_flux2_fp8": "ed33133cd56476eac818c0943b6f9419b3e4a3a1",
    "flux2-vae": "ca4ac7c84eb42f3200fffc85b5fbee67129e6ffa",
    "wan2.2_vae": "fb1388adc906ab39ffc26ee40e96b22886b56bc4",
    "Qwen-Image-Edit-2511-Lightning-4steps-V1.0-bf16": "d74eba145674fd7e31b949324e148e21e7118abd",
    "Qwen-Image-Edit-Lightning-4steps-V1.0-bf16": "e74da8d4e71a54b341de86aa9f8d2509165aa513",
    "t5-base": "a9723ea7f1b39c1eae772870f3b547bf6ef7e6c1",
    "musicgen-small": "4c8334b02c6ec4e8664a91979669a501ec497792",
}
DOCS_PATH = REPO_ROOT / "docs" / "model-manifest.md"
FULL_COMMIT = r"^[0-9a-f]{40}$"


def test_every_entry_with_a_public_commit_is_pinned_to_it_with_its_sha256():
    entries = load_manifest()["models"]
    pinned = dict((e["name"], e["revision"]) for e in entries if e.get("revision"))
    assert pinned == PUBLIC_COMMITS
    for entry in entries:
        if entry.get("revision"):
            assert re.match(FULL_COMMIT, entry["revision"]), entry["name"]
            # commit + sha256 + a valid record: hf_model asks the hub nothing on a re-run
            assert entry.get("sha256") or entry.get("allow_patterns"), entry["name"]


def test_docs_cite_every_pin_and_name_every_unpinned_entry():
    docs = DOCS_PATH.read_text(encoding="utf-8")
    lines = docs.splitlines()
    for name, commit in PUBLIC_COMMITS.items():
        cited = [line for line in lines if "`%s`" % name in line and commit in line]
        assert cited, "docs/model-manifest.md cites no source for the pin of %s (%s)" % (name, commit)
    unpinned_section = docs.split("### Not pinned", 1)[1].split("\n## ", 1)[0]
    for entry in load_manifest()["models"]:
        if not entry.get("revision"):
            assert "`%s`" % entry["name"] in unpinned_section, entry["name"]


# ---- Sources (case 12): no entry from a gated repository is marked ungated ----
# Repositories known to be gated (model-sources.md N4; black-forest-labs/FLUX.1-schnell since about April 2025).
GATED_REPOSITORIES = ["black-forest-labs/FLUX.1-schnell", "black-forest-labs/FLUX.1-dev",
                      "black-forest-labs/FLUX.2-dev", "stabilityai/stable-diffusion-3.5-large",
                      "stabilityai/stable-audio-open-1.0"]


@pytest.mark.parametrize("repo_id", GATED_REPOSITORIES)
def test_entries_from_gated_repositories_say_so(repo_id):
    for entry in load_manifest()["models"]:
        if entry["repo_id"] == repo_id:
            assert entry.get("gated") is True, "%s comes from gated %s but is marked ungated" % (entry["name"], repo_id)


def test_the_flux1_vae_comes_ungated_with_the_same_bytes_and_flux2_vae_is_apache():
    entries = dict((e["name"], e) for e in load_manifest()["models"])
    flux_ae = entries["flux_ae"]
    assert (flux_ae["repo_id"], flux_ae["path"], flux_ae.get("gated", False)) == (
        "mcmonkey/swarm-vaes", "flux_ae.safetensors", False)
    assert flux_ae["sha256"] == "afc8e28272cd15db3919bacdb6918ce9c1ed22e96cb12c4d5ed0fba823529e38"  # FLUX.1's ae
    assert entries["flux2-vae"]["licence"] == "apache-2.0"


# ---- Sizes (case 13): the manifest keeps the hub's bytes; the docs list where the reference differs ----
SHARED = REPO_ROOT.parent / "shared"
REFERENCE_DOC = SHARED / "reference" / "workstation-architecture-requirements.md"
UNITS = {"GB": 1024 ** 3, "MB": 1024 ** 2}  # the reference document's figures are du -h output (GiB, MiB)


def reference_sizes():
    """{file name: (figure as written, bytes it stands for)} from the reference document's tree."""
    sizes = {}
    for match in re.finditer(r"([\w.+-]+\.safetensors) \((\d+(?:\.\d+)?)(GB|MB)", REFERENCE_DOC.read_text()):
        sizes.setdefault(match.group(1), (match.group(2) + match.group(3), float(match.group(2)) * UNITS[match.group(3)]))
    return sizes


def agrees(written_bytes, actual):
    """Two significant digits, rounded either way (du -h rounds up): within 5 % below or 11 % above."""
    return actual * 0.95 <= written_bytes <= actual * 1.11


def test_docs_list_every_size_where_the_reference_document_and_the_hub_differ():
    if not REFERENCE_DOC.exists():
        pytest.skip("needs the reference document at %s (the project's shared folder beside the checkout)"
                    % REFERENCE_DOC)
    sizes = reference_sizes()
    docs = DOCS_PATH.read_text(encoding="utf-8")
    section = docs.split("## Sizes", 1)[1].split("\n## ", 1)[0]
    differing = []
    for entry in load_manifest()["models"]:
        name = entry["dest"].rsplit("/", 1)[-1]
        if entry.get("size") and name in sizes and not agrees(sizes[name][1], entry["size"]):
            differing.append(entry["name"])
            row = [line for line in section.splitlines() if "`%s`" % entry["name"] in line]
            assert row and sizes[name][0] in row[0] and "{:,}".format(entry["size"]) in row[0], entry["name"]
    assert {"flux2_dev_fp8mixed", "t5xxl_fp16", "qwen_2.5_vl_7b_fp8_scaled"} <= set(differing)


# ---- Workflows (case 14): every file the app's workflows load, and the preflight's warning ----
def workflow_manifest():
    manifest = small_manifest()
    manifest["workflows"]["img"]["loads"] = ["clip/a.safetensors", "checkpoints/x/ckpt.safetensors"]
    manifest["workflows"]["vid"]["loads"] = ["clip/a.safetensors", "vae/b.safetensors"]
    return manifest


# name, entries kept (by name), extra entries, selected workflows, expected missing_by_workflow
MISSING_CASES = [
    ("all provided but one checkpoint", ["a", "b", "c"], [], ["img", "vid", "snd"],
     {"img": ["checkpoints/x/ckpt.safetensors"]}),
    ("an extra model provides it", ["a", "b", "c"],
     [{"name": "x", "repo_id": "me/x", "path": "x", "dest": "Stable-Diffusion/x/ckpt.safetensors",
       "comfyui_link": "checkpoints/x/ckpt.safetensors", "licence": "mit", "media": "image"}],
     ["img", "vid", "snd"], {}),
    ("a ComfyUI-side file provides it", ["a", "b", "c"],
     [{"name": "x", "repo_id": "me/x", "path": "x", "root": "comfyui", "dest": "checkpoints/x/ckpt.safetensors",
       "licence": "mit", "media": "image"}], ["img"], {}),
    ("text_encoders/ is ComfyUI's clip/", ["b", "c"],
     [{"name": "x", "repo_id": "me/x", "path": "x", "dest": "clip/x", "comfyui_link": "text_encoders/a.safetensors",
       "licence": "mit", "media": "text_encoder"}], ["vid"], {}),
    ("an entry dropped from the manifest", ["b", "c"], [], ["img", "vid"],
     {"img": ["clip/a.safetensors", "checkpoints/x/ckpt.safetensors"], "vid": ["clip/a.safetensors"]}),
    ("a file in the store but not linked is not seen", ["a", "c"], [], ["vid"], {"vid": ["vae/b.safetensors"]}),
    ("unselected workflows are not reported", ["c"], [], ["snd"], {}),
    ("no workflow selected", [], [], [], {}),
]


@pytest.mark.parametrize(("name", "kept", "extra", "selected", "expected"), MISSING_CASES,
                         ids=[c[0] for c in MISSING_CASES])
def test_missing_by_workflow(name, kept, extra, selected, expected):
    manifest = workflow_manifest()
    manifest["models"] = [entry for entry in manifest["models"] if entry["name"] in kept]
    entries = mf.validate(manifest, extra)
    assert mf.missing_by_workflow(manifest, entries, selected) == expected, name


def test_plan_reports_missing_by_workflow_for_the_selection_only():
    manifest = workflow_manifest()
    assert mf.plan(manifest)["missing_by_workflow"] == {"img": ["checkpoints/x/ckpt.safetensors"]}
    assert mf.plan(manifest, media=["video"])["missing_by_workflow"] == {}


def test_plan_lists_what_each_batch_must_fetch(tmp_path):
    store, comfy = tmp_path / "Models", tmp_path / "models"
    (store / "clip").mkdir(parents=True)
    (comfy / "musicgen").mkdir(parents=True)
    assert mf.plan(small_manifest(), store_root=str(store), comfyui_root=str(comfy))["fetch"] == {
        "store": ["a", "b"], "comfyui": ["c"]}
    (store / "clip" / "a.safetensors").write_bytes(b"x" * 10)
    (store / "vae" / "B").mkdir(parents=True)
    (store / "vae" / "B" / "b.safetensors").write_bytes(b"any size: unknown")
    (comfy / "musicgen" / "config.json").write_text("{}")
    assert mf.plan(small_manifest(), store_root=str(store), comfyui_root=str(comfy))["fetch"] == {
        "store": [], "comfyui": []}  # the second run: nothing to fetch, so no background job


# The app's loader nodes: the input naming a model file, and the ComfyUI models/ folder it is looked up in.
LOADERS = {
    "CheckpointLoaderSimple": ("checkpoints", ["ckpt_name"]),
    "UNETLoader": ("diffusion_models", ["unet_name"]),
    "VAELoader": ("vae", ["vae_name"]),
    "CLIPLoader": ("clip", ["clip_name"]),
    "DualCLIPLoader": ("clip", ["clip_name1", "clip_name2"]),
    "TripleCLIPLoader": ("clip", ["clip_name1", "clip_name2", "clip_name3"]),
    "QuadrupleCLIPLoader": ("clip", ["clip_name1", "clip_name2", "clip_name3", "clip_name4"]),
    "LoraLoader": ("loras", ["lora_name"]),
    "LoraLoaderModelOnly": ("loras", ["lora_name"]),
}
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".sft", ".gguf", ".bin")
# Workflows of the app that need a file the manifest deliberately does not provide: {config: reason}.
OUT_OF_SCOPE = {}
APP_BUNDLE = SHARED / "vendor" / "ai4artsed_webserver-08a54d7.bundle"


@pytest.fixture(scope="module")
def app_schemas(tmp_path_factory):
    """The DevServer app at its pinned commit (a real git clone of the vendored bundle)."""
    if not APP_BUNDLE.exists():
        pytest.skip("needs the DevServer app's source: %s is absent. Get the shared folder beside this checkout "
                    "(../shared/vendor, see its README) or clone https://github.com/joeriben/ai4artsed_webserver "
                    "at 08a54d7225731603985098fe1ecd134d0e5b8cbc there." % APP_BUNDLE)
    clone = tmp_path_factory.mktemp("app") / "ai4artsed_webserver"
    subprocess.run(["git", "clone", "--quiet", "--branch", "main", str(APP_BUNDLE), str(clone)], check=True)
    return clone / "devserver" / "schemas"


def workflow_files(schemas):
    """{output config: sorted ComfyUI paths its workflow (or its fallback chain's) loaders name}."""
    found = {}
    for config_path in sorted((schemas / "configs" / "output").glob("*.json")):
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if (config.get("display") or {}).get("hidden"):
            continue
        chunk, seen, files = (config.get("parameters") or {}).get("OUTPUT_CHUNK"), set(), set()
        while chunk and chunk not in seen and (schemas / "chunks" / (chunk + ".json")).exists():
            seen.add(chunk)
            data = json.loads((schemas / "chunks" / (chunk + ".json")).read_text(encoding="utf-8"))
            workflow = data.get("workflow") if isinstance(data.get("workflow"), dict) else {}
            for node_id, node in workflow.items():
                inputs = node.get("inputs") or {}
                named = [key for key, value in inputs.items()
                         if isinstance(value, str) and value.endswith(MODEL_SUFFIXES)]
                if node.get("class_type") not in LOADERS:
                    assert not named, "chunk %s node %s (%s) names %s: add its loader to LOADERS" % (
                        chunk, node_id, node.get("class_type"), named)
                    continue
                folder, keys = LOADERS[node["class_type"]]
                files.update("%s/%s" % (folder, inputs[key]) for key in keys if inputs.get(key))
            chunk = (data.get("meta") or {}).get("fallback_chunk")
        if files:
            found[config_path.stem] = sorted(files)
    return found


def test_every_file_the_apps_workflows_load_is_provided_for_that_workflow(app_schemas):
    manifest = load_manifest()
    entries = mf.validate(manifest)
    app = workflow_files(app_schemas)
    assert len(app) >= 15  # the walk found the app's ComfyUI workflows
    problems = []
    for config, files in sorted(app.items()):
        if config in OUT_OF_SCOPE:
            continue
        if config not in manifest["workflows"]:
            problems.append("%s: the manifest declares no such workflow (loads %s)" % (config, ", ".join(files)))
            continue
        provided = mf.comfyui_files([e for e in entries if config in e.get("workflows", [])])
        lacking = [path for path in files if mf.comfyui_path(path) not in provided]
        if lacking:
            problems.append("%s: no entry of this workflow provides %s" % (config, ", ".join(lacking)))
        if sorted(manifest["workflows"][config].get("loads", [])) != files:
            problems.append("%s: loads %s, but the app's loaders name %s" % (
                config, manifest["workflows"][config].get("loads"), files))
    assert problems == []
