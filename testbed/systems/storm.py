"""A StoRM-shaped site: the frontend (SRM) on the head node, StoRM WebDAV hosts behind nginx.

StoRM's frontend (C++, gSOAP), backend and WebDAV (Java) are not packaged for Debian 12. What runs,
per StoRM's sources and documentation (italiangrid/storm-webdav, storm puppet module):

head   frontend 8444 (fe.port): a TLS stand-in, process `storm-frontend-server`; the backend, a
       marker process `storm-backend` with no port (its XML-RPC 8080 and REST 9998 are internal)
disk   nginx 1.22 on 8443 and 8085, `listen P;` and `listen [::]:P;` each, passing connections
       through (stream module) to the StoRM WebDAV stand-in, `xrootd -n storm-webdav` with
       XrdHttp: 127.0.0.1:9443 (TLS) and :8086 (plain; StoRM's nginx guide proxies to
       storm.connector.port 8086). StoRM's guide terminates TLS in nginx with ngx_http_voms_module,
       which Debian lacks; passing TLS through lets the WebDAV server check X.509 proxies and
       tokens itself. STORM_WEBDAV_SERVER_ADDRESS stays 0.0.0.0 (StoRM's default; Java binds the
       dual-stack wildcard for it), so the stand-in listens on [::].
       GridFTP 2811, data ports 20000-25000 (StoRM's GridFTP servers). The token issuers StoRM
       WebDAV trusts are in its application.yml (`oauth: issuers:`), as StoRM's README has them.
There is no redirect: the SRM frontend hands out TURLs (not served by the stand-in), and each
WebDAV host is its own entry point.
"""

from __future__ import annotations

from pathlib import Path

from testbed import faults, tokens
from testbed.services import ServiceSpec, gridftp, standin_spec, store_path
from testbed.systems import nginx, xrd
from testbed.systems.base import span

FRONTEND, HTTPS, HTTP, GRIDFTP = 8444, 8443, 8085, 2811
BACKEND_HTTPS, BACKEND_HTTP = 9443, 8086   # STORM_WEBDAV_HTTPS_PORT / STORM_WEBDAV_HTTP_PORT behind nginx
WEBDAV_ADDRESS = "0.0.0.0"                 # STORM_WEBDAV_SERVER_ADDRESS default (application.yml)
XRD_CFG = "/etc/xrootd/xrootd-storm-webdav.cfg"


def webdav_address(host: dict) -> str:
    """STORM_WEBDAV_SERVER_ADDRESS (fault storm_webdav_ipv4_address: the host's IPv4 address)."""
    return host["ipv4"] if faults.has(host, "storm_webdav_ipv4_address") else WEBDAV_ADDRESS


def webdav_settings(host: dict) -> dict[str, str]:
    """StoRM WebDAV's service settings (keys of its storm-webdav.conf systemd drop-in)."""
    return {"STORM_WEBDAV_SERVER_ADDRESS": webdav_address(host),
            "STORM_WEBDAV_HTTPS_PORT": str(BACKEND_HTTPS),
            "STORM_WEBDAV_HTTP_PORT": str(BACKEND_HTTP),
            "STORM_WEBDAV_HOSTNAME_0": host["fqdn"],
            "STORM_WEBDAV_NGINX_ENABLED": "true",
            "STORM_WEBDAV_SA_CONFIG_DIR": "/etc/storm/webdav/sa.d"}


def sysconfig(host: dict) -> str:
    """/etc/sysconfig/storm-webdav (StoRM WebDAV up to its CentOS 6 releases; later ones read the
    same keys from /etc/systemd/system/storm-webdav.service.d/storm-webdav.conf)."""
    return ("# StoRM WebDAV (se-testbed stand-in: xrootd -n storm-webdav, docs/testbed.md StoRM);\n"
            "# nginx listens on 8443/8085 for clients and passes connections here\n"
            + "".join(f"{k}={v}\n" for k, v in webdav_settings(host).items()))


def dropin(host: dict) -> str:
    return "[Service]\n" + "".join(f'Environment="{k}={v}"\n' for k, v in webdav_settings(host).items())


def nginx_conf(host: dict) -> str:
    """/etc/nginx/conf.d/storm-webdav.conf: both families on both ports (a fault drops one line)."""
    v6_https = not faults.has(host, "storm_nginx_no_ipv6_listen")
    # nginx reaches StoRM WebDAV where it binds: loopback for the wildcard, else that address
    backend = "127.0.0.1" if webdav_address(host) == WEBDAV_ADDRESS else webdav_address(host)
    return "\n".join([
        "# StoRM WebDAV front: nginx passes TLS through to StoRM WebDAV (stream module).",
        "# `listen [::]:P;` alone is IPv6-only, `listen P;` alone IPv4-only: both lines per port.",
        "stream {",
        f"\tupstream storm_webdav_https {{ server {backend}:{BACKEND_HTTPS}; }}",
        f"\tupstream storm_webdav_http {{ server {backend}:{BACKEND_HTTP}; }}",
        "\tserver {", *(f"\t\t{ln}" for ln in nginx.listen_lines(HTTPS, v6=v6_https)),
        "\t\tproxy_pass storm_webdav_https;", "\t}",
        "\tserver {", *(f"\t\t{ln}" for ln in nginx.listen_lines(HTTP)),
        "\t\tproxy_pass storm_webdav_http;", "\t}",
        "}", ""])


def storage_area(host: dict, srv: Path) -> str:
    """/etc/storm/webdav/sa.d/<short>.properties: the host's storage area."""
    return (f"name={host['short']}\nrootPath={srv}/root{store_path(host['short'])}\n"
            f"accessPoints={store_path(host['short']).rstrip('/')}\nauthenticatedReadEnabled=true\n"
            "wlcgScopeAuthzEnabled=true\n")


def application_yml(site: dict) -> str:
    """/etc/storm/webdav/config/application.yml: the token issuers StoRM WebDAV trusts (its
    README's `oauth: issuers:`), the site's; the stand-in checks them in its scitokens.cfg."""
    return ("# StoRM WebDAV (se-testbed stand-in, docs/testbed.md StoRM): trusted token issuers\n"
            "oauth:\n  enable-oidc: false\n  issuers:\n"
            f"    - name: {tokens.ISSUER_SHORT}\n      issuer: {tokens.issuer_url(site)}\n")


def frontend_conf() -> str:
    return (f"# StoRM frontend (se-testbed stand-in, docs/testbed.md StoRM)\nfe.port={FRONTEND}\n"
            "be.xmlrpc.host=localhost\nbe.xmlrpc.port=8080\n")


def specs(site: dict, host: dict, pki: dict, srv: Path) -> list[ServiceSpec]:
    if host["role"] == "headnode":
        fe = standin_spec("storm-frontend-server", "storm-frontend-server", FRONTEND, host, pki, srv,
                          tls=True, v4=xrd.ipv4_only(host, "srm", "storm-frontend-server"))
        fe.files["/etc/storm/frontend-server/storm-frontend-server.conf"] = (frontend_conf(), 0o644, "root")
        return [fe, standin_spec("storm-backend-server", "storm-backend", 0, host, pki, srv)]
    # an IPv4 STORM_WEBDAV_SERVER_ADDRESS: the stand-in listens on IPv4 only (XRootD binds no
    # single address; -I v4 gives the family's effect)
    inst = [xrd.Instance("storm-webdav", BACKEND_HTTPS, http=True, http_ports=(BACKEND_HTTP,),
                         v4only=webdav_address(host) != WEBDAV_ADDRESS,
                         note="StoRM WebDAV stand-in: XrdHttp on STORM_WEBDAV_HTTPS_PORT and _HTTP_PORT")]
    text = xrd.config(host, pki, srv, store_path(host["short"]), inst,
                      [f"se-testbed: StoRM WebDAV host {host['fqdn']}: XRootD (XrdHttp) stands in for "
                       "StoRM WebDAV", "(Java); its settings are in /etc/sysconfig/storm-webdav"])
    out = xrd.specs(site, host, pki, srv, XRD_CFG, text, inst)
    out[0].files.update({
        "/etc/sysconfig/storm-webdav": (sysconfig(host), 0o644, "root"),
        "/etc/systemd/system/storm-webdav.service.d/storm-webdav.conf": (dropin(host), 0o644, "root"),
        f"/etc/storm/webdav/sa.d/{host['short']}.properties": (storage_area(host, srv), 0o644, "root"),
        "/etc/storm/webdav/config/application.yml": (application_yml(site), 0o644, "root"),
    })
    return [*out, nginx.spec(srv, {"storm-webdav.conf": nginx_conf(host)}, [HTTPS, HTTP]),
            gridftp(site, host, pki, srv)]


def firewall_ports(site: dict, host: dict) -> list[int | str]:
    if host["role"] == "headnode":
        return [FRONTEND]
    lo, hi = site["gridftp_data_ports"]
    return [GRIDFTP, span(lo, hi), HTTPS, HTTP]


def inventory_vars(site: dict) -> dict[str, dict]:
    """Nothing beyond the storage data: nginx holds 8443/8085 as StoRM's reverse-proxy guide has it."""
    return {}


def managers(site: dict) -> list[xrd.Instance]:
    return []   # no cluster: StoRM has no redirect hop
