"""The suite with a bearer token, against the testbed's real servers and issuer.

Why: a token run must prove davs and root round trips and HTTP-TPC with the token (forced per
family, as the X.509 ones), refuse bad tokens with one line naming the claim, leave nothing on
the SE, and never write the token, or any part of it, into any output a site keeps.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tbrun import Run, Testbed, outcomes, tb_name, unavailable

NAME = tb_name("tok2")  # this module's testbed: unique among the engineers' concurrent runs
ONLY_TOKENS = ("--transfer-auth=token", "tests/test_transfers.py")

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@pytest.fixture(scope="module")
def tb() -> Iterator[Testbed]:
    with Testbed(NAME) as t:
        yield t


def _token(tb: Testbed, kind: str) -> Path:
    return tb.state / "tokens" / f"{kind}.jwt"


def _run(tb: Testbed, tmp: Path, kind: str, *extra: str) -> Run:
    return tb.run_suite(tmp, f"--bearer-token-file={_token(tb, kind)}", f"--junitxml={tmp / 'junit.xml'}",
                        *ONLY_TOKENS, *extra, timeout=900)


def _left_on_se(tb: Testbed) -> list[str]:
    return sorted(str(p) for p in (tb.state / "hosts").glob("*/srv/root/store/*/se6test/se6test-*"))


def test_token_run_passes_and_leaks_nothing(tb: Testbed, tmp_path: Path) -> None:
    """davs + root round trips (direct and through the head node, IPv6 and IPv4) and HTTP-TPC
    pull and push and root TPC with the valid token all pass; no output holds the token's payload
    or signature."""
    run = _run(tb, tmp_path, "valid")
    got = outcomes(run.result)
    ids = [i for i in got if "test_transfer" in i or "test_third_party" in i]
    assert run.status == 0, f"exit {run.status}:\n{run.output[-3000:]}"
    assert ids, f"no token transfer ran:\n{run.output[-2000:]}"
    assert all(i.endswith("-token]") for i in ids), [i for i in ids if not i.endswith("-token]")]
    head = "head.example.test"
    for want in (f"{head}-davs-ipv6-via-disk01-token", f"{head}-davs-ipv4-via-disk02-token",
                 f"{head}-root-ipv6-via-disk01-token", f"{head}-root-ipv4-via-disk02-token",
                 "disk01.example.test-to-disk02-davs-ipv6-pull-token",
                 "disk01.example.test-to-disk02-davs-ipv6-push-token"):
        match = [i for i in ids if want in i]
        assert match, f"{want} missing from {ids}"
        assert got[match[0]] == "passed", f"{match[0]}: {got[match[0]]}"
    not_passed = {i: o for i, o in got.items() if i in ids and o != "passed" and "-to-" not in i}
    assert not not_passed, f"token round trips not passing: {not_passed}"
    root_tpc = [i for i in ids if "-root-ipv6-token" in i and "-to-" in i]
    assert root_tpc, ids
    assert got[root_tpc[0]] == "passed", f"{root_tpc[0]}: {got[root_tpc[0]]} (the token is forwarded)"
    assert not _left_on_se(tb), f"left on the SE: {_left_on_se(tb)}"

    _header, payload, signature = _token(tb, "valid").read_text().strip().split(".")
    outputs = {"terminal": run.output, **{p.name: p.read_text(errors="replace") for p in tmp_path.iterdir()
                                          if p.suffix in (".html", ".xml", ".json")}}
    assert {"report.html", "junit.xml"} <= set(outputs), sorted(outputs)
    assert any(k.endswith(".json") for k in outputs), sorted(outputs)
    for name, text in outputs.items():
        for part, value in (("payload", payload), ("signature", signature)):
            assert value not in text, f"the token's {part} is in the {name} output"
            # a part cut by wrapping or quoting would still leak its leading characters
            assert value[:24] not in text, f"a piece of the token's {part} is in the {name} output"
    html = outputs["report.html"]
    assert "BEARER_TOKEN_FILE" in html, "the reproduce-by-hand commands name BEARER_TOKEN_FILE"
    assert "throughput not measured" in html, "1 MiB transfers are shown as latency, not bandwidth"


@pytest.mark.parametrize(("kind", "claim"), [("expired", "claim exp"), ("wrong-audience", "claim aud"),
                                             ("read-only", "claim scope")])
def test_bad_token_claims_fail_each_transfer_in_one_line(tb: Testbed, tmp_path: Path, kind: str,
                                                         claim: str) -> None:
    """The claims are read before any transfer: every token transfer fails (or, with no usable
    credential at all, the run could not run) saying which claim and how to fix it, at once."""
    t0 = time.monotonic()
    run = _run(tb, tmp_path, kind)
    took = time.monotonic() - t0
    if kind == "expired":
        assert run.status == 4, f"an expired token alone: exit {run.status}, expected 4 (could not run)"
        assert "no usable WLCG token" in run.output, run.output[-2000:]
    else:
        assert run.status == 1, f"exit {run.status}:\n{run.output[-2000:]}"
    failed = [r for r in run.result["records"]
              if "test_transfer[" in r["nodeid"] and r["outcome"] == "failed"]
    assert failed, "no transfer failed"
    for r in failed:
        text = json.dumps(r)
        assert claim in text, f"{r['nodeid']} does not name {claim}: {text[:600]}"
        assert "oidc-token" in text, f"{r['nodeid']} gives no fix: {text[:600]}"
    assert took < 120, f"a run refused at the claims took {took:.0f} s"
    assert not _left_on_se(tb), f"left on the SE: {_left_on_se(tb)}"


def test_untrusted_issuer_is_refused_by_the_servers_quickly(tb: Testbed, tmp_path: Path) -> None:
    """Claims the client cannot fault (the signature is the server's business): the servers
    refuse it over every protocol, each transfer fails within seconds, nothing is left."""
    run = _run(tb, tmp_path, "untrusted-issuer")
    assert run.status == 1, f"exit {run.status}:\n{run.output[-2000:]}"
    records = [r for r in run.result["records"] if "test_transfer[" in r["nodeid"]]
    assert records, "no transfer ran"
    assert all(r["outcome"] == "failed" for r in records), [(r["nodeid"], r["outcome"]) for r in records]
    for r in records:
        assert float(r.get("duration") or 0) < 20, f"{r['nodeid']} took {r.get('duration')} s to be refused"
    assert not _left_on_se(tb), f"left on the SE: {_left_on_se(tb)}"


def test_ipv4_rejected_at_the_client_only_ipv6_token_transfers_pass(tb: Testbed, tmp_path: Path) -> None:
    """Forced means forced with a token too: IPv4 to the site rejected at the client, every
    IPv6 token transfer passes and every IPv4 one fails."""
    rule = ["OUTPUT", "-d", "10.42.0.0/24", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"]
    add = tb._tb("exec", "client", "--", "iptables", "-A", *rule)
    assert add.returncode == 0, f"iptables rule not added: {add.stderr}"
    try:
        run = _run(tb, tmp_path, "valid", "--transfer-timeout=20")
    finally:
        tb._tb("exec", "client", "--", "iptables", "-D", *rule)
    got = {i: o for i, o in outcomes(run.result).items() if "test_transfer[" in i or "test_third_party" in i}
    assert [i for i in got if "-ipv4" in i], f"no IPv4 token transfer ran: {sorted(got)}"
    for test_id, outcome in got.items():
        if "-ipv6" in test_id:  # root TPC with a token too: the destination forwards it
            assert outcome == "passed", f"IPv4 rejected: {test_id} should pass, got {outcome}"
        elif "-ipv4" in test_id:
            assert outcome == "failed", f"IPv4 rejected, yet {test_id} {outcome}: not forced"
    assert not _left_on_se(tb), f"left on the SE: {_left_on_se(tb)}"


def test_a_proxy_at_the_default_path_never_stands_in_for_the_token(tb: Testbed) -> None:
    """A site's UI usually holds /tmp/x509up_u$UID: a token the servers refuse must still fail,
    not pass on the proxy (gfal2 and XrdCl look there by default). Run in a private /tmp so the
    machine's own /tmp is never touched: an overlay keeps what /tmp holds (the checkout and its
    venv may live there, as in a CI clone) and takes the proxy in a layer of the testbed's."""
    out = tb.state / "proxy-beside-token"
    out.mkdir(exist_ok=True)
    up, work = tb.state / "tmp-upper", tb.state / "tmp-work"
    script = (f"mkdir -p {up} {work} && mount -t overlay overlay "
              f"-o lowerdir=/tmp,upperdir={up},workdir={work} /tmp && "
              f"cp {tb.state}/x509/proxy.pem /tmp/x509up_u0 && "
              f"chmod 600 /tmp/x509up_u0 && exec env -u X509_USER_PROXY {sys.executable} -m pytest "
              f"-p no:cacheprovider -q --results-dir={out} --transfer-auth=token "
              f"--bearer-token-file={_token(tb, 'untrusted-issuer')} tests/test_transfers.py")
    res = tb._tb("run", "--", "unshare", "-m", "--propagation", "private", "sh", "-c", script, timeout=900)
    docs = [p for p in out.glob("*.json") if not p.stem.endswith("-latest")]
    assert docs, f"no result file: {(res.stdout + res.stderr)[-2000:]}"
    records = [r for r in json.loads(docs[0].read_text())["records"] if "test_transfer[" in r["nodeid"]]
    assert records, "no transfer ran"
    passed = [r["nodeid"] for r in records if r["outcome"] == "passed"]
    assert not passed, f"passed on the proxy instead of the refused token: {passed}"
    assert not _left_on_se(tb), f"left on the SE: {_left_on_se(tb)}"
