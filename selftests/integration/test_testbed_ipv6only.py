"""The IPv6-only site in a box (issue 18): an IPv6-only client behind DNS64/NAT64, an IPv6-only
disk node, the CRL the servers depend on, and the three IPv6-only faults, observed from the client.

Why: the suite's IPv6-only side (se_families, DNS64 detection, SE6-DEP-01, SE6-FAM-01) can only
be proven against a site that really is IPv6-only: a client with no IPv4 address or route whose
resolver synthesizes AAAA records (unbound's dns64 module) and whose gateway translates them
(tayga), and a disk node with no IPv4 at all that still serves gfal2 over IPv6 with X.509 and
with a token its XRootD validates by fetching the issuer over IPv6. DNS answers are read with
dnspython at the client's own resolver, never getent (which maps an A record to ::ffff:a.b.c.d).

Cost (2 CPUs, shared): three `up`s of 1+2/1+3 sites (~2 s each), two gfal2 probe processes
(8 round trips of 1 MiB, ~3 s), ~25 `testbed exec` calls (~0.2 s each): about 20-30 s.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tbrun import PY, ROOT, STATE_ROOT, Testbed, tb_name, unavailable
from test_testbed_lifecycle import assert_nothing_left, netns_inodes

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

HEALTHY, FAULTY, LIFECYCLE = tb_name("v6only"), tb_name("v6fault"), tb_name("v6lc")
DOMAIN = "example.test"

# Runs as the client: argv = auth ("x509" | "token"), URLs (JSON). 1 MiB up, adler32, delete.
# A token run hands gfal2 the bearer token and no proxy (X509_USER_PROXY points nowhere while
# the context is made, as the suite's token worker does), and xroot authenticates with ztn.
PROBE = r"""
import json, os, sys, time, zlib
auth, urls = sys.argv[1], json.loads(sys.argv[2])
os.environ.update(XRD_NETWORKSTACK="IPv6", XRD_CONNECTIONRETRY="1", XRD_REQUESTTIMEOUT="20")
if auth == "token":
    os.environ.update(XrdSecPROTOCOL="ztn", X509_USER_PROXY="/nonexistent")
import gfal2
ctx = gfal2.creat_context()
ctx.set_opt_boolean("GRIDFTP PLUGIN", "IPV6", True)
if auth == "token":
    cred = ctx.cred_new("BEARER", open(os.environ["BEARER_TOKEN_FILE"]).read().strip())
    for prefix in ("davs://", "https://"):
        ctx.cred_set(prefix, cred)
    os.environ.pop("X509_USER_PROXY", None)
data = os.urandom(1 << 20)
want = zlib.adler32(data) & 0xFFFFFFFF
src = "/tmp/v6only-probe-%d" % os.getpid()
with open(src, "wb") as f:
    f.write(data)
for url in urls:
    t, res = time.monotonic(), {"url": url}
    try:
        p = ctx.transfer_parameters()
        p.overwrite, p.timeout = True, 60
        ctx.filecopy(p, "file://" + src, url)
        res["ok"] = int(ctx.checksum(url, "adler32"), 16) == want
        ctx.unlink(url)
    except gfal2.GError as e:
        res["ok"], res["error"] = False, str(e)[:1500]
    res["seconds"] = round(time.monotonic() - t, 2)
    print(json.dumps(res), flush=True)
os.unlink(src)
"""

# Runs as the client: argv = nameserver, then NAME/TYPE pairs; prints one JSON line per query.
DIG = r"""
import json, sys
import dns.resolver
q = dns.resolver.Resolver(configure=False)
q.nameservers, q.lifetime = [sys.argv[1]], 5
for item in sys.argv[2:]:
    name, rtype = item.split("/")
    try:
        ans = q.resolve(name, rtype, raise_on_no_answer=False)
        out = sorted(r.to_text() for r in (ans.rrset or []))
    except dns.resolver.NXDOMAIN:
        out = "NXDOMAIN"
    print(json.dumps([item, out]))
"""


def _tb(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PY), "-m", "testbed", "--name", name, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _on(name: str, host: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A command inside one host of testbed ``name`` (`client` included)."""
    return _tb(name, "exec", host, "--", *argv, timeout=timeout)


def _state(name: str) -> dict[str, Any]:
    st = json.loads((STATE_ROOT / name / "state.json").read_text())
    st["_dir"] = STATE_ROOT / name
    return st


def _dig(name: str, server: str, *queries: str) -> dict[str, Any]:
    """NAME/TYPE -> sorted answers, [] for NODATA or "NXDOMAIN", asked from the client."""
    res = _on(name, "client", str(PY), "-c", DIG, server, *queries)
    assert res.returncode == 0, f"DNS queries at {server} failed: {res.stderr[-2000:]}"
    return dict(json.loads(ln) for ln in res.stdout.splitlines())


def _probe(st: dict[str, Any], auth: str, urls: list[str]) -> dict[str, dict[str, Any]]:
    """gfal2 round trips from the client, URL -> result."""
    token = ["env", f"BEARER_TOKEN_FILE={st['tokens']['tokens']['valid']}"] if auth == "token" else []
    res = _tb(st["name"], "run", "--", *token, "/usr/bin/python3", "-c", PROBE, auth, json.dumps(urls),
              timeout=300)
    lines = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == len(urls), f"gfal2 probe ({auth}) rc {res.returncode}: {res.stderr[-3000:]}"
    return {r["url"]: r for r in lines}


def _in_prefix(addr: str, prefix: str) -> bool:
    return ipaddress.IPv6Address(addr) in ipaddress.IPv6Network(prefix)


@pytest.fixture(scope="module")
def healthy() -> Iterator[dict[str, Any]]:
    with Testbed(HEALTHY, "ipv6only"):
        yield _state(HEALTHY)


@pytest.fixture(scope="module")
def faulty() -> Iterator[dict[str, Any]]:
    with Testbed(FAULTY, "ipv6only-faults"):
        yield _state(FAULTY)


# --- the healthy ipv6only site --------------------------------------------------------------------

def test_client_has_no_ipv4_and_resolves_through_the_dns64(healthy: dict[str, Any]) -> None:
    """No IPv4 address or route on the client; its resolv.conf names only the DNS64, which
    state.json records with its prefix."""
    res = _on(HEALTHY, "client", "sh", "-c",
              "ip -4 -o addr show scope global; echo ==; ip -4 route; echo ==; cat /etc/resolv.conf")
    addrs, routes, resolv = res.stdout.split("==\n")
    assert addrs.strip() == "", f"the client has an IPv4 address: {addrs}"
    assert routes.strip() == "", f"the client has an IPv4 route: {routes}"
    d64 = healthy["dns64"]
    assert (d64["resolver"], d64["prefix"]) == ("fd42:6::64", "64:ff9b::/96"), d64
    servers = [ln.split()[1] for ln in resolv.splitlines() if ln.startswith("nameserver")]
    assert servers == [d64["resolver"]], f"client resolv.conf: {resolv}"
    inv = yaml.safe_load((healthy["_dir"] / "inventory.yml").read_text())["all"]
    assert inv["vars"]["se_resolvers"] == [d64["resolver"]], inv["vars"]


def test_dns64_synthesizes_aaaa_for_a_only_names_and_reveals_the_prefix(healthy: dict[str, Any]) -> None:
    """An AAAA query for an A-only name (the head node's IPv4 alias) answers prefix + A
    (RFC 6052), a real AAAA is left alone, and ipv4only.arpa (RFC 7050) shows the prefix."""
    got = _dig(HEALTHY, healthy["dns64"]["resolver"], f"head-v4.{DOMAIN}/A", f"head-v4.{DOMAIN}/AAAA",
               f"head.{DOMAIN}/AAAA", "ipv4only.arpa/AAAA")
    prefix = healthy["dns64"]["prefix"]
    (a,) = got[f"head-v4.{DOMAIN}/A"]
    synthesized = str(ipaddress.IPv6Address(int(ipaddress.IPv6Network(prefix).network_address)
                                            + int(ipaddress.IPv4Address(a))))
    assert got[f"head-v4.{DOMAIN}/AAAA"] == [synthesized], got
    assert got[f"head.{DOMAIN}/AAAA"] == ["fd42:6::10"], f"a real AAAA must not be replaced: {got}"
    assert got["ipv4only.arpa/AAAA"] == ["64:ff9b::c000:aa", "64:ff9b::c000:ab"], got


def test_nat64_carries_the_client_to_an_ipv4_only_name(healthy: dict[str, Any]) -> None:
    """https to the issuer's IPv4-only alias from the IPv6-only client: curl connects to the
    synthesized address, and the issuer logs the request from NAT64's IPv4 pool."""
    sd = healthy["_dir"]
    res = _on(HEALTHY, "client", "curl", "-sS", "-m", "10", "-o", "/dev/null", "-w",
              "%{http_code} %{remote_ip}", "--capath", str(sd / "x509" / "certificates"),
              f"https://issuer-v4.{DOMAIN}/jwks.json")
    code, remote = res.stdout.split()
    assert code == "200", f"curl through NAT64: {res.stdout} {res.stderr}"
    assert _in_prefix(remote, healthy["nat64"]["prefix"]), f"curl connected to {remote}, not through NAT64"
    pool = ipaddress.IPv4Network(healthy["nat64"]["pool4"])
    seen = [ln.split()[1] for ln in (sd / "logs" / "issuer.log").read_text().splitlines()
            if "GET /jwks.json" in ln and ln.split()[1].startswith("::ffff:")]
    assert any(ipaddress.IPv4Address(s.removeprefix("::ffff:")) in pool for s in seen), (
        f"the issuer saw no request from the NAT64 pool {pool}: {seen}")


def test_ipv6_only_disk_node_has_no_ipv4(healthy: dict[str, Any]) -> None:
    """disk02: no A record (NODATA: the name exists), no -v4 alias, no IPv4 address or route,
    sshd on its IPv6 address only; the inventory manages it over IPv6 and declares [ipv6]."""
    got = _dig(HEALTHY, healthy["site"]["dns"]["ipv6"], f"disk02.{DOMAIN}/A", f"disk02.{DOMAIN}/AAAA",
               f"disk02-v4.{DOMAIN}/A")
    assert got == {f"disk02.{DOMAIN}/A": [], f"disk02.{DOMAIN}/AAAA": ["fd42:6::12"],
                   f"disk02-v4.{DOMAIN}/A": "NXDOMAIN"}, got
    res = _on(HEALTHY, "disk02", "sh", "-c",
              "ip -4 -o addr show scope global; ip -4 route; echo ==; ss -Hltn")
    v4, listen = res.stdout.split("==\n")
    assert v4.strip() == "", f"disk02 has IPv4: {v4}"
    ssh = [ln.split()[3] for ln in listen.splitlines() if ln.split()[3].endswith(":22")]
    assert ssh == ["[fd42:6::12]:22"], f"sshd sockets on disk02: {ssh}"
    assert "[fd42:6::12]:2811" in listen, f"GridFTP is not bound to disk02's IPv6 address: {listen}"
    inv = yaml.safe_load((healthy["_dir"] / "inventory.yml").read_text())["all"]
    d2 = inv["children"]["disknodes"]["hosts"][f"disk02.{DOMAIN}"]
    assert (d2["ansible_host"], d2["se_families"]) == ("fd42:6::12", ["ipv6"]), d2
    assert "se_ipv4_alias" not in d2, d2


def test_every_host_reachable_by_ssh_from_the_ipv6_only_client(healthy: dict[str, Any]) -> None:
    """The generated ssh_config (and ansible_host) reach every SE host from the client."""
    cfg = healthy["_dir"] / "ssh_config"
    script = " && ".join(f"ssh -F {cfg} {h} hostname" for h in ("head", "disk01", "disk02"))
    res = _on(HEALTHY, "client", "sh", "-c", script)
    assert res.stdout.split() == [f"head.{DOMAIN}", f"disk01.{DOMAIN}", f"disk02.{DOMAIN}"], (
        f"ssh from the client: {res.stdout} {res.stderr}")


def test_ipv6_only_disk_node_serves_gfal2_with_x509_and_a_token(healthy: dict[str, Any]) -> None:
    """Round trips to disk02 over IPv6 (root, davs, gsiftp direct; root and davs through the
    head node) with the proxy, and davs + roots with the token, which disk02's XRootD validates
    by fetching the issuer's keys over IPv6 (the issuer logs disk02's IPv6 address)."""
    d2, head, path = f"disk02.{DOMAIN}", f"head.{DOMAIN}", "/store/disk02/se6test"
    x509 = _probe(healthy, "x509", [f"root://{d2}:1094/{path}/x1", f"davs://{d2}:443{path}/x2",
                                    f"gsiftp://{d2}:2811{path}/x3", f"root://{head}:1094/{path}/x4",
                                    f"davs://{head}:443{path}/x5"])
    token = _probe(healthy, "token", [f"davs://{d2}:443{path}/t1", f"roots://{d2}:1094/{path}/t2",
                                      f"davs://{head}:443{path}/t3"])
    bad = {u: r.get("error") for u, r in {**x509, **token}.items() if not r["ok"]}
    assert not bad, f"round trips to the IPv6-only disk node failed: {bad}"
    fetched = [ln for ln in (healthy["_dir"] / "logs" / "issuer.log").read_text().splitlines()
               if "GET /jwks.json" in ln]
    assert any(ln.split()[1] == "fd42:6::12" for ln in fetched), (
        f"disk02 did not fetch the issuer's keys over IPv6: {fetched}")


def test_crl_published_where_the_se_hosts_look(healthy: dict[str, Any]) -> None:
    """The CA's CRL URL is in <hash>.crl_url in each SE host's /etc/grid-security/certificates
    and in its host certificate (CRL distribution point), and answers over IPv6 from the
    IPv6-only disk node with a CRL signed by the test CA."""
    url, h = healthy["crl_url"], healthy["pki"]["ca_hash"]
    assert url == f"http://crl.{DOMAIN}/se-testbed-ca.crl", url
    for host in ("head", "disk01", "disk02"):
        res = _on(HEALTHY, host, "cat", f"/etc/grid-security/certificates/{h}.crl_url")
        assert res.stdout.strip() == url, f"{host}: {h}.crl_url = {res.stdout!r} {res.stderr}"
    cert = Path(healthy["pki"]["hostcert"]["disk02"][0])
    text = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext", "crlDistributionPoints"],
                          capture_output=True, text=True, timeout=10, check=True).stdout
    assert f"URI:{url}" in text, text
    res = _on(HEALTHY, "disk02", "sh", "-c", f"curl -sS -6 -m 10 -o /tmp/ca.crl {url} && "
              "openssl crl -inform DER -in /tmp/ca.crl -noout -issuer && rm -f /tmp/ca.crl")
    assert "CN = SE Testbed CA" in res.stdout, f"CRL over IPv6 from disk02: {res.stdout} {res.stderr}"


# --- the faults, observed from the client ---------------------------------------------------------

def test_no_aaaa_behind_dns64_gets_a_synthesized_aaaa(faulty: dict[str, Any]) -> None:
    """(a) disk01 has no AAAA at the authoritative dnsmasq; the client's DNS64 makes one up in
    the NAT64 prefix from its A record (what SE6-DNS-02 must name), and a TCP connection to it
    succeeds through NAT64 although nothing of IPv6 is published."""
    name = f"disk01.{DOMAIN}/AAAA"
    auth = _dig(FAULTY, faulty["site"]["dns"]["ipv6"], name)[name]
    d64 = _dig(FAULTY, faulty["dns64"]["resolver"], name, f"disk01.{DOMAIN}/A")
    assert auth == [], f"the authoritative server publishes an AAAA for disk01: {auth}"
    assert d64[name] == ["64:ff9b::a2a:b"], f"DNS64 for disk01: {d64}"
    assert d64[f"disk01.{DOMAIN}/A"] == ["10.42.0.11"], d64
    res = _on(FAULTY, "client", "python3", "-c",
              "import socket; s = socket.create_connection(('64:ff9b::a2a:b', 1094), timeout=5); "
              "print(s.getpeername()[0])")
    assert res.stdout.strip() == "64:ff9b::a2a:b", f"connect through NAT64: {res.stdout} {res.stderr}"


def test_issuer_ipv4_only_breaks_token_transfers_to_the_ipv6_only_node(faulty: dict[str, Any]) -> None:
    """(b) issuer.<domain> has no AAAA and listens on 0.0.0.0:443 only: disk02 (IPv6-only)
    cannot fetch its keys, so the valid token is refused there (the server's answer quoted
    below), while disk03, which still has IPv4, fetches them over IPv4 and accepts it. The CRL
    name stays dual-stack."""
    name = f"issuer.{DOMAIN}/AAAA"
    assert _dig(FAULTY, faulty["site"]["dns"]["ipv6"], name, f"crl.{DOMAIN}/AAAA") == {
        name: [], f"crl.{DOMAIN}/AAAA": ["fd42:6::3"]}
    listen = _on(FAULTY, "issuer", "ss", "-Hltn").stdout
    assert "0.0.0.0:443" in listen, listen
    assert "*:443" not in listen, listen
    assert "[::]:443" not in listen, listen
    path2, path3 = "/store/disk02/se6test", "/store/disk03/se6test"
    got = _probe(faulty, "token", [f"davs://disk02.{DOMAIN}:443{path2}/t1",
                                   f"roots://disk02.{DOMAIN}:1094/{path2}/t2",
                                   f"davs://disk03.{DOMAIN}:443{path3}/t3"])
    davs, roots, other = got.values()
    assert not davs["ok"], davs
    assert "HTTP 403" in davs["error"], f"disk02 davs with the token: {davs}"
    assert not roots["ok"], roots
    assert "Auth failed" in roots["error"], f"disk02 roots with the token: {roots}"
    assert other["ok"], f"disk03 (IPv4 left) should fetch the issuer over IPv4: {other}"
    log = (faulty["_dir"] / "hosts" / "disk02" / "srv" / "log" / "xrootd.log").read_text()
    assert "scitokens_Validate: Failed to deserialize SciToken: Couldn't connect to server" in log, (
        "disk02's XRootD does not say why it refused the token")


def test_ipv4_not_removed_leaves_a_record_address_and_listener(faulty: dict[str, Any]) -> None:
    """(c) disk03 is declared IPv6-only (inventory se_families [ipv6], ansible_host IPv6) but
    keeps an A record, an IPv4 address, sshd on it, and XRootD answering over IPv4: the client
    reaches 10.42.0.13:1094 through NAT64."""
    got = _dig(FAULTY, faulty["dns64"]["resolver"], f"disk03.{DOMAIN}/A", f"disk03.{DOMAIN}/AAAA")
    assert got == {f"disk03.{DOMAIN}/A": ["10.42.0.13"], f"disk03.{DOMAIN}/AAAA": ["fd42:6::13"]}, got
    res = _on(FAULTY, "disk03", "sh", "-c", "ip -4 -o addr show scope global; echo ==; ss -Hltn")
    v4, listen = res.stdout.split("==\n")
    assert "10.42.0.13/24" in v4, v4
    assert "10.42.0.13:22" in listen, listen
    inv = yaml.safe_load((faulty["_dir"] / "inventory.yml").read_text())["all"]
    d3 = inv["children"]["disknodes"]["hosts"][f"disk03.{DOMAIN}"]
    assert (d3["ansible_host"], d3["se_families"]) == ("fd42:6::13", ["ipv6"]), d3
    res = _on(FAULTY, "client", "python3", "-c",
              "import socket; s = socket.create_connection(('64:ff9b::a2a:d', 1094), timeout=5); print('ok')")
    assert res.stdout.strip() == "ok", f"disk03's XRootD over IPv4 (via NAT64): {res.stdout} {res.stderr}"


# --- life cycle -----------------------------------------------------------------------------------

def test_up_and_down_leave_nothing() -> None:
    """`down` removes the DNS64 and NAT64 with everything else: no namespace, process (unbound,
    tayga), TUN device, mount or directory of the testbed is left."""
    with Testbed(LIFECYCLE, "ipv6only") as tb:
        st = _state(LIFECYCLE)
        inodes = netns_inodes(LIFECYCLE)
        daemons = [st["dns64"]["pid"], st["nat64"]["pid"]]
        tun = subprocess.run(["ip", "-n", f"{LIFECYCLE}-site", "-br", "link", "show", "nat64"],
                             capture_output=True, text=True, timeout=10)
        assert tun.returncode == 0, f"no nat64 TUN device in the site namespace: {tun.stderr}"
        tb.down()
    assert_nothing_left(LIFECYCLE, inodes)
    alive = [p for p in daemons if Path(f"/proc/{p}").exists()
             and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert alive == [], f"unbound/tayga survived down: {alive}"
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, timeout=10).stdout
    assert "nat64" not in links, f"a nat64 device is left in the root namespace: {links}"
    assert not os.path.exists(f"/run/netns/{LIFECYCLE}-site"), "the site namespace is left"
