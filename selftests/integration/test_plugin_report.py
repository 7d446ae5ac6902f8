"""The HTML report end to end (pytester): default paths, what it shows a certification
reviewer, and what it must never show (credentials, their paths on this machine)."""

from __future__ import annotations

import hashlib
import os
import re

import pytest
from pluginsuite import CHECKS, CONFTEST, FAILING, INVENTORY, read_report


def test_report_default_paths_and_content(project: pytest.Pytester,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_URL", "https://ci:hunter2secret@git.example.org/site.git")
    monkeypatch.setenv("CI_REGISTRY_USER", "gitlab-ci-token")
    project.makepyfile(test_checks=FAILING)
    result = project.runpytest("--inventory=inventory.yml", "--connection=local",
                               "--metadata", "api_token", "tok-s3cr3t-value",
                               "--metadata", "X509_USER_PROXY", "/tmp/x509up_u0")
    result.assert_outcomes(passed=31, failed=1, skipped=2)
    reports = sorted(p.name for p in (project.path / "reports").iterdir())
    html_name = next(n for n in reports if re.fullmatch(r"testsite-\d{8}T\d{6}Z\.html", n))
    stem = html_name.removesuffix(".html")
    assert f"{stem}.xml" in reports, reports
    latest = project.path / "reports" / "testsite-latest.html"
    assert latest.is_symlink(), "stable latest link"
    assert os.readlink(latest) == html_name, "latest points at this run's report"
    html = read_report(project.path / "reports" / html_name)
    digest = hashlib.sha256((project.path / "inventory.yml").read_bytes()).hexdigest()
    for needle in [
        "IPv6 dual-stack acceptance: testsite",  # title
        'class="se6-matrix"', "Hosts &times; concerns", "NOT ACCEPTED: 1 of",  # summary
        "Inventory sha256", digest, "Suite version", "se_dualstack ",  # metadata
        "head.example.test", "headnode", "disknode",
        "SE6-T-04", "SE6-T-01", 'data-column-type="check"', 'data-column-type="concern"',
        "Remediation:", "Publish an AAAA record for disk01.example.test.",  # fix of the failure
        "Why it matters:",
    ]:
        assert needle in html, f"report lacks {needle!r}"
    for secret in ["MIIFAKEKEYDATA", "hunter2secret", "tok-s3cr3t-value", "x509up_u0",
                   "gitlab-ci-token"]:
        assert secret not in html, f"report leaks {secret!r}"
        assert secret not in (project.path / "reports" / f"{stem}.xml").read_text(), f"xml leaks {secret!r}"
    matrix = html[html.index('class="se6-matrix"'):]
    matrix = matrix[:matrix.index("</table>")]
    assert '<td class="se6-fail"><span class="n-failed">1 failed</span>' in matrix, matrix


def test_user_given_html_is_respected(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    result = project.runpytest("--inventory=inventory.yml", "--connection=local", "--html=out/my.html",
                             "-k", "test_head")
    result.assert_outcomes(passed=1)
    assert (project.path / "out" / "my.html").exists(), "report where the user said"
    assert not list(project.path.glob("reports/*.html")), "no default report beside it"
    assert "IPv6 dual-stack acceptance: testsite" in read_report(project.path / "out" / "my.html"), "title"


# Each host's firewall as the facts of that host's own checks name it (the testbed's default
# site: iptables on the head node, firewalld on disk01, plain nftables on disk02).
CERT_CONFTEST = CONFTEST + """
from se_dualstack.facts import Facts

FIREWALLS = {"head.example.test": "iptables-nft", "disk01.example.test": "firewalld (zone public)",
             "disk02.example.test": "nftables"}
_known = []


def pytest_sessionstart(session):
    _known.append(Facts.known_firewall)
    Facts.known_firewall = lambda self, name: FIREWALLS.get(name)


def pytest_unconfigure(config):
    if _known:
        Facts.known_firewall = _known.pop()
    if _saved:
        checks.catalogue = _saved.pop()
"""

CERT_CHECKS = FAILING + """

@pytest.mark.check("SE6-T-01")
def test_zz_transfer_through_the_head(se_headnode):
    # Like a transfer through the head node that failed on its target: the record is disk02's.
    checks.fail("SE6-T-01", "disk02.example.test", "a round trip through the head node", "refused")
"""

WAIVERS = """
- check: SE6-T-04
  hosts: disk01.example.test
  justification: AAAA pending at the NREN, ticket 42
  expires: 2999-12-31
"""


def test_report_fit_for_certification(project: pytest.Pytester) -> None:
    """Issue 20: each host shows its own firewall (a failure moved to the host at fault does not
    carry the other host's label); a waived failure is counted and named in the verdict; one count
    of checks; the site, verdict and matrix come first; no local path of a credential."""
    project.makeconftest(CERT_CONFTEST)
    project.path.joinpath("inventory.yml").write_text(INVENTORY.replace(
        "ansible_host: 127.0.0.1", "ansible_host: 127.0.0.1\n          "
        "ansible_ssh_private_key_file: /root/.ssh/id_se6_secret_key"))
    project.path.joinpath("waivers.yml").write_text(WAIVERS)
    project.makepyfile(test_checks=CERT_CHECKS)
    result = project.runpytest_subprocess("--inventory=inventory.yml", "--connection=local",
                                          "--waivers=waivers.yml")
    result.assert_outcomes(passed=31, failed=1, skipped=2, xfailed=0)
    html = read_report(next((project.path / "reports").glob("testsite-2*.html")))
    matrix = html[html.index('class="se6-matrix"'):]
    matrix = matrix[:matrix.index("</table>")]
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r'<td class="host">(\S+)</td><td>\w+</td>\s*<td>[^<]*</td><td>([^<]*)</td>', matrix)}
    assert rows == {"head.example.test": "iptables-nft", "disk01.example.test": "firewalld (zone public)",
                    "disk02.example.test": "nftables"}, f"each host its own firewall: {rows}"
    verdict = re.search(r'<p class="se6-verdict fail">([^<]*)</p>', html)
    assert verdict, "a verdict"
    assert verdict.group(1).startswith("NOT ACCEPTED: 1 of 35 checks failed on 1 of 3 hosts "
                                       "(disk02.example.test)"), verdict.group(1)
    assert verdict.group(1).endswith("1 failure waived: SE6-T-04 on disk01.example.test until "
                                     "2999-12-31 (AAAA pending at the NREN, ticket 42)."), verdict.group(1)
    assert "35 checks on 3 hosts in" in html, "one count of checks, the verdict's"
    assert ": 1 failed, 31 passed, 1 waived, 2 not applicable." in html, "the same count, by outcome"
    assert "1 Waived," in html, "pytest-html's filter names the waived failure so"
    assert "Expected failures" not in html
    assert "p.run-count {display: none;}" in html, "pytest-html's other count is not shown"
    assert "body > .summary {order: -1;}" in html, "the summary before the environment tables"
    assert "id_se6_secret_key" not in html, "no key path in the Hosts row"
    assert "key from the inventory" in html, "the Hosts row says a key is set"
