"""The redirect chain: every hop from an entry point to a data server, per protocol, family and
credential, without moving data. The chain (entry -> hop -> data server, addresses and ports) goes
to the report; a failure names the hop and is pinned on the host at fault."""

from __future__ import annotations

import pytest

from se_dualstack.applicability import require_transfer, shared_cause
from se_dualstack.transfer.addresses import site_resolve
from se_dualstack.transfer.hops.cases import ChainCase, site_view, trace, trace_timeout
from se_dualstack.transfer.hops.chain import judge, summary
from se_dualstack.transfer.hops.html import chain_html
from se_dualstack.transfer.hops.xroot import TracerUnavailable

pytestmark = pytest.mark.transfer


@pytest.mark.check("SE6-XFER-03")
def test_redirect_chain(chain_case: ChainCase, transfer_session, site, facts, check, add_html) -> None:
    case = chain_case
    # N/A for an end declared without the family; could not run from a suite machine without it.
    hosts = {h.name: h for h in site.hosts}
    require_transfer(case, hosts, facts.suite_machine(), check.at(case.target))
    expected = (f"every hop of the {case.protocol} redirect chain from {case.entry}:{case.port} to "
                f"{case.target}'s test directory lands on an IPv{case.family} address and port of "
                "the site that accepts the connection")
    why = transfer_session.precondition(case.auth, tuple(dict.fromkeys(
        ((case.entry, case.test_dir), (case.target, case.test_dir)))))
    if why:
        check.at(case.target).fail(expected, why)
    # A service that did not answer an earlier transfer or chain is one root cause: not asked again.
    silence = transfer_session.silent.blocking(case)
    if silence is not None:
        check.at(silence.host).could_not_run(silence.reason(), fix=silence.fix("redirect chain"),
                                             cause=silence.cause)
    resolve = site_resolve(site, facts.dns_cache)
    try:
        chain = trace(case, transfer_session.settings_for(case.auth), resolve)
    except TracerUnavailable as exc:
        check.at(case.entry).fail(expected, str(exc), cause="suite:python3-xrootd",
                                  fix="Install python3-xrootd where the suite runs (make setup does).")
    findings = judge(chain, site_view(site, case, resolve))
    add_html(chain_html(chain, findings))
    for f in findings:
        if f.warn:  # no family matter: a port the registry does not name, TLS, a data server's answer
            check.at(f.host).warn(f.what, f.fix)
    bad = [f for f in findings if not f.warn]
    if bad:
        # A failure another check names the cause of (no AAAA, a token issuer out of reach) joins
        # that root cause, as a transfer's does; a server that accepted and then said nothing is
        # marked silent, as a transfer that timed out marks it.
        if chain.timed_out and bad[0].host in hosts:
            seconds = trace_timeout(transfer_session.settings_for(case.auth))
            host, why = bad[0].host, ""
            cause = transfer_session.mark_silent(case, host, chain.landing[1], seconds).cause
        else:
            host, cause, why = shared_cause(case, [bad[0].host], hosts, facts, check)
        check.at(host or bad[0].host).fail(
            expected, f"{'; '.join(f.what for f in bad)} (chain: {summary(chain)}){why}", fix=bad[0].fix,
            cause=cause)
    check.at(chain.landing[0] if chain.hops else case.entry).expect(
        not chain.cleanup.startswith("left"), f"the probe file {chain.cleanup and case.test_dir} removed",
        chain.cleanup, fix=f"Remove the se6test-*-chain-* file in {case.test_dir} by hand and read the "
                           "data server's log for why the delete failed.")
