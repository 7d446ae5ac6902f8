"""Family evidence and forcing: /proc socket tables, shim and PASV lines, the compiled shim."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from se_dualstack.transfer import protocols
from se_dualstack.transfer.evidence import (
    Connection,
    family_violations,
    parse_pasv_event,
    parse_proc_addr,
    parse_proc_tcp,
    parse_shim_line,
    wire_family,
)
from se_dualstack.transfer.shim import build_shim


def test_parse_proc_tcp_and_families() -> None:
    tcp = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout"
           " inode\n"
           "   0: 0100007F:0016 0B002A0A:0B01 01 00000000:00000000 00:00000000 00000000 0 0 111 1\n"
           "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 222 1\n")
    assert parse_proc_tcp(tcp, {"111", "222"}) == [(4, "10.42.0.11", 2817)], "listener must be skipped"
    v6 = "0000000000000000FFFF00000B002A0A:0446"
    assert parse_proc_addr(v6) == ("::ffff:10.42.0.11", 1094), parse_proc_addr(v6)
    assert wire_family("::ffff:10.42.0.11") == 4, "a mapped address is IPv4 on the wire"
    raw = socket.inet_pton(socket.AF_INET6, "fd42:6::11")
    hexed = "".join(raw[i:i + 4][::-1].hex().upper() for i in range(0, 16, 4))
    assert parse_proc_addr(hexed + ":0050") == ("fd42:6::11", 80), "IPv6 word order"


def test_shim_and_pasv_lines_become_connections() -> None:
    c = parse_shim_line("connect 6 fd42:6::11 1094 -1 115")
    assert c is not None, c
    assert c.family == 6, c
    assert not c.error, c
    assert not c.refused, c
    r = parse_shim_line("refused 4 10.42.0.11 1094 -1 101")
    assert r is not None, r
    assert r.refused, r
    f = parse_shim_line("connect 6 fd42:6::11 1094 -1 111")
    assert f is not None, f
    assert f.error == os.strerror(111), f
    assert parse_shim_line("garbage") is None, "garbage must not parse"
    p = parse_pasv_event("IPV6: [fd42:6::11]:20001")
    assert p == Connection(6, "fd42:6::11", 20001, "pasv"), p
    conns = [c, r, f, Connection(4, "10.42.0.11", 2811, "proc")]
    assert family_violations(conns, 6) == [conns[3]], "only the used IPv4 connection is a violation"
    assert family_violations(conns[:3], 6) == [], "refused and failed attempts carried no traffic"


def test_forcing_description_is_honest() -> None:
    davs, root, gsiftp = protocols.get("davs"), protocols.get("root"), protocols.get("gsiftp")
    assert "NOT forced" in davs.forcing_description(6, None, False), "davs has no switch of its own"
    assert "XRD_NETWORKSTACK=IPv6" in root.forcing_description(6, None, False), "root"
    assert "family shim" in gsiftp.forcing_description(4, "/x.so", False), "shim"
    assert "GRIDFTP PLUGIN:IPV6=false" in gsiftp.forcing_description(4, "/x.so", False), "gsiftp's option"
    assert not davs.is_forced(None, False), "nothing forces davs without shim or alias"
    assert davs.is_forced(None, True), "alias forces"
    assert root.is_forced(None, False), "XRD_NETWORKSTACK forces root by itself"


def test_family_shim_forces_connect_and_getaddrinfo(tmp_path: Path) -> None:
    """The compiled shim, on loopback: the other family is refused and logged, ours goes through."""
    shim, why = build_shim()
    if shim is None:
        pytest.skip(f"no shim: {why}")
    code = ("import socket,sys\n"
            "for a in ('127.0.0.1','::1','::ffff:127.0.0.1'):\n"
            "    s=socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET)\n"
            "    try: s.connect((a, 9))\n"
            "    except OSError as e: print(a, e.errno)\n"
            "try: socket.getaddrinfo('127.0.0.1', 9)\n"
            "except socket.gaierror as e: print('gai', e.errno)\n")
    log = tmp_path / "log"
    env = {**os.environ, "LD_PRELOAD": shim, "SE6_FAMILY": "6", "SE6_CONNLOG": str(log)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert "127.0.0.1 101" in lines, f"IPv4 not refused: {out}"
    assert "::ffff:127.0.0.1 101" in lines, f"IPv4 not refused: {out}"
    assert any(x.startswith("::1 ") and not x.endswith(" 101") for x in lines), f"IPv6 refused: {out}"
    assert "refused 4 127.0.0.1 9" in log.read_text(), log.read_text()
    assert f"gai {socket.EAI_ADDRFAMILY}" in lines or any(x.startswith("gai ") for x in lines), (
        f"an IPv4 literal must not resolve when IPv6 is forced: {out}")
