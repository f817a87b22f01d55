"""networks: an allow-list checked and split by family, with a sentence per bad entry that names it."""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.networks import networks_by_family


@pytest.mark.parametrize(
    ("values", "ipv4", "ipv6"),
    [
        ([], [], []),
        (["192.168.10.0/24"], ["192.168.10.0/24"], []),
        (["192.0.2.2"], ["192.0.2.2/32"], []),  # one address is its own /32
        (["2001:DB8::/32", "10.0.0.0/8"], ["10.0.0.0/8"], ["2001:db8::/32"]),  # normalised, split
        ([" 10.1.0.0/16 ", "10.1.0.0/16"], ["10.1.0.0/16"], []),  # trimmed, no repeats
        (["0.0.0.0/0"], ["0.0.0.0/0"], []),
    ],
)
def test_valid_networks_are_split_by_family(values, ipv4, ipv6):
    assert networks_by_family(values) == {"ipv4": ipv4, "ipv6": ipv6, "errors": []}


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("192.168.10.0/33", "'192.168.10.0/33' is not a network"),
        ("300.1.1.1", "'300.1.1.1' is not a network"),
        ("classroom", "'classroom' is not a network"),
        ("", "'' is not a network"),
        (24, "24 is not a network"),
        ("192.168.10.5/24", "'192.168.10.5/24' has host bits set: write the network 192.168.10.0/24, "
                            "or the one address 192.168.10.5/32"),
        ("2001:db8::1/64", "'2001:db8::1/64' has host bits set: write the network 2001:db8::/64, "
                           "or the one address 2001:db8::1/128"),
    ],
)
def test_a_bad_entry_is_named_and_the_good_ones_kept(value, said):
    result = networks_by_family(["10.0.0.0/8", value])
    assert result["ipv4"] == ["10.0.0.0/8"]
    assert len(result["errors"]) == 1 and result["errors"][0].startswith(said)


def test_a_string_instead_of_a_list_is_refused():
    assert networks_by_family("10.0.0.0/8")["errors"] == ["the allow-list must be a list of networks, got '10.0.0.0/8'"]
