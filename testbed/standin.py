"""Stand-in for a DPM head node daemon (SRM, DPNS, DPM are not packaged for Debian 12).

One process per port, so a process check finds `dpm-srm-v2_2`, `dpnsdaemon` and `dpm` by name
exactly as on a real DPM head node. It listens on the IPv6 wildcard with IPV6_V6ONLY=0 (one
socket, both families: what a correctly dual-stacked daemon does) or on 0.0.0.0 only under the
`service_ipv4_only` fault, and answers every connection with a one-line banner saying what it
is. With --tls it wraps connections in TLS with the host certificate (SRM is HTTPS-like).

With --port 0 it listens nowhere: a marker process for a daemon whose ports are internal to its
host (StoRM's backend).

Usage: python3 -m testbed.standin --name dpm-srm-v2_2 --port 8446 [--ipv4-only]
       [--tls CERT KEY] [--pidfile FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import socket
import ssl
import sys
import threading

PR_SET_NAME = 15


def set_process_name(name: str) -> None:
    """Set /proc/self/comm (what ps, pgrep and testinfra's process module see) via prctl."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except OSError:  # no libc handle: the banner still says what this is
        pass


def listen_socket(port: int, ipv4_only: bool) -> socket.socket:
    """One listening socket: [::]:port dual-stack, or 0.0.0.0:port under the IPv4-only fault."""
    if ipv4_only:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        addr: tuple = ("0.0.0.0", port)
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        addr = ("::", port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(64)
    return s


def serve_one(conn: socket.socket, banner: bytes, ctx: ssl.SSLContext | None) -> None:
    """Send the banner (after the TLS handshake if any) and close; never block the acceptor."""
    conn.settimeout(5)
    try:
        if ctx is not None:
            conn = ctx.wrap_socket(conn, server_side=True)
        conn.sendall(banner)
    except (OSError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(OSError):
            conn.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="process name to take (comm, 15 chars max)")
    ap.add_argument("--port", type=int, required=True, help="0: listen nowhere (a marker process)")
    ap.add_argument("--ipv4-only", action="store_true", help="fault: bind 0.0.0.0 only")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve TLS with this certificate")
    ap.add_argument("--pidfile")
    a = ap.parse_args(argv)

    set_process_name(a.name)
    ctx = None
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
    sock = listen_socket(a.port, a.ipv4_only) if a.port else None
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if sock is None:
        while True:
            signal.pause()
    banner = (
        f"{a.name} se-testbed stand-in (not packaged for Debian 12) on port {a.port}"
        f"{' TLS' if ctx else ''}\r\n"
    ).encode()
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_one, args=(conn, banner, ctx), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
