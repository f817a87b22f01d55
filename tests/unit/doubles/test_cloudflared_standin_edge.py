# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cloudflared stand-in's edge forwards a visitor's request the way cloudflared does: the rule chosen by Host
and path as cloudflared's FindMatchingRule chooses it, a new connection to the origin from the stand-in's own
loopback socket, the visitor's method, path, query, body, headers and Host (or originRequest.httpHostHeader), the
headers Cloudflare's edge adds, hop-by-hop headers dropped, the origin's answer back with every Set-Cookie; an
origin that is down gives cloudflared's 502. The visitors are the official clients: http.client, urllib and curl.
The origin is a real HTTP server in the test that records what reaches it."""

import http.client
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import cloudflared_standin as standin

STANDIN = Path(__file__).resolve().parents[2] / "doubles" / "cloudflared_standin.py"
TUNNEL = "6ff42ae2-765d-4adf-8112-31c55c1551ef"
HOST = "devserver.example.org"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OriginHandler(BaseHTTPRequestHandler):
    """Records each request (its peer, method, target, headers in order, body) and answers 201 with two cookies."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (the names http.server calls)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append({"peer": self.client_address, "method": self.command, "target": self.path,
                                 "headers": list(self.headers.items()), "body": body})
        answer = b"answer from the origin"
        self.send_response(201)
        self.send_header("Set-Cookie", "session=abc; Path=/; HttpOnly")
        self.send_header("Set-Cookie", "theme=dark; Path=/")
        self.send_header("X-Origin", "yes")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def origin():
    server = ThreadingHTTPServer(("127.0.0.1", 0), OriginHandler)
    server.daemon_threads = True
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def config_text(tmp_path, rules):
    """config.yml as the role writes it (block YAML, originRequest as a nested mapping) and its credentials."""
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"AccountTag": "a" * 32, "TunnelSecret": "dGVzdA==", "TunnelID": TUNNEL}))
    lines = ["tunnel: %s" % TUNNEL, "credentials-file: '%s'" % credentials, "ingress:"]
    for rule in rules:
        prefix = "-   "
        for key, value in rule.items():
            if isinstance(value, dict):
                lines.append("%s%s:" % (prefix, key))
                lines += ["        %s: %s" % (name, json.dumps(item)) for name, item in value.items()]
            else:
                lines.append("%s%s: %s" % (prefix, key, json.dumps(value)))
            prefix = "    "
    config = tmp_path / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    return config


@pytest.fixture
def tunnel(tmp_path):
    """tunnel(rules) starts `tunnel run` with CLOUDFLARED_STANDIN_EDGE on a free port; returns that port."""
    processes = []

    def start(rules):
        edge = free_port()
        environment = {"PATH": "/usr/bin:/bin", standin.EDGE_VARIABLE: "127.0.0.1:%d" % edge}
        process = subprocess.Popen([sys.executable, str(STANDIN), "--no-autoupdate", "--config",
                                    str(config_text(tmp_path, rules)), "tunnel", "run"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
        processes.append(process)
        for _attempt in range(100):
            try:
                socket.create_connection(("127.0.0.1", edge), timeout=1).close()
                return edge
            except OSError:
                if process.poll() is not None:
                    pytest.fail("the stand-in ended: %s" % process.communicate()[0])
                time.sleep(0.05)
        pytest.fail("the stand-in's edge did not listen on 127.0.0.1:%d" % edge)
        return None

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)


def through(edge, method, target, host, body=None, headers=None):
    """One request with http.client: (status, headers as a list, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", edge, timeout=20)
    try:
        connection.request(method, target, body=body, headers=dict(headers or {}, Host=host))
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def named(headers, name):
    return [value for key, value in headers if key.lower() == name.lower()]


def devserver_rules(origin_port, **extra):
    return [dict({"hostname": HOST, "service": "http://127.0.0.1:%d" % origin_port}, **extra),
            {"service": "http_status:404"}]


def test_the_origin_gets_the_visitor_s_request_on_a_new_loopback_connection_of_the_stand_in(origin, tunnel):
    edge = tunnel(devserver_rules(origin.server_port))
    visitor = http.client.HTTPConnection("127.0.0.1", edge, timeout=20)
    visitor.connect()
    visitor_address = visitor.sock.getsockname()
    answers = []
    for body in (b'{"prompt": "a cat"}', b"second"):
        visitor.request("POST", "/api/generate?model=sd3&seed=7", body=body, headers={
            "Host": HOST, "Content-Type": "application/json", "X-Client": "one", "Cookie": "session=abc",
            "Cf-Connecting-Ip": "127.0.0.1", "X-Forwarded-Proto": "http", "Keep-Alive": "timeout=5",
            "X-Hop": "drop me", "Connection": "keep-alive, X-Hop"})
        response = visitor.getresponse()
        answers.append((response.status, response.getheaders(), response.read()))
    visitor.close()

    assert len(origin.seen) == 2
    peers = [seen["peer"] for seen in origin.seen]
    # each request came on a connection of its own, from the stand-in's socket, not the visitor's
    assert peers[0] != peers[1] and visitor_address not in peers
    assert all(peer[0] == "127.0.0.1" for peer in peers)
    first = origin.seen[0]
    assert (first["method"], first["target"], first["body"]) == ("POST", "/api/generate?model=sd3&seed=7",
                                                                 b'{"prompt": "a cat"}')
    assert origin.seen[1]["body"] == b"second"
    headers = first["headers"]
    assert named(headers, "Host") == [HOST]
    assert named(headers, "Content-Type") == ["application/json"]
    assert named(headers, "X-Client") == ["one"] and named(headers, "Cookie") == ["session=abc"]
    # what Cloudflare's edge sets, whatever the visitor sent
    assert named(headers, "Cf-Connecting-Ip") == [visitor_address[0]]
    assert named(headers, "X-Forwarded-For") == [visitor_address[0]]
    assert named(headers, "X-Forwarded-Proto") == ["https"]
    assert named(headers, "Cf-Visitor") == ['{"scheme":"https"}']
    assert len(named(headers, "Cf-Ray")) == 1 and re.fullmatch(r"[0-9a-f]{16}-[A-Z]{3}", named(headers, "Cf-Ray")[0])
    # hop-by-hop headers and those the visitor's Connection names stop at the stand-in
    assert named(headers, "Keep-Alive") == [] and named(headers, "X-Hop") == []
    assert named(headers, "Connection") == ["keep-alive"]  # what cloudflared asks of the origin

    for status, response_headers, body in answers:
        assert status == 201 and body == b"answer from the origin"
        assert named(response_headers, "Set-Cookie") == ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]
        assert named(response_headers, "X-Origin") == ["yes"]


def test_a_visitor_s_x_forwarded_for_is_appended_to(origin, tunnel):
    edge = tunnel(devserver_rules(origin.server_port))
    through(edge, "GET", "/", HOST, headers={"X-Forwarded-For": "203.0.113.7"})
    assert named(origin.seen[0]["headers"], "X-Forwarded-For") == ["203.0.113.7,127.0.0.1"]
    assert named(origin.seen[0]["headers"], "Cf-Connecting-Ip") == ["127.0.0.1"]


def test_urllib_as_the_visitor(origin, tunnel):
    edge = tunnel(devserver_rules(origin.server_port))
    request = urllib.request.Request("http://127.0.0.1:%d/settings?lang=de" % edge, headers={"Host": HOST})
    with urllib.request.urlopen(request, timeout=20) as answer:
        assert answer.status == 201
        assert answer.headers.get_all("Set-Cookie") == ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]
    assert origin.seen[0]["target"] == "/settings?lang=de"
    assert named(origin.seen[0]["headers"], "Host") == [HOST]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_as_the_visitor(origin, tunnel):
    edge = tunnel(devserver_rules(origin.server_port))
    result = subprocess.run(["curl", "--silent", "--show-error", "--dump-header", "-", "--header", "Host: " + HOST,
                             "--data-binary", "name=value", "http://127.0.0.1:%d/form?x=1" % edge],
                            capture_output=True, timeout=30, check=True)
    head, _blank, body = result.stdout.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 201 ")
    assert re.findall(r"(?im)^set-cookie: ([^\r\n]*)", head) == ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]
    assert body == "answer from the origin"
    seen = origin.seen[0]
    assert (seen["method"], seen["target"], seen["body"]) == ("POST", "/form?x=1", b"name=value")
    assert named(seen["headers"], "User-Agent")[0].startswith("curl/")


@pytest.mark.parametrize("host", ["other.example.org", "DevServer.Example.org", "example.org", "127.0.0.1", "localhost"],
                         ids=["another host", "other case (cloudflared compares exactly)", "the parent domain",
                              "a loopback address", "localhost"])
def test_a_host_no_rule_names_gets_the_catch_all_s_status_and_never_reaches_the_origin(origin, tunnel, host):
    edge = tunnel(devserver_rules(origin.server_port)[:1] + [{"service": "http_status:418"}])
    status, _headers, body = through(edge, "GET", "/", host)
    assert (status, body) == (418, b"")
    assert origin.seen == []


def test_the_host_s_port_is_ignored_when_matching(origin, tunnel):
    edge = tunnel(devserver_rules(origin.server_port))
    assert through(edge, "GET", "/", HOST + ":443")[0] == 201
    assert named(origin.seen[0]["headers"], "Host") == [HOST + ":443"]


@pytest.mark.parametrize("host, reaches", [("a.apps.example.org", True), ("x.y.apps.example.org", True),
                                           ("apps.example.org", False), ("a.apps.example.org.evil.test", False)])
def test_a_wildcard_rule_matches_subdomains_only(origin, tunnel, host, reaches):
    edge = tunnel([{"hostname": "*.apps.example.org", "service": "http://127.0.0.1:%d" % origin.server_port},
                   {"service": "http_status:404"}])
    assert through(edge, "GET", "/", host)[0] == (201 if reaches else 404)
    assert len(origin.seen) == (1 if reaches else 0)


@pytest.mark.parametrize("target, status", [("/admin", 403), ("/admin/users?x=1", 403), ("/%61dmin", 403),
                                            ("/api/admin", 201), ("/", 201)],
                         ids=["the path", "below it", "percent-encoded (matched decoded, as URL.Path)",
                              "the regex is anchored by ^", "another path"])
def test_path_rules_are_tried_in_order(origin, tunnel, target, status):
    edge = tunnel([{"hostname": HOST, "path": "^/admin", "service": "http_status:403"}]
                  + devserver_rules(origin.server_port))
    assert through(edge, "GET", target, HOST)[0] == status
    assert len(origin.seen) == (1 if status == 201 else 0)


def test_http_host_header_replaces_the_host_and_the_visitor_s_goes_into_x_forwarded_host(origin, tunnel):
    edge = tunnel(devserver_rules(origin.server_port, originRequest={"httpHostHeader": "app.internal"}))
    assert through(edge, "GET", "/", HOST)[0] == 201
    headers = origin.seen[0]["headers"]
    assert named(headers, "Host") == ["app.internal"]
    assert named(headers, "X-Forwarded-Host") == [HOST]


def test_an_origin_that_is_down_gives_cloudflared_s_502(tunnel):
    edge = tunnel(devserver_rules(free_port()))
    status, _headers, body = through(edge, "GET", "/", HOST)
    assert status == 502
    assert standin.ORIGIN_UNREACHABLE in body.decode()


@pytest.mark.parametrize("rule, reason", [
    ({"hostname": HOST, "service": "unix:/run/app.sock"}, "does not serve unix:/run/app.sock"),
    ({"hostname": HOST, "service": "hello_world"}, "does not serve hello_world"),
    ({"hostname": HOST, "service": "tcp://127.0.0.1:5432"}, "does not serve tcp://127.0.0.1:5432"),
    ({"hostname": HOST, "service": "http://127.0.0.1:9", "originRequest": {"access": "required"}},
     "does not apply originRequest.access"),
], ids=["unix socket", "hello_world", "tcp", "an originRequest it does not apply"])
def test_what_the_stand_in_does_not_serve_gets_502_saying_so(tunnel, rule, reason):
    edge = tunnel([rule, {"service": "http_status:404"}])
    status, _headers, body = through(edge, "GET", "/", HOST)
    assert status == 502 and reason in body.decode()


def test_a_websocket_upgrade_gets_502(origin, tunnel):
    edge = tunnel(devserver_rules(origin.server_port))
    status, _headers, body = through(edge, "GET", "/ws", HOST, headers={"Connection": "Upgrade", "Upgrade": "websocket"})
    assert status == 502 and "websockets" in body.decode()
    assert origin.seen == []


@pytest.mark.parametrize("environment, metrics, address", [
    ({"CLOUDFLARED_STANDIN_EDGE": "127.0.0.1:30000"}, "127.0.0.1:20241", "127.0.0.1:30000"),
    ({}, "127.0.0.1:20241", "127.0.0.1:20242"),
    ({}, "127.0.0.1:20251", "127.0.0.1:20252"),
    ({}, None, "127.0.0.1:20242"),
], ids=["the variable", "after the role's metrics port", "after another metrics port", "no metrics"])
def test_where_the_edge_listens(environment, metrics, address):
    assert standin.edge_address({"--metrics": metrics} if metrics else {}, environment) == address


@pytest.mark.parametrize("address", ["20242", "localhost", "[::1]", "127.0.0.1:0", "127.0.0.1:70000"])
def test_a_bad_edge_address_is_refused(address):
    with pytest.raises(standin.StandinError, match="the edge address"):
        standin.listen_address(address, "the edge address")


def test_tunnel_run_names_an_edge_address_it_cannot_listen_on(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = "127.0.0.1:%d" % taken.getsockname()[1]
        result = subprocess.run([sys.executable, str(STANDIN), "--config",
                                 str(config_text(tmp_path, devserver_rules(9))), "tunnel", "run"],
                                capture_output=True, text=True, timeout=30, check=False,
                                env={"PATH": "/usr/bin:/bin", standin.EDGE_VARIABLE: address})
    assert result.returncode == 1
    assert "cannot listen on the edge address %s" % address in result.stderr
