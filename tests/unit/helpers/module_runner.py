"""The one way unit tests run an Ansible module: its main() in-process, as Ansible would call it."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args


def run_module(capsys, module, args, check_mode=False, diff=False):
    """Run module.main() with args; return (failed, result dict).

    failed is a bool, so `failed == 0` and `failed == 1` read as the exit code did.
    """
    arguments = {"_ansible_check_mode": check_mode, "_ansible_diff": diff}
    arguments.update(args)  # a test may pass _ansible_check_mode itself
    with patch_module_args(arguments), pytest.raises(SystemExit) as exit_info:
        module.main()
    return exit_info.value.code != 0, json.loads(capsys.readouterr().out)
