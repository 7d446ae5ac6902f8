"""The token issuer's https server: OpenID discovery document and JWKS, nothing else.

Why a real server: SciTokens (scitokens-cpp, inside every XRootD server) validates a token by
fetching `<iss>/.well-known/openid-configuration`, then the `jwks_uri` it names, over https with
the system CA store. Serving both from a host of the site, under its own DNS name, with a
certificate of the test CA, is what makes the servers' token checks real (and visible: every
request is logged with the peer's address).

Minting is not done here (testbed/tokens.py mints into the state dir at `up`): a WLCG issuer
hands tokens to clients through OIDC flows the testbed does not need.

The same process publishes the test CA's CRL over plain http (`--crl-dir`, port 80), as a CA's
web server does at the URL its certificates and `<hash>.crl_url` name (crl.<domain>, the issuer
host's addresses): storage servers and fetch-crl download CRLs over the network too, so an
IPv6-only SE depends on that URL answering over IPv6.

Run inside the issuer host (stdlib only, so it starts with `python3 -I -S`):
    python3 -I -S issuer.py --docroot DIR --cert CERT --key KEY [--port 443] [--pidfile FILE]
                            [--ipv4-only] [--crl-dir DIR --http-port 80]
DIR holds `openid-configuration.json` and `jwks.json`. `--ipv4-only` (fault issuer_ipv4_only)
binds the https service to 0.0.0.0 only; the CRL listener stays dual-stack.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROUTES = {
    "/.well-known/openid-configuration": "openid-configuration.json",
    "/jwks.json": "jwks.json",
}


class DualStackServer(ThreadingHTTPServer):
    """One [::] socket with IPV6_V6ONLY=0: reachable over both families, as a dual-stacked
    issuer should be (the servers resolve the issuer's name and may pick either). With ``tls``
    unset it serves plain http (the CRL)."""

    address_family = socket.AF_INET6
    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        """TLS handshake in the request's own thread: a stalled client never blocks accept()."""
        request.settimeout(10)
        if self.tls is not None:
            request = self.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {client_address[0]} error: {sys.exc_info()[1]}\n")
        sys.stderr.flush()


class IPv4OnlyServer(DualStackServer):
    """0.0.0.0 only (fault issuer_ipv4_only): no IPv6 listener at all."""

    address_family = socket.AF_INET


def make_handler(docroot: Path, routes: dict[str, str] | None = None,
                 ctype: str = "application/json") -> type[BaseHTTPRequestHandler]:
    """A handler serving ``routes`` (URL path -> file name in ``docroot``) and nothing else."""
    table = ROUTES if routes is None else routes

    class Handler(BaseHTTPRequestHandler):
        server_version = "se-testbed-issuer/1"
        timeout = 10  # a stuck client never holds a thread for long

        def do_GET(self) -> None:  # http.server calls it by this name
            name = table.get(self.path.split("?", 1)[0])
            if name is None:
                self.send_error(404, f"only {', '.join(sorted(table))} are served here")
                return
            body = (docroot / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "max-age=600")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: object) -> None:
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.client_address[0]} {fmt % args}\n")
            sys.stderr.flush()

    return Handler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docroot", required=True, type=Path)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--pidfile")
    ap.add_argument("--ipv4-only", action="store_true", help="fault: https on 0.0.0.0 only")
    ap.add_argument("--crl-dir", type=Path, help="serve the *.crl files here over http")
    ap.add_argument("--http-port", type=int, default=80)
    args = ap.parse_args(argv)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    cls, host = (IPv4OnlyServer, "0.0.0.0") if args.ipv4_only else (DualStackServer, "::")
    httpd = cls((host, args.port), make_handler(args.docroot))
    httpd.tls = ctx
    crl = None
    if args.crl_dir:
        files = {f"/{p.name}": p.name for p in sorted(args.crl_dir.glob("*.crl"))}
        handler = make_handler(args.crl_dir, files, "application/pkix-crl")
        crl = DualStackServer(("::", args.http_port), handler)
        threading.Thread(target=crl.serve_forever, daemon=True).start()
    if args.pidfile:
        Path(args.pidfile).write_text(f"{os.getpid()}\n")
    sys.stderr.write(f"issuer serving {args.docroot} on {host}:{args.port}"
                     + (f"; CRLs {args.crl_dir} on [::]:{args.http_port} (http)" if crl else "") + "\n")
    sys.stderr.flush()
    httpd.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
