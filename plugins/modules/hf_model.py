#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hf_model
short_description: Verified, resumable, pinned downloads of model files from Hugging Face
version_added: "0.1.0"
description:
  - Downloads files of a Hugging Face repository to a path below O(root), with the real
    C(huggingface_hub) client resolving revisions, digests and download locations.
  - Each download goes to a partial file beside O(dest) (never C(/tmp)); its sha256 is computed while
    the bytes stream in, and only a verified file is renamed into place, atomically. Verified means that
    its size is the number of bytes hashed and the hub's size, and its digest matches O(sha256), the hub's
    LFS sha256 or the git blob id. When none of those is known (no O(sha256), and an answer without
    X-Linked-Etag and ETag, as from a captive portal or a proxy) the file is refused before downloading,
    with a message that says to pin O(sha256). An interrupted
    run leaves nothing at O(dest); the next run resumes from the bytes already on disk with an HTTP
    Range request, and starts over only when the server ignores Range.
  - A file that does not verify is discarded and an existing file at O(dest) stays untouched.
  - One writer per file. A run holds an exclusive lock on O(dest) (a C(.NAME.hf-lock) file beside it,
    removed afterwards) from the first byte to the record; a second run on the same file waits up to
    O(lock_timeout) and then fails naming the PID and host of the holder. Two entries of one batch that
    name the same file (also as C(x/s.bin) and C(x/./s.bin)) are refused before anything is written.
  - Checked before the first byte of a download, so a long transfer does not end in an error that was
    knowable at the start. These are the token, O(owner) and O(group), O(archive_root) on the filesystem of O(root),
    and a writable O(state_dir).
  - When the hub cannot be reached (or answers without a commit or digest) for a file whose record
    still vouches for it, the file stays V(unchanged) and the module returns a warning (could not check
    for updates) instead of failing; the rest of the batch goes on. A file that is missing still fails.
  - Re-runs do not read files again. A small record per file (size, mtime, inode, sha256, repository,
    commit) is kept under O(state_dir); while size, mtime and inode are unchanged the file is trusted.
    O(verify=full) re-hashes every file.
  - Nothing is ever deleted. O(state=absent), and replacing a file whose content differs, move the old
    file to O(archive_root) with a line in its ledger, so C(playbooks/rollback.yml) can restore it.
  - A batch form (O(files)) plans every file first, then downloads with bounded parallelism
    (O(max_workers)) and returns one result per file. O(allow_patterns) downloads every matching file
    of a multi-file model below O(dest).
  - While downloading, a progress file (O(progress_file)) is rewritten about once a second for a role
    to poll and print.
requirements:
  - huggingface_hub >= 1.0 on the target (the collection installs a pinned one in a tools venv)
author:
  - AI4ArtsEd DevServer team (@ai4artsed)
options:
  repo_id:
    description:
      - Repository, as C(namespace/name). Default for every entry of O(files).
    type: str
  filename:
    description:
      - Path of the file in the repository.
      - Either O(filename) or O(allow_patterns) is needed (in each entry of O(files), or here as default).
    type: str
  allow_patterns:
    description:
      - Glob patterns (as the hub client uses them) selecting several files of the repository; each is
        written to O(dest)/<path in the repository>, with the same guarantees as a single file.
      - The matching paths and the commit they were listed at are recorded under O(state_dir)
        (C(<dest>.allow_patterns.json)). A re-run lists again only when the revision moved to another commit;
        with O(revision) a full commit it asks the hub nothing about the listing. When the hub cannot be
        reached, the recorded listing of the same repository, patterns and revision is used with a warning
        (could not check for updates); without one the run fails.
    type: list
    elements: str
  revision:
    description:
      - Branch, tag or full 40-character commit. The resolved commit is returned.
      - With a full commit, a re-run that finds the recorded file unchanged (same repository, file and commit,
        and O(sha256) when given) asks the hub nothing.
    type: str
    default: main
  repo_type:
    description:
      - Kind of repository.
    type: str
    choices: [model, dataset, space]
    default: model
  dest:
    description:
      - Where the file goes, relative to O(root) or absolute below it; the name may differ from the
        file name in the repository. With O(allow_patterns), a directory.
      - A dest that leaves O(root) (for example with C(..)) or passes through a symlinked directory is
        refused before anything is written.
    type: path
  root:
    description:
      - The directory downloads are confined to, for example the model store C(~/ai/SwarmUI/Models).
    type: path
    required: true
  sha256:
    description:
      - Expected sha256 of the file. When absent, the hub's LFS sha256 is used and returned (small files
        that are not in LFS are verified against their git blob id instead).
      - When given and the hub reports a different sha256, the module fails before downloading.
    type: str
  size:
    description:
      - Expected size in bytes; a different size reported by the hub fails before downloading.
    type: int
  token:
    description:
      - Hugging Face access token, needed for gated and private repositories.
      - Falls back to the E(HF_TOKEN) environment variable of the target. Never logged; never sent to a
        download location on another host than O(endpoint).
      - A token with whitespace, a line break (for example a trailing newline from a file) or a character
        that is not visible ASCII is refused before any request, with a message that does not show it.
    type: str
  endpoint:
    description:
      - The hub to download from; a mirror or LAN cache that speaks the hub's file protocol works too.
    type: str
    default: https://huggingface.co
  state:
    description:
      - V(present) makes sure the verified file is at O(dest).
      - V(absent) moves the file at O(dest) to O(archive_root) (never deletes it).
    type: str
    choices: [present, absent]
    default: present
  verify:
    description:
      - V(metadata) trusts a file whose record still matches its size, mtime and inode.
      - V(full) reads and hashes every existing file again.
    type: str
    choices: [metadata, full]
    default: metadata
  archive_root:
    description:
      - Where files that are taken out of the store are moved, keeping their path below O(root), with a
        ledger line each. Needed for O(state=absent) and to replace a file whose content differs.
      - Must be on the filesystem of O(root) (files are moved, never copied and deleted); otherwise the
        module fails before downloading anything.
    type: path
  state_dir:
    description:
      - Where the per-file records are kept. Defaults to C(.hf_model) below O(root).
      - Created if missing; a state folder that cannot be written fails the run before downloading.
    type: path
  progress_file:
    description:
      - JSON file rewritten about once a second while downloading (done and total bytes, rate, ETA and a
        line such as C(3.2 / 35.5 GB, 110 MB/s, ETA 5 min)). Defaults to C(progress.json) in O(state_dir).
      - M(ai4artsed.devserver.hf_model_progress) reads it, given the same O(root) (or this path when it is set).
    type: path
  files:
    description:
      - Batch form. Each entry takes the keys O(repo_id), O(filename), O(allow_patterns), O(revision),
        O(repo_type), O(dest), O(sha256), O(size) and O(state); missing keys take the module's options.
      - An entry with a C(token) key is refused, without showing the value; the token goes in O(token).
    type: list
    elements: dict
  max_workers:
    description:
      - How many files are resolved and downloaded at the same time.
    type: int
    default: 8
  timeout:
    description:
      - Seconds without data before a request counts as failed and is retried.
    type: int
    default: 30
  retries:
    description:
      - How often a failed transfer is retried (resuming each time) before the module gives up; the
        bytes received so far are kept for the next run.
    type: int
    default: 5
  free_space_margin_mb:
    description:
      - Megabytes that must stay free on the destination's filesystem beyond the bytes still to download.
    type: int
    default: 1024
  lock_timeout:
    description:
      - Seconds to wait for another run that is writing the same file (an async download of an earlier run
        whose controller disconnected, for example) before failing with the PID and host of that run.
      - When the other run finished meanwhile, its verified file is used and nothing is downloaded again.
        V(0) fails at once.
    type: int
    default: 60
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Resolves metadata and reports which files would be downloaded or archived, and how many bytes; writes nothing.
  diff_mode:
    support: full
    description: Shows before and after C(revision), C(sha256) and C(size) per file.
"""

EXAMPLES = r"""
- name: Download the SD 3.5 text encoder, renamed, pinned and verified
  ai4artsed.devserver.hf_model:
    repo_id: stabilityai/stable-diffusion-3.5-large
    filename: text_encoders/clip_g.safetensors
    revision: 0123456789abcdef0123456789abcdef01234567
    sha256: ec310df2af79c318e24d20511b601a591ca8cd4f1fce1d8dff822a356bcdb1f4
    root: /home/ai4artsed/ai/SwarmUI/Models
    dest: clip/clip_g.safetensors
    token: "{{ hf_token }}"
    owner: ai4artsed
    group: ai4artsed
    mode: "0644"

- name: Download several files at once, four at a time
  ai4artsed.devserver.hf_model:
    root: /home/ai4artsed/ai/SwarmUI/Models
    max_workers: 4
    files:
      - repo_id: Comfy-Org/Qwen-Image_ComfyUI
        filename: split_files/vae/qwen_image_vae.safetensors
        dest: vae/QwenImage/qwen_image_vae.safetensors
      - repo_id: Comfy-Org/Wan_2.2_ComfyUI_Repackaged
        filename: split_files/vae/wan2.2_vae.safetensors
        dest: vae/wan2.2_vae.safetensors

- name: A multi-file model, as a folder
  ai4artsed.devserver.hf_model:
    repo_id: stabilityai/stable-audio-open-1.0
    allow_patterns: ["*.json", "*.safetensors"]
    root: /home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/models
    dest: stableaudio/stable-audio-open-1.0

- name: Take a model out of the store (moved to the archive, restorable with playbooks/rollback.yml)
  ai4artsed.devserver.hf_model:
    repo_id: Comfy-Org/stable-diffusion-3.5-fp8
    filename: sd3.5_large_fp8_scaled.safetensors
    root: /home/ai4artsed/ai/SwarmUI/Models
    dest: Stable-Diffusion/sd3.5_large_fp8_scaled.safetensors
    archive_root: /home/ai4artsed/ai/model-archive
    state: absent
"""

RETURN = r"""
files:
  description: One entry per file, in the order requested (patterns expanded).
  returned: always
  type: list
  elements: dict
  contains:
    dest:
      description: Absolute path of the file.
      type: str
    action:
      description:
        - What was (or in check mode would be) done. V(unchanged); V(adopt) (an existing file with the right
          content got a record); V(relabel) (same bytes, new commit recorded); V(download); V(replace) (the old
          file was archived); V(archive) (state=absent); V(absent) (nothing to archive); V(failed).
      type: str
    warning:
      description: Why the hub was not asked about this file, which was kept because its record vouches for it.
      type: str
    error_kind:
      description:
        - The kind of failure, for example C(network), C(checksum), C(size), C(unverifiable), C(locked),
          C(refused), C(conflict), C(disk_full).
      type: str
    commit:
      description: The commit the revision resolved to.
      type: str
    sha256:
      description: The verified sha256 of the file.
      type: str
    size:
      description: Size in bytes.
      type: int
    bytes_downloaded:
      description: Bytes transferred in this run.
      type: int
    resumed_from:
      description: Bytes of an earlier partial download that this run continued from.
      type: int
    range_ignored:
      description: The server ignored the Range request, so the download started over.
      type: bool
    seconds:
      description: Time spent on this file.
      type: float
    throughput:
      description: Bytes per second of this file's transfer.
      type: int
    archived_to:
      description: Where the old file was moved (state=absent or replace).
      type: str
    would_download_bytes:
      description: In check mode (and before a download), the bytes still to fetch.
      type: int
    error:
      description: Why this file failed.
      type: str
commit:
  description: Single-file form only, the resolved commit.
  returned: when one file was requested
  type: str
  sample: 5f0b8f3bd2b0a5c6d8c2d9f3b6f1a2c3d4e5f607
sha256:
  description: Single-file form only, the verified sha256.
  returned: when one file was requested
  type: str
dest:
  description: Single-file form only, the absolute destination.
  returned: when one file was requested
  type: str
bytes_downloaded:
  description: Bytes transferred in this run, all files together.
  returned: always
  type: int
would_download_bytes:
  description: Bytes still to download for the planned files (the figure check mode reports).
  returned: always
  type: int
resumed_from:
  description: Single-file form only, bytes of an earlier partial download that were continued.
  returned: when one file was requested
  type: int
seconds:
  description: Wall time of the whole call.
  returned: always
  type: float
throughput:
  description: Bytes per second over the whole call.
  returned: always
  type: int
summary:
  description: One line, e.g. C(1 download, 2 unchanged, downloaded 35.5 GB in 321.0 s).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_errors import HfModelError
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_hub import HubClient
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_plan import Settings, run
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_preflight import check_token
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_progress import progress_path
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_record import default_state_dir
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_token import token_option, tokens_in_files

SINGLE_FILE_KEYS = ("dest", "action", "commit", "sha256", "size", "resumed_from", "range_ignored", "archived_to")


def argument_spec():
    return {
        "repo_id": {"type": "str"},
        "filename": {"type": "str"},
        "allow_patterns": {"type": "list", "elements": "str"},
        "revision": {"type": "str", "default": "main"},
        "repo_type": {"type": "str", "default": "model", "choices": ["model", "dataset", "space"]},
        "dest": {"type": "path"},
        "root": {"type": "path", "required": True},
        "sha256": {"type": "str"},
        "size": {"type": "int"},
        "token": token_option(),
        "endpoint": {"type": "str", "default": "https://huggingface.co"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "verify": {"type": "str", "default": "metadata", "choices": ["metadata", "full"]},
        "archive_root": {"type": "path"},
        "state_dir": {"type": "path"},
        "progress_file": {"type": "path"},
        "files": {"type": "list", "elements": "dict"},
        "max_workers": {"type": "int", "default": 8},
        "timeout": {"type": "int", "default": 30},
        "retries": {"type": "int", "default": 5},
        "free_space_margin_mb": {"type": "int", "default": 1024},
        "lock_timeout": {"type": "int", "default": 60},
    }


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, add_file_common_args=True)
    params = module.params
    state_dir = params["state_dir"] or default_state_dir(params["root"])
    file_args = module.load_file_common_arguments(params, path=params["root"])

    def set_file_attributes(path):
        return module.set_fs_attributes_if_different(dict(file_args, path=path), False)

    def set_dir_owner(path):
        directory_args = dict(file_args, path=path, mode=None)
        module.set_fs_attributes_if_different(directory_args, False)

    secrets, refusal = tokens_in_files(params["files"])
    module.no_log_values.update(secrets)  # before failing: msg and invocation must not show them
    if refusal:
        module.fail_json(msg=refusal, error_kind="invalid")
    try:
        check_token(params["token"])
    except HfModelError as error:
        module.fail_json(msg=str(error), error_kind=error.kind)
    settings = Settings(
        root=params["root"], state_dir=state_dir, archive_root=params["archive_root"],
        hub=HubClient(params["endpoint"], params["token"], params["timeout"]),
        retries=params["retries"], verify=params["verify"],
        free_space_margin=params["free_space_margin_mb"] * 1000 * 1000, max_workers=params["max_workers"],
        progress_file=params["progress_file"] or progress_path(state_dir),
        check_mode=module.check_mode, set_file_attributes=set_file_attributes, set_dir_owner=set_dir_owner,
        lock_timeout=params["lock_timeout"], owner=params["owner"], group=params["group"],
    )
    try:
        result = run(params, settings)
    except HfModelError as error:
        module.fail_json(msg=str(error), error_kind=error.kind, **error.details)
    for warning in result.pop("warnings"):
        module.warn(warning)
    if not module._diff:
        result.pop("diff")
    if not params["files"] and len(result["files"]) == 1:
        result.update((key, result["files"][0].get(key)) for key in SINGLE_FILE_KEYS)
    failures = [entry for entry in result["files"] if entry["action"] == "failed"]
    if failures:
        module.fail_json(msg="; ".join("%s: %s" % (entry["dest"], entry["error"]) for entry in failures),
                         error_kind=failures[0].get("error_kind"), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
