"""Every other input the hostile probe tried, one row each: a clear message that says what is wrong, never a
traceback, and nothing changed on disk.

Rows marked "was a traceback" or "was written" failed before this table existed: deep JSON in the app's settings
raised RecursionError, 1e400 in the file was rewritten as Infinity (not JSON), an infinite number or a lone
surrogate in the settings was written into the file, a number where hf_model wants text and a repo_id with a space
were tracebacks, a 2**31-iteration hash in the password file made the run compute for hours.
"""

import os

import pytest

from ansible_collections.ai4artsed.devserver.plugins.modules import (
    devserver_password,
    devserver_settings,
    hf_model,
    model_storage_report,
    swarmui_settings,
)
from helpers.hostile import no_hang
from helpers.module_runner import run_module

PASSWORD = "a long enough password"
HF = {"endpoint": "http://127.0.0.1:9", "revision": "c" * 40}  # nothing listens: no row may get that far


def hf_entry(**fields):
    entry = {"repo_id": "org/model", "filename": "model.safetensors", "dest": "model.safetensors"}
    entry.update(fields)
    return {"files": [entry], "endpoint": HF["endpoint"], "revision": HF["revision"]}


# (id, module, file name, the file's text (None: no file), arguments, words of the message)
CASES = [
    ("deep JSON in the app's settings (was a traceback)", devserver_settings, "user_settings.json",
     '{"UI_MODE": ' + "[" * 100000 + "]" * 100000 + "}", {"settings": {"UI_MODE": "kids"}}, "nested too deeply"),
    ("1e400 in the app's settings (was rewritten as Infinity)", devserver_settings, "user_settings.json",
     '{"SCALE": 1e400}', {"settings": {"UI_MODE": "kids"}}, "the number 1e400 is too large"),
    ("NaN in the app's settings", devserver_settings, "user_settings.json", '{"SCALE": NaN}',
     {"settings": {"UI_MODE": "kids"}}, "NaN is not a JSON number"),
    ("an infinite number to set (was written)", devserver_settings, "user_settings.json", None,
     {"settings": {"SCALE": float("inf")}}, "give finite numbers and valid text"),
    ("a lone surrogate to set (was written)", devserver_settings, "user_settings.json", None,
     {"settings": {"UI_MODE": "kids \udc80"}}, "surrogates not allowed"),
    ("a surrogate as a settings key (was written)", devserver_settings, "user_settings.json", None,
     {"settings": {"\udc80": 1}}, "surrogates not allowed"),
    ("an infinite number for SwarmUI (was written as inf)", swarmui_settings, "Settings.fds", None,
     {"settings": {"Network.Port": float("inf")}}, "inf is not a number SwarmUI can read"),
    ("a lone surrogate for SwarmUI", swarmui_settings, "Settings.fds", None,
     {"settings": {"LaunchMode": "\udc80"}}, "not valid Unicode"),
    ("mode as a YAML number", devserver_settings, "user_settings.json", None,
     {"settings": {}, "mode": 640}, "quote it"),
    ("mode with setuid", swarmui_settings, "Settings.fds", None, {"settings": {}, "mode": "4755"}, "setuid"),
    ("an owner id that overflows", devserver_settings, "user_settings.json", None,
     {"settings": {}, "owner": "99999999999999999999"}, "larger than any user id"),
    ("a group that does not exist", devserver_password, "settings_password.key", None,
     {"password": PASSWORD, "group": "no-such-group-24"}, "no such group"),
    ("a 2**31-iteration hash in the password file (computed for hours)", devserver_password, "settings_password.key",
     "pbkdf2:sha256:2147483648$abcdefgh12345678$00", {"password": PASSWORD}, "2147483648 iterations"),
    ("a scrypt hash that needs 128 GiB", devserver_password, "settings_password.key",
     "scrypt:1073741824:8:1$abcdefgh12345678$00", {"password": PASSWORD}, "MiB to check"),
    ("a number where hf_model wants text (was a traceback)", hf_model, None, None, hf_entry(sha256=5),
     "sha256 must be text, not int"),
    ("a repo_id the hub refuses (was a traceback)", hf_model, None, None, hf_entry(repo_id="org/a model"),
     "is not a Hugging Face repository id"),
    ("size as a word", hf_model, None, None, hf_entry(size="big"), "size must be a number of bytes"),
    ("an int where hf_model wants a list", hf_model, None, None, {"files": 5}, "files"),
    ("the report without store_root", model_storage_report, None, None, {}, "store_root"),
]


@pytest.mark.parametrize(("module", "name", "text", "args", "said"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_a_clear_message_and_changes_nothing(tmp_path, capsys, module, name, text, args, said):
    folder = tmp_path / "folder"
    folder.mkdir()
    args = dict(args)
    if name is not None:
        args["path"] = str(folder / name)
        if text is not None:
            (folder / name).write_text(text)
    if module is hf_model:
        args["root"] = str(folder)
    before = {entry: (folder / entry).read_bytes() for entry in os.listdir(str(folder))}
    with no_hang(20):
        failed, result = run_module(capsys, module, args)
    assert failed and said in result["msg"], result
    assert "Traceback" not in result["msg"] and "exception" not in result
    assert {entry: (folder / entry).read_bytes() for entry in os.listdir(str(folder))} == before
