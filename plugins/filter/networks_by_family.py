# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: networks_by_family
short_description: Check a list of networks and split it into IPv4 and IPv6
version_added: 0.1.0
author: AI4ArtsEd DevServer team
description:
  - Checks each entry of a list of networks (CIDRs such as C(192.168.10.0/24) or single addresses) with Python's
    C(ipaddress) module, so no extra library (netaddr) is needed on the controller.
  - Returns the valid entries normalised and split by family, and one sentence per invalid entry that names it and
    says what to write instead (an entry with host bits set, such as C(192.168.10.5/24), is refused, not guessed).
options:
  _input:
    description: The networks.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse a malformed allow-list before anything changes
  ansible.builtin.assert:
    that: (firewall_allowed_networks | ai4artsed.devserver.networks_by_family).errors == []
    fail_msg: "{{ (firewall_allowed_networks | ai4artsed.devserver.networks_by_family).errors | join('; ') }}"
"""

RETURN = r"""
_value:
  description: The networks by family, and the problems found.
  type: dict
  contains:
    ipv4:
      description: The valid IPv4 networks, normalised, in the given order, without repeats.
      type: list
      elements: str
    ipv6:
      description: The valid IPv6 networks, normalised, in the given order, without repeats.
      type: list
      elements: str
    errors:
      description: One sentence per invalid entry; empty when all are valid.
      type: list
      elements: str
"""

from ansible_collections.ai4artsed.devserver.plugins.module_utils.networks import networks_by_family


class FilterModule(object):
    def filters(self):
        return {"networks_by_family": networks_by_family}
