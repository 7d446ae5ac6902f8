"""Firewall checks: transfer ports accepted over IPv6 and IPv4, head node IPv6/IPv4 parity,
saved ip6tables equal to live. Rule sets are evaluated in order (jumps, RETURN, policy)."""

from __future__ import annotations

import pytest

from se_dualstack.concerns import firewall
from se_dualstack.facts import read_file

pytestmark = pytest.mark.firewall


def _port_open(se_host, tp, family, facts, check):
    view = facts.firewall_view(se_host, se_host.host, family)
    state, detail = view.status(tp.first, tp.last)
    ports = firewall.PortSet.of([(tp.first, tp.last)])
    line = firewall.ip6tables_line(ports) if family == 6 else firewall.iptables_line(ports)
    fam = "IPv6" if family == 6 else "IPv4"
    check.expect(state == "open", f"TCP {tp} ({tp.label}) accepted over {fam} from every peer",
                  f"TCP {tp}: {detail}", line=line, port=str(tp))


@pytest.mark.check("SE6-FW-01")
def test_transfer_ports_open_ipv6(se_host_transfer_port, facts, check):
    se_host, tp = se_host_transfer_port
    _port_open(se_host, tp, 6, facts, check)


@pytest.mark.check("SE6-FW-02")
def test_transfer_ports_open_ipv4(se_host_transfer_port, facts, check):
    se_host, tp = se_host_transfer_port
    _port_open(se_host, tp, 4, facts, check)


@pytest.mark.check("SE6-FW-03")
def test_headnode_ipv6_matches_ipv4(se_headnode, facts, check):
    v4 = facts.firewall_view(se_headnode, se_headnode.host, 4)
    v6 = facts.firewall_view(se_headnode, se_headnode.host, 6)
    gaps = firewall.parity(v4, v6)
    if not gaps:
        return
    prefixes = [str(p) for p in se_headnode.vars.get("se_ipv6_prefixes") or []]
    src = prefixes[0] if prefixes else "<site IPv6 prefix>"
    lines, observed = [], []
    for g in gaps:
        restricted = bool(g.ipv4_rule)
        lines.append(firewall.ip6tables_line(g.ports, src if restricted else ""))
        if g.kind == "missing":
            observed.append(f"{g.ports} accepted by iptables" + (f" (only for some peers: {g.ipv4_rule})"
                                                                  if restricted else "")
                            + " but not by ip6tables")
        else:
            observed.append(f"{g.ports} open to all over IPv4 but only for some peers over IPv6")
    check.fail(f"every TCP port accepted over IPv4 ({v4.any_peer()}) accepted over IPv6",
                "IPv6 lacks: " + "; ".join(observed), lines=" ; ".join(f"`{x}`" for x in lines))


@pytest.mark.check("SE6-FW-04")
def test_saved_ip6tables_match_live(se_host, host, check):
    path = "/etc/sysconfig/ip6tables"
    saved = read_file(host, path)
    if saved is None:
        check.not_applicable(f"{path} does not exist (no iptables-services; rules saved elsewhere)")
    live = host.iptables.rules(version=6)
    diff = firewall.compare_saved(saved, live, family=6)
    check.expect(diff.same, f"{path} equal to the live ip6tables rules",
                  diff.describe(), diff=diff.describe())
