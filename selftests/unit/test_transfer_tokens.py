"""Bearer token discovery (WLCG order) and the claim checks done before any token transfer."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from se_dualstack.transfer.tokens import WLCG_ANY, Token, audience_ok, discover, problem, scope_ok

NOW = 1_800_000_000.0
FULL = "storage.read:/ storage.create:/ storage.modify:/"


def _jwt(**claims: object) -> str:
    base = {"iss": "https://issuer.example.test", "sub": "u", "wlcg.ver": "1.0", "jti": "x",
            "aud": ["https://disk01.example.test"], "scope": FULL,
            "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 3600}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, "k" * 32, algorithm="HS256")


def _tok(**claims: object) -> Token:
    return Token("BEARER_TOKEN_FILE=/run/t.jwt", "/run/t.jwt", _jwt(**claims))


def test_discovery_order_explicit_then_env_then_files(tmp_path: Path) -> None:
    f1, f2, rt = tmp_path / "explicit", tmp_path / "file", tmp_path / "xdg"
    rt.mkdir()
    f1.write_text("aaa.bbb.ccc\n")
    f2.write_text("ddd.eee.fff")
    (rt / "bt_u1000").write_text("ggg.hhh.iii")
    env = {"BEARER_TOKEN": "jjj.kkk.lll", "BEARER_TOKEN_FILE": str(f2), "XDG_RUNTIME_DIR": str(rt)}
    tok, _ = discover(str(f1), env, 1000, str(tmp_path))
    assert tok is not None, tok
    assert tok.value == "aaa.bbb.ccc", tok
    tok, _ = discover(None, env, 1000, str(tmp_path))
    assert tok is not None, tok
    assert tok.source == "BEARER_TOKEN (environment)", tok
    assert Path(tok.path).read_text() == "jjj.kkk.lll", "BEARER_TOKEN is handed on as a file"
    assert Path(tok.path).stat().st_mode & 0o077 == 0, "the token file is private"
    del env["BEARER_TOKEN"]
    tok, _ = discover(None, env, 1000)
    assert tok is not None, tok
    assert tok.source == f"BEARER_TOKEN_FILE={f2}", tok
    del env["BEARER_TOKEN_FILE"]
    tok, _ = discover(None, env, 1000)
    assert tok is not None, tok
    assert tok.path == str(rt / "bt_u1000"), tok


def test_discovery_names_where_it_looked_and_a_named_missing_file(tmp_path: Path) -> None:
    tok, why = discover(None, {"XDG_RUNTIME_DIR": str(tmp_path)}, 4242)
    assert tok is None, tok
    assert f"{tmp_path}/bt_u4242" in why, why
    assert "/tmp/bt_u4242" in why, why
    tok, why = discover(None, {"BEARER_TOKEN_FILE": str(tmp_path / "gone")}, 4242)
    assert tok is None, why
    assert "BEARER_TOKEN_FILE=" in why, why
    assert "no such file" in why, why


def test_repr_never_shows_the_token() -> None:
    t = _tok()
    assert t.value not in repr(t), repr(t)


@pytest.mark.parametrize(("claims", "word"), [
    ({"exp": NOW - 3600}, "claim exp"),
    ({"nbf": NOW + 3600, "exp": NOW + 7200}, "claim nbf"),
    ({"aud": "https://se.elsewhere.test"}, "claim aud"),
    ({"scope": "storage.read:/"}, "claim scope"),
    ({"scope": "storage.read:/ storage.create:/other"}, "claim scope"),
])
def test_each_bad_claim_is_one_line_naming_claim_and_fix(claims: dict, word: str) -> None:
    msg = problem(_tok(**claims), ("disk01.example.test",), "/store/disk01/se6test", now=NOW)
    assert msg is not None, msg
    assert word in msg, msg
    assert "\n" not in msg, msg
    assert "BEARER_TOKEN_FILE=/run/t.jwt" in msg, msg
    assert "oidc-token" in msg or "clock" in msg, f"no fix in: {msg}"
    assert _tok(**claims).value not in msg, "the token itself is in the message"


def test_good_token_passes_and_head_must_be_named_too() -> None:
    ok = _tok(aud=["https://head.example.test", "https://disk01.example.test:1094"])
    assert problem(ok, ("head.example.test", "disk01.example.test"), "/store/disk01/se6test", now=NOW) is None
    only_disk = _tok()
    msg = problem(only_disk, ("head.example.test", "disk01.example.test"), "/store/disk01/se6test", now=NOW)
    assert msg is not None, msg
    assert "head.example.test" in msg, msg


def test_audience_forms_and_any() -> None:
    assert audience_ok({"aud": WLCG_ANY}, "x.example.test")
    assert audience_ok({"aud": "roots://x.example.test:1094"}, "x.example.test")
    assert audience_ok({"aud": "x.example.test"}, "x.example.test")
    assert not audience_ok({"aud": "https://xx.example.test"}, "x.example.test")
    assert not audience_ok({}, "x.example.test")


def test_scope_paths_are_relative_to_an_unknown_base_path() -> None:
    c = {"scope": "storage.create:/disk01/se6test storage.read:/"}
    assert scope_ok(c, "create", "/store/disk01/se6test"), "base /store + /disk01/se6test"
    assert not scope_ok(c, "create", "/store/disk02/se6test")
    assert scope_ok(c, "read", "/anything/at/all")
    assert scope_ok({"scope": "storage.modify:/"}, "create", "/a/b"), "modify includes create"
    assert not scope_ok({"scope": "storage.create:/"}, "modify", "/a/b"), "create is not modify"


def test_not_a_jwt() -> None:
    t = Token("--bearer-token-file /x", "/x", "opaque-macaroon-like-thing")
    msg = problem(t, ("h.example.test",), "/a/b/c", now=time.time())
    assert msg is not None, msg
    assert "not a JWT" in msg, msg
