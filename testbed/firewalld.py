"""The el9 personality's firewall: a real firewalld (nftables backend) inside the host.

Configured the way an EL9 site does it, as permanent configuration of the default zone
(`firewall-offline-cmd` writes the same /etc/firewalld/zones/public.xml that
`firewall-cmd --permanent` would, without a D-Bus round trip per option), then firewalld is
started on the host's own system bus. Runtime-only changes go through `firewall-cmd` afterwards,
as an admin's would. Re-applying (a live `testbed fault`) stops firewalld, rewrites the
permanent configuration and starts it again.
"""

from __future__ import annotations

import time
from typing import Any

from testbed import faults, osfiles
from testbed.hostenv import HostEnvError, host_path, run_in, start_daemon, write_file

ZONE = "public"
START_TIMEOUT = 20.0
CMD_TIMEOUT = 20.0
PIDFILE = "/run/firewalld.pid"
ARGV = ["/usr/sbin/firewalld", "--nofork", "--nopid", "--log-target", "file"]


def rich_ipv4(port: int | str) -> str:
    """A rich rule that accepts a TCP port for IPv4 only (the fault's mistake)."""
    return f'rule family="ipv4" port port="{port}" protocol="tcp" accept'


def _spec(port: int | str) -> str:
    return f"{str(port).replace(':', '-')}/tcp"


def config(host: dict[str, Any], ports: list[int | str],
           head_internal: list[int]) -> tuple[list[list[str]], list[str]]:
    """(firewall-offline-cmd calls for the permanent zone, runtime-only port specs).

    ``ports`` are the TCP ports (or 'A:B' ranges) the host's services need, ssh included. One
    call per kind of option: the tool refuses services, ports and rich rules in one call."""
    v4only = {int(p) for p in faults.params(host, "firewalld_ipv4_only_rule")}
    runtime = {int(p) for p in faults.params(host, "firewalld_runtime_only")}
    if faults.has(host, "firewalld_head_transfer_only"):
        v4only |= set(head_internal)
    services, opts, rich, late = [], [], [], []
    for p in ports:
        if p == 22:
            continue  # the zone's ssh service
        if isinstance(p, int) and p in v4only:
            rich.append(f"--add-rich-rule={rich_ipv4(p)}")
        elif isinstance(p, int) and p in runtime:
            late.append(_spec(p))
        elif p == 443:
            services.append("--add-service=https")
        else:
            opts.append(f"--add-port={_spec(p)}")
    calls = [[f"--zone={ZONE}", *group] for group in (services, opts, rich) if group]
    return calls, late


def _stop(pid: int) -> None:
    """Stop a firewalld started earlier (CleanupOnExit removes its nft table)."""
    pf = host_path(pid, PIDFILE)
    if not pf.exists():
        return
    inpid = pf.read_text().strip()
    script = (f"kill -TERM {inpid} 2>/dev/null; for i in $(seq 100); do "
              f"kill -0 {inpid} 2>/dev/null || exit 0; sleep 0.05; done; kill -KILL {inpid}; exit 1")
    res = run_in(pid, ["/bin/sh", "-c", script], timeout=CMD_TIMEOUT, check=False)
    if res.returncode not in (0, 1):
        raise HostEnvError(f"could not stop firewalld (pid {inpid}): {res.stderr.strip()}")
    pf.unlink(missing_ok=True)


def _dbus(pid: int) -> None:
    """The host's own system bus (its /run is private), started once."""
    if host_path(pid, "/run/dbus/system_bus_socket").exists():
        return
    host_path(pid, "/run/dbus").mkdir(parents=True, exist_ok=True)
    run_in(pid, ["dbus-daemon", "--system", "--fork"], timeout=CMD_TIMEOUT)


def _wait_running(pid: int, log: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        res = run_in(pid, ["firewall-cmd", "--state"], timeout=CMD_TIMEOUT, check=False)
        if res.returncode == 0 and res.stdout.strip() == "running":
            return
        if time.monotonic() > deadline:
            tail = " | ".join(host_path(pid, log).read_text(errors="replace").splitlines()[-4:])
            raise HostEnvError(f"firewalld not running after {START_TIMEOUT:.0f} s: {tail}")
        time.sleep(0.1)


def apply(pid: int, host: dict[str, Any], ports: list[int | str], head_internal: list[int],
          logdir: str) -> None:
    """Write the permanent zone, (re)start firewalld, then make the runtime-only changes."""
    _stop(pid)
    zone_file = host_path(pid, f"/etc/firewalld/zones/{ZONE}.xml")
    zone_file.unlink(missing_ok=True)
    calls, late = config(host, ports, head_internal)
    for opts in calls:
        run_in(pid, ["firewall-offline-cmd", *opts], timeout=CMD_TIMEOUT)
    _dbus(pid)
    log = f"{logdir}/firewalld-{host['short']}.log"
    inpid = start_daemon(pid, [*ARGV, "--log-file", log], log)
    write_file(pid, PIDFILE, f"{inpid}\n")
    write_file(pid, "/etc/init.d/firewalld", osfiles.init_script("firewalld", PIDFILE, ARGV), 0o755)
    write_file(pid, "/etc/systemd/system/firewalld.service", osfiles.unit_file("firewalld", PIDFILE, ARGV))
    _wait_running(pid, log)
    if late:
        run_in(pid, ["firewall-cmd", f"--zone={ZONE}", *(f"--add-port={p}" for p in late)],
               timeout=CMD_TIMEOUT)

