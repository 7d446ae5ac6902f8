"""Native nftables (``nft -j list ruleset``) -> the firewall model of :mod:`firewall`.

Why a module of its own: EL9 hosts run firewalld or a plain /etc/sysconfig/nftables.conf, both
native nftables. Their rule sets use what iptables text never shows: several base chains on
the input hook (each must accept), zone dispatch by jump/goto (firewalld's ``filter_INPUT_ZONES``),
anonymous and named sets with intervals, verdict maps, ``ct state``/``ct status`` and family
matches (``meta nfproto``, ``ip``/``ip6`` payloads) inside ``inet`` tables.

Also here: the ruleset reduced to what a saved file can hold (no handles, counters or set
runtime state), so /etc/sysconfig/nftables.conf can be compared with the live rules.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from se_dualstack.concerns.firewall import PortSet, Rule, Ruleset

VERDICTS = ("accept", "drop", "reject", "return", "jump", "goto")
# tables iptables-nft (or firewalld's flush of the iptables backend) creates: not the site's own
IPTABLES_TABLES = {"filter", "nat", "mangle", "raw", "security"}
IPTABLES_CHAINS = {"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"}


def objects(text: str) -> list[dict[str, Any]]:
    """The list under ``nftables`` of ``nft -j`` output (empty for empty text)."""
    data = json.loads(text or '{"nftables": []}')
    return data.get("nftables", []) if isinstance(data, dict) else []


def _values(right: Any) -> list[Any]:
    """A match's right-hand side as a list: scalar, list, or anonymous ``{"set": [...]}``."""
    if isinstance(right, dict) and "set" in right:
        return list(right["set"])
    return list(right) if isinstance(right, list) else [right]


def _ports(right: Any, sets: dict[str, list[Any]]) -> PortSet | None:
    """Port values (int, range, set, named set '@name') -> PortSet; None if not only ports."""
    if isinstance(right, str) and right.startswith("@"):
        return _ports({"set": sets.get(right[1:], [])}, sets) if right[1:] in sets else None
    if isinstance(right, bool):
        return None
    if isinstance(right, int):
        return PortSet.of([(right, right)])
    if isinstance(right, dict) and "range" in right:
        a, b = right["range"]
        return PortSet.of([(int(a), int(b))])
    if isinstance(right, dict) and "elem" in right:  # a set element with timeout/counter
        return _ports(right["elem"].get("val"), sets)
    if isinstance(right, (dict, list)) and (isinstance(right, list) or "set" in right):
        out = PortSet()
        for item in _values(right):
            sub = _ports(item, sets)
            if sub is None:
                return None
            out = out | sub
        return out
    return None


def _verdict(e: dict[str, Any]) -> tuple[str, str] | None:
    for v in VERDICTS:
        if v in e:
            target = e[v].get("target", "") if isinstance(e[v], dict) else ""
            return v, target
    return None


def _expand_vmaps(exprs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``tcp dport vmap { 22 : accept, 80 : jump x }`` -> one expression list per element."""
    for i, e in enumerate(exprs):
        if "vmap" in e:
            key, data = e["vmap"]["key"], e["vmap"]["data"]
            out = []
            for item in _values(data):
                if isinstance(item, list) and len(item) == 2:
                    match = {"match": {"op": "==", "left": key, "right": item[0]}}
                    out.append([*exprs[:i], match, item[1]])
            return out
    return [exprs]


def _rule(chain: str, exprs: list[dict[str, Any]], family: int, sets: dict[str, list[Any]],
          iface: str = "") -> Rule:
    """Reduce one nft rule (no vmap) to the port-acceptance view for one address family, for
    traffic arriving on ``iface`` (the external interface; empty: unknown)."""
    ports = PortSet.all()
    conds: list[str] = []
    irrelevant, verdict, target = "", "", ""
    own, other = ("ip6", "ip") if family == 6 else ("ip", "ip6")
    for e in exprs:
        v = _verdict(e)
        if v:
            verdict, target = v
            continue
        if "match" not in e:
            if "limit" in e or "quota" in e:
                conds.append(next(iter(e)))
            elif "xt" in e and e["xt"].get("type") == "match":  # iptables-nft's untranslated match
                conds.append(f"xt match {e['xt'].get('name', '?')}")
            continue  # counter, log, meta set, xt targets: no effect on the decision
        m = e["match"]
        left, right, op = m.get("left", {}), m.get("right"), m.get("op", "==")
        neg = op == "!="
        vals = _values(right)
        if "payload" in left:
            proto, fld = left["payload"].get("protocol"), left["payload"].get("field")
            if proto in ("tcp", "th") and fld == "dport":
                got = _ports(right, sets)
                if got is None:
                    conds.append(describe_match(m))
                else:
                    ports = ports & (got.invert() if neg else got)
            elif proto == other:
                irrelevant = irrelevant or f"{proto} packets only"
            elif proto == own and fld in ("protocol", "nexthdr"):
                if ("tcp" in vals or 6 in vals) == neg:
                    irrelevant = irrelevant or f"{proto} {fld} {vals}"
            elif proto in ("udp", "icmp", "icmpv6", "sctp", "udplite"):
                irrelevant = irrelevant or f"protocol {proto}"
            else:
                conds.append(describe_match(m))
        elif "meta" in left:
            key = left["meta"].get("key")
            if key in ("iifname", "iif") and vals == ["lo"]:
                if not neg:
                    irrelevant = irrelevant or "loopback only"
            elif key in ("iifname", "iif") and iface:
                # the external interface is where every peer comes from: matching it restricts
                # nothing (firewalld's zone dispatch), another interface never sees those peers
                hit = any(fnmatch.fnmatchcase(iface, str(v)) for v in vals)
                if hit == neg:
                    irrelevant = irrelevant or f"traffic arriving on {'/'.join(map(str, vals))} only"
            elif key == "nfproto":
                if (("ipv6" if family == 6 else "ipv4") in vals) == neg:
                    irrelevant = irrelevant or f"{'/'.join(map(str, vals))} packets only"
            elif key == "l4proto":
                if ("tcp" in vals or 6 in vals) == neg:
                    irrelevant = irrelevant or f"protocol {'/'.join(map(str, vals))}"
            else:
                conds.append(describe_match(m))
        elif "ct" in left and left["ct"].get("key") == "state":
            if ("new" in vals) == neg:
                irrelevant = irrelevant or "connection state " + ",".join(map(str, vals))
        elif "ct" in left and left["ct"].get("key") == "status" and not neg:
            irrelevant = irrelevant or "ct status " + ",".join(map(str, vals))  # e.g. dnat
        else:
            conds.append(describe_match(m))
    return Rule(chain, f"{rule_text(exprs)} (chain {chain})", ports, tuple(conds), irrelevant,
                verdict, target)


def named_sets(objs: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, list[Any]]]:
    """(family, table) -> set name -> elements."""
    out: dict[tuple[str, str], dict[str, list[Any]]] = {}
    for obj in objs:
        s = obj.get("set")
        if s:
            out.setdefault((s["family"], s["table"]), {})[s["name"]] = list(s.get("elem") or [])
    return out


def parse(text: str, family: int, skip_tables: Iterable[tuple[str, str]] = (),
          iface: str = "") -> list[Ruleset]:
    """Parse ``nft -j list ruleset``: one Ruleset per base chain on the input hook that sees
    ``family`` packets. A packet must pass every such chain, so callers intersect the results.
    ``skip_tables`` (family, name) leaves out tables already read through iptables; ``iface``
    is the interface peers arrive on (interface matches on it restrict nothing)."""
    objs = objects(text)
    fams = ("inet", "ip6") if family == 6 else ("inet", "ip")
    skip = set(skip_tables)
    sets = named_sets(objs)
    chains: dict[tuple[str, str], dict[str, list[Rule]]] = {}
    bases: list[tuple[str, str, str, str]] = []
    for obj in objs:
        if "chain" in obj:
            c = obj["chain"]
            tkey = (c["family"], c["table"])
            if c["family"] not in fams or tkey in skip:
                continue
            chains.setdefault(tkey, {})[c["name"]] = []
            if c.get("hook") == "input" and c.get("type", "filter") == "filter":
                bases.append((c["family"], c["table"], c["name"], c.get("policy", "accept")))
        elif "rule" in obj:
            r = obj["rule"]
            tkey = (r["family"], r["table"])
            if tkey in chains:
                for exprs in _expand_vmaps(r["expr"]):
                    chains[tkey].setdefault(r["chain"], []).append(
                        _rule(r["chain"], exprs, family, sets.get(tkey, {}), iface))
    out = []
    for fam, table, name, policy in bases:
        rs = Ruleset(policies={name: policy.upper(), "__base__": name}, chains=dict(chains[(fam, table)]),
                     source=f"nft table {fam} {table} chain {name}")
        out.append(rs)
    return out


def site_tables(objs: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """Tables the site made with nft or firewalld, not iptables-nft's compatibility tables."""
    objs = list(objs)
    chains: dict[tuple[str, str], set[str]] = {}
    for obj in objs:
        c = obj.get("chain")
        if c:
            chains.setdefault((c["family"], c["table"]), set()).add(c["name"])
    out = []
    for obj in objs:
        t = obj.get("table")
        if not t:
            continue
        key = (t["family"], t["name"])
        names = chains.get(key, set())
        if t["name"] in IPTABLES_TABLES and t["family"] in ("ip", "ip6", "arp", "bridge") and \
                names <= IPTABLES_CHAINS:
            continue
        out.append(key)
    return out


# --------------------------------------------------------------------------- text and comparison

def _value_text(v: Any) -> str:
    if isinstance(v, dict):
        if "set" in v:
            return "{ " + ", ".join(_value_text(x) for x in v["set"]) + " }"
        if "range" in v:
            return "-".join(map(str, v["range"]))
        if "prefix" in v:
            return f"{v['prefix']['addr']}/{v['prefix']['len']}"
        if "concat" in v:
            return " . ".join(_value_text(x) for x in v["concat"])
        if "elem" in v:
            return _value_text(v["elem"].get("val"))
        return json.dumps(v, separators=(",", ":"))
    if isinstance(v, list):
        return "{ " + ", ".join(_value_text(x) for x in v) + " }"
    return json.dumps(v) if isinstance(v, str) and not v.replace("-", "").isalnum() else str(v)


def _left_text(left: Any) -> str:
    if isinstance(left, dict):
        if "payload" in left:
            return f"{left['payload'].get('protocol')} {left['payload'].get('field')}"
        if "meta" in left:
            return f"meta {left['meta'].get('key')}"
        if "ct" in left:
            return f"ct {left['ct'].get('key')}"
        if "fib" in left:
            return "fib " + " . ".join(left["fib"].get("flags", [])) + f" {left['fib'].get('result')}"
    return _value_text(left)


def describe_match(m: dict[str, Any]) -> str:
    op = m.get("op", "==")
    sign = '' if op in ('==', 'in') else op + ' '
    return f"{_left_text(m.get('left'))} {sign}{_value_text(m.get('right'))}"


def rule_text(exprs: list[dict[str, Any]]) -> str:
    """An nft rule in (roughly) the syntax ``nft list`` prints, for messages."""
    parts = []
    for e in exprs:
        if "match" in e:
            parts.append(describe_match(e["match"]))
        elif "reject" in e and isinstance(e["reject"], dict):
            r = e["reject"]
            parts.append(f"reject with {r.get('type', '')} {r.get('expr', '')}".rstrip())
        elif (v := _verdict(e)) is not None:
            parts.append(f"{v[0]} {v[1]}".strip())
        elif "vmap" in e:
            parts.append(f"{_left_text(e['vmap']['key'])} vmap {_value_text(e['vmap']['data'])}")
        elif "counter" in e:
            continue
        else:
            parts.append(next(iter(e)))
    return " ".join(parts)


@dataclass
class NftDiff:
    """Saved rule set vs live, per table/chain (rules compared, not handles or counters)."""

    only_saved: list[str]
    only_live: list[str]

    @property
    def same(self) -> bool:
        return not (self.only_saved or self.only_live)

    def describe(self) -> str:
        parts = []
        if self.only_live:
            parts.append("live but not saved: " + " | ".join(self.only_live))
        if self.only_saved:
            parts.append("saved but not live: " + " | ".join(self.only_saved))
        return "; ".join(parts) or "no difference"


def _strip(exprs: list[dict[str, Any]]) -> str:
    return json.dumps([e for e in exprs if "counter" not in e], sort_keys=True)


def normalised(text: str, tables: Iterable[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """(where, what) items of a ruleset, without handles, counters or set runtime state:
    table, chain header (type, hook, priority, policy), each rule in order, set elements."""
    objs = objects(text)
    keep = set(tables) if tables is not None else set(site_tables(objs))
    out: list[tuple[str, str]] = []
    for obj in objs:
        kind = next(iter(obj))
        body = obj[kind]
        if kind not in ("table", "chain", "rule", "set", "map") or not isinstance(body, dict):
            continue
        tkey = (body["family"], body["name"] if kind == "table" else body["table"])
        if tkey not in keep:
            continue
        fam, tab = tkey
        if kind == "table":
            out.append((f"table {fam} {tab}", "table"))
        elif kind == "chain":
            hook = (f"type {body.get('type')} hook {body.get('hook')} priority {body.get('prio')}; "
                    f"policy {body.get('policy')}" if body.get("hook") else "regular chain")
            out.append((f"table {fam} {tab} chain {body['name']}", hook))
        elif kind == "rule":
            out.append((f"table {fam} {tab} chain {body['chain']}", _strip(body["expr"])))
        else:
            elems = sorted(json.dumps(x, sort_keys=True) for x in body.get("elem") or [])
            out.append((f"table {fam} {tab} {kind} {body['name']}", json.dumps(elems)))
    return out


def _readable(item: tuple[str, str]) -> str:
    where, what = item
    if what.startswith("["):
        try:
            return f"{where}: `{rule_text(json.loads(what))}`"
        except (ValueError, TypeError, AttributeError):
            pass
    return f"{where}: {what}"


def compare(saved: str, live: str) -> NftDiff:
    """Compare the ruleset a saved file loads (``nft -j`` of it) with the live ruleset, on the
    site's own tables (those in either side that iptables-nft did not make)."""
    tables = set(site_tables(objects(saved))) | set(site_tables(objects(live)))
    s, l_ = normalised(saved, tables), normalised(live, tables)
    only_saved = [_readable(x) for x in s if x not in l_]
    only_live = [_readable(x) for x in l_ if x not in s]
    if not only_saved and not only_live and s != l_:
        only_live = ["same rules in a different order"]
    return NftDiff(only_saved, only_live)
