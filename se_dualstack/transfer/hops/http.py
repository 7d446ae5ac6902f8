"""The HTTP tracer (davs://, https://): each hop's ``Location``, read without following it.

Why our own client and not davix or http.client: a tracer must see every answer (http.client
swallows ``100 Continue``), connect to the address of the forced family itself (the name resolved
at the site's resolvers, each address tried in turn and recorded), and never send the body. The
request is an upload's: ``PUT`` with ``Expect: 100-continue`` and no body, which dCache's WebDAV
door redirects (307, webdav.redirect.on-write) like XrdHttp and EOS; the data server answers
``100 Continue`` (XrdHttp has then made an empty file) and the connection is closed. Credentials as the
transfers hold them: the X.509 proxy as TLS client certificate, or the bearer token in an
``Authorization`` header, sent over TLS only (a dCache pool's ``http://`` mover gets none). The
probe file the data server may have created is deleted through the entry point afterwards.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass, field

from se_dualstack import knowledge
from se_dualstack.transfer.hops.chain import Attempt, Chain, Hop, TraceContext, hostport, parse_location

REDIRECTS = (301, 302, 303, 307, 308)
MAX_HEAD = 65536  # bytes of a response head read at most
CONTINUE_WAIT = 0.5  # seconds to wait after 100 Continue for a proxy's real answer


@dataclass
class Answer:
    """The head of one HTTP response (no body is ever read)."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names


@dataclass
class Asked:
    """One request to one host: the connection attempts, and the answer or why there was none."""

    attempts: list[Attempt]
    answer: Answer | None = None
    tls: str = ""
    error: str = ""
    silent: bool = False  # the connection was accepted, then no answer came within the deadline


def _silent(exc: BaseException) -> bool:
    return isinstance(exc, (socket.timeout, TimeoutError))


def _error(exc: BaseException, timeout: float) -> str:
    if _silent(exc):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or str(exc)
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def parse_head(raw: bytes) -> Answer:
    """``HTTP/1.1 307 Temporary Redirect\\r\\nLocation: ...`` -> Answer (ValueError if not HTTP)."""
    text = raw.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP answer: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Answer(int(parts[1]), parts[2] if len(parts) > 2 else "", headers)


class Client:
    """Requests to one host at a time over one family, with the transfers' credential."""

    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx
        self._tls: ssl.SSLContext | None = None
        self._token = ""

    def tls(self) -> ssl.SSLContext:
        if self._tls is None:
            c = ssl.create_default_context(capath=self.ctx.certdir or None)
            if self.ctx.auth == "x509" and self.ctx.proxy:
                c.load_cert_chain(self.ctx.proxy)  # the proxy file holds certificate, key, chain
            self._tls = c
        return self._tls

    def token(self) -> str:
        if not self._token and self.ctx.auth == "token" and self.ctx.token_file:
            with open(self.ctx.token_file, encoding="utf-8") as fh:
                self._token = fh.read().strip()
        return self._token

    def addresses(self, host: str) -> list[str]:
        """The host's addresses of the family: a literal of it, or the name at the site's resolvers."""
        try:
            return [host] if socket.inet_pton(_af(self.ctx.family), host) else []
        except OSError:
            pass
        if ":" in host or host.replace(".", "").isdigit():
            return []  # a literal of the other family
        return self.ctx.resolve(host, self.ctx.family)

    def ask(self, scheme: str, host: str, port: int, target: str, method: str,
            headers: dict[str, str]) -> Asked:
        """Connect to the first address that accepts, send the request head, read the answer's."""
        out = Asked([])
        sock = None
        for address in self.addresses(host):
            s = socket.socket(_af(self.ctx.family), socket.SOCK_STREAM)
            s.settimeout(self.ctx.connect_timeout)
            try:
                s.connect((address, port))
            except OSError as exc:
                s.close()
                out.attempts.append(Attempt(address, port, False, _error(exc, self.ctx.connect_timeout)))
                continue
            out.attempts.append(Attempt(address, port, True))
            sock = s
            break
        if sock is None:
            out.error = "no address accepted the connection" if out.attempts else "no address to connect to"
            return out
        try:
            sock.settimeout(self.ctx.timeout)
            if knowledge.scheme_tls(scheme):
                try:
                    sock = self.tls().wrap_socket(sock, server_hostname=host)
                except (ssl.SSLError, OSError) as exc:
                    if _silent(exc):  # no TLS matter: the server does not answer at all
                        out.silent, out.error = True, f"{_error(exc, self.ctx.timeout)} (TLS handshake)"
                        return out
                    out.tls = _error(exc, self.ctx.timeout)
                    out.error = f"TLS: {out.tls}"
                    return out
                if self.token():
                    headers = {**headers, "Authorization": f"Bearer {self.token()}"}
            head = [f"{method} {target} HTTP/1.1", f"Host: {hostport(host, port)}",
                    "User-Agent: se-dualstack", *(f"{k}: {v}" for k, v in headers.items()),
                    "Connection: close", "", ""]
            sock.sendall("\r\n".join(head).encode("iso-8859-1"))
            raw = _read_head(sock, b"")
            out.answer = parse_head(raw)
            if out.answer.status == 100:
                # A proxy in front (nginx) says 100 itself, then forwards and answers for real; a
                # data server waits for the body: a short wait tells them apart.
                sock.settimeout(CONTINUE_WAIT)
                rest = raw.split(b"\r\n\r\n", 1)[1]
                with contextlib.suppress(OSError, ValueError):
                    out.answer = parse_head(_read_head(sock, rest))
        except (OSError, ValueError) as exc:
            out.error, out.silent = _error(exc, self.ctx.timeout), _silent(exc)
        finally:
            sock.close()
        return out


def _read_head(sock: socket.socket, raw: bytes) -> bytes:
    """Read until a response head is complete (or the peer closes, or MAX_HEAD)."""
    while b"\r\n\r\n" not in raw and len(raw) < MAX_HEAD:
        data = sock.recv(4096)
        if not data:
            break
        raw += data
    return raw


def _af(family: int) -> int:
    return socket.AF_INET6 if family == 6 else socket.AF_INET


def follow(client: Client, chain: Chain | None, scheme: str, host: str, port: int, target: str,
           method: str, headers: dict[str, str]) -> tuple[Asked, str]:
    """Ask, and ask each redirect's target in turn (recording the hops in ``chain`` when given);
    returns the last answer and the host that gave it."""
    asked = client.ask(scheme, host, port, target, method, headers)
    for n in range(client.ctx.max_hops + 1):
        if chain is not None:
            if n == 0:
                chain.start = asked.attempts
            else:
                chain.hops[-1].attempts, chain.hops[-1].tls = asked.attempts, asked.tls
            if asked.answer is not None and "server" in asked.answer.headers:
                chain.server = asked.answer.headers["server"]
        a = asked.answer
        if a is None or a.status not in REDIRECTS or "location" not in a.headers:
            return asked, host
        t = parse_location(a.headers["location"], scheme, host, port)
        if chain is not None:
            chain.hops.append(Hop(host, port, f"{a.status} {a.reason}".strip(), t))
        if t.problem or (t.literal == 6 and not t.bracketed) or n == client.ctx.max_hops:
            asked = Asked([], error=f"not followed: {t.problem or 'IPv6 literal without brackets'}"
                          if n < client.ctx.max_hops else f"more than {client.ctx.max_hops} redirects")
            return asked, t.host
        target = request_target(a.headers["location"])
        scheme, host, port = t.scheme or scheme, t.host, t.port
        if not knowledge.scheme_tls(scheme):  # no credential without TLS (a dCache pool's mover URL)
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        asked = client.ask(scheme, host, port, target, method, headers)
    return asked, host


def request_target(location: str) -> str:
    """The path and query to ask the next hop for (the query may carry a token: never shown)."""
    if "://" not in location:
        return location if location.startswith("/") else "/" + location
    rest = location.split("://", 1)[1]
    return rest[rest.find("/"):] if "/" in rest else "/"


def trace(protocol: str, entry: str, port: int, ctx: TraceContext) -> Chain:
    """The chain of an upload's ``PUT`` from ``entry``:``port``, then the probe file removed."""
    chain = Chain(protocol, ctx.family, ctx.auth, entry, port,
                  f"PUT {ctx.probe} with Expect: 100-continue and no body (Content-Length: 0)")
    client = Client(ctx)
    try:
        client.tls()
    except (OSError, ssl.SSLError) as exc:
        chain.error, chain.error_at = f"the client credential cannot be used: {_error(exc, 0)}", entry
        return chain
    # No body at all: a proxy in front (nginx) would answer 100 Continue itself and wait for an
    # announced byte before it forwards; a door redirects on the Expect header.
    asked, at = follow(client, chain, protocol, entry, port, ctx.probe, "PUT",
                       {"Content-Length": "0", "Expect": "100-continue"})
    a = asked.answer
    if a is not None and (a.status == 100 or 200 <= a.status < 300):
        chain.final = f"{a.status} {a.reason}: {at} takes the upload".replace("  ", " ")
    elif a is not None:
        chain.error, chain.error_at = f"answered {a.status} {a.reason}".strip(), at
    else:
        chain.error, chain.error_at = asked.error or "no answer", at
        chain.timed_out = asked.silent
    # Only a data server that took the request may have made the (empty) probe file.
    chain.cleanup = cleanup(client, protocol, entry, port, ctx.probe) if chain.final else "not created"
    return chain


def cleanup(client: Client, scheme: str, entry: str, port: int, path: str) -> str:
    """Delete the probe file through the entry point: "removed", "not created", or "left: why"."""
    asked, at = follow(client, None, scheme, entry, port, path, "DELETE", {})
    a = asked.answer
    if a is not None and 200 <= a.status < 300:
        return "removed"
    if a is not None and a.status == 404:
        return "not created"
    return f"left: DELETE at {at} answered {f'{a.status} {a.reason}' if a else asked.error or 'nothing'}"
