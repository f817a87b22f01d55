"""Shared by every scenario's verify step (pytest loads this conftest for tests under molecule/)."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub_double():
    """Where the hub double that the scenario's prepare started listens: {url, cdn_url, pid}
    (written by tests/doubles/hf_hub_double.py --port-file, see molecule/shared/start_hub_double.yml)."""
    port_file = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "hub-double.json"
    return json.loads(port_file.read_text(encoding="utf-8"))


@pytest.fixture
def run_playbook(request):
    """Run a playbook of the requesting test's scenario (a path relative to its folder, e.g.
    ../shared/converge_model_store.yml) against its instance; return (exit code, output)."""
    scenario_dir = Path(str(request.path)).resolve().parent.parent

    def run(playbook, extra_vars=None, check=False):
        command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(scenario_dir / playbook)]
        if check:
            command += ["--check", "--diff"]
        if extra_vars:
            command += ["--extra-vars", json.dumps(extra_vars)]
        completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
        return completed.returncode, completed.stdout + completed.stderr

    return run


@pytest.fixture
def security_exposure(host, capsys):
    """systemd-analyze's overall exposure level of a unit (a float; below 7.0 is not "EXPOSED"). The full table is
    recorded in tests/output/<unit>-systemd-analyze-security.txt (git-ignored; the destroy step leaves it) and
    the level printed into the log."""
    def measure(unit):
        report = host.check_output("systemd-analyze security --no-pager %s.service", unit)
        found = re.search(r"Overall exposure level for %s.service: ([0-9.]+) (\S+)" % re.escape(unit), report)
        assert found, report[-2000:]
        record = PROJECT / "tests" / "output" / ("%s-systemd-analyze-security.txt" % unit)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(report + "\n", encoding="utf-8")
        with capsys.disabled():
            print("\nsystemd-analyze security %s.service: exposure %s %s (full table: %s)" % (
                unit, found.group(1), found.group(2), record))
        return float(found.group(1))

    return measure


# One HTTP request from a given source address, run on the instance: prints the status code, "refused" (a TCP reset,
# what the firewall answers) or "timeout". argv: source, destination, port, path.
_REQUEST_SCRIPT = r"""
import socket, sys
source, destination, port, path = sys.argv[1:5]
family = socket.AF_INET6 if ":" in destination else socket.AF_INET
connection = socket.socket(family, socket.SOCK_STREAM)
connection.settimeout(5)
connection.bind((source, 0))
try:
    connection.connect((destination, int(port)))
    connection.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, destination)).encode())
    print(connection.recv(64).split(b" ")[1].decode())
except ConnectionRefusedError:
    print("refused")
except (socket.timeout, TimeoutError):
    print("timeout")
"""


# A short HTTP session from a given source address, run on the instance: each step a NEW connection (method, path,
# Host header, JSON body), the cookies that earlier answers set sent back as a browser on HTTPS would (Secure ones too:
# the tunnel's visitors come over HTTPS). argv: source, destination, port, the steps as JSON. Prints a JSON list of
# {"status", "body"} (status "refused" or "timeout" when there was no answer).
_SESSION_SCRIPT = r"""
import http.client, json, socket, sys
source, destination, port, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
cookies, answers = {}, []
for step in steps:
    connection = http.client.HTTPConnection(destination, port, timeout=30, source_address=(source, 0))
    body = json.dumps(step["json"]).encode() if "json" in step else None
    try:
        connection.putrequest(step.get("method", "GET"), step["path"], skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", step["host"])
        if body is not None:
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
        if cookies:
            connection.putheader("Cookie", "; ".join("%s=%s" % pair for pair in cookies.items()))
        connection.endheaders(body)
        response = connection.getresponse()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                cookies[name.strip()] = rest.split(";")[0]
        answers.append({"status": response.status, "body": response.read().decode("utf-8", "replace")[:300]})
    except ConnectionRefusedError:
        answers.append({"status": "refused", "body": ""})
    except (socket.timeout, TimeoutError):
        answers.append({"status": "timeout", "body": ""})
    finally:
        connection.close()
print(json.dumps(answers))
"""


class OutsideClient:
    """A client outside the instance's host: a network namespace of the test's own, joined to the instance's (shared)
    network by a veth pair, with documentation addresses (TEST-NET-2 198.51.100.0/24 and 2001:db8:14::/64, never a
    private range). Not TEST-NET-1: our build machines' own network is 192.0.2.0/24 (gateway 192.0.2.1), and the
    instance's end of the pair lives in that same network namespace. create() refuses to start where the machine
    already has an address or route in either range.

    Its source addresses: ALLOWED_IPV4 (198.51.100.2) and ALLOWED_IPV6 (2001:db8:14::2), which a scenario puts in
    firewall_allowed_networks (e.g. [198.51.100.2/32, "2001:db8:14::2/128"]), and OUTSIDE_IPV4 (198.51.100.3) and
    OUTSIDE_IPV6 (2001:db8:14::3), which it leaves out. The instance's end of the pair is SERVER_IPV4 (198.51.100.1) /
    SERVER_IPV6 (2001:db8:14::1).

    request(port, source, path="/") -> the HTTP status (int), "refused" (connection reset or refused at once) or
    "timeout": a GET to the instance's address of the source's family. A loopback source (127.0.0.1, ::1) asks from
    the instance itself, on loopback.

    session(port, source, steps) -> one {"status", "body"} per step: steps are {"method", "path", "host", "json"}
    requests, each on a new connection, with the cookies earlier answers set (see _SESSION_SCRIPT); same addresses
    as request().
    """

    NAMESPACE = "ai4artsed-outside"
    LINK, PEER = "a4a-outside0", "a4a-outside1"
    SERVER_IPV4, ALLOWED_IPV4, OUTSIDE_IPV4 = "198.51.100.1", "198.51.100.2", "198.51.100.3"
    SERVER_IPV6, ALLOWED_IPV6, OUTSIDE_IPV6 = "2001:db8:14::1", "2001:db8:14::2", "2001:db8:14::3"

    def __init__(self, host):
        self.host = host

    def _run(self, command):
        result = self.host.run(command)
        assert result.rc == 0, "%s: %s" % (command, result.stderr)

    def create(self):
        self.remove()
        in_use = self.host.check_output("ip -o addr; ip route; ip -6 route")
        for prefix in ("198.51.100.", "2001:db8:14:"):
            assert prefix not in in_use, "this machine already uses %s: the outside client would clash\n%s" % (
                prefix, in_use)
        namespace = self.NAMESPACE
        self._run("ip netns add %s" % namespace)
        self._run("ip link add %s type veth peer name %s netns %s" % (self.LINK, self.PEER, namespace))
        self._run("ip addr add %s/24 dev %s" % (self.SERVER_IPV4, self.LINK))
        self._run("ip -6 addr add %s/64 dev %s nodad" % (self.SERVER_IPV6, self.LINK))
        self._run("ip link set %s up" % self.LINK)
        for address in (self.ALLOWED_IPV4, self.OUTSIDE_IPV4):
            self._run("ip -n %s addr add %s/24 dev %s" % (namespace, address, self.PEER))
        for address in (self.ALLOWED_IPV6, self.OUTSIDE_IPV6):
            self._run("ip -n %s -6 addr add %s/64 dev %s nodad" % (namespace, address, self.PEER))
        self._run("ip -n %s link set %s up" % (namespace, self.PEER))
        self._run("ip -n %s link set lo up" % namespace)

    def remove(self):
        # Deleting the namespace deletes the pair; the link delete covers a pair left without its namespace.
        self.host.run("ip netns del %s", self.NAMESPACE)
        self.host.run("ip link del %s", self.LINK)

    def request(self, port, source, path="/"):
        command = self._command(_REQUEST_SCRIPT, source, port, path)
        result = self.host.run(" ".join(["%s"] * len(command)), *command)
        assert result.rc == 0, result.stderr
        answer = result.stdout.strip()
        return int(answer) if answer.isdigit() else answer

    def session(self, port, source, steps):
        command = self._command(_SESSION_SCRIPT, source, port, json.dumps(steps))
        result = self.host.run(" ".join(["%s"] * len(command)), *command)
        assert result.rc == 0, result.stderr
        return json.loads(result.stdout)

    def _command(self, script, source, port, argument):
        """python3 -c script source destination port argument: on loopback, or in the namespace."""
        if source in ("127.0.0.1", "::1"):
            return ["python3", "-c", script, source, source, str(port), argument]
        destination = self.SERVER_IPV6 if ":" in source else self.SERVER_IPV4
        return ["ip", "netns", "exec", self.NAMESPACE, "python3", "-c", script, source, destination, str(port),
                argument]


@pytest.fixture(scope="module")
def outside_client(host):
    """An OutsideClient (see its docstring) for the test module, removed again afterwards, also when a test fails."""
    client = OutsideClient(host)
    client.create()
    yield client
    client.remove()
