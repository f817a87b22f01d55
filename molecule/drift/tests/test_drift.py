"""After the converge of a drifted store: everything repaired, the archive holds what was moved, no
content was lost, and playbooks/rollback.yml puts the archived files back. The rollback test runs last."""

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "tests" / "fixtures"))
from model_store_standins import standins  # noqa: E402

SWARMUI = "/home/ai4artsed/ai/SwarmUI"
MODELS = SWARMUI + "/Models"
COMFY = SWARMUI + "/dlbackend/ComfyUI/models"
ARCHIVE = "/home/ai4artsed/ai/model-archive"
ROOTS = {"store": MODELS, "comfyui": COMFY}
MANIFEST = yaml.safe_load((PROJECT / "roles" / "model_store" / "files" / "manifest.yml").read_text())
ENTRIES = dict((entry["name"], entry) for entry in MANIFEST["models"])
_REPOS, _OVERLAY, DIGESTS = standins()
EXPECTED = [(ROOTS[ENTRIES[name].get("root", "store")], dest, sha256)
            for name, files in sorted(DIGESTS.items()) for dest, sha256, _size in files.values()]


def digests(host, *folders):
    output = host.check_output("find %s -type f -not -path '*/.*' -exec sha256sum {} + | sort" % " ".join(folders))
    return Counter(line.split()[0] for line in output.splitlines() if line.strip())


@pytest.mark.parametrize(("root", "dest", "sha256"), EXPECTED, ids=[e[1] for e in EXPECTED])
def test_every_file_is_repaired_and_owned_by_the_service_account(host, root, dest, sha256):
    model = host.file("%s/%s" % (root, dest))
    assert model.is_file and not model.is_symlink
    assert model.sha256sum == sha256
    assert (model.user, model.group) == ("ai4artsed", "ai4artsed")


def test_comfyui_clip_is_a_real_folder_of_relative_links(host):
    clip = host.file(COMFY + "/clip")
    assert clip.is_directory and not clip.is_symlink
    assert host.check_output("find %s -type l -xtype d" % COMFY) == ""
    for link in ("clip_g", "t5xxl_enconly", "t5xxl_fp16"):
        path = "%s/clip/%s.safetensors" % (COMFY, link)
        assert host.file(path).is_symlink and not host.check_output("readlink %s" % path).startswith("/")
        assert host.file(path).linked_to == "%s/clip/%s.safetensors" % (MODELS, link)


def test_no_broken_link_and_the_real_copy_became_a_link(host):
    assert host.check_output("find %s -xtype l" % COMFY) == ""  # -xtype l: a broken link
    assert host.file(COMFY + "/vae/wan2.2_vae.safetensors").linked_to == MODELS + "/vae/wan2.2_vae.safetensors"
    assert host.file(COMFY + "/checkpoints/ltxv-13b-0.9.7-distilled-fp8.safetensors").is_symlink


def test_deprecated_folders_are_gone_and_nothing_is_unowned(host):
    assert not host.file(MODELS + "/VAE").exists and not host.file(MODELS + "/Lora").exists
    assert host.run("find %s %s ! -user ai4artsed ! -name .ai4artsed-model-links.json" % (MODELS, COMFY)).stdout == ""


def test_the_archive_holds_everything_that_was_moved(host):
    ledger = host.file(ARCHIVE + "/ledger.jsonl").content_string
    for original in ("Models/VAE/Flux/ae.safetensors", "Models/Lora/wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise",
                     "Models/loras/my_own_lora.safetensors", "Models/clip/t5xxl_fp16.safetensors",
                     "checkpoints/ltxv-13b-0.9.7-distilled-fp8.safetensors"):
        assert original in ledger, original


def ledger_lines(host):
    return [json.loads(line) for line in host.file(ARCHIVE + "/ledger.jsonl").content_string.splitlines()]


@pytest.mark.parametrize(("store_path", "comfyui_path"), [
    ("clip/t5-base.safetensors", "clip/t5-base.safetensors"),  # behind the clip/ directory link
    ("Stable-Diffusion/stable-audio-open-1.0.safetensors", "checkpoints/stable-audio-open-1.0.safetensors"),
], ids=["through a directory link", "behind a per-file link"])
def test_comfyui_only_files_found_in_the_store_were_moved_into_place_in_one_run(host, store_path, comfyui_path):
    model = host.file("%s/%s" % (COMFY, comfyui_path))
    assert model.is_file and not model.is_symlink
    assert not host.file("%s/%s" % (MODELS, store_path)).exists
    moves = [line for line in ledger_lines(host) if line["to"] == "%s/%s" % (COMFY, comfyui_path)]
    assert [line["from"] for line in moves] == ["%s/%s" % (MODELS, store_path)]


def test_removed_symlinks_have_a_ledger_line(host):
    removed = dict((line["from"], line) for line in ledger_lines(host) if line.get("action") == "unlink")
    dangling = removed[COMFY + "/checkpoints/OfficialStableDiffusion"]
    assert dangling["link"] == "../../../Models/Stable-Diffusion/OfficialStableDiffusion"
    assert "dangling" in dangling["reason"]
    assert removed[COMFY + "/clip"]["link"] == "../../../Models/clip"
    assert host.file(COMFY + "/checkpoints/OfficialStableDiffusion/sd3.5_large.safetensors").linked_to == \
        MODELS + "/Stable-Diffusion/OfficialStableDiffusion/sd3.5_large.safetensors"


def test_nothing_is_lost(host):
    before = Counter(line.split()[0] for line in host.file("/root/drift-before.txt").content_string.splitlines())
    after = digests(host, MODELS, COMFY, ARCHIVE)
    assert before - after == Counter()


def test_the_report_lists_no_broken_link(host):
    text = host.file("/home/ai4artsed/ai/storage-report.md").content_string
    assert "## Broken links\n\nnone" in text and "## Unmanaged files\n\nnone" in text


def test_zz_rollback_restores_the_archived_files(host, run_playbook):
    code, output = run_playbook("rollback.yml")
    assert code == 0, output
    assert host.file(MODELS + "/loras/my_own_lora.safetensors").is_file
    conflict = host.file(MODELS + "/Lora/wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors")
    assert conflict.is_file
    assert host.file(MODELS + "/VAE/Flux/ae.safetensors").is_file
    assert '"action": "restore"' in host.file(ARCHIVE + "/ledger.jsonl").content_string
