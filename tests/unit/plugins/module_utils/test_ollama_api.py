"""The thin Ollama client against tiny servers on 127.0.0.1: what it sends, and how each failure becomes an
actionable OllamaError."""

import json

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.ollama_api import OllamaClient, OllamaError
from helpers.hostile_http import HostileServer, answer, free_port, json_answer, lines_then_silence, silence

NOT_FOUND = answer(404, b'{"error":"model \'x:latest\' not found"}')


def sent(server):
    return [(method, path) for method, path, headers in server.requests]


def test_show_sends_the_model_and_returns_ollamas_answer():
    with HostileServer({"/api/show": json_answer({"details": {"family": "gptoss"}})}) as server:
        assert OllamaClient(server.url + "/").show("gpt-oss:20b") == {"details": {"family": "gptoss"}}
    assert sent(server) == [("POST", "/api/show")]


def test_a_404_means_absent_for_show_and_delete():
    with HostileServer({"/api/show": NOT_FOUND, "/api/delete": NOT_FOUND}) as server:
        client = OllamaClient(server.url)
        assert client.show("x:latest") is None
        assert client.delete("x:latest") is False


def test_delete_and_pull_send_what_ollama_expects():
    pull_lines = [b'{"status":"pulling manifest"}\n', b'{"status":"success"}\n']
    with HostileServer({"/api/delete": answer(200, b""), "/api/pull": lines_then_silence(pull_lines, 0)}) as server:
        client = OllamaClient(server.url)
        assert client.delete("m:latest") is True
        with client.pull("m:latest", insecure=True, idle=5) as answer_stream:
            assert list(answer_stream.lines()) == pull_lines
    assert sent(server) == [("DELETE", "/api/delete"), ("POST", "/api/pull")]


FAILURES = [
    # (answer of /api/show, kind, HTTP code, Ollama's error, what the message says)
    (answer(400, b'{"error":"invalid model name"}'), "http_error", 400, "invalid model name",
     "{url} answered HTTP 400 to POST /api/show: invalid model name."),
    (answer(404, b"<html>Not Found</html>"), "http_error", 404, None, "does the host option point at Ollama?"),
    (answer(200, b"<html>Not Found</html>", "text/html"), "protocol", None, None,
     "POST {url}/api/show answered HTML (text/html), not JSON"),
    (silence(3), "server_unreachable", None, None, "POST {url}/api/show: nothing arrived within the deadline of 1 s"),
]


@pytest.mark.parametrize("route_answer, kind, code, ollama_error, says", FAILURES)
def test_failures_say_what_was_wrong(route_answer, kind, code, ollama_error, says):
    with HostileServer({"/api/show": route_answer}) as server:
        with pytest.raises(OllamaError) as error:
            OllamaClient(server.url, request_timeout=1).show("x")
    assert (error.value.kind, error.value.code, error.value.error) == (kind, code, ollama_error)
    assert says.format(url=server.url) in str(error.value)


def test_a_refused_connection_says_how_to_start_ollama():
    host = "http://127.0.0.1:%d" % free_port()
    with pytest.raises(OllamaError) as error:
        OllamaClient(host, request_timeout=5).show("x")
    assert error.value.kind == "server_not_running"
    for text in (host, "connection refused", "systemctl start ollama", "systemctl status ollama"):
        assert text in str(error.value)


def test_a_pull_refused_before_its_stream_carries_ollamas_error():
    body = json.dumps({"error": "pull model manifest: file does not exist"}).encode()
    with HostileServer({"/api/pull": answer(500, body)}) as server:
        with pytest.raises(OllamaError) as error:
            OllamaClient(server.url).pull("x", idle=5)
    assert error.value.code == 500 and error.value.error == "pull model manifest: file does not exist"
