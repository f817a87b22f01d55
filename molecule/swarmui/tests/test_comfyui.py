"""After converge: the real ComfyUI (the vendored 0.3.64 snapshot, --cpu) runs as comfyui.service on the
scenario's comfyui_port (7831) on loopback only, as the service account, from a venv with exactly the pinned
packages; it lists the fixture node pack's node and every model file that the model store links into its models/
folder; it comes back after a kill; and a converge with a broken node pack or a pin that crashes ComfyUI fails,
saying which pack or showing ComfyUI's log, then converges healthy again: test_swarmui.py runs after these tests,
against the same ComfyUI."""

import json
import os
import re
import shlex
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[3]
SCENARIO = Path(__file__).resolve().parents[1]
WORK = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
GROUP_VARS = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["provisioner"]["inventory"]["group_vars"]["devservers"]
MANIFEST = yaml.safe_load((PROJECT / "roles" / "model_store" / "files" / "manifest.yml").read_text())
LINKS = sorted(entry["comfyui_link"] for entry in MANIFEST["models"] if entry.get("comfyui_link"))

COMFYUI = "/home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI"
PORT = GROUP_VARS["comfyui_port"]  # 7831: not the role's 7821, which the site scenario uses
URL = "http://127.0.0.1:%d" % PORT
SERVICE_USER = "ai4artsed"
RESTART_SEC = 5  # the role's comfyui_restart_sec default
# The failure paths re-run only the comfyui role (the model store is converged already; a run of it takes a minute)
COMFYUI_ONLY = "comfyui_only.yml"
# ComfyUI's model folder keys for the link folders whose name is a legacy alias (GET /models/clip is a 404)
FOLDER_KEYS = {"clip": "text_encoders", "unet": "diffusion_models"}


def sources():
    """What prepare.yml copied into the container (the ComfyUI source and the fixture node packs)."""
    return json.loads((WORK / "comfyui-sources.json").read_text(encoding="utf-8"))


def get_json(path, timeout=10):
    with urllib.request.urlopen(URL + path, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def wait_until_comfyui_answers(timeout=180):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return get_json("/system_stats")
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def plain(output):
    return re.sub(r"\x1b\[[0-9;]*m", "", output)  # the verify step runs ansible with colours forced


def test_the_unit_is_enabled_and_active(host):
    service = host.service("comfyui")
    assert service.is_enabled
    assert service.is_running


def test_comfyui_listens_on_its_port_on_loopback_only(host):
    assert host.socket("tcp://127.0.0.1:%d" % PORT).is_listening
    listeners = host.check_output("ss -Htln 'sport = :%d'" % PORT).splitlines()
    addresses = [line.split()[3] for line in listeners]
    assert addresses == ["127.0.0.1:%d" % PORT]


def test_system_stats_answers_with_the_snapshot_on_cpu():
    stats = wait_until_comfyui_answers()
    assert stats["system"]["comfyui_version"] == "0.3.64"
    assert "--cpu" in stats["system"]["argv"]
    assert [device["type"] for device in stats["devices"]] == ["cpu"]


def test_the_checkout_is_the_wanted_commit(host):
    head = host.check_output("git -c safe.directory=%s -C %s rev-parse HEAD", COMFYUI, COMFYUI)
    assert head == sources()["comfyui"]["version"]


def test_the_fixture_node_appears_in_object_info():
    node = get_json("/object_info/AI4ArtsEdFixtureEcho")["AI4ArtsEdFixtureEcho"]
    assert node["python_module"] == "custom_nodes.ai4artsed_fixture_nodes"
    assert node["output"] == ["STRING"]


@pytest.mark.parametrize("link", LINKS)
def test_comfyui_lists_every_file_the_model_store_links(host, link):
    folder, name = link.split("/", 1)
    assert host.file("%s/models/%s" % (COMFYUI, link)).is_symlink  # the model store's link, not a copy
    assert name in get_json("/models/%s" % FOLDER_KEYS.get(folder, folder))


def test_the_venv_has_exactly_the_pinned_packages(host):
    wanted = dict(pin.split("==") for pin in GROUP_VARS["comfyui_torch_packages"] + GROUP_VARS["comfyui_pins"])
    script = "import importlib.metadata as m, json, sys; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    installed = json.loads(host.check_output(" ".join(shlex.quote(word) for word in [
        COMFYUI + "/venv/bin/python", "-c", script] + list(wanted))))
    assert installed == wanted


def test_the_venv_imports_what_the_role_verifies(host):
    for module in GROUP_VARS["comfyui_verify_imports"]:
        assert host.run("%s/venv/bin/python -c 'import %s'", COMFYUI, module).rc == 0


def main_pid(host):
    return int(host.check_output("systemctl show --property MainPID --value comfyui"))


def test_the_service_runs_as_the_service_account(host):
    pid = main_pid(host)
    assert pid > 0
    assert host.check_output("ps -o user= -p %s", str(pid)) == SERVICE_USER
    # ComfyUI itself, not a wrapper: the main process runs main.py from the venv
    assert "main.py" in host.check_output("ps -o args= -p %s", str(pid))


def test_systemd_analyze_security_exposure(security_exposure):
    # An unhardened unit rates 9.6; issue 15's target for every unit is 5.0 or lower, with what the GPU and
    # torch rule out left out (the role README's list).
    assert security_exposure("comfyui") <= 5.0


def post_json(path, payload, timeout=10):
    request = urllib.request.Request(URL + path, data=json.dumps(payload).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def test_a_workflow_runs_on_cpu_and_saves_its_image_into_output(host):
    # A convolution (ImageBlur) runs torch's CPU backend, whose JIT MemoryDenyWriteExecute would break; SaveImage
    # writes into output/, one of the few folders the unit's ProtectSystem=strict leaves writable.
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 256, "height": 256, "batch_size": 1, "color": 255}},
              "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 5, "sigma": 1.0}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "verify-probe"}}}
    prompt_id = post_json("/prompt", {"prompt": prompt})["prompt_id"]
    deadline = time.monotonic() + 60
    while not get_json("/history/" + prompt_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    entry = get_json("/history/" + prompt_id)[prompt_id]
    assert entry["status"]["status_str"] == "success", entry["status"]
    image = entry["outputs"]["3"]["images"][0]
    saved = host.file("%s/output/%s" % (COMFYUI, image["filename"]))
    assert saved.is_file and saved.user == SERVICE_USER


@pytest.mark.parametrize("signal", ["SIGTERM", "SIGKILL"])
def test_the_unit_is_back_within_its_restart_delay_after_a_kill(host, signal):
    wait_until_comfyui_answers()
    before = main_pid(host)
    host.run_test("systemctl kill --signal %s comfyui", signal)
    deadline = time.monotonic() + RESTART_SEC + 5
    while main_pid(host) in (before, 0) and time.monotonic() < deadline:
        time.sleep(0.5)
    after = main_pid(host)
    assert after not in (before, 0), "comfyui.service did not restart within %s s" % (RESTART_SEC + 5)
    assert host.service("comfyui").is_running
    wait_until_comfyui_answers()


def test_a_broken_node_pack_fails_the_converge_naming_it(host, run_playbook):
    nodes = sources()["nodes"]
    pack = COMFYUI + "/custom_nodes/broken_fixture_nodes"
    try:
        packs = [nodes["ai4artsed_fixture_nodes"], nodes["broken_fixture_nodes"]]
        code, output = run_playbook(COMFYUI_ONLY, {"comfyui_custom_nodes": packs})
        assert code != 0, plain(output)[-3000:]
        failed = plain(output).split("fatal: ", 1)[-1]
        assert "broken_fixture_nodes" in failed, plain(output)[-3000:]
    finally:
        host.run("rm -rf %s", pack)  # the test's own pack; the role leaves packs it did not put there
    code, output = run_playbook(COMFYUI_ONLY)
    assert code == 0, plain(output)[-3000:]
    assert "AI4ArtsEdFixtureEcho" in get_json("/object_info")


def test_a_pin_that_crashes_comfyui_fails_the_converge_with_its_log(host, run_playbook):
    mismatched = sources()["mismatched_pin"]  # comfyui_workflow_templates==0.7.69: 0.3.64 needs 0.1.x
    pins = [pin for pin in GROUP_VARS["comfyui_pins"] if not pin.startswith("comfyui-workflow-templates==")]
    code, output = run_playbook(COMFYUI_ONLY, {"comfyui_pins": pins + [mismatched]})
    assert code != 0, plain(output)[-3000:]
    failed = plain(output).split("fatal: ", 1)[-1]
    # the end of ComfyUI's own log: templates 0.7.x moved its templates folder into sub-packages
    assert "comfyui_workflow_templates/templates' does not exist" in failed, plain(output)[-3000:]
    code, output = run_playbook(COMFYUI_ONLY)
    assert code == 0, plain(output)[-3000:]
    stats = wait_until_comfyui_answers()
    assert stats["system"]["comfyui_version"] == "0.3.64"
    version = host.check_output("%s/venv/bin/python -c %s", COMFYUI,
                                "import importlib.metadata as m; print(m.version('comfyui-workflow-templates'))")
    assert version == "0.1.95"
