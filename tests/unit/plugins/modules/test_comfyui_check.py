"""comfyui_check against a small in-process HTTP server that answers like ComfyUI's routes.

The server answers /system_stats, /object_info and /models/<folder> in ComfyUI's shapes (server.py): a folder key
it does not know is a 404, as /models/clip is in the real ComfyUI. The proof against the real ComfyUI is the
Molecule scenario `comfyui`.
"""

import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import comfyui
from ansible_collections.ai4artsed.devserver.plugins.modules import comfyui_check
from helpers.hostile_http import HostileServer, answer, drip, html_answer, json_answer
from helpers.module_runner import run_module

FOLDER_KEYS = ("checkpoints", "text_encoders", "diffusion_models", "vae", "loras")


class FakeComfyUI(BaseHTTPRequestHandler):
    state = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.state.setdefault("asked", []).append(self.path)
        if self.path == "/system_stats":
            body = {"system": {"comfyui_version": "0.3.64", "argv": ["main.py", "--cpu"]}, "devices": []}
        elif self.path == "/object_info":
            body = self.state.get("object_info", {})
        elif self.path.startswith("/models/") and self.path[len("/models/"):] in FOLDER_KEYS:
            body = sorted(self.state.get("models", {}).get(self.path[len("/models/"):], []))
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def comfy():
    FakeComfyUI.state = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeComfyUI)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1], FakeComfyUI.state
    server.shutdown()
    server.server_close()


@pytest.fixture
def install(tmp_path):
    """A ComfyUI folder: two packs (a folder and a file), a store file linked into models/clip/ and checkpoints/."""
    comfy_dir = tmp_path / "ComfyUI"
    nodes = comfy_dir / "custom_nodes"
    (nodes / "good_pack").mkdir(parents=True)
    (nodes / "websocket_image_save.py").write_text("NODE_CLASS_MAPPINGS = {}\n")
    (nodes / "example_node.py.example").write_text("")
    store = tmp_path / "Models"
    (store / "clip").mkdir(parents=True)
    (store / "clip" / "clip_l.safetensors").write_bytes(b"x")
    (store / "Stable-Diffusion").mkdir()
    (store / "Stable-Diffusion" / "sd.safetensors").write_bytes(b"x")
    models = comfy_dir / "models"
    (models / "clip").mkdir(parents=True)
    (models / "checkpoints" / "Official").mkdir(parents=True)
    os.symlink("../../../Models/clip/clip_l.safetensors", str(models / "clip" / "clip_l.safetensors"))
    os.symlink("../../../../Models/Stable-Diffusion/sd.safetensors", str(models / "checkpoints" / "Official" / "sd.safetensors"))
    (models / "checkpoints" / "put_checkpoints_here").write_text("")
    return comfy_dir


def healthy(state):
    state["object_info"] = {
        "KSampler": {"python_module": "nodes"},
        "GoodNode": {"python_module": "custom_nodes.good_pack"},
        "SaveImageWebsocket": {"python_module": "custom_nodes.websocket_image_save"},
    }
    state["models"] = {"text_encoders": ["clip_l.safetensors"], "checkpoints": ["Official/sd.safetensors"]}


def args(url, comfy_dir, **extra):
    result = {"url": url, "unit": "", "nodes_dir": str(comfy_dir / "custom_nodes"), "models_dir": str(comfy_dir / "models")}
    result.update(extra)
    return result


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_healthy_comfyui_passes_the_same_in_check_mode(capsys, comfy, install, check_mode):
    url, state = comfy
    healthy(state)
    failed, result = run_module(capsys, comfyui_check, args(url, install), check_mode=check_mode)
    assert not failed, result["msg"]
    assert result["changed"] is False and result["problems"] == []
    assert result["system_stats"]["system"]["comfyui_version"] == "0.3.64"
    assert [(node["name"], node["imported"], node["classes"]) for node in result["nodes"]] == [
        ("good_pack", True, 1), ("websocket_image_save", True, 1)]
    assert result["model_lines"] == ["checkpoints: ComfyUI lists 1, the manifest links 1",
                                     "text_encoders: ComfyUI lists 1, the manifest links 1"]
    # clip/ is asked as text_encoders (ComfyUI answers 404 for /models/clip).
    assert "/models/clip" not in state["asked"] and "/models/text_encoders" in state["asked"]


def test_a_pack_without_classes_fails_by_name(capsys, comfy, install):
    url, state = comfy
    healthy(state)
    del state["object_info"]["GoodNode"]
    failed, result = run_module(capsys, comfyui_check, args(url, install))
    assert failed
    assert "custom node pack good_pack did not import" in result["msg"]
    assert "websocket_image_save" not in result["msg"]


def test_a_linked_model_comfyui_does_not_list_fails_by_name(capsys, comfy, install):
    url, state = comfy
    healthy(state)
    state["models"]["checkpoints"] = []
    failed, result = run_module(capsys, comfyui_check, args(url, install))
    assert failed
    assert result["problems"] == [
        "ComfyUI does not list the linked model checkpoints/Official/sd.safetensors (GET /models/checkpoints)"]
    assert "checkpoints: ComfyUI lists 0, the manifest links 1" in result["model_lines"]


def test_a_dangling_link_fails_although_comfyui_lists_it(capsys, comfy, install, tmp_path):
    url, state = comfy
    healthy(state)
    (tmp_path / "Models" / "clip" / "clip_l.safetensors").unlink()
    failed, result = run_module(capsys, comfyui_check, args(url, install))
    assert failed
    assert result["problems"] == ["the link models/clip/clip_l.safetensors points to "
                                  "../../../Models/clip/clip_l.safetensors, which does not exist"]


def test_expected_links_from_the_plan_replace_the_walk(capsys, comfy, install):
    url, state = comfy
    healthy(state)
    links = ["clip/clip_l.safetensors", "checkpoints/Official/sd.safetensors", "vae/ae.safetensors"]
    failed, result = run_module(capsys, comfyui_check, args(url, install, expected_links=links))
    assert failed
    assert result["problems"] == [
        "ComfyUI does not list the linked model vae/ae.safetensors (GET /models/vae)",
        "the link models/vae/ae.safetensors is missing"]


def test_problems_only_reported_when_fail_on_problems_is_false(capsys, comfy, install):
    url, state = comfy
    healthy(state)
    state["object_info"] = {}
    failed, result = run_module(capsys, comfyui_check, args(url, install, fail_on_problems=False))
    assert not failed
    assert len(result["problems"]) == 2 and result["msg"] == "; ".join(result["problems"])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_answer_within_the_timeout_fails(capsys, install):
    url = "http://127.0.0.1:%d" % free_port()
    failed, result = run_module(capsys, comfyui_check, args(url, install, wait_timeout=1))
    assert failed
    assert "did not answer GET %s/system_stats within 1 seconds" % url in result["msg"]


def fake_systemd(monkeypatch, show, journal, tail):
    """systemctl show / journalctl answers, as the host would give them; other commands run for real."""
    calls = []
    real_run = comfyui_check.run_bounded

    def run(argv, timeout):
        calls.append(argv)
        if argv[0] == "systemctl":
            return 0, show, ""
        if argv[0] == "journalctl":
            return 0, tail if "-n" in argv and "-o" not in argv else journal, ""
        return real_run(argv, timeout)

    monkeypatch.setattr(comfyui_check, "run_bounded", run)
    return calls


def test_a_crash_at_start_fails_with_the_end_of_the_journal(capsys, monkeypatch, install):
    tail = "Traceback (most recent call last):\nValueError: '/venv/comfyui_workflow_templates/templates' does not exist"
    fake_systemd(monkeypatch, "ActiveState=activating\nSubState=auto-restart\nNRestarts=1\n", "", tail)
    url = "http://127.0.0.1:%d" % free_port()
    failed, result = run_module(capsys, comfyui_check, args(url, install, unit="comfyui", wait_timeout=30))
    assert failed
    assert "ComfyUI did not start: ComfyUI exited and systemd is about to restart it" in result["msg"]
    assert "The end of `journalctl -u comfyui`" in result["msg"]
    assert "templates' does not exist" in result["msg"]


def test_the_journal_of_this_start_gives_the_reason_of_an_import_failure(capsys, monkeypatch, comfy, install):
    url, state = comfy
    healthy(state)
    del state["object_info"]["GoodNode"]
    nodes = str(install / "custom_nodes")
    journal = "\n".join([
        "Cannot import %s/good_pack module for custom nodes: cannot import name 'Flux2Scheduler'" % nodes,
        "   0.0 seconds (IMPORT FAILED): %s/good_pack" % nodes])
    calls = fake_systemd(monkeypatch, "ActiveState=active\nSubState=running\nNRestarts=0\nInvocationID=abc\n",
                         journal, "last lines")
    failed, result = run_module(capsys, comfyui_check, args(url, install, unit="comfyui"))
    assert failed
    assert "custom node pack good_pack did not import: cannot import name 'Flux2Scheduler'" in result["msg"]
    assert ["journalctl", "--no-pager", "-o", "cat", "_SYSTEMD_INVOCATION_ID=abc"] in calls


def test_venv_versions_against_the_pins(capsys, tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    # The test's own interpreter stands in for the venv's python: its distributions are known here.
    python = venv / "bin" / "python"
    python.write_text('#!/bin/sh\nexec "%s" "$@"\n' % sys.executable)
    python.chmod(0o755)
    import pytest as this_pytest
    wanted = ["pytest==" + this_pytest.__version__, "ansible-core", "pytest==0.0.1", "no-such-package-here==1.0"]
    failed, result = run_module(capsys, comfyui_check, {"venv": str(venv), "requirements": wanted,
                                                        "fail_on_problems": False})
    assert not failed
    assert result["problems"] == ["no-such-package-here is not installed in the venv (wanted no-such-package-here==1.0)",
                                  "pytest is %s in the venv, wanted 0.0.1" % this_pytest.__version__]
    assert {row["name"]: row["ok"] for row in result["packages"]} == {
        "ansible-core": True, "no-such-package-here": False, "pytest": False}


def test_a_missing_venv_is_a_problem(capsys, tmp_path):
    failed, result = run_module(capsys, comfyui_check, {"venv": str(tmp_path / "none"), "requirements": ["torch"]})
    assert failed and result["problems"] == ["the venv %s does not exist" % (tmp_path / "none")]


def test_nodes_dir_needs_a_url(capsys, install):
    failed, result = run_module(capsys, comfyui_check, {"nodes_dir": str(install / "custom_nodes")})
    assert failed and "url" in result["msg"]


STATS = {"system": {"comfyui_version": "0.3.64"}, "devices": []}
BAD_ANSWERS = [
    # (routes, what the message says): an answer that arrived is never "did not answer"
    ({"/system_stats": html_answer()}, "GET {url}/system_stats answered HTML (text/html), not JSON: <!DOCTYPE html>"),
    ({"/system_stats": json_answer(["not", "stats"])},
     "GET {url}/system_stats answered JSON of the wrong shape: expected an object with key 'system', got a list"),
    ({"/system_stats": json_answer(STATS), "/object_info": answer(500, b"Internal Server Error\nTraceback ...")},
     "GET {url}/object_info answered HTTP 500: Internal Server Error"),
    ({"/system_stats": json_answer(STATS), "/object_info": json_answer([1, 2])},
     "GET {url}/object_info answered JSON of the wrong shape: expected an object, got a list"),
    ({"/system_stats": json_answer(STATS), "/object_info": json_answer({}), "/models/checkpoints": html_answer()},
     "GET {url}/models/checkpoints answered HTML (text/html), not JSON"),
]


@pytest.mark.parametrize("routes, says", BAD_ANSWERS)
def test_a_bad_answer_fails_saying_what_was_wrong_and_where(capsys, install, routes, says):
    with HostileServer(routes) as server:
        failed, result = run_module(capsys, comfyui_check, args(server.url, install, wait_timeout=1))
    assert failed
    assert says.format(url=server.url) in result["msg"]
    assert "did not answer" not in result["msg"]


def test_a_slow_drip_of_object_info_ends_at_the_deadline(capsys, monkeypatch, install):
    monkeypatch.setattr(comfyui, "OBJECT_INFO_DEADLINE", 1)
    routes = {"/system_stats": json_answer(STATS), "/object_info": drip(b"{}" * 20, 0.2)}
    with HostileServer(routes) as server:
        failed, result = run_module(capsys, comfyui_check, args(server.url, install))
    assert failed
    assert "GET %s/object_info: the answer began but did not complete within the deadline of 1 s" % server.url \
        in result["msg"]


def test_a_venv_python_that_hangs_is_stopped_and_reported(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(comfyui_check, "COMMAND_TIMEOUT", 1)
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\nexec sleep 30\n")
    python.chmod(0o755)
    failed, result = run_module(capsys, comfyui_check, {"venv": str(tmp_path / "venv"), "requirements": ["torch"]})
    assert failed
    assert result["problems"] == ["%s could not list its packages: `%s -c %s` did not finish within 1 s and was "
                                  "stopped. Try the command by hand in the venv."
                                  % (python, python, comfyui_check.INSTALLED_VERSIONS)]
