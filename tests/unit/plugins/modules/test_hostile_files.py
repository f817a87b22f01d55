"""Every module that writes a file it was given, against what an account owning the folder can plant at its path.

The module must fail at once with a message that names the path and what is there, read nothing from a symlink's
target, change nothing, and no byte of the target may appear in its result, its diff or -vvv (the whole JSON it
returns). Each case failed before safe_file: swarmui_settings copied the root-only file into a new file owned by
the service account, devserver_settings copied a root-only JSON file into a 0644 file and returned its keys, and
a FIFO hung them.
"""

import json
import multiprocessing
import os
import sys
import threading

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.ai4artsed.devserver.plugins.module_utils import owned_file
from ansible_collections.ai4artsed.devserver.plugins.modules import (
    devserver_password,
    devserver_settings,
    model_mirror_report,
    model_storage_report,
    swarmui_settings,
)
from helpers.hostile import KIND_IDS, KINDS, SECRET, no_hang, plant, secret_file, snapshot
from helpers.module_runner import run_module


def swarmui(folder, path):
    return swarmui_settings, {"path": path, "settings": {"Network.Port": 7801}, "owner": "root", "mode": "0644"}


def app_settings(folder, path):
    return devserver_settings, {"path": path, "settings": {"UI_MODE": "kids"}}


def app_password(folder, path):
    return devserver_password, {"path": path, "password": "a long enough password"}


def storage_report(folder, path):
    (folder / "Models").mkdir()
    return model_storage_report, {"store_root": str(folder / "Models"), "dest": path}


def mirror_report(folder, path):
    (folder / "cache").mkdir()
    return model_mirror_report, {"cache_dir": str(folder / "cache"), "dest": path}


# (module setup, the file's name): the secret file holds text each module would accept as its own.
MODULES = [(swarmui, "Settings.fds"), (app_settings, "user_settings.json"), (app_password, "settings_password.key"),
           (storage_report, "storage-report.md"), (mirror_report, "mirror-report.md")]
MODULE_IDS = ["swarmui_settings", "devserver_settings", "devserver_password", "model_storage_report",
              "model_mirror_report"]


def make_secret_parseable(tmp_path):
    """The root-only file as JSON that is also one FDS line, so a module that followed the link would accept it."""
    target = secret_file(tmp_path)
    target.write_text('{"OPENAI_API_KEY": "%s"}\n' % SECRET)
    target.chmod(0o600)


@pytest.mark.parametrize(("setup", "name"), MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize(("kind", "said"), KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_a_planted_file_fails_the_module_and_nothing_of_it_leaks(tmp_path, capsys, setup, name, kind, said,
                                                                 check_mode):
    make_secret_parseable(tmp_path)
    folder = tmp_path / "service-account-folder"
    folder.mkdir()
    path = folder / name
    module, args = setup(folder, str(path))
    plant(path, kind, tmp_path)
    before, listing = snapshot(tmp_path), sorted(os.listdir(str(folder)))
    with no_hang():
        failed, result = run_module(capsys, module, dict(args, _ansible_verbosity=3), check_mode=check_mode,
                                    diff=True)
    assert failed, result
    assert str(path) in result["msg"] and said in result["msg"]
    assert SECRET not in json.dumps(result) and "diff" not in result
    assert snapshot(tmp_path) == before and sorted(os.listdir(str(folder))) == listing


@pytest.mark.parametrize(("setup", "name"), MODULES, ids=MODULE_IDS)
def test_the_old_text_is_in_the_result_only_in_diff_mode(tmp_path, capsys, setup, name):
    module, args = setup(tmp_path, str(tmp_path / name))
    failed, first = run_module(capsys, module, args)
    assert not failed and "diff" not in first
    (tmp_path / name).write_text((tmp_path / name).read_text() + "\n")  # something for the next run to change
    failed, plain = run_module(capsys, module, args, check_mode=True)
    assert not failed and "diff" not in plain
    failed, with_diff = run_module(capsys, module, args, check_mode=True, diff=True)
    assert not failed and "diff" in with_diff


def _run_in_child(module, arguments, outcomes):
    """A run of the module in a process of its own, as two ansible-playbook runs would be."""
    sys.stdout = open(os.devnull, "w")  # the module's JSON; the exit code is what counts here
    try:
        with patch_module_args(arguments):
            module.main()
    except SystemExit as end:
        outcomes.put(end.code)


@pytest.mark.parametrize("module", [swarmui_settings, devserver_settings], ids=["swarmui_settings", "devserver_settings"])
def test_two_runs_at_once_on_one_file_never_lose_an_update(tmp_path, module, monkeypatch):
    """Each run sets a key of its own; both must be in the file afterwards, however their reads interleave."""
    path = tmp_path / ("Settings.fds" if module is swarmui_settings else "user_settings.json")
    processes = multiprocessing.get_context("fork")
    both_read, outcomes = processes.Barrier(2, timeout=3), processes.Queue()
    real_read = owned_file.read_text

    def read_then_wait_for_the_other(*args, **kwargs):
        text = real_read(*args, **kwargs)
        try:
            both_read.wait()  # without a lock both read the same old text here, and the later write wins
        except threading.BrokenBarrierError:
            pass  # the other run waits for the lock: it reads only after this one wrote
        return text

    monkeypatch.setattr(owned_file, "read_text", read_then_wait_for_the_other)
    runs = [processes.Process(target=_run_in_child, args=(module, {"path": str(path), "settings": {key: "set"},
                                                                   "_ansible_check_mode": False}, outcomes))
            for key in ("FirstKey", "SecondKey")]
    for run in runs:
        run.start()
    for run in runs:
        run.join(30)
    text = path.read_text()
    assert sorted([outcomes.get(timeout=1), outcomes.get(timeout=1)]) == [0, 0]
    assert "FirstKey" in text and "SecondKey" in text, text


@pytest.mark.parametrize(("setup", "name"), MODULES[3:], ids=MODULE_IDS[3:])
def test_a_report_into_a_folder_not_made_yet_is_a_change_in_check_mode_and_an_error_in_a_run(tmp_path, capsys, setup,
                                                                                             name):
    """Check mode on a fresh host: the common role would make the folder first."""
    module, args = setup(tmp_path, str(tmp_path / "not-yet" / name))
    failed, result = run_module(capsys, module, args, check_mode=True)
    assert not failed and result["changed"], result
    failed, result = run_module(capsys, module, args)
    assert failed and "the folder %s does not exist" % (tmp_path / "not-yet") in result["msg"]
    assert not (tmp_path / "not-yet").exists()


@pytest.mark.parametrize(("setup", "name"), MODULES, ids=MODULE_IDS)
def test_an_owner_not_created_yet_is_a_change_in_check_mode_and_an_error_in_a_run(tmp_path, capsys, setup, name):
    """Check mode on a fresh host: the common role creates the service account before these tasks."""
    module, args = setup(tmp_path, str(tmp_path / name))
    args = dict(args, owner="ai4artsed-not-yet", group="ai4artsed-not-yet")
    failed, result = run_module(capsys, module, args, check_mode=True)
    assert not failed and result["changed"], result
    failed, result = run_module(capsys, module, args)
    assert failed and "owner ai4artsed-not-yet: there is no such user" in result["msg"]
    assert not (tmp_path / name).exists()
