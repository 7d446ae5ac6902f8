"""The runner's pure parts: local files, steps and their skipping, stats, commands, HTML, proxy, CA bundle."""

from __future__ import annotations

import subprocess
import zlib
from pathlib import Path

from se_dualstack.transfer.commands import gfal_copy_command, gfal_rm_command
from se_dualstack.transfer.files import adler32_file, adler32_hex, files_equal, make_random_file
from se_dualstack.transfer.outcome import Step, TransferResult
from se_dualstack.transfer.proxy import _openssl_date, check_proxy, proxy_problem
from se_dualstack.transfer.render import result_html, stats_lines, throughput_svg, transfers_html
from se_dualstack.transfer.stats import THROUGHPUT_MIN_BYTES, figures, group_stats, latencies, row, summarize
from se_dualstack.transfer.steps import StepFailed, StepRunner
from se_dualstack.transfer.worker import lazy_ca_bundle


def test_adler32_matches_zlib_and_known_value(tmp_path: Path) -> None:
    assert adler32_hex(b"Wikipedia") == "11e60398", "the textbook ADLER32 example"
    p = tmp_path / "f"
    value = make_random_file(p, 3 * 1024 * 1024 + 7, chunk=1 << 20)
    assert p.stat().st_size == 3 * 1024 * 1024 + 7, "random file has the wrong size"
    assert value == adler32_file(p) == f"{zlib.adler32(p.read_bytes()) & 0xFFFFFFFF:08x}", (
        "chunked ADLER32 differs from the one-shot value")


def test_files_equal_reports_first_difference(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 100)
    b.write_bytes(b"x" * 41 + b"y" + b"x" * 58)
    assert files_equal(a, a)[0], "a file equals itself"
    same, detail = files_equal(a, b)
    assert not same, f"wrong detail {detail!r}"
    assert "byte 41" in detail, f"wrong detail {detail!r}"
    b.write_bytes(b"x")
    assert "sizes differ" in files_equal(a, b)[1], "size difference must be named"


def test_figures_one_per_direction_over_successful_repeats() -> None:
    big = THROUGHPUT_MIN_BYTES

    def ok(up: float, down: float, nbytes: int = big) -> TransferResult:
        r = TransferResult("c", "davs", 4, nbytes)
        r.steps = [Step("list", "passed", 0.1), Step("upload", "passed", up, nbytes=nbytes),
                   Step("download", "passed", down, nbytes=nbytes)]
        return r

    bad = ok(1.0, 1.0)
    bad.steps[2].status = "failed"
    figs = figures(row(r) for r in [ok(0.5, 0.25), ok(1.5, 0.75), bad])
    assert figs == {"davs/4/upload": 2 * big / 2.0 / 1e6, "davs/4/download": 2 * big / 1.0 / 1e6}, (
        "bytes and seconds summed over the successful repeats, in MB/s")
    tpc = TransferResult("t", "root", 6, big)
    tpc.steps = [Step("seed", "passed", 1.0), Step("tpc", "passed", 0.5, nbytes=big)]
    assert figures([row(tpc)]) == {"root/6/tpc": big / 0.5 / 1e6}
    assert figures([row(TransferResult("x", "root", 6, 1, precondition="no proxy"))]) == {}
    assert latencies(row(r) for r in [ok(0.5, 0.25), ok(1.5, 0.75)]) == {}, (
        "a step of 32 MiB or more is a throughput, not a latency")


def test_small_transfers_compare_by_latency() -> None:
    """A 1 MiB step's "rate" is its latency upside down: only its seconds are compared."""
    def ok(up: float) -> TransferResult:
        r = TransferResult("c", "root", 6, 2**20)
        r.steps = [Step("upload", "passed", up, nbytes=2**20)]
        return r

    rows = [row(ok(s)) for s in (0.4, 0.9, 0.5)]
    assert figures(rows) == {}, "no throughput from 1 MiB transfers"
    assert latencies(rows) == {"root/6/upload": 0.5}, "the median of the repeats' seconds"


def _result(ok: bool, rate: float = 2**20) -> TransferResult:
    r = TransferResult("c", "root", 6, 2**20)
    r.steps = [Step("upload", "passed", 1.0, nbytes=int(rate)),
               Step("download", "passed" if ok else "failed", 0.5, nbytes=2**20, error="boom")]
    return r


def test_stats_and_step_skipping() -> None:
    big = THROUGHPUT_MIN_BYTES
    s = summarize([_result(True, big), _result(True, 3 * big), _result(False)])
    assert (s.runs, s.successes, round(s.rate, 3)) == (3, 2, 0.667), s
    assert s.upload_mmm == (2 * big, big, 3 * big), s.upload_mmm
    assert s.failures, s.failures
    assert "download failed" in s.failures[0], s.failures
    assert "boom" in s.failures[0], s.failures
    res = TransferResult("c", "davs", 4, 1)
    runner = StepRunner(res)

    def boom(step: Step) -> None:
        raise StepFailed("gfal2 said no")

    runner.run("upload", boom)
    later = runner.run("stat", lambda s: None)
    assert later.status == "skipped", later
    assert later.detail == "skipped: upload failed", later
    assert runner.run("delete", lambda s: None, always=True).ok, "cleanup steps run anyway"
    assert "upload failed" in res.error_summary(), res.error_summary()
    assert "gfal2 said no" in res.error_summary(), res.error_summary()


def test_small_transfers_are_latency_not_throughput() -> None:
    """Issue 9.7: 1 MiB in 1 s is a redirector's lookup, not 1 MiB/s of bandwidth."""
    small = [_result(True), _result(True)]
    s = summarize(small)
    assert s.upload_mmm is None, f"a 1 MiB upload got a throughput figure: {s.upload_mmm}"
    assert s.upload_s == [1.0, 1.0], s.upload_s
    stats = group_stats(row(r) for r in small)
    lines = list(stats_lines(stats))
    assert "MiB/s" not in "".join(lines), lines
    assert "latency-bound" in lines[-1], lines
    assert "1.000 s" in lines[0], lines
    html = transfers_html(stats, [])
    assert "throughput not measured" in html, html
    assert "<svg" in html, "the latency chart is drawn"


def test_gfal_copy_command_renders_forcing() -> None:
    cmd = gfal_copy_command("file:///tmp/a", "gsiftp://h:2811/s/d/a", "gsiftp", 6, 60, "/c/shim.so")
    assert cmd.startswith("LD_PRELOAD=/c/shim.so SE6_FAMILY=6 gfal-copy"), cmd
    assert "-D 'GRIDFTP PLUGIN:IPV6=true'" in cmd, cmd
    assert "-K ADLER32" in cmd, cmd
    assert "-t 60" in cmd, cmd
    cmd = gfal_copy_command("file:///tmp/a", "root://h:1094//s/a", "root", 4, 30, None)
    assert cmd.startswith("XRD_NETWORKSTACK=IPv4 gfal-copy"), cmd
    assert "IPV6" not in cmd, cmd
    assert "LD_PRELOAD" not in gfal_rm_command("root://h:1//s/a", "root", 6, None), "no shim, no preload"


def test_report_html_escapes_and_redacts() -> None:
    r = _result(False)
    r.steps[1].error = "<script>-----BEGIN RSA PRIVATE KEY-----\nMIIsecret\n-----END RSA PRIVATE KEY-----"
    r.commands = ["gfal-copy 'a' 'b'"]
    out = result_html([r])
    assert "<script>" not in out, out
    assert "MIIsecret" not in out, out
    assert "[rsa private key redacted]" in out, out
    assert throughput_svg(group_stats([row(_result(True))])) == "", "1 MiB transfers: no throughput chart"
    svg = throughput_svg(group_stats([row(_result(True, THROUGHPUT_MIN_BYTES))]))
    assert svg.startswith("<svg"), svg
    assert "root x509 upload IPv6" in svg, svg
    assert "n/a" in svg, "IPv4 has no transfer: n/a"


def test_proxy_problem_names_path_and_fix(tmp_path: Path) -> None:
    missing = proxy_problem(str(tmp_path / "nope.pem"))
    assert missing, missing
    assert "nope.pem" in missing, missing
    assert "voms-proxy-init" in missing, missing
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=t", "-days", "1"], check=True, capture_output=True,
                   timeout=60)
    assert proxy_problem(str(cert)) is None, "a valid certificate is not a problem"
    bad = tmp_path / "bad.pem"
    bad.write_text("not a cert")
    assert "not a readable certificate" in (proxy_problem(str(bad)) or ""), "garbage proxy"
    gone = check_proxy(str(tmp_path / "nope.pem"))
    assert gone is not None, "missing proxy"
    assert gone.could_not_run_line() == (f"no valid grid proxy ({tmp_path / 'nope.pem'}: no such file): "
                                         "transfer checks could not run; run voms-proxy-init")
    assert check_proxy(str(bad)).reason == "not a readable certificate"  # type: ignore[union-attr]
    assert _openssl_date("Nov  3 12:00:00 2026 GMT") == "2026-11-03 12:00:00 UTC"


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
    path = lazy_ca_bundle(env, tmp_path)
    assert path, f"a hashed SSL_CERT_DIR alone got no lazy bundle: {path!r}"
    assert env["SSL_CERT_FILE"] == path, f"SSL_CERT_FILE is {env.get('SSL_CERT_FILE')!r}, expected {path!r}"
    assert "BEGIN CERTIFICATE" not in Path(path).read_text(), f"lazy bundle {path} is not empty of CAs"
    assert lazy_ca_bundle({"SSL_CERT_DIR": str(hashed), "SSL_CERT_FILE": default}, tmp_path), (
        f"the default bundle {default!r} with a hashed dir was not replaced")
    # A dir without hash links, a bundle the user chose, the opt-out: left alone.
    for env in ({"SSL_CERT_DIR": str(plain)},
                {"SSL_CERT_DIR": str(hashed), "SSL_CERT_FILE": str(plain / "ca-bundle.crt")},
                {"SSL_CERT_DIR": str(hashed), "SE6_KEEP_CA_BUNDLE": "1"}):
        before = dict(env)
        assert lazy_ca_bundle(env, tmp_path) is None, f"a bundle was made where it must not be: {before}"
        assert env == before, f"env changed from {before} to {env}"
