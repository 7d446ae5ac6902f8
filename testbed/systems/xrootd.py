"""A plain XRootD cluster: a redirector sending clients to data servers on their own xrd.port.

This is the product itself (XRootD 5.5 from Debian 12), configured as EL sites run it: one
/etc/xrootd/xrootd-clustered.cfg on every host, read by `xrootd -n clustered` and `cmsd -n
clustered` (xrootd@clustered / cmsd@clustered; XRootD's packaged config names all.manager port
3121). The redirector (`all.role manager`) listens on 1094 and its cmsd on 3121; data servers
(`all.role server`) on xrd.port 1095, with XrdHttp port-shared on each xrd.port, so xroot and
HTTP clients alike are redirected to data-server:1095. `xrd.network keepalive`, as sites write it.
"""

from __future__ import annotations

from pathlib import Path

from testbed.services import ServiceSpec, store_path
from testbed.systems import xrd
from testbed.systems.base import head

REDIRECTOR, DATA_SERVER, CMS = 1094, 1095, 3121
CFG = "/etc/xrootd/xrootd-clustered.cfg"
NAME = "clustered"


def instances(site: dict, host: dict) -> list[xrd.Instance]:
    manager = f"{head(site)['fqdn']}:{CMS}"
    if host["role"] == "headnode":
        return [xrd.Instance(NAME, REDIRECTOR, "manager", manager, http=True,
                             note="the redirector (xroot and HTTPS on 1094)")]
    return [xrd.Instance(NAME, DATA_SERVER, "server", manager, http=True,
                         v4only=xrd.ipv4_only(host, "xrootd", "https", NAME),
                         note="a data server (xroot and HTTPS on its own xrd.port)")]


def specs(site: dict, host: dict, pki: dict, srv: Path) -> list[ServiceSpec]:
    insts = instances(site, host)
    manager = host["role"] == "headnode"
    what = "redirector" if manager else "data server"
    text = xrd.config(host, pki, srv, "/store/" if manager else store_path(host["short"]), insts,
                      [f"se-testbed: XRootD cluster, {what} {host['fqdn']}"],
                      ("xrd.network keepalive",))
    return xrd.specs(site, host, pki, srv, CFG, text, insts)


def firewall_ports(site: dict, host: dict) -> list[int | str]:
    return [REDIRECTOR] if host["role"] == "headnode" else [DATA_SERVER]


def managers(site: dict) -> list[xrd.Instance]:
    return instances(site, head(site))
