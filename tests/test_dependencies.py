"""SE6-DEP-01: what the SE's own server fetches, reachable over IPv6 from the host itself: the
token issuers it trusts (read from its own configuration) and its CAs' CRL URLs. Tried from the
host, at the host's resolver (se_dualstack.dependencies); a failure names the dependency, where
it was read, the host and what was tried, and is pinned on the host."""

from __future__ import annotations

import pytest

from se_dualstack import dependencies
from se_dualstack.concerns import dns as dnscheck
from se_dualstack.concerns import families
from se_dualstack.facts import resolver_down

pytestmark = pytest.mark.dependencies


def _report(se_host, host, facts, check):
    addrs = facts.host_addresses(se_host, host)
    if addrs is not None and not families.usable(addrs, 6):
        check.not_applicable(f"{se_host.name} has no global IPv6 address to try them from "
                             "(SE6-IF-03 reports it)")
    return facts.dependencies(se_host, host)


def _site_dns_answers(deps, rep, se_host, facts, check):
    """A name the host resolved to nothing at all is asked at the site's resolvers too: if they
    do not answer either, that is the one root cause (a dead resolver), not the dependency."""
    client = facts.dns_client(se_host, check)
    for d in deps:
        p = rep.probe(d)
        if p is not None and not p.aaaa and not p.ipv4:
            try:
                client.addresses(p.name, 6)
            except dnscheck.ResolverDown as e:
                resolver_down(check, e, client.label)


def _reachable(kind, deps, rep, se_host, facts, check):
    bad = rep.failures(deps)
    if not bad:
        return
    _site_dns_answers(deps, rep, se_host, facts, check)
    first = next(d for d in deps if any(line.startswith(f"{d.kind} {d.url} ") for line in bad))
    check.fail(f"every {kind} of {se_host.name} reachable over IPv6 from it "
               f"({', '.join(d.url for d in deps)})",
               "; ".join(bad) + f" ({dependencies.tried(se_host.name, rep.timeout)})",
               cause=f"dependency:{first.kind} {first.url}",
               what=", ".join(line.split(" (", 1)[0] for line in bad))


@pytest.mark.check("SE6-DEP-01")
def test_token_issuers_over_ipv6(se_host, host, facts, check):
    rep = _report(se_host, host, facts, check)
    if not rep.issuers:
        check.not_applicable(f"the server trusts no token issuer that could be read: {rep.issuer_note}")
    _reachable("token issuer", rep.issuers, rep, se_host, facts, check)


@pytest.mark.check("SE6-DEP-01")
def test_crl_urls_over_ipv6(se_host, host, facts, check):
    rep = _report(se_host, host, facts, check)
    if not rep.crls:
        check.not_applicable(f"no CRL URL to fetch: {rep.crl_note}")
    _reachable("CRL URL", rep.crls, rep, se_host, facts, check)
