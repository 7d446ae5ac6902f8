"""Ansible inventory (YAML or INI) -> :class:`~se_dualstack.model.Site`.

A site's existing Ansible inventory must work as it is, without Ansible installed on the machine
running the suite, so this is a small reader of the two formats Ansible itself reads: groups,
nested ``children``, group and host variables, ``[a:b]`` host ranges.  Everything a site can get
wrong is reported as one :class:`InventoryError` line naming the file, the key or host, and the
fix, because that line is all a site admin sees (no traceback).
"""

from __future__ import annotations

import ast
import contextlib
import ipaddress
import re
import shlex
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from se_dualstack import knowledge
from se_dualstack.errors import InventoryError
from se_dualstack.model import GROUP_ROLE, PortRange, SEHost, Service, Site

__all__ = ["DEFAULTS", "InventoryError", "host_from_spec", "load_site", "read_inventory"]

# Defaults under every inventory (see inventory/README.md; architecture.md is the contract).
DEFAULTS: dict[str, Any] = {
    "se_flavour": "dpm",
    "se_external_interface": "eth0",
    "se_ipv6_prefixes": ["2000::/3"],
    "se_dns_timeout": 3.0,
    "se_connect_timeout": 3.0,
    "se_ssh_timeout": 10.0,
    "se_transfer_protocols": ["gsiftp", "root", "davs"],
    "ansible_user": "root",
}

SE_GROUPS = tuple(GROUP_ROLE)  # ("headnodes", "disknodes")
_YAML_SUFFIXES = {".yml", ".yaml", ".json"}
_INI_SUFFIXES = {".ini", ".cfg", ".hosts"}
_LIST_VARS = ("se_ipv6_prefixes", "se_resolvers", "se_transfer_protocols", "se_services",
              "se_transfer_via_head", "se_transfer_tpc_protocols")
_FLOAT_VARS = ("se_dns_timeout", "se_connect_timeout", "se_ssh_timeout")


# --------------------------------------------------------------------------- raw inventory


@dataclass
class Group:
    """One Ansible group as written: its own hosts, child groups and variables."""

    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class RawInventory:
    """What the file says, before roles, precedence and site knowledge are applied."""

    path: str
    groups: dict[str, Group]
    host_vars: dict[str, dict[str, Any]]  # per host, in first-seen order
    where: dict[str, str] = field(default_factory=dict)  # host -> "line N" (INI) for messages

    def group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def add_host(self, group: str, host: str, hvars: dict[str, Any], where: str = "") -> None:
        g = self.group(group)
        if host in g.hosts:
            at = f" ({where}, first at {self.where.get(host, '?')})" if where else ""
            raise InventoryError(
                f"{self.path}: host {host} is listed twice in group {group}{at}; "
                "list each host once per group"
            )
        g.hosts.append(host)
        self.host_vars.setdefault(host, {}).update(hvars)
        if where:
            self.where.setdefault(host, where)


_RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\]")


def expand_hosts(pattern: str) -> list[str]:
    """Expand Ansible host ranges: ``pool[01:03].example.org`` -> pool01, pool02, pool03.

    Bracketed IPv6 literals (``[fd42::10]``) are not ranges and are returned unchanged.
    """
    m = _RANGE.search(pattern)
    if not m:
        return [pattern]
    first, last, step_s = m.group(1), m.group(2), m.group(3)
    step = int(step_s) if step_s else 1
    head, tail = pattern[: m.start()], pattern[m.end():]
    if first.isdigit() and last.isdigit():
        width = len(first) if first.startswith("0") else 0
        items = [f"{i:0{width}d}" for i in range(int(first), int(last) + 1, step)]
    elif len(first) == 1 and len(last) == 1 and first.isalpha() and last.isalpha():
        letters = string.ascii_letters
        items = list(letters[letters.index(first): letters.index(last) + 1: step])
    else:
        raise ValueError(f"bad host range [{first}:{last}]")
    if not items:
        raise ValueError(f"empty host range [{first}:{last}]")
    return [x for item in items for x in expand_hosts(head + item + tail)]


def _expand(path: str, pattern: str, where: str) -> list[str]:
    try:
        return expand_hosts(pattern)
    except ValueError as exc:
        raise InventoryError(
            f"{path}: {where}: {exc} in host {pattern!r}; write ranges as [01:10] or [a:f]"
        ) from None


# --------------------------------------------------------------------------- YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: YAML would silently keep the last host."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_error(path: str, exc: yaml.YAMLError) -> InventoryError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
    if "duplicate key" in str(problem):
        return InventoryError(f"{path}: {where}: {problem}; list each host or variable once")
    return InventoryError(f"{path}: {where}: YAML syntax error: {problem}; fix the YAML at that line")


def _read_yaml(path: str, text: str) -> RawInventory:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None
    if data is None:
        raise InventoryError(f"{path}: the inventory is empty; define the headnodes and disknodes groups")
    if not isinstance(data, dict):
        raise InventoryError(
            f"{path}: top level is a {type(data).__name__}, not a mapping of groups; "
            "start with 'all:' and put headnodes/disknodes under its 'children:'"
        )
    inv = RawInventory(path, {"all": Group("all")}, {})
    for name, body in data.items():
        _yaml_group(inv, str(name), body, parent=None, trail=str(name))
    return inv


def _yaml_group(inv: RawInventory, name: str, body: Any, parent: str | None, trail: str) -> None:
    """Read one group mapping (``hosts``, ``vars``, ``children``), recursively."""
    path = inv.path
    group = inv.group(name)
    if parent is not None and name not in inv.groups[parent].children:
        inv.groups[parent].children.append(name)
    elif parent is None and name != "all" and name not in inv.groups["all"].children:
        inv.groups["all"].children.append(name)
    if body is None:
        return
    if not isinstance(body, dict):
        raise InventoryError(
            f"{path}: group {trail} is a {type(body).__name__}, not a mapping; "
            "give it 'hosts:', 'vars:' or 'children:'"
        )
    unknown = set(body) - {"hosts", "vars", "children"}
    if unknown:
        bad = sorted(str(k) for k in unknown)[0]
        raise InventoryError(
            f"{path}: group {trail}: unexpected key {bad!r}; a group holds only 'hosts:', 'vars:' "
            f"and 'children:' (put variables under {trail}.vars or a host)"
        )
    gvars = body.get("vars")
    if gvars is not None:
        if not isinstance(gvars, dict):
            raise InventoryError(f"{path}: {trail}.vars is not a mapping; write 'key: value' lines")
        group.vars.update({str(k): v for k, v in gvars.items()})
    hosts = body.get("hosts")
    if hosts is not None:
        if not isinstance(hosts, dict):
            raise InventoryError(
                f"{path}: {trail}.hosts is a {type(hosts).__name__}, not a mapping; "
                "write each host as 'name:' (with its variables below it, or nothing)"
            )
        for hname, hvars in hosts.items():
            if hvars is not None and not isinstance(hvars, dict):
                raise InventoryError(
                    f"{path}: host {hname} in {trail}.hosts: its variables are not a mapping; "
                    "write 'key: value' lines under the host"
                )
            for h in _expand(path, str(hname), f"{trail}.hosts"):
                inv.add_host(name, h, {str(k): v for k, v in (hvars or {}).items()})
    children = body.get("children")
    if children is not None:
        if not isinstance(children, dict):
            raise InventoryError(
                f"{path}: {trail}.children is a {type(children).__name__}, not a mapping; "
                "write each child group as 'name:'"
            )
        for cname, cbody in children.items():
            _yaml_group(inv, str(cname), cbody, parent=name, trail=f"{trail}.children.{cname}")


# --------------------------------------------------------------------------- INI

_SECTION = re.compile(r"^\[([^\]:\s]+)(?::([^\]\s]+))?\]\s*$")


def _ini_value(raw: str) -> Any:
    """Ansible reads INI values as Python literals where they parse (``2811``, ``['a']``)."""
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return raw


def _ini_pairs(path: str, lineno: int, tokens: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tok in tokens:
        key, sep, value = tok.partition("=")
        if not sep or not key or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise InventoryError(
                f"{path}: line {lineno}: expected key=value, got {tok!r}; "
                "write variables as key=value (quote values with spaces)"
            )
        out[key] = _ini_value(value)
    return out


def _read_ini(path: str, text: str) -> RawInventory:
    inv = RawInventory(path, {"all": Group("all"), "ungrouped": Group("ungrouped")}, {})
    inv.groups["all"].children.append("ungrouped")
    section, kind = "ungrouped", "hosts"
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("["):
            m = _SECTION.match(stripped)
            if not m or (m.group(2) not in (None, "vars", "children")):
                raise InventoryError(
                    f"{path}: line {lineno}: bad section header {stripped!r}; "
                    "use [group], [group:vars] or [group:children]"
                )
            section, kind = m.group(1), m.group(2) or "hosts"
            inv.group(section)
            if section != "all" and section not in inv.groups["all"].children:
                inv.groups["all"].children.append(section)
            continue
        if kind == "vars":
            key, sep, value = stripped.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise InventoryError(
                    f"{path}: line {lineno}: expected key=value in [{section}:vars], got {stripped!r}; "
                    "write one variable per line as key=value"
                )
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            inv.group(section).vars[key] = _ini_value(value)
            continue
        try:
            tokens = shlex.split(stripped, comments=True)
        except ValueError as exc:
            raise InventoryError(
                f"{path}: line {lineno}: {exc} in {stripped!r}; close the quote"
            ) from None
        if not tokens:
            continue
        if kind == "children":
            if len(tokens) != 1:
                raise InventoryError(
                    f"{path}: line {lineno}: [{section}:children] lists group names only, got "
                    f"{stripped!r}; put one group name per line"
                )
            child = tokens[0]
            inv.group(child)
            if child not in inv.groups[section].children:
                inv.groups[section].children.append(child)
            continue
        name, hvars = tokens[0], _ini_pairs(path, lineno, tokens[1:])
        if "=" in name:
            raise InventoryError(
                f"{path}: line {lineno}: host line starts with a variable ({name!r}); "
                "put the host name first, then key=value pairs"
            )
        for h in _expand(path, name, f"line {lineno}"):
            inv.add_host(section, h, hvars, where=f"line {lineno}")
    return inv


# --------------------------------------------------------------------------- reading


def read_inventory(path: str | Path) -> RawInventory:
    """Parse a YAML or INI inventory file into groups and variables (no site knowledge yet)."""
    p = Path(path)
    shown = str(path)
    if not p.exists():
        raise InventoryError(
            f"{shown}: inventory file not found; give the path of your site's inventory "
            "(see inventory/README.md for examples)"
        )
    if p.is_dir():
        raise InventoryError(
            f"{shown}: is a directory; give the inventory file itself (e.g. {shown}/hosts.yml)"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(
            f"{shown}: cannot read the inventory ({exc}); check the file's permissions"
        ) from None
    if not text.strip() or all(
        not ln.strip() or ln.strip().startswith(("#", ";")) for ln in text.splitlines()
    ):
        raise InventoryError(f"{shown}: the inventory is empty; define the headnodes and disknodes groups")
    suffix = p.suffix.lower()
    if suffix in _YAML_SUFFIXES:
        return _read_yaml(shown, text)
    if suffix in _INI_SUFFIXES:
        return _read_ini(shown, text)
    meaningful = (ln.strip() for ln in text.splitlines())
    first = next(ln for ln in meaningful if ln and not ln.startswith(("#", ";")))
    if first.startswith("[") and not first.startswith("[{"):
        return _read_ini(shown, text)
    return _read_yaml(shown, text)


def _ancestry(inv: RawInventory) -> dict[str, dict[str, int]]:
    """For each group, its ancestors with their depth from ``all`` (for precedence and roles)."""
    parents: dict[str, list[str]] = {g: [] for g in inv.groups}
    for g in inv.groups.values():
        for c in g.children:
            parents.setdefault(c, []).append(g.name)

    depth: dict[str, int] = {}

    def depth_of(name: str, stack: tuple[str, ...]) -> int:
        if name in stack:
            cycle = " -> ".join((*stack[stack.index(name):], name))
            raise InventoryError(f"{inv.path}: group cycle {cycle}; a group cannot contain itself")
        if name not in depth:
            ps = [p for p in parents.get(name, []) if p != name]
            depth[name] = 0 if name == "all" else 1 + max(
                (depth_of(p, (*stack, name)) for p in ps), default=0
            )
        return depth[name]

    out: dict[str, dict[str, int]] = {}
    for g in inv.groups:
        seen: dict[str, int] = {}
        todo = [g]
        while todo:
            cur = todo.pop()
            if cur in seen:
                continue
            seen[cur] = depth_of(cur, ())
            todo.extend(parents.get(cur, []))
        seen.setdefault("all", 0)
        out[g] = seen
    return out


def host_from_spec(spec: str) -> str:
    """The host part of a testinfra ``--hosts`` entry: ``ssh://root@[fd42::10]:22`` -> ``fd42::10``."""
    s = spec.strip()
    if "://" in s:
        s = s.split("://", 1)[1]
    s = s.split("?", 1)[0].split("/", 1)[0].rsplit("@", 1)[-1]
    if s.startswith("["):
        return s[1:].split("]", 1)[0]
    if s.count(":") == 1:
        s = s.split(":", 1)[0]
    return s


def load_site(path: str | Path, limit: list[str] | None = None) -> Site:
    """Read an inventory and resolve each SE host's role, variables and services.

    ``limit`` holds ``--hosts`` entries (names, addresses or testinfra URLs); only those hosts
    are kept, each matched by inventory name or ``ansible_host``.
    """
    inv = read_inventory(path)
    shown = inv.path
    missing = [g for g in SE_GROUPS if g not in inv.groups]
    if len(missing) == len(SE_GROUPS):
        raise InventoryError(
            f"{shown}: no headnodes or disknodes group; put the SE head node(s) in a group named "
            "headnodes and the disk servers in disknodes (nested groups are fine)"
        )
    ancestry = _ancestry(inv)
    host_groups: dict[str, list[str]] = {h: [] for h in inv.host_vars}
    for g in inv.groups.values():
        for h in g.hosts:
            host_groups[h].append(g.name)

    all_vars = _merge(DEFAULTS, {"se_site": Path(shown).stem}, inv.groups["all"].vars)
    all_vars.setdefault("se_gridftp_data_range", knowledge.default_data_range())

    hosts: list[SEHost] = []
    for hname, direct in host_groups.items():
        member: dict[str, int] = {}
        for g in direct:
            member.update(ancestry[g])
        roles = [GROUP_ROLE[g] for g in SE_GROUPS if g in member]
        where = f" ({inv.where[hname]})" if hname in inv.where else ""
        if len(roles) > 1:
            raise InventoryError(
                f"{shown}: host {hname}{where} is in both headnodes and disknodes; "
                "a host has one role: keep it in one of the two groups"
            )
        if not roles:
            if _looks_like_se_host(inv, hname, direct):
                raise InventoryError(
                    f"{shown}: host {hname}{where} is in no SE group (headnodes or disknodes); "
                    "add it to one of them or remove it"
                )
            continue  # another kind of host in a site-wide inventory: not ours
        ordered = sorted((g for g in member if g != "all"), key=lambda g: (member[g], g))
        merged = _merge(all_vars, *(inv.groups[g].vars for g in ordered), inv.host_vars[hname])
        hosts.append(_build_host(shown, hname, roles[0], merged))

    if not hosts:
        raise InventoryError(
            f"{shown}: the headnodes and disknodes groups have no hosts; add the SE's hosts to them"
        )
    _check_unique_connections(shown, hosts)
    site_vars = _validate_vars(shown, "all", dict(all_vars))
    flavour = str(site_vars.get("se_flavour", "dpm")).lower()
    if limit:
        hosts = _limit(shown, hosts, limit)
    return Site(
        name=str(site_vars.get("se_site") or Path(shown).stem),
        flavour=flavour,
        inventory_path=shown,
        hosts=hosts,
        vars=site_vars,
    )


def _looks_like_se_host(inv: RawInventory, host: str, direct: list[str]) -> bool:
    """A host outside the SE groups is an error only where it looks meant for the suite.

    A site's inventory may also hold CEs or worker nodes; those are skipped silently.  A host
    left ungrouped, or carrying ``se_*`` variables, was most likely meant to be an SE host.
    """
    if any(k.startswith("se_") for k in inv.host_vars.get(host, {})):
        return True
    return all(g in ("all", "ungrouped") for g in direct)


def _merge(*layers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        out.update(layer)
    return out


def _limit(shown: str, hosts: list[SEHost], limit: list[str]) -> list[SEHost]:
    wanted: list[SEHost] = []
    for spec in limit:
        if not spec.strip():
            continue
        name = host_from_spec(spec)
        match = [h for h in hosts if name in (h.name, h.connection)]
        if not match:
            known = ", ".join(h.name for h in hosts)
            raise InventoryError(
                f"{shown}: --hosts names {name}, which is not in the inventory; "
                f"use one of: {known}"
            )
        for h in match:
            if h not in wanted:
                wanted.append(h)
    return [h for h in hosts if h in wanted]  # inventory order: deterministic for xdist


def _check_unique_connections(shown: str, hosts: list[SEHost]) -> None:
    by_conn: dict[tuple[str, int | None], str] = {}
    for h in hosts:
        key = (h.connection, h.port)
        if key in by_conn and h.connection != h.name:
            raise InventoryError(
                f"{shown}: hosts {by_conn[key]} and {h.name} have the same ansible_host "
                f"{h.connection}; each SE host needs its own address"
            )
        by_conn[key] = h.name


# --------------------------------------------------------------------------- validation


def _as_list(value: Any) -> list[Any]:
    """Lists may be written as YAML lists or, in INI, as ``a,b`` strings."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [x for x in re.split(r"[,\s]+", str(value)) if x]


def _validate_vars(shown: str, who: str, v: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise the variables the suite reads; ``who`` is ``host X`` or ``all``."""
    at = f"{shown}: {who}"
    flavour = str(v.get("se_flavour", "dpm")).strip().lower()
    if flavour not in knowledge.flavours():
        raise InventoryError(
            f"{at}: se_flavour {v.get('se_flavour')!r} is unknown; "
            f"use one of: {', '.join(knowledge.flavours())}"
        )
    v["se_flavour"] = flavour
    for key in _LIST_VARS:
        if key in v and v[key] is not None:
            if isinstance(v[key], dict):
                raise InventoryError(f"{at}: {key} must be a list, not a mapping; write it as [a, b]")
            v[key] = [str(x) for x in _as_list(v[key])]
    for key in _FLOAT_VARS:
        if key in v:
            try:
                val = float(v[key])
                if not 0 < val <= 600:
                    raise ValueError
            except (TypeError, ValueError):
                raise InventoryError(
                    f"{at}: {key} {v[key]!r} is not a number of seconds between 0 and 600; "
                    "write e.g. 3"
                ) from None
            v[key] = val
    prefixes = []
    for p in v.get("se_ipv6_prefixes") or []:
        try:
            prefixes.append(str(ipaddress.IPv6Network(str(p))))
        except ValueError:
            hint = ""
            with contextlib.suppress(ValueError):
                hint = f" (did you mean {ipaddress.IPv6Network(str(p), strict=False)}?)"
            raise InventoryError(
                f"{at}: se_ipv6_prefixes entry {p!r} is not an IPv6 network in CIDR form{hint}; "
                "write e.g. 2001:db8:1::/48"
            ) from None
    if "se_ipv6_prefixes" in v:
        v["se_ipv6_prefixes"] = prefixes
    for r in v.get("se_resolvers") or []:
        try:
            ipaddress.ip_address(r)
        except ValueError:
            raise InventoryError(
                f"{at}: se_resolvers entry {r!r} is not an IP address; list the DNS servers' "
                "addresses (e.g. [192.0.2.53, 2001:db8::53])"
            ) from None
    if v.get("se_os") not in (None, ""):
        norm = knowledge.normalise_os(str(v["se_os"]))
        if norm is None:
            raise InventoryError(
                f"{at}: se_os {v['se_os']!r} is not an OS family; use el6, el7, el8, el9 "
                "(sl6/sl7/centos7 are accepted aliases) or e.g. debian12, or remove it to detect the OS"
            )
        v["se_os"] = norm
    if "ansible_port" in v and v["ansible_port"] is not None:
        v["ansible_port"] = _port(at, "ansible_port", v["ansible_port"])
    iface = v.get("se_external_interface")
    if iface is not None and not re.match(r"^[A-Za-z0-9_.:@-]{1,15}$", str(iface)):
        raise InventoryError(
            f"{at}: se_external_interface {iface!r} is not an interface name; write e.g. eth0"
        )
    return v


def _port(at: str, key: str, value: Any) -> int:
    try:
        port = int(str(value).strip())
        if not 0 < port < 65536:
            raise ValueError
    except (TypeError, ValueError):
        raise InventoryError(f"{at}: {key} {value!r} is not a TCP port; use a number 1-65535") from None
    return port


def _build_host(shown: str, name: str, role: str, merged: dict[str, Any]) -> SEHost:
    """Validate one host's merged variables and resolve its services from site knowledge."""
    who = f"host {name}"
    v = _validate_vars(shown, who, merged)
    at = f"{shown}: {who}"
    known = knowledge.service_names()

    ports_raw = v.get("se_service_ports") or {}
    if not isinstance(ports_raw, dict):
        raise InventoryError(f"{at}: se_service_ports must be a mapping service: port, e.g. {{srm: 8446}}")
    ports = {str(k): _port(at, f"se_service_ports.{k}", p) for k, p in ports_raw.items()}

    procs_raw = v.get("se_service_processes") or {}
    if not isinstance(procs_raw, dict):
        raise InventoryError(
            f"{at}: se_service_processes must be a mapping service: [process, ...], "
            "e.g. {gsiftp: [globus-gridftp-server]}"
        )
    procs = {str(k): [str(x) for x in _as_list(p)] for k, p in procs_raw.items()}

    names = v.get("se_services")
    if names is None:
        names = knowledge.services_for(v["se_flavour"], role)
    custom = set(ports)  # a site may add a service of its own by giving its port
    for n in [*names, *ports, *procs]:
        if n not in known and n not in custom:
            raise InventoryError(
                f"{at}: unknown service {n!r}; use one of: {', '.join(known)} "
                "(or give a site-specific service its port in se_service_ports)"
            )
    services: list[Service] = []
    for n in names:
        if n in known:
            services.append(knowledge.service(n, ports.get(n), procs.get(n)))
        else:
            services.append(Service(n, ports[n], tuple(procs.get(n, [])), False, n))
    v["se_services"] = [s.name for s in services]

    raw_range = v.get("se_gridftp_data_range", knowledge.default_data_range())
    try:
        data_range = PortRange.parse(str(raw_range).strip())
    except ValueError:
        raise InventoryError(
            f"{at}: se_gridftp_data_range {raw_range!r} is not a port range; write it as "
            "FIRST-LAST within 1-65535, e.g. 20000-25000"
        ) from None
    v["se_gridftp_data_range"] = str(data_range)
    return SEHost(name=name, role=role, vars=v, services=services, data_range=data_range)


def adhoc_site(specs: list[str]) -> Site:
    """A site from ``--hosts`` alone (no inventory): each host a DPM head node with defaults.

    For a quick look at a few hosts; a certification run uses the site's inventory.
    """
    hosts: list[SEHost] = []
    for spec in specs:
        name = host_from_spec(spec)
        if not name:
            continue
        merged = _merge(DEFAULTS, {"se_site": "adhoc",
                                   "se_gridftp_data_range": knowledge.default_data_range()})
        netloc = spec.split("://", 1)[-1].split("?", 1)[0]
        if "@" in netloc:
            merged["ansible_user"] = netloc.rsplit("@", 1)[0].split(":", 1)[0]
        tail = netloc.rsplit("]", 1)[-1] if netloc.rsplit("@", 1)[-1].startswith("[") else (
            netloc.rsplit("@", 1)[-1])
        if tail.count(":") == 1 and tail.rsplit(":", 1)[1].isdigit():
            merged["ansible_port"] = int(tail.rsplit(":", 1)[1])
        if any(h.name == name for h in hosts):
            raise InventoryError(f"--hosts: host {name} is given twice; list each host once")
        hosts.append(_build_host("--hosts", name, "headnode", merged))
    if not hosts:
        raise InventoryError("--hosts: no host given; write --hosts=ssh://root@host1,host2")
    return Site(name="adhoc", flavour="dpm", inventory_path="(none: --hosts)", hosts=hosts,
                vars=_validate_vars("--hosts", "all", _merge(DEFAULTS, {"se_site": "adhoc"})))
