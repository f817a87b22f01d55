"""The bounded HTTP layer against real tiny servers on 127.0.0.1 that answer badly: each failure has one message."""

import time

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.bounded_http import (
    HttpFailure,
    mask_url,
    request,
    stream,
)
from helpers.hostile_http import (
    HostileServer,
    answer,
    drip,
    free_port,
    html_answer,
    json_answer,
    lines_then_silence,
    silence,
)

BIG = b'"' + b"x" * 3000 + b'"'

ROUTES = {
    "/ok": json_answer({"system": {"comfyui_version": "0.3.64"}}),
    "/error": answer(500, b"Internal Server Error: out of memory\nTraceback (most recent call last):\n"),
    "/html": html_answer(),
    "/list": json_answer(["a", "b"]),
    "/big": answer(200, BIG),
    "/big-unannounced": answer(200, BIG, length=False),
    "/drip": drip(b'{"system": {}}' * 4, 0.2),
    "/silent": silence(3),
}

# (route, kind, what the message says); every request has limit 1000 bytes and a deadline of 1 s.
FAILURES = [
    ("/error", "status", ["GET {url}/error answered HTTP 500: Internal Server Error: out of memory"]),
    ("/html", "not_json", ["GET {url}/html answered HTML (text/html), not JSON:", "<!DOCTYPE html>"]),
    ("/list", "shape", ["GET {url}/list answered JSON of the wrong shape: expected an object with key 'system', "
                        "got a list"]),
    ("/big", "too_large", ["GET {url}/big: the answer is 3002 bytes (Content-Length), more than the limit of "
                           "1000 bytes"]),
    ("/big-unannounced", "too_large", ["GET {url}/big-unannounced: the answer is larger than the limit of 1000 "
                                       "bytes (1001 bytes arrived before reading stopped)"]),
    ("/drip", "too_slow", ["GET {url}/drip: the answer began but did not complete within the deadline of 1 s",
                           "of 56 bytes arrived"]),
    ("/silent", "no_answer", ["GET {url}/silent: nothing arrived within the deadline of 1 s"]),
]


@pytest.fixture(scope="module")
def server():
    with HostileServer(ROUTES) as running:
        yield running


def test_a_good_answer_gives_status_headers_body_and_json(server):
    got = request(server.url + "/ok", deadline=1, limit=1000)
    assert got.status == 200 and got.headers["content-type"] == "application/json"
    assert got.json(dict, ["system"]) == {"system": {"comfyui_version": "0.3.64"}}


@pytest.mark.parametrize("route, kind, says", FAILURES, ids=[case[0] for case in FAILURES])
def test_each_bad_answer_fails_with_one_message_that_says_what(server, route, kind, says):
    began = time.monotonic()
    with pytest.raises(HttpFailure) as failure:
        request(server.url + route, deadline=1, limit=1000).json(dict, ["system"])
    assert time.monotonic() - began < 2.5, "the deadline of 1 s held"
    assert failure.value.kind == kind
    for text in says:
        assert text.format(url=server.url) in str(failure.value)
    assert "did not answer" not in str(failure.value) or kind == "no_answer"


def test_an_accepted_status_is_returned_not_raised(server):
    got = request(server.url + "/missing", accept=(404,))
    assert got.status == 404 and got.json() == {"error": "no such route"}


def test_a_refused_connection_says_nothing_listens():
    url = "http://127.0.0.1:%d/x" % free_port()
    with pytest.raises(HttpFailure) as failure:
        request(url, deadline=1)
    assert failure.value.kind == "refused"
    assert str(failure.value) == "GET %s: connection refused, nothing listens there" % url


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "127.0.0.1:11434", "http://"])
def test_only_http_and_https_urls_are_asked(url):
    with pytest.raises(HttpFailure) as failure:
        request(url)
    assert failure.value.kind == "bad_url"
    assert "is not an http:// or https:// URL with a host" in str(failure.value)


def test_a_password_in_the_url_is_sent_as_basic_auth_and_masked_in_messages(server):
    with pytest.raises(HttpFailure) as failure:
        request(server.url.replace("://", "://user:s3cret@") + "/error")
    assert "s3cret" not in str(failure.value)
    assert "://user:********@127.0.0.1" in str(failure.value)
    assert server.requests[-1][2]["Authorization"] == "Basic dXNlcjpzM2NyZXQ="


@pytest.mark.parametrize("url, shown", [
    ("http://user:secret@host:11434/api", "http://user:********@host:11434/api"),
    ("http://host:11434", "http://host:11434"),
    ("https://:pw@host", "https://:********@host"),
])
def test_mask_url(url, shown):
    assert mask_url(url) == shown


STREAM_ROUTES = {
    "/pull": lines_then_silence([b'{"status": "pulling manifest"}\n', b'{"status": "success"}\n'], 0),
    "/stall": lines_then_silence([b'{"status": "pulling manifest"}\n'], 3),
    "/long-line": lines_then_silence([b'{"status": "' + b"x" * 2000 + b'"}\n'], 0),
    "/error": answer(500, b'{"error": "pull model manifest: file does not exist"}'),
}


@pytest.fixture(scope="module")
def streams():
    with HostileServer(STREAM_ROUTES) as running:
        yield running


def test_a_stream_yields_its_lines(streams):
    with stream(streams.url + "/pull", "POST", {"model": "m"}, idle=1, line_limit=1000) as answer_stream:
        assert list(answer_stream.lines()) == [b'{"status": "pulling manifest"}\n', b'{"status": "success"}\n']


@pytest.mark.parametrize("route, kind, says", [
    ("/stall", "idle", "POST {url}/stall: sent nothing for 1 s (after 31 bytes)"),
    ("/long-line", "too_large", "POST {url}/long-line: a line of the answer is longer than the limit of 1000 bytes"),
])
def test_a_stream_that_stalls_or_sends_an_endless_line_fails(streams, route, kind, says):
    began = time.monotonic()
    with pytest.raises(HttpFailure) as failure:
        with stream(streams.url + route, "POST", {"model": "m"}, idle=1, line_limit=1000) as answer_stream:
            list(answer_stream.lines())
    assert time.monotonic() - began < 2.5
    assert failure.value.kind == kind
    assert says.format(url=streams.url) in str(failure.value)


def test_a_stream_refused_with_a_status_carries_the_body(streams):
    with pytest.raises(HttpFailure) as failure:
        stream(streams.url + "/error", "POST", {"model": "m"}, idle=1)
    assert failure.value.kind == "status" and failure.value.status == 500
    assert failure.value.body == b'{"error": "pull model manifest: file does not exist"}'
