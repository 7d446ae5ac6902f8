"""A site's Ansible inventory -> :class:`~se_dualstack.model.Site`, read by ansible-core itself.

Why Ansible and not a parser of our own: a site's inventory is whatever Ansible accepts (INI
with or without a suffix, YAML, directories, ``group_vars/``/``host_vars/``, inventory plugins
and scripts, vault), with Ansible's precedence. Only Ansible reads all of that the same way the
site's own playbooks do, so Ansible's documentation applies unchanged. This module asks it for
hosts, groups and merged variables, renders Jinja in the variables the suite uses (Templar),
resolves the connection with Ansible's own option rules (``ansible_host``/``ansible_ssh_host``,
ansible.cfg, ``ANSIBLE_*`` environment) and turns every failure into one
:class:`InventoryError` line naming the file, the host or key, and the fix. Ansible's own
warnings are captured, never printed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Imported once, with the suite: Ansible (and the cryptography it loads) must not be imported
# anew per run in one process (pytester), which PyO3 modules refuse and Ansible warns about.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import get_file_vault_secret
    from ansible.plugins.loader import become_loader, connection_loader
    from ansible.template import Templar
    from ansible.utils.collection_loader import AnsibleCollectionConfig
    from ansible.utils.vars import combine_vars
    from ansible.vars.manager import VariableManager
    from ansible.vars.plugins import get_vars_from_inventory_sources, get_vars_from_path

from se_dualstack import connection, knowledge, sitevars
from se_dualstack.ansible_errors import Quiet, ansible_error, first_line, parse_failure
from se_dualstack.connection import setting
from se_dualstack.errors import InventoryError
from se_dualstack.model import GROUP_ROLE, Connection, SEHost, Site

__all__ = ["DEFAULTS", "InventoryError", "adhoc_site", "host_from_spec", "load_site", "read",
           "site_view"]

DEFAULTS = sitevars.DEFAULTS
SE_GROUPS = tuple(GROUP_ROLE)  # ("headnodes", "disknodes")

_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@dataclass
class InvHost:
    """One host as Ansible sees it: all its groups (ancestors too) and rendered variables."""

    name: str
    groups: list[str]
    vars: dict[str, Any]  # se_* variables after Ansible's precedence, Jinja rendered
    connection: Connection
    host_level_se: bool  # se_* variables set on the host line itself (not via a group)


@dataclass
class AnsibleView:
    """What Ansible read: hosts in its order, the ``all`` group's ``se_*`` vars, group names."""

    hosts: list[InvHost]
    all_vars: dict[str, Any]
    groups: list[str]
    warnings: list[str]  # Ansible's own warnings (unexpected keys...), for error messages


# --------------------------------------------------------------------------- Ansible, quietly


def _vault_secrets(loader: Any, password_files: Sequence[str]) -> list[tuple[str, Any]]:
    """Vault secrets from ``--vault-password-file`` and Ansible's own settings/environment.

    ``ANSIBLE_VAULT_PASSWORD_FILE`` / ``ANSIBLE_VAULT_IDENTITY_LIST`` (or ansible.cfg) apply as
    they do for ansible-playbook; files are read (or, if executable, run) by Ansible's code.
    """
    default_id = setting("DEFAULT_VAULT_IDENTITY") or "default"
    slugs = [str(s) for s in setting("DEFAULT_VAULT_IDENTITY_LIST") or []]
    slugs += [f"{default_id}@{f}" for f in password_files]
    env_file = setting("DEFAULT_VAULT_PASSWORD_FILE")
    if env_file:
        slugs.append(f"{default_id}@{env_file}")
    out: list[tuple[str, Any]] = []
    for slug in slugs:
        vid, _, path = slug.rpartition("@") if "@" in slug else (default_id, "", slug)
        if path in ("prompt", "prompt_ask_vault_pass"):
            raise InventoryError(f"vault id {slug}: the suite cannot prompt for a vault password; "
                                 "give --vault-password-file FILE")
        try:
            secret = get_file_vault_secret(filename=path, vault_id=vid or default_id, loader=loader)
            secret.load()
        except Exception as exc:
            raise InventoryError(f"{path}: cannot read the vault password ({first_line(exc)}); "
                                 "check the file given as vault password file") from None
        out.append((vid or default_id, secret))
    return out


def read(sources: Sequence[str], playbook_dir: str | None = None,
         vault_password_files: Sequence[str] = ()) -> AnsibleView:
    """Every host of the inventory, in Ansible's order, with groups and rendered variables.

    Also the ``all`` group's own ``se_*`` variables (inventory, group_vars/all), the site-wide
    settings.
    """
    for s in sources:
        if "," not in s and not Path(s).exists():
            raise InventoryError(f"{s}: inventory not found; give the path of your site's inventory "
                                 "(a file or a directory, see inventory/README.md)")
    quiet = Quiet()
    # Python warnings too: re-importing Ansible (pytester, a second run) warns about its patches.
    with warnings.catch_warnings(), quiet():
        warnings.simplefilter("ignore")
        try:
            return _read(list(sources), playbook_dir, vault_password_files, quiet)
        except InventoryError as exc:
            if str(exc).startswith("host "):  # raised per host: name the inventory too
                raise InventoryError(f"{', '.join(sources)}: {exc}") from None
            raise
        except Exception as exc:

            if not isinstance(exc, AnsibleError):
                raise
            raise ansible_error(sources, exc) from None


def _init_plugin_loader() -> None:
    """ansible-core >= 2.15 wants its collection finder set up (2.14 has none); again is harmless."""
    with contextlib.suppress(ImportError):
        from ansible.plugins.loader import init_plugin_loader

        init_plugin_loader()


def _read(sources: list[str], playbook_dir: str | None, vault_password_files: Sequence[str],
          quiet: Quiet) -> AnsibleView:

    _init_plugin_loader()
    loader = DataLoader()
    if playbook_dir:  # group_vars/ and host_vars/ next to the playbook, as ansible-playbook reads
        if not Path(playbook_dir).is_dir():
            raise InventoryError(f"{playbook_dir}: playbook directory not found; give the directory "
                                 "holding your playbooks' group_vars/ and host_vars/")
        loader.set_basedir(playbook_dir)
        AnsibleCollectionConfig.playbook_paths = [str(Path(playbook_dir).resolve())]
    loader.set_vault_secrets(_vault_secrets(loader, vault_password_files))
    inv = InventoryManager(loader=loader, sources=sources)
    for src in sources:
        if any(f"Unable to parse {src} as an inventory source" in w for w in quiet.warnings):
            raise parse_failure(src, quiet.warnings)
    vm = VariableManager(loader=loader, inventory=inv)

    connection_loader.get("ssh", class_only=True)  # registers the options we resolve below
    become_loader.get("sudo", class_only=True)
    out = []
    for host in inv.get_hosts():
        hv = vm.get_vars(host=host, include_hostvars=False, stage="all")
        rendered = _render(loader, host.name, hv)
        out.append(InvHost(
            name=str(host.name),
            groups=[str(g.name) for g in host.get_groups()],
            vars={k: v for k, v in rendered.items() if k.startswith("se_")},
            connection=connection.resolve(host.name, {**hv, **rendered}),
            host_level_se=any(k.startswith("se_") for k in host.vars),
        ))
    return AnsibleView(out, _all_vars(loader, inv, sources, playbook_dir), [str(g) for g in inv.groups],
                       [w for w in quiet.warnings if "implicit localhost" not in w])


def _all_vars(loader: Any, inv: Any, sources: list[str], playbook_dir: str | None) -> dict[str, Any]:
    """The ``all`` group's ``se_*`` vars, merged as ``ansible-inventory --list`` shows them."""
    group = inv.groups["all"]
    gv = combine_vars(group.get_vars(), get_vars_from_inventory_sources(loader, sources, [group], "all"))
    if playbook_dir:
        gv = combine_vars(gv, get_vars_from_path(loader, playbook_dir, [group], "all"))
    gv = {k: v for k, v in gv.items() if k.startswith("se_")}
    return {k: v for k, v in _render(loader, "group all", gv).items()}


def _render(loader: Any, host: str, hv: dict[str, Any]) -> dict[str, Any]:
    """The suite's variables as Ansible would hand them to a task: Jinja rendered, vault opened."""
    if not any(k.startswith("se_") or k in connection.CONN_VARS for k in hv):
        return {}
    templar = Templar(loader=loader, variables=hv)
    out: dict[str, Any] = {}
    for key, value in hv.items():
        if not (key.startswith("se_") or key in connection.CONN_VARS):
            continue
        try:
            out[key] = _plain(templar.template(value))
        except AnsibleError as exc:
            text = re.sub(r"^(.+?)\.? \1$", r"\1", first_line(exc))  # 2.14 says it twice
            if "vault" in text.lower():
                raise InventoryError(
                    f"host {host}: {key} is vault-encrypted and {text[:1].lower()}{text[1:]}; give "
                    "the vault password with --vault-password-file FILE or ANSIBLE_VAULT_PASSWORD_FILE"
                ) from None
            raise InventoryError(
                f"host {host}: {key} {str(value)!r} cannot be rendered as Ansible would ({text}); "
                "define the variables it uses or write the value itself"
            ) from None
    return out


def _plain(value: Any) -> Any:
    """Ansible's string/vault/unsafe wrappers -> plain Python (for JSON and comparisons)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return str(value)


# --------------------------------------------------------------------------- the site


def check_dns_name(at: str, name: str) -> None:
    """A host name the DNS checks can query, refused here rather than at ssh time."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise InventoryError(
            f"{at}: host {name} is an address, not a DNS name; the suite checks the host's DNS "
            f"records, so name it by its DNS name and give the address as ansible_host={name}"
        )
    labels = name.rstrip(".").split(".")
    if len(name) > 253 or not all(_DNS_LABEL.match(x) for x in labels):
        raise InventoryError(
            f"{at}: host {name!r} is not a valid DNS name (letters, digits and '-' per label, "
            "labels up to 63 characters); name the host by its DNS name"
        )


def load_site(path: str | Path | Sequence[str | Path], limit: list[str] | None = None,
              playbook_dir: str | None = None, vault_password_files: Sequence[str] = (),
              overrides: dict[str, Any] | None = None) -> Site:
    """Read an inventory and resolve each SE host's role, variables, connection and services.

    ``limit`` holds ``--hosts`` entries (names, addresses or testinfra URLs); only those hosts
    are kept. ``overrides`` (``--se-var``) beat every inventory value.
    """
    sources = [str(path)] if isinstance(path, (str, Path)) else [str(p) for p in path]
    shown = ", ".join(sources)
    stem = Path(sources[0]).stem
    view = read(sources, playbook_dir, vault_password_files)
    hosts_raw, all_vars = view.hosts, view.all_vars
    said = f" (Ansible: {first_line(view.warnings[0])})" if view.warnings else ""
    if not set(view.groups) & set(SE_GROUPS):
        raise InventoryError(
            f"{shown}: no headnodes or disknodes group{said}; put the SE head node(s) in a group "
            "named headnodes and the disk servers in disknodes (nested groups are fine)"
        )
    hosts: list[SEHost] = []
    ignored: list[tuple[str, str]] = []
    for ih in hosts_raw:
        roles = [GROUP_ROLE[g] for g in SE_GROUPS if g in ih.groups]
        if len(roles) > 1:
            raise InventoryError(
                f"{shown}: host {ih.name} is in both headnodes and disknodes; "
                "a host has one role: keep it in one of the two groups"
            )
        if not roles:
            if ih.host_level_se:  # se_* variables of its own: meant as an SE host, left out by mistake
                raise InventoryError(
                    f"{shown}: host {ih.name} has se_* variables of its own but is in no SE group "
                    "(headnodes or disknodes); add it to one of them or remove its se_* variables"
                )
            ignored.append((ih.name, _why_ignored(ih.groups)))
            continue
        check_dns_name(shown, ih.name)
        merged = {**DEFAULTS, "se_site": stem, **ih.vars, **(overrides or {})}
        merged.setdefault("se_gridftp_data_range", knowledge.default_data_range())
        group = next(g for g in SE_GROUPS if GROUP_ROLE[g] == roles[0])
        hosts.append(sitevars.build_host(f"{shown}: host {ih.name}", ih.name, roles[0], merged,
                                         ih.connection, f"inventory group {group}"))
    if not hosts:
        raise InventoryError(
            f"{shown}: the headnodes and disknodes groups have no hosts{said}; add the SE's hosts "
            "to them"
        )
    _check_unique_connections(shown, hosts)
    if limit:
        hosts = _limit(shown, hosts, limit)
    site_vars = sitevars.validate(f"{shown}: group all", {
        **DEFAULTS, "se_site": stem,
        "se_gridftp_data_range": knowledge.default_data_range(), **all_vars, **(overrides or {})})
    flavours = {h.vars["se_flavour"] for h in hosts}
    return Site(name=_site_name(shown, hosts), inventory_path=sources[0] if len(sources) == 1 else None,
                flavour=flavours.pop() if len(flavours) == 1 else site_vars["se_flavour"],
                hosts=hosts, vars=site_vars, ignored=ignored, origin=f"inventory {shown}")


def _why_ignored(groups: list[str]) -> str:
    """Why a host of the inventory is not checked: in no SE group (a CE, localhost...)."""
    own = sorted(g for g in groups if g not in ("all", "ungrouped"))
    if not own:
        return "in no group (ungrouped): not an SE host; put it in headnodes or disknodes if it is one"
    return f"in no SE group (groups: {', '.join(own)})"


def _site_name(shown: str, hosts: list[SEHost]) -> str:
    """``se_site`` as Ansible resolves it for the SE hosts (any group may set it); one site per run."""
    names: dict[str, list[str]] = {}
    for h in hosts:
        names.setdefault(str(h.vars["se_site"]), []).append(h.name)
    if len(names) > 1:
        said = "; ".join(f"{n} ({', '.join(hs[:3])}{', ...' if len(hs) > 3 else ''})"
                         for n, hs in names.items())
        raise InventoryError(f"{shown}: the SE hosts name different sites in se_site: {said}; one run "
                             "checks one site: set se_site once (group all or the SE groups), or "
                             "limit the run with --hosts")
    return next(iter(names))


def host_from_spec(spec: str) -> str:
    """The host part of a testinfra ``--hosts`` entry: ``ssh://root@[fd42::10]:22`` -> ``fd42::10``."""
    from testinfra.backend import parse_hostspec
    from testinfra.backend.base import BaseBackend

    host, _ = parse_hostspec(spec.strip())
    return BaseBackend.parse_hostspec(host).name if host else ""


def _limit(shown: str, hosts: list[SEHost], limit: list[str]) -> list[SEHost]:
    wanted: list[SEHost] = []
    for spec in limit:
        if not spec.strip():
            continue
        name = host_from_spec(spec)
        match = [h for h in hosts if name in (h.name, h.address)]
        if not match:
            known = ", ".join(h.name for h in hosts)
            raise InventoryError(
                f"{shown}: --hosts names {name}, which is not in the inventory; use one of: {known}"
            )
        wanted.extend(h for h in match if h not in wanted)
    return [h for h in hosts if h in wanted]  # inventory order: deterministic for xdist


def _check_unique_connections(shown: str, hosts: list[SEHost]) -> None:
    by_conn: dict[tuple[str, int | None], str] = {}
    for h in hosts:
        key = (h.address, h.port)
        if key in by_conn and h.address != h.name and h.connection.kind != "local":
            raise InventoryError(
                f"{shown}: hosts {by_conn[key]} and {h.name} have the same ansible_host "
                f"{h.address}; each SE host needs its own address"
            )
        by_conn[key] = h.name


def adhoc_site(specs: list[str], roles: dict[str, str] | None = None, flavour: str | None = None,
               overrides: dict[str, Any] | None = None) -> Site:
    """A site from ``--hosts`` alone: roles from ``--se-role`` or, later, from detection.

    A host without a given role starts with none (``role`` None, no services); the plugin
    detects it on the host (:mod:`se_dualstack.detect`) and rebuilds it with
    :func:`se_dualstack.sitevars.with_role`.
    """
    from testinfra.backend import parse_hostspec
    from testinfra.backend.base import BaseBackend

    roles = dict(roles or {})
    base = {**DEFAULTS, "se_site": "adhoc", "se_gridftp_data_range": knowledge.default_data_range(),
            **({"se_flavour": flavour} if flavour else {}), **(overrides or {})}
    hosts: list[SEHost] = []
    for spec in specs:
        if not spec.strip():
            continue
        hostpart, kw = parse_hostspec(spec.strip())
        hs = BaseBackend.parse_hostspec(hostpart)
        name = hs.name
        check_dns_name("--hosts", name)
        if any(h.name == name for h in hosts):
            raise InventoryError(f"--hosts: host {name} is given twice; list each host once")
        role = roles.pop(name, None)
        kind = {"safe-ssh": "ssh"}.get(spec.split("://", 1)[0], spec.split("://", 1)[0]) \
            if "://" in spec else "ssh"
        if kind not in connection.CONNECTIONS:
            raise InventoryError(f"--hosts: {spec}: connection {kind!r} cannot be used here; "
                                 "write ssh://user@host (or paramiko://, local://)")
        conn = Connection(address=name, user=hs.user, port=int(hs.port) if hs.port else None,
                          kind=kind, private_key_file=kw.get("ssh_identity_file"))
        hosts.append(sitevars.build_host(f"--hosts: host {name}", name, role, dict(base), conn,
                                         "--se-role" if role else ""))
    if not hosts:
        raise InventoryError("--hosts: no host given; write --hosts=ssh://root@host1,host2")
    if roles:
        raise InventoryError(f"--se-role names {', '.join(roles)}, which is not in --hosts; "
                             f"use one of: {', '.join(h.name for h in hosts)}")
    site_vars = sitevars.validate("--hosts", dict(base))
    return Site(name=str(site_vars.get("se_site", "adhoc")), flavour=site_vars["se_flavour"],
                inventory_path=None, hosts=hosts, vars=site_vars, origin="--hosts")


def site_view(site: Site) -> dict[str, Any]:
    """The site as the suite sees it: what ``se-dualstack site`` prints and the report shows."""
    return {
        "site": site.name,
        "flavour": site.flavour,
        "inventory": site.inventory_path,
        "origin": site.origin,
        "hosts": [{"name": h.name, "role": h.role, "role_source": h.role_source,
                   "connection": h.connection.as_dict(),
                   "services": [s.name for s in h.services],
                   "vars": {k: v for k, v in sorted(h.vars.items()) if k.startswith("se_")}}
                  for h in site.hosts],
        "ignored": [{"name": n, "reason": r} for n, r in site.ignored],
    }
