# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Hugging Face token option, one definition for every module that takes it.

hf_model downloads with the token and model_manifest's preflight refuses gated repositories without
one: both must see the same value, so both take it by the same rule, the ``token`` option or else
HF_TOKEN in the environment of the host the module runs on.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback

TOKEN_ENV = "HF_TOKEN"


def token_option():
    """The argument_spec entry of ``token``: never logged, falls back to HF_TOKEN on the host."""
    return {"type": "str", "no_log": True, "fallback": (env_fallback, [TOKEN_ENV])}


def tokens_in_files(files):
    """(the token values found in ``files`` entries, a refusal naming the entries or None).

    An entry's ``token`` key is not an option: it would be ignored, and being a plain dict value it is not
    no_log, so Ansible would print it. The module masks the values, then fails with the message.
    """
    entries = [(number, entry["token"]) for number, entry in enumerate(files or []) if "token" in entry]
    if not entries:
        return [], None
    names = ", ".join("files[%d]" % number for number, value in entries)
    return ([str(value) for number, value in entries if value],
            "%s has a token key; the token belongs in the module's own token option (or HF_TOKEN on the host), "
            "which is never logged, and it applies to every file. Remove it from the entry; nothing was downloaded."
            % names)
