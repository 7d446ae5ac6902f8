"""The redirect chain as a report extra: entry -> hop -> data server, addresses and ports.

Rendering only, apart from the logic (:mod:`~se_dualstack.transfer.hops.chain`): the rows are made
here, the HTML is the template ``data/templates/chain.html.j2`` (styled by the report's one style
sheet), and it leaves through :func:`~se_dualstack.redact.redact` like every report text (a
redirect's query may carry a token: the chain never keeps one, this is the belt).
"""

from __future__ import annotations

from se_dualstack.reporting import templates
from se_dualstack.transfer.hops.chain import Attempt, Chain, Finding, hostport
from se_dualstack.transfer.render import credential


def _attempts(attempts: list[Attempt]) -> str:
    if not attempts:
        return "no connection attempted"
    return "; ".join(f"{hostport(a.address, a.port)} " + ("connected" if a.ok else f"failed: {a.error}")
                     for a in attempts)


def chain_html(chain: Chain, findings: list[Finding]) -> str:
    """One table row per step of the chain (a failed one marked), the findings under it."""
    bad = {f.hop for f in findings if not f.warn}
    rows = [("entry", f"{chain.entry}:{chain.entry_port}", "", "", _attempts(chain.start), -1 in bad)]
    rows += [(f"hop {i + 1}", hop.target.hostport, f"{hop.issuer}:{hop.issuer_port} answered {hop.answer}",
              hop.target.text, _attempts(hop.attempts) + (f" TLS: {hop.tls}" if hop.tls else ""), i in bad)
             for i, hop in enumerate(chain.hops)]
    ended = chain.final or (f"stopped: {chain.error}" if chain.error else "-")
    return templates.render("chain.html.j2", chain=chain, credential=credential(chain.auth), rows=rows,
                            ended=ended, findings=findings)
