"""After converge: every manifest entry (as its stand-in) in place with the right digest and owner,
every ComfyUI link relative and resolving, no directory-level symlink, the report written, the
preflight refusals, and a re-run with the hub double stopped."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "tests" / "fixtures"))
from model_store_standins import standins  # noqa: E402

SWARMUI = "/home/ai4artsed/ai/SwarmUI"
ROOTS = {"store": SWARMUI + "/Models", "comfyui": SWARMUI + "/dlbackend/ComfyUI/models"}
MANIFEST = yaml.safe_load((PROJECT / "roles" / "model_store" / "files" / "manifest.yml").read_text())
_REPOS, _OVERLAY, DIGESTS = standins()
ENTRIES = dict((entry["name"], entry) for entry in MANIFEST["models"])
EXPECTED = [(name, root_dest[0], root_dest[1], root_dest[2])
            for name, files in sorted(DIGESTS.items()) for root_dest in files.values()]
CONVERGE = "../shared/converge_model_store.yml"  # with this scenario's group_vars (molecule.yml)
LINKS = sorted((entry["comfyui_link"], entry["dest"]) for entry in MANIFEST["models"] if entry.get("comfyui_link"))


def root_of(name):
    return ROOTS[ENTRIES[name].get("root", "store")]


@pytest.mark.parametrize(("name", "dest", "sha256", "size"), EXPECTED, ids=[e[1] for e in EXPECTED])
def test_every_file_is_in_place_with_its_digest_and_owner(host, name, dest, sha256, size):
    model = host.file("%s/%s" % (root_of(name), dest))
    assert model.is_file and not model.is_symlink
    assert model.size == size
    assert model.sha256sum == sha256
    assert (model.user, model.group, model.mode) == ("ai4artsed", "ai4artsed", 0o644)


def test_multi_file_models_hold_only_what_their_patterns_match(host):
    for name in ("stable-audio-open-1.0-diffusers", "musicgen-small"):
        folder = "%s/%s" % (root_of(name), ENTRIES[name]["dest"].rstrip("/"))
        assert not host.file(folder + "/not-selected.bin").exists


@pytest.mark.parametrize(("link", "dest"), LINKS, ids=[link for link, _dest in LINKS])
def test_every_comfyui_link_is_relative_and_resolves_to_the_store_file(host, link, dest):
    path = "%s/%s" % (ROOTS["comfyui"], link)
    assert host.file(path).is_symlink
    value = host.file(path).linked_to  # resolved
    raw = host.check_output("readlink %s" % path)
    assert not raw.startswith("/")
    assert value == "%s/%s" % (ROOTS["store"], dest)


def test_no_directory_level_symlink_under_comfyui_models(host):
    assert host.check_output("find %s -type l -xtype d" % ROOTS["comfyui"]) == ""
    assert host.check_output("find %s -xtype l" % ROOTS["comfyui"]) == ""  # no broken link


def test_store_folders_belong_to_the_service_account(host):
    for folder in ("", "/clip", "/vae", "/vae/Flux", "/loras", "/Stable-Diffusion", "/diffusion_models"):
        directory = host.file(ROOTS["store"] + folder)
        assert directory.is_directory and (directory.user, directory.group) == ("ai4artsed", "ai4artsed")
    assert host.run("find %s %s ! -user ai4artsed ! -name .ai4artsed-model-links.json" % (
        ROOTS["store"], ROOTS["comfyui"])).stdout == ""


def test_the_storage_report_is_written(host):
    report = host.file("/home/ai4artsed/ai/storage-report.md")
    assert report.is_file and report.user == "ai4artsed"
    text = report.content_string
    assert text.startswith("# Model storage report")
    assert "| Models/clip |" in text and "| ComfyUI models/clip |" in text and "**total**" in text
    assert "## Broken links\n\nnone" in text and "## Unmanaged files\n\nnone" in text
    assert ".hf_model" not in text


def test_preflight_refuses_gated_models_without_a_token(run_playbook):
    code, output = run_playbook("preflight_probe.yml", {"model_store_hf_token": ""})
    assert code != 0
    assert "https://huggingface.co/stabilityai/stable-diffusion-3.5-large" in output
    assert "https://huggingface.co/stabilityai/stable-audio-open-1.0" in output


# A token like a real one: the planner receives it as a no_log option, and Ansible masks its value wherever it
# occurs in the output (a one-letter token would mask that letter in every workflow name).
TOKEN = "hf_test_accepted"


def test_preflight_refuses_a_gpu_with_too_little_memory(run_playbook):
    code, output = run_playbook("preflight_probe.yml", {"model_store_hf_token": TOKEN,
                                                        "nvidia_driver_gpus": [{"memory_mib": 16384}]})
    assert code != 0
    assert "The largest GPU has 16 GB" in output and "flux2" in output


def test_preflight_refuses_a_disk_without_room_for_the_downloads(run_playbook):
    code, output = run_playbook("preflight_probe.yml", {"model_store_hf_token": TOKEN,
                                                        "model_store_free_space_margin_gb": 10 ** 9})
    assert code != 0
    assert "Not enough free space for the models" in output


def test_preflight_passes_with_a_token_and_skips_vram_without_gpus(run_playbook):
    code, output = run_playbook("preflight_probe.yml", {"model_store_hf_token": TOKEN})
    assert code == 0, output
    assert "VRAM check skipped" in output


def _ran(plain, name):
    """The output of the task whose name contains `name`, when it ran (not skipped), else None."""
    for section in plain.split("TASK [")[1:]:
        if name in section.split("]", 1)[0] and re.search(r"^(ok|changed):", section, re.MULTILINE):
            return section
    return None


@pytest.mark.parametrize("check_updates", [False, True])
def test_check_mode_on_the_converged_host_checks_only_what_can_change(run_playbook, check_updates):
    code, output = run_playbook(CONVERGE, {"model_store_check_updates": check_updates}, check=True)
    assert code == 0, output
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)  # the verify step runs with colours forced
    summaries = [_ran(plain, "Downloads | Summary of the check, batch %s" % batch) for batch in ("store", "comfyui")]
    if check_updates:
        # Entries that follow a branch are asked about; every file stays as it is.
        assert [summary is not None for summary in summaries] == [True, True], plain[-3000:]
        for summary in summaries:
            assert re.search(r'"msg": "\d+ unchanged, would download 0 B"', summary), summary
    else:
        # Every file is in place as its record says: the plan leaves nothing for hf_model to look at.
        assert summaries == [None, None]
        assert _ran(plain, "Downloads | Check the files in place") is None
    # Only the model_store tasks: the pip module reports every requirements install as changed in check mode.
    tasks = [section for section in plain.split("TASK [")[1:] if section.startswith("ai4artsed.devserver.model_store")]
    assert len(tasks) > 20
    changed = [section.splitlines()[0] for section in tasks if re.search(r"^changed:", section, re.MULTILINE)]
    assert changed == []


def test_storage_report_playbook_prints_the_report_and_changes_nothing(host, run_playbook):
    before = host.file("/home/ai4artsed/ai/storage-report.md").content_string
    code, output = run_playbook("storage_report.yml")
    assert code == 0, output
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    assert "# Model storage report" in plain and "| **total** | 149.0 KB | 39 | 26 | 26 | 0 | 0 | 0 |" in plain
    assert re.search(r"^devserver-models\s*:\s*ok=\d+\s+changed=0\b", plain, re.MULTILINE), plain[-1500:]
    assert host.file("/home/ai4artsed/ai/storage-report.md").content_string == before


def _answers(url):
    host, port = url.rsplit("/", 1)[-1].split(":")
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) == 0


@pytest.fixture
def hub_double_stopped(hub_double):
    """Stop the hub double that prepare started (connections are refused), and start it again afterwards
    on the same ports."""
    work = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    pidfile = work / "hub.pid"
    os.kill(int(pidfile.read_text()), signal.SIGTERM)
    for _attempt in range(50):
        if not _answers(hub_double["url"]) and not _answers(hub_double["cdn_url"]):
            break
        time.sleep(0.1)
    assert not _answers(hub_double["url"]), "the hub double still answers"
    yield
    ports = [url.rsplit(":", 1)[-1] for url in (hub_double["url"], hub_double["cdn_url"])]
    with open(work / "hub.log", "a", encoding="utf-8") as log:
        hub = subprocess.Popen([sys.executable, str(PROJECT / "tests" / "doubles" / "hf_hub_double.py"),
                                "--root", str(work / "hub"), "--port", ports[0], "--cdn-port", ports[1],
                                "--repos", str(work / "standins" / "hub-repos.json")],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    pidfile.write_text(str(hub.pid))
    for _attempt in range(100):
        if _answers(hub_double["url"]):
            break
        time.sleep(0.1)


def test_the_converged_host_re_runs_with_the_hub_unreachable(run_playbook, hub_double_stopped):
    # The stand-ins of the same files, each pinned to a commit with its sha256 (manifest-offline.yml, from
    # tests/fixtures/model_store_standins.py): with valid records, hf_model asks the hub nothing.
    offline = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"] + "/standins/manifest-offline.yml"
    code, output = run_playbook(CONVERGE, {"model_store_manifest": offline})
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    assert code == 0, plain[-3000:]
    assert re.search(r"^devserver-models\s*:\s*ok=\d+\s+changed=0\b", plain, re.MULTILINE), plain[-1500:]
    tasks = dict((section.split("]", 1)[0], section) for section in plain.split("TASK [")[1:])
    ran = [name for name, section in tasks.items() if re.search(r"^ok:", section, re.MULTILINE)]
    assert any("Links | Link every shared store file" in name for name in ran)
    assert any("Report | Print the storage report" in name for name in ran)
    assert "Model storage report" in tasks[next(name for name in ran if "Report | Print" in name)]
    # Every stand-in is pinned and in place as its record says: the plan found nothing for hf_model to look at.
    assert not any("Downloads | Check the files in place" in name for name in ran)
    assert not any("Downloads | Start the downloads in the background" in name for name in ran)
