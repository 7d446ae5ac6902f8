"""The storage data and each system's site in a box agree (no root needed): every port and range
the suite checks on a host, read from the generated inventory as the suite reads it, is one the
site's firewall opens for that host (the processes are proven by test_system_sites.py).

Why: a healthy site must raise no false alarm; where the site in a box runs something other than
the product's defaults (XRootD data servers on 1095, EOS FSTs' HTTP on 9001, XRootD and GridFTP
standing in for dCache's Java), its inventory says so in group vars, as a real site's would."""

from __future__ import annotations

import pytest

from se_dualstack import sitevars
from testbed import systems
from testbed.engine import inventory
from testbed.site import load_site

SYSTEMS = ("dcache", "eos", "xrootd", "storm")
GROUP = {"headnode": "headnodes", "disknode": "disknodes"}


def _suite_host(system: str, short: str):
    site = load_site(system, name="t1")
    inv = inventory(site)
    host = next(h for h in site["hosts"] if h["short"] == short)
    group = inv["all"]["children"][GROUP[host["role"]]]
    merged = {**inv["all"]["vars"], **group.get("vars", {}), **group["hosts"][host["fqdn"]]}
    return site, host, sitevars.build_host("t1", host["fqdn"], host["role"], merged, None)


def _opened(spec: list[int | str]) -> list[tuple[int, int]]:
    out = []
    for p in spec:
        a, _, b = str(p).partition(":")
        out.append((int(a), int(b or a)))
    return out


@pytest.mark.parametrize(("system", "short"), [(s, h) for s in SYSTEMS for h in ("head", "disk01")])
def test_every_checked_port_and_range_is_opened_by_the_site(system: str, short: str) -> None:
    site, host, se_host = _suite_host(system, short)
    opened = _opened(systems.firewall_ports(site, host))
    for tp in se_host.transfer_ports:
        assert any(a <= tp.first and tp.last <= b for a, b in opened), (system, short, tp.label, str(tp))
    for svc in se_host.services:
        # cmsd's port is opened with the daemons' own ports (testbed/firewall.py, "plumbing")
        if svc.port is not None and svc.name != "cmsd":
            assert any(a <= svc.port <= b for a, b in opened), (system, short, svc.name, svc.port)
