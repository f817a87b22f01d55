#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hf_model_progress
short_description: Read the progress of an hf_model download running as an async task
version_added: "0.1.0"
description:
  - Reads the progress file that M(ai4artsed.devserver.hf_model) rewrites about once a second, and the results
    file of the async job that runs it, and returns one line a person can watch (for example
    C(3.2 / 35.5 GB, 110 MB/s, ETA 5 min)) and whether the job has finished.
  - Meant for a loop with C(loop_control.pause), C(loop_control.break_when) on RV(finished) and the line as the
    loop label, so progress is printed while a long download runs in the background and survives a dropped
    SSH connection.
  - Reads only. Collect the job's result with C(ansible.builtin.async_status) afterwards.
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  root:
    description:
      - The O(ai4artsed.devserver.hf_model#module:root) of the job; its progress file is read where
        M(ai4artsed.devserver.hf_model) writes it by default, C(progress.json) in the C(.hf_model) folder below O(root).
      - Exactly one of O(root) and O(progress_file) is needed.
    type: path
  progress_file:
    description:
      - The O(ai4artsed.devserver.hf_model#module:progress_file) of the job, for a job that set it (or
        O(ai4artsed.devserver.hf_model#module:state_dir)) explicitly.
      - Exactly one of O(root) and O(progress_file) is needed.
    type: path
  results_file:
    description:
      - The C(results_file) that an async task started with C(poll=0) returns. Without it RV(finished) is false.
    type: path
  started:
    description:
      - Unix time the job was started; a progress file older than that is from an earlier run and is not shown.
    type: float
extends_documentation_fragment:
  - ai4artsed.devserver.read_only
seealso:
  - module: ai4artsed.devserver.hf_model
"""

EXAMPLES = r"""
- name: Start the downloads in the background
  ai4artsed.devserver.hf_model:
    root: /home/ai4artsed/ai/SwarmUI/Models
    files: "{{ files }}"
  async: 86400
  poll: 0
  register: job

- name: Print progress every 10 seconds until the job has finished
  ai4artsed.devserver.hf_model_progress:
    root: /home/ai4artsed/ai/SwarmUI/Models
    results_file: "{{ job.results_file }}"
  register: poll
  loop: "{{ range(8640) | list }}"
  loop_control:
    pause: 10
    label: "{{ poll.line | default('starting') }}"
    break_when: poll.finished
"""

RETURN = r"""
finished:
  description: Whether the async job has written its final result.
  returned: always
  type: bool
line:
  description: The progress line, or C(waiting for the first progress report) before the first one.
  returned: always
  type: str
  sample: 3.2 / 35.5 GB, 110 MB/s, ETA 5 min
done_bytes:
  description: Bytes downloaded so far in this batch.
  returned: always
  type: int
total_bytes:
  description: Bytes this batch downloads.
  returned: always
  type: int
files_done:
  description: Files finished.
  returned: always
  type: int
files_total:
  description: Files in the batch.
  returned: always
  type: int
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_progress import default_progress_file, job_status


def main():
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path"},
            "progress_file": {"type": "path"},
            "results_file": {"type": "path"},
            "started": {"type": "float"},
        },
        mutually_exclusive=[("root", "progress_file")],
        required_one_of=[("root", "progress_file")],
        supports_check_mode=True,
    )
    params = module.params
    results_file = params["results_file"]
    if results_file and not os.path.isabs(results_file):
        module.fail_json(msg="results_file must be absolute, as async tasks return it: %s" % results_file)
    progress_file = params["progress_file"] or default_progress_file(params["root"])
    module.exit_json(changed=False, **job_status(progress_file, results_file, params["started"]))


if __name__ == "__main__":
    main()
