# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of hf_model: every refusal and failure, from the input checks to the rename."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Kinds that mean the hub could not be asked: they say nothing about the file, so a file (or listing)
# an earlier run recorded may stand in, with a warning.
UNREACHABLE = ("network", "not_hub")


class HfModelError(Exception):
    """A failure with a message that says what went wrong and what to do; ``kind`` names the case."""

    def __init__(self, kind, message, **details):
        super(HfModelError, self).__init__(message)
        self.kind = kind
        self.details = details
