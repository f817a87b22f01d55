"""Who the DevServer app logs in as "local", on the converged site (issue 25).

The app (settings_routes.py is_localhost_request) logs in without a password every request whose peer is 127.0.0.1
or ::1 or whose Host is localhost or 127.0.0.1. What a user checks:
- on the workstation, the app and its protected settings route need no password (the app's own rule);
- from another computer (the outside client's namespace, IPv4 and IPv6) the app's own port is refused, and through
  its proxy (17811) the protected route asks for the password whatever Host is sent; a loopback Host is refused
  whole, and the public name logs in with the vault's password;
- through the Cloudflare tunnel (the cloudflared stand-in's edge: it forwards as cloudflared does, from its own
  loopback socket with the visitor's Host, to the proxy) the same: a visitor is never "local";
- the settings page's "restart backend" button, pressed through the tunnel with the password, ends with exactly one
  app process under its unit, answering on its port.
Not exercised: Cloudflare's real edge and TLS (the stand-in's edge is plain HTTP on loopback; cloudflared_standin.py
says what it does not do).
"""

import os
import time
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
GROUP_VARS = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["provisioner"]["inventory"]["group_vars"][
    "devservers"]
PASSWORD = GROUP_VARS["vault_devserver_settings_password"]
SOURCES = yaml.safe_load((SCENARIO / "vars" / "test_sources.yml").read_text())
PUBLIC_NAME = SOURCES["cloudflared_hostname"]

APP_PORT = 17801      # the app itself: the workstation only
PROXY_PORT = 17811    # its proxy: other computers and the tunnel
EDGE = int(os.environ.get("AI4ARTSED_SITE_TUNNEL_EDGE_PORT", "20242"))  # the stand-in's edge (its default)
UNIT = "ai4artsed-devserver@production.service"
PROXY_UNIT = "ai4artsed-devserver-proxy@production"
PROTECTED = "/api/settings/"  # what the settings page GETs: the current configuration
LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
RESTART_WITHIN = 95  # seconds: systemd's RestartSec (5) plus the time the role gives the app to start (90)


def status(answer):
    return answer["status"]


def without_password(host_header):
    return [{"path": PROTECTED, "host": host_header}]


def with_password(host_header):
    return [{"method": "POST", "path": "/api/settings/auth", "host": host_header, "json": {"password": PASSWORD}},
            {"path": PROTECTED, "host": host_header}]


# --- the workstation itself -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["127.0.0.1"])
def test_on_the_workstation_the_app_and_its_settings_need_no_password(outside_client, source):
    home, settings = outside_client.session(APP_PORT, source, [{"path": "/", "host": "127.0.0.1:%d" % APP_PORT},
                                                               {"path": PROTECTED, "host": "127.0.0.1:%d" % APP_PORT}])
    assert status(home) == 200, home
    assert status(settings) == 200 and '"current"' in settings["body"], settings


# --- other computers: the app's port refused, the proxy asks for the password ----------------------------------------

@pytest.mark.parametrize("family", ["IPv4", "IPv6"])
def test_another_computer_never_reaches_the_apps_own_port(outside_client, family):
    source = outside_client.ALLOWED_IPV4 if family == "IPv4" else outside_client.ALLOWED_IPV6
    for host_header in LOOPBACK_HOSTS + [PUBLIC_NAME]:
        answer, = outside_client.session(APP_PORT, source, without_password(host_header))
        assert status(answer) == "refused", (host_header, answer)


@pytest.mark.parametrize("family", ["IPv4", "IPv6"])
@pytest.mark.parametrize("host_header", LOOPBACK_HOSTS + [PUBLIC_NAME])
def test_through_the_proxy_the_settings_ask_for_the_password(outside_client, family, host_header):
    source = outside_client.ALLOWED_IPV4 if family == "IPv4" else outside_client.ALLOWED_IPV6
    answer, = outside_client.session(PROXY_PORT, source, without_password(host_header))
    assert status(answer) in (401, 403), answer


@pytest.mark.parametrize("family", ["IPv4", "IPv6"])
def test_through_the_proxy_the_vaults_password_logs_in(outside_client, family):
    source = outside_client.ALLOWED_IPV4 if family == "IPv4" else outside_client.ALLOWED_IPV6
    login, settings = outside_client.session(PROXY_PORT, source, with_password(PUBLIC_NAME))
    assert status(login) == 200, login
    assert status(settings) == 200 and '"current"' in settings["body"], settings


@pytest.mark.parametrize("host_header", LOOPBACK_HOSTS)
def test_the_proxy_refuses_a_loopback_host_even_with_the_password(outside_client, host_header):
    login, settings = outside_client.session(PROXY_PORT, outside_client.ALLOWED_IPV4, with_password(host_header))
    assert status(login) == 403 and "Refused" in login["body"], login
    assert status(settings) == 403, settings


def test_a_wrong_password_is_refused_through_the_proxy(outside_client):
    login, settings = outside_client.session(PROXY_PORT, outside_client.ALLOWED_IPV4, [
        {"method": "POST", "path": "/api/settings/auth", "host": PUBLIC_NAME, "json": {"password": PASSWORD + "x"}},
        {"path": PROTECTED, "host": PUBLIC_NAME}])
    assert status(login) == 403 and status(settings) == 401, (login, settings)


# --- the Cloudflare tunnel ---------------------------------------------------------------------------------------

def test_through_the_tunnel_a_visitor_is_asked_for_the_password_and_logs_in_with_it(outside_client):
    answer, = outside_client.session(EDGE, "127.0.0.1", without_password(PUBLIC_NAME))
    assert status(answer) == 401, answer
    login, settings = outside_client.session(EDGE, "127.0.0.1", with_password(PUBLIC_NAME))
    assert status(login) == 200 and status(settings) == 200, (login, settings)


@pytest.mark.parametrize("host_header", LOOPBACK_HOSTS)
def test_through_the_tunnel_a_loopback_host_never_reaches_the_settings(outside_client, host_header):
    # cloudflared routes by Host: these match no ingress rule but the catch-all (http_status:404)
    answer, = outside_client.session(EDGE, "127.0.0.1", without_password(host_header))
    assert status(answer) in (401, 403, 404), answer


def test_the_proxys_unit_meets_the_issues_exposure_target(security_exposure):
    assert security_exposure(PROXY_UNIT) <= 3.0


# --- the settings page's restart button ------------------------------------------------------------------------------

def app_processes(host):
    """The PIDs of every `server.py` process of the production app, and those of them in the unit's cgroup (read
    from /proc/<pid>/cgroup, which names the unit's cgroup however deep the container nests it)."""
    everywhere = host.check_output("pgrep -f '^[^ ]*/ai4artsed_production/venv/bin/python server.py' || true").split()
    in_unit = [pid for pid in everywhere
               if host.run("cat /proc/%s/cgroup", pid).stdout.strip().endswith("/" + UNIT)]
    return sorted(everywhere), sorted(in_unit)


def test_the_restart_button_ends_with_one_app_under_its_unit(host, outside_client, capsys):
    main_pid = host.check_output("systemctl show -p MainPID --value %s", UNIT)
    restarts = int(host.check_output("systemctl show -p NRestarts --value %s", UNIT))
    login, restart = outside_client.session(EDGE, "127.0.0.1", [
        {"method": "POST", "path": "/api/settings/auth", "host": PUBLIC_NAME, "json": {"password": PASSWORD}},
        {"method": "POST", "path": "/api/settings/restart-backend", "host": PUBLIC_NAME, "json": {}}])
    assert status(login) == 200 and status(restart) == 200, (login, restart)
    assert "5_start_backend_prod.sh" in restart["body"]

    started = time.monotonic()
    while True:
        new_pid = host.check_output("systemctl show -p MainPID --value %s", UNIT)
        answer = host.run("curl -s -o /dev/null -w '%%{http_code}' --max-time 5 %s",
                          "http://127.0.0.1:%d/api/settings/safety-level" % APP_PORT).stdout
        if new_pid not in ("0", main_pid) and answer == "200":
            break
        assert time.monotonic() - started < RESTART_WITHIN, (
            "the app did not come back under its unit within %d s (MainPID %s, answer %s)\n%s" % (
                RESTART_WITHIN, new_pid, answer, host.check_output("journalctl -u %s -n 30 --no-pager -o cat", UNIT)))
        time.sleep(1)
    took = time.monotonic() - started
    everywhere, in_unit = app_processes(host)
    with capsys.disabled():
        print("\nrestart button: MainPID %s -> %s in %.0f s; app processes %s, under the unit %s" % (
            main_pid, new_pid, took, everywhere, in_unit))
    assert everywhere == in_unit == [new_pid]
    assert int(host.check_output("systemctl show -p NRestarts --value %s", UNIT)) == restarts + 1
    assert host.check_output("systemctl is-active %s", UNIT) == "active"
