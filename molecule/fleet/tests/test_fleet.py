"""After converge: a classroom of three workstations that provisioned the same models at once through one mirror.

What an operator checks: every workstation holds every file with the hub's sha256; the hub (the double, which counts
the body bytes it sends per file) sent each public file once for the whole room, and a gated file once per workstation
(gated repositories are not cached by default); the mirror keeps the public files and nothing of the gated one; only
the workstations reach the mirror; a second converge changes nothing and sends no byte upstream; a mirror that is down
stops the run early with its name, unless the fallback is allowed; with model_mirror_cache_gated a gated file is
fetched once, and a host without an accepted token still gets nothing; with a certificate the mirror serves https to
the workstations that trust it.

The tests run in file order: those that stop the mirror or change its settings come last and put it back.
"""

import functools
import hashlib
import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
import testinfra
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
WORK = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
GROUP_VARS = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["provisioner"]["inventory"]["group_vars"]
ENTRIES = GROUP_VARS["devservers"]["model_store_extra_models"]
MIRROR_URL = GROUP_VARS["devservers"]["model_store_hf_mirror"]
WORKSTATIONS = ["fleet-ws1", "fleet-ws2", "fleet-ws3"]
MODELS = "/home/ai4artsed/ai/SwarmUI/Models"
CACHE = "/srv/ai4artsed/hf-mirror"
GATED_REPO = "fleet/gated-standin"
HF_PYTHON = "/opt/ai4artsed/hf-client/bin/python"
TOKEN = GROUP_VARS["devservers"]["model_store_hf_token"]


def machine(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


def hub_stats():
    url = json.loads((WORK / "hub-double.json").read_text())["url"]
    return json.loads(subprocess.run(["curl", "-s", url + "/_control/stats"], capture_output=True, text=True,
                                     check=True, timeout=30).stdout)


@functools.lru_cache(maxsize=None)  # the double's files do not change during verify: read and hash them once
def hub_files():
    """{(repo_id, path): (size, sha256)} of every file the double serves, read from its own folder."""
    files = {}
    for repo_dir in (WORK / "hub" / "model").glob("*/*"):
        repo_id = "%s/%s" % (repo_dir.parent.name, repo_dir.name)
        for commit_dir in repo_dir.iterdir():
            for path in commit_dir.rglob("*"):
                if path.is_file():
                    files[(repo_id, str(path.relative_to(commit_dir)))] = (
                        path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    return files


def store_path(repo_id, file_path):
    """Where the store keeps a file of the scenario's entries."""
    for entry in ENTRIES:
        if entry["repo_id"] == repo_id:
            return "%s/%s" % (MODELS, entry["dest"] if "path" in entry else entry["dest"] + "/" + file_path)
    return None


def selected_files():
    return {key: value for key, value in hub_files().items() if store_path(*key)}


def run_playbook(playbook, *arguments):
    command = ["ansible-playbook", "-i", INVENTORY, str(SCENARIO / playbook)] + list(arguments)
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    return completed.returncode, completed.stdout + completed.stderr


def recap_changes(output):
    """{host: changed count} from a playbook's recap (colours taken out)."""
    changes = {}
    for line in re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[1] == ":" and parts[2].startswith("ok="):
            changes[parts[0]] = int([part for part in parts if part.startswith("changed=")][0].split("=")[1])
    return changes


def download_on(workstation, repo_id, file_path, target, token=None, endpoint=MIRROR_URL, ca_file=None):
    """hf_hub_download with the workstation's own client through the mirror into target; (rc, output).
    ca_file: the certificates the client trusts (default: the system's)."""
    script = ("import hashlib, sys; from huggingface_hub import hf_hub_download; "
              "p = hf_hub_download(sys.argv[1], sys.argv[2], local_dir=sys.argv[3], token=sys.argv[4] or False); "
              "print(hashlib.sha256(open(p, 'rb').read()).hexdigest())")
    result = machine(workstation).run(
        "SSL_CERT_FILE=%s HF_ENDPOINT=%s HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1 %s -c %s %s %s %s %s",
        ca_file or "/etc/ssl/certs/ca-certificates.crt", endpoint, HF_PYTHON, script, repo_id, file_path, target,
        token or "")
    return result.rc, result.stdout.strip() + result.stderr


def test_every_workstation_holds_every_file_with_the_hubs_sha256():
    files = selected_files()
    assert len(files) == 4, files  # the checkpoint, the VAE's two files, the gated file
    for workstation in WORKSTATIONS:
        host = machine(workstation)
        for (repo_id, file_path), (size, sha256) in files.items():
            path = store_path(repo_id, file_path)
            assert host.file(path).size == size, (workstation, path)
            assert host.check_output("sha256sum %s", path).split()[0] == sha256, (workstation, path)


def test_the_hub_sent_each_public_file_once_for_the_whole_room(capsys):
    sent = hub_stats()["files"]
    delivered = upstream = 0
    for (repo_id, file_path), (size, _sha256) in selected_files().items():
        bytes_sent = sent.get("model/%s/%s" % (repo_id, file_path), 0)
        expected = size * (len(WORKSTATIONS) if repo_id == GATED_REPO else 1)
        assert bytes_sent == expected, "%s/%s: the hub sent %d bytes, expected %d" % (
            repo_id, file_path, bytes_sent, expected)
        delivered += size * len(WORKSTATIONS)
        upstream += bytes_sent
    public = [(key, size) for key, (size, _sha) in selected_files().items() if key[0] != GATED_REPO]
    public_delivered = sum(size for _key, size in public) * len(WORKSTATIONS)
    public_upstream = sum(sent["model/%s/%s" % key] for key, _size in public)
    with capsys.disabled():
        print("\nfleet: %d workstations; public files: %d bytes delivered, %d upstream, ratio %.4f (target 1/%d = %.4f);"
              " with the gated file (not cached): %d delivered, %d upstream, ratio %.4f" % (
                  len(WORKSTATIONS), public_delivered, public_upstream, public_upstream / public_delivered,
                  len(WORKSTATIONS), 1 / len(WORKSTATIONS), delivered, upstream, upstream / delivered))


def test_the_mirror_keeps_the_public_files_and_nothing_of_the_gated_one():
    mirror = machine("fleet-mirror")
    blocks = mirror.check_output("find %s/files -name 'block_*' -type f", CACHE).splitlines()
    assert any("/fleet/checkpoint-standin/" in path for path in blocks), blocks
    assert not [path for path in blocks if "/fleet/gated-standin/" in path], blocks
    report = mirror.file("/var/lib/ai4artsed-hf-mirror/cache-report.md")
    assert report.is_file and "fleet/checkpoint-standin" in report.content_string


def test_the_mirror_runs_as_its_own_account_on_its_lan_address():
    mirror = machine("fleet-mirror")
    assert mirror.service("ai4artsed-hf-mirror").is_running
    assert mirror.service("ai4artsed-hf-mirror").is_enabled
    assert mirror.service("ai4artsed-hf-mirror-firewall").is_enabled
    assert mirror.check_output("systemctl show -p User --value ai4artsed-hf-mirror") == "ai4artsed-mirror"
    assert mirror.socket("tcp://198.18.0.10:8090").is_listening
    assert not mirror.socket("tcp://0.0.0.0:8090").is_listening


def test_only_the_workstations_reach_the_mirror():
    probe = "%s/api/models/fleet/checkpoint-standin" % MIRROR_URL
    for workstation in WORKSTATIONS:
        answer = machine(workstation).check_output(
            "python3 -c %s %s", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).status)", probe)
        assert answer == "200", workstation
    # This machine is on the same network (198.18.0.1) and is not a workstation: the mirror resets the connection.
    connection = socket.socket()
    connection.settimeout(5)
    with pytest.raises(ConnectionError):
        connection.connect(("198.18.0.10", 8090))
        connection.sendall(b"GET /api/models/fleet/checkpoint-standin HTTP/1.0\r\n\r\n")
        if not connection.recv(64):
            raise ConnectionResetError("closed")
    connection.close()


def test_a_second_converge_changes_nothing_and_sends_nothing_upstream():
    before = hub_stats()["body_bytes"]
    rc, output = run_playbook("converge.yml")
    assert rc == 0, output[-3000:]
    changes = recap_changes(output)
    assert sorted(changes) == sorted(WORKSTATIONS + ["fleet-mirror"]), output[-2000:]
    assert set(changes.values()) == {0}, changes
    assert hub_stats()["body_bytes"] == before


def test_a_later_download_is_served_from_the_mirrors_cache():
    before = hub_stats()["body_bytes"]
    (size, sha256), = [value for key, value in selected_files().items() if key[0] == "fleet/checkpoint-standin"]
    rc, output = download_on("fleet-ws2", "fleet/checkpoint-standin", "checkpoint.safetensors", "/var/tmp/fleet-late")
    machine("fleet-ws2").run("rm -rf /var/tmp/fleet-late")  # the test's own copy, not the store
    assert rc == 0 and output.splitlines()[0] == sha256, output
    assert hub_stats()["body_bytes"] == before, "the cached file went upstream again (%d bytes)" % size


LATE_ENTRY = {"name": "fleet-late", "repo_id": "fleet/late-standin", "path": "late.safetensors",
              "dest": "Stable-Diffusion/fleet/late.safetensors", "licence": "test-fixture", "media": "image"}


def test_a_mirror_that_is_down_stops_the_run_early_and_the_fallback_is_explicit():
    mirror = machine("fleet-mirror")
    extra = json.dumps({"model_store_extra_models": ENTRIES + [LATE_ENTRY]})
    late_path = "%s/%s" % (MODELS, LATE_ENTRY["dest"])
    assert mirror.run("systemctl stop ai4artsed-hf-mirror").rc == 0
    try:
        before = hub_stats()["body_bytes"]
        rc, output = run_playbook("../shared/converge_model_store.yml", "--limit", "fleet-ws1", "-e", extra)
        assert rc != 0
        assert "The classroom's Hugging Face mirror %s (model_store_hf_mirror) did not answer" % MIRROR_URL in output
        assert "Nothing was downloaded" in output
        assert not machine("fleet-ws1").file(late_path).exists
        assert hub_stats()["body_bytes"] == before

        fallback = json.dumps({"model_store_extra_models": ENTRIES + [LATE_ENTRY], "model_store_hf_mirror_fallback": True})
        rc, output = run_playbook("../shared/converge_model_store.yml", "--limit", "fleet-ws1", "-e", fallback)
        assert rc == 0, output[-3000:]
        assert "model_store_hf_mirror_fallback is on, so this host downloads from %s directly" % (
            json.loads((WORK / "hub-double.json").read_text())["url"]) in output
        assert machine("fleet-ws1").file(late_path).is_file
    finally:
        assert mirror.run("systemctl start ai4artsed-hf-mirror").rc == 0


def test_gated_files_are_fetched_once_when_caching_them_is_allowed_and_still_need_a_token():
    (size, sha256), = [value for key, value in selected_files().items() if key[0] == GATED_REPO]
    rc, output = run_playbook("../../playbooks/model_mirror.yml", "-e", "model_mirror_cache_gated=true")
    assert rc == 0, output[-3000:]
    try:
        before = hub_stats()["files"].get("model/%s/gated.safetensors" % GATED_REPO, 0)
        for workstation in ("fleet-ws1", "fleet-ws2"):
            rc, output = download_on(workstation, GATED_REPO, "gated.safetensors", "/var/tmp/fleet-gated", TOKEN)
            machine(workstation).run("rm -rf /var/tmp/fleet-gated")
            assert rc == 0 and output.splitlines()[0] == sha256, output
        assert hub_stats()["files"]["model/%s/gated.safetensors" % GATED_REPO] - before == size
        # Cached now, but olah asks the hub with each caller's own token: without one, nothing.
        rc, output = download_on("fleet-ws3", GATED_REPO, "gated.safetensors", "/var/tmp/fleet-gated")
        machine("fleet-ws3").run("rm -rf /var/tmp/fleet-gated")
        assert rc != 0 and "restricted" in output, output
    finally:
        rc, output = run_playbook("../../playbooks/model_mirror.yml")
        assert rc == 0, output[-3000:]


def test_the_mirror_serves_https_with_the_given_certificate(tmp_path):
    key, certificate = tmp_path / "mirror.key", tmp_path / "mirror.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=fleet-mirror",
                    "-addext", "subjectAltName=IP:198.18.0.10", "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True, timeout=60)
    tls = json.dumps({"model_mirror_tls_cert": str(certificate), "model_mirror_tls_key": str(key)})
    rc, output = run_playbook("../../playbooks/model_mirror.yml", "-e", tls)
    try:
        assert rc == 0, output[-3000:]
        mirror = machine("fleet-mirror")
        assert mirror.file("/etc/ai4artsed/hf-mirror/tls.key").mode == 0o640
        assert mirror.file("/etc/ai4artsed/hf-mirror/tls.key").group == "ai4artsed-mirror"
        copied = subprocess.run(["ansible", "-i", INVENTORY, "fleet-ws1", "-m", "ansible.builtin.copy", "-a",
                                 "src=%s dest=/var/tmp/fleet-mirror-ca.crt mode=0644" % certificate],
                                capture_output=True, text=True, check=False, timeout=120)
        assert copied.returncode == 0, copied.stdout + copied.stderr
        (size, sha256), = [value for key_, value in selected_files().items() if key_[0] == "fleet/checkpoint-standin"]
        https = MIRROR_URL.replace("http://", "https://")
        rc, output = download_on("fleet-ws1", "fleet/checkpoint-standin", "checkpoint.safetensors", "/var/tmp/fleet-tls",
                                 endpoint=https, ca_file="/var/tmp/fleet-mirror-ca.crt")
        machine("fleet-ws1").run("rm -rf /var/tmp/fleet-tls")
        assert rc == 0 and output.splitlines()[0] == sha256, output
        # A workstation that does not trust the certificate gets nothing.
        rc, output = download_on("fleet-ws2", "fleet/checkpoint-standin", "checkpoint.safetensors", "/var/tmp/fleet-tls",
                                 endpoint=https)
        assert rc != 0 and "CERTIFICATE_VERIFY_FAILED" in output, output[-2000:]
    finally:
        rc, output = run_playbook("../../playbooks/model_mirror.yml")
        assert rc == 0, output[-3000:]
