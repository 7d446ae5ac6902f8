"""The transfer tests run for real against testbed sites (root, namespaces; no mocks).

Each scenario runs the suite's tests/test_transfers.py from the testbed's client host and reads
the outcome per test id from JUnit XML:

* default site: every transfer passes (all protocols, both families, every entry point);
* forced family: with IPv4 to the site rejected at the client every IPv6 test passes and every
  IPv4 test fails, and the reverse with IPv6 rejected (the proof that "IPv6" means IPv6);
* a disk node not dual-stacked: exactly the IPv6 transfers reaching it fail, naming it;
* an expired proxy: every transfer fails saying so, naming the proxy and the fix;
* a stopped (SIGSTOP) xrootd: the transfer fails within its timeout, and a transfers-only run
  pays about one timeout per endpoint, with one root-cause line naming the node and the service;
* one bad address (a stale AAAA, one dead node behind a door alias): only its per-address tests
  fail, each naming the address;
* a TPC destination speaking from a non-DNS address: the source's socket table shows it, and
  SE6-IF-07 names it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tbrun import tb_name

ROOT = Path(__file__).resolve().parents[2]
PY = str(ROOT / ".venv" / "bin" / "python")
NAME = tb_name("xfit")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("globus-gridftp-server") or not shutil.which("xrootd"),
    reason="needs root and the testbed's servers (make setup)")


def tb(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "testbed", "--name", name, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def suite(name: str, tmp: Path, *args: str, env: dict[str, str] | None = None,
          timeout: float = 600) -> dict[str, str]:
    """Run the transfer tests on the client; return {test id: "passed" | failure message}."""
    xml = tmp / f"junit-{time.monotonic_ns()}.xml"
    cmd = ["run", "--", *(["env", *[f"{k}={v}" for k, v in env.items()]] if env else []),
           PY, "-m", "pytest", "-p", "se_dualstack.plugins.transfers", "tests/test_transfers.py",
           "-p", "no:cacheprovider", "-q", f"--junitxml={xml}", "--html", str(tmp / "r.html"), *args]
    res = tb(name, *cmd, timeout=timeout)
    assert xml.exists(), f"pytest wrote no JUnit XML: {res.stdout[-2000:]} {res.stderr[-2000:]}"
    out: dict[str, str] = {}
    for tc in ET.parse(xml).getroot().iter("testcase"):
        name_ = tc.get("name", "")
        bad = tc.find("failure")
        if bad is None:
            bad = tc.find("error")
        skipped = tc.find("skipped")
        if bad is not None:
            out[name_] = bad.get("message") or "failed"
        elif skipped is not None:
            out[name_] = "skipped: " + (skipped.get("message") or "")
        else:
            out[name_] = "passed"
    return out


@pytest.fixture(scope="module")
def tb_site() -> Iterator[dict[str, str]]:
    """The default testbed site, up for this module; always brought down."""
    up = tb(NAME, "up")
    assert up.returncode == 0, f"testbed up failed: {up.stdout} {up.stderr}"
    state = f"/run/se-testbed/{NAME}"
    inv = yaml.safe_load(Path(f"{state}/inventory.yml").read_text())
    try:
        yield {"state": state, "v6": inv["all"]["vars"]["se_ipv6_prefixes"][0],
               "v4": ".".join(str(inv["all"]["children"]["headnodes"]["hosts"]["head.example.test"]
                                  ["ansible_host"]).split(".")[:3]) + ".0/24"}
    finally:
        tb(NAME, "down")


def transfers(outcomes: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in outcomes.items() if k.startswith("test_transfer[")}


def test_default_site_every_transfer_passes(tb_site: dict[str, str], tmp_path: Path) -> None:
    out = transfers(suite(NAME, tmp_path))
    # 14 + a direct davs round trip to each disk node's own https port and a direct root round
    # trip to each disk node's data server (2 disks x 2 families x 2 protocols)
    assert len(out) == 22, f"expected 22 transfer tests on the default site, got {sorted(out)}"
    bad = {k: v for k, v in out.items() if v != "passed"}
    assert not bad, f"transfers failed on the default site: {bad}"
    html = (tmp_path / "r.html").read_text()
    # 1 MiB transfers are latency, not bandwidth (issue 9.7): the IPv6 vs IPv4 chart is of latency
    assert "median step latency" in html, "the IPv6 vs IPv4 chart is missing from the HTML report"
    assert "gfal-copy" in html, "the reproduce command is missing from the HTML report"
    assert "BEGIN" not in html, "PEM material in the report"


@pytest.mark.parametrize("blocked", [4, 6])
def test_forced_family_really_forced(tb_site: dict[str, str], tmp_path: Path, blocked: int) -> None:
    """Reject one family to the site at the client: only the other family's round trips may pass
    (the third-party copies, which the client does not carry, are left out of this run)."""
    tool, net = ("iptables", tb_site["v4"]) if blocked == 4 else ("ip6tables", tb_site["v6"])
    rule = ["OUTPUT", "-d", net, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"]
    add = tb(NAME, "exec", "client", "--", tool, "-A", *rule)
    assert add.returncode == 0, f"{tool} rule not added: {add.stderr}"
    try:
        out = transfers(suite(NAME, tmp_path, "--transfer-timeout", "10", "-k", "not test_third_party_copy"))
    finally:
        tb(NAME, "exec", "client", "--", tool, "-D", *rule)
    allowed = 6 if blocked == 4 else 4
    assert out, "no transfer tests ran"
    for test_id, outcome in out.items():
        if f"-ipv{allowed}" in test_id:
            assert outcome == "passed", f"IPv{blocked} rejected: {test_id} should pass, got {outcome}"
        else:
            assert outcome != "passed", f"IPv{blocked} rejected, yet {test_id} passed: not forced"


def test_expired_proxy_fails_every_transfer(tb_site: dict[str, str], tmp_path: Path) -> None:
    expired = f"{tb_site['state']}/x509/expired-proxy.pem"
    out = suite(NAME, tmp_path, env={"X509_USER_PROXY": expired})
    assert out, "no tests ran"
    for test_id, outcome in out.items():
        assert "expired" in outcome, f"{test_id}: expected an 'expired proxy' failure, got {outcome}"
        # The proxy is named by its variable, never by its local path (issue 20: no local paths
        # of the suite machine's credentials in any output).
        assert "$X509_USER_PROXY" in outcome, f"{test_id}: the proxy is not named: {outcome}"
        assert expired not in outcome, f"{test_id}: the proxy's local path is shown: {outcome}"
        assert "voms-proxy-init" in outcome, f"{test_id}: the fix is not named: {outcome}"


def test_stopped_server_fails_within_timeout(tb_site: dict[str, str], tmp_path: Path) -> None:
    pid = Path(f"{tb_site['state']}/hosts/disk01/srv/xrd/run/xrootd.pid").read_text().split()[0]
    stop = tb(NAME, "exec", "disk01", "--", "kill", "-STOP", pid)
    assert stop.returncode == 0, f"could not stop disk01's xrootd: {stop.stderr}"
    t0 = time.monotonic()
    try:
        out = suite(NAME, tmp_path, "--transfer-timeout", "5", "-k", "root and ipv6 and via-disk01")
    finally:
        tb(NAME, "exec", "disk01", "--", "kill", "-CONT", pid)
    took = time.monotonic() - t0
    outcome = out.get("test_transfer[head.example.test-root-ipv6-via-disk01]", "not run")
    assert "no answer within 5 s" in outcome, f"expected a step timeout, got {outcome}"
    # One step times out (5 s), the cleanup delete gets its own 5 s, plus pytest/ssh start-up.
    assert took < 40, f"the stopped server held the run for {took:.0f} s"


def test_a_stopped_xrootd_is_one_root_cause_paid_once_per_endpoint(tb_site: dict[str, str],
                                                                   tmp_path: Path) -> None:
    """xrootd stopped on disk01 (SIGSTOP: it accepts connections, never answers; its https port
    is the same process): the transfers-only run waits about one deadline per endpoint (disk01's
    1094 and 443, over IPv6 and IPv4), not one per transfer, and the summary has one root-cause
    line naming the node and the service. About 60 s (the 25 transfers take ~25 s unhindered)."""
    deadline = 10
    pid = Path(f"{tb_site['state']}/hosts/disk01/srv/xrd/run/xrootd.pid").read_text().split()[0]
    stop = tb(NAME, "exec", "disk01", "--", "kill", "-STOP", pid)
    assert stop.returncode == 0, f"could not stop disk01's xrootd: {stop.stderr}"
    t0 = time.monotonic()
    try:
        res = tb(NAME, "run", "--", PY, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "transfer",
                 f"--transfer-timeout={deadline}", f"--results-dir={tmp_path}", timeout=900)
    finally:
        tb(NAME, "exec", "disk01", "--", "kill", "-CONT", pid)
    took = time.monotonic() - t0
    docs = [p for p in tmp_path.glob("*.json") if not p.stem.endswith("-latest")]
    assert len(docs) == 1, f"one result file: {res.stdout[-3000:]}{res.stderr[-2000:]}"
    records = json.loads(docs[0].read_text())["records"]
    bad = [r for r in records if r["outcome"] in ("failed", "error")]
    assert bad, "disk01's transfers fail"
    assert {r["host"] for r in bad} == {"disk01.example.test"}, "every failure is about disk01"
    assert all(r.get("cause", "").startswith("silent:disk01.example.test|") for r in bad), (
        [(r["nodeid"], r.get("cause")) for r in bad])
    waited = [r for r in bad if not r.get("could_not_run")]
    kept = [r for r in bad if r.get("could_not_run")]
    # four endpoints (1094 and 443, two families); two transfer slots may wait side by side once
    assert len(waited) <= 4 + 2, f"{len(waited)} transfers waited: {[r['nodeid'] for r in waited]}"
    assert kept, "the later transfers to a silent endpoint were not tried"
    for r in kept:
        assert re.search(r"not tried: \w+ on disk01\.example\.test \(port \d+\) did not answer",
                         r["message"]), r["message"]
    causes = [ln for ln in res.stdout.splitlines() if ln.startswith("root cause:")]
    assert len(causes) == 1, causes
    assert re.match(r"root cause: disk01\.example\.test: (https and xrootd|xrootd and https) did not "
                    rf"answer over IPv6 and IPv4: {len(waited)} transfers timed out waiting for them; "
                    rf"{len(kept)} could not run", causes[0]), causes
    # The run's cost: the unhindered transfers plus about one deadline per endpoint (in slots).
    assert took < 25 + 4 * deadline + 45, f"the stopped server held the run for {took:.0f} s"
    for r in waited:
        assert f"within the {deadline} s deadline" in r["message"] or f"no answer within {deadline} s" in \
            r["message"], f"true timing words: {r['message']}"


def test_not_dual_stacked_disk_fails_only_its_ipv6(tmp_path: Path) -> None:
    name = tb_name("xfnd")
    site_file = tmp_path / "partial.yml"
    base = yaml.safe_load((ROOT / "testbed/sites/default.yml").read_text())
    base["site"] = "partial"
    base["hosts"] = [*(h for h in base["hosts"] if h["short"] != "disk02"),
                     {"short": "disk02", "role": "disknode", "os": "el7",
                      "faults": ["not_dual_stacked"]}]
    site_file.write_text(yaml.safe_dump(base))
    up = tb(name, "up", str(site_file))
    assert up.returncode == 0, f"testbed up failed: {up.stdout} {up.stderr}"
    try:
        out = transfers(suite(name, tmp_path, "--transfer-timeout", "20"))
    finally:
        tb(name, "down")
    assert out, "no transfer tests ran"
    for test_id, outcome in out.items():
        reaches = "disk02" in test_id
        if reaches and "-ipv6" in test_id:
            assert outcome != "passed", f"{test_id} passed although disk02 has no IPv6"
            assert "disk02.example.test" in outcome, f"{test_id}: failure does not name disk02: {outcome}"
        else:
            assert outcome == "passed", f"{test_id} should pass (not IPv6 to disk02), got {outcome}"


def test_one_bad_address_fails_only_its_per_address_tests(tmp_path: Path) -> None:
    """stale_aaaa on disk01, alias_one_dead on disk02: only the dead addresses' root tests fail.

    A 1+2 site and root only (the alias's protocol), to keep it short. disk01's stale AAAA is
    tested as the head's redirect target pinned to it; the alias disks.<domain> is tested at each
    disk's address, and disk02's IPv6 one (1094 rejected by ip6tables) fails, as does the head's
    redirect to disk02 over IPv6. Every message names the address at fault.
    """
    from testbed import dns
    from testbed.site import parse_site

    name = tb_name("xfaddr")
    raw = {"site": "peraddr", "domain": "example.test", "ipv4_prefix": "10.42.0.0/24",
           "ipv6_prefix": "fd42:6::/64", "gridftp_data_range": "20000-25000",
           "hosts": [{"short": "head", "role": "headnode", "os": "el7", "faults": []},
                     {"short": "disk01", "role": "disknode", "os": "el7", "faults": ["stale_aaaa"]},
                     {"short": "disk02", "role": "disknode", "os": "el7", "faults": ["alias_one_dead"]}]}
    site_file = tmp_path / "peraddr.yml"
    site_file.write_text(yaml.safe_dump(raw))
    site = parse_site(raw, name=name)
    disk01, disk02 = site["hosts"][1], site["hosts"][2]
    stale = dns.stale_v6(site, disk01)
    up = tb(name, "up", str(site_file))
    assert up.returncode == 0, f"testbed up failed: {up.stdout} {up.stderr}"
    try:
        out = transfers(suite(name, tmp_path, "--transfer-timeout", "15", "--transfer-protocols", "root",
                              "-k", "not third_party"))
    finally:
        tb(name, "down")
    # the direct root round trips to each disk's data server meet the same dead addresses
    bad_addr = {f"test_transfer[head.example.test-root-ipv6-via-disk01-{stale}]": stale,
                f"test_transfer[disk01.example.test-root-ipv6-{stale}]": stale,
                f"test_transfer[disks.example.test-root-ipv6-{disk02['ipv6']}]": disk02["ipv6"],
                "test_transfer[head.example.test-root-ipv6-via-disk02]": "disk02.example.test",
                "test_transfer[disk02.example.test-root-ipv6]": "disk02.example.test"}
    for want in (f"test_transfer[head.example.test-root-ipv6-via-disk01-{disk01['ipv6']}]",
                 f"test_transfer[disk01.example.test-root-ipv6-{disk01['ipv6']}]",
                 f"test_transfer[disks.example.test-root-ipv6-{disk01['ipv6']}]",
                 f"test_transfer[disks.example.test-root-ipv4-{disk02['ipv4']}]", *bad_addr):
        assert want in out, f"{want} not run; ran {sorted(out)}"
    failed = {k for k, v in out.items() if v != "passed"}
    assert failed == set(bad_addr), f"expected failing {sorted(bad_addr)}, got {sorted(failed)}"
    for test_id, addr in bad_addr.items():
        assert addr in out[test_id], f"{test_id}: the message does not name {addr}: {out[test_id]}"


def test_tpc_source_sees_the_destinations_non_dns_address(tmp_path: Path) -> None:
    """SE6-IF-07 from the other side: with temporary_source on disk02 (the TPC destination),
    disk01's socket table shows disk02's pull coming from the second address, not the AAAA; the
    suite's IF-07 names that same address on disk02 (and only there)."""
    from testbed import netns
    from testbed.site import parse_site

    name = tb_name("xfsrc")
    raw = {"site": "tpcsrc", "domain": "example.test", "ipv4_prefix": "10.42.0.0/24",
           "ipv6_prefix": "fd42:6::/64", "gridftp_data_range": "20000-25000",
           "hosts": [{"short": "head", "role": "headnode", "os": "el7", "faults": []},
                     {"short": "disk01", "role": "disknode", "os": "el7", "faults": []},
                     {"short": "disk02", "role": "disknode", "os": "el7", "faults": ["temporary_source"]}]}
    site_file = tmp_path / "tpcsrc.yml"
    site_file.write_text(yaml.safe_dump(raw))
    site = parse_site(raw, name=name)
    second = netns.second_source(site, site["hosts"][2])
    up = tb(name, "up", str(site_file))
    assert up.returncode == 0, f"testbed up failed: {up.stdout} {up.stderr}"
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:  # disk01's kernel socket table, while the copy runs
        while not stop.is_set():
            out = subprocess.run(["ip", "netns", "exec", f"{name}-disk01", "ss", "-Htn"],
                                 capture_output=True, text=True, timeout=10).stdout
            seen.update(ln.split()[-1] for ln in out.splitlines() if ":1094 " in ln)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out = suite(name, tmp_path, "--transfer-protocols", "root", "-k", "third_party")
        stop.set()
        watcher.join(timeout=15)
        state = suite(name, tmp_path, "-m", "interfaces", "-k", "source_address", "tests/test_interfaces.py")
    finally:
        stop.set()
        tb(name, "down")
    tpc = "test_third_party_copy[disk01.example.test-to-disk02-root-ipv6]"
    assert out.get(tpc) == "passed", f"the copy itself works on the testbed (no ACL): {out}"
    assert any(p.startswith(f"[{second}]:") for p in seen), (
        f"disk01 saw no connection from disk02's second address {second}: peers {sorted(seen)}")
    failed = {k: v for k, v in state.items() if v != "passed"}
    assert list(failed) == ["test_source_address_is_published[disk02.example.test]"], state
    assert second in failed["test_source_address_is_published[disk02.example.test]"], failed
