"""A host's own processes, mounts and hostname: PID/mount/UTS namespaces around a tiny init.

Why a PID namespace: killing the host's PID 1 ends every process of that host (sshd sessions,
ssh ControlMaster children, daemons), which is what makes `down` leave nothing behind.

Inside the host (set up by :func:`_init_main`, run as PID 1 of the new PID namespace):
  /etc   overlay (lower = the machine's /etc, never written; upper = per-host dir)
  /run   the host's private dir <privdir>/run, with the testbed state dir bound at its usual
         path /run/se-testbed/<name> (so inventory, ssh_config and proxy paths work inside)
  /root  the host's own empty home <privdir>/root: a real SE host has its own, and the machine's
         root dotfiles (here: a pyenv init that takes a global lock on every shell start) must
         not run in every ssh session of every host
  /usr/bin overlay: there is no systemd in a host, so `systemctl` is absent on sl6 (testinfra
         and `service` use SysV init scripts and pidfiles) and a shim over the init scripts on
         el7/el9 (testinfra's SystemdService works: is-active, is-enabled, show, ...).
  /var/lib overlay, like /etc: state files a product keeps there (dCache's
         /var/lib/dcache/config/poolmanager.conf) are the host's own, never the machine's

This file is also executed directly (`python3 -I -S hostenv.py init ...`): it must import only
the standard library at module level.
"""

from __future__ import annotations

import ctypes
import json
import os
import pwd
import selectors
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
INIT_TIMEOUT = 10.0
# sh -c DETACH_SCRIPT sh LOG CMD...: CMD in the background, output to LOG, its PID printed
DETACH_SCRIPT = 'log=$1; shift; "$@" >>"$log" 2>&1 </dev/null & echo $!'
NSENTER = "/usr/bin/nsenter"
SYSTEMCTL_SHIM = r"""#!/bin/sh
# SE testbed: no systemd runs in this host; units are the SysV scripts in /etc/init.d.
cmd=$1; [ $# -gt 0 ] && shift
while [ "${1#-}" != "$1" ]; do shift; done   # drop options (--no-pager, -q, ...)
unit=${1%.service}
case "$cmd" in
  is-active)
    if [ -x "/etc/init.d/$unit" ] && "/etc/init.d/$unit" status >/dev/null 2>&1; then echo active; exit 0; fi
    echo inactive; exit 3 ;;
  is-enabled)
    if [ -x "/etc/init.d/$unit" ]; then echo enabled; exit 0; fi
    echo "Failed to get unit file state for $unit.service: No such file or directory" >&2; exit 1 ;;
  status)
    [ -x "/etc/init.d/$unit" ] || { echo "Unit $unit.service could not be found." >&2; exit 4; }
    "/etc/init.d/$unit" status ;;
  list-unit-files)
    echo "UNIT FILE STATE"
    for f in /etc/init.d/*; do [ -x "$f" ] && echo "${f##*/}.service enabled"; done; exit 0 ;;
  show)
    if [ ! -x "/etc/init.d/$unit" ]; then echo "LoadState=not-found"; echo "ActiveState=inactive"; exit 0; fi
    if "/etc/init.d/$unit" status >/dev/null 2>&1; then a=active; s=running; else a=inactive; s=dead; fi
    printf 'Id=%s.service\nLoadState=loaded\nActiveState=%s\nSubState=%s\nUnitFileState=enabled\n' \
      "$unit" "$a" "$s"
    exit 0 ;;
  *) echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2; exit 1 ;;
esac
"""


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2) through libc: no mount(8) process per mount (33 hosts x 4 mounts adds up)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    rc = libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                    data.encode() if data else None)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {source} on {target} ({fstype or 'bind'}): {os.strerror(e)}")


def _init_main(cfg: dict) -> None:
    """PID 1 of a host: mount its private views, set its hostname, say ready, reap forever."""
    priv = Path(cfg["privdir"])
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _mount("overlay", "/etc", "overlay", 0,
           f"lowerdir=/etc,upperdir={priv}/etc-upper,workdir={priv}/etc-work")
    run = priv / "run"
    inner_state = run / "se-testbed" / cfg["name"]
    inner_state.mkdir(parents=True, exist_ok=True)
    (run / "sshd").mkdir(mode=0o755, exist_ok=True)
    (run / "lock").mkdir(exist_ok=True)
    _mount(cfg["state_dir"], str(inner_state), None, MS_BIND)
    _mount(str(run), "/run", None, MS_BIND | MS_REC)
    _mount(str(priv / "root"), "/root", None, MS_BIND)
    # /usr/bin overlay: systemctl removed (sl6, SysV) or replaced by a shim over init.d (el7/el9)
    _mount("overlay", "/usr/bin", "overlay", 0,
           f"lowerdir=/usr/bin,upperdir={priv}/usrbin-upper,workdir={priv}/usrbin-work")
    # last: the private dir itself lives under /var/lib (nothing inside the host uses it after
    # this), so this overlay's upper dir is in the state dir (an upper inside its lower is refused)
    varlib = Path(cfg["state_dir"]) / "varlib" / cfg["short"]
    _mount("overlay", "/var/lib", "overlay", 0,
           f"lowerdir=/var/lib,upperdir={varlib}/upper,workdir={varlib}/work")
    socket.sethostname(cfg["hostname"])
    for key, val in (("net/ipv6/conf/all/accept_dad", "0"), ("net/ipv6/conf/default/accept_dad", "0"),
                     ("net/ipv6/conf/all/disable_ipv6", "0"), ("net/ipv4/ping_group_range", "0 2147483647")):
        with open(f"/proc/sys/{key}", "w") as fh:
            fh.write(val)
    os.write(1, b"ready\n")
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes pause() below when an orphan dies
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    while True:  # reap every orphan of the host; PID 1 must never exit on its own
        try:
            os.wait()
        except ChildProcessError:
            signal.pause()
        except InterruptedError:
            pass


class HostEnvError(RuntimeError):
    """A host could not be started or reached; the message names the host."""


def start_init(host: dict, site: dict, logdir: Path) -> int:
    """Start the host's namespaces and init inside its (existing) netns; return init's PID.

    The returned PID is as seen from the root PID namespace (what nsenter -t needs).
    """
    priv = Path(host["privdir"])
    for d in ("etc-upper", "etc-work", "run", "usrbin-upper", "usrbin-work"):
        (priv / d).mkdir(parents=True, exist_ok=True)
    for d in ("upper", "work"):
        (Path(site["state_dir"]) / "varlib" / host["short"] / d).mkdir(parents=True, exist_ok=True)
    (priv / "root").mkdir(mode=0o700, exist_ok=True)
    shim = priv / "usrbin-upper" / "systemctl"
    if host["os"] == "sl6":
        os.mknod(shim, stat.S_IFCHR, os.makedev(0, 0))  # overlay whiteout: no systemctl at all
    else:
        shim.write_text(SYSTEMCTL_SHIM)
        shim.chmod(0o755)
        (priv / "run" / "systemd" / "system").mkdir(parents=True, exist_ok=True)
    cfg = {"privdir": str(priv), "state_dir": site["state_dir"], "name": site["name"],
           "hostname": host["fqdn"], "short": host["short"]}
    log = open(logdir / f"init-{host['short']}.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", host["ns"], "unshare", "--pid", "--fork", "--mount-proc",
             "--mount", "--uts", "--propagation", "private",
             sys.executable, "-I", "-S", __file__, "init", json.dumps(cfg)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    finally:
        log.close()
    if proc.stdout is None:
        proc.kill()
        raise HostEnvError(f"host {host['short']}: init started without a stdout pipe")
    line = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + INIT_TIMEOUT
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(proc.stdout.fileno(), 64)
            if not chunk:
                break
            line += chunk
    proc.stdout.close()
    if line.strip() != b"ready":
        proc.kill()
        tail = log_tail(logdir / f"init-{host['short']}.log")
        raise HostEnvError(f"host {host['short']}: init did not start within {INIT_TIMEOUT:.0f} s: {tail}")
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    if not children:
        raise HostEnvError(f"host {host['short']}: init exited right after start")
    return int(children[0])


def log_tail(path: Path, lines: int = 8) -> str:
    """Last lines of a log, for error messages that explain themselves."""
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "(empty log)"
    except OSError:
        return f"(no log at {path})"


def alive(pid: int) -> bool:
    """True if the init process still runs (and is not a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def nsenter_argv(pid: int, cwd: str | None = None) -> list[str]:
    """Prefix that runs a command inside a host (network, mounts, hostname, PIDs)."""
    argv = [NSENTER, "-t", str(pid), "-n", "-m", "-u", "-p"]
    if cwd:
        argv.append(f"--wd={cwd}")
    return [*argv, "--"]


def run_in(pid: int, argv: list[str], timeout: float = 30.0, input: str | None = None,
           check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command inside a host and capture its output (bounded by ``timeout``)."""
    res = subprocess.run([*nsenter_argv(pid), *argv], input=input, capture_output=True, text=True,
                         timeout=timeout, env=env)
    if check and res.returncode != 0:
        raise HostEnvError(f"{' '.join(argv)} failed (rc {res.returncode}): {res.stderr.strip()}")
    return res


def wait_resolves(pid: int, name: str, timeout: float) -> bool:
    """Poll until the host's own resolver answers for ``name`` (one 1 s try per server each round).

    Why: XRootD resolves the host's names and addresses before it writes its first log line; a
    resolver that does not answer yet costs it 2 s per try (resolv.conf), and a daemon started
    then may not listen within the service wait, with an empty log."""
    deadline = time.monotonic() + timeout
    env = {"PATH": "/usr/bin:/bin", "RES_OPTIONS": "timeout:1 attempts:1"}
    while True:
        try:
            if run_in(pid, ["getent", "ahosts", name], timeout=10, check=False, env=env).returncode == 0:
                return True
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def process_state(pid: int, inpid: int, pidfile: str | None = None) -> str:
    """"running (state S, waiting in do_poll)" or "exited": what a daemon that does not listen is
    doing, for the error that says so (the process its pidfile names, else the one started)."""
    named = pidfile_pid(pid, pidfile)
    if named is not None and alive_in_host(pid, named):
        inpid = named
    base = Path(f"/proc/{pid}/root/proc/{inpid}")
    try:
        state = (base / "stat").read_text().rsplit(")", 1)[1].split()[0]
        wchan = (base / "wchan").read_text().strip() or "-"
    except (OSError, IndexError):
        return "exited"
    return "exited (zombie)" if state == "Z" else f"running (state {state}, waiting in {wchan})"


def host_path(pid: int, path: str) -> Path:
    """The host's view of an absolute path, reachable from outside through /proc/<pid>/root."""
    if not path.startswith("/"):
        raise ValueError(f"host paths must be absolute, got {path!r}")
    return Path(f"/proc/{pid}/root{path}")


def write_file(pid: int, path: str, content: str | bytes, mode: int = 0o644, owner: str = "root") -> None:
    """Write a file as the host sees it (copy-up into the /etc overlay happens by itself)."""
    p = host_path(pid, path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    tmp = p.with_name(f".{p.name}.tbtmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    if owner != "root":
        pw = pwd.getpwnam(owner)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.replace(tmp, p)


def whiteout(pid: int, path: str) -> None:
    """Make a file absent inside the host (e.g. /etc/os-release on SL6, which never had one)."""
    p = host_path(pid, path)
    if p.exists() or p.is_symlink():
        p.unlink()


def start_daemon(pid: int, argv: list[str], log: str, user: str = "root", env: dict | None = None,
                 timeout: float = 10.0) -> int:
    """Start a long-running command inside a host, detached: it is re-parented to the host's
    init, so no wrapper process stays behind. Returns the in-host PID of the started command."""
    prefix: list[str] = []
    if user != "root":
        pw = pwd.getpwnam(user)
        prefix = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--"]
    script = DETACH_SCRIPT
    # the log belongs to whoever owns its directory (a daemon dropping privileges reopens it)
    logp = host_path(pid, log)
    logp.parent.mkdir(parents=True, exist_ok=True)
    if not logp.exists():
        logp.touch(mode=0o644)
        st = logp.parent.stat()
        os.chown(logp, st.st_uid, st.st_gid)
    full_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                "HOME": "/root" if user == "root" else pwd.getpwnam(user).pw_dir}
    full_env.update(env or {})
    res = subprocess.run([*nsenter_argv(pid), "/bin/sh", "-c", script, "sh", log, *prefix, *argv],
                         capture_output=True, text=True, timeout=timeout, env=full_env)
    if res.returncode != 0 or not res.stdout.strip().isdigit():
        raise HostEnvError(f"could not start {argv[0]}: rc {res.returncode}: {res.stderr.strip()}")
    return int(res.stdout.strip())


def listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state in the host's network namespace (read from /proc, no process)."""
    ports: set[int] = set()
    for fam in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{fam}").read_text().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            parts = ln.split()
            if len(parts) > 3 and parts[3] == "0A":
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


def alive_in_host(pid: int, inpid: int) -> bool:
    """Is in-host PID ``inpid`` running? (the host's own /proc, seen through its init's root)"""
    try:
        stat = Path(f"/proc/{pid}/root/proc/{inpid}/stat").read_text()
    except (OSError, ValueError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def pidfile_pid(pid: int, pidfile: str | None) -> int | None:
    """The PID (in the host's namespace) a host-side pidfile names; None without one."""
    if not pidfile:
        return None
    try:
        return int(host_path(pid, pidfile).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pidfile_alive(pid: int, pidfile: str | None) -> bool:
    """Does the host-side pidfile name a running process?"""
    inpid = pidfile_pid(pid, pidfile)
    return inpid is not None and alive_in_host(pid, inpid)


def wait_pidfile(pidfile: Path, timeout: float) -> int | None:
    """The PID a self-daemonizing process (dnsmasq, unbound, tayga) wrote to its pidfile, once
    written; None if it did not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)


def wait_ports(pid: int, ports: list[int], timeout: float, started: int | None = None,
               pidfile: str | None = None) -> set[int]:
    """Poll until all ``ports`` listen in the host; return the ones still missing at the deadline.

    With ``started`` (the in-host PID of the command), give up early once that process and the
    process named by ``pidfile`` are both gone: a crashed daemon never opens its ports."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        missing = set(ports) - listening_ports(pid)
        if not missing or time.monotonic() >= deadline:
            return missing
        if started is not None and not alive_in_host(pid, started) and not pidfile_alive(pid, pidfile):
            time.sleep(0.2)  # a daemonizing parent exits before the child writes its pidfile
            if not pidfile_alive(pid, pidfile):
                return set(ports) - listening_ports(pid)
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "init":
    _init_main(json.loads(sys.argv[2]))
