"""DNS checks: A, AAAA, allowed prefixes, forward-confirmed reverse DNS, AAAA on the interface.

Asked with dnspython at the site's resolvers (``se_resolvers``), never ``getent``; answers are
cached for the run, so the six checks of a host cost one query per record.
"""

from __future__ import annotations

import pytest

from se_dualstack.applicability import no_aaaa_key, require_declared
from se_dualstack.concerns import dns as dnscheck
from se_dualstack.facts import resolver_down

pytestmark = pytest.mark.dns


@pytest.mark.check("SE6-DNS-01")
def test_a_record(se_host, facts, check):
    require_declared(se_host, 4, check)
    ans = facts.addresses(se_host, 4, check)
    check.expect(bool(ans.records), f"an A record for {se_host.name}", ans.describe())


@pytest.mark.check("SE6-DNS-02")
def test_aaaa_record(se_host, facts, check):
    ans = facts.addresses(se_host, 6, check)  # without the AAAA a DNS64 made up
    if not ans.records and ans.status == "synthesized":
        made = facts.synthesized(se_host, check)
        dns64 = facts.dns64(se_host.vars)
        a = set(facts.addresses(se_host, 4, check).records)
        what = "; ".join(
            f"{x.address} made by DNS64 at {', '.join(dns64.resolvers_for(x.prefix))} in NAT64 prefix "
            f"{x.prefix} from " + (f"the A record {x.ipv4}" if x.ipv4 in a else
                                   f"{x.ipv4} (A records: {', '.join(sorted(a)) or 'none'})")
            for x in made)
        check.fail(f"an AAAA record of {se_host.name}'s own",
                   f"only a synthesized AAAA: {what}; IPv6-only clients reach the NAT64 gateway, "
                   "not the host",
                   fix=f"Publish an AAAA record for {se_host.name} with the address configured on its "
                       f"external interface; the DNS64 then passes it on instead of making one up.",
                   cause=no_aaaa_key(se_host.name))
    if not ans.records:  # one root cause with the IPv6 transfers that cannot reach the host
        check.fail(f"an AAAA record for {se_host.name}", ans.describe(), cause=no_aaaa_key(se_host.name))


def _aaaa_or_na(se_host, facts, check):
    ans = facts.addresses(se_host, 6, check)
    if not ans.records:
        check.not_applicable(f"{se_host.name} has no AAAA record ({ans.describe()}); SE6-DNS-02 reports it")
    return list(ans.records)


@pytest.mark.check("SE6-DNS-03")
def test_aaaa_in_allowed_prefixes(se_host, site, facts, check):
    aaaa = _aaaa_or_na(se_host, facts, check)
    prefixes = [str(p) for p in se_host.vars.get("se_ipv6_prefixes") or site.ipv6_prefixes]
    bad = dnscheck.outside_prefixes(aaaa, prefixes)
    check.expect(not bad, f"every AAAA within {', '.join(prefixes)}",
                  f"AAAA {', '.join(bad)} outside them", prefixes=", ".join(prefixes))


def _fcrdns(se_host, family, facts, check):
    client = facts.dns_client(se_host, check)
    ans = facts.addresses(se_host, family, check)
    rec = "AAAA" if family == 6 else "A"
    if not ans.records:
        check.not_applicable(f"{se_host.name} has no {rec} record; "
                              f"{'SE6-DNS-02' if family == 6 else 'SE6-DNS-01'} reports it")
    try:
        results = [dnscheck.fcrdns(client, se_host.name, a) for a in ans.records]
    except dnscheck.ResolverDown as e:
        resolver_down(check, e, client.label)
    bad = [r for r in results if not r.ok]
    if bad:
        check.fail(f"PTR of each {rec} address naming {se_host.name}, which resolves back to it",
                    "; ".join(r.detail for r in bad),
                    ptr_owner=dnscheck.reverse_zone_hint(bad[0].address))


@pytest.mark.check("SE6-DNS-04")
def test_ipv6_reverse_dns(se_host, facts, check):
    _fcrdns(se_host, 6, facts, check)


@pytest.mark.check("SE6-DNS-05")
def test_ipv4_reverse_dns(se_host, facts, check):
    require_declared(se_host, 4, check)
    _fcrdns(se_host, 4, facts, check)


@pytest.mark.check("SE6-DNS-06")
def test_aaaa_on_interface(se_host, host, facts, check):
    aaaa = _aaaa_or_na(se_host, facts, check)
    live = facts.live_ipv6(host, se_host.interface)
    missing = [a for a in aaaa if a not in live]
    check.expect(not missing, f"AAAA {', '.join(aaaa)} configured on {se_host.interface}",
                  f"{', '.join(missing)} not on {se_host.interface} "
                  f"(global IPv6 there: {', '.join(live) or 'none'})",
                  address=", ".join(missing), iface=se_host.interface, live=", ".join(live) or "none")
