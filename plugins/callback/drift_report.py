# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: drift_report
type: aggregate
short_description: Say what a check-mode run of the site would change, and where
version_added: 0.1.0
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
description:
  - Used by C(playbooks/drift.yml). In the plays that set the variable C(ai4artsed_drift_check) to true, it records
    every task result that is changed (in check mode that means it would change, which is drift) and every failure and
    unreachable host, with the role, the task and where (the unit, the file, the link, the package, the settings
    keys, the model file).
  - At the end of the run it prints a short report grouped by host and by kind (units, files, links, packages,
    settings, model files, other) and writes it to O(report_path). The report's first line starts with
    C(no drift) when nothing was found, with C(drift) otherwise.
  - Plays without C(ai4artsed_drift_check) are not recorded and, when no play sets it, the callback writes and prints
    nothing, so it can stay enabled for ordinary runs of C(site.yml).
  - Handlers are not recorded; they only run because a task that is recorded changed.
  - Failures of tasks with C(ignore_errors) are not recorded.
  - A task with C(no_log) (or a loop item whose C(no_log) is true) appears by its role, its name and whether it would
    change or failed, with "details hidden (no_log)" in place of where and what; nothing from its arguments (a
    command line, a URL, a message, a path, the loop item) or its result reaches the console or the report file.
requirements:
  - Enabled in the configuration, for example C(callbacks_enabled = ai4artsed.devserver.drift_report) in the
    C([defaults]) section of C(ansible.cfg) (this repository's C(ansible.cfg) does), or the environment variable
    E(ANSIBLE_CALLBACKS_ENABLED=ai4artsed.devserver.drift_report).
options:
  report_path:
    description:
      - The file the report is written to, on the controller. Its folder is created when missing.
      - The report is written to a new file (mode C(0600), or C(0640) with O(report_group)) that replaces the old one,
        so a report an older run left readable by others is replaced too, and no other account can read it while
        it is written.
      - When the path is a symlink (or anything but a regular file) the report is not written and a warning names
        the path, so a link planted there cannot send it to another file.
      - C(playbooks/drift.yml) reads the same environment variable to find the report.
    type: path
    default: ~/.ansible/ai4artsed-drift-report.txt
    env:
      - name: AI4ARTSED_DRIFT_REPORT
    ini:
      - section: ai4artsed_drift_report
        key: report_path
  report_group:
    description:
      - The name of a group whose members may read the report. The file is then written C(0640) with this group;
        without it C(0600), readable by its owner only. It is never readable by others.
      - The account that runs the check must be root or a member of the group. When the group does not exist or
        the account is not in it, the report is written C(0600) and a warning says why.
    type: str
    env:
      - name: AI4ARTSED_DRIFT_REPORT_GROUP
    ini:
      - section: ai4artsed_drift_report
        key: report_group
"""

import grp
import os

from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase
from ansible.utils.color import stringc
from ansible import constants as C

from ansible_collections.ai4artsed.devserver.plugins.module_utils.drift_findings import (
    finding,
    format_report,
    has_drift,
    unreachable,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.fileutil import make_folder
from ansible_collections.ai4artsed.devserver.plugins.module_utils.safe_file import write_text

MARKER = "ai4artsed_drift_check"


def _truthy(value):
    return value is True or str(value).strip().lower() in ("true", "yes", "on", "1")


def _task_fields(result):
    """The task's templated fields (per loop item for item results); task_fields from ansible-core 2.19 on."""
    fields = getattr(result, "task_fields", None)
    if fields is None:
        fields = getattr(result, "_task_fields", None) or {}
    return fields


def _result_dict(result):
    data = getattr(result, "result", None)
    return data if data is not None else result._result


def _task(result):
    task = getattr(result, "task", None)
    return task if task is not None else result._task


def _no_log(result):
    """Whether the task's output must stay out of the report: no_log on the task, or on this loop item.

    ansible-core censors the result of such a task but not its templated arguments (task_fields), which is
    where a command line, a URL or a message holds the secret. A no_log that is a template is decided per
    loop item; the executor writes the answer into each result as _ansible_no_log.
    """
    return (_truthy(_result_dict(result).get("_ansible_no_log")) or _truthy(_task_fields(result).get("no_log"))
            or _truthy(getattr(_task(result), "no_log", False)))


def _role_name(task):
    role = getattr(task, "_role", None)
    if role is None:
        return ""
    try:
        return role.get_name(include_role_fqcn=False)
    except TypeError:
        return role.get_name()


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ai4artsed.devserver.drift_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._recording = False
        self._used = False
        self._findings = []
        self._hosts = set()

    def v2_playbook_on_play_start(self, play):
        if self._recording:
            # drift.yml's last play reads the report, so it is written before that play starts.
            self._write(format_report(self._findings, self._hosts))
        self._recording = _truthy(play.vars.get(MARKER, False))
        self._used = self._used or self._recording

    def _should_record(self, result):
        return self._recording and not isinstance(_task(result), Handler)

    def _add(self, result, state):
        task = _task(result)
        fields = _task_fields(result)
        data = _result_dict(result)
        self._findings.append(finding(
            result._host.get_name(), _role_name(task), fields.get("name") or task.get_name(),
            fields.get("action") or task.action, fields.get("args") or {}, data, state, no_log=_no_log(result)))

    def _note_host(self, result):
        if self._recording:
            self._hosts.add(result._host.get_name())

    def v2_runner_on_ok(self, result):
        self._note_host(result)
        data = _result_dict(result)
        # A loop's items were recorded one by one (v2_runner_item_on_ok).
        if self._should_record(result) and data.get("changed") and "results" not in data:
            self._add(result, "would change")

    def v2_runner_item_on_ok(self, result):
        if self._should_record(result) and _result_dict(result).get("changed"):
            self._add(result, "would change")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._note_host(result)
        if self._should_record(result) and not ignore_errors and "results" not in _result_dict(result):
            self._add(result, "failed")

    def v2_runner_item_on_failed(self, result):
        if self._should_record(result) and not _truthy(_task_fields(result).get("ignore_errors")):
            self._add(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._note_host(result)

    def v2_runner_on_unreachable(self, result):
        self._note_host(result)
        if self._recording:
            task = _task(result)
            self._findings.append(unreachable(result._host.get_name(), _task_fields(result).get("name") or task.get_name(),
                                              _result_dict(result).get("msg"), no_log=_no_log(result)))

    def _report_gid(self, path):
        """report_group's gid, or -1 (the file stays 0600) without one or when it cannot be given to the file."""
        group = self.get_option("report_group")
        if not group:
            return -1
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            self._display.warning("The drift report's group %s (report_group, AI4ARTSED_DRIFT_REPORT_GROUP): there is "
                                  "no such group on this host. Create it or unset report_group; until then %s is "
                                  "written 0600, readable by its owner only." % (group, path))
            return -1
        # Only root or a member may give a file to a group (chown would fail and no report would be written).
        if os.geteuid() != 0 and gid != os.getegid() and gid not in os.getgroups():
            self._display.warning("The drift report's group %s (report_group, AI4ARTSED_DRIFT_REPORT_GROUP): this "
                                  "account is not in it. Add the account to the group or unset report_group; until "
                                  "then %s is written 0600, readable by its owner only." % (group, path))
            return -1
        return gid

    def _write(self, report):
        path = os.path.expanduser(self.get_option("report_path"))
        gid = self._report_gid(path)
        try:
            make_folder(os.path.dirname(path) or os.curdir)
            # safe_file writes a new file every time (a report an older run left 0644 is replaced, not rewritten),
            # 0600 until it has its group and mode and then renamed over the path, so no other account can read it
            # at any moment; it refuses a symlink at the path, which could send the report to any file we may write.
            write_text(path, report, mode=0o600 if gid == -1 else 0o640, gid=gid, what="the drift report")
        except (ValueError, OSError) as error:  # safe_file's UnsafeFile is a ValueError that says what to do
            self._display.warning("The drift report was not written: %s" % error)
        return path

    def v2_playbook_on_stats(self, stats):
        if not self._used:
            return
        report = format_report(self._findings, self._hosts)
        path = self._write(report)
        color = C.COLOR_CHANGED if has_drift(report) else C.COLOR_OK
        self._display.display("\nDRIFT REPORT (also in %s)\n%s" % (path, stringc(report.rstrip("\n"), color)))
