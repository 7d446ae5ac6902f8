"""The redirect chain: every hop from an entry point to a data server, per protocol, family and
credential, without moving data. The chain (entry -> hop -> data server, addresses and ports) goes
to the report; a failure names the hop and is pinned on the host at fault."""

from __future__ import annotations

import warnings

import pytest

from se_dualstack.transfer.addresses import site_resolve
from se_dualstack.transfer.hops.cases import ChainCase, site_view, trace
from se_dualstack.transfer.hops.chain import judge, summary
from se_dualstack.transfer.hops.html import chain_html
from se_dualstack.transfer.hops.xroot import TracerUnavailable

pytestmark = pytest.mark.transfer


class RedirectChainWarning(UserWarning):
    """What a chain showed that is no family matter: a port the storage registry does not name for
    the hop, TLS or the data server's answer once it accepted the connection."""


@pytest.mark.check("SE6-XFER-03")
def test_redirect_chain(chain_case: ChainCase, transfer_session, site, facts, check, add_html) -> None:
    case = chain_case
    expected = (f"every hop of the {case.protocol} redirect chain from {case.entry}:{case.port} to "
                f"{case.target}'s test directory lands on an IPv{case.family} address and port of "
                "the site that accepts the connection")
    why = transfer_session.precondition(case.auth, tuple(dict.fromkeys(
        ((case.entry, case.test_dir), (case.target, case.test_dir)))))
    if why:
        check.at(case.target).fail(expected, why)
    resolve = site_resolve(site, facts.dns_cache)
    try:
        chain = trace(case, transfer_session.settings_for(case.auth), resolve)
    except TracerUnavailable as exc:
        check.at(case.entry).fail(expected, str(exc), cause="suite:python3-xrootd",
                                  fix="Install python3-xrootd where the suite runs (make setup does).")
    findings = judge(chain, site_view(site, case, resolve))
    add_html(chain_html(chain, findings))
    for f in findings:
        if f.warn:
            text = f"[SE6-XFER-03] {f.host}: {f.what}. Fix: {f.fix}"
            warnings.warn(RedirectChainWarning(text), stacklevel=1)
    bad = [f for f in findings if not f.warn]
    if bad:
        check.at(bad[0].host).fail(expected, f"{'; '.join(f.what for f in bad)} (chain: {summary(chain)})",
                                   fix=bad[0].fix)
    check.at(chain.landing[0] if chain.hops else case.entry).expect(
        not chain.cleanup.startswith("left"), f"the probe file {chain.cleanup and case.test_dir} removed",
        chain.cleanup, fix=f"Remove the se6test-*-chain-* file in {case.test_dir} by hand and read the "
                           "data server's log for why the delete failed.")
