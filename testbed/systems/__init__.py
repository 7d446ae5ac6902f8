"""The storage systems a site in a box can run: which servers run on which host, and the ports
its firewall opens for them. A site file names one (`system:`, default dpm).

    dpm     testbed/services.py (the default site: XRootD manager + data servers, GridFTP,
            DPM stand-ins)
    dcache  systems/dcache.py   door node -> pools (xroot and HTTP movers on ranges)
    eos     systems/eos.py      MGM -> FSTs (1095, EOS_FST_HTTP_PORT)
    xrootd  systems/xrootd.py   redirector -> data servers (xrootd-clustered.cfg)
    storm   systems/storm.py    frontend (SRM) + StoRM WebDAV hosts behind nginx

Each system module has ``specs(site, host, pki, srv)`` (the host's daemons and config files),
``firewall_ports(site, host)`` (ports and 'A:B' ranges for clients) and ``managers(site)`` (the
head node's cluster managers, whose data servers must have joined before transfers start).
docs/testbed.md says per system what is the product itself and what is built to its shape.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from testbed import services
from testbed.systems import dcache, eos, storm, xrd, xrootd
from testbed.systems.base import disks, head

MODULES: dict[str, ModuleType] = {"dcache": dcache, "eos": eos, "xrootd": xrootd, "storm": storm}


def system(site: dict[str, Any]) -> str:
    return str(site.get("system", "dpm"))


def service_specs(site: dict[str, Any], host: dict[str, Any], pki: dict, state_dir: Path
                  ) -> list[services.ServiceSpec]:
    """The daemons of one host of the site's storage system (creates its private directories)."""
    mod = MODULES.get(system(site))
    if mod is None:
        return services.service_specs(site, host, pki, state_dir)
    return mod.specs(site, host, pki, services.make_dirs(state_dir, host["short"]))


def firewall_ports(site: dict[str, Any], host: dict[str, Any]) -> list[int | str] | None:
    """Ports and ranges ('A:B') the host's firewall opens for clients; None: the DPM site's own
    rules (testbed/firewall.py)."""
    mod = MODULES.get(system(site))
    return None if mod is None else mod.firewall_ports(site, host)


def wait_cluster(site: dict[str, Any], state_dir: Path, timeout: float = 10.0) -> list[str]:
    """Wait until every data server has joined its manager(s); returns what is missing."""
    mod = MODULES.get(system(site))
    if mod is None:
        return services.wait_cluster(site, state_dir, timeout)
    srv = services.host_srv_dir(state_dir, head(site)["short"])
    want = {d["short"] for d in disks(site)}
    logs = {xrd.manager_log(srv, inst): set(want) for inst in mod.managers(site)}
    return xrd.wait_joined(logs, timeout)


__all__ = ["MODULES", "firewall_ports", "service_specs", "system", "wait_cluster"]
