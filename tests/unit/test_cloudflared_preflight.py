"""The cloudflared role's preflight refuses the DevServer app's own port as the tunnel's origin (every visitor would
be logged in as local, cloudflared connecting from loopback), with the reason and before anything is changed; the
default origin, the reverse proxy's 17811, passes. The role's preflight runs for real, on localhost in check mode."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((ROOT / "roles" / "cloudflared" / "defaults" / "main.yml").read_text())
TUNNEL = "6ff42ae2-765d-4adf-8112-31c55c1551ef"
PLAY = """
- name: The cloudflared role's preflight only
  hosts: localhost
  gather_facts: true
  gather_subset: [min]  # the role's argument spec reads ansible_facts.architecture
  vars: %s
  roles:
    - role: ai4artsed.devserver.cloudflared
"""


def preflight(tmp_path, **variables):
    settings = {"cloudflared_enabled": True, "cloudflared_arch": "amd64", "cloudflared_tunnel_id": TUNNEL,
                "cloudflared_hostname": "devserver.ai4artsed.test",
                "cloudflared_credentials": {"AccountTag": "a" * 32, "TunnelSecret": "dGVzdA==", "TunnelID": TUNNEL}}
    settings.update(variables)
    play = tmp_path / "play.yml"
    play.write_text(PLAY % json.dumps(settings))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
         "--check", "--tags", "cloudflared_preflight", str(play)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120)


def test_the_default_origin_is_the_proxy_not_an_app_port():
    assert DEFAULTS["cloudflared_origin_port"] == 17811
    assert DEFAULTS["cloudflared_origin_port"] not in DEFAULTS["cloudflared_app_ports"]
    assert DEFAULTS["cloudflared_app_ports"] == [17801, 17802]


@pytest.mark.parametrize("port", [17801, 17802])
def test_an_app_port_as_the_origin_is_refused_with_the_reason(tmp_path, port):
    result = preflight(tmp_path, cloudflared_origin_port=port)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "cloudflared_origin_port is %s, one of the DevServer app's own ports" % port in output, output[-3000:]
    assert "would be logged in as local" in output and "Nothing was changed." in output
    assert "changed=0" in output and "dGVzdA==" not in output


def test_the_app_ports_are_a_setting(tmp_path):
    result = preflight(tmp_path, cloudflared_origin_port=17811, cloudflared_app_ports=[17811])
    assert result.returncode != 0 and "cloudflared_app_ports: 17811" in result.stdout, result.stdout[-3000:]


def test_the_proxy_s_port_passes_the_preflight(tmp_path):
    result = preflight(tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
