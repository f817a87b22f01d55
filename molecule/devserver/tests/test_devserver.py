"""After converge: the real DevServer app runs under systemd as ai4artsed-devserver@staging (17802, the checkout
ai4artsed_development) with the staging inventory's settings: its own health route answers, its built frontend is
served, its settings API reports what the inventory set, a teacher's own setting survives a re-run, and the settings
password it ships no longer works. Its reverse proxy (17812) asks every request for the password, refuses loopback
Host names, runs hardened as its own account, and comes back when stopped. The secrets stay in the env file (0640) and nowhere else a user or a log could
read them.
Not exercised: the production instance (17801) and the firewall (the site scenario's: this one runs beside it on
the host's network), Ollama, SwarmUI, ComfyUI and the GPU service are not running (the app's workflows report
unavailable), no SpaCy NER models, no GPU."""

import http.cookiejar
import json
import os
import re
import urllib.error
import urllib.request

import pytest
import yaml

SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Staging only: production's 17801 is the site scenario's
INSTANCES = {"staging": 17802}
CHECKOUTS = {"staging": "/home/ai4artsed/ai/ai4artsed_development"}
# What the inventories name for user_settings.json (the role's defaults, which differ from the app's own:
# config.py says local/gpt-OSS:20b and http://localhost:11434).
INVENTORY_SETTINGS = {"STAGE1_TEXT_MODEL": "local/gpt-oss:20b", "STAGE1_VISION_MODEL": "local/llama3.2-vision:latest",
                      "OLLAMA_API_BASE_URL": "http://127.0.0.1:11434"}


def scenario_group_vars():
    with open(os.path.join(SCENARIO, "molecule.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["provisioner"]["inventory"]["group_vars"]["devservers"]


SECRETS = scenario_group_vars()
SECRET_VALUES = [SECRETS["vault_devserver_secret_key"], SECRETS["vault_devserver_settings_password"]] + list(
    SECRETS["vault_devserver_api_keys"].values())


def request(url, body=None, opener=None, timeout=30):
    """(status, parsed JSON or text) of a GET, or a POST of body as JSON."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=timeout) as response:
            status, text = response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode("utf-8")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def plain(output):
    return re.sub(r"\x1b\[[0-9;]*m", "", output)


def settings(port):
    status, answer = request("http://127.0.0.1:%d/api/settings/" % port)
    assert status == 200, answer
    return answer["current"]


@pytest.mark.parametrize("environment", INSTANCES)
def test_the_instance_runs_server_py_from_its_checkout_as_the_service_account(host, environment):
    unit = "ai4artsed-devserver@%s" % environment
    service = host.service(unit)
    assert service.is_enabled and service.is_running
    pid = host.check_output("systemctl show --property MainPID --value %s", unit)
    assert host.check_output("ps -o user= -p %s", pid) == "ai4artsed"
    assert host.check_output("ps -o args= -p %s", pid) == CHECKOUTS[environment] + "/venv/bin/python server.py"
    assert host.check_output("systemctl show --property WorkingDirectory --value %s", unit) == (
        CHECKOUTS[environment] + "/devserver")


@pytest.mark.parametrize("environment", INSTANCES)
def test_the_checkout_is_the_pinned_commit(host, environment):
    sources = json.loads(open(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "devserver-sources.json"),
                              encoding="utf-8").read())
    head = host.check_output("git -C %s rev-parse HEAD", CHECKOUTS[environment])
    assert head == sources["app"]["version"]
    assert host.file(CHECKOUTS[environment] + "/devserver/server.py").user == "ai4artsed"


@pytest.mark.parametrize("environment, port", INSTANCES.items())
def test_the_health_route_answers_and_the_built_frontend_is_served(environment, port):
    status, answer = request("http://127.0.0.1:%d/api/settings/safety-level" % port)
    assert (status, answer) == (200, {"safety_level": "youth"}), environment
    status, page = request("http://127.0.0.1:%d/" % port)
    assert status == 200 and '<div id="app">' in page
    script = re.search(r'src="(/assets/index-[^"]+\.js)"', page)
    assert script, page[:500]
    assert request("http://127.0.0.1:%d%s" % (port, script.group(1)))[0] == 200


@pytest.mark.parametrize("environment, port", INSTANCES.items())
def test_the_settings_api_reports_what_the_inventory_set(environment, port):
    current = settings(port)
    assert {key: current[key] for key in INVENTORY_SETTINGS} == INVENTORY_SETTINGS, environment


def test_the_env_file_holds_the_secrets_readable_by_root_and_the_service_group_only(host):
    for environment, port in INSTANCES.items():
        env_file = host.file("/etc/ai4artsed/devserver-%s.env" % environment)
        assert (env_file.user, env_file.group, env_file.mode) == ("root", "ai4artsed", 0o640)
        content = env_file.content_string
        assert 'PORT="%d"' % port in content
        assert 'SECRET_KEY="%s"' % SECRETS["vault_devserver_secret_key"] in content
        assert 'SWARMUI_AUTO_START="false"' in content
        assert 'OPENROUTER_API_KEY="%s"' % SECRETS["vault_devserver_api_keys"]["OPENROUTER_API_KEY"] in content


def test_the_password_file_is_the_service_accounts_alone(host):
    for checkout in CHECKOUTS.values():
        key = host.file(checkout + "/devserver/settings_password.key")
        assert (key.user, key.mode) == ("ai4artsed", 0o600)
        assert key.content_string.startswith(("pbkdf2:", "scrypt:"))


def test_no_secret_in_the_journal_systemctl_show_or_the_process_list(host):
    places = {
        "journal": host.check_output("journalctl --no-pager -o cat -u 'ai4artsed-devserver@*'"),
        "systemctl show": host.check_output("systemctl show 'ai4artsed-devserver@*'"),
        "process list": host.check_output("ps -eo args"),
    }
    assert "server.py" in places["process list"]  # the places hold what the app wrote, not nothing
    for place, text in places.items():
        for secret in SECRET_VALUES:
            assert secret not in text, "a secret is in the %s" % place


def test_no_world_readable_file_holds_a_secret(host):
    found = host.run(
        "find /etc /home /opt /srv /var /root /tmp /run -xdev -type f -perm -o=r -size -2M "
        "-not -path '*/venv/*' -not -path '*/node_modules/*' -not -path '/var/cache/ai4artsed/*' -print0"
        " | xargs -0 grep -lF -e %s -e %s -e %s", *SECRET_VALUES)
    assert found.stdout.strip() == "", found.stdout


def outside_address(host):
    """A non-loopback address of this machine: the app sees it as the peer, so it does not auto-login."""
    addresses = [a for a in host.check_output("hostname -I").split() if ":" not in a]
    assert addresses, "no IPv4 address besides loopback"
    return addresses[0]


@pytest.mark.parametrize("environment, port", INSTANCES.items())
def test_the_app_s_built_in_settings_password_no_longer_works(host, environment, port):
    source = host.file(CHECKOUTS[environment] + "/devserver/my_app/routes/settings_routes.py").content_string
    built_in = re.search(r'FIXED_PASSWORD = "([^"]+)"', source).group(1)
    url = "http://%s:%d/api/settings/auth" % (outside_address(host), port)
    assert request(url, {"password": built_in})[0] == 403
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    assert request(url, {"password": SECRETS["vault_devserver_settings_password"]}, opener)[0] == 200


def test_a_teachers_setting_survives_a_rerun_and_the_inventorys_keys_come_back(run_playbook, host):
    port = INSTANCES["staging"]
    page = settings(port)
    page.update({"DEFAULT_LANGUAGE": "en", "STAGE1_TEXT_MODEL": "local/teacher-choice:1b"})
    status, answer = request("http://127.0.0.1:%d/api/settings/" % port, page)  # what the settings page sends
    assert status == 200 and answer["success"], answer

    code, output = run_playbook("converge.yml")
    assert code == 0, output[-3000:]

    current = settings(port)
    assert current["DEFAULT_LANGUAGE"] == "en"
    assert current["STAGE1_TEXT_MODEL"] == INVENTORY_SETTINGS["STAGE1_TEXT_MODEL"]
    assert "keeps the values set on the app's settings page for" in plain(output) and "DEFAULT_LANGUAGE" in output


def test_a_check_run_after_converge_changes_nothing(run_playbook):
    code, output = run_playbook("converge.yml", check=True)
    assert code == 0, output[-3000:]
    assert re.search(r"devserver-devserver\s*:.*changed=0", plain(output)), plain(output)[-3000:]


def test_the_built_in_password_in_the_vault_is_refused_and_nothing_changes(run_playbook, host):
    checkout = CHECKOUTS["staging"]
    source = host.file(checkout + "/devserver/my_app/routes/settings_routes.py").content_string
    built_in = re.search(r'FIXED_PASSWORD = "([^"]+)"', source).group(1)
    before = host.check_output("sha256sum %s/devserver/settings_password.key /etc/ai4artsed/devserver-staging.env",
                               checkout)
    code, output = run_playbook("converge.yml", extra_vars={"devserver_settings_password": built_in})
    assert code != 0
    assert "is the settings password the app ships in its source code" in output
    assert built_in not in output
    after = host.check_output("sha256sum %s/devserver/settings_password.key /etc/ai4artsed/devserver-staging.env",
                              checkout)
    assert after == before


def test_a_missing_secret_key_stops_at_the_preflight(run_playbook):
    code, output = run_playbook("converge.yml", extra_vars={"devserver_secret_key": ""})
    assert code != 0
    assert "devserver_secret_key (the app's session key, 32 characters or more" in output
    assert "Nothing was changed." in output


@pytest.mark.parametrize("environment", INSTANCES)
def test_the_unit_is_hardened(security_exposure, environment):
    # Issue 15's target for every unit: 5.0 or lower
    assert security_exposure("ai4artsed-devserver@%s" % environment) <= 5.0


# --- the reverse proxy (issue 25): the only way in for other computers, and it logs nobody in ------------------------

PROXY_PORT = 17812  # staging's
PROXY_UNIT = "ai4artsed-devserver-proxy@staging"


def through_the_proxy(path, host_header, body=None, opener=None):
    """(status, answer) of a request through the proxy with the given Host header."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    headers = {"Host": host_header}
    if data:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (PROXY_PORT, path), data=data, headers=headers)
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def test_on_the_host_the_apps_own_port_logs_in_without_a_password():
    # the app's own rule for the workstation itself, kept: a browser on 127.0.0.1
    assert request("http://127.0.0.1:17802/api/settings/check-auth")[1] == {"authenticated": True, "auto_login": True}


def test_through_the_proxy_the_settings_ask_for_the_password_and_the_vaults_logs_in():
    status, answer = through_the_proxy("/api/settings/", "staging.ai4artsed.test")
    assert status == 401, answer
    jar = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    status, answer = through_the_proxy("/api/settings/auth", "staging.ai4artsed.test",
                                       {"password": SECRETS["vault_devserver_settings_password"]}, opener=jar)
    assert status == 200, answer
    status, answer = through_the_proxy("/api/settings/", "staging.ai4artsed.test", opener=jar)
    assert status == 200 and "current" in json.loads(answer)


@pytest.mark.parametrize("host_header", ["localhost", "127.0.0.1:17812", "[::1]", "LocalHost"])
def test_the_proxy_refuses_a_loopback_host(host_header):
    status, answer = through_the_proxy("/api/settings/", host_header)
    assert status == 403 and "Refused" in answer, (host_header, answer)


def test_the_proxy_runs_as_its_own_account_and_meets_the_exposure_target(host, security_exposure):
    main_pid = host.check_output("systemctl show -p MainPID --value %s.service", PROXY_UNIT)
    assert host.check_output("ps -o user= -p %s", main_pid) == "ai4artsed-proxy"
    # the target for a new unit
    assert security_exposure(PROXY_UNIT) <= 3.0


def test_a_proxy_source_the_app_trusts_is_refused_by_the_preflight(run_playbook, host):
    before = host.file("/etc/ai4artsed/devserver-proxy-staging.conf").sha256sum
    code, output = run_playbook("converge.yml", extra_vars={"devserver_proxy_source_address": "127.0.0.1"})
    assert code != 0
    assert "the app does not log in as local, so not 127.0.0.1 or ::1" in " ".join(output.split())
    assert "Nothing was changed." in output
    assert host.file("/etc/ai4artsed/devserver-proxy-staging.conf").sha256sum == before


def test_a_stopped_proxy_is_reported_by_check_mode_and_started_by_a_rerun(run_playbook, host):
    host.check_output("systemctl stop %s.service", PROXY_UNIT)
    code, output = run_playbook("converge.yml", check=True)
    assert code == 0, output[-3000:]
    assert re.search(r"changed: \[[^\]]+\]", output.split("Enable and start ai4artsed-devserver-proxy@staging")[1][:400])
    code, output = run_playbook("converge.yml")
    assert code == 0, output[-3000:]
    assert host.check_output("systemctl is-active %s.service", PROXY_UNIT) == "active"
    assert through_the_proxy("/api/settings/", "staging.ai4artsed.test")[0] == 401


def test_the_status_report_says_visitors_need_the_password(run_playbook):
    code, output = run_playbook("../../playbooks/status.yml", extra_vars={"devserver_environment": "staging"})
    text = " ".join(plain(output).split())
    assert code == 0, text[-3000:]
    assert "devserver proxy: %s.service: ActiveState=active" % PROXY_UNIT in text
    assert "http://127.0.0.1:17812 answers, visitors need the password" in text
