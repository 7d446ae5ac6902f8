"""A testinfra Host for an SE host, built the way testinfra builds one from Ansible's variables.

Why here and not in the plugin: ``se-dualstack site`` (role detection without an inventory) and
the pytest plugin reach hosts the same way, and testinfra's own ``get_ansible_host`` already
turns ``ansible_host``/``ansible_user``/``ansible_port``/key/ssh args/become into a Host.
"""

from __future__ import annotations

import configparser
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from se_dualstack import detect, sitevars
from se_dualstack.errors import InventoryError
from se_dualstack.model import Connection, SEHost, Site


def host_for(name: str, conn: Connection, ssh_config: str | None = None,
             ssh_identity_file: str | None = None, timeout: float = 10) -> Any:
    """testinfra's Host for ``conn``; ssh never prompts (BatchMode) and gives up after ``timeout``."""
    from testinfra.utils.ansible_runner import get_ansible_host

    hv = conn.hostvars()
    if conn.kind in ("ssh", "paramiko"):
        hv["ansible_ssh_extra_args"] = " ".join(
            x for x in ("-o BatchMode=yes", f"-o ConnectTimeout={int(timeout)}", conn.ssh_args) if x)
    inventory = {"_meta": {"hostvars": {name: hv}}, "all": {"hosts": [name]}}
    # An empty config: the Connection already holds what ansible.cfg says (resolved by Ansible).
    host = get_ansible_host(configparser.ConfigParser(), inventory, name,
                            ssh_config=ssh_config, ssh_identity_file=ssh_identity_file)
    if host is None:
        raise InventoryError(f"host {name}: connection {conn.kind!r} cannot be used by testinfra; "
                             "use ssh or local")
    return host


def gather(host: Any) -> detect.Verdict:
    """Run ``ps`` and ``ss`` on the host (read only) and decide its role and flavour."""
    ps = host.run(detect.PS_COMMAND)
    if ps.rc != 0:
        raise RuntimeError((ps.stderr or f"exit status {ps.rc}").strip().splitlines()[-1])
    ss = host.run(detect.SS_COMMAND)
    return detect.detect_text(ps.stdout, ss.stdout if ss.rc == 0 else "")


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
    """Outcome of the one reachability probe of a host."""

    ok: bool
    reason: str = ""


def probe(real: Any, timeout: float) -> Probe:
    """Run ``true`` on the host once, bounded by ``timeout`` (a thread: testinfra has none)."""
    result: list[Probe] = []

    def run() -> None:
        try:
            out = real.run("true")
            ok = out.rc == 0
            result.append(Probe(ok, "" if ok else short_reason(RuntimeError(out))))
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
            hosts.append(sitevars.with_role(h, v.role, f"detected: {v.reason}", v.flavour or chosen))
    site_vars = {**site.vars, "se_flavour": chosen}
    return Site(name=site.name, flavour=chosen, inventory_path=f"(none: --hosts; flavour {chosen}: {why})",
                hosts=hosts, vars=site_vars, ignored=site.ignored)
