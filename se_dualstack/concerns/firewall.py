"""Firewall rule sets -> the TCP ports a host accepts from the network, per address family.

Why our own evaluator: a port is open only if the *first* deciding rule on its path through
INPUT (jumps into user chains followed, RETURN honoured, the policy at the end) accepts it.
Grepping for ``--dport 1094`` misses multiport lists, ranges, earlier DROPs and the policy.

Input is what the host prints: ``iptables-save``/``ip6tables-save`` (the saved file format, with
or without ``-c`` counters) or ``ip(6)tables -S`` (what testinfra's ``host.iptables.rules``
returns); both the legacy and the nf_tables backend print the same. Native nftables rule sets
(``nft -j list ruleset``: firewalld, nftables.conf) are read by :mod:`nft` into the same model;
:mod:`fwkind` says which firewall a host runs. Everything is plain functions over text,
unit-tested on real dumps under ``selftests/unit/data``.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_PORT = 65535

# --------------------------------------------------------------------------- port sets


@dataclass(frozen=True)
class PortSet:
    """An immutable set of TCP ports kept as sorted, merged, inclusive intervals."""

    intervals: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, items: Iterable[tuple[int, int]]) -> PortSet:
        merged: list[tuple[int, int]] = []
        for a, b in sorted(items):
            if merged and a <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return cls(tuple(merged))

    @classmethod
    def all(cls) -> PortSet:
        return cls(((1, MAX_PORT),))

    @classmethod
    def parse(cls, text: str) -> PortSet:
        """Parse iptables port syntax: ``2811``, ``20000:25000``, ``2811,1094,20000:25000``."""
        items = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if ":" in part:
                a, b = part.split(":", 1)
                items.append((int(a or 0) or 1, int(b or MAX_PORT)))
            else:
                items.append((int(part), int(part)))
        return cls.of(items)

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def __or__(self, other: PortSet) -> PortSet:
        return PortSet.of(self.intervals + other.intervals)

    def __and__(self, other: PortSet) -> PortSet:
        out = []
        for a, b in self.intervals:
            for c, d in other.intervals:
                lo, hi = max(a, c), min(b, d)
                if lo <= hi:
                    out.append((lo, hi))
        return PortSet.of(out)

    def invert(self) -> PortSet:
        out, nxt = [], 1
        for a, b in self.intervals:
            if a > nxt:
                out.append((nxt, a - 1))
            nxt = b + 1
        if nxt <= MAX_PORT:
            out.append((nxt, MAX_PORT))
        return PortSet(tuple(out))

    def __sub__(self, other: PortSet) -> PortSet:
        return self & other.invert()

    def covers(self, first: int, last: int) -> bool:
        return any(a <= first and last <= b for a, b in self.intervals)

    def __str__(self) -> str:
        if not self.intervals:
            return "none"
        if self.intervals == ((1, MAX_PORT),):
            return "all ports"
        return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in self.intervals)


# --------------------------------------------------------------------------- rules

@dataclass(frozen=True)
class Rule:
    """One rule reduced to what matters for "is TCP port P accepted from the network"."""

    chain: str
    text: str  # the rule as printed, for messages
    ports: PortSet  # TCP destination ports it matches (all ports if it has no port match)
    conditions: tuple[str, ...] = ()  # restrictions that limit it to some peers (-s, -d, ...)
    irrelevant: str = ""  # non-empty: never matches a new TCP connection from outside (why)
    verdict: str = ""  # accept | drop | reject | jump | goto | return | "" (no verdict: LOG ...)
    target: str = ""  # chain name for jump/goto


@dataclass
class Ruleset:
    """The filter table: chains in order, policies of the built-in chains."""

    policies: dict[str, str] = field(default_factory=dict)
    chains: dict[str, list[Rule]] = field(default_factory=dict)
    source: str = "iptables"

    @property
    def empty(self) -> bool:
        return not any(self.chains.values()) and all(p == "ACCEPT" for p in self.policies.values())


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


def _to_rule(p: _Parsed, text: str) -> Rule:
    """Reduce a parsed line to the port-acceptance view."""
    irrelevant = ""
    if p.proto and not p.proto_neg and p.proto != "tcp":
        irrelevant = f"protocol {p.proto}"
    elif p.proto == "tcp" and p.proto_neg:
        irrelevant = "not TCP"
    elif p.iface_in == "lo" and not p.neg.get("i"):
        irrelevant = "loopback only"
    elif p.states is not None and "NEW" not in p.states:
        irrelevant = "connection state " + ",".join(sorted(p.states))
    ports = PortSet.parse(p.dports) if p.dports else PortSet.all()
    if p.dports_neg:
        ports = ports.invert()
    conds = []
    for flag, value in (("s", p.src), ("d", p.dst), ("i", p.iface_in), ("o", p.iface_out)):
        if value and value not in ("0.0.0.0/0", "::/0"):
            if flag == "i" and value == "lo" and p.neg.get("i"):
                continue
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


def parse_iptables(text: str | Sequence[str]) -> Ruleset:
    """Parse ``ip(6)tables-save`` output, a saved file, or ``-S`` lines (list or text)."""
    if not isinstance(text, str):
        text = "\n".join(text)
    policies, user, appends = _filter_lines(text)
    rs = Ruleset(policies=policies, chains={c: [] for c in [*policies, *user]})
    for line in appends:
        p = _parse_append(_tokens(line))
        rs.chains.setdefault(p.chain, []).append(_to_rule(p, "-A " + line))
    return rs


# --------------------------------------------------------------------------- evaluation

@dataclass
class Acceptance:
    """What INPUT accepts for new TCP connections from the network."""

    open: PortSet  # accepted for every peer
    restricted: list[tuple[PortSet, str]]  # accepted only for some peers: (ports, rule text)
    policy: str
    source: str = "iptables"
    blocked: list[tuple[PortSet, str]] = field(default_factory=list)  # (ports, dropping rule)
    parts: list[Acceptance] = field(default_factory=list)  # the chains combine() intersected

    def restricted_ports(self) -> PortSet:
        out = PortSet()
        for ports, _ in self.restricted:
            out = out | ports
        return out - self.open

    def any_peer(self) -> PortSet:
        """Ports some peer can reach (open or restricted)."""
        return self.open | self.restricted_ports()

    def status(self, first: int, last: int) -> tuple[str, str]:
        """('open'|'restricted'|'partial'|'closed', explanation) for one port or range."""
        want = PortSet.of([(first, last)])
        if self.open.covers(first, last):
            return "open", f"accepted ({self.source})"
        if not (want - self.any_peer()):
            rules = [t for p, t in self.restricted if p & want]
            return "restricted", ("accepted only for some peers by " + "; ".join(rules) +
                                  " (peers outside that restriction cannot connect)")
        got = want & self.any_peer()
        if got:
            return "partial", f"only {got} of {want} accepted, {want - self.any_peer()} not"
        by = [t for p, t in self.blocked if p & want]
        return "closed", ("not accepted: " + ("; ".join(f"`{t}`" for t in by) if by
                                              else f"policy {self.policy}") + f" ({self.source})")


def _walk(rs: Ruleset, chain: str, pending: PortSet, conds: tuple[str, ...], depth: int,
          acc: list[PortSet], restricted: list[tuple[PortSet, str]],
          blocked: list[tuple[PortSet, str]] | None = None) -> PortSet:
    """Walk ``chain`` for ``pending`` ports; return the ports that leave it undecided (end of
    chain or RETURN). ``conds`` are restrictions inherited from a conditional jump: accepts under
    them only open the port for some peers."""
    if depth > 20:  # a loop in the rule set; iptables refuses those, be safe anyway
        return pending
    returned = PortSet()
    for rule in rs.chains.get(chain, []):
        if not pending:
            break
        if rule.irrelevant or not rule.verdict:
            continue
        hit = pending & rule.ports
        if not hit:
            continue
        local = rule.conditions
        why = rule.text if not conds else f"{rule.text} (reached via {'; '.join(conds)})"
        if rule.verdict == "accept":
            if conds or local:
                restricted.append((hit, why))
            else:
                acc.append(hit)
            if not local:
                pending = pending - hit
        elif rule.verdict in ("drop", "reject"):
            if not local:
                pending = pending - hit
                if blocked is not None and not conds:
                    blocked.append((hit, rule.text))
        elif rule.verdict in ("jump", "goto"):
            back = _walk(rs, rule.target, hit, conds + local, depth + 1, acc, restricted,
                         blocked if not local else None)
            if not local:
                pending = pending - (hit - back)
                if rule.verdict == "goto":  # what the target leaves undecided returns to our caller
                    returned = returned | back
                    pending = pending - hit
        elif rule.verdict == "return" and not local:
            returned = returned | hit
            pending = pending - hit
    return pending | returned


def acceptance(rs: Ruleset) -> Acceptance:
    """Evaluate INPUT (or the nft base chain) for all TCP ports."""
    chain = rs.policies.get("__base__", "INPUT")
    policy = rs.policies.get(chain, "ACCEPT").upper()
    acc: list[PortSet] = []
    restricted: list[tuple[PortSet, str]] = []
    blocked: list[tuple[PortSet, str]] = []
    left = _walk(rs, chain, PortSet.all(), (), 0, acc, restricted, blocked)
    open_ = PortSet()
    for p in acc:
        open_ = open_ | p
    if policy == "ACCEPT":
        open_ = open_ | left
    restricted = [(p - open_, t) for p, t in restricted if p - open_]
    if policy != "ACCEPT" and left:
        blocked.append((left, f"policy {policy} of {chain}"))
    return Acceptance(open_, restricted, policy, rs.source, blocked)


def combine(views: Sequence[Acceptance]) -> Acceptance:
    """A packet passes every input-hook chain: intersect (iptables view and nft base chains)."""
    if not views:
        return Acceptance(PortSet.all(), [], "ACCEPT", "no firewall")
    open_ = views[0].open
    any_ = views[0].any_peer()
    restricted = list(views[0].restricted)
    for v in views[1:]:
        open_ = open_ & v.open
        any_ = any_ & v.any_peer()
        restricted += v.restricted
    restricted = [(p & (any_ - open_), t) for p, t in restricted if p & (any_ - open_)]
    return Acceptance(open_, restricted, "/".join(v.policy for v in views),
                      " + ".join(v.source for v in views), [b for v in views for b in v.blocked],
                      list(views))


# --------------------------------------------------------------------------- parity, fix lines

@dataclass(frozen=True)
class Gap:
    """A port (range) IPv4 accepts but IPv6 does not (or only for fewer peers)."""

    ports: PortSet
    kind: str  # "missing" | "narrower"
    ipv4_rule: str


def parity(v4: Acceptance, v6: Acceptance) -> list[Gap]:
    """What IPv6 lacks compared to IPv4 (the story's head node: DPM talks to itself over IPv6)."""
    gaps: list[Gap] = []
    missing = v4.any_peer() - v6.any_peer()
    narrower = v4.open & (v6.any_peer() - v6.open)
    for a, b in missing.intervals:
        one = PortSet.of([(a, b)])
        how = next((t for p, t in v4.restricted if p & one), "")
        gaps.append(Gap(one, "missing", how))
    for a, b in narrower.intervals:
        gaps.append(Gap(PortSet.of([(a, b)]), "narrower", ""))
    return gaps


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
    only_saved = [t for k, t in zip(sk, stext, strict=True) if k not in lk]
    only_live = [t for k, t in zip(lk, ltext, strict=True) if k not in sk]
    order = not only_saved and not only_live and sk != lk
    return SavedDiff(pol, only_saved, only_live, order)
