"""Interface checks: saved configuration enables IPv6 (ifcfg on EL6/EL7, NetworkManager on
EL8+), live global address, default route, disable_ipv6, and saved-vs-live agreement."""

from __future__ import annotations

import pytest

from se_dualstack import knowledge
from se_dualstack.concerns import interfaces as netconfig
from se_dualstack.facts import el_major, os_family, read_file

pytestmark = pytest.mark.interfaces


@pytest.mark.check("SE6-IF-01")
def test_ifcfg_enables_ipv6(se_host, host, facts, check):
    fam = os_family(se_host)
    if not knowledge.uses_ifcfg(fam):
        check.not_applicable(f"ifcfg files configure the network on {', '.join(knowledge.ifcfg_os())} "
                              f"only; this host runs {fam or 'an undetected OS'} (see SE6-IF-02)")
    _, saved, _ = facts.saved_ipv6(se_host, host)
    iface = se_host.interface
    check.expect(saved.enabled, f"ifcfg-{iface} with IPV6INIT=yes and DHCPV6C=yes (or IPV6ADDR)",
                 saved.observed, iface=iface, lines=" ".join(saved.missing))


@pytest.mark.check("SE6-IF-02")
def test_networkmanager_keeps_ipv6(se_host, host, facts, check):
    fam = os_family(se_host)
    major = el_major(fam)
    if major is None or major < 8:
        check.not_applicable(f"NetworkManager profiles are checked on EL8 and later; this host runs "
                              f"{fam or 'an undetected OS'}")
    _, saved, _ = facts.saved_ipv6(se_host, host)
    check.expect(saved.enabled, f"the profile of {se_host.interface} with ipv6.method auto, dhcp or manual",
                  saved.observed, lines="; ".join(saved.missing))


@pytest.mark.check("SE6-IF-03")
def test_global_ipv6_address(se_host, host, facts, check):
    iface = se_host.interface
    check.expect(host.interface(iface).exists, f"interface {iface}",
                 f"no interface {iface} (set se_external_interface)", iface=iface)
    glob = facts.live_ipv6(host, iface)
    every = host.interface(iface, "inet6").addresses
    check.expect(bool(glob), f"a global IPv6 address on {iface}",
                  f"IPv6 addresses on {iface}: {', '.join(every) or 'none'}", iface=iface)


@pytest.mark.check("SE6-IF-04")
def test_ipv6_default_route(se_host, host, check):
    out = host.run("ip -6 route show default")
    routes = netconfig.parse_default_routes(out.stdout) if out.rc == 0 else []
    check.expect(bool(routes), "an IPv6 default route",
                  f"`ip -6 route show default` printed {out.stdout.strip() or 'nothing'}"
                  + (f" (rc {out.rc}: {out.stderr.strip()})" if out.rc else ""),
                  iface=se_host.interface)


@pytest.mark.check("SE6-IF-05")
def test_ipv6_not_disabled(se_host, host, check):
    iface = se_host.interface
    seen, bad = [], []
    for scope in ("all", iface):
        key = f"net.ipv6.conf.{scope}.disable_ipv6"
        text = read_file(host, f"/proc/sys/net/ipv6/conf/{scope}/disable_ipv6")
        value = text.strip() if text is not None else "absent (IPv6 not loaded)"
        seen.append(f"{key}={value}")
        if value != "0":
            bad.append(f"{key}=0")
    check.expect(not bad, f"net.ipv6.conf.all.disable_ipv6=0 and net.ipv6.conf.{iface}.disable_ipv6=0",
                  ", ".join(seen), iface=iface, keys=" ".join(bad))


@pytest.mark.check("SE6-IF-06")
def test_saved_config_matches_live(se_host, host, facts, check):
    kind, saved, reason = facts.saved_ipv6(se_host, host)
    if saved is None:
        check.not_applicable(reason)
    live = facts.live_ipv6(host, se_host.interface)
    ok, advice = netconfig.saved_vs_live(saved.enabled, bool(live))
    where = "ifcfg" if kind == "ifcfg" else "NetworkManager profile"
    check.expect(ok, f"saved configuration ({where}) and live state of {se_host.interface} agree on IPv6",
                  f"saved: {saved.observed}; live global IPv6: {', '.join(live) or 'none'}",
                  advice=advice[0].upper() + advice[1:] + ".")


@pytest.mark.check("SE6-IF-07")
def test_source_address_is_published(se_host, host, site, facts, check):
    iface = se_host.interface
    published = list(facts.addresses(se_host, 6, check).records)
    if not published:
        check.not_applicable(f"{se_host.name} has no AAAA record to speak from; SE6-DNS-02 reports it")
    # A global destination, the site's first IPv6 resolver (when there is no default route), and
    # the other SE hosts, which see this address when it is a third-party-copy client.
    v6_resolvers = [s for s in facts.dns_client(se_host, check).nameservers if ":" in s]
    peers = {a: f"{o.name} ({a})" for o in site.hosts if o.name != se_host.name
             for a in facts.addresses(o, 6, check).records[:1]}
    labels = {netconfig.GLOBAL_PROBE: netconfig.GLOBAL_PROBE, **{r: r for r in v6_resolvers[:1]}, **peers}
    out = host.run(netconfig.route_get_script(list(labels)))
    found = netconfig.parse_route_get_many(out.stdout)
    sources = {labels[d]: src for d, src in found.items() if src and d in labels}
    if not sources:
        why = (out.stdout or out.stderr).strip()[:200]
        check.not_applicable(f"no IPv6 route from {se_host.name} to {', '.join(labels)} ({why}); "
                              "SE6-IF-04 reports the missing route")
    flags = netconfig.parse_addr_flags(host.run("ip -6 addr show dev %s", iface).stdout)
    tempaddr = read_file(host, f"/proc/sys/net/ipv6/conf/{iface}/use_tempaddr")
    verdict = netconfig.source_address(sources, published, netconfig.temporary_addresses(flags),
                                       tempaddr.strip() if tempaddr is not None else None, iface)
    check.expect(verdict.ok, f"IPv6 source address {', '.join(published)} (the published AAAA) and "
                              f"no temporary address on {iface}", verdict.observed,
                  published=published[0], iface=iface)
