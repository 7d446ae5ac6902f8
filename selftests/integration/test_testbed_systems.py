"""Each storage system's site in a box (issue 17, items 2 and 7), seen from its client host.

Why: the suite will trace redirect chains, read port ranges and system configuration on these
sites (SE6-XFER-03, SE6-SYS-0x); that is only worth something if each site really has its
system's shape. Per system (dcache, eos, xrootd, storm): the site comes up and goes down leaving
nothing; each entry point redirects root and HTTP clients of both families to the data server's
port or range as the system's own defaults say (the xroot redirect from XrdCl's log, the Location
header from curl); every listed port accepts a TCP connection over IPv6 and over IPv4; gfal2 round
trips (put, stat, adler32, get, delete) through the entry point and straight to the data server
pass with X.509 and with a WLCG token, each forced to one family by the suite's family shim,
whose connection log shows each hop on that family. Then each system's fault site: every fault
does what faults.yml says, observed from the client (the wrong redirect, the refused port).

The expected ports and ranges below are the systems' documented defaults (see docs/testbed.md),
written here independently of testbed/systems/. Cost: 8 sites up and down, ~70 gfal2 round trips;
about 2-3 minutes on 2 shared cores.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tbrun import PY, ROOT, STATE_ROOT, tb_name, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

NAME, FAULT_NAME = tb_name("systb"), tb_name("systbf")
PROBE = Path(__file__).with_name("systems_probe.py")
SYSTEMS = ("dcache", "eos", "xrootd", "storm")
WAN, LAN = (20000, 25000), (33115, 33145)  # dCache's dcache.net.wan/lan.port.min/max defaults

# system -> ports on the head node and on every disk node (both families, firewall open), and the
# entry point of each redirecting protocol: (head port, (lowest, highest) data-server port)
SHAPES: dict[str, dict[str, Any]] = {
    "dcache": {"head": [1094, 2880, 2811, 8443], "disk": [],
               "redirects": {"root": (1094, LAN), "davs": (2880, WAN)}, "gsiftp": "head"},
    "eos": {"head": [1094, 8443, 1097], "disk": [1095, 9001],
            "redirects": {"root": (1094, (1095, 1095)), "davs": (8443, (9001, 9001))}},
    "xrootd": {"head": [1094], "disk": [1095],
               "redirects": {"root": (1094, (1095, 1095)), "davs": (1094, (1095, 1095))}},
    # no redirect: each StoRM WebDAV host (nginx in front) is an entry point of its own
    "storm": {"head": [8444], "disk": [8443, 8085, 2811], "redirects": {}, "webdav": 8443,
              "gsiftp": "disks"},
}


def _tb(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PY), "-m", "testbed", "--name", name, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _up(name: str, site: str) -> dict[str, Any]:
    res = _tb(name, "up", site, timeout=600)
    if res.returncode != 0:
        _tb(name, "down")
        pytest.fail(f"testbed {name} up {site} failed: {(res.stderr or res.stdout)[-3000:]}")
    state = json.loads((STATE_ROOT / name / "state.json").read_text())
    state["hops"] = {}  # protocol -> family -> disk short -> (host, port), filled once by _hops
    return state


def _probe(state: dict[str, Any], *args: str, env: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run systems_probe.py as the client host; one dict per job."""
    res = _tb(state["name"], "run", "--", "env", *env, "/usr/bin/python3", str(PROBE), *args, timeout=900)
    got = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert got, f"probe {args[0]} printed nothing ({res.returncode}): {res.stderr[-3000:]}"
    return got


def _disks(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in state["hosts"] if h["role"] == "disknode"]


def _head(state: dict[str, Any]) -> dict[str, Any]:
    return next(h for h in state["hosts"] if h["role"] == "headnode")


@pytest.fixture(scope="module", params=SYSTEMS)
def healthy(request: pytest.FixtureRequest) -> Any:
    """The system's healthy site, up for its tests, always torn down."""
    state = _up(NAME, request.param)
    try:
        yield state
    finally:
        _tb(NAME, "down")


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The suite's family shim, built where the client host sees it (/tmp is shared)."""
    from se_dualstack.transfer.shim import build_shim
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("shim")))
        path, why = build_shim()
    assert path, why
    return path


def _hops(state: dict[str, Any]) -> dict[str, dict[int, dict[str, tuple[str, int]]]]:
    """Where each entry point sends a client of each family, per disk node (asked once per site)."""
    if state["hops"]:
        return state["hops"]
    shape = SHAPES[state["site"]["system"]]
    head = _head(state)["fqdn"]
    hops: dict[str, dict[int, dict[str, tuple[str, int]]]] = {}
    for proto, (port, _) in shape["redirects"].items():
        if proto == "root":
            jobs = [{"entry": f"root://{head}:{port}", "path": f"/store/{d['short']}/se6test", "family": f}
                    for f in (6, 4) for d in _disks(state)]
            for r in _probe(state, "xroot", json.dumps(jobs)):
                d = r["job"]["path"].split("/")[2]
                hops.setdefault(proto, {}).setdefault(r["job"]["family"], {})[d] = (r["host"], r["port"])
        else:
            jobs = [{"url": f"https://{head}:{port}/store/{d['short']}/se6test/hop", "family": f, "method": m}
                    for f in (6, 4) for d in _disks(state) for m in ("GET", "PUT")]
            for r in _probe(state, "http", json.dumps(jobs)):
                d = r["job"]["url"].split("/")[4]
                m = re.match(r"https://(\[[^]]+\]|[^:/]+):(\d+)/", r["location"] or "")
                want = 302 if r["job"]["method"] == "GET" else 307  # dCache: on-read 302, on-write 307
                what = f"{r['job']['method']} {r['job']['url']} over IPv{r['job']['family']}"
                assert (r["status"], bool(m)) == (want, True), (
                    f"{what}: expected a {want} redirect to https://host:port/, got {r['status']} "
                    f"Location {r['location']!r} {r['error']}")
                target = (m.group(1), int(m.group(2))) if m else ("", 0)
                hops.setdefault(proto, {}).setdefault(r["job"]["family"], {})[d] = target
    state["hops"] = hops
    return hops


def _family_of(host: str, state: dict[str, Any]) -> set[int]:
    """The families a redirect target can be reached over: a literal's own, a name's from the site."""
    try:
        return {ipaddress.ip_address(host.strip("[]")).version}
    except ValueError:
        rec = next(h for h in state["hosts"] if h["fqdn"] == host)
        return {4} | ({6} if rec["ipv6"] else set())


@pytest.mark.parametrize("family", [6, 4])
def test_entry_points_redirect_to_the_data_server(healthy: dict[str, Any], family: int) -> None:
    """Each redirecting entry point sends a client of this family to the right disk node, on the
    system's data-server port or range, by a name or address of the client's own family (StoRM's
    WebDAV hosts answer themselves, without a redirect)."""
    shape = SHAPES[healthy["site"]["system"]]
    if "webdav" in shape:  # StoRM: no redirect, each WebDAV host serves its data itself
        jobs = [{"url": f"https://{d['fqdn']}:{shape['webdav']}/store/{d['short']}/se6test/",
                 "family": family, "method": "GET"} for d in _disks(healthy)]
        got = [(r["job"]["url"], r["status"], r["location"])
               for r in _probe(healthy, "http", json.dumps(jobs))]
        assert got == [(j["url"], 200, None) for j in jobs], f"WebDAV hosts over IPv{family}: {got}"
    for proto, (_, (lo, hi)) in shape["redirects"].items():
        for d in _disks(healthy):
            host, port = _hops(healthy)[proto][family][d["short"]]
            assert host in (d["fqdn"], d["ipv4"], f"[{d['ipv6']}]"), (
                f"{proto} over IPv{family} for /store/{d['short']}: redirected to {host}, not {d['short']}")
            assert lo <= port <= hi, (
                f"{proto} over IPv{family} for /store/{d['short']}: redirected to port {port}, "
                f"outside {lo}-{hi}")
            assert family in _family_of(host, healthy), (
                f"{proto}: an IPv{family} client was handed {host}, which has no IPv{family} address")


def test_every_port_accepts_both_families(healthy: dict[str, Any]) -> None:
    """Each listed port (and each mover port a redirect named) accepts TCP over IPv6 and IPv4."""
    shape = SHAPES[healthy["site"]["system"]]
    jobs = [{"address": _head(healthy)[fam], "port": p} for p in shape["head"] for fam in ("ipv6", "ipv4")]
    for d in _disks(healthy):
        ports = set(shape["disk"]) | {p for proto in _hops(healthy).values() for _, p in
                                      [proto[4][d["short"]], proto[6][d["short"]]]}
        jobs += [{"address": d[fam], "port": p} for p in sorted(ports) for fam in ("ipv6", "ipv4")]
    bad = [r for r in _probe(healthy, "connect", json.dumps(jobs)) if r["result"] != "ok"]
    assert not bad, f"ports refusing a family on the healthy {healthy['site']['system']} site: {bad}"


def _round_trip_urls(state: dict[str, Any], auth: str) -> list[dict[str, Any]]:
    """Entry point and direct URLs per protocol, each job naming the hops it must make."""
    shape = SHAPES[state["site"]["system"]]
    head = _head(state)
    xroot = "roots" if auth == "token" else "root"
    jobs: list[dict[str, Any]] = []
    for d in _disks(state):
        path = f"/store/{d['short']}/se6test/sys-{auth}"
        for proto, (entry, _) in shape["redirects"].items():
            port = _hops(state)[proto][6][d["short"]][1]
            scheme = xroot if proto == "root" else "davs"
            sep = "/" if proto == "root" else ""
            jobs.append({"url": f"{scheme}://{head['fqdn']}:{entry}{sep}{path}-{proto}-via",
                         "hops": [[head["short"], entry], [d["short"], port]]})
            jobs.append({"url": f"{scheme}://{d['fqdn']}:{port}{sep}{path}-{proto}-direct",
                         "hops": [[d["short"], port]]})
        if "webdav" in shape:
            jobs.append({"url": f"davs://{d['fqdn']}:{shape['webdav']}{path}-davs",
                         "hops": [[d["short"], shape["webdav"]]]})
        if shape.get("gsiftp") == "disks" and auth == "x509":
            jobs.append({"url": f"gsiftp://{d['fqdn']}{path}-gsiftp", "hops": [[d["short"], 2811]]})
    if shape.get("gsiftp") == "head" and auth == "x509":
        jobs.append({"url": f"gsiftp://{head['fqdn']}/store/{head['short']}/se6test/sys-gsiftp",
                     "hops": [[head["short"], 2811]]})
    return jobs


@pytest.mark.parametrize("auth", ["x509", "token"])
@pytest.mark.parametrize("family", [6, 4])
def test_gfal2_round_trips(healthy: dict[str, Any], shim: str, family: int, auth: str) -> None:
    """gfal2 round trips through each entry point and straight to each data server, forced to one
    family; the connection log shows every hop (entry point, the data server's port) on it, and
    nothing on the other family."""
    jobs = _round_trip_urls(healthy, auth)
    token = f"BEARER_TOKEN_FILE={healthy['tokens']['tokens']['valid']}"
    res = _probe(healthy, "gfal", str(family), auth, shim, json.dumps(jobs), env=(token,))
    bad = [{k: r.get(k) for k in ("job", "error", "connections")} for r in res if not r["ok"]]
    assert not bad, json.dumps(bad, indent=1)
    addr = {h["short"]: h[f"ipv{family}"] for h in healthy["hosts"]}
    # XrdCl and davix keep connections open across jobs: the hops show in the process's log as a whole
    made = {c for r in res for c in r["connections"]}
    want = {f"connect {family} {addr[s]} {p}" for r in res for s, p in r["job"]["hops"]}
    assert sorted(want - made) == [], f"hops not made over IPv{family}; connections made: {sorted(made)}"
    other = sorted(c for c in made if not c.startswith(f"connect {family} "))
    assert other == [], f"connections (or attempts) not on IPv{family}: {other}"


# --- each system's faults (testbed/sites/<system>-faults.yml), observed from the client -------------

@pytest.fixture(scope="module")
def fault_site() -> Any:
    """The fault site of a system, brought up when a test first asks for that system (the fault
    tests come grouped by system: each fault site comes up once)."""
    current: dict[str, Any] = {}

    def site_of(system: str) -> dict[str, Any]:
        if current.get("system") != system:
            current.clear()
            current.update(system=system, state=_up(FAULT_NAME, f"{system}-faults"))
        return current["state"]

    try:
        yield site_of
    finally:
        _tb(FAULT_NAME, "down")


def _addr(state: dict[str, Any], short: str, fam: str) -> str:
    h = next(h for h in state["site"]["hosts"] if h["short"] == short)
    return h[fam]


def _connect(state: dict[str, Any], *targets: tuple[str, int]) -> list[str]:
    return [r["result"] for r in _probe(state, "connect", json.dumps(
        [{"address": a, "port": p} for a, p in targets]))]


def _xroot(state: dict[str, Any], entry: str, short: str, family: int) -> dict[str, Any]:
    return _probe(state, "xroot", json.dumps([{"entry": entry, "path": f"/store/{short}/se6test",
                                                "family": family}]))[0]


def _http(state: dict[str, Any], url: str, family: int) -> dict[str, Any]:
    return _probe(state, "http", json.dumps([{"url": url, "family": family, "method": "GET"}]))[0]


def check_dcache_xroot_movers_closed_v6(st: dict[str, Any], d: str) -> None:
    """The door sends IPv6 root clients to the pool's xroot mover, which refuses IPv6; the HTTP
    mover (WAN range) still accepts it, and IPv4 reaches both."""
    hop = _xroot(st, "root://head.example.test:1094", d, 6)
    assert LAN[0] <= (hop["port"] or 0) <= LAN[1], f"IPv6 root via the door for {d}: {hop}"
    assert hop["refused"], f"IPv6 root via the door: the redirect to {d}:{hop['port']} was not refused: {hop}"
    v6, v4 = _addr(st, d, "ipv6"), _addr(st, d, "ipv4")
    got = _connect(st, (v6, hop["port"]), (v4, hop["port"]), (v6, WAN[0]))
    assert got == ["EACCES", "ok", "ok"], (
        f"{d}: xroot mover {hop['port']} over IPv6 and IPv4, HTTP mover {WAN[0]} over IPv6 gave {got}")


def check_dcache_pool_no_ipv6(st: dict[str, Any], d: str) -> None:
    """The door hands IPv6 clients the pool's IPv4 literal; its HTTP door cannot redirect them."""
    hop = _xroot(st, "root://head.example.test:1094", d, 6)
    assert hop["host"] == _addr(st, d, "ipv4"), f"IPv6 root via the door for {d}: {hop}"
    # the XRootD WebDAV door moved to 2881 (dcache_unbracketed_redirect holds 2880 on this site)
    got = _http(st, f"https://head.example.test:2881/store/{d}/se6test/x", 6)
    assert got["status"] == 500, f"IPv6 https via the XRootD WebDAV door for {d}: {got}"


def check_dcache_world_net_ipv4_only(st: dict[str, Any], h: str) -> None:
    """poolmanager.conf's world-net matches IPv4 only (the testbed's doors do not read it)."""
    conf = _tb(st["name"], "exec", h, "--", "cat", "/var/lib/dcache/config/poolmanager.conf").stdout
    world = [ln for ln in conf.splitlines() if ln.startswith("psu addto ugroup world-net")]
    assert world == ["psu addto ugroup world-net 0.0.0.0/0.0.0.0"], conf


def check_dcache_unbracketed_redirect(st: dict[str, Any], h: str) -> None:
    """IPv6 clients get the pool's IPv6 literal without brackets, which curl cannot follow (gfal2's
    davix does); IPv4 clients a valid literal."""
    url = "https://head.example.test:2880/store/disk03/se6test/x"
    got = {f: (_http(st, url, f)["location"] or "").split("/")[2] for f in (6, 4)}
    port = WAN[0] + 2  # disk03's HTTP mover
    want = {6: f"{_addr(st, 'disk03', 'ipv6')}:{port}", 4: f"{_addr(st, 'disk03', 'ipv4')}:{port}"}
    assert got == want, f"Location authority per client family: {got}"
    follow = _tb(st["name"], "run", "--", "curl", "-6", "-sS", "-L", "-o", "/dev/null", "--capath",
                 st["x509"]["X509_CERT_DIR"], url)
    assert "Port number was not a decimal number" in follow.stderr, f"curl -6 -L {url}: {follow.stderr}"


def check_dcache_listen_ipv4(st: dict[str, Any], d: str) -> None:
    """dcache.net.listen holds the pool's IPv4 address; its movers refuse IPv6, the door still
    sends IPv6 clients there."""
    conf = _tb(st["name"], "exec", d, "--", "cat", "/etc/dcache/dcache.conf").stdout
    assert f"dcache.net.listen = {_addr(st, d, 'ipv4')}\n" in conf, conf
    hop = _xroot(st, "root://head.example.test:1094", d, 6)
    assert (hop["host"], bool(hop["refused"])) == (f"{d}.example.test", True), f"IPv6 root via the door {hop}"
    got = _connect(st, (_addr(st, d, "ipv6"), hop["port"]), (_addr(st, d, "ipv4"), hop["port"]))
    assert got == ["ECONNREFUSED", "ok"], f"{d} xroot mover {hop['port']} over IPv6 and IPv4: {got}"


def check_eos_fst_http_closed_v6(st: dict[str, Any], d: str) -> None:
    """The MGM sends IPv6 HTTP clients to the FST's EOS_FST_HTTP_PORT, which refuses IPv6."""
    loc = _http(st, f"https://head.example.test:8443/store/{d}/se6test/x", 6)["location"] or ""
    assert loc.startswith(f"https://{d}.example.test:9001/"), f"IPv6 https via the MGM for {d}: {loc!r}"
    v6, v4 = _addr(st, d, "ipv6"), _addr(st, d, "ipv4")
    got = _connect(st, (v6, 9001), (v4, 9001), (v6, 1095))
    assert got == ["EACCES", "ok", "ok"], f"{d} 9001 over IPv6 and IPv4, 1095 over IPv6: {got}"


def check_eos_fst_no_aaaa(st: dict[str, Any], d: str) -> None:
    """The MGM hands IPv6 root clients the FST's IPv4 address (its name has no AAAA)."""
    hop = _xroot(st, "root://head.example.test:1094", d, 6)
    assert (hop["host"], hop["port"]) == (_addr(st, d, "ipv4"), 1095), f"IPv6 root via the MGM for {d}: {hop}"


def check_eos_fst_http_port_mismatch(st: dict[str, Any], d: str) -> None:
    """The MGM sends HTTP clients of both families to EOS_FST_HTTP_PORT, where no HTTP answers;
    XrdHttp answers on 8001."""
    for fam in (6, 4):
        loc = _http(st, f"https://head.example.test:8443/store/{d}/se6test/x", fam)["location"] or ""
        assert loc.split("/")[2].endswith(":9001"), f"IPv{fam} https via the MGM for {d}: {loc!r}"
        got = _http(st, loc, fam)
        assert got["status"] is None, f"IPv{fam} https to the advertised {loc}: {got}"
    got = _http(st, f"https://{d}.example.test:8001/store/{d}/se6test/", 6)
    assert got["status"] is not None, f"XrdHttp on 8001 (xrd.cf.fst) did not answer: {got}"


def check_xrootd_server_ipv4_only(st: dict[str, Any], d: str) -> None:
    """The redirector sends IPv6 clients to the data server's IPv6 address, which refuses them."""
    hop = _xroot(st, "root://head.example.test:1094", d, 6)
    assert (hop["port"], bool(hop["refused"])) == (1095, True), f"IPv6 root via the redirector for {d}: {hop}"
    got = _connect(st, (_addr(st, d, "ipv6"), 1095), (_addr(st, d, "ipv4"), 1095))
    assert got == ["ECONNREFUSED", "ok"], f"{d} 1095 over IPv6 and IPv4: {got}"


def check_storm_nginx_no_ipv6_listen(st: dict[str, Any], d: str) -> None:
    """nginx serves 8443 over IPv4 only; 8085 keeps both families."""
    v6, v4 = _addr(st, d, "ipv6"), _addr(st, d, "ipv4")
    got = _connect(st, (v6, 8443), (v4, 8443), (v6, 8085))
    assert got == ["ECONNREFUSED", "ok", "ok"], f"{d} 8443 over IPv6 and IPv4, 8085 over IPv6: {got}"


def check_storm_webdav_ipv4_address(st: dict[str, Any], d: str) -> None:
    """StoRM WebDAV (the stand-in) listens on IPv4 only; nginx still serves both families."""
    conf = _tb(st["name"], "exec", d, "--", "cat", "/etc/sysconfig/storm-webdav").stdout
    assert f"STORM_WEBDAV_SERVER_ADDRESS={_addr(st, d, 'ipv4')}\n" in conf, conf
    listening = _tb(st["name"], "exec", d, "--", "ss", "-Hltn", "sport", "= :9443").stdout.split()
    assert "0.0.0.0:9443" in listening, f"StoRM WebDAV's HTTPS port on {d}: {listening}"
    got = _connect(st, (_addr(st, d, "ipv6"), 8443), (_addr(st, d, "ipv4"), 8443))
    assert got == ["ok", "ok"], f"nginx 8443 on {d} over IPv6 and IPv4: {got}"


FAULTS = [  # (system, fault, host carrying it in testbed/sites/<system>-faults.yml)
    ("dcache", "dcache_xroot_movers_closed_v6", "disk01"),
    ("dcache", "dcache_pool_no_ipv6", "disk02"),
    ("dcache", "dcache_world_net_ipv4_only", "head"),
    ("dcache", "dcache_unbracketed_redirect", "head"),
    ("dcache", "dcache_listen_ipv4", "disk04"),
    ("eos", "eos_fst_http_closed_v6", "disk01"),
    ("eos", "eos_fst_no_aaaa", "disk02"),
    ("eos", "eos_fst_http_port_mismatch", "disk04"),
    ("xrootd", "xrootd_server_ipv4_only", "disk01"),
    ("storm", "storm_nginx_no_ipv6_listen", "disk01"),
    ("storm", "storm_webdav_ipv4_address", "disk02"),
]


@pytest.mark.parametrize(("system", "fault", "host"), FAULTS, ids=[f for _, f, _ in FAULTS])
def test_fault_as_the_client_sees_it(fault_site: Any, system: str, fault: str, host: str) -> None:
    faulty = fault_site(system)
    rec = next(h for h in faulty["hosts"] if h["short"] == host)
    assert fault in rec["faults"], f"{host} of {faulty['site']['source']} carries {rec['faults']}"
    globals()[f"check_{fault}"](faulty, host)


def test_down_leaves_nothing(healthy: dict[str, Any]) -> None:
    """`down` removes every namespace, process and directory of the site (the fixture's own down
    is then a no-op)."""
    res = _tb(NAME, "down")
    assert res.returncode == 0, res.stderr
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    assert not [ln for ln in left.splitlines() if ln.startswith(f"{NAME}-")], left
    assert [p for p in (STATE_ROOT / NAME, Path(f"/var/lib/se-testbed/{NAME}")) if p.exists()] == []
