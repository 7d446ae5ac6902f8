"""A third-party copy's own leg and its refusals, on captured real outputs (data/tpc/: testbed
site tpc-leg, fault gai_prefers_ipv4 on disk02): connection tracking before and after a davs pull
that went over IPv4, a socket table during a root pull, what disk02 says of itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import fakesite
import pytest

from se_dualstack.concerns import resolver
from se_dualstack.transfer.cases import tpc_cases
from se_dualstack.transfer.outcome import Step, TransferResult
from se_dualstack.transfer.tpc import LegWatch, parse_conntrack, parse_ss, port_test, refusal, why_ipv4

DATA = Path(__file__).with_name("data")
TPC = DATA / "tpc"
D1, D2 = "disk01.example.test", "disk02.example.test"
PUBLISHED = {D1: {"fd42:6::11", "10.42.0.11"}, D2: {"fd42:6::12", "10.42.0.12"}}


@dataclass
class Out:
    stdout: str
    rc: int = 0


@dataclass
class File:
    content_string: str = ""
    exists: bool = True


@dataclass
class Host:
    """Answers each command with its captured outputs in turn (the last one repeats)."""

    answers: dict[str, list[str]]
    files: dict[str, str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def run(self, cmd: str, *args: str) -> Out:
        cmd = cmd % args if args else cmd
        self.asked.append(cmd)
        key = next((k for k in self.answers if cmd.startswith(k)), None)
        if key is None:
            return Out("", 1)
        seq = self.answers[key]
        return Out(seq.pop(0) if len(seq) > 1 else seq[0])

    def file(self, path: str) -> File:
        return File(self.files[path]) if path in self.files else File(exists=False)


def _text(name: str) -> str:
    return (TPC / name).read_text()


def _case(protocol: str, mode: str = "") -> object:
    return next(c for c in tpc_cases(fakesite.site(), [protocol], auths=("x509", "token"))
                if c.mode == mode)


def _watch(case: object, d1: Host, d2: Host) -> LegWatch:
    site = fakesite.site()
    return LegWatch(case, {D1: d1, D2: d2}, PUBLISHED,  # type: ignore[arg-type]
                    {h.name: port_test(h, case.protocol) for h in site.hosts[1:]})  # type: ignore[attr-defined]


def test_connection_tracking_read_in_the_original_direction() -> None:
    after = parse_conntrack(_text("nf-conntrack-disk01-after-davs-tpc-pulled-over-ipv4.txt"))
    assert ("CLOSE", "10.42.0.12", 33370, "10.42.0.11", 443) in after, "the pull: disk02 opened it"
    assert all(isinstance(p, int) for _, _, p, _, _ in after)
    assert any(a == "fd42:6::2" for _, a, _, _, _ in after), "IPv6 addresses in their short form"


def test_the_ipv4_pull_is_found_in_connection_tracking_and_pinned_on_the_puller() -> None:
    addrs = "1: lo inet 127.0.0.1/8\n2: eth0 inet 10.42.0.11/24\n2: eth0 inet6 fd42:6::11/64"
    d1 = Host({"ip -o addr": [addrs],
               "cat /proc/net/nf_conntrack": [_text("nf-conntrack-disk01-before-davs-tpc.txt"),
                                              _text("nf-conntrack-disk01-after-davs-tpc-pulled-over-ipv4.txt")],
               "ss -tanH": [""]})
    d2 = Host({"ip -o addr": [_text("ip-o-addr-disk02.txt")], "ss -tanH": [""]})  # no conntrack: rc 1
    with _watch(_case("davs"), d1, d2) as w:
        pass
    assert [(g.src, g.dst, g.dport, g.opened_by, g.how) for g in w.legs] == [
        ("10.42.0.12", "10.42.0.11", 443, D2, "connection tracking"),
        ("10.42.0.12", "10.42.0.11", 443, D2, "connection tracking")], w.legs
    assert [g.family for g in w.wrong(6)] == [4, 4], "an IPv6 copy whose leg went over IPv4"
    assert "server-to-server leg observed over IPv4: 10.42.0.12:33370 -> 10.42.0.11:443" in w.line()
    assert not any(g.src == "fd42:6::2" for g in w.legs), "the client's own connections are no leg"
    assert f"{D2}: `cat /proc/net/nf_conntrack` exited 1" in w.errors, "an unreadable table is noted"


def test_a_running_pull_is_found_in_the_socket_table() -> None:
    conns = parse_ss(_text("ss-tanH-disk02-during-root-tpc.txt"))
    assert ("ESTAB", "fd42:6::12", 34366, "fd42:6::11", 1094) in conns, conns
    assert not [c for c in conns if c[0] == "LISTEN"], "listeners are left out"
    d2 = Host({"ip -o addr": [_text("ip-o-addr-disk02.txt")], "ss -tanH": [
        "", _text("ss-tanH-disk02-during-root-tpc.txt")]})  # before the copy, then during it
    d1 = Host({"ip -o addr": ["2: eth0 inet 10.42.0.11/24\n2: eth0 inet6 fd42:6::11/64"], "ss -tanH": [""]})
    with _watch(_case("root"), d1, d2) as w:
        pass
    assert [(str(g.dst), g.dport, g.opened_by, g.family) for g in w.legs] == [("fd42:6::11", 1094, D2, 6)]
    assert w.wrong(6) == [], "an IPv6 leg passes"
    assert w.active() == [D2], "the destination pulls a root copy"


def test_a_connection_open_before_the_copy_is_no_leg() -> None:
    """Seen before the copy began: another copy's (a davs push's TIME-WAIT on a dCache pool's WAN
    range, which FTP movers share) or a channel the copy may reuse (ESTAB): never the leg."""
    during = _text("ss-tanH-disk02-during-root-tpc.txt")
    d2 = Host({"ip -o addr": [_text("ip-o-addr-disk02.txt")], "ss -tanH": [during]})
    d1 = Host({"ip -o addr": ["2: eth0 inet 10.42.0.11/24\n2: eth0 inet6 fd42:6::11/64"], "ss -tanH": [""]})
    with _watch(_case("root"), d1, d2) as w:
        pass
    assert w.legs == [], "open before the copy: not the copy's own connection"
    assert [(g.dst, g.dport) for g in w.kept] == [("fd42:6::11", 1094)]
    assert ("open before the copy, which it may have reused: [fd42:6::12]:34366 -> [fd42:6::11]:1094"
            in w.line()), w.line()


def test_nothing_seen_says_so() -> None:
    quiet = Host({"ip -o addr": [""], "ss -tanH": [""], "cat /proc/net/nf_conntrack": [""]})
    with _watch(_case("davs", "push"), quiet, quiet) as w:
        pass
    assert w.legs == []
    assert w.line().startswith("server-to-server leg not observed (no new connection between the two ends")
    assert w.active() == [D1], "a push is opened by the source"


def test_why_the_puller_chose_ipv4() -> None:
    ps = _text("ps-eo-pid-args-disk02.txt")
    d2 = Host({"getent ahosts": [_text("getent-ahosts-disk01-from-disk02.txt")], "ps -eo": [ps],
               "tr ": [_text("environ-xrootd-disk02-prefer-ipv4.txt")]},
              files={"/etc/gai.conf": _text("gai.conf-prefers-ipv4"),
                     "/run/se-testbed/hp1/hosts/disk02/srv/xrd/xrootd.cfg": "xrd.network nodnr\n"})
    why = why_ipv4(d2, D2, D1, "fd42:6::11", "10.42.0.11")
    assert why[0].startswith("its /etc/gai.conf ranks IPv4 above IPv6 (precedence ::ffff:0:0/96 100 for "
                             "10.42.0.11"), why
    assert any("xrootd (pid 613) runs with XRD_PREFERIPV4=1 in its environment" in w for w in why), why
    assert any("sets `xrd.network nodnr`" in w for w in why), why
    assert not any("resolves" in w for w in why), "disk02 sees disk01's AAAA"
    blind = Host({"getent ahosts": ["10.42.0.11      STREAM disk01.example.test\n"], "ps -eo": [""]})
    assert why_ipv4(blind, D2, D1, "fd42:6::11", "10.42.0.11") == [
        f"{D2} resolves {D1} to no IPv6 address (getent ahosts: 10.42.0.11)"]


@pytest.mark.parametrize(("name", "prefers"), [
    ("gai.conf-prefers-ipv4", True),  # tpc/, the fault's file
    ("gai.conf-debian12-commented", False),  # glibc's table: IPv6 (40) over IPv4 (10)
    ("gai.conf-full-story", False),  # labels only
])
def test_gai_conf_precedence(name: str, prefers: bool) -> None:
    path = TPC / name if (TPC / name).exists() else DATA / name
    assert bool(resolver.prefers_ipv4(path.read_text(), "fd42:6::11", "10.42.0.11")) is prefers


def test_gai_conf_rfc6724_table_keeps_ipv6_first() -> None:
    rfc6724 = ("precedence ::1/128 50\nprecedence ::/0 40\nprecedence ::ffff:0:0/96 35\n"
               "precedence 2002::/16 30\nprecedence 2001::/32 5\nprecedence fc00::/7 3\n")
    assert resolver.prefers_ipv4(rfc6724, "2001:db8:1::1", "192.0.2.1") == ""
    assert resolver.prefers_ipv4(rfc6724, "fd42:6::11", "10.42.0.11"), "ULA (3) loses to IPv4 (35)"


def _failed(error: str) -> TransferResult:
    r = TransferResult("c", "root", 6, 1)
    r.steps = [Step("tpc", "failed", 2.5, error=error)]
    return r


def test_a_refusal_quotes_this_runs_answer_and_the_version() -> None:
    case = _case("root")
    token = next(c for c in tpc_cases(fakesite.site(), ["root"], auths=("token",)))
    error = ("Error on XrdCl::CopyProcess::Run(): [ERROR] Server responded with an error: [3030] [FATAL] "
             "Auth failed: No protocols left to try (source)\x00")
    why = refusal(token, _failed(error), lambda: "v5.5.3")
    assert why.startswith(f"root third-party copy with a token credential refused by the servers: {D2} "
                          "(XRootD v5.5.3) answered \"[3030] [FATAL] Auth failed: No protocols left to try "
                          "(source)\""), why
    assert "fcreds ?ztn" in why, "how a site lets it"
    assert refusal(case, _failed(error), lambda: "v5.5.3") == "", "with a proxy it is a failure"
    assert refusal(token, _failed("[3010] permission denied"), lambda: "v") == "", "another failure"


def test_a_push_beside_a_pull_takes_only_its_own_direction() -> None:
    """Copies run side by side: the pull's connection (disk02 -> disk01:443) is no leg of a push,
    which disk01 opens."""
    d1 = Host({"ip -o addr": ["2: eth0 inet 10.42.0.11/24\n2: eth0 inet6 fd42:6::11/64"],
               "cat /proc/net/nf_conntrack": [_text("nf-conntrack-disk01-before-davs-tpc.txt"),
                                              _text("nf-conntrack-disk01-after-davs-tpc-pulled-over-ipv4.txt")],
               "ss -tanH": [""]})
    d2 = Host({"ip -o addr": [_text("ip-o-addr-disk02.txt")], "ss -tanH": [""]})
    with _watch(_case("davs", "push"), d1, d2) as w:
        pass
    assert w.legs == [], w.legs
