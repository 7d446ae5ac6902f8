"""The redirect chain (SE6-XFER-03) on captured real answers: XrdHttp's response heads and XRootD's
client log (data/redirects/, captured on the testbed: see data/README.md), the judgement of every
failure kind, the chain cases from the storage registry, the report extra."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import fakesite
import pytest

from se_dualstack import sitevars
from se_dualstack.model import Site
from se_dualstack.reporting import templates
from se_dualstack.transfer import protocols
from se_dualstack.transfer.hops import http, xroot
from se_dualstack.transfer.hops.cases import chain_cases, landing_ports
from se_dualstack.transfer.hops.chain import (
    Attempt,
    Chain,
    Hop,
    SiteView,
    TraceContext,
    judge,
    parse_location,
    parse_xroot,
    summary,
)
from se_dualstack.transfer.hops.html import chain_html

DATA = Path(__file__).with_name("data") / "redirects"
DNS = {("head.example.test", 6): ["fd42:6::10"], ("head.example.test", 4): ["10.42.0.10"],
       ("disk01.example.test", 6): ["fd42:6::11"], ("disk01.example.test", 4): ["10.42.0.11"],
       ("disk02.example.test", 6): ["fd42:6::12"], ("disk02.example.test", 4): ["10.42.0.12"],
       ("disk03.example.test", 4): ["10.42.0.13"],  # no AAAA
       ("ll.example.test", 6): ["fe80::1"]}
HOLDERS = {a: name for (name, _), addrs in DNS.items() for a in addrs if name.startswith(("head", "disk"))}


def resolve(name: str, family: int) -> list[str]:
    return DNS.get((name.lower(), family), [])


def view(fallback: str = "disk02.example.test", ports: dict[str, list[tuple[str, int, int]]] | None = None
         ) -> SiteView:
    hosts = ["head.example.test", "disk01.example.test", "disk02.example.test", "disk03.example.test"]
    return SiteView(resolve, [ipaddress.IPv6Network("fd42:6::/64")], HOLDERS, hosts,
                    lambda h: (ports or {}).get(h, []), fallback)


def ctx(family: int = 6, auth: str = "x509") -> TraceContext:
    return TraceContext(family, auth, "/nonexistent/proxy", "", "", 3, 5, resolve,
                        "/store/disk01/se6test/probe.dat")


# --------------------------------------------------------------------------- HTTP answers


def _head(name: str) -> http.Answer:
    return http.parse_head((DATA / name).read_bytes())


@pytest.mark.parametrize(("name", "status", "host", "port", "literal"), [
    ("http-put-expect-xrdhttp-manager-307-name.txt", 307, "disk01.example.test", 1094, 0),
    ("http-put-expect-xrdhttp-manager-307-ipv4-literal.txt", 307, "10.42.0.11", 1094, 4),
    ("http-put-expect-xrdhttp-manager-307-unpublished-ipv6-literal.txt", 307, "fd42:6::5ce:c", 1094, 6),
    ("http-put-expect-xrdhttp-manager-307-token-authz.txt", 307, "disk01.example.test", 1094, 0),
])
def test_xrdhttp_redirects_read_as_written(name: str, status: int, host: str, port: int,
                                           literal: int) -> None:
    answer = _head(name)
    assert answer.status == status, answer
    assert answer.headers["server"] == "XrootD/v5.5.3", answer.headers
    t = parse_location(answer.headers["location"], "https", "head.example.test", 443)
    assert (t.host, t.port, t.literal, t.bracketed, t.problem) == (host, port, literal, True, ""), t
    assert "?" not in t.text, f"the query (which may carry a token) must never be kept: {t.text}"
    assert "authz" not in t.text, t.text


def test_the_next_request_keeps_the_query_the_shown_target_drops_it() -> None:
    location = _head("http-put-expect-xrdhttp-manager-307-token-authz.txt").headers["location"]
    assert http.request_target(location).startswith("/store/disk01/se6test/cap1.dat?authz=Bearer%20eyJ"), \
        "the redirect's own query goes to the next hop, as a client sends it"
    assert parse_location(location, "https", "h", 443).text == "https://disk01.example.test:1094/..."


def test_data_server_answers_and_deletes() -> None:
    assert _head("http-put-expect-xrdhttp-dataserver-100-continue.txt").status == 100
    assert _head("http-delete-xrdhttp-dataserver-200.txt").status == 200
    assert _head("http-delete-xrdhttp-dataserver-404.txt").status == 404
    with pytest.raises(ValueError, match="not an HTTP answer"):
        http.parse_head(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")


@pytest.mark.parametrize(("location", "host", "port", "literal", "bracketed", "problem"), [
    # The field's forms (dCache 6749, 6893, 6568), written as such servers write them.
    ("https://fd42:6::11:1094/store/f", "fd42:6::11:1094", 443, 6, False, ""),
    ("http://fd42:6::11/store/f", "fd42:6::11", 80, 6, False, ""),
    ("https://[fe80::1]:20001/store/f", "fe80::1", 20001, 6, True, ""),
    ("http://192.168.1.7:24001/uuid", "192.168.1.7", 24001, 4, True, ""),
    ("/store/other", "head.example.test", 443, 0, True, ""),
    ("https://[fd42:6::11]x/f", "fd42:6::11", 443, 6, True, "cannot read the port after [fd42:6::11]"),
    ("pool07 port 20001", "", 0, 0, True, "not an absolute URL or a path"),
])
def test_location_forms(location: str, host: str, port: int, literal: int, bracketed: bool,
                        problem: str) -> None:
    t = parse_location(location, "https", "head.example.test", 443)
    assert (t.host, t.port, t.literal, t.bracketed, t.problem) == (host, port, literal, bracketed, problem), t


def test_xroot_redirect_forms() -> None:
    assert parse_xroot("disk01.example.test", 1094).hostport == "disk01.example.test:1094"
    t = parse_xroot("[fd42:6::5ce:c]", 1094)
    assert (t.host, t.literal, t.bracketed) == ("fd42:6::5ce:c", 6, True), t
    t = parse_xroot("fd42:6::11?org.dcache.uuid=1", 33115)
    assert (t.host, t.literal, t.bracketed) == ("fd42:6::11", 6, False), t
    assert "uuid" not in t.text, "the opaque part is never kept"
    assert parse_xroot("pool07.example.org", -1).problem, "a negative port carries flags, no port"
    t = parse_xroot("root://pool07.example.org:33116/", 0)
    assert (t.host, t.port) == ("pool07.example.org", 33116), t


# --------------------------------------------------------------------------- XRootD's client log


def _log(name: str) -> str:
    return (DATA / name).read_text()


def _parse(name: str) -> tuple[list[Hop], dict[str, list[Attempt]]]:
    return xroot.parse_log(_log(name), "head.example.test", 1094)


def test_xrdcl_log_of_a_healthy_ipv6_chain() -> None:
    hops, attempts = _parse("xrdcl-dump-open-new-via-manager-ipv6.log")
    assert [(h.issuer, h.issuer_port, h.answer, h.target.hostport) for h in hops] == [
        ("head.example.test", 1094, "kXR_redirect", "disk01.example.test:1094")]
    assert hops[0].attempts == [Attempt("fd42:6::11", 1094, True)], hops[0].attempts
    assert attempts["head.example.test:1094"] == [Attempt("fd42:6::10", 1094, True)]


def test_xrdcl_log_of_an_ipv4_chain_reads_mapped_addresses_as_ipv4() -> None:
    hops, attempts = _parse("xrdcl-dump-open-new-via-manager-ipv4.log")
    assert [h.target.text for h in hops] == ["10.42.0.11, port 1094"], "IPv4 clients get the A literal"
    assert hops[0].attempts == [Attempt("10.42.0.11", 1094, True)], hops[0].attempts
    assert attempts["head.example.test:1094"] == [Attempt("10.42.0.10", 1094, True)]


def test_xrdcl_log_of_a_refused_data_server() -> None:
    hops, _ = _parse("xrdcl-dump-open-new-via-manager-ipv6-refused.log")
    assert hops[0].attempts == [Attempt("fd42:6::11", 1094, False, "connection refused")], hops
    found = judge(Chain("root", 6, "x509", "head.example.test", 1094, "open", hops=hops), view())
    assert [(f.host, f.warn) for f in found] == [("disk01.example.test", False)], found
    assert "[fd42:6::11]:1094 connection refused" in found[0].what, found[0].what


def test_xrdcl_log_is_cut_before_the_clients_retries() -> None:
    """temporary_source on disk02: the manager hands out the non-DNS address its cmsd logged in
    from; TLS fails there, the client goes back with tried= (cut), an IPv4 client cannot even try."""
    log6 = _log("xrdcl-dump-open-new-via-manager-ipv6-unpublished-ipv6-literal.log")
    assert "tried=[fd42:6::5ce:c]" in log6, "the capture holds the client's retry at the manager"
    hops, _ = xroot.parse_log(log6, "head.example.test", 1094)
    assert len(hops) == 1, [h.target.text for h in hops]
    assert hops[0].target.text == "[fd42:6::5ce:c], port 1094"
    assert hops[0].attempts == [Attempt("fd42:6::5ce:c", 1094, True)], "TCP worked: the handshake answered"
    assert "hostname not in SAN" in hops[0].tls, hops[0].tls
    found = judge(Chain("root", 6, "x509", "head.example.test", 1094, "open", hops=hops), view())
    assert {f.host for f in found} == {"disk02.example.test"}, "the host whose directory it is, not the head"
    assert "no address any inventory host publishes" in found[0].what, found
    hops4, _ = _parse("xrdcl-dump-open-new-via-manager-ipv4-unpublished-ipv6-literal.log")
    assert hops4[0].attempts == [], "an IPv4 client has no way to an IPv6 literal"
    found = judge(Chain("root", 4, "x509", "head.example.test", 1094, "open", hops=hops4), view())
    assert [f.host for f in found] == ["disk02.example.test"], found
    assert "an IPv4 client is handed an IPv6 literal (fd42:6::5ce:c)" in found[0].what, found[0].what


def test_xroot_trace_from_the_clients_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    log = _log("xrdcl-dump-open-new-via-manager-ipv6.log")
    answer = {"version": "v5.5.3", "open": {"ok": True, "message": "[SUCCESS]"},
              "data_server": "disk01.example.test:1094", "rm": {"ok": True, "message": "[SUCCESS]"}}
    monkeypatch.setattr(xroot, "run_probe", lambda cmd, url, c: (answer, log))
    chain = xroot.trace("root", "head.example.test", 1094, ctx())
    assert summary(chain) == ("head.example.test:1094 -> disk01.example.test:1094 ([fd42:6::11]:1094) "
                              "[kXR_open: [SUCCESS] at disk01.example.test:1094]"), summary(chain)
    assert (chain.cleanup, chain.server) == ("removed", "XRootD v5.5.3")
    assert judge(chain, view()) == []
    bad = {**answer, "open": {"ok": False, "message": "[ERROR] Server responded with an error: [3011] "
                                                      "No servers have write access to the file"}}
    connected = log[:log.index("Got kXR_redirect")]  # the entry answered before any redirect
    monkeypatch.setattr(xroot, "run_probe", lambda cmd, url, c: (bad, connected))
    chain = xroot.trace("root", "head.example.test", 1094, ctx())
    assert (chain.error_at, chain.cleanup) == ("head.example.test", "not created"), chain
    found = judge(chain, view("disk01.example.test"))
    assert [f.host for f in found] == ["disk01.example.test"], "an entry that sends the client nowhere"
    assert "sent an IPv6 client nowhere for disk01.example.test's directory" in found[0].what, found


@pytest.mark.parametrize(("family", "address", "target"), [(6, "fd42:6::11", "disk01.example.test:1094"),
                                                         (4, "10.42.0.11", "10.42.0.11:1094")])
def test_xroot_trace_of_a_stopped_data_server(monkeypatch: pytest.MonkeyPatch, family: int, address: str,
                                              target: str) -> None:
    """disk01's xrootd stopped (SIGSTOP): the manager redirects, disk01's kernel accepts the
    connection, the hand shake gets no answer and the open expires: the chain timed out there, a
    failure of disk01 (the silent service), not a family matter and not the head's."""
    log = _log(f"xrdcl-dump-open-new-via-manager-ipv{family}-data-server-stopped.log")
    hops, _ = xroot.parse_log(log, "head.example.test", 1094)
    assert hops[0].attempts == [Attempt(address, 1094, True, "no answer to the hand shake")], hops
    answer = {"version": "v5.5.3", "query": {"ok": True, "message": "[SUCCESS]", "code": 0},
              "open": {"ok": False, "message": "[ERROR] Operation expired", "code": 206},
              "data_server": target}  # the probe's answer in that run
    monkeypatch.setattr(xroot, "run_probe", lambda cmd, url, c: (answer, log))
    chain = xroot.trace("root", "head.example.test", 1094, ctx(family))
    assert chain.timed_out, chain
    assert chain.error == "no answer within 5 s ([ERROR] Operation expired)", chain
    found = judge(chain, view())
    assert [(f.host, f.warn) for f in found] == [("disk01.example.test", False)], found
    assert f"accepted the connection over IPv{family} on port 1094, then gave no answer" in found[0].what
    refused = _log("xrdcl-dump-open-new-via-manager-ipv6-refused.log")  # expired after retrying
    monkeypatch.setattr(xroot, "run_probe", lambda cmd, url, c: (answer, refused))
    assert not xroot.trace("root", "head.example.test", 1094, ctx(6)).timed_out, "nothing accepted"


# --------------------------------------------------------------------------- the HTTP tracer


def _replay(monkeypatch: pytest.MonkeyPatch, answers: dict[tuple[str, str], str]) -> list[tuple[str, str]]:
    """Client.ask answering each (method, host) with a captured response head."""
    asked: list[tuple[str, str]] = []

    def ask(self, scheme, host, port, target, method, headers):
        asked.append((method, host))
        addr = (resolve(host, self.ctx.family) or [host])[0]
        return http.Asked([Attempt(addr, port, True)], _head(answers[(method, host)]))

    monkeypatch.setattr(http.Client, "ask", ask)
    monkeypatch.setattr(http.Client, "tls", lambda self: None)
    return asked


def test_http_trace_replayed(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _replay(monkeypatch, {
        ("PUT", "head.example.test"): "http-put-expect-xrdhttp-manager-307-name.txt",
        ("PUT", "disk01.example.test"): "http-put-expect-xrdhttp-dataserver-100-continue.txt",
        ("DELETE", "head.example.test"): "http-delete-xrdhttp-manager-307.txt",
        ("DELETE", "disk01.example.test"): "http-delete-xrdhttp-dataserver-200.txt"})
    chain = http.trace("davs", "head.example.test", 443, ctx())
    assert summary(chain) == ("head.example.test:443 -> disk01.example.test:1094 ([fd42:6::11]:1094) "
                              "[100 Continue: disk01.example.test takes the upload]"), summary(chain)
    assert chain.cleanup == "removed", chain.cleanup
    assert asked == [("PUT", "head.example.test"), ("PUT", "disk01.example.test"),
                     ("DELETE", "head.example.test"), ("DELETE", "disk01.example.test")], asked
    assert judge(chain, view()) == []


def test_http_trace_of_an_entry_without_a_server_of_the_family(monkeypatch: pytest.MonkeyPatch) -> None:
    _replay(monkeypatch, {
        ("PUT", "head.example.test"): "http-put-expect-xrdhttp-manager-404-no-server-of-the-family.txt",
        ("DELETE", "head.example.test"): "http-delete-xrdhttp-dataserver-404.txt"})
    chain = http.trace("davs", "head.example.test", 443, ctx(4))
    assert (chain.error, chain.cleanup) == ("answered 404 Not Found", "not created"), chain
    found = judge(chain, view())
    assert [f.host for f in found] == ["disk02.example.test"], found


# --------------------------------------------------------------------------- the judgement


def _one_hop(location: str, family: int = 6, attempts: list[Attempt] | None = None) -> Chain:
    t = parse_location(location, "https", "head.example.test", 443)
    return Chain("davs", family, "x509", "head.example.test", 443, "PUT",
                 [Attempt("fd42:6::10" if family == 6 else "10.42.0.10", 443, True)],
                 [Hop("head.example.test", 443, "307 Temporary Redirect", t, attempts or [])])


@pytest.mark.parametrize(("location", "family", "host", "words"), [
    ("https://fd42:6::11:1094/f", 6, "head.example.test", "IPv6 literal without brackets"),
    ("https://10.42.0.11:1094/f", 6, "disk01.example.test", "an IPv6 client is handed an IPv4 literal"),
    ("https://[fd42:6::12]:1094/f", 4, "disk02.example.test", "an IPv4 client is handed an IPv6 literal"),
    ("https://disk03.example.test:1094/f", 6, "disk03.example.test", "has no AAAA record"),
    ("https://[fe80::1]:1094/f", 6, "disk02.example.test", "the link-local address fe80::1"),
    ("https://ll.example.test:1094/f", 6, "disk02.example.test", "(ll.example.test resolves to it)"),
    ("https://[::1]:1094/f", 6, "disk02.example.test", "the loopback address ::1"),
    ("https://[2001:db8::7]:1094/f", 6, "disk02.example.test", "outside the site's IPv6 prefixes"),
    ("https://127.0.0.1:1094/f", 4, "disk02.example.test", "the loopback address 127.0.0.1"),
    ("https://[::ffff:10.42.0.11]:1094/f", 6, "disk01.example.test", "IPv4-mapped"),
    ("no url at all", 6, "head.example.test", "which a client cannot follow"),
])
def test_every_failure_kind_is_pinned(location: str, family: int, host: str, words: str) -> None:
    found = [f for f in judge(_one_hop(location, family), view()) if not f.warn]
    assert found, f"{location} over IPv{family} passed"
    assert (found[0].host, words in found[0].what) == (host, True), found


def test_a_refused_target_and_a_port_outside_the_registry() -> None:
    refused = [Attempt("fd42:6::11", 1094, False, "connection refused")]
    found = judge(_one_hop("https://disk01.example.test:1094/f", 6, refused), view())
    assert [(f.host, f.warn) for f in found] == [("disk01.example.test", False)], found
    ok = [Attempt("fd42:6::11", 1095, True)]
    ports = {"disk01.example.test": [("https", 443, 443), ("xrootd", 1094, 1094)]}
    found = judge(_one_hop("https://disk01.example.test:1095/f", 6, ok), view(ports=ports))
    assert [(f.host, f.warn) for f in found] == [("disk01.example.test", True)], "a warning, not a failure"
    assert "https 443, xrootd 1094" in found[0].what, found[0].what


def test_a_refused_mover_names_its_range() -> None:
    refused = [Attempt("fd42:6::11", 33115, False, "permission denied")]
    ports = {"disk01.example.test": [("dcache-pool-wan", 20000, 25000), ("dcache-pool-xrootd", 33115, 33145)]}
    found = judge(_one_hop("https://disk01.example.test:33115/f", 6, refused), view(ports=ports))
    assert [(f.host, f.warn) for f in found] == [("disk01.example.test", False)], found
    assert found[0].fix.startswith("Open its range 33115:33145 (dcache-pool-xrootd, where this hop lands) "
                                   "over IPv6 on disk01.example.test"), found[0].fix
    found = judge(_one_hop("https://disk01.example.test:1094/f", 6,
                           [Attempt("fd42:6::11", 1094, False, "connection refused")]), view())
    assert found[0].fix.startswith("Open port 1094 over IPv6 on disk01.example.test"), found[0].fix


def test_healthy_hops_pass_both_families() -> None:
    assert judge(_one_hop("https://disk01.example.test:1094/f", 6, [Attempt("fd42:6::11", 1094, True)]),
                 view()) == []
    assert judge(_one_hop("https://10.42.0.11:1094/f", 4, [Attempt("10.42.0.11", 1094, True)]), view()) == []


def test_an_entry_that_refuses_is_at_fault_itself() -> None:
    chain = Chain("davs", 6, "x509", "head.example.test", 443, "PUT",
                  [Attempt("fd42:6::10", 443, False, "connection refused")], error="no address accepted")
    assert [f.host for f in judge(chain, view())] == ["head.example.test"]


# --------------------------------------------------------------------------- cases and report


def test_chain_cases_of_the_dpm_site() -> None:
    site = fakesite.site()
    ids = [c.id for c in chain_cases(site, auths=("x509", "token"))]
    first = [f"head.example.test-{p}-ipv{f}-via-disk01" for p in ("root", "davs") for f in (6, 4)]
    assert ids[:4] == first, ids
    assert len(ids) == len(set(ids)) == 16, ids
    assert not any("gsiftp" in i for i in ids), "DPM redirects no gsiftp client"
    assert ids[-1] == "head.example.test-davs-ipv4-via-disk02-token", ids
    case = chain_cases(site)[0]
    assert (case.port, case.group_host) == (1094, "disk01.example.test"), case
    assert landing_ports(site, case)("disk01.example.test") == [("xrootd", 1094, 1094)], "the registry's hop"


def _system_site(flavour: str, door_dir: bool = False) -> Site:
    tdir = {"se_transfer_dir": "/pnfs/example.org/se6test"}
    hosts = [sitevars.build_host("t", "door.example.org", "headnode",
                                 {"se_flavour": flavour, **(tdir if door_dir else {})}, None),
             sitevars.build_host("t", "pool01.example.org", "disknode",
                                 {"se_flavour": flavour, **tdir}, None)]
    if door_dir:
        hosts = hosts[:1]
    return Site("t", flavour, "t.yml", hosts, {})


def test_chain_cases_of_other_systems() -> None:
    dcache = {c.id: c for c in chain_cases(_system_site("dcache"))}
    assert not [i for i in dcache if "-gsiftp-" in i], (
        "GridFTP's PASV hop has no tracer: no chain case (its round trips prove it)")
    assert dcache["door.example.org-davs-ipv6-via-pool01"].port == 2880, "the WebDAV door"
    assert "door.example.org-root-ipv4-via-pool01" in dcache, "the xroot door's chain"
    ports = landing_ports(_system_site("dcache"), dcache["door.example.org-root-ipv6-via-pool01"])
    assert ports("pool01.example.org") == [("dcache-pool-xrootd", 33115, 33145)], "xroot movers: LAN range"
    assert chain_cases(_system_site("storm")) == [], "StoRM serves data where clients connect"
    door = [c.id for c in chain_cases(_system_site("dcache", door_dir=True), ["davs"])]
    assert door == ["door.example.org-davs-ipv6", "door.example.org-davs-ipv4"], \
        "a test directory named on the door alone: the door's chain, wherever its pools are"


def test_every_tracer_the_registry_names_exists() -> None:
    traced = [p.name for p in protocols.every() if p.redirect.tracer]
    assert traced == ["root", "davs", "https"], traced
    for name in traced:
        assert callable(protocols.tracer(name)), name
    with pytest.raises(ValueError, match="names no redirect tracer"):
        protocols.tracer("gsiftp")
    assert protocols.server_version("gsiftp", "h", 1, None) == "", "no version question: empty"
    assert protocols.get("root").version_query == "se_dualstack.transfer.hops.xroot:server_version"
    assert callable(xroot.server_version), "root asks its servers (query config version)"


def test_report_extra_shows_the_chain_and_never_a_token() -> None:
    chain = _one_hop("https://disk01.example.test:1094/f?authz=Bearer%20eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
                     6, [Attempt("fd42:6::11", 1094, False, "connection refused")])
    chain.cleanup, chain.server = "not created", "XrootD/v5.5.3"
    out = chain_html(chain, judge(chain, view()))
    assert "head.example.test:443" in out
    assert "disk01.example.test:1094" in out
    assert "[fd42:6::11]:1094 failed: connection refused" in out
    assert "se6-failed" in out
    assert "eyJ" not in out, "a token reached the report"
    assert "authz" not in out, "a redirect's query reached the report"
    css = templates.css()  # the report's one style sheet styles every class the extra uses
    for cls in set(re.findall(r'class="([^"]+)"', out)):
        assert f".{cls}" in css, f"class {cls} of the chain's extra is not in data/report.css"


def test_xroot_probe_runs_under_se6_xrootd_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """SE6_XROOTD_PYTHON: the XRootD client process runs under that interpreter (make test-py39's
    Debian 11 Python has no XRootD bindings) and still finds the probe module of this package."""
    import subprocess
    import sys

    monkeypatch.delenv(xroot.XROOTD_PYTHON_VAR, raising=False)
    assert xroot.probe_argv("version")[:3] == [sys.executable, "-m", xroot.PROBE]
    monkeypatch.setenv(xroot.XROOTD_PYTHON_VAR, "/usr/bin/python3")
    argv = xroot.probe_argv("nonsense")
    assert argv[0] == "/usr/bin/python3"
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 2, res.stderr
    assert "open" in res.stderr, "the probe module ran under that Python and printed its usage"
