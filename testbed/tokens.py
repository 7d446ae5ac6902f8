"""WLCG tokens of the site in a box: the issuer's keys and documents, and minted test tokens.

Why: a site proving token transfers needs tokens its servers really validate. The testbed runs
its own issuer host (`issuer.<domain>`, testbed/issuer.py serving what is written here) and
mints, at `up`, one token per case a transfer test needs, with the WLCG JWT profile claims
(iss, sub, aud, scope, wlcg.ver, exp, nbf, iat, jti), signed ES256 (scitokens-cpp 0.7.3 takes
ES256 and RS256; an EC key costs nothing to make, an RSA one ~0.3 s).

The XRootD servers trust exactly one issuer (ISSUER_SHORT's https URL) with `base_path /store`,
so `storage.read:/` covers every `/store/<host>/...` path, and accept as audience their own
names in the forms clients use (`https://name[:port]`, `roots://name:1094`). scitokens-cpp
fetches the discovery document and JWKS from the issuer over https with libcurl's system CA
store: services.py puts the test CA into each server host's /etc/ssl/certs bundle (its /etc is
an overlay) and gives each xrootd its own key cache (XDG_CACHE_HOME), so testbeds never share
cached keys.

Token files: `<state>/tokens/<kind>.jwt`, mode 0600, one line, no newline inside. Kinds below.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from testbed.site import ISSUER_SHORT

ISSUER_PORT = 443
BASE_PATH = "/store"
SUBJECT = "se-testbed-user"
WLCG_ANY = "https://wlcg.cern.ch/jwt/v1/any"
FULL_SCOPE = "storage.read:/ storage.create:/ storage.modify:/"
READ_SCOPE = "storage.read:/"
LIFETIME = dt.timedelta(hours=24)  # outlives any testbed run, like the 12 h proxy

# kind -> what it is, as a test or a reader names it. Each is refused (or accepted) for one reason.
KINDS = {
    "valid": "full storage scopes, audience every SE host of the site, valid for 24 h",
    "read-only": "storage.read:/ only: reads pass, uploads and deletes are refused",
    "expired": "exp an hour ago",
    "not-yet-valid": "nbf an hour from now",
    "wrong-audience": "aud names another site's SE",
    "untrusted-issuer": "iss is an issuer the servers do not trust",
    "unknown-key": "right iss, signed by a key the issuer does not publish",
}


def issuer_url(site: dict) -> str:
    """The trusted issuer's URL (no trailing slash: scitokens-cpp compares `iss` exactly)."""
    return f"https://{ISSUER_SHORT}.{site['domain']}"


def untrusted_issuer_url(site: dict) -> str:
    return f"https://untrusted-{ISSUER_SHORT}.{site['domain']}"


def se_hosts(site: dict) -> list[dict]:
    return [h for h in site["hosts"] if h["role"] in ("headnode", "disknode")]


def site_audience(site: dict) -> list[str]:
    """What the testbed's good tokens carry as `aud`: every SE host's https name."""
    return [f"https://{h['fqdn']}" for h in se_hosts(site)]


INI_MAX_LINE = 199  # the plugin's INI reader (vendored inih) cuts longer lines


def server_audiences(site: dict, host: dict) -> list[str]:
    """The audiences a host's XRootD accepts: its FQDN in the URL forms of the WLCG JWT profile
    (the endpoint URL, port optional), as many as fit the plugin's 199-character config line
    (`https://FQDN` always does). A client using a single-family alias presents the same token:
    the server compares `aud` with this list, not with the URL."""
    fqdn = host["fqdn"]
    forms = [f"https://{fqdn}", f"https://{fqdn}:1094", f"roots://{fqdn}:1094", f"https://{fqdn}:443"]
    while len(forms) > 1 and len("audience = " + ", ".join(forms)) > INI_MAX_LINE:
        forms.pop()
    return forms


def scitokens_config(site: dict, host: dict) -> str:
    """libXrdAccSciTokens' INI file for one XRootD host: one trusted issuer, its audiences.

    No `default_user` or `map_subject`: a token user stays distinct from the X.509 users the
    authdb admits (`u xrootd`), so a token the plugin refuses is not let in by the fallback."""
    return (
        "# se-testbed: tokens from the site's issuer authorize /store (scope paths are relative)\n"
        "[Global]\n"
        f"audience = {', '.join(server_audiences(site, host))}\n"
        "onmissing = passthrough\n\n"
        f"[Issuer {ISSUER_SHORT}]\n"
        f"issuer = {issuer_url(site)}\n"
        f"base_path = {BASE_PATH}\n"
    )


def _jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict:
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
    return jwk


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.touch(mode=mode)
    path.write_text(text)
    path.chmod(mode)


def mint(key: ec.EllipticCurvePrivateKey, kid: str, claims: dict) -> str:
    """One signed JWT (compact form)."""
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": "JWT"})


def claims_for(kind: str, site: dict, now: dt.datetime) -> dict:
    """The claims of a token kind (see KINDS)."""
    ts = int(now.timestamp())
    hour = 3600
    claims = {
        "wlcg.ver": "1.0",
        "iss": issuer_url(site),
        "sub": SUBJECT,
        "aud": site_audience(site),
        "scope": FULL_SCOPE,
        "iat": ts - 60,
        "nbf": ts - 60,
        "exp": ts + int(LIFETIME.total_seconds()),
        "jti": secrets.token_hex(16),
    }
    if kind == "read-only":
        claims["scope"] = READ_SCOPE
    elif kind == "expired":
        claims.update(iat=ts - 2 * hour, nbf=ts - 2 * hour, exp=ts - hour)
    elif kind == "not-yet-valid":
        claims.update(nbf=ts + hour, exp=ts + 2 * hour)
    elif kind == "wrong-audience":
        claims["aud"] = "https://se.elsewhere.test"
    elif kind == "untrusted-issuer":
        claims["iss"] = untrusted_issuer_url(site)
    elif kind not in KINDS:
        raise ValueError(f"unknown token kind {kind!r}; kinds: {', '.join(KINDS)}")
    return claims


def make_tokens(state_dir: Path, site: dict) -> dict:
    """Issuer keys, discovery document, JWKS and every token kind, under the state dir.

    Returns what state.json records: issuer URL, docroot, token paths by kind."""
    state_dir = Path(state_dir)
    docroot, tokdir = state_dir / "issuer", state_dir / "tokens"
    url = issuer_url(site)
    key = ec.generate_private_key(ec.SECP256R1())
    rogue = ec.generate_private_key(ec.SECP256R1())  # never published anywhere
    kid, rogue_kid = f"se-testbed-{secrets.token_hex(4)}", f"se-testbed-{secrets.token_hex(4)}"
    _write(docroot / "signing-key.pem", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
        0o600)
    _write(docroot / "jwks.json", json.dumps({"keys": [_jwk(key, kid)]}, indent=1) + "\n", 0o644)
    _write(docroot / "openid-configuration.json", json.dumps({
        "issuer": url,
        "jwks_uri": f"{url}/jwks.json",
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["storage.read:/", "storage.create:/", "storage.modify:/", "wlcg"],
    }, indent=1) + "\n", 0o644)
    now = dt.datetime.now(dt.timezone.utc)
    paths: dict[str, str] = {}
    for kind in KINDS:
        signer, skid = (rogue, rogue_kid) if kind in ("unknown-key", "untrusted-issuer") else (key, kid)
        token = mint(signer, skid, claims_for(kind, site, now))
        path = tokdir / f"{kind}.jwt"
        _write(path, token, 0o600)
        paths[kind] = str(path)
    return {"issuer": url, "docroot": str(docroot), "tokens": paths,
            "audience": site_audience(site)}


__all__ = ["ISSUER_PORT", "ISSUER_SHORT", "KINDS", "claims_for", "issuer_url", "make_tokens", "mint",
           "scitokens_config", "server_audiences", "site_audience"]
