"""Service checks per (host, service): listening on IPv6 and IPv4 (exact about [::] sockets and
V6ONLY), the serving process runs, and a TCP connect from this machine over each family."""

from __future__ import annotations

import pytest

from se_dualstack import checks
from se_dualstack.concerns import services as listening
from se_dualstack.facts import addresses, listeners

pytestmark = pytest.mark.services


def _listening(se_host_service, family, check_id):
    se_host, svc = se_host_service
    socks, bindv6only = listeners(se_host, se_host.host)
    v = listening.listening_on(socks, svc.port, family, bindv6only)
    fam = "IPv6" if family == 6 else "IPv4"
    checks.expect(v.ok, check_id, se_host.name, f"{svc.name} listening on TCP {svc.port} over {fam}",
                  v.detail + (f" (net.ipv6.bindv6only={bindv6only})" if family == 4 else ""),
                  service=svc.name, port=svc.port)


@pytest.mark.check("SE6-SVC-01")
def test_listening_ipv6(se_host_service):
    _listening(se_host_service, 6, "SE6-SVC-01")


@pytest.mark.check("SE6-SVC-02")
def test_listening_ipv4(se_host_service):
    _listening(se_host_service, 4, "SE6-SVC-02")


@pytest.mark.check("SE6-SVC-03")
def test_process_running(se_host_service):
    se_host, svc = se_host_service
    procs = se_host.host.process.filter()
    running = sorted({p.comm for p in procs if any(listening.comm_matches(p.comm, n) for n in svc.processes)})
    socks, _ = listeners(se_host, se_host.host)
    owner = listening.owners(socks, svc.port)
    checks.expect(bool(running), "SE6-SVC-03", se_host.name,
                  f"a {' or '.join(svc.processes)} process running",
                  f"none running (port {svc.port} is held by {', '.join(owner) or 'nothing'})",
                  service=svc.name, processes=", ".join(svc.processes))


def _connect(se_host_service, family, check_id):
    se_host, svc = se_host_service
    ans = addresses(se_host, family, check_id)
    timeout = float(se_host.vars.get("se_connect_timeout", 3))
    fam = "IPv6" if family == 6 else "IPv4"
    if not ans.records:
        checks.fail(check_id, se_host.name, f"a TCP connection to {se_host.name}:{svc.port} over {fam}",
                    f"could not open connection to {se_host.name}:{svc.port} over {fam} "
                    f"({ans.describe()})",
                    fix=f"Publish the {'AAAA' if family == 6 else 'A'} record of {se_host.name} "
                        f"(see {'SE6-DNS-02' if family == 6 else 'SE6-DNS-01'}).")
    results = [listening.connect(a, svc.port, timeout) for a in ans.records]
    bad = [r for r in results if not r.ok]
    checks.expect(not bad, check_id, se_host.name,
                  f"a TCP connection to {se_host.name}:{svc.port} over {fam} ({svc.name})",
                  listening.fts_message(se_host.name, svc.port, family, results) if bad else "",
                  address=bad[0].address if bad else "", port=svc.port)


@pytest.mark.check("SE6-SVC-04")
def test_connect_ipv6(se_host_service):
    _connect(se_host_service, 6, "SE6-SVC-04")


@pytest.mark.check("SE6-SVC-05")
def test_connect_ipv4(se_host_service):
    _connect(se_host_service, 4, "SE6-SVC-05")
