"""After converge: the client venv is pinned, and every file is in the store, verified and owned."""

import json
import urllib.request

import pytest

MODELS = "/home/ai4artsed/ai/SwarmUI/Models"
EXPECTED = [
    ("ai4artsed-test/sd35", "text_encoders/clip_g.safetensors", "clip/clip_g.safetensors"),
    ("ai4artsed-test/sd35", "text_encoders/t5xxl.safetensors", "clip/t5xxl_enconly.safetensors"),
    ("ai4artsed-test/stable-audio-open-1.0", "model.safetensors", "stableaudio/stable-audio-open-1.0/model.safetensors"),
    ("ai4artsed-test/stable-audio-open-1.0", "vae/diffusion_pytorch_model.safetensors",
     "stableaudio/stable-audio-open-1.0/vae/diffusion_pytorch_model.safetensors"),
]


def hub_sha256(hub_url, repo_id, path, token=None):
    request = urllib.request.Request("%s/api/models/%s/tree/main?recursive=true" % (hub_url, repo_id))
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=10) as response:
        entries = json.load(response)
    return next(entry["lfs"]["oid"] for entry in entries if entry["path"] == path)


def test_client_venv_has_the_pinned_client(host):
    freeze = host.check_output("/opt/ai4artsed/hf-client/bin/python -m pip freeze")
    assert "huggingface_hub==2.4.0" in freeze.splitlines()
    assert "hf-xet==1.8.0" in freeze.splitlines()


@pytest.mark.parametrize(("repo_id", "path", "dest"), EXPECTED)
def test_store_file_matches_the_hub_digest_and_belongs_to_the_service_user(host, hub_double, repo_id, path, dest):
    model = host.file("%s/%s" % (MODELS, dest))
    assert model.is_file and not model.is_symlink
    assert model.sha256sum == hub_sha256(hub_double["url"], repo_id, path)
    assert (model.user, model.group, model.mode) == ("ai4artsed", "ai4artsed", 0o644)


def test_gated_file_downloaded_with_the_token(host, hub_double):
    model = host.file(MODELS + "/vae/Flux/ae.safetensors")
    assert model.sha256sum == hub_sha256(hub_double["url"], "ai4artsed-test/flux-gated", "ae.safetensors",
                                         token="hf_test_accepted")


def test_pattern_download_skipped_files_that_do_not_match(host):
    assert host.file(MODELS + "/stableaudio/stable-audio-open-1.0/model_config.json").is_file
    assert host.run("find %s -name '*.hf-partial*'" % MODELS).stdout == ""


def test_progress_file_reports_the_finished_batch(host):
    progress = json.loads(host.file(MODELS + "/.hf_model/progress.json").content_string)
    assert progress["done_bytes"] == progress["total_bytes"] > 0
    assert progress["files_done"] == progress["files_total"] == 6


def test_every_file_has_a_record(host):
    records = host.check_output("cd %s/.hf_model && find . -name '*.safetensors.json' | sort" % MODELS).split()
    assert len(records) == 5


def test_the_token_never_reached_the_cdn(hub_double):
    with urllib.request.urlopen(hub_double["url"] + "/_control/stats", timeout=10) as response:
        assert json.load(response)["cdn_auth_headers"] == 0
