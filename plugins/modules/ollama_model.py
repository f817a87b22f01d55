#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ollama_model
short_description: Pull a model into a running Ollama, or delete it, through Ollama's REST API
version_added: "0.1.0"
description:
  - Asks the Ollama server at O(host) whether it has the model (C(POST /api/show); a 404 means it has not),
    pulls it with the streaming C(POST /api/pull) when it is wanted and missing, and deletes it with
    C(DELETE /api/delete) for O(state=absent).
  - Names are normalised as Ollama does, so C(gpt-OSS:20b) and C(gpt-oss:20b) are one model; the missing
    parts are host C(registry.ollama.ai), namespace C(library) and tag C(latest). Requests use the
    lower-case name and RV(name) returns it as Ollama lists it.
  - A model Ollama already has is never pulled again; the module then sends nothing but C(POST /api/show).
  - While pulling, Ollama's progress lines are summed over all layers into bytes done and total, rate and ETA.
    They are written to O(progress_file) about once a second, for a person or a second task to watch, and
    the task returns a short log (RV(pull_log)), one line per status and layer.
  - The pull succeeds only when Ollama's stream ends in C(success). An C({"error"}) line inside the stream fails
    the task with Ollama's error; a stream that ends or breaks without C(success) fails saying the pull did not
    finish. Ollama keeps what it downloaded, so re-running the task resumes the pull.
  - Errors say what to do. Nothing listening at O(host) means Ollama is not running (C(systemctl start ollama)).
    A name the registry does not know means checking it on U(https://ollama.com/library). A registry that
    cannot be reached (DNS, route, proxy) means setting C(HTTPS_PROXY) for the ollama service. A full disk
    is reported with its folder (C(OLLAMA_MODELS)) and how much the model needs.
  - Uses the collection's bounded HTTP layer (Python's standard library), so nothing needs to be installed on the
    host; no proxy is used to reach O(host). C(show) and C(delete) answers are read within a total deadline and
    at most 1 MiB; a pull's stream line by line, at most 1 MiB a line. An answer that is not Ollama's (HTML, JSON
    of the wrong shape, too large) fails naming the URL and what was wrong.
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  name:
    description:
      - The model, as C([host/][namespace/]model[:tag]), for example C(gpt-oss:20b) or C(llama3.2-vision).
      - Compared case-insensitively; a name without a tag means C(:latest).
      - A name with a control character (a line break, tab or NUL, say from a file or template) is refused.
    type: str
    required: true
  state:
    description:
      - V(present) pulls the model when Ollama does not have it; V(absent) deletes it when it has.
    type: str
    choices: [present, absent]
    default: present
  host:
    description:
      - Ollama's base URL (the service's C(OLLAMA_HOST)), C(http://) or C(https://); any other scheme, such as
        C(file://), is refused before anything is asked.
      - A password in it (C(http://user:password@host:11434)) is sent as basic auth and shown as C(********) in
        every message and result.
    type: str
    default: http://127.0.0.1:11434
  timeout:
    description:
      - Seconds the whole pull may take, and the longest Ollama may stay silent during it (each read of the
        stream). A pull that runs out of time fails; re-running the task resumes it.
      - C(show) and C(delete) requests must be answered completely within 60 seconds, or O(timeout) when that is
        shorter, so a server that sends a byte now and then cannot keep them alive longer.
    type: int
    default: 3600
  insecure:
    description:
      - Passed to Ollama's pull as C(insecure), to allow a registry without valid TLS (a private registry).
        Recent Ollama versions ignore it.
    type: bool
    default: false
  progress_file:
    description:
      - Where the progress of a pull is written as JSON, replaced atomically about once a second and at each new
        status. Keys are C(model), C(status), C(done_bytes), C(total_bytes), C(files_done) and C(files_total) (layers,
        each one blob file), C(bytes_per_second), C(eta_seconds), C(line), C(finished), C(error) and C(updated).
      - The keys are those M(ai4artsed.devserver.hf_model_progress) reads, so its O(ai4artsed.devserver.hf_model_progress#module:progress_file)
        option can print the line of a pull running as an async task.
      - Not written when omitted, nor when nothing is pulled.
    type: path
attributes:
  check_mode:
    support: full
    description: Asks Ollama whether it has the model and reports whether a pull or delete would happen; pulls and deletes nothing.
  diff_mode:
    support: full
    description: Shows the model and whether Ollama has it, before and after.
  platform:
    support: full
    platforms: posix
    description: Runs on the POSIX hosts this collection provisions (Debian and Ubuntu).
seealso:
  - module: ai4artsed.devserver.hf_model_progress
  - name: Ollama REST API
    description: The routes this module uses.
    link: https://github.com/ollama/ollama/blob/main/docs/api.md
"""

EXAMPLES = r"""
- name: Pull the translation model (spelled as the DevServer app does)
  ai4artsed.devserver.ollama_model:
    name: gpt-OSS:20b

- name: Pull the image analysis model in the background, with a progress file
  ai4artsed.devserver.ollama_model:
    name: llama3.2-vision:latest
    timeout: 7200
    progress_file: /var/lib/ollama/pull-progress.json
  async: 7300
  poll: 0
  register: ollama_pull_job

- name: Print the pull's progress every 10 seconds until it has finished
  ai4artsed.devserver.hf_model_progress:
    progress_file: /var/lib/ollama/pull-progress.json
    results_file: "{{ ollama_pull_job.results_file }}"
  register: ollama_pull_progress
  loop: "{{ range(720) | list }}"
  loop_control:
    pause: 10
    label: "{{ ollama_pull_progress.line | default('starting') }}"
    break_when: ollama_pull_progress.finished

- name: Delete a model nobody uses any more
  ai4artsed.devserver.ollama_model:
    name: mistral:7b
    state: absent
"""

RETURN = r"""
name:
  description: The model's normalised name, as Ollama lists it (lower case, tag always given).
  returned: always
  type: str
  sample: gpt-oss:20b
qualified_name:
  description: The fully qualified name, C(host/namespace/model:tag).
  returned: always
  type: str
  sample: registry.ollama.ai/library/gpt-oss:20b
present:
  description: Whether Ollama has the model after the task (in check mode, would have).
  returned: success
  type: bool
pulled:
  description: Whether the model was pulled (in check mode, would be).
  returned: success
  type: bool
deleted:
  description: Whether the model was deleted (in check mode, would be).
  returned: success
  type: bool
details:
  description: Ollama's C(details) of the model (C(family), C(parameter_size), C(quantization_level), ...).
  returned: when Ollama has the model after the task (not in check mode before a pull)
  type: dict
  sample: {family: gptoss, parameter_size: 20.9B, quantization_level: MXFP4}
pull_log:
  description: What the pull went through, one line per status and per layer with its size (not every progress line).
  returned: when a pull ran, also on failure
  type: list
  elements: str
  sample: ["pulling manifest", "pulling b112e727c6f1: 13.8 GB", "pulling fa6710a93d78: 7.2 KB",
           "verifying sha256 digest", "writing manifest", "success"]
pulled_bytes:
  description: Bytes of all layers of the pulled model (layers already on disk included).
  returned: when a pull ran
  type: int
  sample: 13780203004
msg:
  description: What was done, or the error with what to do.
  returned: always
  type: str
error_kind:
  description:
    - On failure, the cause, one of C(invalid_name), C(server_not_running), C(server_unreachable), C(http_error),
      C(unknown_model), C(registry_unreachable), C(disk_full), C(incomplete), C(timeout), C(pull_error), C(protocol),
      C(invalid_option).
  returned: on failure
  type: str
  sample: registry_unreachable
"""

import time
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai4artsed.devserver.plugins.module_utils.bounded_http import HttpFailure, check_url
from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import human_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.ollama_api import (
    DEFAULT_HOST,
    REQUEST_TIMEOUT,
    OllamaClient,
    OllamaError,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.ollama_names import (
    InvalidModelName,
    parse_name,
    qualified_name,
    short_name,
)
from ansible_collections.ai4artsed.devserver.plugins.module_utils.ollama_pull import (
    PullFailed,
    PullProgress,
    classify_error,
    follow_pull,
)


class TaskFailed(Exception):
    """Ends the task with msg and error_kind; the result gathered so far goes with it."""

    def __init__(self, message, kind):
        super(TaskFailed, self).__init__(message)
        self.kind = kind


def pull(client, name, registry, params, result):
    """Pull through the streaming API until success; TaskFailed otherwise. pull_log lands in result either way."""
    progress = PullProgress(name, params["progress_file"])
    deadline = time.monotonic() + params["timeout"]
    try:
        try:
            answer_stream = client.pull(name, params["insecure"], idle=params["timeout"])
        except OllamaError as error:
            # An error before the stream began (an HTTP status with Ollama's {"error"}), same causes as inside it.
            if error.error is None:
                raise TaskFailed(str(error), error.kind)
            raise classify_error(error.error, name, registry, progress)
        with answer_stream:
            follow_pull(answer_stream.lines(), progress, name, registry, deadline=deadline)
    except PullFailed as failure:
        raise TaskFailed(str(failure), failure.kind)
    finally:
        progress.close()
        result["pull_log"] = progress.log()
        result["pulled_bytes"] = progress.total_bytes()
    return progress


def ensure(module, client, name, registry, result):
    """Compare what Ollama has with what is wanted, and change it unless in check mode."""
    params = module.params
    shown = client.show(name)
    present, wanted = shown is not None, params["state"] == "present"
    changed = present != wanted
    result.update(changed=changed, present=wanted, pulled=changed and wanted, deleted=changed and not wanted)
    if module._diff:
        result["diff"] = {"before": {"model": name, "present": present}, "after": {"model": name, "present": wanted}}
    if present and not changed:
        result["details"] = shown.get("details") or {}
    if not changed:
        result["msg"] = "Ollama %s %s" % ("has" if present else "does not have", name)
        return
    if module.check_mode:
        result["msg"] = "would %s %s" % ("pull" if wanted else "delete", name)
        return
    if not wanted:
        # A 404 here means someone else deleted it since show: already absent, nothing changed by us.
        result["changed"] = result["deleted"] = client.delete(name)
        result["msg"] = "deleted %s" % name if result["deleted"] else "Ollama does not have %s" % name
        return
    progress = pull(client, name, registry, params, result)
    shown = client.show(name)
    if shown is None:
        raise TaskFailed("Ollama reported success for pulling %s but does not show it: check `journalctl -u ollama`."
                         % name, "pull_error")
    result["details"] = shown.get("details") or {}
    result["msg"] = "pulled %s, %s in %d layers" % (name, human_bytes(progress.total_bytes()), len(progress.layers))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            host=dict(type="str", default=DEFAULT_HOST),
            timeout=dict(type="int", default=3600),
            insecure=dict(type="bool", default=False),
            progress_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    password = urlsplit(params["host"]).password
    if password:
        module.no_log_values.add(password)  # masked in every message and in the invocation
    try:
        check_url(params["host"])
    except HttpFailure as error:
        module.fail_json(msg="The host option %s" % error, error_kind="invalid_option")
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds, not %d." % params["timeout"],
                         error_kind="invalid_option")
    try:
        parsed = parse_name(params["name"])
    except InvalidModelName as error:
        module.fail_json(msg=str(error), error_kind="invalid_name")
    name = short_name(parsed)
    result = {"changed": False, "name": name, "qualified_name": qualified_name(parsed)}
    client = OllamaClient(params["host"], request_timeout=min(REQUEST_TIMEOUT, params["timeout"]))
    try:
        ensure(module, client, name, parsed.host, result)
    except (OllamaError, TaskFailed) as error:
        for key in ("diff", "present", "pulled", "deleted"):
            result.pop(key, None)  # they describe a success
        result["changed"] = False
        module.fail_json(msg=str(error), error_kind=error.kind, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
