"""``se-dualstack``: the suite's own command line (the checks themselves run under pytest).

``se-dualstack site --inventory PATH`` prints the site as the suite sees it, as JSON: each SE
host's role, connection and ``se_*`` variables after Ansible's precedence, and the hosts left
out with the reason. Why: a site admin can check what the suite will do before any ssh, and a
bad inventory gives the same one-line error (exit 4) that pytest gives.

``se-dualstack run [pytest options]`` runs the installed suite from any directory: pytest with
the suite's own ini file (``-c``), so the rootdir, markers and test ids are the suite's wherever
it is typed, and reports under ``./reports`` unless ``--results-dir`` or ``--html`` says where.

``se-dualstack nagios | prometheus | history`` read result files: :mod:`se_dualstack.monitor.cli`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from se_dualstack import exitcodes, installed, inventory, remote, sitevars
from se_dualstack.errors import InventoryError
from se_dualstack.model import ROLES, Site
from se_dualstack.monitor import cli as monitor


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="se-dualstack", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("site", help="print the site as the suite sees it (JSON)")
    s.add_argument("--inventory", "-i", action="append", default=[], metavar="PATH",
                   help="Ansible inventory: file, directory, script or plugin config (repeatable)")
    s.add_argument("--playbook-dir", "--ansible-playbook-dir", dest="playbook_dir", metavar="DIR",
                   help="also read group_vars/ and host_vars/ next to these playbooks")
    s.add_argument("--vault-password-file", action="append", default=[], metavar="FILE",
                   help="Ansible vault password file (ANSIBLE_VAULT_PASSWORD_FILE works too)")
    s.add_argument("--hosts", default="", metavar="SPEC,...",
                   help="testinfra host specs: limit the inventory, or without one, detect roles")
    s.add_argument("--se-role", action="append", default=[], metavar="HOST=ROLE",
                   help="role of a --hosts host: headnode or disknode (skips detection)")
    s.add_argument("--se-flavour", metavar="FLAVOUR", help="SE flavour (dpm, dcache, eos, ...)")
    s.add_argument("--se-var", action="append", default=[], metavar="KEY=VALUE",
                   help="set any se_* site variable; beats the inventory (YAML value)")
    s.add_argument("--ssh-config", metavar="FILE", help="ssh config for role detection")
    sub.add_parser("run", help="run the installed suite from any directory: se-dualstack run "
                   "[pytest options], e.g. --inventory /etc/ansible/hosts -m dns", add_help=False)
    monitor.register(sub)
    return p


def build_site(args: argparse.Namespace) -> Site:
    """The site from the options, as the pytest plugin builds it (detection over ssh included)."""
    overrides = sitevars.parse_assignments(args.se_var, "--se-var")
    roles = sitevars.parse_assignments(args.se_role, "--se-role", ROLES)
    if args.se_flavour:
        overrides["se_flavour"] = sitevars.flavour_of("--se-flavour", args.se_flavour)
    specs = [s for s in args.hosts.split(",") if s.strip()]
    if args.inventory:
        return inventory.load_site(args.inventory, limit=specs or None, playbook_dir=args.playbook_dir,
                                   vault_password_files=args.vault_password_file, overrides=overrides)
    if not specs:
        raise InventoryError("no inventory given: write se-dualstack site --inventory PATH "
                             "(or --hosts=ssh://root@host1,... to detect roles over ssh)")
    site = inventory.adhoc_site(specs, roles, overrides.get("se_flavour"), overrides)
    masters = remote.Masters()
    try:
        return remote.detect_roles(
            site, lambda h: remote.host_for(h.name, h.connection, ssh_config=args.ssh_config,
                                            timeout=float(h.vars.get("se_ssh_timeout", 10)),
                                            masters=masters),
            overrides.get("se_flavour"))
    finally:
        masters.close()


def pytest_args(args: Sequence[str], cwd: Path) -> list[str]:
    """The pytest command line of ``se-dualstack run``: the suite's ini file and a reports dir.

    ``-c`` makes the suite's directory the rootdir whatever the working directory and the path
    options (test ids stay ``tests/...``); reports go to ``./reports`` where it is typed, not
    into the installed package, unless the user chose a place.
    """
    args = list(args)
    chosen = {a.split("=", 1)[0] for a in args if a.startswith("-")}
    out: list[str] = []
    if not chosen & {"-c", "--config-file", "--inifile"}:
        out += ["-c", str(installed.suite_ini())]
    if not chosen & {"--results-dir", "--html"}:
        out.append(f"--results-dir={cwd / 'reports'}")
    return out + args


def run(args: Sequence[str]) -> int:
    """``se-dualstack run``: becomes pytest on the installed suite (the venv's ``pytest``).

    A fresh process rather than ``pytest.main()`` here: this one has imported the suite already,
    which pytest would then not assertion-rewrite (and warns about).
    """
    exe = Path(sys.executable).parent / "pytest"
    argv = [str(exe)] if exe.is_file() else [sys.executable, "-m", "pytest"]
    sys.stdout.flush()
    os.execv(argv[0], [*argv, *pytest_args(args, Path.cwd())])
    return exitcodes.USAGE_ERROR  # pragma: no cover (execv does not return)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``se-dualstack`` console script and ``python -m se_dualstack``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:
        return run(argv[1:])
    args = _parser().parse_args(argv)
    if args.command in monitor.COMMANDS:
        return monitor.run(args)
    try:
        site = build_site(args)
    except InventoryError as exc:
        print(f"se-dualstack: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE_ERROR
    try:
        json.dump(inventory.site_view(site), sys.stdout, indent=2)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `se-dualstack site ... | head`: the reader had enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
    return exitcodes.PASSED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
