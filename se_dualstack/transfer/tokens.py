"""The bearer token: found as grid clients find it, its claims read before any transfer.

Why: a token transfer that fails after its TLS handshake with "permission denied" tells a site
nothing; the token's own claims already say whether it expired, names another endpoint or lacks
the scope for the step. So, before a transfer, the claims are read (without verifying the
signature: the server does that) and a problem becomes one line naming the claim and the fix.

Discovery follows the WLCG Bearer Token Discovery document: an explicit ``--bearer-token-file``,
else ``BEARER_TOKEN`` (the token itself), ``BEARER_TOKEN_FILE``, ``$XDG_RUNTIME_DIR/bt_u$UID``,
``/tmp/bt_u$UID``; the first that is set/exists wins, even if its token is bad (as for clients).

The token never leaves this module and the gfal2 worker: workers get a file path
(``BEARER_TOKEN_FILE``), messages name the source (a path or a variable), never the value.
"""

from __future__ import annotations

import os
import posixpath
import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt

WLCG_ANY = "https://wlcg.cern.ch/jwt/v1/any"
SKEW = 60  # seconds of clock skew tolerated on exp/nbf, as servers do
# What each operation needs, per the WLCG JWT profile (storage.modify includes creating).
# A round trip or a third-party copy lists/creates the directory, writes, reads and deletes.
ROUND_TRIP = ("read", "create", "modify")
NEEDS = {
    "read": ("storage.read", "read"),
    "create": ("storage.create", "storage.modify", "write"),
    "modify": ("storage.modify", "write"),
}


@dataclass(frozen=True)
class Token:
    """A discovered token: where it came from and the file a worker reads it from."""

    source: str  # "BEARER_TOKEN_FILE=/path", "--bearer-token-file /path", "BEARER_TOKEN (environment)"
    path: str  # a file holding the token (written privately for BEARER_TOKEN)
    value: str = field(repr=False)  # never printed: repr and messages show `source` only

    def claims(self) -> dict:
        """The payload, unverified (the server verifies the signature); {} if not a JWT."""
        try:
            return dict(jwt.decode(self.value, options={"verify_signature": False}))
        except jwt.PyJWTError:
            return {}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def discover(explicit: str | None = None, env: dict[str, str] | None = None, uid: int | None = None,
             workdir: str | None = None) -> tuple[Token | None, str]:
    """The token a WLCG client would use, and a note on where it looked (for "no token" lines).

    ``workdir``: where a ``BEARER_TOKEN`` value is written (mode 0600) so workers get a file;
    without it, nothing is written (``path`` is then empty: :func:`with_file` writes it later)."""
    env = dict(os.environ if env is None else env)
    uid = os.getuid() if uid is None else uid
    if explicit:
        value = _read(explicit)
        if value is None:
            return None, f"--bearer-token-file {explicit}: no such file or empty"
        return Token(f"--bearer-token-file {explicit}", explicit, value), ""
    if env.get("BEARER_TOKEN", "").strip():
        token = Token("BEARER_TOKEN (environment)", "", env["BEARER_TOKEN"].strip())
        return (token if workdir is None else with_file(token, workdir, uid)), ""
    candidates = []
    if env.get("BEARER_TOKEN_FILE"):
        candidates.append(("BEARER_TOKEN_FILE={}", env["BEARER_TOKEN_FILE"], True))
    if env.get("XDG_RUNTIME_DIR"):
        candidates.append(("{}", os.path.join(env["XDG_RUNTIME_DIR"], f"bt_u{uid}"), False))
    candidates.append(("{}", f"/tmp/bt_u{uid}", False))
    for label, path, named in candidates:
        if named or os.path.exists(path):
            value = _read(path)
            if value is None:
                return None, f"{label.format(path)}: no such file or empty"
            return Token(label.format(path), path, value), ""
    looked = ", ".join(p for _, p, _ in candidates)
    return None, f"no WLCG token (BEARER_TOKEN, BEARER_TOKEN_FILE unset; none at {looked})"


def with_file(token: Token, workdir: str, uid: int | None = None) -> Token:
    """The token with a file a worker reads it from: a token found in ``BEARER_TOKEN`` (no file
    of its own) is written to ``workdir`` (mode 0600); one found in a file keeps that file."""
    if token.path:
        return token
    path = os.path.join(workdir, f"bt_u{os.getuid() if uid is None else uid}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token.value)
    return Token(token.source, path, token.value)


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [str(a) for a in aud or []]


def audience_ok(claims: dict, host: str) -> bool:
    """Does ``aud`` name this host (in any URL form, any port) or "any"? The server compares
    exact strings against its own list; the client can only check the host is named."""
    for a in _audiences(claims):
        if a == WLCG_ANY:
            return True
        rest = a.split("://", 1)[-1].split("/", 1)[0]
        name = rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest
        if name.rstrip(".") == host.rstrip("."):
            return True
    return False


def _scope_covers(scope_path: str, test_dir: str) -> bool:
    """A scope path is relative to the SE's base path, which a client cannot know: it covers
    the test directory when it matches a run of whole path components of it (``/`` always)."""
    sp = [p for p in posixpath.normpath("/" + scope_path).split("/") if p]
    tp = [p for p in posixpath.normpath(test_dir).split("/") if p]
    return any(tp[i:i + len(sp)] == sp for i in range(len(tp) - len(sp) + 1))


def scope_ok(claims: dict, op: str, test_dir: str) -> bool:
    """Does some scope of the token grant ``op`` (read/create/modify) on ``test_dir``?"""
    for s in str(claims.get("scope", "")).split():
        name, _, path = s.partition(":")
        if name in NEEDS[op] and _scope_covers(path or "/", test_dir):
            return True
    return False


def validity_problem(token: Token, host: str = "", now: float | None = None) -> str | None:
    """None if the token is a JWT valid now (exp, nbf); else one line with the claim and fix."""
    now = time.time() if now is None else now
    c = token.claims()
    src = f"WLCG token ({token.source})"
    fix = f"oidc-token --aud https://{host or '<SE host>'} <account>"
    if not c:
        return f"{src} is not a JWT: get a WLCG token, e.g. {fix}"
    if "exp" in c and float(c["exp"]) + SKEW < now:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(c["exp"])))
        return f"{src} expired at {when} (claim exp): get a fresh one, e.g. {fix}"
    if "nbf" in c and float(c["nbf"]) - SKEW > now:
        start = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(c["nbf"])))
        return f"{src} is not valid before {start} (claim nbf): check this host's clock or get a new token"
    return None


def problem(token: Token, hosts: tuple[str, ...], test_dir: str, ops: tuple[str, ...] = ROUND_TRIP,
            now: float | None = None) -> str | None:
    """None if the claims allow ``ops`` on ``test_dir`` at every one of ``hosts`` (the entry
    point and the target: a redirector authorizes too); else one line: the token's source, the
    claim at fault and the fix."""
    c = token.claims()
    src = f"WLCG token ({token.source})"
    bad = validity_problem(token, hosts[-1] if hosts else "", now)
    if bad:
        return bad
    for h in hosts:
        if not audience_ok(c, h):
            return (f"{src} audience {_audiences(c) or 'missing'} does not name {h} nor {WLCG_ANY} "
                    f"(claim aud): request one for this SE, e.g. oidc-token --aud https://{h} <account>")
    missing = [op for op in ops if not scope_ok(c, op, test_dir)]
    if missing:
        want = " ".join(f"{NEEDS[op][0]}:/" for op in missing)
        return (f"{src} scope {c.get('scope', '')!r} does not grant {', '.join(missing)} on {test_dir} "
                f"(claim scope): request {want} (e.g. oidc-token --scope '{want}' <account>)")
    return None
