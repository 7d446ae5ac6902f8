"""What every XRootD of the testbed shares: security, TLS, tokens, third-party copy, files, env.

Why one module: the DPM site's daemons (services.py) and every storage system's XRootD
instances (testbed/systems/) authenticate, authorize and copy the same way, so a fix to one
(ztn before gsi, the SHA-1 proxy of root TPC) reaches all of them. Callers put these lines into
their own config files around the role, ports and exports that make each system's shape.

Token authorization reads the WLCG issuers from /etc/xrootd/scitokens.cfg on every host (XRootD's
own default path, which EOS's documentation names too): the config file says which issuers a
server trusts, and a check reads them from there.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from testbed import tokens

SERVICE_USER = "xrootd"  # Debian's xrootd-server creates this system user
SCITOKENS_CFG = "/etc/xrootd/scitokens.cfg"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")  # libcurl's default on Debian
# XRootD refuses to run as root and its `-R user` drops privileges before binding the extra
# protocol ports (XrdHttp on 443 then fails with EACCES). Start it as the service user with
# the one capability it needs, kept across exec as an ambient capability.
AS_SERVICE_USER = [
    "/usr/bin/setpriv", f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups",
    "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service", "--",
]

# Root TPC pulls with the proxy the client delegated; XRootD 5.5's GSI signs that proxy with
# SHA-1, and once ztn makes every xroot login TLS, the pulling xrdcp loads it as its TLS client
# certificate, which Debian 12's OpenSSL 3 refuses at its default security level:
#   SSL_CTX_use_certificate: ca md too weak  ->  "[FATAL] TLS error" (source)
# The site workaround: that one xrdcp runs at security level 0 (the server itself does not).
TPC_WRAPPER = """#!/bin/sh
# se-testbed: xroot TPC pull with the SHA-1-signed delegated proxy (see testbed/xrdconf.py)
OPENSSL_CONF={srv}/xrd/openssl-tpc.cnf exec /usr/bin/xrdcp "$@"
"""
TPC_OPENSSL_CNF = """openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
CipherString = DEFAULT@SECLEVEL=0
"""


def host_key_paths(srv: Path | str) -> tuple[str, str]:
    """The service user's own copies of the host certificate and key."""
    return f"{srv}/xrd/hostcert.pem", f"{srv}/xrd/hostkey.pem"


def cluster_tuning() -> list[str]:
    """cmsd settings that keep a small testbed cluster usable at once."""
    return [
        # No 90 s startup hold on the manager, quick lookups.
        "cms.delay startup 1 servers 1 service 1 lookup 1 qdl 2",
        # Each path is exported by exactly one data server: redirect on the export alone.
        "cms.dfs lookup distrib redirect immed",
        # A data server's xrootd retries its local cmsd every `conwait` s (default 10) when it
        # starts first; 1 s keeps cluster joins within ~1 s of start on a loaded 1+32 site.
        "cms.conwait 1",
        "cms.sched cpu 0 io 0 space 100",
        "cms.space min 1m 2m",
    ]


def security_lines(pki: dict, srv: Path | str) -> list[str]:
    """Authentication and TLS, read by xrootd and cmsd alike."""
    certdir, gridmap = pki["certdir"], pki["gridmap"]
    cert, key = host_key_paths(srv)
    return [
        # WLCG tokens over ztn (TLS only: roots://), then GSI for xroot: the user's proxy, mapped
        # through the grid-mapfile. ztn is listed first: XRootD 5.5 clients otherwise ask for a
        # proxy even when they hold a token.
        "xrootd.seclib libXrdSec.so",
        "sec.protocol ztn",
        f"sec.protocol gsi -certdir:{certdir} -cert:{cert} -key:{key} -crldir:{certdir} -crl:0"
        f" -gridmap:{gridmap} -gmapopt:1 -dlgpxy:1 -exppxy:=creds",
        "sec.protbind * only ztn gsi",
        # TLS for XrdHttp (and xroots if a client asks for it).
        f"xrd.tls {cert} {key}",
        f"xrd.tlsca certdir {certdir} proxies",
    ]


def data_access_lines(pki: dict, srv: Path | str) -> list[str]:
    """HTTP, third-party copy and authorization: the xrootd daemon's part (not cmsd's)."""
    return [
        f"http.gridmap {pki['gridmap']}",
        "http.listingdeny false",
        "http.desthttps true",
        # Third-party copy: xroot TPC (xrdcp pulls with the client's delegated proxy, or its token:
        # `fcreds ?ztn` writes it to BEARER_TOKEN_FILE for the pull) and HTTP TPC (libXrdHttpTPC). The
        # pull's wrapper (TPC_WRAPPER): ztn makes logins TLS; OpenSSL 3 refuses a SHA-1 signed proxy.
        f"ofs.tpc autorm echo fcreds gsi =X509_USER_PROXY fcreds ?ztn =BEARER_TOKEN_FILE ttl 60 70 xfr 8 "
        f"pgm {srv}/xrd/tpc-xrdcp --server",
        "http.exthandler xrdtpc libXrdHttpTPC.so",
        f"tpc.cadir {pki['certdir']}",
        # gfal2/davix ask XrdHttpTPC for a "gridsite" delegation, which 5.5 does not implement;
        # gfal2 then falls back to macaroons: the source issues one to the X.509-authenticated
        # client, the destination pulls with it. Macaroons need authorization switched on.
        "all.sitename se-testbed",
        "ofs.authorize 1",
        f"acc.authdb {srv}/xrd/authdb",
        # Tokens: libXrdAccSciTokens checks issuer (fetched over https), audience and scope; what
        # it does not authorize passes to the authdb, which admits only grid-mapped X.509 users.
        f"ofs.authlib ++ libXrdAccSciTokens.so config={SCITOKENS_CFG}",
        "http.header2cgi Authorization authz",
        "ofs.authlib ++ libXrdMacaroons.so",
        f"macaroons.secretkey {srv}/xrd/macaroon-secret",
        "http.exthandler xrdmacaroons libXrdMacaroons.so",
    ]


def ca_bundle(pki: dict) -> str:
    """The machine's CA bundle plus the test CA (what `update-ca-certificates` would make)."""
    test_ca = (Path(pki["certdir"]) / f"{pki['ca_hash']}.0").read_text()
    try:
        system = SYSTEM_CA_BUNDLE.read_text()
    except OSError:
        system = ""
    return system + ("" if system.endswith("\n") or not system else "\n") + test_ca


def files(site: dict, host: dict, pki: dict, srv: Path | str) -> dict[str, tuple[str, int, str]]:
    """Files every XRootD host needs besides its config (path inside the host -> content, mode,
    owner)."""
    cert, key = pki["hostcert"][host["short"]]
    mycert, mykey = host_key_paths(srv)
    return {
        # XRootD runs as `xrootd` and wants its own copy of the host key, mode 0400.
        mycert: (Path(cert).read_text(), 0o644, SERVICE_USER),
        mykey: (Path(key).read_text(), 0o400, SERVICE_USER),
        # Every grid-mapped X.509 user (mapped to the service account) may do everything under
        # /store; token users are authorized by their scopes only (scitokens.cfg).
        f"{srv}/xrd/authdb": (f"u {SERVICE_USER} /store/ a\n", 0o644, SERVICE_USER),
        SCITOKENS_CFG: (tokens.scitokens_config(site, host), 0o644, SERVICE_USER),
        f"{srv}/xrd/tpc-xrdcp": (TPC_WRAPPER.format(srv=srv), 0o755, "root"),
        f"{srv}/xrd/openssl-tpc.cnf": (TPC_OPENSSL_CNF, 0o644, "root"),
        # scitokens-cpp fetches the issuer's keys with libcurl and the system CA store: the test
        # CA joins the host's bundle (its /etc is an overlay; the machine's is never touched).
        str(SYSTEM_CA_BUNDLE): (ca_bundle(pki), 0o644, "root"),
        f"{srv}/xrd/macaroon-secret": (base64.b64encode(secrets.token_bytes(48)).decode() + "\n", 0o400,
                                       SERVICE_USER),
    }


def env(pki: dict, srv: Path | str) -> dict[str, str]:
    """Environment of xrootd and cmsd (XDG_CACHE_HOME: scitokens-cpp's key cache, per host)."""
    return {"X509_CERT_DIR": pki["certdir"], "XrdSecGSISRVNAMES": "*", "XDG_CACHE_HOME": f"{srv}/xrd/cache"}
