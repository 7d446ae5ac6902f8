"""Pure logic of the transfer runner: URLs, the path guard, cases, evidence parsing, stats, commands."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from se_dualstack import transfer as tx
from se_dualstack.model import PortRange, SEHost, Service, Site


def _host(name: str, role: str, **vars_: object) -> SEHost:
    svcs = [Service("gsiftp", 2811, ("globus-gridftp-server",), True, "GridFTP"),
            Service("xrootd", 1094, ("xrootd",), True, "XRootD"),
            Service("https", 443, ("xrootd",), True, "HTTPS")]
    return SEHost(name, role, dict(vars_), svcs, PortRange(20000, 25000))


def _site(**disk_vars: object) -> Site:
    hosts = [_host("head.example.test", "headnode", se_transfer_dir="/store/head/se6test"),
             _host("disk01.example.test", "disknode", se_transfer_dir="/store/disk01/se6test", **disk_vars),
             _host("disk02.example.test", "disknode", se_transfer_dir="/store/disk02/se6test/", **disk_vars)]
    return Site("t", "dpm", "t.yml", hosts, {})


def test_build_url_per_protocol() -> None:
    assert tx.build_url("root", "h.x", 1094, "/store/a/f") == "root://h.x:1094//store/a/f", "root wants //"
    assert tx.build_url("davs", "h.x", 443, "/store/a/f") == "davs://h.x:443/store/a/f", "davs one slash"
    assert tx.build_url("gsiftp", "fd42::11", 2811, "/s/f") == "gsiftp://[fd42::11]:2811/s/f", "bracketed"
    with pytest.raises(ValueError, match="unknown transfer protocol"):
        tx.build_url("ftp", "h", 21, "/x")
    with pytest.raises(ValueError, match="absolute"):
        tx.build_url("root", "h", 1, "x")


def test_url_path_round_trip() -> None:
    for proto in tx.PROTOCOLS:
        url = tx.build_url(proto, "[fd42::10]", 1, "/store/d/se6test/f.dat")
        assert tx.url_path(url) == "/store/d/se6test/f.dat", f"{proto}: path lost in {url}"


@pytest.mark.parametrize("url", [
    "root://h:1094//store/d/se6test/../x.dat",
    "root://h:1094//store/d/se6test/./x.dat",
    "davs://h:443/store/d/other/x.dat",
    "davs://h:443/store/d/se6test",
    "davs://h:443/store/d/se6test/",
    "davs://h:443/store/d/se6test/sub/x.dat",
    "davs://h:443/store/d/se6testX/x.dat",
    "gsiftp://h:2811/etc/passwd",
    "davs://h:443/store/d/se6test//x.dat",
    "not a url",
])
def test_guard_refuses_outside_paths(url: str) -> None:
    with pytest.raises(tx.PathGuardError):
        tx.guard_path(url, "/store/d/se6test")


@pytest.mark.parametrize("tdir", ["/", "/store", "store/d/x", "/store/../etc", ""])
def test_guard_refuses_bad_test_dirs(tdir: str) -> None:
    with pytest.raises(tx.PathGuardError):
        tx.guard_path("root://h:1//store/d/se6test/x.dat", tdir)


def test_guard_accepts_a_child_file() -> None:
    got = tx.guard_path("root://h:1//store/d/se6test/x.dat", "/store/d/se6test")
    assert got == "/store/d/se6test/x.dat", "a direct child of the test directory must pass the guard"


def test_unique_names_differ_and_are_safe() -> None:
    names = {tx.unique_name("root-ipv6") for _ in range(200)}
    assert len(names) == 200, "unique_name repeated itself"
    assert all("/" not in n and n.endswith(".dat") for n in names), f"unsafe name among {list(names)[:3]}"


def test_adler32_matches_zlib_and_known_value(tmp_path: Path) -> None:
    assert tx.adler32_hex(b"Wikipedia") == "11e60398", "the textbook ADLER32 example"
    p = tmp_path / "f"
    value = tx.make_random_file(p, 3 * 1024 * 1024 + 7, chunk=1 << 20)
    assert p.stat().st_size == 3 * 1024 * 1024 + 7, "random file has the wrong size"
    assert value == tx.adler32_file(p) == f"{zlib.adler32(p.read_bytes()) & 0xFFFFFFFF:08x}", (
        "chunked ADLER32 differs from the one-shot value")


def test_files_equal_reports_first_difference(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 100)
    b.write_bytes(b"x" * 41 + b"y" + b"x" * 58)
    assert tx.files_equal(a, a)[0], "a file equals itself"
    same, detail = tx.files_equal(a, b)
    assert not same, f"wrong detail {detail!r}"
    assert "byte 41" in detail, f"wrong detail {detail!r}"
    b.write_bytes(b"x")
    assert "sizes differ" in tx.files_equal(a, b)[1], "size difference must be named"


def test_parse_size() -> None:
    assert tx.parse_size("1M") == 1 << 20, "1M"
    assert tx.parse_size("100MiB") == 100 << 20, "100MiB"
    assert tx.parse_size(4096) == 4096, "int"
    assert tx.parse_size("10k") == 10240, "10k"
    with pytest.raises(ValueError, match="bad size"):
        tx.parse_size("lots")


def test_cases_default_site_ids_and_entry_points() -> None:
    ids = [c.id for c in tx.transfer_cases(_site())]
    assert "head.example.test-root-ipv6-via-disk01" in ids, ids
    assert "head.example.test-davs-ipv4-via-disk02" in ids, ids
    assert "disk01.example.test-gsiftp-ipv6" in ids, "gsiftp goes to the disk node directly"
    assert "head.example.test-gsiftp-ipv4" in ids, "the head's own directory over gsiftp"
    assert "head.example.test-root-ipv6" not in ids, "the redirector's own dir is covered via the disks"
    assert len(ids) == len(set(ids)) == 14, ids
    c = next(c for c in tx.transfer_cases(_site()) if c.id == "head.example.test-root-ipv6-via-disk02")
    assert c.endpoint.url("f") == "root://head.example.test:1094//store/disk02/se6test/f", "trailing / kept"


def test_cases_head_only_site_tests_all_protocols_on_the_head() -> None:
    site = _site()
    site.hosts = site.hosts[:1]
    ids = [c.id for c in tx.transfer_cases(site, protocols=["root"])]
    assert ids == ["head.example.test-root-ipv6", "head.example.test-root-ipv4"], ids


def test_cases_ports_and_protocol_validation() -> None:
    site = _site(se_transfer_ports={"davs": 8443}, se_transfer_via_head=[])
    c = next(c for c in tx.transfer_cases(site) if c.id == "disk01.example.test-davs-ipv6")
    assert c.endpoint.port == 8443, "se_transfer_ports override ignored"
    with pytest.raises(ValueError, match="unknown"):
        tx.transfer_cases(_site(se_transfer_protocols=["rfio"]))


def test_tpc_cases_use_ipv6_aliases_when_declared() -> None:
    plain = tx.tpc_cases(_site())
    assert {c.protocol for c in plain} == {"davs", "root", "gsiftp"}, plain
    assert not plain[0].names_forced, "no alias declared: server-to-server is not forced"
    site = _site()
    for h in site.hosts:
        h.vars["se_ipv6_alias"] = h.name.replace(".", "-v6.", 1)
    c = tx.tpc_cases(site, ["root"])[0]
    assert c.names_forced, c
    assert c.source.url("f").startswith("root://disk01-v6.example.test:1094//"), c
    assert c.id == "disk01.example.test-to-disk02-root-ipv6", c.id


def test_cases_join_their_targets_xdist_group() -> None:
    """A transfer through the head node and a TPC run in the group of the host the data lands on."""
    groups = {c.id: c.group_host for c in tx.transfer_cases(_site())}
    assert groups["head.example.test-root-ipv6-via-disk01"] == "disk01.example.test", groups
    assert groups["disk02.example.test-gsiftp-ipv4"] == "disk02.example.test", groups
    assert groups["head.example.test-gsiftp-ipv6"] == "head.example.test", groups
    tpc = tx.tpc_cases(_site(), ["root"])[0]
    assert (tpc.id, tpc.group_host) == ("disk01.example.test-to-disk02-root-ipv6", "disk02.example.test")


def test_figures_one_per_direction_over_successful_repeats() -> None:
    def ok(up: float, down: float) -> tx.TransferResult:
        r = tx.TransferResult("c", "davs", 4, 1000)
        r.steps = [tx.Step("list", "passed", 0.1), tx.Step("upload", "passed", up, nbytes=1000),
                   tx.Step("download", "passed", down, nbytes=1000)]
        return r

    bad = ok(1.0, 1.0)
    bad.steps[2].status = "failed"
    figs = tx.figures([ok(0.5, 0.25), ok(1.5, 0.75), bad])
    assert figs == [
        {"protocol": "davs", "family": 4, "direction": "upload", "bytes": 2000, "seconds": 2.0, "runs": 2},
        {"protocol": "davs", "family": 4, "direction": "download", "bytes": 2000, "seconds": 1.0, "runs": 2},
    ], figs
    tpc = tx.TransferResult("t", "root", 6, 1000)
    tpc.steps = [tx.Step("seed", "passed", 1.0), tx.Step("tpc", "passed", 0.5, nbytes=1000)]
    assert tx.figures([tpc]) == [{"protocol": "root", "family": 6, "direction": "tpc", "bytes": 1000,
                                  "seconds": 0.5, "runs": 1}]
    assert tx.figures([tx.TransferResult("x", "root", 6, 1, precondition="no proxy")]) == []


def test_parse_proc_tcp_and_families() -> None:
    tcp = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout"
           " inode\n"
           "   0: 0100007F:0016 0B002A0A:0B01 01 00000000:00000000 00:00000000 00000000 0 0 111 1\n"
           "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 222 1\n")
    assert tx.parse_proc_tcp(tcp, {"111", "222"}) == [(4, "10.42.0.11", 2817)], "listener must be skipped"
    v6 = "0000000000000000FFFF00000B002A0A:0446"
    assert tx.parse_proc_addr(v6) == ("::ffff:10.42.0.11", 1094), tx.parse_proc_addr(v6)
    assert tx.wire_family("::ffff:10.42.0.11") == 4, "a mapped address is IPv4 on the wire"
    raw = socket.inet_pton(socket.AF_INET6, "fd42:6::11")
    hexed = "".join(raw[i:i + 4][::-1].hex().upper() for i in range(0, 16, 4))
    assert tx.parse_proc_addr(hexed + ":0050") == ("fd42:6::11", 80), "IPv6 word order"


def test_shim_and_pasv_lines_become_connections() -> None:
    c = tx.parse_shim_line("connect 6 fd42:6::11 1094 -1 115")
    assert c is not None, c
    assert c.family == 6, c
    assert not c.error, c
    assert not c.refused, c
    r = tx.parse_shim_line("refused 4 10.42.0.11 1094 -1 101")
    assert r is not None, r
    assert r.refused, r
    f = tx.parse_shim_line("connect 6 fd42:6::11 1094 -1 111")
    assert f is not None, f
    assert f.error == os.strerror(111), f
    assert tx.parse_shim_line("garbage") is None, "garbage must not parse"
    p = tx.parse_pasv_event("IPV6: [fd42:6::11]:20001")
    assert p == tx.Connection(6, "fd42:6::11", 20001, "pasv"), p
    conns = [c, r, f, tx.Connection(4, "10.42.0.11", 2811, "proc")]
    assert tx.family_violations(conns, 6) == [conns[3]], "only the used IPv4 connection is a violation"
    assert tx.family_violations(conns[:3], 6) == [], "refused and failed attempts carried no traffic"


def _result(ok: bool, rate: float = 2**20) -> tx.TransferResult:
    r = tx.TransferResult("c", "root", 6, 2**20)
    r.steps = [tx.Step("upload", "passed", 1.0, nbytes=int(rate)),
               tx.Step("download", "passed" if ok else "failed", 0.5, nbytes=2**20, error="boom")]
    return r


def test_stats_and_step_skipping() -> None:
    s = tx.summarize([_result(True, 2**20), _result(True, 3 * 2**20), _result(False)])
    assert (s.runs, s.successes, round(s.rate, 3)) == (3, 2, 0.667), s
    assert s.upload_mmm == (2 * 2**20, 2**20, 3 * 2**20), s.upload_mmm
    assert s.failures, s.failures
    assert "download failed" in s.failures[0], s.failures
    assert "boom" in s.failures[0], s.failures
    res = tx.TransferResult("c", "davs", 4, 1)
    runner = tx.StepRunner(res)

    def boom(step: tx.Step) -> None:
        raise tx.StepFailed("gfal2 said no")

    runner.run("upload", boom)
    later = runner.run("stat", lambda s: None)
    assert later.status == "skipped", later
    assert later.detail == "skipped: upload failed", later
    assert runner.run("delete", lambda s: None, always=True).ok, "cleanup steps run anyway"
    assert "upload failed" in res.error_summary(), res.error_summary()
    assert "gfal2 said no" in res.error_summary(), res.error_summary()


def test_gfal_copy_command_renders_forcing() -> None:
    cmd = tx.gfal_copy_command("file:///tmp/a", "gsiftp://h:2811/s/d/a", "gsiftp", 6, 60, "/c/shim.so")
    assert cmd.startswith("LD_PRELOAD=/c/shim.so SE6_FAMILY=6 gfal-copy"), cmd
    assert "-D 'GRIDFTP PLUGIN:IPV6=true'" in cmd, cmd
    assert "-K ADLER32" in cmd, cmd
    assert "-t 60" in cmd, cmd
    cmd = tx.gfal_copy_command("file:///tmp/a", "root://h:1094//s/a", "root", 4, 30, None)
    assert cmd.startswith("XRD_NETWORKSTACK=IPv4 gfal-copy"), cmd
    assert "IPV6" not in cmd, cmd
    assert "LD_PRELOAD" not in tx.gfal_rm_command("root://h:1//s/a", "root", 6, None), "no shim, no preload"


def test_forcing_description_is_honest() -> None:
    assert "NOT forced" in tx.forcing_description("davs", 6, None, False), "davs has no switch of its own"
    assert "XRD_NETWORKSTACK=IPv6" in tx.forcing_description("root", 6, None, False), "root"
    assert "family shim" in tx.forcing_description("gsiftp", 4, "/x.so", False), "shim"
    assert not tx.is_forced("davs", None, False), "alias forces"
    assert tx.is_forced("davs", None, True), "alias forces"


def test_report_html_escapes_and_redacts() -> None:
    r = _result(False)
    r.steps[1].error = "<script>-----BEGIN RSA PRIVATE KEY-----\nMIIsecret\n-----END RSA PRIVATE KEY-----"
    r.commands = ["gfal-copy 'a' 'b'"]
    out = tx.result_html([r])
    assert "<script>" not in out, out
    assert "MIIsecret" not in out, out
    assert "[redacted PEM]" in out, out
    svg = tx.throughput_svg(tx.group_stats([_result(True), _result(True)]))
    assert svg.startswith("<svg"), svg
    assert "root upload IPv6" in svg, svg
    assert "n/a" in svg, svg


def test_proxy_problem_names_path_and_fix(tmp_path: Path) -> None:
    missing = tx.proxy_problem(str(tmp_path / "nope.pem"))
    assert missing, missing
    assert "nope.pem" in missing, missing
    assert "voms-proxy-init" in missing, missing
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=t", "-days", "1"], check=True, capture_output=True,
                   timeout=60)
    assert tx.proxy_problem(str(cert)) is None, "a valid certificate is not a problem"
    bad = tmp_path / "bad.pem"
    bad.write_text("not a cert")
    assert "not a readable certificate" in (tx.proxy_problem(str(bad)) or ""), "garbage proxy"
    gone = tx.check_proxy(str(tmp_path / "nope.pem"))
    assert gone is not None, "missing proxy"
    assert gone.could_not_run_line() == (f"no valid grid proxy ({tmp_path / 'nope.pem'}: no such file): "
                                         "transfer checks could not run; run voms-proxy-init")
    assert tx.check_proxy(str(bad)).reason == "not a readable certificate"  # type: ignore[union-attr]
    assert tx._openssl_date("Nov  3 12:00:00 2026 GMT") == "2026-11-03 12:00:00 UTC"


def test_family_shim_forces_connect_and_getaddrinfo(tmp_path: Path) -> None:
    """The compiled shim, on loopback: the other family is refused and logged, ours goes through."""
    shim, why = tx.build_shim()
    if shim is None:
        pytest.skip(f"no shim: {why}")
    code = ("import socket,sys\n"
            "for a in ('127.0.0.1','::1','::ffff:127.0.0.1'):\n"
            "    s=socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET)\n"
            "    try: s.connect((a, 9))\n"
            "    except OSError as e: print(a, e.errno)\n"
            "try: socket.getaddrinfo('127.0.0.1', 9)\n"
            "except socket.gaierror as e: print('gai', e.errno)\n")
    log = tmp_path / "log"
    env = {**os.environ, "LD_PRELOAD": shim, "SE6_FAMILY": "6", "SE6_CONNLOG": str(log)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert "127.0.0.1 101" in lines, f"IPv4 not refused: {out}"
    assert "::ffff:127.0.0.1 101" in lines, f"IPv4 not refused: {out}"
    assert any(x.startswith("::1 ") and not x.endswith(" 101") for x in lines), f"IPv6 refused: {out}"
    assert "refused 4 127.0.0.1 9" in log.read_text(), log.read_text()
    assert f"gai {socket.EAI_ADDRFAMILY}" in lines or any(x.startswith("gai ") for x in lines), (
        f"an IPv4 literal must not resolve when IPv6 is forced: {out}")


def test_lazy_ca_bundle_replaces_only_a_default_bundle_mirrored_by_a_hashed_dir(tmp_path: Path) -> None:
    """The empty bundle must never drop a CA: default bundle + hashed dir only, opt-out honoured."""
    import ssl

    hashed, plain = tmp_path / "hashed", tmp_path / "plain"
    hashed.mkdir()
    plain.mkdir()
    (hashed / "5ad8a5d6.0").write_text("x")
    (plain / "ca-bundle.crt").write_text("x")
    default = ssl.get_default_verify_paths().openssl_cafile

    env = {"SSL_CERT_DIR": str(hashed)}
    path = tx.lazy_ca_bundle(env, tmp_path)
    assert path, f"a hashed SSL_CERT_DIR alone got no lazy bundle: {path!r}"
    assert env["SSL_CERT_FILE"] == path, f"SSL_CERT_FILE is {env.get('SSL_CERT_FILE')!r}, expected {path!r}"
    assert "BEGIN CERTIFICATE" not in Path(path).read_text(), f"lazy bundle {path} is not empty of CAs"
    assert tx.lazy_ca_bundle({"SSL_CERT_DIR": str(hashed), "SSL_CERT_FILE": default}, tmp_path), (
        f"the default bundle {default!r} with a hashed dir was not replaced")
    # A dir without hash links, a bundle the user chose, the opt-out: left alone.
    for env in ({"SSL_CERT_DIR": str(plain)},
                {"SSL_CERT_DIR": str(hashed), "SSL_CERT_FILE": str(plain / "ca-bundle.crt")},
                {"SSL_CERT_DIR": str(hashed), "SE6_KEEP_CA_BUNDLE": "1"}):
        before = dict(env)
        assert tx.lazy_ca_bundle(env, tmp_path) is None, f"a bundle was made where it must not be: {before}"
        assert env == before, f"env changed from {before} to {env}"
