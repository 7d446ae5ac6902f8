"""/etc/hosts and /etc/gai.conf, the two files of the seed story.

Why exact parsing: glibc reads /etc/hosts per line (address, then names; ``#`` starts a
comment) and gai.conf per line (``#`` anywhere starts a comment; a ``label`` line replaces the
*whole* built-in label table, so a partial table is worse than none). Comparing text would
trip over spacing, ``2001:0::/32`` vs ``2001::/32`` and comments.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


def _strip_comment(line: str) -> str:
    return line.split("#", 1)[0].strip()


@dataclass(frozen=True)
class HostsVerdict:
    ok: bool
    observed: str  # the ::1 lines found (or "no ::1 line")
    missing: tuple[str, ...]  # names not on any ::1 line
    fix_line: str  # the full line to add


def _same_ip(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def check_hosts(text: str, address: str, names: list[str]) -> HostsVerdict:
    """All ``names`` on ``address`` lines (extra names fine; glibc scans every line)."""
    lines, found = [], set()
    for raw in text.splitlines():
        body = _strip_comment(raw)
        words = body.split()
        if len(words) >= 2 and _same_ip(words[0], address):
            lines.append(" ".join(words))
            found.update(words[1:])
    missing = tuple(n for n in names if n not in found)
    observed = " | ".join(lines) if lines else f"no {address} line"
    fix = f"{address}         " + " ".join(names)
    return HostsVerdict(not missing, observed, missing, fix)


@dataclass(frozen=True)
class GaiVerdict:
    ok: bool
    present: tuple[str, ...]  # required lines found
    missing: tuple[str, ...]  # required lines absent, as to be written
    labels_in_file: int  # active label lines in the file (0 = glibc defaults)


def _label_key(words: list[str]) -> tuple[str, str, int] | None:
    if len(words) != 3 or words[0] != "label":
        return None
    try:
        net = ipaddress.IPv6Network(words[1], strict=False)
        return ("label", str(net), int(words[2]))
    except ValueError:
        return None


def check_gai_conf(text: str, required: list[str]) -> GaiVerdict:
    """Every required ``label`` line active in gai.conf (comments ignored, spacing free)."""
    active = set()
    count = 0
    for raw in text.splitlines():
        key = _label_key(_strip_comment(raw).split())
        if key:
            active.add(key)
            count += 1
    present, missing = [], []
    for line in required:
        key = _label_key(line.split())
        (present if key in active else missing).append(line)
    return GaiVerdict(not missing, tuple(present), tuple(missing), count)


# glibc's built-in precedence table (RFC 3484, gai.conf(5)): used until a file has a precedence line.
GLIBC_PRECEDENCE = (("::1/128", 50), ("::/0", 40), ("2002::/16", 30), ("::/96", 20), ("::ffff:0:0/96", 10))


def precedence_table(text: str) -> tuple[list[tuple[ipaddress.IPv6Network, int, str]], bool]:
    """(network, precedence, line) rows in force, and whether the file set them: the first
    ``precedence`` line of gai.conf replaces glibc's whole built-in table (gai.conf(5))."""
    rows = []
    for raw in text.splitlines():
        words = _strip_comment(raw).split()
        if len(words) == 3 and words[0] == "precedence":
            try:
                rows.append((ipaddress.IPv6Network(words[1], strict=False), int(words[2]), " ".join(words)))
            except ValueError:
                continue
    if rows:
        return rows, True
    return [(ipaddress.IPv6Network(n), p, f"precedence {n} {p} (glibc's default)")
            for n, p in GLIBC_PRECEDENCE], False


def _precedence(rows: list[tuple[ipaddress.IPv6Network, int, str]], address: str) -> tuple[int, str]:
    ip = ipaddress.ip_address(address)
    v6 = ipaddress.IPv6Address(f"::ffff:{ip}") if ip.version == 4 else ip
    best = max((r for r in rows if v6 in r[0]), key=lambda r: r[0].prefixlen, default=None)
    return (best[1], best[2]) if best else (0, "no precedence line (0)")


def prefers_ipv4(text: str, ipv6: str, ipv4: str) -> str:
    """Why glibc's getaddrinfo() sorts ``ipv4`` before ``ipv6`` with this gai.conf ("" it does not)."""
    rows, own = precedence_table(text)
    p6, line6 = _precedence(rows, ipv6)
    p4, line4 = _precedence(rows, ipv4)
    if p4 <= p6:
        return ""
    where = "its /etc/gai.conf" if own else "glibc's default table"
    return (f"{where} ranks IPv4 above IPv6 ({line4} for {ipv4}, over {line6} for {ipv6}), so "
            "getaddrinfo() lists the IPv4 address first")
