"""The thin Ollama client: what it sends, and how refused connections and HTTP errors become actionable errors."""

import io
import json
import socket

import pytest
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError

from ansible_collections.ai4artsed.devserver.plugins.module_utils.ollama_api import OllamaClient, OllamaError, lines


class Answer(io.BytesIO):
    """A response body; readline works as on a streaming HTTP response."""


class FakeOpener:
    """Records each request and answers from a table keyed by route: bytes, or an exception to raise."""

    def __init__(self, answers):
        self.answers = answers
        self.requests = []

    def __call__(self, url, data=None, method=None, timeout=None, headers=None, use_proxy=True, follow_redirects=None):
        route = url.split("11434", 1)[1]
        self.requests.append({"method": method, "route": route, "body": json.loads(data), "timeout": timeout,
                              "use_proxy": use_proxy})
        answer = self.answers[route]
        if isinstance(answer, Exception):
            raise answer
        return Answer(answer)


def http_error(code, body):
    return HTTPError("http://127.0.0.1:11434/x", code, "status", {}, io.BytesIO(body))


def test_show_sends_the_model_and_returns_ollamas_answer():
    opener = FakeOpener({"/api/show": b'{"details": {"family": "gptoss"}}'})
    client = OllamaClient("http://127.0.0.1:11434/", opener=opener)
    assert client.show("gpt-oss:20b") == {"details": {"family": "gptoss"}}
    assert opener.requests == [{"method": "POST", "route": "/api/show", "body": {"model": "gpt-oss:20b"},
                                "timeout": 60, "use_proxy": False}]


def test_a_404_means_absent_for_show_and_delete():
    answers = dict((route, http_error(404, b'{"error":"model \'x:latest\' not found"}')) for route in ("/api/show", "/api/delete"))
    client = OllamaClient("http://127.0.0.1:11434", opener=FakeOpener(answers))
    assert client.show("x:latest") is None
    assert client.delete("x:latest") is False


def test_delete_and_pull_send_what_ollama_expects():
    opener = FakeOpener({"/api/delete": b"", "/api/pull": b'{"status":"pulling manifest"}\n{"status":"success"}\n'})
    client = OllamaClient("http://127.0.0.1:11434", opener=opener)
    assert client.delete("m:latest") is True
    stream = client.pull("m:latest", insecure=True, timeout=3600)
    assert list(lines(stream)) == [b'{"status":"pulling manifest"}\n', b'{"status":"success"}\n']
    assert opener.requests[0]["method"] == "DELETE" and opener.requests[0]["body"] == {"model": "m:latest"}
    assert opener.requests[1]["body"] == {"model": "m:latest", "stream": True, "insecure": True}
    assert opener.requests[1]["timeout"] == 3600


def test_other_http_errors_carry_ollamas_error_text():
    opener = FakeOpener({"/api/show": http_error(400, b'{"error":"invalid model name"}')})
    with pytest.raises(OllamaError) as error:
        OllamaClient("http://127.0.0.1:11434", opener=opener).show("x")
    assert error.value.kind == "http_error" and error.value.code == 400
    assert str(error.value) == "http://127.0.0.1:11434 answered HTTP 400 to POST /api/show: invalid model name."
    assert error.value.error == "invalid model name"


def test_a_404_that_is_not_ollamas_is_not_taken_for_a_missing_model():
    opener = FakeOpener({"/api/show": http_error(404, b"<html>Not Found</html>")})
    with pytest.raises(OllamaError) as error:
        OllamaClient("http://127.0.0.1:11434", opener=opener).show("x")
    assert error.value.code == 404 and error.value.error is None
    assert "does the host option point at Ollama?" in str(error.value)


def test_a_refused_connection_says_how_to_start_ollama():
    refused = URLError(ConnectionRefusedError(111, "Connection refused"))
    with pytest.raises(OllamaError) as error:
        OllamaClient("http://127.0.0.1:11434", opener=FakeOpener({"/api/show": refused})).show("x")
    assert error.value.kind == "server_not_running"
    for text in ("http://127.0.0.1:11434", "systemctl start ollama", "systemctl status ollama"):
        assert text in str(error.value)


def test_a_real_refused_port_is_recognised():
    """Through the real open_url: a port nothing listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(OllamaError) as error:
        OllamaClient("http://127.0.0.1:%d" % port, request_timeout=5).show("x")
    assert error.value.kind == "server_not_running"
    assert "http://127.0.0.1:%d" % port in str(error.value)


def test_other_connection_failures_name_the_host():
    opener = FakeOpener({"/api/show": URLError(socket.timeout("timed out"))})
    with pytest.raises(OllamaError) as error:
        OllamaClient("http://127.0.0.1:11434", opener=opener).show("x")
    assert error.value.kind == "server_unreachable"
    assert "Could not reach Ollama at http://127.0.0.1:11434 (timed out)" in str(error.value)
