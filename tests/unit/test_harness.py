"""The test harness itself: the hub double never shares a port with a stray server."""

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

OLD_HUB_PORT = 18080  # the double's fixed port before it picked free ones


class _Stray(http.server.BaseHTTPRequestHandler):
    """Whatever else may listen on the old port: answers 404 to everything, as the stray server did."""

    def do_GET(self):
        self.send_error(404, "repository not found")

    def log_message(self, *_args):
        pass


@pytest.fixture
def stray_server_on_the_old_port():
    try:
        server = http.server.HTTPServer(("127.0.0.1", OLD_HUB_PORT), _Stray)
    except OSError:
        yield  # something else listens there already: the case under test
        return
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()


def test_the_hub_double_started_as_molecule_starts_it_answers_itself_next_to_a_stray_server(
        tmp_path, stray_server_on_the_old_port):
    port_file = tmp_path / "hub-double.json"
    repos = tmp_path / "repos.json"
    repos.write_text(json.dumps({"ai4artsed-test/tiny": {"files": {"config.json": "one"}}}))
    double = subprocess.Popen([sys.executable, str(REPO_ROOT / "tests" / "doubles" / "hf_hub_double.py"),
                               "--root", str(tmp_path / "hub"), "--repos", str(repos), "--port-file", str(port_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _attempt in range(100):
            if port_file.exists() or double.poll() is not None:
                break
            time.sleep(0.1)
        assert port_file.exists(), double.communicate(timeout=5)[1] if double.poll() is not None else "no port file"
        where = json.loads(port_file.read_text())
        assert where["pid"] == double.pid
        assert not where["url"].endswith(":%d" % OLD_HUB_PORT)
        with urllib.request.urlopen(where["url"] + "/ai4artsed-test/tiny/resolve/main/config.json", timeout=10) as answer:
            assert answer.read() == b"one"
        with urllib.request.urlopen(where["url"] + "/_control/stats", timeout=10) as answer:
            assert json.load(answer)["requests"] >= 1
    finally:
        double.terminate()
        double.wait(timeout=10)
    # the stray server is still the one on the old port, untouched
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", OLD_HUB_PORT)) == 0
