"""The redirect chain as a report extra: entry -> hop -> data server, addresses and ports.

Rendering only, apart from the logic (:mod:`~se_dualstack.transfer.hops.chain`), so the report
layer can take it as it is; the string ends in :func:`~se_dualstack.redact.redact` like every
report text (a redirect's query may carry a token: the chain never keeps one, this is the belt).
"""

from __future__ import annotations

import html

from se_dualstack.redact import redact
from se_dualstack.transfer.hops.chain import Attempt, Chain, Finding, hostport

# "WLCG token", not "bearer ...": redact() takes the word after "bearer" for a token value.
CREDENTIAL = {"x509": "X.509 proxy (TLS client certificate, GSI)", "token": "WLCG token (HTTP header, ztn)"}


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _attempts(attempts: list[Attempt]) -> str:
    if not attempts:
        return "no connection attempted"
    return "; ".join(f"{hostport(a.address, a.port)} " + ("connected" if a.ok else f"failed: {a.error}")
                     for a in attempts)


def chain_html(chain: Chain, findings: list[Finding]) -> str:
    """One table row per step of the chain, the findings under it."""
    bad = {f.hop for f in findings if not f.warn}
    rows = [f"<tr class='{'se6-failed' if -1 in bad else ''}'><td>entry</td><td>{_esc(chain.entry)}:"
            f"{chain.entry_port}</td><td>-</td><td>{_esc(_attempts(chain.start))}</td></tr>"]
    for i, hop in enumerate(chain.hops):
        cls = "se6-failed" if i in bad else ""
        rows.append(f"<tr class='{cls}'><td>hop {i + 1}</td><td>{_esc(hop.target.hostport)}</td>"
                    f"<td>{_esc(hop.issuer)}:{hop.issuer_port} answered {_esc(hop.answer)}: "
                    f"<code>{_esc(hop.target.text)}</code></td><td>{_esc(_attempts(hop.attempts))}"
                    f"{_esc(' TLS: ' + hop.tls) if hop.tls else ''}</td></tr>")
    end = chain.final or (f"stopped: {chain.error}" if chain.error else "-")
    items = "".join(f"<li class='{'se6-warn' if f.warn else 'se6-failed'}'>{_esc(f.host)}: {_esc(f.what)}"
                    f"<br>Fix: {_esc(f.fix)}</li>" for f in findings)
    parts = [
        "<div class='se6-chain'>",
        f"<p><b>redirect chain</b> {_esc(chain.protocol)} over IPv{chain.family}, "
        f"{_esc(CREDENTIAL.get(chain.auth, chain.auth))}: {_esc(chain.request)}</p>",
        "<table><tr><th>step</th><th>host:port</th><th>redirect as written</th><th>connection</th></tr>",
        *rows,
        "</table>",
        f"<p>ended: {_esc(end)}; probe file: {_esc(chain.cleanup or '-')}"
        f"{'; servers: ' + _esc(chain.server) if chain.server else ''}</p>",
        f"<ul>{items}</ul>" if items else "",
        "</div>",
    ]
    return redact("".join(parts))
