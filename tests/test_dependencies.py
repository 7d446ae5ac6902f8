"""SE6-DEP-01: what the SE's own server fetches, reachable over IPv6 from the host itself: the
token issuers it trusts (read from its own configuration) and its CAs' CRL URLs. Tried from the
host, at the host's resolver (se_dualstack.dependencies); a failure names the dependency, where
it was read, the host and what was tried, and is pinned on the host."""

from __future__ import annotations

import pytest

from se_dualstack import dependencies
from se_dualstack.concerns import families

pytestmark = pytest.mark.dependencies


def _report(se_host, host, facts, check):
    addrs = facts.host_addresses(se_host, host)
    if addrs is not None and not families.usable(addrs, 6):
        check.not_applicable(f"{se_host.name} has no global IPv6 address to try them from "
                             "(SE6-IF-03 reports it)")
    return facts.dependencies(se_host, host)


def _reachable(kind, deps, rep, se_host, check):
    bad = rep.failures(deps)
    if not bad:
        return
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
    _reachable("token issuer", rep.issuers, rep, se_host, check)


@pytest.mark.check("SE6-DEP-01")
def test_crl_urls_over_ipv6(se_host, host, facts, check):
    rep = _report(se_host, host, facts, check)
    if not rep.crls:
        check.not_applicable(f"no CRL URL to fetch: {rep.crl_note}")
    _reachable("CRL URL", rep.crls, rep, se_host, check)
