"""nft.py, firewalld.py and fwkind.py on rule sets captured from the testbed's EL9 hosts: firewalld
1.3 (nftables backend) and plain nftables.conf, healthy and with each firewall fault applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from se_dualstack.concerns import firewall as fw
from se_dualstack.concerns import firewalld, fwkind, nft

DATA = Path(__file__).parent / "data"
SE_PORTS = [(2811, 2811), (20000, 25000), (1094, 1094), (443, 443)]
HEAD_PORTS = [(8446, 8446), (5010, 5010), (5015, 5015)]


def host(name: str, kind: str = "") -> fwkind.HostFirewall:
    text = (DATA / name).read_text()
    return fwkind.HostFirewall(kind or fwkind.detect("", text, "iptables v1.8.9 (nf_tables)"), text,
                               zone="public")


@pytest.mark.parametrize(("name", "kind"), [("nft-j-firewalld-head.json", "firewalld"),
                                           ("nft-j-firewalld-disk.json", "firewalld"),
                                           ("nft-j-nftables-disk.json", "nftables")])
def test_healthy_el9_hosts_accept_transfer_ports_both_families(name, kind):
    h = host(name, kind)
    for family in (4, 6):
        v = h.view(family)
        for first, last in SE_PORTS:
            assert v.status(first, last)[0] == "open", (name, family, first, v.status(first, last))
        assert v.status(3306, 3306)[0] == "closed", (name, family, "an unlisted port stays closed")
    if "head" in name:
        assert fw.parity(h.view(4), h.view(6)) == [], "healthy head: IPv6 in line with IPv4"


def test_firewalld_zone_dispatch_and_final_reject_are_followed():
    v = host("nft-j-firewalld-disk.json", "firewalld").view(6)
    state, detail = v.status(3306, 3306)
    assert state == "closed", detail
    assert "reject with icmpx admin-prohibited" in detail, detail
    assert "filter_IN_public" in detail, "the zone chain reached by goto decides: " + detail


def test_firewalld_ipv4_only_rich_rule_opens_ipv4_only():
    h = host("nft-j-firewalld-ipv4-only-rule-1094.json", "firewalld")
    assert h.view(4).status(1094, 1094)[0] == "open", "meta nfproto ipv4 rule accepts IPv4"
    assert h.view(6).status(1094, 1094)[0] == "closed", h.view(6).status(1094, 1094)
    assert h.view(6).status(2811, 2811)[0] == "open", "the other ports stay open"
    cmd = fwkind.open_command(h, fw.PortSet.of([(1094, 1094)]), 6)
    assert cmd == "firewall-cmd --permanent --zone=public --add-port=1094/tcp && firewall-cmd --reload", cmd


def test_firewalld_head_transfer_only_is_a_parity_gap():
    h = host("nft-j-firewalld-head-transfer-only.json", "firewalld")
    gaps = {str(g.ports) for g in fw.parity(h.view(4), h.view(6))}
    assert gaps == {"5010", "5015", "8446"}, gaps


def test_nft_ip_table_leaves_ipv6_to_the_drop_policy():
    h = host("nft-j-nftables-ip-table-only.json")
    assert h.kind == "nftables", h.kind
    assert h.view(4).status(1094, 1094)[0] == "open", "IPv4 has the site's rules"
    state, detail = h.view(6).status(1094, 1094)
    assert state == "closed", detail
    assert "policy DROP" in detail, detail
    assert "ip6 filter" in detail, detail
    cmd = fwkind.open_command(h, fw.PortSet.of([(1094, 1094)]), 6)
    assert cmd == "nft insert rule ip6 filter input tcp dport 1094 accept", cmd


def test_nft_saved_vs_live_compares_rules_not_handles():
    live = (DATA / "nft-j-nftables-saved-differs-live.json").read_text()
    saved = (DATA / "nft-j-nftables-saved-differs-saved.json").read_text()
    assert nft.compare(live, live).same, "identical"
    healthy = (DATA / "nft-j-nftables-disk.json").read_text()
    assert nft.compare(healthy, live).same, "same rules: " + nft.compare(healthy, live).describe()
    d = nft.compare(saved, live)
    assert not d.same, "the saved file lacks 443"
    assert "443" in " ".join(d.only_live), d.describe()
    assert "443" not in " ".join(d.only_saved), d.describe()


def test_named_sets_and_vmaps_are_resolved():
    doc = {"nftables": [
        {"table": {"family": "inet", "name": "se"}},
        {"set": {"family": "inet", "table": "se", "name": "xfer", "type": "inet_service",
                 "flags": ["interval"], "elem": [1094, {"range": [20000, 25000]}]}},
        {"chain": {"family": "inet", "table": "se", "name": "in", "type": "filter", "hook": "input",
                   "prio": 0, "policy": "drop"}},
        {"rule": {"family": "inet", "table": "se", "chain": "in", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                       "right": "@xfer"}}, {"accept": None}]}},
        {"rule": {"family": "inet", "table": "se", "chain": "in", "expr": [
            {"vmap": {"key": {"payload": {"protocol": "tcp", "field": "dport"}},
                      "data": {"set": [[443, {"accept": None}], [2811, {"drop": None}]]}}}]}},
    ]}
    (rs,) = nft.parse(json.dumps(doc), 6)
    v = fw.acceptance(rs)
    assert str(v.open) == "443,1094,20000:25000", str(v.open)
    assert v.status(2811, 2811)[0] == "closed", v.status(2811, 2811)


def test_firewalld_permanent_vs_runtime():
    rt, _ = firewalld.parse_zones((DATA / "firewall-cmd-list-all-zones-runtime-only-2811.txt").read_text())
    perm, _ = firewalld.parse_zones(
        (DATA / "firewall-cmd-permanent-list-all-zones-runtime-only-2811.txt").read_text())
    assert "https" in rt["public"]["services"], rt["public"]
    diffs = firewalld.compare(perm, rt)
    assert [(d.zone, d.key, set(d.runtime_only)) for d in diffs] == [("public", "ports", {"2811/tcp"})], diffs
    assert firewalld.fix_commands(diffs) == ["firewall-cmd --permanent --zone=public --add-port=2811/tcp"]
    assert firewalld.compare(rt, rt) == [], "no difference with itself"


def test_kind_detection():
    fwd = (DATA / "nft-j-firewalld-disk.json").read_text()
    ipt = (DATA / "nft-j-ruleset-dpm-inet.json").read_text()
    assert fwkind.detect("running\n", fwd, "iptables v1.8.9 (nf_tables)") == "firewalld"
    assert fwkind.detect("", ipt, "iptables v1.8.9 (nf_tables)") == "nftables", "a native inet table"
    only_compat = json.dumps({"nftables": [{"table": {"family": "ip", "name": "filter"}},
                                           {"chain": {"family": "ip", "table": "filter", "name": "INPUT"}}]})
    assert fwkind.detect("", only_compat, "iptables v1.8.9 (nf_tables)") == "iptables-nft"
    assert fwkind.detect("", "", "iptables v1.4.21") == "iptables-legacy", "EL7 prints no backend"
    assert fwkind.detect("", "", "iptables v1.8.9 (legacy)") == "iptables-legacy"
    assert fwkind.detect("", "", "") == "none"


def test_zone_dispatch_by_interface_follows_the_external_interface():
    text = (DATA / "nft-j-firewalld-eth0-in-work-zone.json").read_text()
    rt, _ = firewalld.parse_zones((DATA / "firewall-cmd-list-all-zones-eth0-in-work-zone.txt").read_text())
    perm, _ = firewalld.parse_zones(
        (DATA / "firewall-cmd-permanent-list-all-zones-eth0-in-work-zone.txt").read_text())
    zone = firewalld.zone_of(rt, "eth0", "public")
    assert zone == "work", zone
    h = fwkind.HostFirewall("firewalld", text, zone=zone, iface="eth0")
    state, detail = h.view(6).status(1094, 1094)
    assert state == "closed", "eth0 goes to zone work, which lacks 1094: " + detail
    assert "filter_IN_work" in detail, detail
    assert h.view(6).status(22, 22)[0] == "open", "zone work has ssh"
    other = fwkind.HostFirewall("firewalld", text, zone="public", iface="eth1")
    assert other.view(6).status(1094, 1094)[0] == "open", "eth1 falls to the default zone public"
    assert firewalld.compare(perm, rt) == [], "interfaces are assigned at runtime: not a difference"
    cmd = fwkind.open_command(h, fw.PortSet.of([(1094, 1094)]), 6)
    assert "--zone=work --add-port=1094/tcp" in cmd, cmd
