"""drift_findings: what kind of thing drifted and where, from one task result, and the report's text."""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.drift_findings import (
    HIDDEN,
    compact,
    describe,
    finding,
    format_report,
    has_drift,
    unreachable,
)

VENV_MESSAGE = (
    "Would update /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/venv: torch (torch==2.9.1 torchvision==0.24.1) from "
    "https://download.pytorch.org/whl/cu130, ComfyUI's requirements.txt, comfy-kitchen, the pins (numpy<2) and the "
    "requirements of ai4artsed_comfyui. Differences now: comfy-kitchen is not installed in the venv (wanted any)")

# (case, module, task name, module args, result, category, places, words in the detail)
CASES = [
    ("a stopped service", "ansible.builtin.systemd_service", "Service | Enable and start comfyui.service",
     {"name": "comfyui", "state": "started", "enabled": True}, {"changed": True, "status": {"ActiveState": "inactive"}},
     "units", ["comfyui"], ["would be started", "now inactive"]),
    ("an edited unit file", "ansible.builtin.template", "Service | Write comfyui.service",
     {"dest": "/etc/systemd/system/comfyui.service"}, {"changed": True},
     "units", ["/etc/systemd/system/comfyui.service"], ["content"]),
    ("an edited config file", "ansible.builtin.copy", "Config | Write it",
     {"dest": "/etc/ai4artsed/app.conf"}, {"changed": True, "diff": []},
     "files", ["/etc/ai4artsed/app.conf"], ["content"]),
    ("a folder with the wrong mode", "ansible.builtin.file", "Service | The folders",
     {"path": "/srv/x", "state": "directory"},
     {"changed": True, "path": "/srv/x", "diff": {"before": {"path": "/srv/x", "mode": "0700"},
                                                  "after": {"path": "/srv/x", "mode": "0755"}}},
     "files", ["/srv/x"], ["mode 0700 -> 0755"]),
    ("a plain link", "ansible.builtin.file", "Link it", {"src": "/a", "dest": "/b", "state": "link"},
     {"changed": True, "dest": "/b"}, "links", ["/b"], ["link to /a"]),
    ("a broken model link", "ai4artsed.devserver.model_links", "Links | Link the models",
     {"link_root": "/c/models"},
     {"changed": True, "link_root": "/c/models",
      "changes": [{"action": "relink", "path": "vae/a.safetensors"}, {"action": "record", "path": ".rec"}]},
     "links", ["relink /c/models/vae/a.safetensors"], []),
    ("a changed Settings.fds key", "ai4artsed.devserver.swarmui_settings", "Settings | SwarmUI's settings",
     {"path": "/s/Data/Settings.fds"},
     {"changed": True, "path": "/s/Data/Settings.fds", "changes": [{"key": "Network.Port", "before": "1", "after": "7801"}]},
     "settings", ["/s/Data/Settings.fds"], ["keys Network.Port"]),
    ("an app setting", "ai4artsed.devserver.devserver_settings", "Settings | Merge",
     {"path": "/o/user_settings.json"}, {"changed": True, "path": "/o/user_settings.json", "set_keys": ["UI_MODE"]},
     "settings", ["/o/user_settings.json"], ["keys UI_MODE"]),
    ("a truncated model file, checked in place", "ai4artsed.devserver.hf_model", "Downloads | Check the files in place",
     {}, {"changed": True, "files": [{"dest": "/m/a.safetensors", "action": "replace"},
                                     {"dest": "/m/b.safetensors", "action": "unchanged"}]},
     "model files", ["replace /m/a.safetensors"], []),
    ("a model file, collected from the background job", "ansible.builtin.async_status",
     "Downloads | Collect the result of the downloads", {"jid": "1"},
     {"changed": True, "files": [{"dest": "/m/a.safetensors", "action": "download"}]},
     "model files", ["download /m/a.safetensors"], []),
    ("a package missing from the ComfyUI venv", "ansible.builtin.debug", "Venv | Report what a real run would install",
     {}, {"changed": True, "msg": VENV_MESSAGE},
     "packages", [], ["Would update /home/ai4artsed", "comfy-kitchen is not installed in the venv"]),
    ("an apt package", "ansible.builtin.apt", "Packages | Install", {"name": ["git", "curl"]}, {"changed": True},
     "packages", ["git, curl"], ["would be present"]),
    ("a checkout at another commit", "ansible.builtin.git", "Checkout | Clone", {"dest": "/opt/app"},
     {"changed": True, "before": "abc", "after": "def"}, "files", ["/opt/app"], ["at abc, wanted def"]),
    ("a command", "ansible.builtin.command", "Rules | Apply the rule set", {"argv": ["nft", "-f", "/etc/x.nft"]},
     {"changed": True}, "other", ["nft -f /etc/x.nft"], []),
    ("a failed task", "ansible.builtin.uri", "Health | ComfyUI answers", {"url": "http://127.0.0.1:7821"},
     {"failed": True, "msg": "Connection refused"}, "other", ["http://127.0.0.1:7821"], ["failed: Connection refused"]),
]


@pytest.mark.parametrize("case, module, task, args, result, category, places, words", CASES, ids=[c[0] for c in CASES])
def test_describe_says_what_drifted_and_where(case, module, task, args, result, category, places, words):
    got_category, got_places, detail = describe(module, args, result, task)

    assert got_category == category
    assert got_places == places
    for word in words:
        assert word in detail


def test_many_places_are_cut_with_a_count():
    result = {"changed": True, "link_root": "/r",
              "changes": [{"action": "link", "path": "f%d" % number} for number in range(8)]}

    _category, places, _detail = describe("model_links", {}, result)

    assert places[:5] == ["link /r/f%d" % number for number in range(5)]
    assert places[5:] == ["and 3 more"]


@pytest.mark.parametrize("text, limit, expected", [
    ("short  message\n over lines", 100, "short message over lines"),
    ("a" * 50 + "b" * 50, 40, "a" * 13 + " ... " + "b" * 22),
])
def test_compact_keeps_the_start_and_the_end(text, limit, expected):
    assert compact(text, limit) == expected


def test_the_report_groups_by_host_and_kind():
    findings = [
        finding("ws", "comfyui", "Service | Enable and start comfyui.service", "systemd_service",
                {"name": "comfyui", "state": "started"}, {"changed": True}),
        finding("ws", "model_store", "Links | Link", "model_links", {},
                {"changed": True, "link_root": "/c", "changes": [{"action": "relink", "path": "vae/a"}]}),
        finding("ws", "swarmui", "Health | Answers", "uri", {}, {"failed": True, "msg": "refused"}, state="failed"),
        unreachable("other", "Gathering Facts", "ssh: connect to host other port 22: No route to host"),
    ]

    text = format_report(findings, ["ws", "other", "fine"])

    assert text.splitlines() == [
        "drift: 4 findings on other, ws (checked: fine, other, ws)",
        "other: 1 finding",
        "  other:",
        "    UNREACHABLE unreachable: ssh: connect to host other port 22: No route to host (Gathering Facts)",
        "ws: 3 findings",
        "  units:",
        "    comfyui - would be started (comfyui: Service | Enable and start comfyui.service)",
        "  links:",
        "    relink /c/vae/a (model_store: Links | Link)",
        "  other:",
        "    FAILED failed: refused (swarmui: Health | Answers)",
    ]
    assert has_drift(text)


def test_no_findings_is_no_drift():
    text = format_report([], ["ws"])

    assert text == "no drift on ws\n"
    assert not has_drift(text)


SECRET = "hunter2-5d41402abc"

# (case, module, task name, module args, result, state, category) of tasks with no_log, a secret in each
NO_LOG_CASES = [
    ("a debug message", "ansible.builtin.debug", "Secrets | Report the token",
     {"msg": "token " + SECRET}, {"changed": True, "msg": "token " + SECRET}, "would change", "other"),
    ("a command line", "ansible.builtin.command", "Secrets | Log in", {"_raw_params": "login --token " + SECRET},
     {"changed": True, "cmd": ["login", "--token", SECRET], "stdout": SECRET}, "would change", "other"),
    ("a failed request", "ansible.builtin.uri", "Secrets | Ask the API", {"url": "http://h/?token=" + SECRET},
     {"failed": True, "msg": "refused: http://h/?token=" + SECRET, "url": "http://h/?token=" + SECRET}, "failed",
     "other"),
    ("a file whose name and diff hold it", "ansible.builtin.copy", "Secrets | Write the key file",
     {"dest": "/k/" + SECRET}, {"changed": True, "dest": "/k/" + SECRET,
                                "diff": [{"before": {"content": ""}, "after": {"content": SECRET}}]},
     "would change", "files"),
]


@pytest.mark.parametrize("case, module, task, args, result, state, category", NO_LOG_CASES,
                         ids=[c[0] for c in NO_LOG_CASES])
def test_a_no_log_finding_keeps_its_task_and_hides_the_rest(case, module, task, args, result, state, category):
    item = finding("ws", "vault_user", task, module, args, result, state, no_log=True)

    assert item == {"host": "ws", "role": "vault_user", "task": task, "category": category, "where": [],
                    "detail": HIDDEN, "state": state}
    assert SECRET not in format_report([item], ["ws"])


def test_an_unreachable_no_log_task_hides_the_message():
    item = unreachable("ws", "Secrets | Log in", "ssh: no route to " + SECRET, no_log=True)

    assert item["detail"] == "unreachable: " + HIDDEN
    assert SECRET not in format_report([item], ["ws"])
