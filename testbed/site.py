"""Site files: parse and validate a YAML site description into the plain dicts the engine uses.

A site file is small on purpose (see testbed/sites/*.yml); everything derivable (addresses,
names, namespaces, interface names) is derived here, once, so every other module (and the
services engineer's services.py/pki.py) reads the same facts.

Site file keys::

    site: lancaster                 # se_site shown in the report (default: file stem)
    system: dcache                  # storage system: dpm (default), dcache, eos, xrootd, storm
                                    # (testbed/systems/: which servers run where, docs/testbed.md)
    domain: example.test
    ipv4_prefix: 10.42.0.0/24       # private IPv4 subnet of the site's bridge
    ipv6_prefix: fd42:6::/64        # ULA IPv6 subnet of the site's bridge
    gridftp_data_range: 20000-25000
    disks: 2                        # number of disk nodes (1..32); generated ones are diskNN
    disk_defaults: {os: el7, faults: []}   # os/faults/families of generated disk nodes
    hosts:                          # the head node, and any disk node listed explicitly
      - {short: head, role: headnode, os: sl6, faults: [gai_conf_empty]}
      - {short: disk01, role: disknode, os: sl6}
      - {short: disk02, role: disknode, os: el9, families: [ipv6]}   # IPv6-only (default both)
    client: {families: [ipv6]}      # the suite's machine (default [ipv6, ipv4])
    issuer: {faults: [issuer_ipv4_only]}   # faults of the token issuer host
    nat64: {prefix: 64:ff9b::/96, pool4: 192.168.255.0/24}   # DNS64 + NAT64 for an IPv6-only
                                    # client (testbed/dns64.py, testbed/nat64.py); prefix: the
                                    # well-known one (default) or a /96 under the site's ULA /48

A host's ``families`` is what the site declares (the inventory's ``se_families``); an IPv6-only
host has no IPv4 address, route, A record or ``-v4`` alias (unless fault ipv4_not_removed leaves
them there). See docs/testbed.md, "IPv6-only".

The parsed ``site`` dict (keys other modules may rely on):
    name (testbed instance name), site (se_site), system (storage system), domain, ipv4_prefix, ipv6_prefix,
    ipv4_prefixlen, ipv6_prefixlen, gridftp_data_range ("A-B"), gridftp_data_ports ((A, B)),
    hosts (list of host dicts: the head node first, then disk nodes; NOT the client),
    client (host dict of the client, role "client"), issuer (host dict of the token issuer,
    role "issuer", short ISSUER_SHORT: https only, no sshd, not in the inventory),
    dns ({"ipv4", "ipv6"}: dnsmasq on the bridge, also the default gateway), state_dir (str),
    source (site file path or ""), nat64 (None, or {"prefix": what DNS64 synthesizes in,
    "translator_prefix": the prefix tayga translates (a network-specific one: tayga 0.9.2 will
    not translate the well-known prefix to private IPv4), "netmap": True when the two differ,
    "pool4", "gateway4"}), dns64 (None, or {"address", "prefix", "forwards_to"}).

Each ``host`` dict:
    short, fqdn, role ("headnode" | "disknode" | "client" | "issuer"), os ("sl6" | "el7" | "el9"),
    system (the site's storage system),
    personality (os as written in the site file, "el9-nft" included), firewall ("iptables" |
    "firewalld" | "nftables", from the personality),
    ipv4, ipv6 (address strings, no prefix length; ipv6 is the *planned* address even when
    the host is not dual-stacked; ipv4 is None on a host without IPv4),
    has_ipv6 (False with fault not_dual_stacked), has_ipv4 (ipv4 is set),
    families (declared: ["ipv6", "ipv4"] or ["ipv6"]),
    faults (list of fault strings, e.g. "ip6tables_close:443"), index (last IPv4 octet),
    names (every DNS name: fqdn, <short>-v6.<domain>, and <short>-v4.<domain> when IPv4 is
    declared; the issuer also crl.<domain>, where the CA's CRL is published),
    ns (network namespace name), ifname (bridge-side veth name in the site namespace),
    privdir (str: /var/lib/se-testbed/<name>/<short>, a real directory the host sees too),
    transfer_dir ("/store/<short>/se6test").
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import yaml

from testbed import faults as faultmod

SITES_DIR = Path(__file__).with_name("sites")
DEFAULT_SITE = SITES_DIR / "default.yml"
STATE_ROOT = Path("/run/se-testbed")
PRIV_ROOT = Path("/var/lib/se-testbed")
OS_PERSONALITIES = ("sl6", "el7", "el9", "el9-nft")
# personality -> the firewall it runs (el9: firewalld, as EL9 installs it; el9-nft: nftables.conf)
FIREWALLS = {"sl6": "iptables", "el7": "iptables", "el9": "firewalld", "el9-nft": "nftables"}
ROLES = ("headnode", "disknode")
MAX_DISKS = 32
NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")
SHORT_RE = re.compile(r"^[a-z][a-z0-9-]{0,14}$")
ISSUER_SHORT = "issuer"
CRL_SHORT = "crl"  # crl.<domain>: the CA's CRL over http, served by the issuer host
RESERVED_SHORTS = {"site", "client", ISSUER_SHORT, CRL_SHORT}
TOP_KEYS = {"site", "system", "domain", "ipv4_prefix", "ipv6_prefix", "gridftp_data_range", "disks",
            "disk_defaults", "hosts", "description", "client", "issuer", "nat64"}
HOST_KEYS = {"short", "role", "os", "faults", "families"}
FAMILIES = ("ipv6", "ipv4")  # the default, in the order the inventory writes them
WKP = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known NAT64 prefix
DEFAULT_POOL4 = "192.168.255.0/24"  # tayga's dynamic pool (its example), off the site's subnet
DNS64_INDEX = 0x64  # the DNS64 resolver's address on the bridge: <ipv6_prefix>::64


class SiteError(ValueError):
    """A site file is invalid; the message names the file and the offending key."""


def _v6_for_index(net: ipaddress.IPv6Network, index: int) -> ipaddress.IPv6Address:
    """IPv6 host part spelled like the IPv4 octet (.10 -> ::10), easy to read side by side."""
    return net.network_address + int(str(index), 16)


def _families(value: Any, where: str, source: str) -> list[str]:
    """A declared family list: [ipv6, ipv4] (the default, any order) or [ipv6]."""
    if value is None:
        return list(FAMILIES)
    if not isinstance(value, list) or not value or any(v not in FAMILIES for v in value) \
            or len(set(value)) != len(value):
        raise SiteError(f"{source}: {where}: families must be a list of {list(FAMILIES)} without "
                        f"repeats, e.g. [ipv6] or [ipv6, ipv4]; got {value!r}")
    if value == ["ipv4"]:
        raise SiteError(f"{source}: {where}: families [ipv4]: an IPv4-only SE host is the fault "
                        "not_dual_stacked (the client and issuer always have IPv6)")
    return [f for f in FAMILIES if f in value]


def _section(raw: dict[str, Any], key: str, allowed: set[str], source: str) -> dict[str, Any]:
    """An optional top-level mapping (client, issuer, nat64) with only the allowed keys."""
    sec = raw.get(key)
    if sec is None:
        return {}
    if not isinstance(sec, dict) or set(sec) - allowed:
        raise SiteError(f"{source}: {key} must be a mapping with keys from {sorted(allowed)}, got {sec!r}")
    return sec


def _nat64(raw: dict[str, Any], client: dict[str, Any], net4: ipaddress.IPv4Network,
           net6: ipaddress.IPv6Network, source: str) -> dict[str, Any] | None:
    """The site's DNS64/NAT64 (None without a `nat64:` key). Why a translator prefix besides the
    prefix: tayga 0.9.2 refuses, as RFC 6052 section 3.1 asks, to translate the well-known prefix
    to a private IPv4 address, and the box's IPv4 side is private; the site namespace then maps
    64:ff9b::/96 onto a network-specific /96 under the site's ULA /48 (ip6tables NETMAP)."""
    if "nat64" not in raw:
        return None
    sec = _section(raw, "nat64", {"prefix", "pool4"}, source) if raw["nat64"] is not None else {}
    if client["families"] != ["ipv6"]:
        raise SiteError(f"{source}: nat64: a DNS64/NAT64 serves IPv6-only clients; "
                        "set client: {families: [ipv6]}")
    try:
        prefix = ipaddress.IPv6Network(str(sec.get("prefix", WKP)))
        pool4 = ipaddress.IPv4Network(str(sec.get("pool4", DEFAULT_POOL4)))
    except ValueError as exc:
        raise SiteError(f"{source}: nat64: {exc}") from None
    ula48 = ipaddress.IPv6Network((int(net6.network_address) >> 80 << 80, 48))
    if prefix.prefixlen != 96:
        raise SiteError(f"{source}: nat64: prefix {prefix} must be a /96 (64:ff9b::/96 or a "
                        f"network-specific one such as {ula48.network_address + (0x64 << 64)}/96)")
    if prefix != WKP and not prefix.subnet_of(ipaddress.IPv6Network("fc00::/7")):
        raise SiteError(f"{source}: nat64: prefix {prefix} must be 64:ff9b::/96 or a ULA /96 "
                        "(the testbed never routes out)")
    if prefix.overlaps(net6):
        raise SiteError(f"{source}: nat64: prefix {prefix} overlaps ipv6_prefix {net6}")
    if not pool4.is_private or pool4.overlaps(net4) or pool4.prefixlen > 30:
        raise SiteError(f"{source}: nat64: pool4 {pool4} must be a private range of at least /30 "
                        f"outside ipv4_prefix {net4}")
    translator = prefix
    if prefix == WKP:
        translator = ipaddress.IPv6Network((ula48.network_address + (0x64 << 64), 96))
        if translator.overlaps(net6):
            translator = ipaddress.IPv6Network((ula48.network_address + (0x6464 << 64), 96))
    return {"prefix": str(prefix), "translator_prefix": str(translator), "netmap": prefix == WKP,
            "pool4": str(pool4), "gateway4": str(pool4.network_address + 1)}


def load_site(path: Path | str | None, name: str = "se6tb", disks: int | None = None) -> dict[str, Any]:
    """Read and validate a site file (default: sites/default.yml); ``disks`` overrides `disks:`."""
    p = Path(path) if path else DEFAULT_SITE
    if not p.exists() and not p.suffix and (SITES_DIR / f"{p}.yml").exists():
        p = SITES_DIR / f"{p}.yml"
    try:
        raw = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise SiteError(f"{p}: cannot read site file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SiteError(f"{p}: not valid YAML: {exc}") from None
    return parse_site(raw, name=name, disks=disks, source=str(p), default_site=p.stem)


def parse_site(raw: Any, name: str = "se6tb", disks: int | None = None, source: str = "<site>",
               default_site: str = "site") -> dict[str, Any]:
    """Validate the raw YAML mapping and derive every address and name."""
    def err(msg: str) -> SiteError:
        return SiteError(f"{source}: {msg}")

    if not NAME_RE.match(name or ""):
        raise err(f"testbed name {name!r} must be 1-10 lowercase letters/digits, starting with a letter")
    if not isinstance(raw, dict):
        raise err("a site file is a YAML mapping (domain, ipv4_prefix, ipv6_prefix, hosts, ...)")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise err(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(TOP_KEYS)}")
    domain = str(raw.get("domain", "example.test")).strip(".").lower()
    if not re.match(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", domain):
        raise err(f"domain {domain!r} is not a valid DNS domain with at least two labels")
    try:
        net4 = ipaddress.IPv4Network(str(raw.get("ipv4_prefix", "10.42.0.0/24")))
    except ValueError as exc:
        raise err(f"ipv4_prefix: {exc}") from None
    try:
        net6 = ipaddress.IPv6Network(str(raw.get("ipv6_prefix", "fd42:6::/64")))
    except ValueError as exc:
        raise err(f"ipv6_prefix: {exc}") from None
    if not net4.is_private:
        raise err(f"ipv4_prefix {net4} must be a private range (the testbed never routes out)")
    if net4.prefixlen > 26:
        raise err(f"ipv4_prefix {net4} too small: need at least a /26 for 1 head + 32 disks")
    if not net6.subnet_of(ipaddress.IPv6Network("fc00::/7")):
        raise err(f"ipv6_prefix {net6} must be a ULA prefix (fc00::/7, e.g. fd42:6::/64)")
    if net6.prefixlen > 64:
        raise err(f"ipv6_prefix {net6} must be /64 or shorter")
    rng = str(raw.get("gridftp_data_range", "20000-25000"))
    m = re.match(r"^(\d+)-(\d+)$", rng)
    if not m or not (1024 <= int(m.group(1)) <= int(m.group(2)) <= 65535):
        raise err(f"gridftp_data_range {rng!r} must be 'A-B' with 1024 <= A <= B <= 65535")

    system = str(raw.get("system", "dpm"))
    if system not in faultmod.SYSTEMS:
        raise err(f"system {system!r} must be one of {list(faultmod.SYSTEMS)}")

    hosts_raw = raw.get("hosts") or []
    if not isinstance(hosts_raw, list):
        raise err("hosts must be a list of mappings")
    parsed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, h in enumerate(hosts_raw):
        if not isinstance(h, dict):
            raise err(f"hosts[{i}] must be a mapping with short, role, os, faults")
        bad = set(h) - HOST_KEYS
        if bad:
            raise err(f"hosts[{i}]: unknown key(s) {sorted(bad)}; allowed: {sorted(HOST_KEYS)}")
        short = str(h.get("short", ""))
        if not SHORT_RE.match(short) or short in RESERVED_SHORTS or short.endswith(("-v4", "-v6")):
            raise err(f"hosts[{i}]: short name {short!r} must match {SHORT_RE.pattern}, not be "
                      f"{sorted(RESERVED_SHORTS)} nor end in -v4/-v6")
        if short in seen:
            raise err(f"hosts[{i}]: duplicate short name {short!r}")
        seen.add(short)
        role = h.get("role")
        if role not in ROLES:
            raise err(f"host {short}: role {role!r} must be one of {list(ROLES)}")
        parsed.append({"short": short, "role": role, "os": h.get("os", "el7"),
                       "faults": h.get("faults") or [],
                       "families": _families(h.get("families"), f"host {short}", source)})
    heads = [h for h in parsed if h["role"] == "headnode"]
    if len(heads) != 1:
        raise err(f"exactly one host with role headnode is required, found {len(heads)}")
    listed_disks = [h for h in parsed if h["role"] == "disknode"]
    want = disks if disks is not None else raw.get("disks", len(listed_disks) or 2)
    if not isinstance(want, int) or isinstance(want, bool) or not 1 <= want <= MAX_DISKS:
        raise err(f"disks must be an integer 1..{MAX_DISKS}, got {want!r}")
    if want < len(listed_disks):
        listed_disks = listed_disks[:want]
    dd = raw.get("disk_defaults") or {}
    if not isinstance(dd, dict) or set(dd) - {"os", "faults", "families"}:
        raise err("disk_defaults may only set os, faults and families")
    dd_families = _families(dd.get("families"), "disk_defaults", source)
    n = 1
    while len(listed_disks) < want:
        short = f"disk{n:02d}"
        n += 1
        if short in seen:
            continue
        seen.add(short)
        listed_disks.append({"short": short, "role": "disknode", "os": dd.get("os", "el7"),
                             "faults": list(dd.get("faults") or []), "families": dd_families})

    state_dir = STATE_ROOT / name
    hosts: list[dict[str, Any]] = []
    for idx, h in enumerate([heads[0], *listed_disks]):
        index = 10 + idx
        hosts.append({**_host(h, index, f"v{index}", name, domain, net4, net6, source), "system": system})
    client_raw = _section(raw, "client", {"families"}, source)
    client = _host({"short": "client", "role": "client", "os": "el9", "faults": [],
                    "families": _families(client_raw.get("families"), "client", source)}, 2, "vc",
                   name, domain, net4, net6, source)
    issuer_raw = _section(raw, "issuer", {"faults"}, source)
    issuer = _host({"short": ISSUER_SHORT, "role": "issuer", "os": "el9",
                    "faults": issuer_raw.get("faults") or [], "families": list(FAMILIES)}, 3, "vi",
                   name, domain, net4, net6, source)
    issuer["names"].append(f"{CRL_SHORT}.{domain}")
    nat64 = _nat64(raw, client, net4, net6, source)
    site = {
        "name": name,
        "site": str(raw.get("site", default_site)),
        "system": system,
        "domain": domain,
        "ipv4_prefix": str(net4),
        "ipv6_prefix": str(net6),
        "ipv4_prefixlen": net4.prefixlen,
        "ipv6_prefixlen": net6.prefixlen,
        "gridftp_data_range": rng,
        "gridftp_data_ports": (int(m.group(1)), int(m.group(2))),
        "hosts": hosts,
        "client": client,
        "issuer": issuer,
        "dns": {"ipv4": str(net4.network_address + 1), "ipv6": str(net6.network_address + 1)},
        "nat64": nat64,
        "dns64": None if nat64 is None else {
            "address": str(net6.network_address + DNS64_INDEX), "prefix": nat64["prefix"],
            "forwards_to": str(net6.network_address + 1)},
        "state_dir": str(state_dir),
        "source": source,
    }
    for host in [*hosts, issuer]:
        try:
            faultmod.validate(host["faults"], host)
        except ValueError as exc:
            raise err(f"host {host['short']}: {exc}") from None
    return site


def _host(h: dict[str, Any], index: int, ifname: str, name: str, domain: str,
          net4: ipaddress.IPv4Network, net6: ipaddress.IPv6Network, source: str) -> dict[str, Any]:
    """Derive one host's addresses and names."""
    short = h["short"]
    if h["os"] not in OS_PERSONALITIES:
        raise SiteError(f"{source}: host {short}: os {h['os']!r} must be one of {list(OS_PERSONALITIES)}")
    if not isinstance(h["faults"], list):
        raise SiteError(f"{source}: host {short}: faults must be a list of fault names")
    faults = [str(f) for f in h["faults"]]
    families = h["families"]
    # a declared IPv6-only host keeps IPv4 only by mistake (fault ipv4_not_removed)
    has_ipv4 = "ipv4" in families or any(f.split(":")[0] == "ipv4_not_removed" for f in faults)
    names = [f"{short}.{domain}", f"{short}-v6.{domain}"]
    if "ipv4" in families:
        names.append(f"{short}-v4.{domain}")
    return {
        "short": short,
        "fqdn": f"{short}.{domain}",
        "role": h["role"],
        "os": "el9" if h["os"] == "el9-nft" else h["os"],
        "personality": h["os"],
        "firewall": FIREWALLS[h["os"]],
        "ipv4": str(net4.network_address + index) if has_ipv4 else None,
        "ipv6": str(_v6_for_index(net6, index)),
        "has_ipv6": not faultmod.has({"faults": faults}, "not_dual_stacked"),
        "has_ipv4": has_ipv4,
        "families": list(families),
        "faults": faults,
        "index": index,
        "names": names,
        "ns": f"{name}-{short}",
        "ifname": ifname,
        "privdir": str(PRIV_ROOT / name / short),
        "transfer_dir": f"/store/{short}/se6test",
    }


def members(site: dict[str, Any]) -> list[dict[str, Any]]:
    """Every host with a namespace on the bridge: SE hosts, the client, the token issuer (a site
    state from before the issuer existed has none)."""
    return [*site["hosts"], site["client"], *([site["issuer"]] if site.get("issuer") else [])]


def host_by_name(site: dict[str, Any], name: str) -> dict[str, Any]:
    """Find a host (or the client, or the issuer) by short name, FQDN or address."""
    for h in members(site):
        if name in (h["short"], h["fqdn"], h["ipv4"], h["ipv6"], *h["names"]):
            return h
    known = ", ".join(h["short"] for h in members(site))
    raise SiteError(f"no host {name!r} in this testbed; hosts: {known}")


def resolvers(site: dict[str, Any], host: dict[str, Any]) -> list[str]:
    """The nameservers a host's resolv.conf names: the DNS64 for an IPv6-only client behind
    NAT64, else the site's dnsmasq over each family the host has (an IPv6-only SE host asks
    dnsmasq directly: a server network without NAT64, so its own dependencies are tested)."""
    if host["role"] == "client" and site.get("dns64"):
        return [site["dns64"]["address"]]
    dns = site["dns"]
    return [dns["ipv6"], *([dns["ipv4"]] if host.get("ipv4") else [])]


def mgmt_address(site: dict[str, Any], host: dict[str, Any]) -> str:
    """The address the client manages a host by (ssh, the inventory's ansible_host): IPv4 while
    both ends have it and the host is declared with it (IPv6 faults then never cut management),
    else IPv6."""
    client = site["client"]
    if client.get("ipv4") and host.get("ipv4") and "ipv4" in host.get("families", FAMILIES):
        return host["ipv4"]
    return host["ipv6"]
