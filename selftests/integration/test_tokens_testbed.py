"""WLCG tokens in the site in a box, proven against the real servers with real clients.

Why: a token transfer check is only worth something if the servers really validate tokens.
Here every XRootD server fetches the testbed issuer's discovery document and JWKS over https
(the issuer's log shows each server's address) and each token kind is accepted or refused as
a WLCG storage element would: curl with `Authorization: Bearer` (davs), xrdcp with
BEARER_TOKEN_FILE over roots:// (ztn), gfal2 for HTTP third-party copies. Every refusal comes
within a few seconds, and no test leaves a file on the SE. X.509 keeps working beside tokens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from tbrun import tb_name

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / ".venv" / "bin" / "python"
STATE_ROOT = Path("/run/se-testbed")
NAME = tb_name("tok1")  # this module's testbed: unique among the engineers' concurrent runs
REFUSAL_BUDGET = 5.0  # seconds: a refused token must never hang a transfer

# What each token kind does on a storage element (testbed/tokens.py KINDS).
EXPECT = {  # kind -> (upload allowed, download allowed)
    "valid": (True, True),
    "read-only": (False, True),
    "expired": (False, False),
    "not-yet-valid": (False, False),
    "wrong-audience": (False, False),
    "untrusted-issuer": (False, False),
    "unknown-key": (False, False),
}


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the testbed needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "iproute2 is not installed"
    if not Path("/usr/lib/x86_64-linux-gnu/libXrdAccSciTokens-5.so").exists():
        return "xrootd-scitokens-plugins is not installed (make system-packages)"
    return None


pytestmark = pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))


def _tb(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PY), "-m", "testbed", "--name", NAME, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def state() -> Iterator[dict[str, Any]]:
    res = _tb("up", timeout=600)
    if res.returncode != 0:
        _tb("down")
        pytest.fail(f"testbed {NAME} up failed: {(res.stderr or res.stdout)[-3000:]}")
    st = json.loads((STATE_ROOT / NAME / "state.json").read_text())
    st["_dir"] = STATE_ROOT / NAME
    try:
        yield st
    finally:
        _tb("down")


def _client(*argv: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run a command on the client host; returns the result and its wall time."""
    t = time.monotonic()
    res = _tb("exec", "client", "--", *argv, timeout=timeout)
    return res, time.monotonic() - t


def _storage(st: dict[str, Any], short: str) -> Path:
    return st["_dir"] / "hosts" / short / "srv" / "root" / "store" / short / "se6test"


def _curl(st: dict[str, Any], kind: str | None, method: str, url: str, upload: Path | None = None,
          x509: bool = False) -> tuple[str, float]:
    """HTTP status code of one request (curl, bearer header or proxy), and its wall time."""
    sd = st["_dir"]
    argv = ["curl", "-sS", "-L", "-m", "20", "-o", "/dev/null", "-w", "%{http_code}", "--capath",
            str(sd / "x509" / "certificates"), "-X", method]
    if kind:
        # the token goes in a header file, not on a command line anyone could read in ps
        hdr = sd / "tokens" / f".{kind}.header"
        hdr.write_text(f"Authorization: Bearer {(sd / 'tokens' / f'{kind}.jwt').read_text().strip()}\n")
        hdr.chmod(0o600)
        argv += ["-H", f"@{hdr}"]
    if x509:
        argv += ["--cert", str(sd / "x509" / "proxy.pem"), "--key", str(sd / "x509" / "proxy.pem")]
    if upload:
        argv += ["-T", str(upload)]
    res, took = _client(*argv, url)
    return res.stdout.strip(), took


def _xrdcp(st: dict[str, Any], kind: str, src: str, dst: str) -> tuple[subprocess.CompletedProcess[str],
                                                                       float]:
    """xrdcp authenticating with ztn only (token from BEARER_TOKEN_FILE, no proxy at all)."""
    sd = st["_dir"]
    return _client("env", "-u", "X509_USER_PROXY", f"X509_CERT_DIR={sd}/x509/certificates",
                   f"BEARER_TOKEN_FILE={sd}/tokens/{kind}.jwt", "XrdSecPROTOCOL=ztn",
                   "XRD_REQUESTTIMEOUT=20", "XRD_CONNECTIONRETRY=1", "timeout", "60",
                   "xrdcp", "-f", src, dst)


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    p = tmp_path / "payload.bin"
    p.write_bytes(os.urandom(64 * 1024))
    return p


def test_issuer_publishes_discovery_and_jwks(state: dict[str, Any]) -> None:
    """The issuer has its own name, answers over both families with a test-CA certificate, and
    its JWKS holds the key that signed the valid token (and not the unknown-key one)."""
    tok = state["tokens"]
    url = tok["issuer"]
    assert url == "https://issuer.example.test", f"issuer URL {url}"
    certs = str(state["_dir"] / "x509" / "certificates")
    docs = {}
    for fam in ("-6", "-4"):
        res, _ = _client("curl", "-sS", fam, "-m", "10", "--capath", certs,
                         f"{url}/.well-known/openid-configuration")
        assert res.returncode == 0, f"discovery over curl {fam}: rc {res.returncode}: {res.stderr.strip()}"
        docs[fam] = json.loads(res.stdout)
    assert docs["-6"]["issuer"] == url, docs["-6"]
    assert docs["-6"]["jwks_uri"] == f"{url}/jwks.json", docs["-6"]
    res, _ = _client("curl", "-sS", "-m", "10", "--capath", certs, docs["-6"]["jwks_uri"])
    kids = {k["kid"] for k in json.loads(res.stdout)["keys"]}
    heads = {kind: jwt.get_unverified_header(Path(p).read_text().strip())
             for kind, p in tok["tokens"].items()}
    assert heads["valid"]["kid"] in kids, f"valid token kid {heads['valid']['kid']} not in JWKS {kids}"
    assert heads["unknown-key"]["kid"] not in kids, "the unknown-key token's key is published"


def test_token_files_carry_wlcg_claims(state: dict[str, Any]) -> None:
    """Each token file is private and carries the WLCG JWT profile claims of its kind."""
    now = time.time()
    for kind, path in state["tokens"]["tokens"].items():
        assert Path(path).stat().st_mode & 0o077 == 0, f"{path} is readable by others"
        claims = jwt.decode(Path(path).read_text().strip(), options={"verify_signature": False})
        missing = {"iss", "sub", "aud", "scope", "wlcg.ver", "exp", "nbf", "iat", "jti"} - set(claims)
        assert not missing, f"{kind} token lacks claims {sorted(missing)}"
        assert (claims["exp"] < now) == (kind == "expired"), f"{kind}: exp {claims['exp']} vs now {now:.0f}"
        assert (claims["nbf"] > now) == (kind == "not-yet-valid"), f"{kind}: nbf {claims['nbf']}"
    valid = jwt.decode(Path(state["tokens"]["tokens"]["valid"]).read_text().strip(),
                       options={"verify_signature": False})
    assert valid["scope"] == "storage.read:/ storage.create:/ storage.modify:/", valid["scope"]
    assert "https://disk01.example.test" in valid["aud"], valid["aud"]


@pytest.mark.parametrize("kind", list(EXPECT))
def test_davs_token_kinds(state: dict[str, Any], payload: Path, kind: str) -> None:
    """curl with a bearer token against XrdHttp: each kind uploads/reads exactly as WLCG says,
    directly on a disk node and through the head node's redirect; refusals are quick 403s."""
    can_put, can_get = EXPECT[kind]
    name = f"tok-davs-{kind}"
    base = "https://{h}.example.test/store/disk01/se6test/"
    seed, _ = _curl(state, "valid", "PUT", base.format(h="disk01") + f"{name}-seed", payload)
    assert seed in ("200", "201"), f"seeding the read test with the valid token: HTTP {seed}"
    try:
        for host in ("disk01", "head"):
            code, took = _curl(state, kind, "PUT", base.format(h=host) + f"{name}-{host}", payload)
            assert (code in ("200", "201")) == can_put, f"{kind} PUT via {host}: HTTP {code}"
            assert took < REFUSAL_BUDGET or can_put, f"{kind} PUT via {host} took {took:.1f} s"
            code, took = _curl(state, kind, "GET", base.format(h="disk01") + f"{name}-seed")
            assert (code == "200") == can_get, f"{kind} GET: HTTP {code}"
    finally:
        for f in _storage(state, "disk01").glob(f"{name}-*"):
            code, _ = _curl(state, "valid", "DELETE", base.format(h="disk01") + f.name)
            assert code in ("200", "204"), f"cleanup DELETE {f.name}: HTTP {code}"
    left = sorted(p.name for p in _storage(state, "disk01").glob(f"{name}-*"))
    assert not left, f"left on the SE: {left}"


@pytest.mark.parametrize("kind", list(EXPECT))
def test_roots_ztn_token_kinds(state: dict[str, Any], payload: Path, kind: str) -> None:
    """xrdcp with BEARER_TOKEN_FILE over roots:// (ztn only, no proxy), directly and through
    the head node: uploads/reads as expected, refusals within seconds with XRootD's message."""
    can_put, can_get = EXPECT[kind]
    name = f"tok-root-{kind}"
    seed, _ = _xrdcp(state, "valid", str(payload),
                     f"roots://disk02.example.test//store/disk02/se6test/{name}-seed")
    assert seed.returncode == 0, f"seeding with the valid token: {seed.stdout}{seed.stderr}"
    try:
        for host in ("disk02", "head"):
            url = f"roots://{host}.example.test//store/disk02/se6test/{name}-{host}"
            res, took = _xrdcp(state, kind, str(payload), url)
            out = (res.stdout + res.stderr).replace("\0", "").strip()
            assert (res.returncode == 0) == can_put, f"{kind} upload via {host}: rc {res.returncode}: {out}"
            if not can_put:
                assert "Auth failed" in out or "permission denied" in out, f"{kind} via {host}: {out}"
                assert took < REFUSAL_BUDGET, f"{kind} upload via {host} refused after {took:.1f} s"
        res, _ = _xrdcp(state, kind, f"roots://disk02.example.test//store/disk02/se6test/{name}-seed",
                        "/dev/null")
        assert (res.returncode == 0) == can_get, f"{kind} download: rc {res.returncode}: {res.stderr.strip()}"
    finally:
        for f in _storage(state, "disk02").glob(f"{name}-*"):
            f.unlink()  # as the SE's admin would: the token under test may not delete
    assert not list(_storage(state, "disk02").glob(f"{name}-*"))


_GFAL_TPC = r"""
import json, sys, time, gfal2
tok = open(sys.argv[1]).read().strip()
ctx = gfal2.creat_context()
for h in sys.argv[2].split(","):
    ctx.cred_set("davs://%s" % h, ctx.cred_new("BEARER", tok))
ctx.set_opt_boolean("HTTP PLUGIN", "ENABLE_FALLBACK_TPC_COPY", False)
out = {}
for mode in ("pull", "push"):
    ctx.set_opt_string("HTTP PLUGIN", "DEFAULT_COPY_MODE", "3rd " + mode)
    p = ctx.transfer_parameters(); p.overwrite = True; p.timeout = 30
    t = time.monotonic()
    try:
        ctx.filecopy(p, sys.argv[3], sys.argv[4] + mode)
        out[mode] = {"ok": True}
    except gfal2.GError as e:
        out[mode] = {"ok": False, "error": e.message[:300]}
    out[mode]["seconds"] = round(time.monotonic() - t, 2)
print(json.dumps(out))
"""


@pytest.mark.parametrize("kind", ["valid", "read-only", "expired"])
def test_http_tpc_with_tokens_over_ipv6(state: dict[str, Any], payload: Path, kind: str) -> None:
    """gfal2 HTTP-TPC pull and push disk01 -> disk02 between the IPv6-only names, the token as
    the credential of both ends: the valid token copies, the others are refused quickly."""
    sd = state["_dir"]
    src = "https://disk01.example.test/store/disk01/se6test/tok-tpc-src"
    seed, _ = _curl(state, "valid", "PUT", src, payload)
    assert seed in ("200", "201"), f"seeding the TPC source: HTTP {seed}"
    dst = f"davs://disk02-v6.example.test/store/disk02/se6test/tok-tpc-{kind}-"
    try:
        res, _ = _client("env", "-u", "X509_USER_PROXY", f"X509_CERT_DIR={sd}/x509/certificates",
                         str(PY), "-c", _GFAL_TPC, str(sd / "tokens" / f"{kind}.jwt"),
                         "disk01-v6.example.test,disk02-v6.example.test",
                         "davs://disk01-v6.example.test/store/disk01/se6test/tok-tpc-src", dst, timeout=120)
        assert res.returncode == 0, f"gfal2 TPC script failed: {res.stderr[-2000:]}"
        out = json.loads(res.stdout.strip().splitlines()[-1])
        for mode, r in out.items():
            assert r["ok"] == (kind == "valid"), f"{kind} TPC {mode}: {r}"
            assert r["ok"] or r["seconds"] < REFUSAL_BUDGET, (
                f"{kind} TPC {mode} refused after {r['seconds']} s")
        if kind == "valid":
            for mode in out:
                got = _storage(state, "disk02") / f"tok-tpc-{kind}-{mode}"
                assert got.read_bytes() == payload.read_bytes(), f"TPC {mode} copy differs from the source"
    finally:
        for short in ("disk01", "disk02"):
            for f in _storage(state, short).glob("tok-tpc-*"):
                f.unlink()


def test_servers_fetch_keys_from_the_issuer_over_the_network(state: dict[str, Any]) -> None:
    """Nothing mocked: the issuer's access log shows the disk nodes fetching discovery + JWKS."""
    log = (state["_dir"] / "logs" / "issuer.log").read_text()
    for short in ("disk01", "disk02"):
        host = next(h for h in state["hosts"] if h["short"] == short)
        lines = [ln for ln in log.splitlines() if host["ipv6"] in ln.split() or host["ipv4"] in ln.split()]
        assert any("/.well-known/openid-configuration" in ln for ln in lines), (
            f"{short} never fetched the discovery document; issuer log:\n{log[-2000:]}")
        assert any("/jwks.json" in ln for ln in lines), f"{short} never fetched the JWKS"


def test_root_tpc_with_tokens_goes_through_token_forwarding(state: dict[str, Any], payload: Path) -> None:
    """XRootD 5.5 pulls a root TPC with a token once the destination forwards it to its pull
    (``ofs.tpc ... fcreds ?ztn =BEARER_TOKEN_FILE``, testbed/services.py); without that line it
    answered "[3030] [FATAL] Auth failed: No protocols left to try (source)" (the suite then
    skips quoting it: selftests/unit/test_transfer_tpc.py)."""
    seed, _ = _xrdcp(state, "valid", str(payload),
                     "roots://disk01.example.test//store/disk01/se6test/tok-rtpc")
    assert seed.returncode == 0, f"seeding: {seed.stderr}"
    try:
        sd = state["_dir"]
        res, took = _client("env", "-u", "X509_USER_PROXY", f"X509_CERT_DIR={sd}/x509/certificates",
                            f"BEARER_TOKEN_FILE={sd}/tokens/valid.jwt", "XrdSecPROTOCOL=ztn",
                            "XRD_REQUESTTIMEOUT=20", "timeout", "60", "xrdcp", "--tpc", "only", "-f",
                            "roots://disk01.example.test//store/disk01/se6test/tok-rtpc",
                            "roots://disk02.example.test//store/disk02/se6test/tok-rtpc")
        out = (res.stdout + res.stderr).replace("\0", "")
        assert res.returncode == 0, f"root TPC with a token: {out}"
        got = _storage(state, "disk02") / "tok-rtpc"
        assert got.read_bytes() == payload.read_bytes(), "the pulled copy differs from the source"
        assert took < 15, f"root TPC took {took:.1f} s"
    finally:
        for short in ("disk01", "disk02"):
            for f in _storage(state, short).glob("tok-rtpc*"):
                f.unlink()


def test_x509_keeps_working_beside_tokens(state: dict[str, Any], payload: Path) -> None:
    """With ztn listed first, a client holding only a proxy still authenticates with GSI over
    root:// (now TLS) and with its certificate over davs; the grid-mapped user may write."""
    sd = state["_dir"]
    res, _ = _client("env", f"X509_USER_PROXY={sd}/x509/proxy.pem", f"X509_CERT_DIR={sd}/x509/certificates",
                     "XrdSecPROTOCOL=gsi", "XRD_REQUESTTIMEOUT=20", "timeout", "60", "xrdcp", "-f",
                     str(payload), "root://disk01.example.test//store/disk01/se6test/tok-x509-root")
    try:
        assert res.returncode == 0, f"X.509 root upload: {res.stderr.strip()}"
        code, _ = _curl(state, None, "PUT", "https://disk01.example.test/store/disk01/se6test/tok-x509-davs",
                        payload, x509=True)
        assert code in ("200", "201"), f"X.509 davs upload: HTTP {code}"
        code, _ = _curl(state, None, "PUT", "https://disk01.example.test/store/disk01/se6test/tok-anon",
                        payload)
        assert code == "403", f"an upload with no credential at all: HTTP {code}"
    finally:
        for f in _storage(state, "disk01").glob("tok-*"):
            f.unlink()
