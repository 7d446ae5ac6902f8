"""Gathering host state for the acceptance checks (testinfra in, plain data out).

The logic lives in ``se_dualstack.concerns`` and is unit-tested on captured outputs; this module
only runs commands on the SE host (or DNS queries from this machine) and caches what several
checks of one host share, so each check asserts one fact without repeating an ssh round trip.
The cache is one :class:`Facts` object per run (the plugin's state holds it; tests get it as the
``facts`` fixture), never a module global: two runs in one process share nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from se_dualstack import clientnet, detect, knowledge
from se_dualstack.checks import Bound
from se_dualstack.concerns import dns as dnscheck
from se_dualstack.concerns import families, firewall, firewalld, fwkind, sysconf
from se_dualstack.concerns import interfaces as netconfig
from se_dualstack.concerns import services as listening
from se_dualstack.dependencies import DependencyReport, gather_dependencies
from se_dualstack.hostfiles import read_files
from se_dualstack.model import SEHost

T = TypeVar("T")

RESOLVER_FIX = ("Check that the resolver is up and reachable from the machine running the suite "
                "(port 53 UDP/TCP), or set se_resolvers in the inventory to the site's resolvers; "
                "se_dns_timeout sets the per-query timeout.")


def os_family(se_host: SEHost) -> str | None:
    """The host's OS family (declared ``se_os`` wins; else detected once by the plugin)."""
    return se_host.os_family


def el_major(family: str | None) -> int | None:
    if family and family.startswith("el") and family[2:].isdigit():
        return int(family[2:])
    return None


def read_file(host: Any, path: str) -> str | None:
    """A file's text, or None when it does not exist."""
    f = host.file(path)
    return f.content_string if f.exists else None


def resolvers_of(vars_: dict[str, Any]) -> list[str]:
    """``se_resolvers`` (a list, or ``a,b`` text), else this machine's resolv.conf."""
    servers = vars_.get("se_resolvers") or dnscheck.default_resolvers()
    if isinstance(servers, str):
        servers = [s.strip() for s in servers.split(",") if s.strip()]
    return [str(s) for s in servers]


def resolver_down(check: Bound, err: Exception, resolvers: str) -> NoReturn:
    """One clear line for a dead resolver, naming it and what to do; one root cause for all."""
    check.fail("an answer from the site's DNS resolver", str(err), fix=RESOLVER_FIX,
               cause=f"resolver:{resolvers}")


class Facts:
    """What this run learnt about its hosts, each fact gathered once (thread-safe)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()
        self.dns_cache = dnscheck.DnsCache()

    def _cached(self, key: tuple[str, ...], make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = make()
        with self._lock:
            self._cache[key] = value
        return value

    # ----------------------------------------------------------------------- DNS

    def dns_client(self, se_host: SEHost, check: Bound) -> dnscheck.DnsClient:
        """Resolver for this host's checks: ``se_resolvers`` else this machine's resolv.conf."""
        timeout = float(se_host.vars.get("se_dns_timeout", 3))
        try:
            return dnscheck.DnsClient(resolvers_of(se_host.vars), timeout, cache=self.dns_cache)
        except dnscheck.ResolverDown as e:
            resolver_down(check, e, "(none configured)")

    def addresses(self, se_host: SEHost, family: int, check: Bound) -> dnscheck.Answer:
        """The host's A or AAAA answer (cached for the run); an AAAA that DNS64 synthesized from
        the A record is not the host's own and is left out (status ``synthesized`` when none is
        left): checks of "the AAAA" then say the host has none, and SE6-DNS-02 names the DNS64."""
        ans = self._answer(se_host, family, check)
        if family != 6 or not ans.records:
            return ans
        made = {x.address for x in self.synthesized(se_host, check)}
        native = tuple(a for a in ans.records if a not in made)
        return ans if len(native) == len(ans.records) else dnscheck.Answer(
            ans.name, ans.rdtype, native, ans.status if native else "synthesized")

    def _answer(self, se_host: SEHost, family: int, check: Bound) -> dnscheck.Answer:
        client = self.dns_client(se_host, check)
        try:
            return client.addresses(se_host.name, family)
        except dnscheck.ResolverDown as e:
            resolver_down(check, e, client.label)

    def dns64(self, vars_: dict[str, Any]) -> clientnet.Dns64:
        """What the resolvers of ``vars_`` (a host's or the site's) do for an A-only name (DNS64),
        asked once per run and resolver set."""
        servers = resolvers_of(vars_)
        timeout = float(vars_.get("se_dns_timeout", 3))
        return self._cached(("dns64", *servers),
                            lambda: clientnet.detect_dns64(servers, timeout, self.dns_cache))

    def synthesized(self, se_host: SEHost, check: Bound) -> list[families.Synthesized]:
        """The host's AAAA records that lie in a NAT64 prefix of its resolvers (DNS64-made)."""
        ans = self._answer(se_host, 6, check)
        prefixes = self.dns64(se_host.vars).prefixes if ans.records else []
        return [x for a in ans.records if (x := families.synthesized(a, prefixes)) is not None]

    def suite_machine(self) -> families.MachineNet:
        """The suite machine's own addresses and default routes (read once per run)."""
        return self._cached(("suite-machine",), clientnet.detect_machine)

    # ----------------------------------------------------------------------- the host's families

    def host_addresses(self, se_host: SEHost, host: Any) -> list[netconfig.IfAddress] | None:
        """Every address of the host (``ip -j addr``, else ``ip -o addr`` on old iproute); None
        when ``ip`` failed there."""

        def make() -> list[netconfig.IfAddress] | None:
            out = host.run("ip -j addr show 2>/dev/null || ip -o addr show")
            return netconfig.ip_addresses(out.stdout) if out.rc == 0 else None

        return self._cached(("addrs", se_host.name), make)

    def dependencies(self, se_host: SEHost, host: Any) -> DependencyReport:
        """The token issuers and CRL URLs the host's server depends on, tried from the host."""
        return self._cached(("deps", se_host.name),
                            lambda: gather_dependencies(se_host, host, self.processes(se_host, host)))

    # ----------------------------------------------------------------------- interfaces

    def saved_ipv6(self, se_host: SEHost, host: Any) -> tuple[str, netconfig.SavedIPv6 | None, str]:
        """(kind, verdict, N/A reason): the saved configuration of the external interface.

        kind is "ifcfg" (EL6/EL7, or an ifcfg file NetworkManager still reads on EL8+), "nm",
        or "" when the OS has neither (the reason says why)."""
        return self._cached(("saved6", se_host.name), lambda: _saved_ipv6(se_host, host))

    @staticmethod
    def live_ipv6(host: Any, iface: str) -> list[str]:
        """Global-scope IPv6 addresses of the interface (testinfra's interface module)."""
        addrs = host.interface(iface, "inet6").addresses if host.interface(iface).exists else []
        return [a for a in addrs if netconfig.is_global_ipv6(a)]

    # ----------------------------------------------------------------------- firewall

    def firewall(self, se_host: SEHost, host: Any) -> fwkind.HostFirewall:
        """Which firewall the host runs and its rule sets (gathered once per host)."""
        return self._cached(("fw", se_host.name), lambda: _gather_firewall(host, se_host.interface))

    def firewall_view(self, se_host: SEHost, host: Any, family: int) -> firewall.Acceptance:
        """What the host's input hook accepts over ``family`` (every chain a packet must pass)."""
        return self._cached(("fwview", se_host.name, str(family)),
                            lambda: self.firewall(se_host, host).view(family))

    def known_firewall(self, host_name: str) -> str | None:
        """The firewall label (``firewalld (zone public)``, ``nftables``, ``iptables-nft``, ...) of
        a host whose firewall a check already read, else None: for the report, at no extra cost."""
        with self._lock:
            fw = self._cache.get(("fw", host_name))
        return fw.label() if fw is not None else None

    # ----------------------------------------------------------------------- services

    def listeners(self, se_host: SEHost, host: Any) -> tuple[list[listening.Listener], int]:
        """Listening TCP sockets (``ss -tlnpe``) and ``net.ipv6.bindv6only`` of the host."""

        def make() -> tuple[list[listening.Listener], int]:
            out = host.run("ss -tlnpe")
            if out.rc != 0:
                out = host.run("ss -tlnp")
            text = read_file(host, "/proc/sys/net/ipv6/bindv6only")
            v6only = int(text.strip()) if text and text.strip().isdigit() else 0
            return listening.parse_ss(out.stdout), v6only

        return self._cached(("ss", se_host.name), make)

    # ----------------------------------------------------------------------- storage systems

    def processes(self, se_host: SEHost, host: Any) -> list[detect.Process]:
        """The host's processes, kernel name and command line (``ps -eo comm,args``)."""

        def make() -> list[detect.Process]:
            out = host.run(f"timeout {NFT_TIMEOUT} {detect.PS_COMMAND}")
            return detect.parse_ps(out.stdout) if out.rc == 0 else []

        return self._cached(("ps", se_host.name), make)

    def files(self, se_host: SEHost, host: Any, patterns: tuple[str, ...]) -> dict[str, str]:
        """Text of the regular files the glob ``patterns`` match on the host (path -> text; a
        pattern matching nothing adds nothing), in one command, each file cut at 256 KiB."""
        return self._cached(("files", se_host.name, *patterns), lambda: read_files(host, patterns))

    def nginx_files(self, se_host: SEHost, host: Any, main: str) -> dict[str, str]:
        """nginx's main file and every file it includes (as nginx reads them at start-up)."""
        found = dict(self.files(se_host, host, (main,)))
        todo = [main]
        for _ in range(4):  # nginx.conf -> conf.d/*.conf -> their includes: a few levels at most
            patterns = tuple(dict.fromkeys(p for path in todo if path in found
                                           for p in sysconf.parse_nginx(found[path], path).includes))
            new = {k: v for k, v in self.files(se_host, host, patterns).items() if k not in found} \
                if patterns else {}
            if not new:
                break
            found.update(new)
            todo = list(new)
        return found

    def xrootd_config(self, se_host: SEHost, host: Any, path: str) -> str | None:
        """An XRootD config file with the files its ``continue`` directives name appended (a
        directory: its files in name order, backups left out, as XRootD reads them)."""
        text = self.files(se_host, host, (path,)).get(path)
        if text is None:
            return None
        directives = sysconf.xrootd_directives(text, "xrootd", "", (se_host.name,))
        got = self.files(se_host, host, tuple(sysconf.continue_globs(directives)))
        return "\n".join([text, *(got[p] for p in sysconf.continued(got, directives))])


def _saved_ipv6(se_host: SEHost, host: Any) -> tuple[str, netconfig.SavedIPv6 | None, str]:
    fam = os_family(se_host)
    iface = se_host.interface
    ifcfg_path = f"/etc/sysconfig/network-scripts/ifcfg-{iface}"
    if knowledge.uses_ifcfg(fam):
        text = read_file(host, ifcfg_path)
        if text is None:
            return "ifcfg", netconfig.SavedIPv6(False, f"{ifcfg_path} does not exist",
                                                ("DEVICE=" + iface, "IPV6INIT=yes", "DHCPV6C=yes")), ""
        return "ifcfg", netconfig.ifcfg_ipv6(netconfig.parse_ifcfg(text)), ""
    major = el_major(fam)
    if major is None or major < 8:
        return "", None, (f"saved network configuration is checked on EL hosts only; this host runs "
                          f"{fam or 'an undetected OS'}")
    return "nm", _nm_profile_verdict(host, iface, ifcfg_path), ""


def _nm_profile_verdict(host: Any, iface: str, ifcfg_path: str) -> netconfig.SavedIPv6:
    """EL8+: keyfiles (and nmcli where present) for ``iface``; an ifcfg file NM still reads."""
    profiles: list[netconfig.NMProfile] = []
    for d in ("/etc/NetworkManager/system-connections", "/run/NetworkManager/system-connections",
              "/usr/lib/NetworkManager/system-connections"):
        f = host.file(d)
        if not (f.exists and f.is_directory):
            continue
        for name in sorted(f.listdir()):
            if name.endswith(".nmconnection"):
                text = read_file(host, f"{d}/{name}") or ""
                profiles.append(netconfig.parse_keyfile(text, f"{d}/{name}"))
    if host.exists("nmcli"):
        live = []
        for p in profiles:
            out = host.run("nmcli -t -f ipv6.method connection show %s", p.name)
            method = netconfig.parse_nmcli_field(out.stdout) if out.rc == 0 else None
            live.append(netconfig.NMProfile(p.name, p.interface, method or p.ipv6_method,
                                            "nmcli" if method else p.source))
        profiles = live
    if not any(p.interface == iface for p in profiles):
        text = read_file(host, ifcfg_path)
        if text is not None:  # NetworkManager's ifcfg-rh plugin still reads it on EL8/EL9
            return netconfig.ifcfg_ipv6(netconfig.parse_ifcfg(text))
    return netconfig.nm_ipv6(profiles, iface)


# --------------------------------------------------------------------------- firewall

FIREWALLD_QUERY = ("sh -c 'firewall-cmd --get-default-zone && echo @@SEP@@ && firewall-cmd --list-all-zones"
                   " && echo @@SEP@@ && firewall-cmd --permanent --list-all-zones'")
NFT_TIMEOUT = 20  # seconds for one nft/firewall-cmd round on the host


def _out(host: Any, cmd: str) -> str:
    res = host.run(f"timeout {NFT_TIMEOUT} {cmd}")
    return res.stdout if res.rc == 0 else ""


def _gather_firewall(host: Any, iface: str) -> fwkind.HostFirewall:
    """Detect the firewall (firewalld, nftables, iptables-nft/-legacy) and read its rule sets."""
    state = _out(host, "firewall-cmd --state") if host.exists("firewall-cmd") else ""
    nft_json = _out(host, "nft -j list ruleset") if host.exists("nft") else ""
    version = _out(host, "iptables -V") if host.exists("iptables") else ""
    fw = fwkind.HostFirewall(fwkind.detect(state, nft_json, version), nft_json, iface=iface)
    if fw.kind.startswith("iptables"):
        fw.iptables = {f: host.iptables.rules(version=f) for f in (4, 6)
                       if host.exists("ip6tables" if f == 6 else "iptables")}
    if fw.kind == "firewalld":
        parts = _out(host, FIREWALLD_QUERY).split("@@SEP@@")
        if len(parts) == 3:
            fw.runtime, marked = firewalld.parse_zones(parts[1])
            fw.permanent, _ = firewalld.parse_zones(parts[2])
            fw.zone = firewalld.zone_of(fw.runtime, iface, parts[0].strip() or marked)
    return fw


def nft_saved_json(host: Any, path: str = fwkind.NFT_CONF) -> tuple[str | None, str]:
    """(``nft -j`` of the rule set ``path`` loads, error): loaded in a throw-away network
    namespace (``unshare -n``), so the host's own rules are never touched. (None, "") when the
    file does not exist."""
    if not host.file(path).exists:
        return None, ""
    res = host.run(f"timeout {NFT_TIMEOUT} unshare -n sh -c 'nft -f {path} && nft -j list ruleset'")
    if res.rc != 0:
        lines = (res.stderr or res.stdout).strip().splitlines()
        return "", lines[-1] if lines else f"exit status {res.rc}"
    return res.stdout, ""

