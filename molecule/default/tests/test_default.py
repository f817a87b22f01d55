"""What an operator checks after the common role ran on a fresh Debian 12 host."""

import re

import pytest

SERVICE_USER = "ai4artsed"
HOME = "/home/ai4artsed"


def test_service_account_is_an_unprivileged_system_user(host):
    user = host.user(SERVICE_USER)
    assert user.exists
    assert user.group == SERVICE_USER
    assert user.home == HOME
    assert user.shell == "/bin/bash"
    assert 0 < user.uid < 1000, "a system account, outside the range of people's accounts"
    assert "sudo" not in user.groups


@pytest.mark.parametrize(
    ("path", "mode"),
    [
        (HOME, 0o750),
        (f"{HOME}/ai", 0o755),
        (f"{HOME}/ai/SwarmUI", 0o755),
        (f"{HOME}/ai/SwarmUI/Models", 0o755),
        (f"{HOME}/ai/model-archive", 0o750),
    ],
)
def test_base_tree_is_owned_by_the_service_user(host, path, mode):
    directory = host.file(path)
    assert directory.is_directory
    assert not directory.is_symlink
    assert directory.user == SERVICE_USER
    assert directory.group == SERVICE_USER
    assert directory.mode == mode


@pytest.mark.parametrize("package", ["git", "curl", "acl", "python3-venv", "zstd", "ca-certificates"])
def test_base_packages_are_installed(host, package):
    assert host.package(package).is_installed


def test_service_user_can_build_a_venv_in_its_tree(host):
    venv = f"{HOME}/ai/.probe-venv"
    try:
        result = host.run(f"sudo -u {SERVICE_USER} python3 -m venv {venv} && {venv}/bin/python -c 'import sys; print(sys.prefix)'")
        assert result.rc == 0, result.stderr
        assert result.stdout.strip() == venv
    finally:
        host.run(f"rm -rf {venv}")


REFUSALS = [
    pytest.param(
        {"fake_facts": {"distribution": "Fedora", "version": "40"}},
        r"Unsupported platform: Fedora 40 on x86_64\. ai4artsed\.devserver supports Debian 12, "
        r"Ubuntu 22\.04, Ubuntu 24\.04 on x86_64",
        id="unsupported-distribution",
    ),
    pytest.param(
        {"fake_facts": {"distribution": "Ubuntu", "version": "20.04"}},
        r"Unsupported platform: Ubuntu 20\.04 on x86_64",
        id="unsupported-ubuntu-release",
    ),
    pytest.param(
        {"fake_facts": {"distribution": "Debian", "version": "12.8", "architecture": "aarch64"}},
        r"Unsupported platform: Debian 12\.8 on aarch64",
        id="unsupported-architecture",
    ),
    pytest.param(
        {"common_min_free_disk_gb": 100000},
        r"Not enough free disk space for /home/ai4artsed/ai: [0-9.]+ [KMGT]?B free on the filesystem "
        r"mounted at /, 100000 GB required \(common_min_free_disk_gb\)",
        id="disk-too-small",
    ),
]


@pytest.mark.parametrize(("extra_vars", "message"), REFUSALS)
def test_preflight_refuses_with_a_clear_message_and_changes_nothing(run_playbook, extra_vars, message):
    returncode, output = run_playbook("preflight_probe.yml", extra_vars)
    assert returncode != 0, output
    assert re.search(message, " ".join(output.split())), output
    assert re.search(r"changed=0\s", output), output


def test_preflight_passes_on_this_supported_host(run_playbook):
    returncode, output = run_playbook("preflight_probe.yml", {"common_min_free_disk_gb": 1})
    assert returncode == 0, output
    assert re.search(r"failed=0\s", output)
