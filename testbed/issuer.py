"""The token issuer's https server: OpenID discovery document and JWKS, nothing else.

Why a real server: SciTokens (scitokens-cpp, inside every XRootD server) validates a token by
fetching `<iss>/.well-known/openid-configuration`, then the `jwks_uri` it names, over https with
the system CA store. Serving both from a host of the site, under its own DNS name, with a
certificate of the test CA, is what makes the servers' token checks real (and visible: every
request is logged with the peer's address).

Minting is not done here (testbed/tokens.py mints into the state dir at `up`): a WLCG issuer
hands tokens to clients through OIDC flows the testbed does not need.

Run inside the issuer host (stdlib only, so it starts with `python3 -I -S`):
    python3 -I -S issuer.py --docroot DIR --cert CERT --key KEY [--port 443] [--pidfile FILE]
DIR holds `openid-configuration.json` and `jwks.json`.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROUTES = {
    "/.well-known/openid-configuration": "openid-configuration.json",
    "/jwks.json": "jwks.json",
}


class DualStackServer(ThreadingHTTPServer):
    """One [::] socket with IPV6_V6ONLY=0: reachable over both families, as a dual-stacked
    issuer should be (the servers resolve the issuer's name and may pick either)."""

    address_family = socket.AF_INET6
    daemon_threads = True
    tls: ssl.SSLContext

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        """TLS handshake in the request's own thread: a stalled client never blocks accept()."""
        request.settimeout(10)
        super().finish_request(self.tls.wrap_socket(request, server_side=True), client_address)

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {client_address[0]} error: {sys.exc_info()[1]}\n")
        sys.stderr.flush()


def make_handler(docroot: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "se-testbed-issuer/1"
        timeout = 10  # a stuck client never holds a thread for long

        def do_GET(self) -> None:  # http.server calls it by this name
            name = ROUTES.get(self.path.split("?", 1)[0])
            if name is None:
                self.send_error(404, "only the discovery document and the JWKS are served here")
                return
            body = (docroot / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
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
    args = ap.parse_args(argv)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    httpd = DualStackServer(("::", args.port), make_handler(args.docroot))
    httpd.tls = ctx
    if args.pidfile:
        Path(args.pidfile).write_text(f"{os.getpid()}\n")
    sys.stderr.write(f"issuer serving {args.docroot} on [::]:{args.port}\n")
    sys.stderr.flush()
    httpd.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
