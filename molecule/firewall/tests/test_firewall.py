"""After converge: table inet ai4artsed is live on the (shared) network; from a namespace of the test's own, the
app's proxy ports answer the allow-listed address and refuse any other, the app's own ports, SwarmUI's (on loopback),
ComfyUI's and Ollama's refuse even the allowed one, loopback reaches everything, a port the role does not list stays open, and the
host's own table is untouched. A deleted table is put back by a re-run that says so; bad input stops the preflight
with the value named; firewall_enabled: false removes the table."""

import re
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
GROUP_VARS = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["provisioner"]["inventory"]["group_vars"]["devservers"]
# Not the defaults: the devserver scenario's staging app (17802) and its proxy (17812) run beside this scenario
APP_PORTS = GROUP_VARS["firewall_app_ports"]  # the app's own ports: loopback only
PROXY_PORTS = GROUP_VARS["firewall_proxy_ports"]  # the app's proxy: loopback and the allow-list
PROXY_PORT = PROXY_PORTS[0]
LOOPBACK_ONLY_PORTS = APP_PORTS + [7801, 7821, 11434]  # the app, SwarmUI on 127.0.0.1 (the default), ComfyUI, Ollama
UNLISTED_PORT = 17800  # a listener of the scenario that the role does not protect
RULES = "/etc/ai4artsed/firewall.nft"
CONVERGE = "converge.yml"


def changed(output):
    found = re.findall(r"changed=(\d+)", output)
    assert found, output[-3000:]
    return int(found[-1])


def our_table(host):
    return host.run("nft list table inet ai4artsed")


def test_the_table_is_live_with_the_ports_and_the_allow_list(host):
    listing = our_table(host)
    assert listing.rc == 0, listing.stderr
    loopback_ports = ", ".join(str(port) for port in sorted(LOOPBACK_ONLY_PORTS))
    assert "tcp dport { %s } reject with tcp reset" % loopback_ports in listing.stdout
    proxy_ports = ", ".join(str(port) for port in PROXY_PORTS)
    assert "tcp dport { %s } ip saddr @allowed_ipv4 accept" % proxy_ports in listing.stdout
    assert "tcp dport { %s } reject with tcp reset" % proxy_ports in listing.stdout
    assert "elements = { 198.51.100.2 }" in listing.stdout
    assert "elements = { 2001:db8:14::2 }" in listing.stdout
    assert "policy accept" in listing.stdout


def test_the_rule_set_file_replaces_only_our_table(host):
    rules = host.file(RULES)
    assert rules.user == "root" and rules.mode == 0o644
    assert "flush ruleset" not in rules.content_string
    tables = re.findall(r"^(?:delete )?table (\S+ \S+)", rules.content_string, re.MULTILINE)
    assert set(tables) == {"inet ai4artsed"}


def test_the_unit_is_enabled_and_debians_nftables_service_is_not(host):
    assert host.service("ai4artsed-firewall").is_enabled
    assert host.check_output("systemctl is-active ai4artsed-firewall.service") == "active"
    assert not host.service("nftables").is_enabled


def test_the_unit_is_hardened(security_exposure):
    # Issue 15's target for every unit: 5.0 or lower. nft keeps CAP_NET_ADMIN and the host's network (the role
    # README lists what else it cannot take and why); the tests around this one show the table it loads working.
    assert security_exposure("ai4artsed-firewall") <= 5.0


@pytest.mark.parametrize("port", PROXY_PORTS + LOOPBACK_ONLY_PORTS + [UNLISTED_PORT])
@pytest.mark.parametrize("source", ["127.0.0.1", "::1"])
def test_loopback_reaches_every_port(outside_client, port, source):
    assert outside_client.request(port, source) == 200


@pytest.mark.parametrize("port", PROXY_PORTS)
def test_the_proxy_ports_answer_only_the_allow_listed_addresses(outside_client, port):
    client = outside_client
    assert client.request(port, client.ALLOWED_IPV4) == 200
    assert client.request(port, client.ALLOWED_IPV6) == 200
    assert client.request(port, client.OUTSIDE_IPV4) == "refused"
    assert client.request(port, client.OUTSIDE_IPV6) == "refused"


@pytest.mark.parametrize("port", LOOPBACK_ONLY_PORTS)
def test_the_app_swarmui_comfyui_and_ollama_refuse_even_the_allowed_address(outside_client, port):
    client = outside_client
    for source in (client.ALLOWED_IPV4, client.ALLOWED_IPV6, client.OUTSIDE_IPV4, client.OUTSIDE_IPV6):
        assert client.request(port, source) == "refused", source


def test_a_port_the_role_does_not_list_stays_open(outside_client):
    assert outside_client.request(UNLISTED_PORT, outside_client.OUTSIDE_IPV4) == 200


def test_the_hosts_own_table_survives(host):
    assert "host-own-marker" in host.check_output("nft list table inet host_own")


def test_a_deleted_table_is_reported_by_check_mode_and_put_back_by_a_rerun(host, run_playbook, outside_client):
    host.check_output("nft delete table inet ai4artsed")
    assert outside_client.request(PROXY_PORT, outside_client.OUTSIDE_IPV4) == 200  # the hole the role must close

    code, output = run_playbook(CONVERGE, check=True)
    assert code == 0, output[-3000:]
    assert "table inet ai4artsed is missing from the live ruleset" in output
    assert changed(output) >= 1
    assert our_table(host).rc != 0  # check mode changed nothing

    code, output = run_playbook(CONVERGE)
    assert code == 0, output[-3000:]
    assert changed(output) >= 1
    assert outside_client.request(PROXY_PORT, outside_client.OUTSIDE_IPV4) == "refused"
    assert "host-own-marker" in host.check_output("nft list table inet host_own")

    code, output = run_playbook(CONVERGE)
    assert code == 0 and changed(output) == 0, output[-3000:]


def test_an_altered_table_is_put_back(host, run_playbook, outside_client):
    host.check_output("nft add element inet ai4artsed allowed_ipv4 { 198.51.100.3 }")
    assert outside_client.request(PROXY_PORT, outside_client.OUTSIDE_IPV4) == 200

    code, output = run_playbook(CONVERGE)
    assert code == 0 and changed(output) >= 1, output[-3000:]
    assert outside_client.request(PROXY_PORT, outside_client.OUTSIDE_IPV4) == "refused"


@pytest.mark.parametrize(
    ("extra_vars", "named"),
    [
        ({"firewall_allowed_networks": ["192.168.10.5/24"]}, "'192.168.10.5/24' has host bits set"),
        ({"firewall_allowed_networks": ["classroom"]}, "'classroom' is not a network"),
        ({"firewall_app_ports": [17801, 70000]}, "Not a TCP port (1-65535): 70000"),
        ({"comfyui_port": 0}, "Not a TCP port (1-65535): 0"),
    ],
)
def test_bad_input_stops_the_preflight_with_the_value_named(host, run_playbook, extra_vars, named):
    before = host.file(RULES).sha256sum
    code, output = run_playbook(CONVERGE, extra_vars=extra_vars)
    assert code != 0
    assert named in " ".join(output.split()), output[-3000:]
    assert "Nothing was changed" in output
    assert host.file(RULES).sha256sum == before
    assert our_table(host).rc == 0


def test_disabling_removes_only_our_table_and_enabling_brings_it_back(host, run_playbook, outside_client):
    code, output = run_playbook(CONVERGE, extra_vars={"firewall_enabled": False})
    assert code == 0 and changed(output) >= 1, output[-3000:]
    assert our_table(host).rc != 0
    assert not host.service("ai4artsed-firewall").is_enabled
    assert outside_client.request(PROXY_PORT, outside_client.OUTSIDE_IPV4) == 200
    assert "host-own-marker" in host.check_output("nft list table inet host_own")

    code, output = run_playbook(CONVERGE)
    assert code == 0, output[-3000:]
    assert outside_client.request(PROXY_PORT, outside_client.OUTSIDE_IPV4) == "refused"
