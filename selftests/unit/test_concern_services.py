"""listening.py on real ``ss`` outputs (iproute2 6.1) captured in a network namespace with
listeners of each kind: dual-stack ``*:P``, V6ONLY ``[::]:P``, ``0.0.0.0:P``, loopback and
specific addresses, net.ipv6.bindv6only=1; plus the client-side connect and FTS message."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from se_dualstack.concerns import services as L

DATA = Path(__file__).parent / "data"


def parsed(name: str) -> list[L.Listener]:
    return L.parse_ss((DATA / name).read_text())


@pytest.mark.parametrize("name", ["ss-Htlnp-headnode.txt", "ss-tlnp-headnode.txt", "ss-Htlne-headnode.txt"])
def test_dual_stack_wildcard_serves_both(name):
    ls = parsed(name)
    for port in (1094, 443, 2811):
        assert L.listening_on(ls, port, 6).ok, port
        v4 = L.listening_on(ls, port, 4)
        assert v4.ok, v4
        assert 'without V6ONLY' in v4.detail, v4


def test_v6only_wildcard_needs_its_own_ipv4_socket():
    ls = parsed("ss-Htlnp-headnode.txt")
    assert L.listening_on(ls, 5010, 6).ok, "[::]:5010"
    assert L.listening_on(ls, 5010, 4).detail == "listening on 0.0.0.0:5010", "separate IPv4 socket"


def test_ipv4_only_service_fails_ipv6():
    v = L.listening_on(parsed("ss-Htlnp-headnode.txt"), 8446, 6)
    assert not v.ok, v
    assert '0.0.0.0:8446' in v.detail, v
    v = L.listening_on(parsed("ss-Htlnp-ipv4-only-xrootd.txt"), 1094, 6)
    assert not v.ok, v


def test_loopback_ipv4_and_specific_ipv6():
    ls = parsed("ss-Htlnp-headnode.txt")
    assert L.listening_on(ls, 5015, 6).ok, "specific global IPv6 address counts"
    v = L.listening_on(ls, 5015, 4)
    assert not v.ok, v
    assert '127.0.0.1:5015' in v.detail, v


def test_bindv6only_1_makes_plain_ipv6_socket_v6only():
    ls = parsed("ss-Htlnp-bindv6only1-disknode.txt")
    v = L.listening_on(ls, 1094, 4, bindv6only=1)
    assert not v.ok, v
    assert 'V6ONLY' in v.detail, v
    assert 'bindv6only=1' in v.detail, v
    assert L.listening_on(ls, 1094, 6).ok, "still IPv6"


def test_old_ss_format_uses_bindv6only():
    # iproute2 before 4.x (EL6/early EL7) prints the IPv4 wildcard as "*" and IPv6 as ":::"
    old = ("State      Recv-Q Send-Q        Local Address:Port          Peer Address:Port\n"
           "LISTEN     0      128                      :::1094                    :::*\n"
           "LISTEN     0      128                       *:2811                     *:*\n")
    ls = L.parse_ss(old)
    assert L.listening_on(ls, 2811, 4).ok, 'old * is IPv4'
    assert not L.listening_on(ls, 2811, 6).ok, 'old * is IPv4'
    assert L.listening_on(ls, 1094, 4, bindv6only=0).ok, "bindv6only=0: ::: also serves IPv4"
    assert not L.listening_on(ls, 1094, 4, bindv6only=1).ok, "bindv6only=1: IPv6 only"


def test_nothing_listening():
    assert L.listening_on(parsed("ss-Htlnp-headnode.txt"), 9999, 6).detail == \
        "nothing listens on TCP port 9999", "message"


def test_process_names_and_comm_truncation():
    ls = parsed("ss-Htlnp-headnode.txt")
    assert L.owners(ls, 2811) == ["globus-gridftp-"], L.owners(ls, 2811)
    assert L.comm_matches("globus-gridftp-", "globus-gridftp-server"), "15-char comm"
    assert L.comm_matches('xrootd', 'xrootd'), 'exact'
    assert not L.comm_matches('xrootd', 'xrootd-cmsd'), 'exact'


def test_connect_refused_and_fts_message():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = L.connect("127.0.0.1", port, timeout=2)
    assert not r.ok, r
    assert 'refused' in r.error.lower(), r
    msg = L.fts_message("head.example.test", 8446, 6, [L.ConnectResult("fd42:6::10", 8446, False,
                                                                       "Connection refused")])
    assert msg == ("could not open connection to head.example.test:8446 over IPv6 "
                   "([fd42:6::10]:8446: Connection refused)"), msg


def test_connect_ok():
    srv = socket.socket(socket.AF_INET6)
    srv.bind(("::1", 0))
    srv.listen()
    try:
        r = L.connect("::1", srv.getsockname()[1], timeout=2)
        assert r.ok, r
        assert r.endpoint.startswith('[::1]:'), r
    finally:
        srv.close()
