"""No usable credential end to end (pytester): every transfer test fails saying why, the run
exits 4 ("could not run") after the other checks ran, and no file names the proxy's path."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from pluginsuite import PROJECT

# --------------------------------------------------------------------------- no credentials


NOCRED_INVENTORY = """
all:
  vars: {se_site: credsite, se_transfer_dir: /store/se6test}
  children:
    headnodes:
      hosts:
        head.example.test: {ansible_host: 127.0.0.1}
    disknodes:
      hosts:
        disk01.example.test: {ansible_host: 127.0.0.2}
"""

NOCRED_OTHER = '''
import pytest


@pytest.mark.check("SE6-DNS-02")
def test_other(se_host):
    assert se_host.name.endswith(".example.test"), "name"
'''


def expired_cert(path: Path, not_after: str) -> None:
    """A self-signed certificate (proxy-like PEM) that expired at ``not_after`` (UTC)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "se6 test proxy")])
    end = dt.datetime.fromisoformat(not_after)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(end - dt.timedelta(days=1)).not_valid_after(end)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.mark.parametrize(("proxy", "xdist"), [("expired", False), ("missing", True)])
def test_no_valid_proxy_fails_transfers_and_exits_could_not_run(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, proxy: str, xdist: bool) -> None:
    """Issue 4: every transfer test fails saying why; issue 5: the run exits 4 (could not run)
    with one line saying so, after the other checks ran and the reports were written."""
    if xdist:
        pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    monkeypatch.delenv("SE_INVENTORY", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PROJECT), str(pytester.path)]))
    pytester.makeconftest('pytest_plugins = ["se_dualstack.plugins"]\n')
    pytester.path.joinpath("pytest.ini").write_text((PROJECT / "pytest.ini").read_text().replace(
        "testpaths = tests\n", ""))
    pytester.path.joinpath("inventory.yml").write_text(NOCRED_INVENTORY)
    shutil.copy(PROJECT / "tests" / "test_transfers.py", pytester.path / "test_transfers.py")
    pytester.makepyfile(test_other=NOCRED_OTHER)
    pem = pytester.path / "x509up_test"
    if proxy == "expired":
        expired_cert(pem, "2026-11-23T12:00:00+00:00")
        why = "expired on 2026-11-23 12:00:00 UTC"
    else:
        why = "no such file"
    monkeypatch.setenv("X509_USER_PROXY", str(pem))
    # The proxy is named by the variable that points at it: no file shows this machine's path.
    line = (f"no valid grid proxy ($X509_USER_PROXY: {why}): transfer checks could not run; "
            "run voms-proxy-init")
    result = pytester.runpytest_subprocess("--inventory=inventory.yml", "--connection=local",
                                           *(["-n", "2", "--dist", "loadgroup"] if xdist else []))
    assert result.ret == 4, f"could not run (no credentials) is exit 4, got {result.ret}"
    # 11 transfers: gsiftp head+disk01, root and davs via the head, 3 TPCs; + direct davs and
    # root to disk01 (2 families each)
    result.assert_outcomes(passed=2, failed=15)
    assert result.outlines.count(line) == 1, f"one line saying why: {result.outlines[-30:]}"
    reports = pytester.path / "reports"
    doc = json.loads(next(p for p in reports.glob("credsite-2*.json")).read_text())
    assert (doc["exit_status"], doc["exit_category"]) == (4, "could-not-run"), doc["exit_status"]
    assert not (reports / "credsite-latest.json").exists(), "latest left alone"
    html = next(reports.glob("credsite-2*.html")).read_text()
    assert str(pem) not in html, "no local credential path in the report"
    assert str(pem) not in json.dumps(doc), "nor in the result file"
    recs = {r["nodeid"]: r for r in doc["records"]}
    assert [r["outcome"] for n, r in recs.items() if "test_other" in n] == ["passed", "passed"], recs
    xfer = [r for n, r in recs.items() if "test_transfers.py" in n]
    assert len(xfer) == 15, xfer
    assert all(r["outcome"] == "failed" for r in xfer), xfer
    for r in xfer:
        assert "$X509_USER_PROXY" in r["message"], r["message"]
        assert str(pem) not in r["message"], "the proxy's local path is withheld"
        assert "voms-proxy-init" in r["message"], r["message"]
        if proxy == "expired":
            assert "expired" in r["message"], r["message"]
    # Transfer checks not selected: the proxy is not the run's business.
    other = pytester.runpytest_subprocess("--inventory=inventory.yml", "--connection=local",
                                          "-m", "not transfer")
    assert other.ret == 0, f"no transfer selected: exit 0, got {other.ret}"
    assert line not in other.outlines, "no credentials line without transfer checks"
