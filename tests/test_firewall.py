"""Firewall checks: transfer ports accepted over IPv6 and IPv4, head node IPv6/IPv4 parity, saved
configuration equal to the live one. Whatever the host runs (iptables, firewalld, nftables), the
rules in force are evaluated in order (jumps/gotos, zone dispatch, sets, RETURN, policies) and a
failure names the firewall, the zone or chain, and the fix in that firewall's own tool."""

from __future__ import annotations

import pytest

from se_dualstack.applicability import require_declared
from se_dualstack.concerns import firewall, firewalld, fwkind, iptables, nft
from se_dualstack.facts import nft_saved_json, read_file

pytestmark = pytest.mark.firewall


def _port_open(se_host, tp, family, facts, check):
    fw = facts.firewall(se_host, se_host.testinfra)
    state, detail = fw.view(family).status(tp.first, tp.last)
    ports = firewall.PortSet.of([(tp.first, tp.last)])
    fam = f"IPv{family}"
    check.expect(state == "open", f"TCP {tp} ({tp.label}) accepted over {fam} from every peer",
                 f"{fw.label()}: TCP {tp}: {detail}", line=fwkind.open_command(fw, ports, family),
                 keep=fwkind.keep_hint(fw.kind, family), port=str(tp))


@pytest.mark.check("SE6-FW-01")
def test_transfer_ports_open_ipv6(se_host_transfer_port, facts, check):
    se_host, tp = se_host_transfer_port
    _port_open(se_host, tp, 6, facts, check)


@pytest.mark.check("SE6-FW-02")
def test_transfer_ports_open_ipv4(se_host_transfer_port, facts, check):
    se_host, tp = se_host_transfer_port
    require_declared(se_host, 4, check)
    _port_open(se_host, tp, 4, facts, check)


@pytest.mark.check("SE6-FW-03")
def test_headnode_ipv6_matches_ipv4(se_headnode, facts, check):
    fw = facts.firewall(se_headnode, se_headnode.testinfra)
    v4, v6 = fw.view(4), fw.view(6)
    gaps = firewall.parity(v4, v6)
    if not gaps:
        return
    prefixes = [str(p) for p in se_headnode.vars.get("se_ipv6_prefixes") or []]
    src = prefixes[0] if prefixes else "<site IPv6 prefix>"
    open_all = firewall.PortSet()
    lines, observed = [], []
    for g in gaps:
        restricted = bool(g.ipv4_rule)
        if restricted:
            lines.append(fwkind.open_command(fw, g.ports, 6, src))
        else:
            open_all = open_all | g.ports
        if g.kind == "missing":
            observed.append(f"{g.ports} accepted over IPv4" + (f" (only for some peers: {g.ipv4_rule})"
                                                               if restricted else "")
                            + " but not over IPv6")
        else:
            observed.append(f"{g.ports} open to all over IPv4 but only for some peers over IPv6")
    if open_all:
        if fw.kind in ("firewalld", "nftables"):
            lines.insert(0, fwkind.open_command(fw, open_all, 6))
        else:
            lines[:0] = [fwkind.open_command(fw, firewall.PortSet((iv,)), 6) for iv in open_all.intervals]
    check.fail(f"every TCP port accepted over IPv4 ({v4.any_peer()}) accepted over IPv6",
               f"{fw.label()}: IPv6 lacks: " + "; ".join(observed),
               lines=" ; ".join(f"`{x}`" for x in lines), keep=fwkind.keep_hint(fw.kind, 6))


@pytest.mark.check("SE6-FW-04")
def test_saved_firewall_matches_live(se_host, host, facts, check):
    fw = facts.firewall(se_host, host)
    if fw.kind == "firewalld":
        if not fw.runtime:
            check.fail("firewalld's permanent and runtime configuration (firewall-cmd --list-all-zones)",
                       "firewalld runs but firewall-cmd --list-all-zones gave nothing",
                       advice="Check `firewall-cmd --list-all-zones` on the host.", diff="unknown")
        diffs = firewalld.compare(fw.permanent, fw.runtime)
        fixes = " ; ".join(f"`{c}`" for c in firewalld.fix_commands(diffs))
        check.expect(not diffs, "firewalld permanent configuration equal to the runtime one",
                     f"{fw.label()}: {firewalld.describe(diffs)}",
                     advice=f"Keep what runs now: {fixes} (or `firewall-cmd --runtime-to-permanent`); "
                            "or drop the runtime changes: `firewall-cmd --reload`.",
                     diff=firewalld.describe(diffs))
        return
    if fw.kind == "nftables":
        saved, err = nft_saved_json(host)
        conf = fwkind.NFT_CONF
        if saved is None or err:
            why = f"{conf} does not exist" if saved is None else f"{conf} does not load: {err}"
            check.fail(f"{conf} loading the live rule set", f"nftables: {why}: the rules in force "
                       "are lost at the next reboot", diff=why,
                       advice=f"Save the live rules: `nft list ruleset > {conf}` (review it), then "
                              "`systemctl enable nftables`.")
        d = nft.compare(saved, fw.nft_json)
        check.expect(d.same, f"{conf} loading exactly the live nftables rules", f"nftables: {d.describe()}",
                     advice=f"Decide which set is right: write the live rules to {conf} "
                            f"(`nft list ruleset > {conf}`) or load the saved ones (`nft -f {conf}`).",
                     diff=d.describe())
        return
    if not fw.kind.startswith("iptables"):
        check.not_applicable(f"no firewall rules on this host ({fw.label()})")
    path = "/etc/sysconfig/ip6tables"
    saved_text = read_file(host, path)
    if saved_text is None:
        check.not_applicable(f"{path} does not exist (no iptables-services; rules saved elsewhere)")
    diff = iptables.compare_saved(saved_text, fw.iptables.get(6, []), family=6)
    check.expect(diff.same, f"{path} equal to the live ip6tables rules", f"{fw.label()}: {diff.describe()}",
                 advice="Decide which set is right: `service ip6tables save` (keep live) or "
                        "`service ip6tables restart` (load saved).", diff=diff.describe())
