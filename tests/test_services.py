"""Service checks per (host, service): listening on IPv6 and IPv4 (exact about [::] sockets and
V6ONLY), the serving process runs, and a TCP connect from this machine over each family.

A service with port ranges only (a dCache pool, whose movers take a port per transfer) is
checked on a sample: the sockets listening inside its ranges now, held by its processes. What a
host check can say honestly is "every mover listening now accepts both families"; with none
listening (a real pool between transfers) the checks are N/A, and the ranges are covered by the
firewall checks (SE6-FW-01/02) and by SE6-XFER-03, which follows redirects into them."""

from __future__ import annotations

import pytest

from se_dualstack.applicability import no_aaaa_key, require_declared, require_suite_family
from se_dualstack.concerns import services as listening

pytestmark = pytest.mark.services


def _ports(se_host, svc, facts, check):
    """The service's port; for a service with ranges only, the ports listening inside them now
    (N/A when none does: between transfers a real mover range is silent)."""
    if svc.port is not None:
        return [svc.port]
    socks, _ = facts.listeners(se_host, se_host.testinfra)
    ports = listening.in_ranges(socks, [(r.first, r.last) for r in svc.ranges], svc.processes)
    if not ports:
        ranges = ", ".join(f"{r} ({r.label})" for r in svc.ranges)
        check.not_applicable(f"{svc.name} listens on no fixed port and no {'/'.join(svc.processes)} "
                             f"socket listens inside {ranges} now: its movers take a port per transfer "
                             "(the firewall checks cover the ranges; SE6-XFER-03 follows redirects "
                             "into them)")
    return ports


def _where(svc, ports):
    """``TCP 1094``, or ``TCP 20000, 33115 (listening inside 20000:25000, 33115:33145)``."""
    inside = f" (listening inside {', '.join(map(str, svc.ranges))})" if svc.port is None else ""
    return f"TCP {', '.join(map(str, ports))}{inside}"


def _listening(se_host_service, family, facts, check):
    se_host, svc = se_host_service
    ports = _ports(se_host, svc, facts, check)
    socks, bindv6only = facts.listeners(se_host, se_host.testinfra)
    verdicts = [listening.listening_on(socks, p, family, bindv6only) for p in ports]
    bad = [(p, v) for p, v in zip(ports, verdicts) if not v.ok]
    fam = f"IPv{family}"
    detail = "; ".join(v.detail for _, v in bad or zip(ports, verdicts))
    check.expect(not bad, f"{svc.name} listening on {_where(svc, ports)} over {fam}",
                  detail + (f" (net.ipv6.bindv6only={bindv6only})" if family == 4 else ""),
                  service=svc.name, port=", ".join(str(p) for p, _ in bad))


@pytest.mark.check("SE6-SVC-01")
def test_listening_ipv6(se_host_service, facts, check):
    _listening(se_host_service, 6, facts, check)


@pytest.mark.check("SE6-SVC-02")
def test_listening_ipv4(se_host_service, facts, check):
    require_declared(se_host_service[0], 4, check)
    _listening(se_host_service, 4, facts, check)


@pytest.mark.check("SE6-SVC-03")
def test_process_running(se_host_service, facts, check):
    se_host, svc = se_host_service
    procs = se_host.testinfra.process.filter()
    running = sorted({p.comm for p in procs if any(listening.comm_matches(p.comm, n) for n in svc.processes)})
    held = ""
    if svc.port is not None:
        socks, _ = facts.listeners(se_host, se_host.testinfra)
        held = f" (port {svc.port} is held by {', '.join(listening.owners(socks, svc.port)) or 'nothing'})"
    check.expect(bool(running), f"a {' or '.join(svc.processes)} process running", f"none running{held}",
                  service=svc.name, processes=", ".join(svc.processes))


def _connect(se_host_service, family, facts, check):
    se_host, svc = se_host_service
    ports = _ports(se_host, svc, facts, check)
    require_declared(se_host, family, check)
    require_suite_family(facts.suite_machine(), family, check)
    ans = facts.addresses(se_host, family, check)
    timeout = float(se_host.vars.get("se_connect_timeout", 3))
    fam = f"IPv{family}"
    if ans.status == "synthesized":
        made = ", ".join(f"{x.address} (NAT64 prefix {x.prefix}, from {x.ipv4})"
                         for x in facts.synthesized(se_host, check))
        check.not_applicable(f"{se_host.name} has no AAAA of its own, only one made by DNS64: {made}; "
                             "a connect would go through the NAT64 gateway to its IPv4 address and "
                             "prove nothing about IPv6 (SE6-DNS-02 reports it)")
    if not ans.records:
        check.fail(f"a TCP connection to {se_host.name} {_where(svc, ports)} over {fam}",
                    f"could not open connection to {se_host.name}:{ports[0]} over {fam} "
                    f"({ans.describe()})",
                    fix=f"Publish the {'AAAA' if family == 6 else 'A'} record of {se_host.name} "
                        f"(see {'SE6-DNS-02' if family == 6 else 'SE6-DNS-01'}).",
                    cause=no_aaaa_key(se_host.name) if family == 6 else "")
    results = [listening.connect(a, p, timeout) for p in ports for a in ans.records]
    bad = [r for r in results if not r.ok]
    check.expect(not bad, f"a TCP connection to {se_host.name} {_where(svc, ports)} over {fam} ({svc.name})",
                  "; ".join(listening.fts_message(se_host.name, p, family, [r for r in bad if r.port == p])
                            for p in dict.fromkeys(r.port for r in bad)),
                  address=bad[0].address if bad else "", port=bad[0].port if bad else "")


@pytest.mark.check("SE6-SVC-04")
def test_connect_ipv6(se_host_service, facts, check):
    _connect(se_host_service, 6, facts, check)


@pytest.mark.check("SE6-SVC-05")
def test_connect_ipv4(se_host_service, facts, check):
    _connect(se_host_service, 4, facts, check)
