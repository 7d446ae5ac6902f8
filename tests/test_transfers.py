"""Functional transfers with gfal2: one test per protocol x forced family x entry point, and
IPv6 third-party copies. Steps, addresses, timings and a gfal-copy command go to the report."""

from __future__ import annotations

import pytest

from se_dualstack.applicability import require_transfer, shared_cause
from se_dualstack.transfer import protocols
from se_dualstack.transfer.addresses import site_resolve
from se_dualstack.transfer.cases import TpcCase, TransferCase
from se_dualstack.transfer.evidence import used_connections
from se_dualstack.transfer.hops.cases import trace_context
from se_dualstack.transfer.outcome import TransferResult
from se_dualstack.transfer.render import result_html
from se_dualstack.transfer.stats import summarize
from se_dualstack.transfer.tpc import refusal, why_ipv4

pytestmark = pytest.mark.transfer


def _observed(r: TransferResult, case_entry: str, target: str) -> str:
    via = f" via {case_entry}" if case_entry != target else ""
    used = ", ".join(str(c) for c in used_connections(r.connections)[:4]) or "no connection observed"
    fault = (f"address at fault {r.fault_address} ({r.fault_host or target}); "
             if r.fault_address else "")
    landed = f"redirect landed on {r.landed}; " if r.landed else ""
    return (f"{r.error_summary()} ({fault}{landed}target {target}{via}; connections: {used}; "
            f"forced by: {r.forcing})")


def _expected(case: TransferCase, size: int) -> str:
    """What the round trip should do, naming the pinned address(es) of a per-address run."""
    at = f" at {case.address}" if case.address else ""
    to = (f"to {case.target}{at}" if case.entry == case.target
          else f"to {case.target} through {case.entry}{at}")
    pinned = f" (redirect target pinned to {case.target_address})" if case.target_address else ""
    return f"{case.protocol} round trip of {size} bytes over IPv{case.family} only {to}{pinned}"


def _no_test_dir(case: TransferCase, check, expected: str) -> None:
    """A service alias (se_endpoints) with no test directory for this address: say which and why."""
    if case.endpoint.test_dir:
        return
    rec = "AAAA" if case.family == 6 else "A"
    what = (f"address {case.address} of {case.entry}" if case.address else
            f"{case.entry}: no {rec} record at the site's resolvers (or they did not answer), or its "
            f"{rec} address")
    check.at(case.target).fail(
        expected, f"{what} belongs to no inventory host and its se_endpoints entry has no "
                  "transfer_dir, so there is no test directory to use",
        fix=f"Publish the {rec} record(s) of {case.entry} for every door behind it and list the "
                   "hosts holding them in the inventory, or give its se_endpoints entry a transfer_dir.")


@pytest.mark.check("SE6-XFER-01")
def test_transfer(transfer_case: TransferCase, transfer_session, check, add_html, record, site,
                  facts) -> None:
    case = transfer_case
    hosts = {h.name: h for h in site.hosts}
    require_transfer(case, hosts, facts.suite_machine(), check.at(case.target))
    _no_test_dir(case, check, _expected(case, transfer_session.settings.size))
    results = transfer_session.run_case(case)
    stats = summarize(results)
    add_html(result_html(results, stats))
    record(results)
    expected = _expected(case, transfer_session.settings.size)
    fmt = {"protocol": case.protocol}
    if len(results) == 1:
        r = results[0]
        if not r.ok:
            # The endpoint at fault (a redirect target, the address that did not answer); a
            # transfer not tried because its service did not answer an earlier one could not run
            # under that root cause. A failure joins the cause another check names (no AAAA, a
            # token issuer out of reach), else the one it shares (that silent service), with the
            # fix its evidence points to.
            at = r.fault_host or case.target
            if r.could_not_run:
                check.at(at).could_not_run(r.error_summary(), fix=r.fix, cause=r.cause)
            host, cause, why = shared_cause(case, [at], hosts, facts, check)
            check.at(host or at).fail(expected, _observed(r, case.entry, case.target) + why,
                                      fix=None if cause else (r.fix or None),
                                      cause=cause or r.cause, **fmt)
        if not r.forced:
            # Passed, but the family was only verified, not forced: say so rather than hide it.
            check.at(case.target).expect(set(r.families_used) == {case.family}, expected,
                          f"family not forced ({r.forcing}); used {r.families_used}", **fmt)
        return
    minimum = transfer_session.settings.min_success
    first_bad = next((r for r in results if not r.ok), None)
    check.at(case.target).expect(
        stats.rate >= minimum,
        f"{expected}, success rate >= {minimum:.0%} over {stats.runs} runs",
        f"{stats.successes}/{stats.runs} succeeded ({stats.rate:.0%}); first failure: "
        + (_observed(first_bad, case.entry, case.target) if first_bad else "-"),
        fix=(first_bad.fix or None) if first_bad else None, **fmt)


@pytest.mark.check("SE6-XFER-02")
def test_third_party_copy(tpc_case: TpcCase, transfer_session, check, add_html, record, site,
                         facts) -> None:
    case = tpc_case
    hosts = {h.name: h for h in site.hosts}
    require_transfer(case, hosts, facts.suite_machine(), check.at(case.dest_host))
    r = transfer_session.run_tpc(case)
    add_html(result_html([r]))
    expected = (f"{case.protocol} third-party copy {case.source_host} -> {case.dest_host} over IPv6 "
                "with ADLER32 verified")
    resolve = site_resolve(site, facts.dns_cache)
    refused = refusal(case, r, lambda: protocols.server_version(
        case.protocol, case.dest.host, case.dest.port,
        trace_context(transfer_session.settings_for(case.auth), 6, resolve)))
    if refused:  # the servers will not copy with this credential: not a transfer figure
        check.at(case.dest_host).not_applicable(refused)
    record([r])
    if not r.ok:
        at = r.fault_host or case.dest_host
        if r.could_not_run:
            check.at(at).could_not_run(r.error_summary(), fix=r.fix, cause=r.cause)
        step = r.failed_step.name if r.failed_step else ""
        # The client's own step on one end (listing, seeding the source) failed: that end is at
        # fault, not the server-to-server copy.
        own = step in ("list", "seed")
        # A copy that failed between the servers may have been refused by either end.
        other = case.source_host if at == case.dest_host else case.dest_host
        host, cause, why = shared_cause(case, [at] if own else [at, other], hosts, facts, check)
        at = host or at
        check.at(at).fail(expected, f"{r.error_summary()} (step {step or '-'} at {at}; forced by: "
                                    f"{r.forcing}){why}", protocol=case.protocol,
                          cause=cause or r.cause,
                          fix=(f"The client could not reach {at} over {case.protocol} (step {step}): "
                               f"check {at}'s {case.protocol} port over IPv6 (AAAA, firewall, the "
                               "service listening on IPv6) with the command in the report."
                               if own and not r.timed_out else (None if cause else (r.fix or None))))
    _leg_family(case, transfer_session.legs.get(case.id), site, resolve, check, expected)


def _leg_family(case: TpcCase, leg, site, resolve, check, expected: str) -> None:
    """The servers' own connection went over the copy's family (read from their socket tables)."""
    wrong = leg.wrong(case.family) if leg is not None else []
    if not wrong:
        return
    g = wrong[0]
    peer = case.source if g.opened_by == case.dest_host else case.dest
    reasons = why_ipv4(site.host(g.opened_by).testinfra, g.opened_by, peer.host,
                       next(iter(resolve(peer.host, 6)), ""), next(iter(resolve(peer.host, 4)), ""))
    why = ("; ".join(reasons) if reasons else "neither its gai.conf, its server processes' settings "
           "nor its resolver explains it")
    check.at(g.opened_by).fail(
        expected, f"the server-to-server leg went over IPv{g.family}: {g}; {g.opened_by} opened it, "
                  f"and may have chosen IPv{g.family} because: {why}",
        fix=f"On {g.opened_by}, let connections to {peer.host} prefer IPv6: undo what is named above (a "
            "gai.conf precedence for ::ffff:0:0/96, XRD_PREFERIPV4 or -Djava.net.preferIPv4Stack in the "
            "server's environment, an xrd.network option; an AAAA record it cannot see); or declare "
            "se_ipv6_alias names, so the copy's URLs force IPv6.")
