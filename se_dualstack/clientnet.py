"""The suite machine's own network: its address families, and whether its resolvers do DNS64.

Why: the suite proves the SE's reachability from where it runs. A machine with no IPv4 cannot
prove anything about IPv4, and must say so once ("could not run: the suite machine has no
IPv4") rather than blame every SE host; a resolver that synthesizes AAAA records (DNS64) makes
an IPv4-only name look IPv6-reachable through a NAT64 gateway. Both are learnt once per run (the
run's :class:`~se_dualstack.facts.Facts` keeps them) from the kernel and from the resolvers
themselves, with explicit timeouts; the logic is :mod:`se_dualstack.concerns.families`.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from se_dualstack.concerns import dns as dnscheck
from se_dualstack.concerns import families

IP_TIMEOUT = 5.0  # seconds for one `ip -j` call on this machine


def _run(argv: list[str]) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=IP_TIMEOUT, check=False)
    if res.returncode != 0:
        raise OSError(f"{' '.join(argv)}: {(res.stderr or res.stdout).strip()[:200]}")
    return res.stdout


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _ip(*args: str) -> str:
    """``ip -j ARGS``, else ``ip -o ARGS`` (iproute2 before 4.13, as on EL7, has no JSON)."""
    try:
        return _run(["ip", "-j", *args])
    except OSError:
        return _run(["ip", "-o", *args])


def detect_machine() -> families.MachineNet:
    """This machine's addresses and default routes: ``ip``, else /proc, else not known."""
    if shutil.which("ip"):
        try:
            return families.machine_from_ip(_ip("addr", "show"), _ip("-4", "route", "show", "default"),
                                            _ip("-6", "route", "show", "default"))
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        else:
            why = ""
    else:
        why = "ip (iproute2) not installed"
    addrs = families.proc_if_inet6(_read("/proc/net/if_inet6")) + families.proc_fib_trie_local(
        _read("/proc/net/fib_trie"))
    routes = families.proc_default_routes(_read("/proc/net/route"), _read("/proc/net/ipv6_route"))
    if addrs:
        return families.MachineNet(tuple(addrs), tuple(routes), "/proc/net" + (f" ({why})" if why else ""))
    return families.MachineNet(error=why or "no address found in ip or /proc/net")


@dataclass(frozen=True)
class Dns64:
    """What the site's resolvers do with a name that has only an A record.

    ``synthesizing``: resolver -> the NAT64 prefixes it revealed through ipv4only.arpa (RFC 7050);
    ``prefixes``: those and the well-known prefix, where an AAAA is a synthesized one.
    """

    resolvers: tuple[str, ...]
    synthesizing: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # resolver -> why it did not answer

    @property
    def prefixes(self) -> list[str]:
        out = [p for ps in self.synthesizing.values() for p in ps]
        return list(dict.fromkeys([*out, families.WELL_KNOWN_PREFIX]))

    def resolvers_for(self, prefix: str) -> list[str]:
        """The resolvers that synthesize in ``prefix`` (all asked, for the well-known one)."""
        named = [r for r, ps in self.synthesizing.items() if prefix in ps]
        return named or list(self.resolvers)

    def describe(self) -> str:
        """One line: which resolvers synthesize AAAA records, in which prefix."""
        if not self.synthesizing:
            return (f"no DNS64 at {', '.join(self.resolvers) or 'no resolver'} (no AAAA for "
                    f"{families.IPV4ONLY_ARPA})")
        return "; ".join(f"{r} synthesizes AAAA records (DNS64) in {', '.join(ps)}"
                         for r, ps in self.synthesizing.items())


def detect_dns64(resolvers: list[str], timeout: float, cache: dnscheck.DnsCache) -> Dns64:
    """Ask each resolver for the AAAA of ipv4only.arpa, which has none of its own (RFC 7050)."""
    found: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for r in resolvers:
        try:
            ans = dnscheck.DnsClient([r], timeout, cache=cache).query(families.IPV4ONLY_ARPA, "AAAA")
        except (dnscheck.ResolverDown, ValueError) as exc:
            errors[r] = str(exc)
            continue
        prefixes = families.nat64_prefixes(ans.records)
        if prefixes:
            found[r] = prefixes
    return Dns64(tuple(resolvers), found, errors)
