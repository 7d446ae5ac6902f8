"""Bring a site up and down: the order of things, in parallel per host.

up:   clean leftovers -> namespaces + bridge + veths (one `ip -batch`) while the PKI and ssh keys
      are made -> dnsmasq (-> DNS64 + NAT64 on a site with `nat64:`) -> per host, in threads:
      init (PID/mount/UTS ns), addresses, OS files, firewall, sshd, its resolver answers,
      services, wait for ports -> inventory, ssh_config, state.json.
down: SIGKILL every process in the testbed's namespaces (each host's PID 1 takes its whole
      host with it), delete the namespaces, remove the state and private directories.
Both are idempotent and need no state file: everything is found by the `<name>-` prefix.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from testbed import dns, dns64, faults, firewall, hostenv, nat64, netns, osfiles, sshd, systems
from testbed.site import FAMILIES, PRIV_ROOT, STATE_ROOT, members, mgmt_address, resolvers

try:  # the services engineer's modules; the core works without them
    from testbed import pki as pkimod
    from testbed import services as svcmod
    from testbed import tokens as tokmod
except ImportError as _exc:  # pragma: no cover - only while services are being written
    pkimod = svcmod = tokmod = None  # type: ignore[assignment]
    _SERVICES_MISSING = str(_exc)
else:
    _SERVICES_MISSING = ""

SERVICE_WAIT = 30.0
SSHD_WAIT = 10.0
DNS_WAIT = 20.0
Log = Callable[[str], None]


class TestbedError(RuntimeError):
    """Anything that stops up/down; the message is meant for the operator, one line if possible."""


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def preflight() -> None:
    """Refuse clearly when root or namespace support is missing (before touching anything)."""
    if os.geteuid() != 0:
        raise TestbedError("the testbed needs root (network, PID and mount namespaces, iptables): "
                           "run it with sudo or as root")
    for ns in ("net", "pid", "mnt", "uts"):
        if not os.path.exists(f"/proc/self/ns/{ns}"):
            raise TestbedError(f"this kernel has no {ns} namespace support (/proc/self/ns/{ns} missing)")
    for tool in ("ip", "unshare", "nsenter", "dnsmasq", "iptables-restore", "ip6tables-restore",
                 "ssh-keygen", "setpriv"):
        if not shutil.which(tool, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"):
            raise TestbedError(f"required tool {tool!r} not found (apt-get install iproute2 util-linux "
                               "dnsmasq-base iptables openssh-server)")
    if not shutil.which("sshd", path="/usr/sbin:/usr/bin"):
        raise TestbedError("sshd not found (apt-get install openssh-server)")
    # root in a container may still lack CAP_SYS_ADMIN: probe once (a few ms) instead of failing
    # half way through `up`
    probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount", "--uts", "true"],
                           capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        raise TestbedError(f"cannot create namespaces here (unshare: {probe.stderr.strip()}); the "
                           "testbed needs root with CAP_SYS_ADMIN/CAP_NET_ADMIN, not a restricted container")


def state_dir(name: str) -> Path:
    return STATE_ROOT / name


@contextmanager
def locked(name: str, remove: bool = False) -> Iterator[None]:
    """One up/down at a time per testbed name (other names run concurrently). ``remove``: the
    caller leaves nothing behind (down), so the lock file goes too."""
    lockfile = STATE_ROOT / f".{name}.lock"
    for _ in range(50):  # another testbed's `down` may rmdir an empty STATE_ROOT in between
        STATE_ROOT.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lockfile, os.O_RDWR | os.O_CREAT, 0o600)
            break
        except FileNotFoundError:
            time.sleep(0.01)
    else:
        raise TestbedError(f"cannot create {lockfile}")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TestbedError(f"another up/down of testbed {name!r} held the lock for 120 s") \
                        from None
                time.sleep(0.05)
        yield
        if remove:
            lockfile.unlink(missing_ok=True)
            for d in (STATE_ROOT, PRIV_ROOT):
                with contextlib.suppress(OSError):
                    d.rmdir()  # only when no other testbed uses it
    finally:
        os.close(fd)


def leftovers(name: str) -> dict[str, Any]:
    """What exists of testbed ``name``: namespaces, processes in them, directories."""
    nss = netns.list_namespaces(name)
    pids = sorted({p for ns in nss for p in netns.ns_pids(ns)})
    dirs = [str(d) for d in (state_dir(name), PRIV_ROOT / name) if d.exists()]
    return {"namespaces": nss, "pids": pids, "dirs": dirs}


def down(name: str, log: Log = _stderr) -> dict[str, Any]:
    """Remove every namespace, process, mount and file of testbed ``name``; a no-op if none."""
    found = leftovers(name)
    if not any(found.values()):
        return found
    stuck = netns.kill_ns_processes(found["namespaces"])
    if stuck:
        raise TestbedError(f"processes {stuck} of testbed {name!r} did not die within 5 s")
    netns.delete(found["namespaces"])
    still = netns.list_namespaces(name)
    if still:
        raise TestbedError(f"could not delete namespaces {still}")
    for d in found["dirs"]:
        shutil.rmtree(d, ignore_errors=True)
    return found


def _host_up(site: dict[str, Any], host: dict[str, Any], sd: Path, pki_f: Future | None,
             pubkeys: dict[str, str], timings: dict[str, float]) -> dict[str, Any]:
    """Everything of one host, in order; returns its record for state.json."""
    t0 = time.monotonic()
    short = host["short"]
    pid = hostenv.start_init(host, site, sd / "logs")
    marks = {"init": time.monotonic() - t0}
    netns.configure_host(site, host)
    for path, content in osfiles.files(site, host).items():
        if content is None:
            hostenv.whiteout(pid, path)
        else:
            hostenv.write_file(pid, path, content)
    rec: dict[str, Any] = {"short": short, "fqdn": host["fqdn"], "role": host["role"], "pid": pid,
                           "ns": host["ns"], "ipv4": host["ipv4"],
                           "ipv6": host["ipv6"] if host["has_ipv6"] else None,
                           "families": host["families"],
                           "os": host["os"], "faults": host["faults"], "services": []}
    if host["role"] == "client":
        timings[short] = time.monotonic() - t0
        return rec
    if host["role"] == "issuer":
        _issuer_up(site, host, sd, pid, pki_f, rec)
        timings[short] = time.monotonic() - t0
        return rec
    # sshd first: it needs nothing from the PKI, which may still be running in another thread
    keyfile = sd / "hostkeys" / short / "ssh_host_ed25519_key"
    hostenv.write_file(pid, "/etc/ssh/ssh_host_ed25519_key", keyfile.read_text(), 0o600)
    hostenv.write_file(pid, "/etc/ssh/ssh_host_ed25519_key.pub", pubkeys[short] + "\n", 0o644)
    hostenv.write_file(pid, "/etc/ssh/sshd_config", sshd.sshd_config(host, str(sd / "authorized_keys")))
    hostenv.write_file(pid, "/etc/init.d/sshd",
                       osfiles.init_script("sshd", "/run/sshd.pid", ["/usr/sbin/sshd"]), 0o755)
    sshd_log = f"{sd}/logs/sshd-{short}.log"
    hostenv.start_daemon(pid, ["/usr/sbin/sshd", "-E", sshd_log], sshd_log)
    marks["sshd"] = time.monotonic() - t0
    specs: list[Any] = []
    if svcmod is not None and pki_f is not None:
        _grid_security(pid, pki_f.result())
        specs = systems.service_specs(site, host, pki_f.result(), sd)
    marks["specs"] = time.monotonic() - t0
    firewall.apply(pid, site, host, sorted({p for s in specs for p in s.ports}))
    marks["firewall"] = time.monotonic() - t0
    if specs and not hostenv.wait_resolves(pid, host["fqdn"], DNS_WAIT):
        raise TestbedError(f"host {short}: the site's DNS does not answer for {host['fqdn']} from inside "
                           f"the host after {DNS_WAIT:.0f} s (its services resolve it before they "
                           f"listen); dnsmasq log: {hostenv.log_tail(sd / 'logs' / 'dnsmasq.log', 3)}")
    marks["dns"] = time.monotonic() - t0
    for spec in specs:
        for path, (content, mode, owner) in spec.files.items():
            hostenv.write_file(pid, path, content, mode, owner)
        inpid = hostenv.start_daemon(pid, list(spec.argv), spec.log, spec.user, dict(spec.env))
        pidfile = spec.pidfile
        if not pidfile:
            pidfile = f"/run/{spec.name}.pid"
            hostenv.write_file(pid, pidfile, f"{inpid}\n")
        aliases = {"gridftp": ["gridftp", "globus-gridftp-server", "dpm-gsiftp"]}.get(spec.name, [spec.name])
        for alias in aliases:
            hostenv.write_file(pid, f"/etc/init.d/{alias}", osfiles.init_script(alias, pidfile, spec.argv),
                               0o755)
            if host["os"] != "sl6":  # EL7/EL9 ship systemd units (SL6: SysV scripts only)
                hostenv.write_file(pid, f"/etc/systemd/system/{alias}.service",
                                   osfiles.unit_file(alias, pidfile, spec.argv))
        rec["services"].append({"name": spec.name, "ports": list(spec.ports), "log": spec.log,
                                "pidfile": pidfile, "ipv4_only": bool(spec.bind_ipv4_only),
                                "started": inpid})
    marks["started"] = time.monotonic() - t0
    missing = hostenv.wait_ports(pid, [22], SSHD_WAIT)
    if missing:
        raise TestbedError(f"host {short}: sshd is not listening on port 22 after {SSHD_WAIT:.0f} s: "
                           f"{hostenv.log_tail(sd / 'logs' / f'sshd-{short}.log')}")
    for svc in rec["services"]:
        missing = hostenv.wait_ports(pid, svc["ports"], SERVICE_WAIT, svc["started"], svc["pidfile"])
        if missing:
            tail = hostenv.log_tail(hostenv.host_path(pid, svc["log"]))
            state = hostenv.process_state(pid, svc["started"], svc["pidfile"])
            raise TestbedError(f"host {short}: service {svc['name']} not listening on {sorted(missing)} "
                               f"within {SERVICE_WAIT:.0f} s, its process {state}; log {svc['log']}: {tail}")
    for svc in rec["services"]:
        # a daemon that does not write its pidfile in the foreground (GridFTP without -S) gets it
        # written here, so `service X status` works
        pf = hostenv.host_path(pid, svc["pidfile"])
        if not pf.exists() and hostenv.alive_in_host(pid, svc["started"]):
            hostenv.write_file(pid, svc["pidfile"], f"{svc['started']}\n")
    if specs:
        tdir = hostenv.host_path(pid, f"{svcmod.host_srv_dir(sd, short)}/root{host['transfer_dir']}")
        tdir.mkdir(parents=True, exist_ok=True)
        if pkimod is not None:
            uid, gid = pkimod.service_uid_gid()
            os.chown(tdir, uid, gid)
    timings[short] = time.monotonic() - t0
    marks["ports"] = timings[short]
    rec["marks"] = {k: round(v, 3) for k, v in marks.items()}
    return rec


def _grid_security(pid: int, pki: dict[str, Any]) -> None:
    """The test CA where a grid host keeps it (/etc/grid-security/certificates, in the host's own
    /etc): CA, signing policy, namespaces, CRL and `<hash>.crl_url`, the URL fetch-crl reads.
    The servers still point at the state dir's copy (same files)."""
    for f in sorted(Path(pki["certdir"]).iterdir()):
        if f.is_file():
            hostenv.write_file(pid, f"/etc/grid-security/certificates/{f.name}", f.read_bytes())


def _issuer_up(site: dict[str, Any], host: dict[str, Any], sd: Path, pid: int, pki_f: Future | None,
               rec: dict[str, Any]) -> None:
    """The token issuer: mint the tokens, serve discovery + JWKS over https (no sshd: nothing
    on it is checked; `testbed exec issuer` reaches it through nsenter)."""
    if tokmod is None or pki_f is None:
        return
    rec["tokens"] = tokmod.make_tokens(sd, site)
    spec = svcmod.issuer_spec(host, pki_f.result(), rec["tokens"]["docroot"])
    inpid = hostenv.start_daemon(pid, list(spec.argv), spec.log, spec.user, dict(spec.env))
    rec["services"].append({"name": spec.name, "ports": list(spec.ports), "log": spec.log,
                            "pidfile": spec.pidfile, "ipv4_only": bool(spec.bind_ipv4_only),
                            "started": inpid})
    missing = hostenv.wait_ports(pid, spec.ports, SERVICE_WAIT, inpid, spec.pidfile)
    if missing:
        raise TestbedError(f"host {host['short']}: token issuer not listening on {sorted(missing)}; "
                           f"log {spec.log}: {hostenv.log_tail(hostenv.host_path(pid, spec.log))}")


def up(site: dict[str, Any], log: Log = _stderr) -> dict[str, Any]:
    """Bring the site up; on any failure everything made so far is removed again."""
    preflight()
    name = site["name"]
    sd = state_dir(name)
    t_start = time.monotonic()
    with locked(name):
        old = down(name, log)
        if any(old.values()):
            log(f"cleaned leftovers of a previous run: {len(old['namespaces'])} namespaces, "
                f"{len(old['pids'])} processes")
        try:
            return _up(site, sd, log, t_start)
        except BaseException:
            down(name, log)
            raise


def _up(site: dict[str, Any], sd: Path, log: Log, t_start: float) -> dict[str, Any]:
    name = site["name"]
    # the state dir is traversable: services running as `xrootd` read their files under it
    for d, mode in ((sd, 0o755), (sd / "logs", 0o755), (sd / "cm", 0o700), (sd / "hostkeys", 0o700)):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(mode)
    Path(site["hosts"][0]["privdir"]).parent.mkdir(parents=True, exist_ok=True)
    hosts = members(site)
    timings: dict[str, float] = {}
    workers = min(40, len(hosts) + 2)  # threads mostly wait on subprocesses and ports
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pki_f: Future | None = None
        if pkimod is not None:
            pki_f = pool.submit(pkimod.make_pki, sd, site)
        else:
            log(f"services not available yet ({_SERVICES_MISSING}): hosts get sshd only")
        key_fs = {h["short"]: pool.submit(sshd.keygen, sd / "hostkeys" / h["short"] / "ssh_host_ed25519_key",
                                          f"root@{h['fqdn']}") for h in site["hosts"]}
        user_f = pool.submit(sshd.keygen, sd / "id_ed25519", f"se-testbed-{name}")
        t0 = time.monotonic()
        netns.create(site)
        timings["_netns"] = time.monotonic() - t0
        t0 = time.monotonic()
        dns_pid = dns.start(site, sd)
        timings["_dns"] = time.monotonic() - t0
        translation: dict[str, Any] = {}
        if site.get("nat64"):  # the IPv6-only client's resolver and gateway to the IPv4 side
            t0 = time.monotonic()
            try:
                translation = {"dns64": dns64.start(site, sd), "nat64": nat64.start(site, sd)}
            except (RuntimeError, subprocess.SubprocessError) as exc:
                raise TestbedError(f"DNS64/NAT64 of the site: {exc}") from None
            timings["_dns64_nat64"] = time.monotonic() - t0
        pubkeys = {s: f.result() for s, f in key_fs.items()}
        (sd / "authorized_keys").write_text(user_f.result() + "\n")
        host_fs = [pool.submit(_host_up, site, h, sd, pki_f, pubkeys, timings) for h in hosts]
        records = [f.result() for f in host_fs]
        pki = pki_f.result() if pki_f is not None else None
    if pki is not None and svcmod is not None:
        # Ports listening is not enough: until each data server's cmsd has logged in, the manager
        # answers with "wait", and the first transfers through the head node stall.
        t0 = time.monotonic()
        missing = systems.wait_cluster(site, sd, timeout=30.0)
        timings["_cluster"] = time.monotonic() - t0
        if missing:
            log(f"warning: data servers not joined to the head node's manager after 30 s: "
                f"{', '.join(missing)} (see {sd / 'logs'})")
    (sd / "known_hosts").write_text("".join(sshd.known_hosts_line(h, pubkeys[h["short"]]) + "\n"
                                            for h in site["hosts"]))
    (sd / "ssh_config").write_text(sshd.ssh_config(sd, site))
    (sd / "inventory.yml").write_text(inventory_yaml(site))
    x509 = {}
    if pki is not None:
        x509 = {"X509_USER_PROXY": pki["proxy"], "X509_CERT_DIR": pki["certdir"]}
    tokens = next((r["tokens"] for r in records if r.get("tokens")), None)
    state = {"name": name, "site": site, "dns_pid": dns_pid, "hosts": records, "x509": x509,
             "tokens": tokens, "dns64": translation.get("dns64"), "nat64": translation.get("nat64"),
             "crl_url": pki.get("crl_url") if pki else None,
             "pki": pki, "started": time.time(), "up_seconds": round(time.monotonic() - t_start, 3),
             "timings": {k: round(v, 3) for k, v in timings.items()}}
    (sd / "state.json").write_text(json.dumps(state, indent=1, default=str))
    return state


def inventory(site: dict[str, Any]) -> dict[str, Any]:
    """The Ansible inventory the suite reads (docs/architecture.md, inventory contract)."""
    def hv(h: dict[str, Any]) -> dict[str, Any]:
        out = {"ansible_host": mgmt_address(site, h), "ansible_user": "root",
               "se_os": "el6" if h["os"] == "sl6" else h["os"],
               "se_transfer_dir": h["transfer_dir"],
               # single-family names (as many sites publish): third-party copies use them so the
               # server-to-server leg is forced too (an IPv6-only host has no -v4 alias)
               "se_ipv6_alias": f"{h['short']}-v6.{site['domain']}"}
        if f"{h['short']}-v4.{site['domain']}" in h["names"]:
            out["se_ipv4_alias"] = f"{h['short']}-v4.{site['domain']}"
        if h["families"] != list(FAMILIES):  # the suite's default is both
            out["se_families"] = list(h["families"])
        return out
    return {"all": {
        "vars": {
            "se_site": site["site"],
            "se_flavour": systems.system(site),
            # what the suite machine (the client) resolves through: the DNS64 behind NAT64
            "se_resolvers": resolvers(site, site["client"]),
            "se_ipv6_prefixes": [site["ipv6_prefix"]],
            "se_external_interface": "eth0",
            "se_gridftp_data_range": site["gridftp_data_range"],
        },
        "children": {
            "headnodes": {"hosts": {h["fqdn"]: hv(h) for h in site["hosts"] if h["role"] == "headnode"},
                          **_group_vars(site, "headnodes")},
            "disknodes": {"hosts": {h["fqdn"]: hv(h) for h in site["hosts"] if h["role"] == "disknode"},
                          **_group_vars(site, "disknodes")},
        },
    }}


def _group_vars(site: dict[str, Any], group: str) -> dict[str, Any]:
    """A group's vars: what the storage system runs beyond the defaults, and the door alias."""
    out = dict(systems.inventory_vars(site).get(group, {}))
    if group == "disknodes":
        out.update(_alias_vars(site).get("vars", {}))
    return {"vars": out} if out else {}


def _alias_vars(site: dict[str, Any]) -> dict[str, Any]:
    """Group vars declaring the door alias over the disk nodes (fault alias_one_dead)."""
    alias = faults.endpoint_alias(site)
    if not alias:
        return {}
    return {"vars": {"se_endpoints": [{"name": alias, "protocols": [faults.ALIAS_PROTOCOL],
                                       "ports": {faults.ALIAS_PROTOCOL: faults.ALIAS_PORT}}]}}


def inventory_yaml(site: dict[str, Any]) -> str:
    head = (f"# Generated by the SE testbed '{site['name']}' from {site['source']}.\n"
            "# Management (ssh) goes over IPv4 (ansible_host) so IPv6 faults never break the connection;\n"
            "# over IPv6 to a host declared IPv6-only (se_families: [ipv6]) or from an IPv6-only client.\n")
    return head + yaml.safe_dump(inventory(site), sort_keys=False, default_flow_style=False)


def load_state(name: str) -> dict[str, Any]:
    """The state of a running testbed, or a clear error if it is not up."""
    p = state_dir(name) / "state.json"
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise TestbedError(f"testbed {name!r} is not up (no {p}); "
                           f"run: python -m testbed --name {name} up") from None
