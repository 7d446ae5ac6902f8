"""Real service daemons of a testbed host, as ServiceSpecs the core engine starts.

A DPM-like site: XRootD 5.5 (GSI, XrdHttp) as a manager on the head node redirecting to data
servers on the disk nodes (cmsd on every host), GridFTP with GSI on every host, and stand-ins
for the head node's DPM-internal daemons (SRM, DPNS, DPM). The engine writes `files`, starts
`argv` as `user` in the host's namespaces and waits for `ports`.

Every path is under `state_dir/hosts/<short>/srv/`, which is the same path inside and outside
the host (only /etc and /run are private to a host). Directories that must exist before a
daemon starts (data, admin, logs) are created here, with the owner the daemon needs, because a
ServiceSpec only carries files.

Storage layout per host (`R` = srv/root): `R/store/<short>/` is the storage area. XRootD
serves it with `oss.localroot R`; GridFTP chroots into `R` after authentication, so both serve
the same files under the same path `/store/<short>/`. `R/etc/passwd`, `R/etc/group` and a copy
of the CA directory at its absolute path make the chroot work for GSI data-channel checks.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from testbed import faults, tokens, xrdconf
from testbed.xrdconf import SERVICE_USER

XRD_PORT = 1094
HTTPS_PORT = 443
CMSD_PORT = 1213
GRIDFTP_PORT = 2811
SRM_PORT = 8446
DPNS_PORT = 5010
DPM_PORT = 5015
_AS_SERVICE_USER = xrdconf.AS_SERVICE_USER
STANDIN = Path(__file__).with_name("standin.py")
ISSUER_SERVER = Path(__file__).with_name("issuer.py")
PYTHON = "/usr/bin/python3"

# Names of the services as the fault `service_ipv4_only:<service>` spells them; the knowledge
# file's names (xrootd, https, gsiftp, srm, dpns, dpm) and the daemon names are both accepted.
_FAULT_ALIASES = {
    "xrootd": {"xrootd", "https", "xrdhttp", "cmsd"},
    "cmsd": {"cmsd"},
    "gridftp": {"gridftp", "gsiftp", "globus-gridftp-server"},
    "srm": {"srm", "dpm-srm-v2_2"},
    "dpns": {"dpns", "dpnsdaemon"},
    "dpm": {"dpm"},
}


@dataclass
class ServiceSpec:
    """One daemon of a host, as the core engine starts it."""

    name: str
    files: dict[str, tuple[str, int, str]]  # abs path inside host -> (content, mode, owner user)
    argv: list[str]
    user: str  # "root" or "xrootd"
    env: dict[str, str]
    pidfile: str | None
    ports: list[int]
    log: str
    bind_ipv4_only: bool = False


def host_srv_dir(state_dir: Path, short: str) -> Path:
    """The host's private service directory (same path inside and outside the host)."""
    return Path(state_dir) / "hosts" / short / "srv"


def store_path(short: str) -> str:
    """The namespace path a disk node (and the head node, redirecting) serves for it."""
    return f"/store/{short}/"


def ipv4_only(host: dict, service: str) -> bool:
    """True when the host's faults (implied ones too) have `service_ipv4_only:<service>` naming
    this service."""
    names = _FAULT_ALIASES.get(service, {service})
    for fault in faults.effective(host):
        kind, _, arg = str(fault).partition(":")
        if kind == "service_ipv4_only" and arg in names:
            return True
    return False


def _head(site: dict) -> dict:
    return next(h for h in site["hosts"] if h["role"] == "headnode")


def _fqdn(site: dict, host: dict) -> str:
    return host.get("fqdn") or f"{host['short']}.{site['domain']}"


def _addresses(host: dict) -> list[str]:
    """The host's configured addresses, IPv6 first (none for IPv6 on a not-dual-stacked host)."""
    v6 = host.get("ipv6") if host.get("has_ipv6", True) else None
    return [str(a).split("/")[0] for a in (v6, host.get("ipv4")) if a]


def _mkdirs(dirs: dict[str, tuple[int, str]]) -> None:
    for path, (mode, owner) in dirs.items():
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        pw = pwd.getpwnam(owner)
        os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(p, mode)


def _xrootd_config(site: dict, host: dict, pki: dict, srv: Path, v4only: bool) -> str:
    """One config file read by both xrootd and cmsd of the host (`if exec` splits them)."""
    head = _head(site)
    manager = host["role"] == "headnode"
    export = "/store/" if manager else store_path(host["short"])
    lines = [
        f"# se-testbed: XRootD {'manager' if manager else 'data server'} for {_fqdn(site, host)}",
        f"all.role {'manager' if manager else 'server'}",
        f"all.manager {_fqdn(site, head)}:{CMSD_PORT}",
        f"all.export {export}",
        f"all.adminpath {srv}/xrd/admin",
        f"all.pidpath {srv}/xrd/run",
        f"oss.localroot {srv}/root",
        "xrootd.chksum adler32",
        *xrdconf.cluster_tuning(),
        *xrdconf.security_lines(pki, srv),
        # Ports and protocols belong to xrootd only (cmsd takes its port from all.manager).
        # HTTPS/WebDAV on 443 and, port-shared, on 1094: the manager's HTTP redirects point at
        # the data server's xrootd port, so davs:// through the head node lands on 1094 there.
        "if exec xrootd",
        f"xrd.port {XRD_PORT}",
        f"xrd.protocol XrdHttp:{HTTPS_PORT} libXrdHttp.so",
        f"xrd.protocol XrdHttp:{XRD_PORT} +port",
        *xrdconf.data_access_lines(pki, srv),
        "fi",
    ]
    if v4only:
        # xrd.network has no "listen on IPv4 only"; `-I v4` on the command line does that.
        lines.append("# service_ipv4_only fault: started with -I v4")
    return "\n".join(lines) + "\n"


def issuer_spec(host: dict, pki: dict, docroot: str) -> ServiceSpec:
    """The token issuer host's one daemon: testbed/issuer.py with its test-CA certificate, also
    publishing the CA's CRL over http (port 80); https on IPv4 only under fault issuer_ipv4_only."""
    cert, key = pki["hostcert"][host["short"]]
    pidfile = "/run/issuer.pid"  # the host's private /run
    crl = ["--crl-dir", pki["crl_dir"], "--http-port", "80"] if pki.get("crl_dir") else []
    v4 = ["--ipv4-only"] if "issuer_ipv4_only" in (host.get("faults") or []) else []
    return ServiceSpec(
        name="issuer", files={},
        argv=[PYTHON, "-I", "-S", str(ISSUER_SERVER), "--docroot", docroot, "--cert", cert, "--key", key,
              "--port", str(tokens.ISSUER_PORT), "--pidfile", pidfile, *crl, *v4],
        user="root", env={}, pidfile=pidfile, ports=[tokens.ISSUER_PORT, *([80] if crl else [])],
        log=f"{Path(docroot).parent}/logs/issuer.log", bind_ipv4_only=bool(v4),
    )


def _xrootd_specs(site: dict, host: dict, pki: dict, srv: Path) -> list[ServiceSpec]:
    v4 = ipv4_only(host, "xrootd")
    cfg = f"{srv}/xrd/xrootd.cfg"
    files = {
        cfg: (_xrootd_config(site, host, pki, srv, v4), 0o644, "root"),
        **xrdconf.files(site, host, pki, srv),
    }
    fam = ["-I", "v4"] if v4 else []
    env = xrdconf.env(pki, srv)
    cmsd_v4 = v4 or ipv4_only(host, "cmsd")
    # cmsd first (and it carries the shared files): a data server's xrootd joins the cluster
    # through the local cmsd's admin socket and would otherwise wait `cms.conwait` to retry.
    return [
        ServiceSpec(
            name="cmsd",
            files=files,
            argv=[*_AS_SERVICE_USER, "/usr/bin/cmsd", "-c", cfg, "-l", f"={srv}/log/cmsd.log",
                  "-s", f"{srv}/xrd/run/cmsd.pid", *(["-I", "v4"] if cmsd_v4 else [])],
            user="root",  # setpriv: runs as xrootd (XRootD refuses root)
            env=env,
            pidfile=f"{srv}/xrd/run/cmsd.pid",
            ports=[CMSD_PORT] if host["role"] == "headnode" else [],
            log=f"{srv}/log/cmsd.log",
            bind_ipv4_only=cmsd_v4,
        ),
        ServiceSpec(
            name="xrootd",
            files={},
            argv=[*_AS_SERVICE_USER, "/usr/bin/xrootd", "-c", cfg, "-l", f"={srv}/log/xrootd.log",
                  "-s", f"{srv}/xrd/run/xrootd.pid", *fam],
            user="root",  # setpriv drops to xrootd keeping only CAP_NET_BIND_SERVICE (port 443)
            env=env,
            pidfile=f"{srv}/xrd/run/xrootd.pid",
            ports=[XRD_PORT, HTTPS_PORT],
            log=f"{srv}/log/xrootd.log",
            bind_ipv4_only=v4,
        ),
    ]


def _gridftp_spec(site: dict, host: dict, pki: dict, srv: Path,
                  paths: list[str] | None = None) -> ServiceSpec:
    cert, key = pki["hostcert"][host["short"]]
    lo, _, hi = str(site.get("gridftp_data_range", "20000-25000")).partition("-")
    v4 = ipv4_only(host, "gridftp")
    root = f"{srv}/root"
    conf = f"{srv}/gridftp/gridftp.conf"
    lines = [
        "# se-testbed GridFTP: GSI, grid-mapfile -> xrootd, chroot into the storage root",
        f"port {GRIDFTP_PORT}",
        f"port_range {lo},{hi}",
        f"chroot_path {root}",
        f"home_dir {store_path(host['short'])}",
        f"restrict_paths {','.join(paths or [store_path(host['short'])])}",
        f"log_single {srv}/log/gridftp.log",
        f"log_transfer {srv}/log/gridftp-transfer.log",
        "log_level ERROR,WARN,INFO",
        "allow_disabled_login 1",
    ]
    if v4:
        lines.append("control_interface 0.0.0.0")
    elif not host.get("ipv4"):  # an IPv6-only host: the control socket on its IPv6 address only
        lines.append(f"control_interface {host['ipv6']}")
    env = {
        "X509_USER_CERT": cert,
        "X509_USER_KEY": key,
        "X509_CERT_DIR": pki["certdir"],
        "GRIDMAP": pki["gridmap"],
        "GLOBUS_TCP_PORT_RANGE": f"{lo},{hi}",
    }
    return ServiceSpec(
        name="gridftp",
        files={conf: ("\n".join(lines) + "\n", 0o644, "root")},
        argv=["/usr/sbin/globus-gridftp-server", "-c", conf, "-pidfile", f"{srv}/gridftp/gridftp.pid"],
        user="root",
        env=env,
        pidfile=f"{srv}/gridftp/gridftp.pid",
        ports=[GRIDFTP_PORT],
        log=f"{srv}/log/gridftp.log",
        bind_ipv4_only=v4,
    )


def standin_spec(svc: str, comm: str, port: int, host: dict, pki: dict, srv: Path, tls: bool = False,
                 v4: bool = False) -> ServiceSpec:
    """A stand-in daemon (testbed/standin.py) for a product Debian 12 does not package: process
    name ``comm``, a banner on ``port`` (0: no port at all), TLS with the host certificate."""
    cert, key = pki["hostcert"][host["short"]]
    pidfile = f"{srv}/standin/{svc}.pid"
    argv = [PYTHON, str(STANDIN), "--name", comm, "--port", str(port), "--pidfile", pidfile]
    if tls:
        argv += ["--tls", cert, key]
    if v4:
        argv.append("--ipv4-only")
    return ServiceSpec(name=svc, files={}, argv=argv, user="root", env={}, pidfile=pidfile,
                       ports=[port] if port else [], log=f"{srv}/log/{svc}.log", bind_ipv4_only=v4)


def _standin_specs(host: dict, pki: dict, srv: Path) -> list[ServiceSpec]:
    return [standin_spec(svc, comm, port, host, pki, srv, tls, ipv4_only(host, svc))
            for svc, comm, port, tls in (("srm", "dpm-srm-v2_2", SRM_PORT, True),
                                         ("dpns", "dpnsdaemon", DPNS_PORT, False),
                                         ("dpm", "dpm", DPM_PORT, False))]


def _chroot_files(site: dict, host: dict, pki: dict, srv: Path) -> dict[str, tuple[str, int, str]]:
    """Files GridFTP needs inside its chroot: accounts, the CA dir at its real path, and its own
    addresses (PASV/EPSV resolve the host's own name after the chroot, where no DNS module can
    be loaded; glibc >= 2.34 has the `files` NSS module built in)."""
    root = srv / "root"
    fqdn = _fqdn(site, host)
    hosts = "127.0.0.1 localhost\n::1 localhost\n"
    for addr in _addresses(host):
        hosts += f"{addr} {fqdn} {host['short']}\n"
    pw = pwd.getpwnam(SERVICE_USER)
    gr = grp.getgrgid(pw.pw_gid)
    files = {
        f"{root}/etc/passwd": (
            f"root:x:0:0:root:/root:/bin/sh\n{pw.pw_name}:x:{pw.pw_uid}:{pw.pw_gid}::/store:/bin/false\n",
            0o644, "root"),
        f"{root}/etc/group": (f"root:x:0:\n{gr.gr_name}:x:{gr.gr_gid}:\n", 0o644, "root"),
        f"{root}/etc/hosts": (hosts, 0o644, "root"),
        f"{root}/etc/nsswitch.conf": ("passwd: files\ngroup: files\nhosts: files\n", 0o644, "root"),
    }
    certdir = Path(pki["certdir"])
    for f in sorted(certdir.iterdir()):
        files[f"{root}{certdir}/{f.name}"] = (f.read_text(), 0o644, "root")
    return files


def gridftp(site: dict, host: dict, pki: dict, srv: Path, paths: list[str] | None = None) -> ServiceSpec:
    """GridFTP with GSI, chrooted into the host's storage root (every DPM host, dCache's door,
    StoRM's GridFTP servers); ``paths``: the namespace paths clients may use (default: the host's
    own /store/<short>/)."""
    grid = _gridftp_spec(site, host, pki, srv, paths)
    grid.files.update(_chroot_files(site, host, pki, srv))
    return grid


def make_dirs(state_dir: Path, short: str) -> Path:
    """Create a host's private service directories (see module doc); returns its srv dir."""
    srv = host_srv_dir(state_dir, short)
    dirs = {
        str(srv): (0o755, "root"),
        f"{srv}/log": (0o755, SERVICE_USER),
        f"{srv}/xrd": (0o755, SERVICE_USER),
        f"{srv}/xrd/admin": (0o750, SERVICE_USER),
        f"{srv}/xrd/run": (0o755, SERVICE_USER),
        f"{srv}/xrd/tpc": (0o700, SERVICE_USER),
        f"{srv}/xrd/cache": (0o700, SERVICE_USER),
        f"{srv}/gridftp": (0o755, "root"),
        f"{srv}/standin": (0o755, "root"),
        f"{srv}/root": (0o755, "root"),
        f"{srv}/root/etc": (0o755, "root"),
        f"{srv}/root/store": (0o755, SERVICE_USER),
        f"{srv}/root/store/{short}": (0o755, SERVICE_USER),
    }
    _mkdirs(dirs)
    return srv


def service_specs(site: dict, host: dict, pki: dict, state_dir: Path) -> list[ServiceSpec]:
    """The daemons of one DPM host; creates its private directories (see module doc)."""
    srv = make_dirs(state_dir, host["short"])
    specs = [*_xrootd_specs(site, host, pki, srv), gridftp(site, host, pki, srv)]
    if host["role"] == "headnode":
        specs += _standin_specs(host, pki, srv)
    return specs


_LOGIN_RE = re.compile(r"Primary server\.\d+:\d+@([^:\s]+):\d+ logged in")


def logged_in(log: Path) -> set[str]:
    """Short names of the data servers whose cmsd has logged in, from a manager cmsd's log."""
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return set()
    return {m.group(1).split(".")[0] for m in _LOGIN_RE.finditer(text)}


def cluster_members(site: dict, state_dir: Path) -> set[str]:
    """Short names of the data servers whose cmsd has logged in to the manager (from its log)."""
    return logged_in(host_srv_dir(state_dir, _head(site)["short"]) / "log" / "cmsd.log")


def wait_cluster(site: dict, state_dir: Path, timeout: float = 10.0) -> list[str]:
    """Wait until every disk node's data server has joined the manager; returns those missing.

    Why: ports listening is not enough for redirects. Until a data server's cmsd has logged in,
    the manager answers requests for its path with a wait, so the first transfers through the
    head node would be slow or time out. Logins take ~1 s after start (more on a loaded 1+32).
    """
    want = {h["short"] for h in site["hosts"] if h["role"] == "disknode"}
    deadline = time.monotonic() + timeout
    while True:
        missing = sorted(want - cluster_members(site, state_dir))
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(0.05)


def clean_host(state_dir: Path, short: str) -> None:
    """Remove a host's service directory (the engine's `down` may simply remove state_dir)."""
    shutil.rmtree(host_srv_dir(state_dir, short), ignore_errors=True)


__all__ = ["ServiceSpec", "clean_host", "cluster_members", "gridftp", "host_srv_dir", "ipv4_only",
           "issuer_spec", "logged_in", "make_dirs", "service_specs", "standin_spec", "store_path",
           "wait_cluster"]
