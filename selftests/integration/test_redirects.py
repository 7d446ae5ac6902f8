"""The redirect chain (SE6-XFER-03) and a TPC's own leg (SE6-XFER-02) against testbed sites.

Real servers, no mocks: the DPM-shaped site's head node is an XRootD manager with cmsd and XrdHttp
that really redirects root and davs clients to the disk nodes.

* the default site: every chain passes, X.509 and token, both families; the report shows each
  chain; nothing is left on the SE;
* one failure kind per disk node, as the testbed makes them: a name without AAAA (no_aaaa), the
  manager handing out an address no host publishes (temporary_source: a disk's cmsd logged in
  from it; an IPv4 client gets an IPv6 literal), a data server's port rejected over IPv6
  (ip6tables_close:1094, where davs lands too): each chain fails on that disk, naming the hop;
* the new faults' catalogue (sites/tpc-leg.yml: gai_prefers_ipv4 on the pulling disk) run whole
  without IPv6-only aliases: each host fails exactly ``testbed.faults.expected_failures``.

Cost (2 shared cores, measured on this machine): the module 116 s (default site ~10 s of suite,
the failure kinds 46-48 s, the catalogue site's whole suite 31-54 s), each test with its own 1+2 or
1+3 site (~5 s up). It runs in ``make test`` (selftests/integration).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from tbrun import Run, Testbed, outcomes, tb_name, unavailable

from testbed import faults
from testbed.site import load_site

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

SITES = Path(__file__).with_name("sites")
HEAD = "head.example.test"
# Without IPv6-only alias names, as at most sites: the servers choose their leg's family.
NO_ALIASES = ("--se-var", "se_ipv6_alias=", "--se-var", "se_ipv4_alias=")


def _token(tb: Testbed) -> str:
    return f"--bearer-token-file={tb.state / 'tokens' / 'valid.jwt'}"


def _left_on_se(tb: Testbed) -> list[str]:
    return sorted(str(p) for p in (tb.state / "hosts").glob("*/srv/root/store/*/se6test/se6test-*"))


def _chains(run: Run) -> dict[str, dict]:
    return {r["nodeid"].split("[", 1)[1][:-1]: r for r in run.result["records"]
            if "test_redirect_chain[" in r["nodeid"]}


@pytest.fixture(scope="module")
def default_site() -> Iterator[Testbed]:
    with Testbed(tb_name("hopsok")) as tb:
        yield tb


def test_default_site_every_chain_passes(default_site: Testbed, tmp_path: Path) -> None:
    run = default_site.run_suite(tmp_path, _token(default_site), "tests/test_redirects.py", timeout=600)
    chains = _chains(run)
    want = {f"{HEAD}-{p}-ipv{f}-via-{d}{a}" for p in ("root", "davs") for f in (6, 4)
            for d in ("disk01", "disk02") for a in ("", "-token")}
    assert set(chains) == want, f"chains: {sorted(chains)}"
    bad = {k: r["message"] for k, r in chains.items() if r["outcome"] != "passed"}
    assert not bad, f"chains failing on the healthy site: {bad}"
    html = (tmp_path / "report.html").read_text()
    assert "redirect chain" in html, "the chain is missing from the report"
    assert "disk01.example.test:1094" in html, "the hop's target is missing from the report"
    assert "probe file: removed" in html, "the report does not say the probe file went"
    assert not _left_on_se(default_site), f"left on the SE: {_left_on_se(default_site)}"


def test_each_failure_kind_fails_on_its_disk(tmp_path: Path) -> None:
    site = tmp_path / "hops-kinds.yml"
    site.write_text(
        "site: hops-kinds\ndomain: example.test\nipv4_prefix: 10.42.0.0/24\nipv6_prefix: fd42:6::/64\n"
        "gridftp_data_range: 20000-25000\nhosts:\n"
        "  - {short: head, role: headnode, os: el7, faults: []}\n"
        "  - {short: disk01, role: disknode, os: el7, faults: [no_aaaa]}\n"
        "  - {short: disk02, role: disknode, os: el7, faults: [temporary_source]}\n"
        '  - {short: disk03, role: disknode, os: el7, faults: ["ip6tables_close:1094"]}\n')
    with Testbed(tb_name("hopskind"), str(site)) as tb:
        run = tb.run_suite(tmp_path / "out", _token(tb), "--transfer-timeout=5", "tests/test_redirects.py",
                           timeout=900)
        left = _left_on_se(tb)
    chains = _chains(run)
    assert len(chains) == 24, sorted(chains)
    # What XRootD 5.5 does with each, as measured: for an IPv6 client the manager hands out disk01's
    # A literal (root) or answers 500 (davs); disk02's cmsd login address goes to both families.
    sent_nowhere = "head.example.test:443 sent an IPv{} client nowhere for disk0{}.example.test's directory"
    words = {("disk01", 6, "root"): "an IPv6 client is handed an IPv4 literal (10.42.0.11)",
             ("disk01", 6, "davs"): sent_nowhere.format(6, 1),
             ("disk02", 6, "root"): "fd42:6::5ce:c is no address any inventory host publishes",
             ("disk02", 6, "davs"): "fd42:6::5ce:c is no address any inventory host publishes",
             ("disk02", 4, "root"): "an IPv4 client is handed an IPv6 literal (fd42:6::5ce:c)",
             ("disk02", 4, "davs"): sent_nowhere.format(4, 2),
             ("disk03", 6, "root"): "[fd42:6::13]:1094", ("disk03", 6, "davs"): "[fd42:6::13]:1094"}
    for test_id, rec in chains.items():
        disk = test_id.split("-via-")[1].split("-")[0]
        family = 6 if "-ipv6-" in test_id else 4
        proto = test_id.split("-")[1]
        if disk != "disk02" and family == 4:
            assert rec["outcome"] == "passed", f"{test_id}: {rec['message']}"
            continue
        assert rec["outcome"] == "failed", f"{test_id} passed: {disk} is broken over IPv{family}"
        assert rec["host"] == f"{disk}.example.test", f"{test_id}: pinned on {rec['host']}, not {disk}"
        assert rec.get("through") == HEAD, f"{test_id}: the test ran through the head node"
        assert words[(disk, family, proto)] in rec["message"], f"{test_id}: {rec['message']}"
    assert not left, f"left on the SE: {left}"


def test_new_faults_trip_exactly_their_checks(tmp_path: Path) -> None:
    """The catalogue of this issue's faults (sites/tpc-leg.yml), the whole suite, no aliases."""
    site_file = SITES / "tpc-leg.yml"
    expected = {h["short"]: set(faults.expected_failures(h)) for h in load_site(site_file)["hosts"]}
    with Testbed(tb_name("hopsleg"), str(site_file)) as tb:
        run = tb.run_suite(tmp_path, _token(tb), *NO_ALIASES, timeout=1200)
    failing: dict[str, set[str]] = defaultdict(set)
    messages = {}
    for r in run.result["records"]:
        if r["outcome"] in ("failed", "error"):
            short = (r["host"] or "?").split(".")[0]
            failing[short].add(r["check"])
            messages.setdefault((short, r["check"]), r["message"])
    assert dict(failing) == {k: v for k, v in expected.items() if v}, f"failing: {dict(failing)}; {messages}"
    got = outcomes(run.result)
    tpcs = {i.split("[", 1)[1][:-1]: o for i, o in got.items() if "test_third_party_copy[" in i}
    failed = {i for i, o in tpcs.items() if o != "passed"}
    pulls = {f"disk01.example.test-to-disk02-davs-ipv6{m}" for m in ("", "-pull-token")}
    assert failed == pulls, f"the HTTP pulls fail, nothing else: {failed}"
    msg = messages[("disk02", "SE6-XFER-02")]
    assert "the server-to-server leg went over IPv4" in msg, msg
    assert "precedence ::ffff:0:0/96 100" in msg, f"the gai.conf line is not named: {msg}"
