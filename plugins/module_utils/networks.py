# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An allow-list of networks (CIDRs or single addresses) checked and split by address family.

Pure helpers with no Ansible imports: the networks_by_family filter (the firewall role's preflight and its
rule set template) calls them, unit tests call them directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress


def _problem(value):
    """Why value is not a network nftables can match on, or None when it is one."""
    if not isinstance(value, str) or not value.strip():
        return "%r is not a network: give a CIDR such as 192.168.10.0/24 or 2001:db8::/64, or one address" % (value,)
    text = value.strip()
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return "%r is not a network: give a CIDR such as 192.168.10.0/24 or 2001:db8::/64, or one address" % (value,)
    network = ipaddress.ip_network(text, strict=False)
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        # 192.168.10.5/24: the operator probably meant the whole network, but may have meant the one host.
        return "%r has host bits set: write the network %s, or the one address %s/%d" % (
            value, network, text.split("/")[0], network.max_prefixlen)
    return None


def networks_by_family(values):
    """{'ipv4': [...], 'ipv6': [...], 'errors': [...]} for a list of networks.

    Each valid entry lands, normalised (2001:DB8::/32 becomes 2001:db8::/32), in the list of its family, in the
    given order and without repeats; each invalid one adds a sentence to 'errors' that names it and says what
    to write instead. A value that is not a list is one error.
    """
    result = {"ipv4": [], "ipv6": [], "errors": []}
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        result["errors"].append("the allow-list must be a list of networks, got %r" % (values,))
        return result
    for value in values:
        problem = _problem(value)
        if problem:
            result["errors"].append(problem)
            continue
        network = ipaddress.ip_network(value.strip())
        family = "ipv4" if network.version == 4 else "ipv6"
        if str(network) not in result[family]:
            result[family].append(str(network))
    return result
