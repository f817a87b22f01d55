# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cloudflared stand-in checks a config as cloudflared's `tunnel ingress validate` does (its rules, its
messages), plus the credentials; it answers --version like cloudflared, and `tunnel run` stays in the foreground
serving /ready on the metrics address; the release fixture serves it with the version and sha256 it says."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import cloudflared_standin as standin

STANDIN = Path(__file__).resolve().parents[2] / "doubles" / "cloudflared_standin.py"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TUNNEL = "6ff42ae2-765d-4adf-8112-31c55c1551ef"
GOOD_RULES = [{"hostname": "devserver.example.org", "service": "http://127.0.0.1:17801"},
              {"service": "http_status:404"}]


def write_config(folder, rules=None, tunnel=TUNNEL, credentials=None, credentials_file=True):
    """config.yml as the role writes it (block YAML) and a credentials file; return the config's path."""
    creds = folder / "credentials.json"
    creds.write_text(json.dumps(credentials if credentials is not None else
                                {"AccountTag": "a" * 32, "TunnelSecret": "dGVzdA==", "TunnelID": TUNNEL}))
    lines = ["# a comment", "---"]
    if tunnel is not None:
        lines.append("tunnel: %s" % tunnel)
    if credentials_file:
        lines.append("credentials-file: '%s'" % creds)
    lines.append("ingress:")
    for rule in GOOD_RULES if rules is None else rules:
        first = True
        for key, value in rule.items():
            lines.append("%s%s: %s" % ("-   " if first else "    ", key, json.dumps(value)))
            first = False
    config = folder / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    return config


def cli(*args):
    return subprocess.run([sys.executable, str(STANDIN), *args], capture_output=True, text=True, timeout=30, check=False)


def test_a_good_config_passes(tmp_path):
    config = standin.validate(str(write_config(tmp_path)))
    assert config["tunnel"] == TUNNEL
    assert config["ingress"] == GOOD_RULES


@pytest.mark.parametrize("rules, message", [
    ([], standin.NO_RULES),
    ([{"hostname": "devserver.example.org", "service": "http://127.0.0.1:17801"}], standin.LAST_NOT_CATCH_ALL),
    ([{"hostname": "devserver.example.org", "service": "http://127.0.0.1:17801"},
      {"path": "^/api", "service": "http_status:404"}], standin.LAST_NOT_CATCH_ALL),
    ([{"service": "http://127.0.0.1:17801"}, {"service": "http_status:404"}],
     "Rule #1 is matching the hostname '', but this will match every hostname"),
    ([{"hostname": "devserver.example.org"}, {"service": "http_status:404"}],
     " is an invalid address, please make sure it has a scheme and a hostname"),
    ([{"hostname": "devserver.example.org", "service": "127.0.0.1:17801"}, {"service": "http_status:404"}],
     "127.0.0.1:17801 is an invalid address, please make sure it has a scheme and a hostname"),
    ([{"hostname": "devserver.example.org", "service": "http://127.0.0.1:17801/app"}, {"service": "http_status:404"}],
     "ingress rules don't support proxying to a different path"),
    ([{"hostname": "devserver.example.org", "service": "http://127.0.0.1:17801"}, {"service": "http_status:four"}],
     'invalid HTTP status: strconv.Atoi: parsing "four"'),
    ([{"hostname": "devserver.example.org:443", "service": "http://127.0.0.1:17801"}, {"service": "http_status:404"}],
     standin.HOSTNAME_PORT),
    ([{"hostname": "dev.*.example.org", "service": "http://127.0.0.1:17801"}, {"service": "http_status:404"}],
     standin.BAD_WILDCARD),
    ([{"hostname": "devserver.example.org", "path": "(", "service": "http://127.0.0.1:17801"},
      {"service": "http_status:404"}], "Rule #1 has an invalid regex"),
], ids=["no rules", "no catch-all", "catch-all with a path", "catch-all not last", "rule without a service",
        "service without a scheme", "service with a path", "status not a number", "hostname with a port",
        "wildcard inside", "bad path regex"])
def test_each_broken_rule_fails_with_cloudflared_s_message(tmp_path, rules, message):
    with pytest.raises(standin.StandinError) as failure:
        standin.validate(str(write_config(tmp_path, rules=rules)))
    assert message in str(failure.value)


@pytest.mark.parametrize("service", ["https://localhost:8443", "ssh://localhost:22", "tcp://10.0.0.5:5432",
                                     "unix:/run/app.sock", "hello_world", "http_status:503"])
def test_other_valid_services_pass(tmp_path, service):
    rules = [{"hostname": "a.example.org", "service": service}, {"hostname": "*", "service": "http_status:404"}]
    standin.validate(str(write_config(tmp_path, rules=rules)))


@pytest.mark.parametrize("variant, message", [
    ({"tunnel": None}, "the config has no `tunnel`"),
    ({"credentials_file": False}, "the config has no `credentials-file`"),
    ({"credentials": {"AccountTag": "a", "TunnelSecret": "s", "TunnelID": "0" * 8}},
     "is for tunnel 00000000, not for the configured tunnel %s" % TUNNEL),
    ({"credentials": {"AccountTag": "a", "TunnelID": TUNNEL}}, "lacks TunnelSecret"),
], ids=["no tunnel", "no credentials-file", "credentials of another tunnel", "credentials without the secret"])
def test_the_credentials_must_belong_to_the_tunnel(tmp_path, variant, message):
    with pytest.raises(standin.StandinError) as failure:
        standin.validate(str(write_config(tmp_path, **variant)))
    assert message in str(failure.value)
    assert "dGVzdA==" not in str(failure.value) and "'s'" not in str(failure.value)


def test_a_missing_credentials_file_is_named(tmp_path):
    config = write_config(tmp_path)
    (tmp_path / "credentials.json").unlink()
    with pytest.raises(standin.StandinError, match="credentials.json' doesn't exist or is not a file"):
        standin.validate(str(config))


@pytest.mark.parametrize("text, parsed", [
    ("a: 1\nb: 'it''s'\nc: \"x\\ty\"\nd:\ne: true  # comment\n", {"a": 1, "b": "it's", "c": "x\ty", "d": None, "e": True}),
    ("ingress:\n- hostname: h\n  service: s\n  originRequest:\n    noTLSVerify: true\n- service: x\n",
     {"ingress": [{"hostname": "h", "service": "s", "originRequest": {"noTLSVerify": True}}, {"service": "x"}]}),
    ("list:\n  - one\n  - - nested\n  -\n    k: v\nempty: []\n",
     {"list": ["one", ["nested"], {"k": "v"}], "empty": []}),
], ids=["scalars", "ingress as to_nice_yaml writes it", "sequences"])
def test_the_yaml_subset(text, parsed):
    assert standin.parse_yaml(text) == parsed


@pytest.mark.parametrize("text", ["a: {b: 1}\n", "a: 1\n  b: 2\n", "\ta: 1\n"], ids=["flow", "bad indent", "tab"])
def test_yaml_outside_the_subset_is_refused(text):
    with pytest.raises(standin.StandinError):
        standin.parse_yaml(text)


def test_version_answers_like_cloudflared():
    for flag in ("--version", "-v", "version"):
        result = cli(flag)
        assert result.returncode == 0
        assert result.stdout.startswith("cloudflared version %s (built " % standin.VERSION)


def test_ingress_validate_prints_ok_or_the_reason_and_sets_the_exit_code(tmp_path):
    good = cli("tunnel", "--config", str(write_config(tmp_path)), "ingress", "validate")
    assert (good.returncode, good.stdout.splitlines()[-1]) == (0, "OK")
    bad = cli("tunnel", "--config", str(write_config(tmp_path, rules=GOOD_RULES[:1])), "ingress", "validate")
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[-1] == "Validation failed: " + standin.LAST_NOT_CATCH_ALL


def test_unknown_flags_and_commands_fail():
    assert "flag provided but not defined: --frobnicate" in cli("--frobnicate", "tunnel", "run").stderr
    assert cli("tunnel", "login").returncode == 1


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_tunnel_run_stays_up_serves_ready_and_stops_on_sigterm(tmp_path):
    port = free_port()
    config = write_config(tmp_path)
    process = subprocess.Popen([sys.executable, str(STANDIN), "--no-autoupdate", "--metrics", "127.0.0.1:%d" % port,
                                "--config", str(config), "tunnel", "run"], stdout=subprocess.PIPE, text=True)
    try:
        for _attempt in range(50):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/ready" % port, timeout=2) as answer:
                    ready = json.loads(answer.read())
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the stand-in did not serve /ready")
        assert ready["status"] == 200 and ready["standin"] is True
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as answer:
            assert 'version="%s"' % standin.VERSION in answer.read().decode()
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        output, _errors = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "NOT cloudflared, never contacts Cloudflare" in output and TUNNEL in output
    assert "dGVzdA==" not in output


def test_tunnel_run_refuses_credentials_of_another_tunnel(tmp_path):
    config = write_config(tmp_path, credentials={"AccountTag": "a", "TunnelSecret": "c2VjcmV0", "TunnelID": "other"})
    result = cli("--config", str(config), "tunnel", "run")
    assert result.returncode == 1
    assert "is for tunnel other, not for the configured tunnel" in result.stderr
    assert "c2VjcmV0" not in result.stdout + result.stderr


def test_the_release_fixture_sets_the_version_and_its_sha256(tmp_path):
    sys.path.insert(0, str(FIXTURES))
    try:
        import cloudflared_release
    finally:
        sys.path.remove(str(FIXTURES))
    sha256 = cloudflared_release.build_release("2025.10.1", tmp_path)
    binary = tmp_path / "2025.10.1" / "cloudflared-linux-amd64"
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == sha256
    binary.chmod(0o755)
    assert binary.read_text().startswith("#!/usr/bin/python3\n")
    answer = subprocess.run([sys.executable, str(binary), "--version"], capture_output=True, text=True, check=True,
                            env=dict(os.environ))
    assert answer.stdout.startswith("cloudflared version 2025.10.1 ")
