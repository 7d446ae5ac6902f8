"""iptables/ip6tables text -> the firewall model, saved files compared with the live rules, and
the ``ip(6)tables`` line that opens a port.

Input is what the host prints: ``iptables-save``/``ip6tables-save`` (the saved file format, with
or without ``-c`` counters) or ``ip(6)tables -S`` (what testinfra's ``host.iptables.rules``
returns); both the legacy and the nf_tables backend print the same.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from se_dualstack.concerns.firewall import PortSet, Rule, Ruleset

PROTO_ALIASES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "icmpv6": "ipv6-icmp",
                 "icmp6": "ipv6-icmp", "all": "", "0": ""}
HARMLESS_MODULES = {"tcp", "udp", "multiport", "state", "conntrack", "comment", "icmp", "icmp6"}
SYN_FLAGS = ("FIN,SYN,RST,ACK", "SYN")


def _addr(text: str) -> str:
    """Canonical network text (``2001:db8::7`` -> ``2001:db8::7/128``)."""
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return text


def _tokens(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


@dataclass
class _Parsed:
    """All options of one ``-A`` line, canonicalised (also used for saved-vs-live comparison)."""

    chain: str = ""
    proto: str = ""
    proto_neg: bool = False
    src: str = ""
    dst: str = ""
    iface_in: str = ""
    iface_out: str = ""
    dports: str = ""
    dports_neg: bool = False
    states: frozenset[str] | None = None
    syn: bool = False
    jump: str = ""
    goto: str = ""
    target_args: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    neg: dict[str, bool] = field(default_factory=dict)

    def key(self, family: int) -> tuple[Any, ...]:
        """Comparable identity: option order, aliases, /128, counters and comments do not matter."""
        args = self.target_args
        if self.jump == "REJECT" and not any(a == "--reject-with" for a in args):
            args = ("--reject-with", "icmp6-port-unreachable" if family == 6 else "icmp-port-unreachable")
        return (self.chain, self.proto, self.proto_neg, self.src, self.neg.get("s", False), self.dst,
                self.neg.get("d", False), self.iface_in, self.neg.get("i", False), self.iface_out,
                self.dports, self.dports_neg, self.states, self.syn, self.jump, self.goto, args,
                tuple(sorted(self.other)))


def _parse_append(tokens: list[str]) -> _Parsed:
    """Parse the tokens after ``-A``: chain and options."""
    p = _Parsed(chain=tokens[0])
    i, neg, in_target = 1, False, False
    other: list[str] = []
    targs: list[str] = []
    while i < len(tokens):
        t = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if t == "!":
            neg = True
            i += 1
            continue
        # old syntax: "--dport ! 22"
        if nxt == "!" and t.startswith("-"):
            neg, nxt = True, tokens[i + 2] if i + 2 < len(tokens) else ""
            i += 1
        if in_target and t not in ("-m", "--match", "-p", "-s", "-d", "-i", "-o"):
            targs.append(t)
            i += 1
            continue
        if t in ("-p", "--protocol"):
            p.proto, p.proto_neg = PROTO_ALIASES.get(nxt.lower(), nxt.lower()), neg
            i += 2
        elif t in ("-s", "--source", "--src"):
            p.src, p.neg["s"] = _addr(nxt), neg
            i += 2
        elif t in ("-d", "--destination", "--dst"):
            p.dst, p.neg["d"] = _addr(nxt), neg
            i += 2
        elif t in ("-i", "--in-interface"):
            p.iface_in, p.neg["i"] = nxt, neg
            i += 2
        elif t in ("-o", "--out-interface"):
            p.iface_out, p.neg["o"] = nxt, neg
            i += 2
        elif t in ("-m", "--match"):
            if nxt not in HARMLESS_MODULES:
                other.append(f"-m {nxt}")
            i += 2
        elif t in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            p.dports, p.dports_neg = str(PortSet.parse(nxt)), neg
            i += 2
        elif t in ("--state", "--ctstate"):
            states = frozenset(s.upper() for s in nxt.split(","))
            p.states = states if not neg else frozenset({"NEW", "ESTABLISHED", "RELATED", "INVALID",
                                                         "UNTRACKED"}) - states
            i += 2
        elif t == "--syn":
            p.syn = True
            i += 1
        elif t == "--tcp-flags" and i + 2 < len(tokens) and tuple(tokens[i + 1:i + 3]) == SYN_FLAGS:
            p.syn = True
            i += 3
        elif t == "--comment":
            i += 2
        elif t in ("-j", "--jump"):
            p.jump, in_target = nxt, True
            i += 2
        elif t in ("-g", "--goto"):
            p.goto = nxt
            i += 2
        else:
            # an option we do not model (-m recent, --sport, -m set, ...): a restriction
            words = [("! " if neg else "") + t]
            i += 1
            while i < len(tokens) and not tokens[i].startswith("-") and tokens[i] != "!":
                words.append(tokens[i])
                i += 1
            other.append(" ".join(words))
            neg = False
            continue
        neg = False
    p.other = tuple(other)
    p.target_args = tuple(targs)
    return p


def _iface_matches(pattern: str, iface: str) -> bool:
    """iptables interface match: ``eth+`` is a prefix wildcard."""
    return iface.startswith(pattern[:-1]) if pattern.endswith("+") else iface == pattern


def _to_rule(p: _Parsed, text: str, iface: str = "") -> Rule:
    """Reduce a parsed line to the port-acceptance view, for traffic arriving on ``iface`` (the
    external interface; empty: unknown, an ``-i`` match is then a restriction)."""
    irrelevant = ""
    if p.proto and not p.proto_neg and p.proto != "tcp":
        irrelevant = f"protocol {p.proto}"
    elif p.proto == "tcp" and p.proto_neg:
        irrelevant = "not TCP"
    elif p.iface_in == "lo" and not p.neg.get("i"):
        irrelevant = "loopback only"
    elif p.states is not None and "NEW" not in p.states:
        irrelevant = "connection state " + ",".join(sorted(p.states))
    elif iface and p.iface_in and p.iface_in != "lo" and \
            _iface_matches(p.iface_in, iface) == bool(p.neg.get("i")):
        irrelevant = f"traffic arriving on {'! ' if p.neg.get('i') else ''}{p.iface_in} only"
    ports = PortSet.parse(p.dports) if p.dports else PortSet.all()
    if p.dports_neg:
        ports = ports.invert()
    conds = []
    for flag, value in (("s", p.src), ("d", p.dst), ("i", p.iface_in), ("o", p.iface_out)):
        if value and value not in ("0.0.0.0/0", "::/0"):
            if flag == "i" and ((value == "lo" and p.neg.get("i")) or iface):
                continue  # not loopback / the external interface itself: every peer
            conds.append(("! " if p.neg.get(flag) else "") + f"-{flag} {value}")
    conds.extend(p.other)
    verdict, target = "", ""
    if p.goto:
        verdict, target = "goto", p.goto
    elif p.jump in ("ACCEPT", "DROP", "REJECT", "RETURN"):
        verdict = p.jump.lower()
    elif p.jump in ("LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "NOTRACK", "CT", "AUDIT", ""):
        verdict = ""
    else:
        verdict, target = "jump", p.jump
    return Rule(p.chain, text, ports, tuple(conds), irrelevant, verdict, target)


def _filter_lines(text: str) -> tuple[dict[str, str], list[str], list[str]]:
    """Split a dump into policies, user chains and ``-A`` lines of the filter table."""
    policies: dict[str, str] = {}
    user: list[str] = []
    appends: list[str] = []
    table = "filter"
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and "]" in line:  # iptables-save -c counters
            line = line.split("]", 1)[1].strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        if table != "filter":
            continue
        if line.startswith(":"):
            name, pol = [*line[1:].split(), "-"][:2]
            if pol == "-":
                user.append(name)
            else:
                policies[name] = pol
        elif line.startswith("-P "):
            _, name, pol = line.split()[:3]
            policies[name] = pol
        elif line.startswith("-N "):
            user.append(line.split()[1])
        elif line.startswith("-A "):
            appends.append(line[3:].strip())
    return policies, user, appends


def parse_iptables(text: str | Sequence[str], iface: str = "") -> Ruleset:
    """Parse ``ip(6)tables-save`` output, a saved file, or ``-S`` lines (list or text); ``iface``
    is the interface peers arrive on (an ``-i`` match on it restricts nothing)."""
    if not isinstance(text, str):
        text = "\n".join(text)
    policies, user, appends = _filter_lines(text)
    rs = Ruleset(policies=policies, chains={c: [] for c in [*policies, *user]})
    for line in appends:
        p = _parse_append(_tokens(line))
        rs.chains.setdefault(p.chain, []).append(_to_rule(p, "-A " + line, iface))
    return rs


# --------------------------------------------------------------------------- fix lines

def ip6tables_line(ports: PortSet, source: str = "") -> str:
    """The exact command that opens ``ports`` in ip6tables, before any final REJECT/DROP."""
    src = f" -s {source}" if source else ""
    if len(ports.intervals) == 1:
        a, b = ports.intervals[0]
        spec = f"-m tcp --dport {a}" if a == b else f"-m tcp --dport {a}:{b}"
    else:
        spec = f"-m multiport --dports {ports}"
    return f"ip6tables -I INPUT{src} -p tcp -m conntrack --ctstate NEW {spec} -j ACCEPT"


def iptables_line(ports: PortSet) -> str:
    """Same for IPv4."""
    return ip6tables_line(ports).replace("ip6tables", "iptables", 1)


# --------------------------------------------------------------------------- saved vs live

@dataclass
class SavedDiff:
    """Differences between a saved rule file and the live rules (filter table)."""

    policies: list[str]
    only_saved: list[str]
    only_live: list[str]
    order_differs: bool

    @property
    def same(self) -> bool:
        return not (self.policies or self.only_saved or self.only_live or self.order_differs)

    def describe(self) -> str:
        parts = list(self.policies)
        if self.only_live:
            parts.append("live but not saved: " + " | ".join(self.only_live))
        if self.only_saved:
            parts.append("saved but not live: " + " | ".join(self.only_saved))
        if self.order_differs:
            parts.append("same rules in a different order")
        return "; ".join(parts) or "no difference"


def _normalised(text: str | Sequence[str], family: int) -> tuple[dict[str, str], list[tuple[Any, ...]],
                                                               list[str]]:
    if not isinstance(text, str):
        text = "\n".join(text)
    policies, user, appends = _filter_lines(text)
    for c in user:
        policies.setdefault(c, "-")
    keys = [_parse_append(_tokens(line)).key(family) for line in appends]
    return policies, keys, ["-A " + line for line in appends]


def compare_saved(saved: str, live: str | Sequence[str], family: int = 6) -> SavedDiff:
    """Compare the filter table of a saved file with the live rules, ignoring counters, comment
    lines, ``-m comment``, option order and the aliases iptables rewrites (``-p icmpv6``,
    ``--syn``, ``/128``, the default ``--reject-with``)."""
    sp, sk, stext = _normalised(saved, family)
    lp, lk, ltext = _normalised(live, family)
    pol = []
    for chain in sorted(set(sp) | set(lp)):
        if sp.get(chain) != lp.get(chain):
            pol.append(f"chain {chain}: saved {sp.get(chain, 'absent')}, live {lp.get(chain, 'absent')}")
    only_saved = [t for k, t in zip(sk, stext) if k not in lk]
    only_live = [t for k, t in zip(lk, ltext) if k not in sk]
    order = not only_saved and not only_live and sk != lk
    return SavedDiff(pol, only_saved, only_live, order)
