"""firewall.py and iptables.py on real ip(6)tables dumps (iptables 1.8.9 nf_tables, captured in a namespace)
and a real ``nft -j list ruleset``; the sysconfig-* files are the saved files they were loaded
from (the EL7 stock ip6tables file, a DPM head node set, a hand-written disk node file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from se_dualstack.concerns import firewall as fw
from se_dualstack.concerns import iptables as ipt
from se_dualstack.concerns import nft

DATA = Path(__file__).parent / "data"


def view(name: str) -> fw.Acceptance:
    return fw.acceptance(ipt.parse_iptables((DATA / name).read_text()))


@pytest.mark.parametrize("fmt", ["save", "S"])
def test_dpm_headnode_ports_through_user_chain_and_multiport(fmt):
    v = view(f"ip6tables-{fmt}-dpm-headnode.txt")
    for first, last in [(2811, 2811), (1094, 1094), (443, 443), (8446, 8446), (20000, 25000)]:
        assert v.status(first, last)[0] == "open", (first, last, v.status(first, last))
    assert v.policy == "DROP", v.policy
    assert v.status(8447, 8447)[0] == "closed", "policy DROP closes the rest"
    assert "policy DROP" in v.status(8447, 8447)[1], v.status(8447, 8447)


def test_source_restricted_rule_opens_for_some_peers_only():
    state, detail = view("iptables-save-dpm-headnode.txt").status(5010, 5010)
    assert state == "restricted", state
    assert '-s 10.42.0.0/24' in detail, detail
    assert 'some peers' in detail, detail


def test_empty_ruleset_policy_accept_means_all_open():
    v = view("ip6tables-S-empty.txt")
    assert v.open == fw.PortSet.all(), str(v.open)
    assert view("ip6tables-save-empty.txt").status(8446, 8446)[0] == "open", "no rules at all"


def test_el7_stock_rejects_everything_but_ssh():
    v = view("ip6tables-save-el7-stock.txt")
    assert str(v.open) == "22", str(v.open)
    state, detail = v.status(1094, 1094)
    assert state == 'closed', detail
    assert 'REJECT --reject-with icmp6-adm-prohibited' in detail, detail


def test_established_and_loopback_rules_do_not_open_ports():
    v = view("ip6tables-save-dpm-transfer-only.txt")
    assert v.status(8446, 8446)[0] == "closed", "RELATED,ESTABLISHED and -i lo ACCEPT are ignored"


def test_first_match_wins_drop_before_accept_and_negated_reject():
    v = view("ip6tables-save-reject-tail.txt")
    state, detail = v.status(8446, 8446)
    assert state == 'closed', detail
    assert '--dport 8446 -j DROP' in detail, detail
    assert v.status(20000, 25000)[0] == "open", "range inside a multiport list"
    assert v.status(443, 443)[0] == "open", "! --dport 443 REJECT lets 443 reach its ACCEPT"
    assert v.status(5010, 5010)[0] == "closed", "rejected by the negated rule"


def test_partial_range():
    rs = ipt.parse_iptables(["-P INPUT DROP", "-A INPUT -p tcp -m tcp --dport 20000:22000 -j ACCEPT"])
    state, detail = fw.acceptance(rs).status(20000, 25000)
    assert state == 'partial', detail
    assert '22001:25000' in detail, detail


def test_parity_lists_what_ipv6_lacks_story_headnode():
    v4 = view("iptables-save-dpm-headnode.txt")
    v6 = view("ip6tables-save-dpm-transfer-only.txt")
    gaps = {str(g.ports): g for g in fw.parity(v4, v6)}
    assert {"8446", "5010", "5015", "8443", "2170"} <= set(gaps), sorted(gaps)
    assert '2811' not in gaps, sorted(gaps)
    assert '20000:25000' not in gaps, sorted(gaps)
    assert gaps["5010"].ipv4_rule.startswith("-A DPM -s 10.42.0.0/24"), gaps["5010"]
    line = ipt.ip6tables_line(gaps["8446"].ports)
    assert line == "ip6tables -I INPUT -p tcp -m conntrack --ctstate NEW -m tcp --dport 8446 -j ACCEPT", line


def test_parity_ok_when_ipv6_in_line_with_ipv4():
    assert fw.parity(view("iptables-save-dpm-headnode.txt"), view("ip6tables-save-dpm-headnode.txt")) == [], \
        "source-restricted on both sides counts as the same"


def test_saved_equals_live_despite_rewrites():
    # iptables rewrote the hand-written file: option order, --syn, icmpv6, /128, REJECT default
    d = ipt.compare_saved((DATA / "sysconfig-handwritten-ip6tables").read_text(),
                         (DATA / "ip6tables-S-handwritten.txt").read_text())
    assert d.same, d.describe()
    d = ipt.compare_saved((DATA / "sysconfig-handwritten-ip6tables").read_text(),
                         (DATA / "ip6tables-save-c-handwritten.txt").read_text())
    assert d.same, "counters [p:b] ignored: " + d.describe()
    d = ipt.compare_saved((DATA / "sysconfig-dpm-transfer-only-ip6tables").read_text(),
                         (DATA / "ip6tables-S-dpm-transfer-only.txt").read_text().splitlines())
    assert d.same, d.describe()


def test_saved_differs_reports_rules_and_policies():
    saved = (DATA / "sysconfig-dpm-transfer-only-ip6tables").read_text()
    live = (DATA / "ip6tables-S-dpm-transfer-only.txt").read_text().splitlines()
    live = [x for x in live if "--dport 443" not in x]  # the https rule removed live
    d = ipt.compare_saved(saved, live)
    assert not d.same, d.describe()
    assert d.only_saved, d.describe()
    assert not d.only_live, d.describe()
    assert "--dport 443" in d.only_saved[0], d.only_saved
    d = ipt.compare_saved(saved, (DATA / "ip6tables-S-dpm-headnode.txt").read_text())
    text = d.describe()
    assert 'chain INPUT: saved ACCEPT, live DROP' in text, text
    assert 'live but not saved' in text, text


def test_nft_inet_table_per_family():
    text = (DATA / "nft-j-ruleset-dpm-inet.json").read_text()
    (v6,) = [fw.acceptance(rs) for rs in nft.parse(text, 6)]
    (v4,) = [fw.acceptance(rs) for rs in nft.parse(text, 4)]
    assert v6.status(8446, 8446)[0] == "closed", "meta nfproto ipv4 rule does not open IPv6"
    assert v4.status(8446, 8446)[0] == "open", "…but opens IPv4"
    assert v6.status(20000, 25000)[0] == 'open', 'range, jump'
    assert v6.status(8443, 8443)[0] == 'open', 'range, jump'
    assert v6.status(5010, 5010)[0] == "closed", "ip saddr rule is IPv4 only"
    assert v4.status(5010, 5010)[0] == "restricted", "ip saddr restricts IPv4 peers"
    assert nft.parse(text, 6, skip_tables=[("inet", "filter")]) == [], "tables read via iptables"


def test_combine_intersects_chains():
    a = fw.acceptance(ipt.parse_iptables(["-P INPUT ACCEPT"]))
    b = view("ip6tables-save-el7-stock.txt")
    assert str(fw.combine([a, b]).open) == "22", "a packet must pass every input chain"
    assert fw.combine([]).open == fw.PortSet.all(), "no firewall at all"


def test_portset_algebra():
    p = fw.PortSet.parse("2811,1094,20000:25000,1095")
    assert str(p) == "1094:1095,2811,20000:25000", str(p)
    assert str(p.invert().invert()) == str(p), "double inversion"
    assert p.covers(21000, 22000), 'covers'
    assert not p.covers(19999, 20001), 'covers'


def test_input_interface_match_on_the_external_interface_is_no_restriction():
    lines = ["-P INPUT DROP", "-A INPUT -i eth0 -p tcp -m tcp --dport 1094 -j ACCEPT",
             "-A INPUT -i eth+ -p tcp -m tcp --dport 2811 -j ACCEPT",
             "-A INPUT -i eth1 -p tcp -m tcp --dport 443 -j ACCEPT"]
    v = fw.acceptance(ipt.parse_iptables(lines, iface="eth0"))
    assert v.status(1094, 1094)[0] == "open", v.status(1094, 1094)
    assert v.status(2811, 2811)[0] == "open", "eth+ matches eth0"
    assert v.status(443, 443)[0] == "closed", "peers on eth0 never match -i eth1"
    unknown = fw.acceptance(ipt.parse_iptables(lines))
    assert unknown.status(1094, 1094)[0] == "restricted", "interface unknown: a restriction"
