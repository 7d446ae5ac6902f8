"""A testinfra Host for an SE host, built the way testinfra builds one from Ansible's variables.

Why here and not in the plugin: ``se-dualstack site`` (role detection without an inventory) and
the pytest plugin reach hosts the same way, and testinfra's own ``get_ansible_host`` already
turns ``ansible_host``/``ansible_user``/``ansible_port``/key/ssh args/become into a Host.

Connection sharing as Ansible does it (``ControlMaster=auto``, ``ControlPersist=60s``, a
ControlPath): where the site chose the socket's place (``control_path``/``control_path_dir`` in
ansible.cfg, ``ANSIBLE_SSH_CONTROL_PATH*``, ``ansible_control_path*``) the suite uses it, as
Ansible would, and leaves it as Ansible does (the master exits 60 s after its last command and
removes its socket). Where the site did not, the sockets go to a private directory of this run
(:class:`Masters`, mode 0700), named as Ansible names them; at the run's end each master is told
to exit and the directory is removed, so nothing stays. Why not Ansible's default
``~/.ansible/cp``: a socket there outlives the run for 60 s and is found by the next run for the
same address and user, which need not be the same host (two test sites in network namespaces
use the same addresses), and a master killed hard leaves a socket that turns sharing off.
"""

from __future__ import annotations

import atexit
import configparser
import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from se_dualstack import detect, knowledge, sitevars
from se_dualstack.errors import InventoryError
from se_dualstack.hostfiles import read_files
from se_dualstack.model import Connection, SEHost, Site

CLOSE_TIMEOUT = 5.0  # s, for `ssh -O exit` to one master at the run's end


class Masters:
    """This run's ssh connection sharing: the ControlPath of each host, closed at the end."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._lock = threading.Lock()
        self._used: set[str] = set()

    def control_path(self, conn: Connection) -> str | None:
        """The ControlPath to add for ``conn`` (None: its arguments share nothing or name one)."""
        if conn.control_path:  # the site's choice: its directory made as Ansible makes it
            Path(conn.control_path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            return conn.control_path
        if not conn.control_name:
            return None
        with self._lock:
            if self._dir is None:
                base = os.environ.get("XDG_RUNTIME_DIR") or None
                self._dir = Path(tempfile.mkdtemp(prefix="se-dualstack-cp-",
                                                  dir=base if base and os.path.isdir(base) else None))
                atexit.register(self.close)
            path = str(self._dir / conn.control_name)
            self._used.add(path)
            return path

    def close(self) -> None:
        """Tell this run's masters to exit and remove their directory (the site's own stay)."""
        with self._lock:
            used, directory, self._used, self._dir = sorted(self._used), self._dir, set(), None
        for path in used:
            # On a timeout the master still ends by itself after ControlPersist.
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                if os.path.exists(path):
                    subprocess.run(["ssh", "-o", f"ControlPath={path}", "-O", "exit", "se-dualstack"],
                                   capture_output=True, timeout=CLOSE_TIMEOUT, check=False)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def host_for(name: str, conn: Connection, ssh_config: str | None = None,
             ssh_identity_file: str | None = None, timeout: float = 10,
             masters: Masters | None = None) -> Any:
    """testinfra's Host for ``conn``; ssh never prompts (BatchMode) and gives up after ``timeout``.

    Ansible's ssh arguments go to testinfra as extra arguments, with the ControlPath Ansible
    would add (from ``masters``; without one, no connection sharing is set up here).
    """
    from testinfra.utils.ansible_runner import get_ansible_host

    hv = conn.hostvars()
    if conn.kind in ("ssh", "paramiko"):
        path = masters.control_path(conn) if masters is not None and conn.kind == "ssh" else None
        hv["ansible_ssh_extra_args"] = " ".join(
            x for x in ("-o BatchMode=yes", f"-o ConnectTimeout={int(timeout)}", conn.ssh_args,
                        f"-o {shlex.quote(f'ControlPath={path}')}" if path else "") if x)
    inventory = {"_meta": {"hostvars": {name: hv}}, "all": {"hosts": [name]}}
    # An empty config: the Connection already holds what ansible.cfg says (resolved by Ansible).
    host = get_ansible_host(configparser.ConfigParser(), inventory, name,
                            ssh_config=ssh_config, ssh_identity_file=ssh_identity_file)
    if host is None:
        raise InventoryError(f"host {name}: connection {conn.kind!r} cannot be used by testinfra; "
                             "use ssh or local")
    return host


def gather(host: Any) -> detect.Verdict:
    """Run ``ps`` and ``ss`` and read the marker files on the host (read only); decide its role
    and flavour."""
    ps = host.run(detect.PS_COMMAND)
    if ps.rc != 0:
        raise RuntimeError((ps.stderr or f"exit status {ps.rc}").strip().splitlines()[-1])
    ss = host.run(detect.SS_COMMAND)
    files = read_files(host, detect.wanted_files(detect.parse_ps(ps.stdout)))
    return detect.detect_text(ps.stdout, ss.stdout if ss.rc == 0 else "", files)


def short_reason(exc: BaseException) -> str:
    """One short line from a failed command (testinfra wraps ssh's result in the exception):
    ssh's own last stderr line, usually."""
    arg = exc.args[0] if exc.args else None
    text = ""
    if arg is not None and hasattr(arg, "stderr"):
        try:
            text = str(arg.stderr or "")
        except Exception:
            text = ""
        if not text.strip():
            text = f"exit status {getattr(arg, 'rc', '?')}"
    text = text if text.strip() else (str(exc) or type(exc).__name__)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Warning:")]
    return (lines[-1] if lines else text.strip())[:160]


@dataclass
class Probe:
    """Outcome of the one reachability probe of a host, and the OS it said it runs."""

    ok: bool
    reason: str = ""
    os: str | None = None  # OS family from /etc/os-release (or /etc/redhat-release on EL6)


# One command, one round trip: is the host there, and which OS is it (learnt once per host).
PROBE_COMMAND = "cat /etc/os-release 2>/dev/null || cat /etc/redhat-release 2>/dev/null || true"


def probe(real: Any, timeout: float) -> Probe:
    """Reach the host once, bounded by ``timeout`` (a thread: testinfra has none); read its OS."""
    result: list[Probe] = []

    def run() -> None:
        try:
            out = real.run(PROBE_COMMAND)
            ok = out.rc == 0
            result.append(Probe(ok, "" if ok else short_reason(RuntimeError(out)),
                                knowledge.os_from_release(out.stdout) if ok else None))
        except Exception as exc:
            result.append(Probe(False, short_reason(exc)))

    t = threading.Thread(target=run, name="se-probe", daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        return Probe(False, f"no answer within {timeout:g} s")
    return result[0]


def detect_roles(site: Site, host_of: Callable[[SEHost], Any], flavour: str | None) -> Site:
    """Hosts of a ``--hosts`` run with roles and flavour from their evidence (given ones kept).

    A host that cannot be reached or shows nothing decisive keeps no role; its ``role_source``
    says why, in one line.
    """
    def look(h: SEHost) -> detect.Verdict:
        try:
            return gather(host_of(h))
        except Exception as exc:  # an unreachable host: its checks report it, one line each
            return detect.Verdict(None, None, [], f"could not look at the host ({short_reason(exc)})")

    todo = [h for h in site.hosts if h.role is None or not flavour]
    # In parallel: a dead host costs its ssh ConnectTimeout once, not once per host in a row.
    with ThreadPoolExecutor(max_workers=min(16, len(todo) or 1)) as pool:
        verdicts = dict(zip([h.name for h in todo], pool.map(look, todo)))
    chosen, why = detect.site_flavour(list(verdicts.values()), flavour, str(site.vars["se_flavour"]))
    hosts = []
    for h in site.hosts:
        v = verdicts.get(h.name)
        if h.role is not None:
            hosts.append(sitevars.with_role(h, h.role, h.role_source or "--se-role", chosen))
        elif v is None or v.role is None:
            why_not = v.reason if v else "no evidence"
            hosts.append(sitevars.with_role(h, None, f"not detected: {why_not}", chosen))
        else:
            fl = v.flavour or chosen
            found, notes = detect.host_vars(v, fl, v.role, h.name)
            system = knowledge.system(fl)
            source = (f"detected: {system.title} {system.roles[v.role].short}, {v.reason}"
                      + (f"; from the host: {'; '.join(notes)}" if notes else ""))
            hosts.append(sitevars.with_role(h, v.role, source, fl, found))
    site_vars = {**site.vars, "se_flavour": chosen}
    return Site(name=site.name, flavour=chosen, inventory_path=None, hosts=hosts, vars=site_vars,
                ignored=site.ignored, origin=f"--hosts; flavour {chosen}: {why}")
