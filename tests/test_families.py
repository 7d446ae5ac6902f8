"""SE6-FAM-01: a host the inventory declares IPv6-only (``se_families: [ipv6]``) has really lost
IPv4: no A record at the site's resolvers, no IPv4 address on the host, nothing reachable over
IPv4. Its IPv4 checks and transfers are N/A (se_dualstack.applicability), so these three facts
are what catches IPv4 left behind."""

from __future__ import annotations

import pytest

from se_dualstack.concerns import families

pytestmark = pytest.mark.families


def _declared_ipv6_only(se_host, check):
    if not families.ipv6_only(se_host.vars):
        fams = ", ".join(se_host.vars.get("se_families") or families.DEFAULT_FAMILIES)
        check.not_applicable(f"{se_host.name} is declared dual-stack (se_families: [{fams}]): IPv4 is "
                             "meant to be there, and its IPv4 checks look at it")


def _ipv4_addresses(se_host, host, facts, check):
    addrs = facts.host_addresses(se_host, host)
    if addrs is None:
        check.fail("the host's addresses (ip addr show)", "ip addr show failed on the host",
                   fix=f"Check that iproute2 (ip) is installed on {se_host.name}.", what="")
    return families.usable(addrs, 4)


@pytest.mark.check("SE6-FAM-01")
def test_no_a_record(se_host, facts, check):
    _declared_ipv6_only(se_host, check)
    ans = facts.addresses(se_host, 4, check)
    resolvers = facts.dns_client(se_host, check).label
    check.expect(not ans.records, f"no A record for {se_host.name} (declared IPv6-only)",
                 f"A {', '.join(ans.records)} published at {resolvers}",
                 what=f"remove its A record {', '.join(ans.records)} from the site DNS")


@pytest.mark.check("SE6-FAM-01")
def test_no_ipv4_address(se_host, host, facts, check):
    _declared_ipv6_only(se_host, check)
    v4 = _ipv4_addresses(se_host, host, facts, check)
    shown = ", ".join(str(a) for a in v4)
    check.expect(not v4, f"no IPv4 address on {se_host.name} but loopback (declared IPv6-only)",
                 f"IPv4 {shown} (ip addr show)",
                 what=f"remove {shown} and the IPv4 route (ifcfg without IPADDR/GATEWAY, or "
                      "NetworkManager ipv4.method disabled)")


@pytest.mark.check("SE6-FAM-01")
def test_no_ipv4_listener(se_host, host, facts, check):
    _declared_ipv6_only(se_host, check)
    v4 = _ipv4_addresses(se_host, host, facts, check)
    socks, bindv6only = facts.listeners(se_host, host)
    # A wildcard or dual-stack socket on a host without an IPv4 address is reachable at nothing.
    reachable = families.ipv4_listeners(socks, bindv6only) if v4 else []
    at = ", ".join(a.address for a in v4)
    check.expect(not reachable, f"no listening socket reachable over IPv4 on {se_host.name} "
                                "(declared IPv6-only)",
                 f"reachable at IPv4 {at}: {'; '.join(reachable)}",
                 what=f"take its IPv4 address {at} off (then no socket can be reached over IPv4), "
                      "or bind the services to IPv6 only")
