"""After converge: the whole workstation from playbooks/site.yml with the production inventory's settings.

What an operator checks on a converged workstation: every unit enabled and active, SwarmUI (7801) and the app (17801)
answer, ComfyUI (7821) and Ollama (11434) listen on loopback only, ComfyUI lists every model the store links, the
storage report is written, no secret in a log, a unit or a world-readable file, and the security figures (each unit's
systemd-analyze exposure, the account each service runs as, what the outside reaches, the HF token in no process's
arguments). Then a fault round: six kinds of drift put in by hand, playbooks/drift.yml names each, the next converge
repairs each, the store's model files are the same as before and the damaged one is in the archive; a full model disk and a pending driver reboot stop
the run early with their message and change nothing.

The tests run in file order: the fault round comes after the checks of the converged host.
Not exercised: see molecule.yml (no GPU, no .NET SDK, stand-ins for SwarmUI's program, Ollama and cloudflared)."""

import collections
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]
WORK = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
GROUP_VARS = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["provisioner"]["inventory"]["group_vars"][
    "devservers"]
SECRET_VALUES = [GROUP_VARS["vault_devserver_secret_key"], GROUP_VARS["vault_devserver_settings_password"],
                 GROUP_VARS["vault_model_store_hf_token"], GROUP_VARS["vault_cloudflared_credentials"]["TunnelSecret"]]
SECRET_VALUES += list(GROUP_VARS["vault_devserver_api_keys"].values())
HF_TOKEN = GROUP_VARS["vault_model_store_hf_token"]

CONTAINER = os.environ.get("AI4ARTSED_SITE_CONTAINER", "devserver-site")  # molecule.yml's platform
HOME = "/home/ai4artsed"
SWARMUI = HOME + "/ai/SwarmUI"
COMFYUI = SWARMUI + "/dlbackend/ComfyUI"
MODEL_DISK = HOME + "/ai"  # the 20 GB disk of prepare.yml
MODELS = SWARMUI + "/Models"
ARCHIVE = MODEL_DISK + "/model-archive"
REPORT = HOME + "/ai/storage-report.md"
MIN_FREE_GB = 2  # common_min_free_disk_gb in vars/test_sources.yml

# Our long-running services, the account each runs as, and where each listens (None: loopback only)
SERVICES = {
    "comfyui": "ai4artsed",
    "swarmui": "ai4artsed",
    "ollama": "ollama",
    "ai4artsed-devserver@production": "ai4artsed",
    "cloudflared": "cloudflared",
    "ai4artsed-devserver-proxy@production": "ai4artsed-proxy",
}
# The firewall's unit is a oneshot that loads the table and stays active without a process.
UNITS = list(SERVICES) + ["ai4artsed-firewall"]
EXPOSURE_TARGET = 5.0  # the target for every unit

MANIFEST = yaml.safe_load((PROJECT / "roles" / "model_store" / "files" / "manifest.yml").read_text())
LINKS = sorted(entry["comfyui_link"] for entry in MANIFEST["models"] if entry.get("comfyui_link"))
# ComfyUI's model folder keys for the link folders whose name is a legacy alias (GET /models/clip is a 404)
FOLDER_KEYS = {"clip": "text_encoders", "unet": "diffusion_models"}


def plain(output):
    return re.sub(r"\x1b\[[0-9;]*m", "", output)  # the verify step runs ansible with colours forced


def words(output):
    """The output with every run of white space made one space: Ansible folds long messages over lines."""
    return " ".join(output.split())


def ansible_playbook(playbook, extra_vars=None, check=False, timeout=1500):
    """Run a playbook of this scenario against the instance: (exit code, output without colours, seconds)."""
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / playbook)]
    if check:
        command.append("--check")
    if extra_vars:
        command += ["--extra-vars", json.dumps(extra_vars)]
    # Molecule's ansible.cfg is not the repository's: enable drift.yml's report as the repository's does
    env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="ai4artsed.devserver.drift_report",
               AI4ARTSED_DRIFT_REPORT=str(WORK / "drift-report.txt"))
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout, env=env)
    return completed.returncode, plain(completed.stdout + completed.stderr), time.monotonic() - started


def recap(output):
    """The PLAY RECAP counters of the instance, e.g. {'ok': 310, 'changed': 0, 'failed': 0, ...}."""
    found = re.findall(r"%s\s+:\s+(.*)" % re.escape(CONTAINER), output)
    assert found, output[-3000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", found[-1])}


def http_status(host, url):
    """The HTTP status of a GET from inside the instance, after redirects (0: no answer)."""
    return int(host.check_output("curl -sL -o /dev/null -w '%%{http_code}' --max-time 20 %s || true", url) or 0)


def get_json(host, url):
    return json.loads(host.check_output("curl -sf --max-time 20 %s", url))


def model_digests(host, folder):
    """The multiset of sha256 digests of every model file under folder (not our own records: the dot folders of
    hf_model and model_links, and the archive's ledger)."""
    output = host.check_output(
        "find %s -type f -not -path '*/.*' -not -name '*.jsonl' -print0 | xargs -0 -r sha256sum", folder)
    return collections.Counter(line.split()[0] for line in output.splitlines())


# --- the converged host ------------------------------------------------------------------------------------------


def test_a_rerun_of_site_yml_changes_nothing_and_prints_its_time(capsys):
    code, output, seconds = ansible_playbook("converge.yml")
    assert code == 0, output[-3000:]
    assert recap(output)["changed"] == 0, output[-5000:]
    with capsys.disabled():
        print("\nno-op re-run of site.yml on the converged container: %.0f s (changed=0)" % seconds)


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_is_enabled_and_active(host, unit):
    service = host.service(unit)
    assert service.is_enabled
    assert host.run("systemctl is-active %s", unit).stdout.strip() == "active"


def test_swarmui_and_the_app_answer(host):
    assert http_status(host, "http://127.0.0.1:7801/") == 200
    assert http_status(host, "http://127.0.0.1:17801/api/settings/safety-level") == 200
    page = host.check_output("curl -sf --max-time 20 http://127.0.0.1:17801/")
    assert "<div id=\"app\"" in page or "<div id='app'" in page, page[:500]


@pytest.mark.parametrize("port", [7821, 11434])
def test_comfyui_and_ollama_listen_on_loopback_only(host, port):
    listeners = host.check_output("ss -Htln sport = :%s", str(port)).splitlines()
    addresses = {line.split()[3].rsplit(":", 1)[0] for line in listeners}
    assert addresses == {"127.0.0.1"}, listeners


@pytest.mark.parametrize("link", LINKS)
def test_comfyui_lists_every_model_the_store_links(host, link):
    folder, name = link.split("/", 1)
    path = "%s/models/%s" % (COMFYUI, link)
    assert host.file(path).is_symlink, path
    target = host.check_output("readlink -f %s", path)
    assert target.startswith(MODELS + "/"), target  # into the store on the model disk
    assert name in get_json(host, "http://127.0.0.1:7821/models/%s" % FOLDER_KEYS.get(folder, folder))


def test_the_storage_report_is_written(host):
    report = host.file(REPORT)
    assert report.is_file and report.user == "ai4artsed"
    text = report.content_string
    assert text.startswith("# Model storage report")
    assert "## Broken links\n\nnone" in text


def test_no_secret_in_a_log_a_unit_or_the_process_list(host):
    units = " ".join("'%s'" % unit for unit in UNITS)
    places = {
        "journal": host.check_output("journalctl --no-pager -o cat"),
        "systemctl show": host.check_output("systemctl show %s" % units),
        "unit files": host.check_output("systemctl cat %s" % units),
        "process list": host.check_output("ps -eo args"),
    }
    assert "server.py" in places["process list"] and "ComfyUI" in places["journal"]
    for place, text in places.items():
        for secret in SECRET_VALUES:
            assert secret not in text, "a secret is in the %s" % place


def test_no_world_readable_file_holds_a_secret(host):
    pattern = " ".join(["-e %s"] * len(SECRET_VALUES))
    found = host.run(
        "find /etc /home /opt /srv /var /root /tmp /run -xdev -type f -perm -o=r -size -2M "
        "-not -path '*/venv/*' -not -path '*/node_modules/*' -not -path '/var/cache/ai4artsed/*' -print0"
        " | xargs -0 grep -lF " + pattern, *SECRET_VALUES)
    assert found.stdout.strip() == "", found.stdout


@pytest.mark.parametrize("path, mode, owner", [
    ("/etc/ai4artsed/devserver-production.env", 0o640, "root"),
    (HOME + "/ai/ai4artsed_production/devserver/settings_password.key", 0o600, "ai4artsed"),
    ("/etc/cloudflared/%s.json" % GROUP_VARS["vault_cloudflared_credentials"]["TunnelID"], 0o600, "cloudflared"),
])
def test_files_holding_secrets_are_not_world_readable(host, path, mode, owner):
    secret_file = host.file(path)
    assert secret_file.is_file, path
    assert secret_file.mode == mode and secret_file.user == owner, (oct(secret_file.mode), secret_file.user)


# --- security figures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_security_exposure_meets_the_target(security_exposure, unit):
    assert security_exposure(unit) <= EXPOSURE_TARGET


@pytest.mark.parametrize("unit, account", SERVICES.items())
def test_every_service_runs_as_its_own_non_root_account(host, capsys, unit, account):
    main_pid = int(host.check_output("systemctl show -p MainPID --value %s", unit))
    assert main_pid > 0
    user = host.check_output("ps -o user= -p %s", str(main_pid))
    with capsys.disabled():
        print("\n%s runs as %s (pid %d)" % (unit, user, main_pid))
    assert user == account != "root"


@pytest.mark.parametrize("port, allowed_reaches", [
    (17811, True),   # the app's proxy: loopback and firewall_allowed_networks
    (17801, False),  # the app itself: the workstation only (it logs a peer 127.0.0.1 in)
    (7801, False),   # SwarmUI: swarmui_host is loopback in production
    (7821, False),   # ComfyUI
    (11434, False),  # Ollama
    (20241, False),  # cloudflared's metrics
    (20242, False),  # the cloudflared stand-in's edge (loopback: the tunnel's visitors come through Cloudflare)
])
@pytest.mark.parametrize("family", ["IPv4", "IPv6"])
def test_only_the_apps_proxy_is_reached_from_outside_the_host(outside_client, capsys, port, allowed_reaches, family):
    client = outside_client
    allowed_source, outside_source = ((client.ALLOWED_IPV4, client.OUTSIDE_IPV4) if family == "IPv4"
                                      else (client.ALLOWED_IPV6, client.OUTSIDE_IPV6))
    allowed = client.request(port, allowed_source, "/")
    outside = client.request(port, outside_source, "/")
    with capsys.disabled():
        print("\nport %d from outside (%s): allow-listed address %s, other address %s" % (port, family, allowed, outside))
    assert isinstance(allowed, int) if allowed_reaches else allowed == "refused"
    assert outside == "refused"


# --- the fault round -----------------------------------------------------------------------------------------------

# One of each kind, in places an operator could touch (vars/test_sources.yml and the roles' defaults name them)
STOPPED_SERVICE = "ollama"
EDITED_UNIT = "/etc/systemd/system/comfyui.service"
SETTINGS_FDS = SWARMUI + "/Data/Settings.fds"
BROKEN_LINK = LINKS[0]
REMOVED_PACKAGE = "comfy-kitchen"


def truncated_model(host):
    """A model file of the store (the largest, so the truncation is a real loss) and its size."""
    line = host.check_output(
        "find %s -type f -not -path '*/.*' -printf '%%s %%p\\n' | sort -n | tail -1", MODELS)
    size, path = line.split(" ", 1)
    return path, int(size)


@pytest.fixture(scope="module")
def fault_round(host):
    """Put one drift of each kind into the converged host; return what was done and the model digests before."""
    before = {"store": model_digests(host, MODELS), "archive": model_digests(host, ARCHIVE)}
    model, size = truncated_model(host)
    host.run_test("systemctl stop %s", STOPPED_SERVICE)
    host.run_test("sed -i '/^\\[Service\\]/a Environment=OPERATOR_EDIT=1' %s", EDITED_UNIT)
    host.run_test("sed -i 's/\\tPort: 7801/\\tPort: 7802/' %s", SETTINGS_FDS)
    host.run_test("ln -sfn %s/no-such-model.safetensors %s/models/%s", MODELS, COMFYUI, BROKEN_LINK)
    host.run_test("truncate -s %s %s", str(size // 2), model)
    truncated = host.check_output("sha256sum %s", model).split()[0]
    host.run_test("runuser -u ai4artsed -- %s/venv/bin/python -m pip uninstall --yes --quiet %s", COMFYUI,
                  REMOVED_PACKAGE)
    return {"before": before, "model": model, "size": size, "truncated": truncated}


def test_drift_yml_names_every_fault_and_exits_non_zero(host, fault_round, capsys):
    code, output, seconds = ansible_playbook("drift.yml", check=True)
    with capsys.disabled():
        print("\ndrift.yml on the drifted host (%.0f s, exit %d):\n%s" % (seconds, code, output[-4000:]))
    assert code != 0
    report = (WORK / "drift-report.txt").read_text(encoding="utf-8")
    for where in (STOPPED_SERVICE, "comfyui.service", "Settings.fds", os.path.basename(BROKEN_LINK),
                  os.path.basename(fault_round["model"]), "comfy"):
        assert where in report, "%s is not in the drift report:\n%s" % (where, report)
    # a check changes nothing
    assert host.run("systemctl is-active %s", STOPPED_SERVICE).stdout.strip() != "active"
    assert host.file(fault_round["model"]).size == fault_round["size"] // 2


def test_the_next_converge_repairs_every_fault_without_the_token_in_any_arguments(host, fault_round, capsys):
    # Watch every process's arguments for the HF token while the converge downloads the truncated file again
    host.run_test("printf '%%s' %s > /root/token-pattern", HF_TOKEN)
    host.run_test("systemd-run --unit site-cmdline-watch bash -c 'while :; do grep -alF -f /root/token-pattern"
                  " /proc/[0-9]*/cmdline >> /root/cmdline-hits 2>/dev/null; sleep 0.05; done'")
    try:
        code, output, seconds = ansible_playbook("converge.yml")
    finally:
        host.run("systemctl stop site-cmdline-watch")
    with capsys.disabled():
        print("\nthe repairing converge: %.0f s, %s" % (seconds, recap(output)))
    assert code == 0, output[-5000:]
    assert host.run("cat /root/cmdline-hits").stdout.strip() == "", "the HF token was in a process's arguments"
    assert host.run("systemctl is-active %s", STOPPED_SERVICE).stdout.strip() == "active"
    assert "OPERATOR_EDIT" not in host.file(EDITED_UNIT).content_string
    assert "OPERATOR_EDIT" not in host.check_output("systemctl show -p Environment comfyui")
    assert "\tPort: 7801" in host.file(SETTINGS_FDS).content_string
    link = "%s/models/%s" % (COMFYUI, BROKEN_LINK)
    assert host.check_output("readlink -f %s", link).startswith(MODELS + "/")
    assert host.file(host.check_output("readlink -f %s", link)).is_file
    assert host.file(fault_round["model"]).size == fault_round["size"]
    assert host.run("%s/venv/bin/python -m pip show %s", COMFYUI, REMOVED_PACKAGE).rc == 0
    # Not a byte lost: the store holds exactly the files it held before, and the damaged copy was moved into the
    # archive (never deleted), with a ledger line; the archive lost nothing.
    assert model_digests(host, MODELS) == fault_round["before"]["store"]
    gained = model_digests(host, ARCHIVE) - fault_round["before"]["archive"]
    assert gained == collections.Counter([fault_round["truncated"]])
    assert not fault_round["before"]["archive"] - model_digests(host, ARCHIVE)
    assert fault_round["model"] in host.file(ARCHIVE + "/ledger.jsonl").content_string


def test_drift_yml_finds_nothing_after_the_repair(capsys):
    code, output, seconds = ansible_playbook("drift.yml", check=True)
    with capsys.disabled():
        print("\ndrift.yml after the repair: %.0f s, exit %d" % (seconds, code))
    assert code == 0, output[-5000:]


def test_a_full_model_disk_stops_the_run_early_and_changes_nothing(host):
    free = int(host.check_output("df --output=avail -B1 %s | tail -1", MODEL_DISK))
    fill = free - MIN_FREE_GB * 10 ** 9 // 4  # leaves a quarter of what the preflight asks for
    host.run_test("fallocate -l %s %s/fill.bin", str(fill), MODEL_DISK)
    try:
        code, output, _seconds = ansible_playbook("converge.yml")
    finally:
        host.run("rm -f %s/fill.bin", MODEL_DISK)
    assert code != 0
    assert "Not enough free disk space for %s" % MODEL_DISK in words(output), output[-3000:]
    assert "(common_min_free_disk_gb)" in words(output), output[-3000:]
    assert recap(output)["changed"] == 0


def test_a_pending_driver_reboot_stops_the_gpu_services_with_one_message(host):
    code, output, _seconds = ansible_playbook("converge.yml", {"nvidia_driver_state": "installed_pending_reboot"})
    assert code != 0
    assert output.count("fatal: ") == 1, output[-3000:]  # one task stops the host, no later role runs
    assert "Ollama needs the GPU" in words(output) and "the host must reboot first" in words(output)
    assert "Reboot the host (sudo systemctl reboot), then run the playbook again" in words(output)
    assert recap(output)["changed"] == 0
