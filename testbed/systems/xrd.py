"""Named XRootD instances: the real servers that make each storage system's redirect hop.

Why named instances: a manager's HTTP redirect carries the data server's *xroot* port, so when a
system sends xroot clients to one port and HTTP clients to another (dCache's xroot mover range
vs its WAN range, EOS's FST 1095 vs EOS_FST_HTTP_PORT), each redirect needs a manager/server
cluster of its own: `xrootd -n NAME` and `cmsd -n NAME`, both reading one config file of the
host whose `if named NAME` blocks set the role, the manager's cmsd port and the xrd.port. That is
XRootD's own way (`xrootd@.service` runs `-n %i`), and a process list shows `xrootd -n NAME` for
what it is.

The HTTP redirect lands on the data server's xrd.port, so an HTTP instance serves XrdHttp
port-shared on its xrd.port (XrdHttp tells TLS from plain HTTP on one port).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from testbed import faults, xrdconf
from testbed.services import ServiceSpec, logged_in


@dataclass(frozen=True)
class Instance:
    """One `xrootd -n NAME` (and its cmsd when clustered) of a host."""

    name: str
    port: int                       # xrd.port: where clients land (xroot, and HTTP when http)
    role: str = "standalone"        # manager | server | standalone
    manager: str = ""               # "host:port" of the manager's cmsd (clustered roles)
    http: bool = False              # XrdHttp shares xrd.port
    http_ports: tuple[int, ...] = ()  # further XrdHttp ports (TLS and plain alike)
    v4only: bool = False            # started with `-I v4` (listens and announces IPv4 only)
    note: str = ""                  # one comment line in the config file saying what it stands for
    extra: tuple[str, ...] = field(default=())  # further lines inside the instance's `if named` block

    @property
    def clustered(self) -> bool:
        return self.role in ("manager", "server")


def manager_port(inst: Instance) -> int:
    """The cmsd port of a manager instance (from all.manager host:port)."""
    return int(inst.manager.rsplit(":", 1)[1]) if inst.role == "manager" else 0


def config(host: dict, pki: dict, srv: Path, export: str, instances: list[Instance],
           header: list[str], site_lines: tuple[str, ...] = ()) -> str:
    """The host's XRootD config file, read by every instance (and its cmsd) with `-c`."""
    lines = [*(f"# {h}" for h in header),
             f"# instances: {', '.join(f'{i.name} ({i.role}, xrd.port {i.port})' for i in instances)}",
             f"all.export {export}",
             f"all.adminpath {srv}/xrd/admin",
             f"all.pidpath {srv}/xrd/run",
             f"oss.localroot {srv}/root",
             "xrootd.chksum adler32",
             *site_lines]
    if any(i.clustered for i in instances):
        lines += xrdconf.cluster_tuning()
    lines += xrdconf.security_lines(pki, srv)
    for inst in instances:
        lines += ["", *([f"# {inst.note}"] if inst.note else []), f"if named {inst.name}"]
        if inst.clustered:
            lines += [f"all.role {inst.role}", f"all.manager {inst.manager}"]
        lines += [*inst.extra, "fi",
                  # ports and protocols belong to xrootd (a manager's cmsd listens on all.manager)
                  f"if exec xrootd && named {inst.name}", f"xrd.port {inst.port}"]
        http = [inst.port] if inst.http else []
        http += [p for p in inst.http_ports if p not in http]
        if http:
            lines.append(f"xrd.protocol XrdHttp:{http[0]} libXrdHttp.so")
            lines += [f"xrd.protocol XrdHttp:{p} +port" for p in http[1:]]
        lines.append("fi")
    lines += ["", "if exec xrootd", *xrdconf.data_access_lines(pki, srv), "fi"]
    return "\n".join(lines) + "\n"


# Hosts and daemons start in parallel, and XRootD retries a late partner only after a fixed
# pause: a data server's cmsd whose manager is not yet listening after 6 s (XrdCmsProtocol::
# Pander, Snooze(6)), a data server's xrootd whose local cmsd has no admin socket yet after 10 s
# (XrdCmsFinderTRG::Start, Wait(10*1000); cms.conwait does not apply there). So each first waits
# (at most 10 s) for its partner, then execs the daemon: same PID, same command line from then
# on. The cmsd's pidfile is made first, the service user's (cmsd rewrites it once started).
_AWAIT_MANAGER = ('echo $$ > "$1" && chown xrootd: "$1"; shift; '
                  'for i in $(seq 100); do (exec 3<>"/dev/tcp/$0") 2>/dev/null && break; sleep 0.1; done; '
                  'exec "$@"')
_AWAIT_CMSD = 'for i in $(seq 100); do [ -S "$0" ] && break; sleep 0.1; done; exec "$@"'


def specs(site: dict, host: dict, pki: dict, srv: Path, cfg: str, text: str,
          instances: list[Instance], host_files: bool = True) -> list[ServiceSpec]:
    """cmsd (when clustered) then xrootd for each instance; the first spec carries the config
    file and (``host_files``: once per host) the files every XRootD of the host shares."""
    files = {cfg: (text, 0o644, "root"), **(xrdconf.files(site, host, pki, srv) if host_files else {})}
    env = xrdconf.env(pki, srv)
    out: list[ServiceSpec] = []
    for inst in instances:
        fam = ["-I", "v4"] if inst.v4only else []
        daemons = (["cmsd"] if inst.clustered else []) + ["xrootd"]
        for daemon in daemons:
            pidfile = f"{srv}/xrd/run/{daemon}-{inst.name}.pid"
            log = f"{srv}/log/{daemon}-{inst.name}.log"
            if daemon == "cmsd":
                ports = [manager_port(inst)] if inst.role == "manager" else []
            else:
                ports = sorted({inst.port, *inst.http_ports})
            argv = [*xrdconf.AS_SERVICE_USER, f"/usr/bin/{daemon}", "-c", cfg, "-n", inst.name,
                    "-l", f"={log}", "-s", pidfile, *fam]
            if daemon == "cmsd" and inst.role == "server":
                argv = ["/bin/bash", "-c", _AWAIT_MANAGER, inst.manager.replace(":", "/"), pidfile, *argv]
            elif inst.role == "server":
                argv = ["/bin/bash", "-c", _AWAIT_CMSD, f"{srv}/xrd/admin/{inst.name}/.olb/olbd.admin", *argv]
            out.append(ServiceSpec(
                name=f"{daemon}@{inst.name}", files=files if not out else {}, argv=argv,
                user="root",  # setpriv: runs as xrootd (XRootD refuses root)
                env=env, pidfile=pidfile, ports=ports, log=log, bind_ipv4_only=inst.v4only))
    return out


def ipv4_only(host: dict, *names: str) -> bool:
    """The host carries `service_ipv4_only:<name>` (itself or implied) for one of ``names``."""
    return any(p in names for p in faults.params(host, "service_ipv4_only"))


def wait_joined(logs: dict[Path, set[str]], timeout: float) -> list[str]:
    """Wait until each manager cmsd log shows its data servers logged in; returns what is missing
    as "instance: short" strings. Why: until a data server's cmsd has logged in, its manager
    answers with a wait, and the first transfers through the head node stall."""
    deadline = time.monotonic() + timeout
    while True:
        missing = sorted(f"{log.stem.partition('-')[2]}: {s}" for log, want in logs.items()
                         for s in want - logged_in(log))
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(0.05)


def manager_log(srv: Path, inst: Instance) -> Path:
    """Where a manager instance's cmsd logs (the logins wait_joined reads)."""
    return srv / "log" / f"cmsd-{inst.name}.log"
