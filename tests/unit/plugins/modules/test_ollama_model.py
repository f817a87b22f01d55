"""ollama_model against the loopback Ollama API double (tests/doubles/ollama_api_double.py).

What a user checks: which models Ollama has afterwards (the double's store on disk), which requests went out
(a present model costs one POST /api/show and nothing else), what the task says, and the progress file.
"""

import json
import socket
import threading
import time

import pytest

from ansible_collections.ai4artsed.devserver.plugins.modules import ollama_model
from helpers.hostile_http import HostileServer, answer, drip, free_port, html_answer, json_answer, lines_then_silence
from helpers.module_runner import run_module
from ollama_api_double import OllamaDouble

GPT_OSS_BYTES = 13780154624  # the double's catalogue size of the model layer


@pytest.fixture
def ollama(tmp_path):
    double = OllamaDouble(str(tmp_path / "models"), pull_seconds=0.3)
    double.start()
    yield double
    double.stop()


def run(capsys, double, check_mode=False, diff=False, **args):
    args.setdefault("host", double.url)
    return run_module(capsys, ollama_model, args, check_mode=check_mode, diff=diff)


def routes(double):
    return dict(double.stats.routes)


def test_a_present_model_is_left_alone_with_nothing_but_show(capsys, ollama):
    ollama.install("gpt-oss:20b")
    failed, result = run(capsys, ollama, name="gpt-OSS:20b")
    assert not failed and result["changed"] is False
    assert routes(ollama) == {"POST /api/show": 1}
    assert ollama.stats.requests[0].body == {"model": "gpt-oss:20b"}
    assert (result["name"], result["qualified_name"]) == ("gpt-oss:20b", "registry.ollama.ai/library/gpt-oss:20b")
    assert result["present"] is True and result["pulled"] is False
    assert result["details"]["family"] == "gptoss"
    assert "pull_log" not in result


def test_a_missing_model_is_pulled_with_a_short_log_and_a_progress_file(capsys, ollama, tmp_path):
    progress_file = tmp_path / "state" / "pull.json"
    failed, result = run(capsys, ollama, name="gpt-OSS:20b", progress_file=str(progress_file))
    assert not failed, result["msg"]
    assert result["changed"] is True and result["pulled"] is True and result["present"] is True
    assert ollama.models() == ["gpt-oss:20b"]
    assert routes(ollama) == {"POST /api/show": 2, "POST /api/pull": 1}
    pull_request = [r for r in ollama.stats.requests if r.path == "/api/pull"][0]
    assert pull_request.body == {"model": "gpt-oss:20b", "stream": True, "insecure": False}
    log = result["pull_log"]
    assert log[0] == "pulling manifest" and log[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layer_lines = [line for line in log if line.startswith("pulling ") and line != "pulling manifest"]
    assert len(layer_lines) == 5  # model, template, license, params and config: one line each, not one per progress line
    assert any(line.endswith(": 13.8 GB") for line in layer_lines)
    assert result["pulled_bytes"] > GPT_OSS_BYTES
    assert result["msg"] == "pulled gpt-oss:20b, 13.8 GB in 5 layers"
    assert result["details"]["quantization_level"] == "MXFP4"
    written = json.loads(progress_file.read_text())
    assert written["finished"] is True and written["error"] is None and written["model"] == "gpt-oss:20b"
    assert written["done_bytes"] == written["total_bytes"] == result["pulled_bytes"]
    assert (written["files_done"], written["files_total"]) == (5, 5)


def test_a_second_run_pulls_nothing(capsys, ollama):
    assert run(capsys, ollama, name="tiny-test")[1]["changed"] is True
    failed, result = run(capsys, ollama, name="Tiny-Test:latest")
    assert not failed and result["changed"] is False
    assert routes(ollama)["POST /api/pull"] == 1


def test_a_name_without_tag_means_latest(capsys, ollama):
    failed, result = run(capsys, ollama, name="llama3.2-vision")
    assert not failed and result["name"] == "llama3.2-vision:latest"
    assert ollama.models() == ["llama3.2-vision:latest"]


def test_progress_can_be_watched_while_a_slow_pull_runs(capsys, ollama, tmp_path):
    ollama.set_faults(slow_pull_seconds=2.5)
    progress_file = tmp_path / "pull.json"
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            try:
                seen.append(json.loads(progress_file.read_text()))
            except (IOError, ValueError):
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        failed, result = run(capsys, ollama, name="gpt-oss:20b", progress_file=str(progress_file))
    finally:
        stop.set()
        watcher.join()
    assert not failed, result["msg"]
    running = [snap for snap in seen if not snap["finished"] and 0 < snap["done_bytes"] < snap["total_bytes"]]
    assert len(set(snap["done_bytes"] for snap in running)) >= 2, "the file did not move while pulling"
    assert any(snap["eta_seconds"] and "/s, ETA " in snap["line"] for snap in running)
    assert json.loads(progress_file.read_text())["finished"] is True


def test_absent_deletes_a_present_model(capsys, ollama):
    ollama.install("gpt-oss:20b")
    ollama.install("tiny-test")
    failed, result = run(capsys, ollama, name="GPT-oss:20B", state="absent")
    assert not failed and result["changed"] is True and result["deleted"] is True and result["present"] is False
    assert ollama.models() == ["tiny-test:latest"]
    assert routes(ollama) == {"POST /api/show": 1, "DELETE /api/delete": 1}


def test_absent_when_missing_changes_nothing(capsys, ollama):
    failed, result = run(capsys, ollama, name="gpt-oss:20b", state="absent")
    assert not failed and result["changed"] is False and result["deleted"] is False
    assert routes(ollama) == {"POST /api/show": 1}


@pytest.mark.parametrize("installed, state, verb", [(False, "present", "pulled"), (True, "absent", "deleted")])
def test_check_mode_reports_the_change_and_makes_none(capsys, ollama, installed, state, verb):
    if installed:
        ollama.install("gpt-oss:20b")
    before = ollama.models()
    failed, result = run(capsys, ollama, check_mode=True, diff=True, name="gpt-oss:20b", state=state)
    assert not failed and result["changed"] is True and result[verb] is True
    assert result["msg"].startswith("would ")
    assert ollama.models() == before
    assert routes(ollama) == {"POST /api/show": 1}
    assert result["diff"] == {"before": {"model": "gpt-oss:20b", "present": installed},
                              "after": {"model": "gpt-oss:20b", "present": not installed}}


@pytest.mark.parametrize("installed, state", [(True, "present"), (False, "absent")])
def test_check_mode_without_a_change(capsys, ollama, installed, state):
    if installed:
        ollama.install("gpt-oss:20b")
    failed, result = run(capsys, ollama, check_mode=True, diff=True, name="gpt-oss:20b", state=state)
    assert not failed and result["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"] == {"model": "gpt-oss:20b", "present": installed}


FAULTS = [
    # (fault switches, name, error_kind, what the message must say)
    ({"stream_error": "max retries exceeded: unexpected EOF"}, "gpt-oss:20b", "pull_error",
     ["Pulling gpt-oss:20b failed: max retries exceeded: unexpected EOF"]),
    ({"cut_stream": True}, "gpt-oss:20b", "incomplete", ["did not finish", "Re-running the task resumes the pull"]),
    ({"registry_unreachable": True}, "gpt-oss:20b", "registry_unreachable",
     ["could not reach the registry registry.ollama.ai", "no such host", "HTTPS_PROXY", "systemctl edit ollama"]),
    ({"disk_full": True}, "gpt-oss:20b", "disk_full",
     ["no space left on device", "(OLLAMA_MODELS)", "need 13.8 GB", "resumes the pull"]),
    ({}, "no-such-model:1b", "unknown_model", ["no model no-such-model:1b", "https://ollama.com/library"]),
]


@pytest.mark.parametrize("faults, name, kind, says", FAULTS)
def test_failed_pulls_say_why_and_what_to_do(capsys, ollama, tmp_path, faults, name, kind, says):
    ollama.set_faults(**faults)
    progress_file = tmp_path / "pull.json"
    failed, result = run(capsys, ollama, name=name, progress_file=str(progress_file))
    assert failed and result["error_kind"] == kind, result["msg"]
    for text in says:
        assert text in result["msg"]
    assert result["changed"] is False and "present" not in result
    assert ollama.models() == []
    assert result["pull_log"][0] == "pulling manifest" and result["pull_log"][-1].startswith("error: ")
    assert json.loads(progress_file.read_text())["error"]


def test_the_disk_full_message_names_the_models_folder(capsys, ollama, tmp_path):
    ollama.set_faults(disk_full=True)
    failed, result = run(capsys, ollama, name="gpt-oss:20b")
    assert failed and "the models folder %s (OLLAMA_MODELS)" % (tmp_path / "models") in result["msg"]


def test_a_pull_that_outlasts_the_timeout_fails_and_a_rerun_resumes(capsys, ollama):
    ollama.set_faults(stall_seconds=3, count=1)
    failed, result = run(capsys, ollama, name="gpt-oss:20b", timeout=1)
    assert failed and result["error_kind"] == "timeout", result["msg"]
    assert "resumes the pull" in result["msg"]
    failed, result = run(capsys, ollama, name="gpt-oss:20b")
    assert not failed and result["changed"] is True and ollama.models() == ["gpt-oss:20b"]


def test_a_server_that_is_not_running_says_how_to_start_it(capsys):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    url = "http://127.0.0.1:%d" % probe.getsockname()[1]
    probe.close()
    failed, result = run_module(capsys, ollama_model, {"name": "gpt-oss:20b", "host": url})
    assert failed and result["error_kind"] == "server_not_running"
    for text in (url, "systemctl start ollama", "systemctl status ollama"):
        assert text in result["msg"]


def test_an_invalid_name_fails_before_asking_ollama(capsys, ollama):
    failed, result = run(capsys, ollama, name="gpt oss:20b")
    assert failed and result["error_kind"] == "invalid_name"
    assert "invalid model 'gpt oss'" in result["msg"]
    assert routes(ollama) == {}


def test_a_host_that_is_not_ollama_is_not_taken_for_a_missing_model(capsys, ollama):
    """A wrong host path answers 404 in plain text (Go's router), not Ollama's {"error"}: fail, pull nothing."""
    failed, result = run(capsys, ollama, name="gpt-oss:20b", host=ollama.url + "/v1")
    assert failed and result["error_kind"] == "http_error"
    assert "answered HTTP 404 to POST /api/show: 404 page not found" in result["msg"]
    assert "does the host option point at Ollama?" in result["msg"]
    assert routes(ollama) == {"POST /v1/api/show": 1}


MISSING = answer(404, b'{"error": "model \'gpt-oss:20b\' not found"}')
HOSTILE = [
    # (routes, error_kind, what the message says)
    ({"/api/show": json_answer(["not", "a", "model"])}, "protocol",
     "POST {url}/api/show answered JSON of the wrong shape: expected an object, got a list"),
    ({"/api/show": html_answer()}, "protocol", "POST {url}/api/show answered HTML (text/html), not JSON"),
    ({"/api/show": answer(500, b"<html>upstream failed</html>\nmore")}, "http_error",
     "{url} answered HTTP 500 to POST /api/show: <html>upstream failed</html>"),
    ({"/api/show": MISSING, "/api/pull": lines_then_silence([b'{"status": "' + b"x" * (2 << 20) + b'"}\n'], 0)},
     "protocol", "POST {url}/api/pull: a line of the answer is longer than the limit of 1048576 bytes"),
]


@pytest.mark.parametrize("routes, kind, says", HOSTILE)
def test_a_hostile_server_fails_with_what_was_wrong(capsys, routes, kind, says):
    with HostileServer(routes) as server:
        failed, result = run_module(capsys, ollama_model, {"name": "gpt-oss:20b", "host": server.url})
    assert failed and result["error_kind"] == kind, result["msg"]
    assert says.format(url=server.url) in result["msg"]


def test_a_slow_drip_of_show_ends_at_the_deadline(capsys, monkeypatch):
    monkeypatch.setattr(ollama_model, "REQUEST_TIMEOUT", 1)
    with HostileServer({"/api/show": drip(b'{"details": {}}' * 3, 0.2)}) as server:
        began = time.monotonic()
        failed, result = run_module(capsys, ollama_model, {"name": "gpt-oss:20b", "host": server.url})
    assert time.monotonic() - began < 3
    assert failed and result["error_kind"] == "server_unreachable", result["msg"]
    assert "POST %s/api/show: the answer began but did not complete within the deadline of 1 s" % server.url \
        in result["msg"]


@pytest.mark.parametrize("routes", [{}, {"/api/show": answer(500, b"boom")}])
def test_a_password_in_host_is_masked_everywhere(capsys, routes):
    with HostileServer(routes) as server:
        host = server.url.replace("://", "://ollama:Sup3rSecret@")
        if not routes:
            host = "http://ollama:Sup3rSecret@127.0.0.1:%d" % free_port()
        failed, result = run_module(capsys, ollama_model, {"name": "gpt-oss:20b", "host": host})
    assert failed
    assert "Sup3rSecret" not in json.dumps(result)
    assert "ollama:********@127.0.0.1" in result["msg"]


@pytest.mark.parametrize("host", ["file:///etc/passwd", "ftp://127.0.0.1/x", "127.0.0.1:11434"])
def test_a_host_that_is_not_http_is_refused_before_asking(capsys, host):
    failed, result = run_module(capsys, ollama_model, {"name": "gpt-oss:20b", "host": host})
    assert failed and result["error_kind"] == "invalid_option", result
    assert "The host option %s is not an http:// or https:// URL with a host" % host in result["msg"]


@pytest.mark.parametrize("name", ["gpt-oss:20b\n", "gpt-oss\n:20b", "gpt-oss:20b\x00", "gpt\toss"])
def test_a_name_with_a_control_character_is_refused(capsys, ollama, name):
    failed, result = run(capsys, ollama, name=name)
    assert failed and result["error_kind"] == "invalid_name", result
    assert "contains a control character" in result["msg"]
    assert routes(ollama) == {}
