"""The testbed's PKI and real daemons: contracts, and real gfal2 transfers against them.

Why: the acceptance suite trusts that the site in a box behaves like a DPM-like SE. These tests
prove it with the same client stack a site uses: python3-gfal2 from the client namespace over
gsiftp://, root:// and davs://, to the head node (redirected) and every disk node, forced to
IPv6 and to IPv4; third-party copies between disk nodes; the expired proxy rejected; the DPM
stand-ins; and the `service_ipv4_only:<service>` fault binding IPv4 only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tbrun import tb_name

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / ".venv" / "bin" / "python"
STATE_ROOT = Path("/run/se-testbed")
NAME = tb_name("svct")  # this module's testbeds: unique among the engineers' concurrent runs
FAULT_NAME = tb_name("svctf")

sys.path.insert(0, str(ROOT))
from testbed import pki as pkimod  # noqa: E402
from testbed import services as svcmod  # noqa: E402

# Runs as the client host: argv = family ("6"/"4"), jobs (JSON). One process per family because
# XRD_NETWORKSTACK is only honoured when set before gfal2.creat_context().
PROBE = r"""
import json, os, sys, time, zlib
fam = sys.argv[1]
os.environ["XRD_NETWORKSTACK"] = "IPv" + fam
os.environ.setdefault("XRD_CONNECTIONRETRY", "1")
os.environ.setdefault("XRD_REQUESTTIMEOUT", "20")
import gfal2
ctx = gfal2.creat_context()
ctx.set_opt_boolean("GRIDFTP PLUGIN", "IPV6", fam == "6")
data = os.urandom(1 << 20)
want = int("%08x" % (zlib.adler32(data) & 0xFFFFFFFF), 16)
src = "/tmp/svct-probe-%d" % os.getpid()
with open(src, "wb") as f:
    f.write(data)
for job in json.loads(sys.argv[2]):
    t = time.monotonic()
    res = {"job": job}
    try:
        p = ctx.transfer_parameters()
        p.overwrite = True
        p.timeout = 60
        if job.get("mode"):
            p.copy_mode = job["mode"]
        url = job.get("dst") or job["url"]
        ctx.filecopy(p, job.get("src") or "file://" + src, url)
        res["size"] = ctx.stat(url).st_size
        res["adler32"] = ctx.checksum(url, "adler32")
        res["ok"] = res["size"] == len(data) and int(res["adler32"], 16) == want
    except gfal2.GError as e:
        res["ok"] = False
        res["error"] = str(e)[:3000]
    res["seconds"] = round(time.monotonic() - t, 2)
    print(json.dumps(res), flush=True)
os.unlink(src)
"""


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the testbed needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "iproute2 is not installed"
    if not (ROOT / "testbed" / "__main__.py").is_file():
        return "the core testbed (python -m testbed) is not in this checkout"
    return None


needs_testbed = pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))


def _tb(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PY), "-m", "testbed", "--name", name, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _up(name: str, *args: str) -> dict[str, Any]:
    res = _tb(name, "up", *args, timeout=600)
    if res.returncode != 0:
        _tb(name, "down")
        pytest.fail(f"testbed {name} up failed: {(res.stderr or res.stdout)[-3000:]}")
    return json.loads((STATE_ROOT / name / "state.json").read_text())


def _site_data() -> dict[str, Any]:
    """A synthetic 1+2 site dict as the core engine hands it to make_pki/service_specs."""
    hosts = [{"short": "head", "fqdn": "head.t.test", "role": "headnode", "os": "el7",
              "ipv4": "10.99.0.10", "ipv6": "fd99::10", "faults": []}]
    hosts += [{"short": f"d{i}", "fqdn": f"d{i}.t.test", "role": "disknode", "os": "el7",
               "ipv4": f"10.99.0.{10 + i}", "ipv6": f"fd99::{10 + i}", "faults": []} for i in (1, 2)]
    return {"domain": "t.test", "hosts": hosts, "gridftp_data_range": "20000-25000"}


def _openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True, timeout=20).stdout


# --- contracts (no testbed needed) ---------------------------------------------------------------

def test_make_pki_contract(tmp_path: Path) -> None:
    """Every file of the contract, valid chains, SANs for all names, a 12 h and an expired proxy.
    (How long it takes is bench/bench_testbed.py's figure, not a test's.)"""
    site = _site_data()
    pki = pkimod.make_pki(tmp_path, site)
    certdir = Path(pki["certdir"])
    h = pki["ca_hash"]
    for suffix in (".0", ".signing_policy", ".namespaces", ".r0"):
        assert (certdir / f"{h}{suffix}").is_file(), suffix
    assert set(pki["hostcert"]) == {"head", "d1", "d2"}, f"host certs made for: {sorted(pki['hostcert'])}"
    for short, (cert, key) in pki["hostcert"].items():
        assert "OK" in _openssl("verify", "-CApath", str(certdir), cert), (
            f"{short} host cert does not verify: {_openssl('verify', '-CApath', str(certdir), cert)}")
        text = _openssl("x509", "-in", cert, "-noout", "-text")
        for name in (f"{short}.t.test", f"{short}-v6.t.test", f"{short}-v4.t.test"):
            assert f"DNS:{name}" in text, f"{short} host cert lacks SAN DNS:{name}"
        assert "TLS Web Server Authentication, TLS Web Client Authentication" in text, (
            f"{short} host cert lacks serverAuth+clientAuth extended key usage")
        assert Path(key).stat().st_mode & 0o077 == 0, (
            f"{short} host key {key} is group/other accessible: {oct(Path(key).stat().st_mode & 0o777)}")
    assert "OK" in _openssl("verify", "-CApath", str(certdir), "-untrusted", pki["usercert"],
                            "-allow_proxy_certs", pki["proxy"]), (
        f"proxy {pki['proxy']} does not verify against the CA and user cert")
    end = _openssl("x509", "-in", pki["proxy"], "-noout", "-enddate").split("=", 1)[1].strip()
    left = dt.datetime.strptime(end, "%b %d %H:%M:%S %Y %Z") - dt.datetime.utcnow()
    assert dt.timedelta(hours=11) < left <= dt.timedelta(hours=12), (
        f"proxy lifetime left {left}, expected 11-12 h")
    assert "Proxy Certificate Information" in _openssl("x509", "-in", pki["proxy"], "-noout", "-text"), (
        f"{pki['proxy']} has no Proxy Certificate Information extension")
    expired = subprocess.run(["openssl", "x509", "-in", pki["expired_proxy"], "-noout", "-checkend", "0"],
                             capture_output=True, text=True, timeout=20)
    assert expired.returncode == 1, "the expired proxy is not expired"
    assert pki["user_dn"] in Path(pki["gridmap"]).read_text(), (
        f"user DN {pki['user_dn']!r} not in gridmap: {Path(pki['gridmap']).read_text()!r}")


@pytest.mark.skipif(os.geteuid() != 0, reason="service_specs chowns directories to the xrootd user")
def test_service_specs_contract(tmp_path: Path) -> None:
    """Names, ports, paths under the host's private dir, and the IPv4-only fault per service."""
    site = _site_data()
    site["hosts"][0]["faults"] = ["service_ipv4_only:srm", "service_ipv4_only:gsiftp"]
    site["hosts"][1]["faults"] = ["service_ipv4_only:xrootd"]
    pki = pkimod.make_pki(tmp_path, site)
    by_host = {h["short"]: svcmod.service_specs(site, h, pki, tmp_path) for h in site["hosts"]}
    ports = {s: {sp.name: sp.ports for sp in specs} for s, specs in by_host.items()}
    assert ports["head"] == {"xrootd": [1094, 443], "cmsd": [1213], "gridftp": [2811],
                             "srm": [8446], "dpns": [5010], "dpm": [5015]}, (
        f"head service ports: {ports['head']}")
    assert ports["d1"] == {"xrootd": [1094, 443], "cmsd": [], "gridftp": [2811]}, (
        f"d1 service ports: {ports['d1']}")
    v4 = {(s, sp.name) for s, specs in by_host.items() for sp in specs if sp.bind_ipv4_only}
    assert v4 == {("head", "srm"), ("head", "gridftp"), ("d1", "xrootd"), ("d1", "cmsd")}, (
        f"IPv4-only services: {sorted(v4)}")
    for short, specs in by_host.items():
        private = str(tmp_path / "hosts" / short) + "/"
        for sp in specs:
            assert sp.log.startswith(private), f"{short}/{sp.name} log {sp.log} is outside {private}"
            # the host's own /etc is an overlay (the test CA joins its CA bundle there)
            outside = [p for p in sp.files if not p.startswith((private, "/etc/"))]
            assert not outside, f"{short}/{sp.name} writes outside {private} and the host's /etc: {outside}"
            assert sp.user in ("root", "xrootd"), f"{short}/{sp.name} runs as unexpected user {sp.user!r}"
    cfg = next(c for sp in by_host["d1"] for p, (c, _, _) in sp.files.items() if p.endswith("xrootd.cfg"))
    assert "all.export /store/d1/" in cfg, f"d1 xrootd.cfg lacks 'all.export /store/d1/': {cfg}"
    assert "all.manager head.t.test:1213" in cfg, f"d1 xrootd.cfg lacks the head manager: {cfg}"
    assert "-I" in by_host["d1"][1].argv, (
        f"d1 {by_host['d1'][1].name} (IPv4-only) argv lacks -I: {by_host['d1'][1].argv}")
    assert "-I" not in by_host["d2"][1].argv, (
        f"d2 {by_host['d2'][1].name} argv has -I without the fault: {by_host['d2'][1].argv}")


# --- against a running testbed -------------------------------------------------------------------

@pytest.fixture(scope="module")
def tb() -> Any:
    """The default site (1 head + 2 disks), up for this module, always torn down."""
    state = _up(NAME)
    try:
        yield state
    finally:
        _tb(NAME, "down")


def _probe(fam: str, jobs: list[dict[str, Any]], proxy: str | None = None,
           env_vars: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    env = ["env", *([f"X509_USER_PROXY={proxy}"] if proxy else []), *env_vars]
    res = _tb(NAME, "run", "--", *env, "/usr/bin/python3", "-c", PROBE, fam, json.dumps(jobs), timeout=600)
    out = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(out) == len(jobs), f"probe failed ({res.returncode}): {res.stderr[-3000:]}"
    return out


def _hosts(tb: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    return tb["site"]["domain"], [h for h in tb["hosts"] if h["role"] in ("headnode", "disknode")]


@needs_testbed
@pytest.mark.parametrize("fam", ["6", "4"])
def test_upload_every_host_protocol_family(tb: dict[str, Any], fam: str) -> None:
    """gfal2 over gsiftp/root/davs to each host's single-family alias; the head node redirects."""
    domain, hosts = _hosts(tb)
    disks = [h["short"] for h in hosts if h["role"] == "disknode"]
    jobs = []
    for i, h in enumerate(hosts):
        name = f"{h['short']}-v{fam}.{domain}"
        xdir = h["short"] if h["role"] == "disknode" else disks[i % len(disks)]  # manager redirects
        jobs += [
            {"url": f"gsiftp://{name}/store/{h['short']}/se6test/g{fam}"},
            {"url": f"root://{name}//store/{xdir}/se6test/r{fam}-{h['short']}"},
            {"url": f"davs://{name}/store/{xdir}/se6test/d{fam}-{h['short']}"},
        ]
    bad = [r for r in _probe(fam, jobs) if not r["ok"]]
    assert not bad, json.dumps(bad, indent=1)


@needs_testbed
def test_third_party_copies(tb: dict[str, Any]) -> None:
    """Disk-to-disk copies: xroot TPC (delegated proxy), HTTP TPC pull and push, GridFTP."""
    domain, hosts = _hosts(tb)
    d1, d2 = [h["short"] for h in hosts if h["role"] == "disknode"][:2]
    src = f"/store/{d1}/se6test/tpc-src"
    jobs: list[dict[str, Any]] = [
        {"url": f"root://{d1}.{domain}/{src}"},
        {"src": f"root://{d1}.{domain}/{src}", "dst": f"root://{d2}.{domain}//store/{d2}/se6test/t-root"},
        {"src": f"davs://{d1}.{domain}{src}", "dst": f"davs://{d2}.{domain}/store/{d2}/se6test/t-pull",
         "mode": "pull"},
        {"src": f"davs://{d1}.{domain}{src}", "dst": f"davs://{d2}.{domain}/store/{d2}/se6test/t-push",
         "mode": "push"},
        {"src": f"root://head.{domain}/{src}", "dst": f"root://head.{domain}//store/{d2}/se6test/t-head"},
        {"src": f"gsiftp://{d1}.{domain}{src}", "dst": f"gsiftp://{d2}.{domain}/store/{d2}/se6test/t-ftp"},
    ]
    # xroot TPC needs a delegated proxy. XrdCl's GSI options are fixed by the process's first
    # xroot connection, so delegation must be on from the start (gfal-copy gets away without it
    # only when the TPC is its first xroot operation).
    bad = [r for r in _probe("6", jobs, env_vars=("XrdSecGSIDELEGPROXY=1",)) if not r["ok"]]
    assert not bad, json.dumps(bad, indent=1)


@needs_testbed
def test_expired_proxy_rejected(tb: dict[str, Any]) -> None:
    """The expired-proxy fault: every protocol refuses, fast; GridFTP says it has expired."""
    domain, hosts = _hosts(tb)
    d1 = next(h["short"] for h in hosts if h["role"] == "disknode")
    jobs = [{"url": f"{p}://{d1}.{domain}{'/' if p == 'root' else ''}/store/{d1}/se6test/expired"}
            for p in ("gsiftp", "root", "davs")]
    res = _probe("6", jobs, proxy=tb["pki"]["expired_proxy"])
    assert not any(r["ok"] for r in res), json.dumps(res, indent=1)
    assert all(r["seconds"] < 20 for r in res), json.dumps(res, indent=1)
    assert "expired" in res[0]["error"], res[0]["error"]


STANDIN_CHECK = r"""
import socket, ssl, sys
host, certdir = sys.argv[1], sys.argv[2]
for port, tls in ((8446, True), (5010, False), (5015, False)):
    for fam in (socket.AF_INET6, socket.AF_INET):
        addr = socket.getaddrinfo(host, port, fam, socket.SOCK_STREAM)[0][4]
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(addr)
        if tls:
            s = ssl.create_default_context(capath=certdir).wrap_socket(s, server_hostname=host)
        print(port, fam.name, s.recv(200).decode().strip())
        s.close()
"""


@needs_testbed
def test_dpm_standins(tb: dict[str, Any]) -> None:
    """SRM (TLS, host cert verified), DPNS and DPM answer over both families and carry DPM's names."""
    domain, _ = _hosts(tb)
    res = _tb(NAME, "run", "--", "/usr/bin/python3", "-c", STANDIN_CHECK, f"head.{domain}",
              tb["pki"]["certdir"], timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert len(lines) == 6, res.stdout
    assert all("stand-in" in ln for ln in lines), res.stdout
    for comm in ("dpm-srm-v2_2", "dpnsdaemon", "dpm"):
        assert _tb(NAME, "exec", "head", "--", "pgrep", "-x", comm, timeout=30).returncode == 0, comm


def _listening(name: str, host: str) -> set[str]:
    out = _tb(name, "exec", host, "--", "ss", "-Hltn", timeout=30).stdout
    return {line.split()[3] for line in out.splitlines() if line.strip()}


@needs_testbed
def test_service_ipv4_only_fault(tmp_path: Path) -> None:
    """`service_ipv4_only:<service>` binds 0.0.0.0 only; the others stay on the dual-stack [::]."""
    site = tmp_path / "svc-faults.yml"
    site.write_text(
        "site: svc-faults\ndomain: example.test\nipv4_prefix: 10.42.0.0/24\nipv6_prefix: fd42:6::/64\n"
        "gridftp_data_range: 20000-25000\ndisks: 2\nhosts:\n"
        "  - {short: head, role: headnode, os: el7, faults: ['service_ipv4_only:srm', "
        "'service_ipv4_only:dpns', 'service_ipv4_only:dpm']}\n"
        "  - {short: disk01, role: disknode, os: el7, faults: ['service_ipv4_only:xrootd']}\n"
        "  - {short: disk02, role: disknode, os: el7, faults: ['service_ipv4_only:gsiftp']}\n")
    _up(FAULT_NAME, str(site))
    try:
        head, d1, d2 = (_listening(FAULT_NAME, h) for h in ("head", "disk01", "disk02"))
    finally:
        _tb(FAULT_NAME, "down")
    assert {"0.0.0.0:8446", "0.0.0.0:5010", "0.0.0.0:5015", "*:1094", "*:443", "*:2811"} <= head, head
    assert {"0.0.0.0:1094", "0.0.0.0:443", "*:2811"} <= d1, d1
    assert {"*:1094", "*:443", "0.0.0.0:2811"} <= d2, d2
