"""``se-dualstack``: the suite's own command line (the checks themselves run under pytest).

``se-dualstack site --inventory PATH`` prints the site as the suite sees it, as JSON: each SE
host's role, connection and ``se_*`` variables after Ansible's precedence, and the hosts left
out with the reason. Why: a site admin can check what the suite will do before any ssh, and a
bad inventory gives the same one-line error (exit 4) that pytest gives.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from se_dualstack import exitcodes, inventory, remote, sitevars
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
    return remote.detect_roles(
        site, lambda h: remote.host_for(h.name, h.access, ssh_config=args.ssh_config,
                                        timeout=float(h.vars.get("se_ssh_timeout", 10))),
        overrides.get("se_flavour"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``se-dualstack`` console script and ``python -m se_dualstack``."""
    args = _parser().parse_args(argv)
    if args.command in monitor.COMMANDS:
        return monitor.run(args)
    try:
        site = build_site(args)
    except InventoryError as exc:
        print(f"se-dualstack: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE_ERROR
    json.dump(inventory.site_view(site), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return exitcodes.PASSED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
