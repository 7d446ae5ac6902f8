"""Firewall rule sets -> the TCP ports a host accepts from the network, per address family.

Why our own evaluator: a port is open only if the *first* deciding rule on its path through
INPUT (jumps into user chains followed, RETURN honoured, the policy at the end) accepts it.
Grepping for ``--dport <port>`` misses multiport lists, ranges, earlier DROPs and the policy.

This module is the model and its evaluation: port sets, rules, chains, what the input hook
accepts, IPv4/IPv6 parity. The readers fill the model from what the host prints: :mod:`iptables`
(``iptables-save``, ``ip(6)tables -S``, saved files) and :mod:`nft` (``nft -j list ruleset``:
firewalld, nftables.conf); :mod:`fwkind` says which firewall a host runs. Everything is plain
functions over text, unit-tested on real dumps under ``selftests/unit/data``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
        """Parse iptables port syntax: ``22``, ``30000:30100``, ``22,80,30000:30100``."""
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
