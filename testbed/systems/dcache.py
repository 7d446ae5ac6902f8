"""A dCache-shaped site: a door node redirecting clients to pools, where movers listen on ranges.

dCache itself (Java) is not packaged for Debian 12. What the testbed runs, per dCache's own
defaults (dCache/dcache skel/share/defaults/*.properties):

head (door node, dCacheDomain)
  xrootd door  1094 (xrootd.net.port)   `xrootd -n door-xrootd`, an XRootD manager: a root
               client is redirected to its pool's xroot mover (pool:33115+, the LAN range
               dcache.net.lan.port.min/max, which pool.mover.xrootd.port.min/max default to)
  WebDAV door  2880 (webdav.net.port, webdav.authn.protocol=https)  `xrootd -n door-webdav`
               with XrdHttp: 302 for GET, 307 for PUT (webdav.redirect.on-read/on-write) to
               https://pool:20000+ (the WAN range dcache.net.wan.port.min/max of HTTP movers)
  GridFTP door 2811 (ftp.net.port.gsi), passive data ports in the WAN range (ftp.net.port-range);
               globus-gridftp-server serving the pools' storage (/store/<pool>/, each pool's
               directory bound into the door's chroot) with the data channel at the door: dCache's
               proxy mode (ftp.proxy.on-passive = true; globus cannot hand a data channel to a pool)
  SRM          8443 (srm.net.port): a TLS stand-in, process `dcache-srm`
pool (pool domain)
  xroot mover  `xrootd -n mover-xrootd` on one port of the LAN range
  HTTP mover   `xrootd -n mover-http` (XrdHttp) on one port of the WAN range
Config files in dCache's own format and paths: /etc/dcache/dcache.conf, the layout
/etc/dcache/layouts/<short>.conf (dcache.layout=${host.name}), and on the door node
/var/lib/dcache/config/poolmanager.conf (psu commands; world-net holds 0.0.0.0/0.0.0.0 and ::/0,
as dCache's poolmanager.batch defaults and the network cookbook ask).
"""

from __future__ import annotations

from pathlib import Path

from testbed import faults, tokens
from testbed.services import ServiceSpec, gridftp, host_srv_dir, standin_spec, store_path
from testbed.systems import nginx, xrd
from testbed.systems.base import disks, head, ordinal, range_port, span

WAN = (20000, 25000)          # dcache.net.wan.port.min/max: HTTP and FTP movers, ftp.net.port-range
LAN = (33115, 33145)          # dcache.net.lan.port.min/max: pool.mover.xrootd.port.min/max default
XROOTD_DOOR, WEBDAV_DOOR, FTP_DOOR, SRM_DOOR = 1094, 2880, 2811, 8443
CMS_XROOTD, CMS_WEBDAV = 1213, 1214   # the testbed's cmsd ports (no dCache counterpart)
UNBRACKETED_DOOR_PORT = 2881          # fault dcache_unbracketed_redirect: the XrdHttp door moves here
XRD_CFG = "/etc/xrootd/xrootd-dcache.cfg"


def pool_name(host: dict) -> str:
    return f"{host['short']}_1"


def mover_ports(site: dict, host: dict) -> tuple[int, int]:
    """(xroot mover, HTTP mover) port of a pool."""
    n = ordinal(site, host)
    return range_port(*LAN, n), range_port(*WAN, n)


def instances(site: dict, host: dict) -> list[xrd.Instance]:
    fqdn = head(site)["fqdn"]
    if host["role"] == "headnode":
        webdav = UNBRACKETED_DOOR_PORT if faults.has(host, "dcache_unbracketed_redirect") else WEBDAV_DOOR
        return [xrd.Instance("door-xrootd", XROOTD_DOOR, "manager", f"{fqdn}:{CMS_XROOTD}",
                             note="dCache xrootd door (xrootd.net.port): redirects to the pool's "
                                  "xroot mover"),
                xrd.Instance("door-webdav", webdav, "manager", f"{fqdn}:{CMS_WEBDAV}", http=True,
                             note="dCache WebDAV door (webdav.net.port, https): redirects to the pool's "
                                  "HTTP mover")]
    xroot, http = mover_ports(site, host)
    pinned = faults.has(host, "dcache_listen_ipv4")  # dcache.net.listen = the pool's IPv4 address
    v4 = pinned or xrd.ipv4_only(host, "xrootd", "mover-xrootd")
    return [xrd.Instance("mover-xrootd", xroot, "server", f"{fqdn}:{CMS_XROOTD}", v4only=v4,
                         note=f"xroot mover of pool {pool_name(host)} (pool.mover.xrootd.port.min/max)"),
            xrd.Instance("mover-http", http, "server", f"{fqdn}:{CMS_WEBDAV}", http=True,
                         v4only=pinned or xrd.ipv4_only(host, "https", "mover-http"),
                         note=f"HTTP mover of pool {pool_name(host)} (dcache.net.wan.port.min/max)")]


def dcache_conf(host: dict) -> str:
    """/etc/dcache/dcache.conf: what this site sets over dCache's defaults (dcache.net.listen left
    blank: all interfaces, both families; fault dcache_listen_ipv4 pins it to the IPv4 address)."""
    listen = f"dcache.net.listen = {host['ipv4']}\n" if faults.has(host, "dcache_listen_ipv4") else ""
    return (f"# dCache configuration of {host['fqdn']} (se-testbed: a dCache-shaped site, see\n"
            "# docs/testbed.md). Defaults: dCache's share/defaults/*.properties.\n"
            "dcache.layout = ${host.name}\n" + listen +
            f"dcache.net.wan.port.min = {WAN[0]}\ndcache.net.wan.port.max = {WAN[1]}\n"
            f"dcache.net.lan.port.min = {LAN[0]}\ndcache.net.lan.port.max = {LAN[1]}\n")


def layout(site: dict, host: dict, srv: Path) -> str:
    """/etc/dcache/layouts/<short>.conf: the domains and cells of the host."""
    if host["role"] == "headnode":
        return ("# Layout of the door node: dCache's core cells and the doors.\n"
                "[dCacheDomain]\n[dCacheDomain/pnfsmanager]\n[dCacheDomain/poolmanager]\n"
                # gPlazma's oidc plugin trusts the site's token issuer (TheBook, config-gplazma:
                # gplazma.oidc.provider!<name> = <issuer URL> -profile=wlcg): what the doors'
                # token logins are checked against, here done by the XRootD doors' scitokens.cfg.
                f"[dCacheDomain/gplazma]\ngplazma.oidc.provider!{tokens.ISSUER_SHORT} = "
                f"{tokens.issuer_url(site)} -profile=wlcg\n"
                f"[dCacheDomain/xrootd]\nxrootd.net.port = {XROOTD_DOOR}\n"
                f"[dCacheDomain/webdav]\nwebdav.net.port = {WEBDAV_DOOR}\nwebdav.authn.protocol = https\n"
                "[dCacheDomain/ftp]\nftp.authn.protocol = gsi\nftp.proxy.on-passive = true\n"
                f"[dCacheDomain/srmmanager]\n[dCacheDomain/srm]\nsrm.net.port = {SRM_DOOR}\n")
    return (f"# Layout of pool node {host['fqdn']}: one pool.\n"
            f"[{host['short']}Domain]\n[{host['short']}Domain/pool]\n"
            f"pool.name = {pool_name(host)}\npool.path = {srv}/root{store_path(host['short'])}\n"
            f"pool.tags = hostname={host['short']}\n")


def poolmanager_conf(site: dict, host: dict) -> str:
    """/var/lib/dcache/config/poolmanager.conf as PoolManager's `save` writes it."""
    v6 = not faults.has(host, "dcache_world_net_ipv4_only")
    pools = [pool_name(d) for d in disks(site)]
    lines = ["psu set regex off", "psu set allpoolsactive off", "#", "# The units ...", "#",
             "psu create unit -protocol */*",
             *(["psu create unit -net    ::/0"] if v6 else []),
             "psu create unit -net    0.0.0.0/0.0.0.0", "psu create unit -store  *@*", "",
             "#", "# The unit Groups ...", "#",
             "psu create ugroup any-store", "psu addto ugroup any-store *@*",
             "psu create ugroup world-net", "psu addto ugroup world-net 0.0.0.0/0.0.0.0",
             *(["psu addto ugroup world-net ::/0"] if v6 else []),
             "psu create ugroup any-protocol", "psu addto ugroup any-protocol */*", "",
             "#", "# The pools ...", "#", *(f"psu create pool {p}" for p in pools), "",
             "#", "# The pool groups ...", "#", "psu create pgroup default",
             *(f"psu addto pgroup default {p}" for p in pools), "",
             "#", "# The links ...", "#",
             "psu create link default-link any-store world-net any-protocol",
             "psu set link default-link -readpref=10 -writepref=10 -cachepref=10 -p2ppref=-1",
             "psu addto link default-link default", "", "pm create -type=wass default"]
    return "\n".join(lines) + "\n"


def _redirect_rule(site: dict, host: dict, pki: dict, srv: Path) -> str:
    """Fault dcache_unbracketed_redirect: the WebDAV door's redirect to a pool's HTTP mover names
    the pool's IPv6 literal without brackets for IPv6 clients (dCache issue 6749)."""
    cert, key = pki["hostcert"][host["short"]]
    lines = ["# WebDAV door redirect (fault dcache_unbracketed_redirect): GET 302, others 307, to the",
             "# pool's HTTP mover; IPv6 clients get the pool's IPv6 literal WITHOUT brackets",
             "http {", f"\taccess_log {srv}/log/nginx-access.log;",
             "\tmap $remote_addr $se6_family { ~: v6; default v4; }",
             '\tmap "$request_method/$se6_family" $se6_kind { ~^(GET|HEAD)/v6$ get6; ~^(GET|HEAD)/v4$ get4;'
             " ~/v6$ put6; default put4; }",
             "\tserver {", *(f"\t\t{ln}" for ln in nginx.listen_lines(WEBDAV_DOOR, ssl=True)),
             f"\t\tssl_certificate {cert};", f"\t\tssl_certificate_key {key};"]
    for d in disks(site):
        port = mover_ports(site, d)[1]
        v4 = f"https://{d['ipv4']}:{port}$request_uri"
        v6 = f"https://{d['ipv6']}:{port}$request_uri" if d["has_ipv6"] else v4
        lines += [f"\t\tlocation {store_path(d['short'])} {{",
                  f"\t\t\tif ($se6_kind = get6) {{ return 302 {v6}; }}",
                  f"\t\t\tif ($se6_kind = get4) {{ return 302 {v4}; }}",
                  f"\t\t\tif ($se6_kind = put6) {{ return 307 {v6}; }}",
                  f"\t\t\treturn 307 {v4};", "\t\t}"]
    return "\n".join([*lines, "\t}", "}"]) + "\n"


def specs(site: dict, host: dict, pki: dict, srv: Path) -> list[ServiceSpec]:
    insts = instances(site, host)
    role = "door node" if host["role"] == "headnode" else f"pool node ({pool_name(host)})"
    export = "/store/" if host["role"] == "headnode" else store_path(host["short"])
    text = xrd.config(host, pki, srv, export, insts,
                      [f"se-testbed: dCache {role} {host['fqdn']}: XRootD stands in for dCache's Java",
                       "doors and movers (docs/testbed.md, dCache); dCache's own settings: /etc/dcache"])
    out = xrd.specs(site, host, pki, srv, XRD_CFG, text, insts)
    files = {"/etc/dcache/dcache.conf": (dcache_conf(host), 0o644, "root"),
             f"/etc/dcache/layouts/{host['short']}.conf": (layout(site, host, srv), 0o644, "root")}
    if host["role"] == "headnode":
        files["/var/lib/dcache/config/poolmanager.conf"] = (poolmanager_conf(site, host), 0o644, "root")
        out.append(door_gridftp(site, host, pki, srv))
        out.append(standin_spec("srm", "dcache-srm", SRM_DOOR, host, pki, srv, tls=True,
                                v4=xrd.ipv4_only(host, "srm", "dcache-srm")))
        if faults.has(host, "dcache_unbracketed_redirect"):
            out.append(nginx.spec(srv, {"dcache-webdav-door.conf": _redirect_rule(site, host, pki, srv)},
                                  [WEBDAV_DOOR]))
    out[0].files.update(files)
    return out


def door_gridftp(site: dict, host: dict, pki: dict, srv: Path) -> ServiceSpec:
    """The GridFTP door: as dCache's, it reaches the pools' storage (a door has no area of its
    own; the namespace is the pools'). Each pool's store directory is bound into the door's chroot
    in the door host's own mount namespace (gone with the host), then the server starts; the data
    channel stays at the door (the layout's ftp.proxy.on-passive = true)."""
    pools = [(host_srv_dir(Path(site["state_dir"]), d["short"]), store_path(d["short"])) for d in disks(site)]
    spec = gridftp(site, host, pki, srv, [store_path(host["short"]), *(p for _, p in pools)])
    wrapper = f"{srv}/gridftp/door-binds.sh"
    # The pool may not have started yet: its own make_dirs gives the directory to the service user.
    binds = [f's={pool}/root{path}; t={srv}/root{path}; mkdir -p "$s" "$t"; '
             'mountpoint -q "$t" || mount --bind "$s" "$t"' for pool, path in pools]
    script = "\n".join(["#!/bin/sh", "# se-testbed: dCache's GridFTP door reaches the pools' storage "
                         "(testbed/systems/dcache.py door_gridftp)", "set -e", *binds, 'exec "$@"', ""])
    spec.files[wrapper] = (script, 0o755, "root")
    spec.argv = ["/bin/sh", wrapper, *spec.argv]
    return spec


def firewall_ports(site: dict, host: dict) -> list[int | str]:
    """What the host's firewall opens for clients (both families on a healthy site)."""
    if host["role"] == "headnode":
        return [FTP_DOOR, span(*WAN), XROOTD_DOOR, WEBDAV_DOOR, SRM_DOOR]
    return [span(*WAN), span(*LAN)]


def inventory_vars(site: dict) -> dict[str, dict]:
    """Group vars of the generated inventory: what serves each dCache service here (XRootD and
    GridFTP stand in for dCache's Java doors and movers), as a site running them would write it."""
    doors = {"dcache-srm": ["dcache-srm"], "dcache-webdav": ["xrootd"], "dcache-xrootd": ["xrootd"],
             "dcache-gsiftp": ["globus-gridftp-server"]}
    return {"headnodes": {"se_service_processes": doors},
            "disknodes": {"se_service_processes": {"dcache-pool": ["xrootd"]}}}


def managers(site: dict) -> list[xrd.Instance]:
    return instances(site, head(site))
