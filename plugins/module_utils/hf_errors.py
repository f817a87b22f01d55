# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of hf_model: every refusal and failure, from the input checks to the rename."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class HfModelError(Exception):
    """A failure with a message that says what went wrong and what to do; ``kind`` names the case."""

    def __init__(self, kind, message, **details):
        super(HfModelError, self).__init__(message)
        self.kind = kind
        self.details = details
