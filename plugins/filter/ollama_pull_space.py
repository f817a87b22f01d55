# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: ollama_pull_space
short_description: The disk space the Ollama models still to pull need
version_added: 0.1.0
author: AI4ArtsEd DevServer team
description:
  - Takes a list of Ollama model names and the manifest files found below C(<OLLAMA_MODELS>/manifests), and says
    which models are still missing (names compared as Ollama compares them, case-insensitive, tag C(latest) by
    default), how many bytes each of them downloads (from a table of published sizes), the total with a margin, and
    whether a free-space check is due.
  - A missing model the table lacks counts as O(unlisted_bytes) and is named in RV(_value.unlisted), so the run can
    say so.
options:
  _input:
    description: The models, as Ollama names them.
    type: list
    elements: str
    required: true
  sizes:
    description: The download size in bytes of each model the table knows, by name.
    type: dict
    required: true
  present:
    description: The paths of the manifest files found below O(manifests_dir) (absolute, or relative to it).
    type: list
    elements: str
    default: []
  manifests_dir:
    description: The folder the manifest paths lie below (C(<OLLAMA_MODELS>/manifests)).
    type: str
    default: /
  unlisted_bytes:
    description: What a missing model the table lacks counts as, in bytes.
    type: int
    default: 10000000000
  margin_bytes:
    description: Bytes wanted free beyond the missing models' downloads.
    type: int
    default: 0
  fixed_bytes:
    description:
      - An operator's figure that replaces the computed need; V(0) means no check. Left out, the need is computed.
    type: int
"""

EXAMPLES = r"""
- name: Refuse a models folder on a disk too small for the models still to pull
  ansible.builtin.assert:
    that: __space.errors == [] and (not __space.check or free.free_bytes >= __space.required_bytes)
    fail_msg: "{{ __space.summary }} need {{ __space.required_human }} with the margin; {{ free.free_human }} free."
  vars:
    __space: >-
      {{ ollama_models | ai4artsed.devserver.ollama_pull_space(sizes={'gpt-oss:20b': 13780154624},
         present=manifests.files | map(attribute='path') | list, manifests_dir='/var/lib/ollama/models/manifests',
         margin_bytes=5000000000) }}
"""

RETURN = r"""
_value:
  description: The models still to pull, what they need, and whether to check.
  type: dict
  contains:
    missing:
      description: One entry per model still to pull (each model once, in the given order).
      type: list
      elements: dict
      contains:
        name:
          description: The model as Ollama lists it (lower case, with its tag).
          type: str
        bytes:
          description: Its download size (from the table, or O(unlisted_bytes)).
          type: int
        human:
          description: RV(_value.missing.bytes) in decimal units (C(13.8 GB)).
          type: str
        listed:
          description: Whether the table knows the model.
          type: bool
    present:
      description: The models whose manifests are on disk.
      type: list
      elements: str
    unlisted:
      description: The missing models the table lacks (counted as O(unlisted_bytes)).
      type: list
      elements: str
    models_bytes:
      description: The sum of the missing models' sizes.
      type: int
    margin_bytes:
      description: O(margin_bytes).
      type: int
    required_bytes:
      description: What must be free, the missing models' sizes plus the margin, or O(fixed_bytes) when given.
      type: int
    models_human:
      description: RV(_value.models_bytes) in decimal units.
      type: str
    margin_human:
      description: RV(_value.margin_bytes) in decimal units.
      type: str
    required_human:
      description: RV(_value.required_bytes) in decimal units.
      type: str
    fixed:
      description: Whether O(fixed_bytes) replaced the computed need.
      type: bool
    summary:
      description: The missing models with their sizes, for messages (C(gpt-oss:20b 13.8 GB, qwen3:1.7b 1.4 GB)).
      type: str
    check:
      description: Whether a free-space check is due (a model is missing, the need is above 0, no errors).
      type: bool
    errors:
      description: One sentence per invalid input; empty when all are valid.
      type: list
      elements: str
"""

from ansible_collections.ai4artsed.devserver.plugins.module_utils.ollama_space import pull_space


class FilterModule(object):
    def filters(self):
        return {"ollama_pull_space": pull_space}
