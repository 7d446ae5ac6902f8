"""The plugin end to end in throw-away pytest runs (pytester): what a site admin sees.

Each case writes a small inventory and a few fake checks, runs pytest, and looks at the exit
code, the terminal lines, the test ids and the HTML report.  Most runs use testinfra's
``--connection=local`` (every inventory host is this machine); the unreachable-host case runs
a real sshd in a network namespace of its own (root only).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from se_dualstack import knowledge
from se_dualstack.inventory import InventoryError, load_site

PROJECT = Path(__file__).resolve().parents[2]

# The inner runs use their own small catalogue so these tests do not depend on the real one.
CONFTEST = '''
import pytest
from se_dualstack import checks

pytest_plugins = ["se_dualstack.plugins"]

FAKE = {
    cid: checks.Check(cid, title, concern, "Because " + title.lower() + ".", fix)
    for cid, title, concern, fix in [
        ("SE6-T-01", "Runs a command over ssh", "interfaces", "Start sshd on {host}."),
        ("SE6-T-02", "Service listens", "services", "Open port {port} on {host}."),
        ("SE6-T-03", "Transfer port open", "firewall", "ip6tables -A INPUT -p tcp --dport {port} -j ACCEPT"),
        ("SE6-T-04", "AAAA record published", "dns", "Publish an AAAA record for {host}."),
        ("SE6-T-05", "Head node only", "resolver", "Fix the head node {host}."),
    ]
}
_saved = []


def pytest_configure(config):
    _saved.append(checks.catalogue)
    checks.catalogue = lambda: FAKE


def pytest_unconfigure(config):
    if _saved:  # configure may have stopped early on a usage error
        checks.catalogue = _saved.pop()
'''

INI = "[pytest]\naddopts = --strict-markers -p no:cacheprovider\n"

INVENTORY = """
all:
  vars:
    se_site: testsite
  children:
    headnodes:
      hosts:
        head.example.test:
          ansible_host: 127.0.0.1
    disknodes:
      hosts:
        disk01.example.test:
          ansible_host: 127.0.0.2
        disk02.example.test:
          se_os: sl6
"""

CHECKS = '''
import pytest
from se_dualstack import checks


@pytest.mark.check("SE6-T-01")
def test_ssh(se_host, host):
    checks.expect(host.run("true").rc == 0, "SE6-T-01", se_host.name, "rc 0", "rc != 0")


@pytest.mark.check("SE6-T-02")
def test_service(se_host_service):
    h, svc = se_host_service
    assert svc.port > 0, "port"


@pytest.mark.check("SE6-T-03")
def test_port(se_host_transfer_port):
    h, tp = se_host_transfer_port
    assert tp.first <= tp.last, "range"


@pytest.mark.check("SE6-T-05")
def test_head(se_headnode, se_host):
    assert se_headnode is se_host, "se_host follows se_headnode"
'''


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A throw-away project: conftest wiring the plugin, an inventory, a few checks."""
    monkeypatch.delenv("SE_INVENTORY", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PROJECT), str(pytester.path)]))
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.path.joinpath("inventory.yml").write_text(INVENTORY)
    return pytester


def usage_error_line(result: pytest.RunResult) -> str:
    """The one ERROR line of a usage error (and proof there is nothing else)."""
    assert result.ret == 4, f"exit code 4 expected, got {result.ret}: {result.outlines[-5:]}"
    text = "\n".join(result.outlines + result.errlines)
    assert "Traceback" not in text, f"no traceback: {text}"
    errors = [ln for ln in result.errlines if ln.strip()]
    assert len(errors) == 1, f"one line on stderr: {errors}"
    assert errors[0].startswith("ERROR: "), errors[0]
    return errors[0].removeprefix("ERROR: ")


def expected_error(path: Path, limit: list[str] | None = None) -> str:
    with pytest.raises(InventoryError) as exc:
        load_site(path, limit=limit)
    return str(exc.value)


# --------------------------------------------------------------------------- bad input


BAD = {
    "empty.yml": "",
    "syntax.yml": "all:\n  children:\n    headnodes: [\n",
    "list.yml": "- headnodes\n",
    "nogroups.yml": "all:\n  hosts:\n    h.example.org:\n",
    "ungrouped.ini": "stray.example.org se_os=el9\n[headnodes]\nh.example.org\n",
    "flavour.ini": "[headnodes]\nh.example.org\n[all:vars]\nse_flavour=castor\n",
    "service.ini": "[headnodes]\nh.example.org se_services=\"['srmv3']\"\n",
    "port.ini": "[headnodes]\nh.example.org se_service_ports=\"{'srm': 0}\"\n",
    "range.ini": "[headnodes]\nh.example.org se_gridftp_data_range=a-b\n",
    "both.ini": "[headnodes]\nh.example.org\n[disknodes]\nh.example.org\n",
    "ipname.ini": "[disknodes]\n[2001:db8::10]:2222\n",
    "vault.yml": "all:\n  children:\n    headnodes:\n      hosts:\n        h.example.org:\n"
                 "          se_os: !vault |\n            $ANSIBLE_VAULT;1.1;AES256\n"
                 "            3132\n",
    "cidr.ini": "[headnodes]\nh.example.org\n[all:vars]\nse_ipv6_prefixes=fd42::1/64\n",
    "os.ini": "[headnodes]\nh.example.org se_os=solaris\n",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_inventory_is_one_line_exit_4(suite: pytest.Pytester, name: str) -> None:
    path = suite.path / name
    path.write_text(BAD[name])
    suite.makepyfile(test_checks=CHECKS)
    result = suite.runpytest(f"--inventory={path}", "--connection=local")
    line = usage_error_line(result)
    assert line == expected_error(path), f"{name}: {line}"
    assert str(path) in line, "names the file"
    assert not list(suite.path.glob("reports/*.html")), "no report for a run that never started"


def test_missing_inventory_file_in_a_real_process(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_checks=CHECKS)
    result = suite.runpytest_subprocess("--inventory", "inventory/nope.yml")
    line = usage_error_line(result)
    assert line == ("inventory/nope.yml: inventory not found; give the path of your site's "
                    "inventory (a file or a directory, see inventory/README.md)"), line


def test_inventory_from_environment(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SE_INVENTORY", "elsewhere.yml")
    suite.makepyfile(test_checks=CHECKS)
    line = usage_error_line(suite.runpytest("--connection=local"))
    assert line.startswith("elsewhere.yml: inventory not found"), line


def test_no_inventory_one_line(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_checks=CHECKS)
    line = usage_error_line(suite.runpytest())
    assert line == ("no inventory given: run pytest --inventory inventory/mysite.yml (or set "
                    "SE_INVENTORY), optionally with --hosts=ssh://root@host1,... to limit the run; "
                    "see inventory/README.md"), line


def test_tests_without_se_fixtures_need_no_inventory(suite: pytest.Pytester) -> None:
    # the plugin is active (so it is what lets this run go on without an inventory)
    suite.makepyfile(test_plain=(
        "def test_plain(pytestconfig):\n"
        "    pm = pytestconfig.pluginmanager\n"
        "    assert pm.has_plugin('se_dualstack.plugins'), 'se_dualstack plugin not loaded'\n"))
    suite.runpytest().assert_outcomes(passed=1)


def test_unknown_host_in_hosts_option(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_checks=CHECKS)
    line = usage_error_line(suite.runpytest(
        "--inventory=inventory.yml", "--hosts=ssh://root@pool07.example.org", "--connection=local"))
    assert line == ("inventory.yml: --hosts names pool07.example.org, which is not in the "
                    "inventory; use one of: head.example.test, disk01.example.test, "
                    "disk02.example.test"), line


def test_unknown_check_id_and_missing_mark(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_checks=CHECKS.replace('"SE6-T-05"', '"SE6-NOPE-9"'))
    line = usage_error_line(suite.runpytest("--inventory=inventory.yml", "--connection=local"))
    assert line == ("test_checks.py::test_head[head.example.test]: check id 'SE6-NOPE-9' is not in "
                    "se_dualstack/data/checks.yml; add it to the catalogue or fix the id"), line
    suite.makepyfile(test_checks="def test_x(se_host):\n    pass\n")
    line = usage_error_line(suite.runpytest("--inventory=inventory.yml", "--connection=local"))
    assert line.startswith("test_checks.py::test_x[head.example.test]: has no "
                           '@pytest.mark.check("SE6-...")'), line
    assert line.endswith("(and 2 more)"), "counts the other hosts' items"


# --------------------------------------------------------------------------- collection


def collected(result: pytest.RunResult) -> list[str]:
    return [ln.split("::", 1)[1] for ln in result.outlines if ln.startswith("test_checks.py::")]


def test_ids_read_host_and_detail(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_checks=CHECKS)
    result = suite.runpytest("--inventory=inventory.yml", "--collect-only", "-q")
    ids = collected(result)
    assert ids[:3] == ["test_ssh[head.example.test]", "test_ssh[disk01.example.test]",
                       "test_ssh[disk02.example.test]"], ids
    assert "test_service[head.example.test-srm]" in ids, ids
    assert "test_service[disk01.example.test-srm]" not in ids, "srm on head nodes only"
    assert "test_port[disk02.example.test-gsiftp-data]" in ids, ids
    assert [i for i in ids if i.startswith("test_head")] == ["test_head[head.example.test]"], ids
    assert len(ids) == 3 + (6 + 3 + 3) + 4 * 3 + 1, f"count: {ids}"
    assert not list(suite.path.glob("reports/*")), "--collect-only writes no report"


def test_hosts_option_limits_the_run(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_checks=CHECKS)
    result = suite.runpytest("--inventory=inventory.yml", "--collect-only", "-q",
                             "--hosts=ssh://root@disk01.example.test,127.0.0.1")
    ids = collected(result)
    hosts = {n for i in ids for n in ("head.example.test", "disk01.example.test",
                                      "disk02.example.test") if f"[{n}" in i}
    assert hosts == {"head.example.test", "disk01.example.test"}, f"by name and ansible_host: {ids}"


def test_no_headnode_in_run_skips_with_reason(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_checks=CHECKS)
    result = suite.runpytest("--inventory=inventory.yml", "--connection=local", "-rs",
                             "--hosts=disk01.example.test", "-k", "test_head")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no head node among the hosts of this run (inventory and --hosts)*"])


def test_hosts_alone_make_an_adhoc_site(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_checks=CHECKS)
    result = suite.runpytest("--hosts=local1,local2", "--collect-only", "-q", "-k", "test_ssh")
    assert collected(result) == ["test_ssh[local1]", "test_ssh[local2]"], result.outlines


# --------------------------------------------------------------------------- running


HOST_CHECKS = '''
import pytest
from se_dualstack.plugins.hosts import GuardedHost


@pytest.mark.check("SE6-T-01")
def test_host_is_ours(se_host, host, request):
    assert isinstance(host, GuardedHost), f"host fixture is the suite's: {host!r}"
    assert se_host.name in repr(host), repr(host)
    assert host.run("echo hi").stdout == "hi\\n", "runs over testinfra"
    mark = request.node.get_closest_marker("xdist_group")
    assert mark is not None and mark.args[0] == se_host.name, "xdist group per host"
    print("OS", se_host.name, se_host.os, se_host.detected_os)
'''


def local_os() -> str | None:
    info = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines()
                if "=" in line)
    return knowledge.os_family(info.get("ID", "").strip('"'), info.get("VERSION_ID", "").strip('"'))


@pytest.mark.parametrize("wiring", ["conftest", "-p"])
def test_host_fixture_beats_testinfra_and_os_detected(suite: pytest.Pytester, wiring: str) -> None:
    suite.makepyfile(test_checks=HOST_CHECKS)
    args = ["--inventory=inventory.yml", "--connection=local", "-s"]
    if wiring == "-p":  # plugin loaded before testinfra's entry point: must still win
        suite.makeconftest(CONFTEST.replace('pytest_plugins = ["se_dualstack.plugins"]', ""))
        args = ["-p", "se_dualstack.plugins", *args]
    result = suite.runpytest(*args)
    result.assert_outcomes(passed=3)
    out = "\n".join(result.outlines)
    assert f"OS head.example.test {local_os()} {local_os()}" in out, out
    assert f"OS disk02.example.test el6 {local_os()}" in out, \
        "declared se_os wins; the one probe of the host still read what it runs (no second contact)"


def read_report(path: Path) -> str:
    return path.read_text(encoding="utf-8")


FAILING = CHECKS + '''

PEM = "-----BEGIN RSA PRIVATE KEY-----\\nMIIFAKEKEYDATAforthetest\\n-----END RSA PRIVATE KEY-----"


@pytest.mark.check("SE6-T-04")
def test_dns(se_host):
    print("proxy file:", PEM)
    checks.expect(se_host.name != "disk01.example.test", "SE6-T-04", se_host.name,
                  "an AAAA record", "none (NXDOMAIN) " + PEM)


@pytest.mark.check("SE6-T-05")
def test_not_applicable(se_host):
    checks.not_applicable("SE6-T-05", se_host.name, "only on EL6") if se_host.role == "disknode" else None
'''


def test_report_default_paths_and_content(suite: pytest.Pytester,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_URL", "https://ci:hunter2secret@git.example.org/site.git")
    monkeypatch.setenv("CI_REGISTRY_USER", "gitlab-ci-token")
    suite.makepyfile(test_checks=FAILING)
    result = suite.runpytest("--inventory=inventory.yml", "--connection=local",
                             "--metadata", "api_token", "tok-s3cr3t-value",
                             "--metadata", "X509_USER_PROXY", "/tmp/x509up_u0")
    result.assert_outcomes(passed=31, failed=1, skipped=2)
    reports = sorted(p.name for p in (suite.path / "reports").iterdir())
    html_name = next(n for n in reports if re.fullmatch(r"testsite-\d{8}T\d{6}Z\.html", n))
    stem = html_name.removesuffix(".html")
    assert f"{stem}.xml" in reports, reports
    latest = suite.path / "reports" / "testsite-latest.html"
    assert latest.is_symlink(), "stable latest link"
    assert os.readlink(latest) == html_name, "latest points at this run's report"
    html = read_report(suite.path / "reports" / html_name)
    digest = hashlib.sha256((suite.path / "inventory.yml").read_bytes()).hexdigest()
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
        assert secret not in (suite.path / "reports" / f"{stem}.xml").read_text(), f"xml leaks {secret!r}"
    matrix = html[html.index('class="se6-matrix"'):]
    matrix = matrix[:matrix.index("</table>")]
    assert '<td class="se6-fail"><span class="n-fail">1 failed</span>' in matrix, matrix


def test_user_given_html_is_respected(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_checks=CHECKS)
    result = suite.runpytest("--inventory=inventory.yml", "--connection=local", "--html=out/my.html",
                             "-k", "test_head")
    result.assert_outcomes(passed=1)
    assert (suite.path / "out" / "my.html").exists(), "report where the user said"
    assert not list(suite.path.glob("reports/*.html")), "no default report beside it"
    assert "IPv6 dual-stack acceptance: testsite" in read_report(suite.path / "out" / "my.html"), "title"


def test_xdist_loadgroup_keeps_hosts_together(suite: pytest.Pytester) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    suite.makepyfile(test_checks=FAILING)
    result = suite.runpytest_subprocess("--inventory=inventory.yml", "--connection=local",
                                        "-n", "2", "--dist", "loadgroup", "-v")
    result.assert_outcomes(passed=31, failed=1, skipped=2)
    workers: dict[str, set[str]] = {}
    names = ["head.example.test", "disk01.example.test", "disk02.example.test"]
    for line in result.outlines:
        m = re.search(r"\[(gw\d)\].*test_checks\.py::\S+\[(\S+?)[-\]@]", line + "@")
        if m:
            host = next((n for n in names if m.group(2).startswith(n)), m.group(2))
            workers.setdefault(host, set()).add(m.group(1))
    assert set(workers) == {"head.example.test", "disk01.example.test", "disk02.example.test"}, workers
    assert all(len(w) == 1 for w in workers.values()), f"one worker per host: {workers}"
    html = read_report(next((suite.path / "reports").glob("testsite-2*.html")))
    assert "NOT ACCEPTED: 1 of" in html, "matrix built on the controller"
    assert f"{local_os()} detected" in html, "OS learnt in the workers reaches the report"


VIA_CONFTEST = CONFTEST + '''

class Case:
    """Like a transfer case: the id starts with the entry host, the work lands on group_host."""

    def __init__(self, id, group_host):
        self.id, self.group_host = id, group_host


VIA = [Case("head.example.test-root-ipv6-via-disk01", "disk01.example.test"),
       Case("disk01.example.test-to-disk02-root-ipv6", "disk02.example.test")]
_fake_catalogue = pytest_configure


def pytest_configure(config):
    from se_dualstack.plugins.state import state_of

    _fake_catalogue(config)
    state_of(config).group_hosts.update({c.id: c.group_host for c in VIA})
'''

VIA_CHECKS = CHECKS + '''
from conftest import VIA


@pytest.mark.check("SE6-T-02")
@pytest.mark.parametrize("case", VIA, ids=[c.id for c in VIA])
def test_via(case, request):
    mark = request.node.get_closest_marker("xdist_group")
    assert mark is not None and mark.args[0] == case.group_host, "xdist group of the target"
'''


def test_group_host_prefers_the_declared_host() -> None:
    from se_dualstack.plugins import groups as plugin

    names = ["head.example.test", "disk01.example.test", "disk02.example.test"]
    declared = {"head.example.test-root-ipv6-via-disk01": "disk01.example.test"}
    nid = "tests/test_transfers.py::test_transfer[head.example.test-root-ipv6-via-disk01]"
    assert plugin.group_host(nid, names, declared) == "disk01.example.test", "declared target wins"
    assert plugin.group_host(nid, names) == "head.example.test", "undeclared: the host in the id"
    assert plugin.group_host("t.py::test_x[disk02.example.test-xrootd]", names, declared) == \
        "disk02.example.test", "other tests keep their host"
    assert plugin.group_host("t.py::test_plain", names, declared) is None, "not per host"


def test_xdist_loadgroup_puts_via_and_tpc_tests_in_the_target_group(suite: pytest.Pytester) -> None:
    """A transfer through the head node to disk01 runs with disk01's checks, a TPC to disk02
    with disk02's: on 1+N sites the head node's group is no longer the critical path."""
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    suite.makeconftest(VIA_CONFTEST)
    suite.makepyfile(test_checks=VIA_CHECKS)
    # Three hosts, three workers: loadgroup gives each group its own worker.
    result = suite.runpytest_subprocess("--inventory=inventory.yml", "--connection=local",
                                        "-n", "3", "--dist", "loadgroup", "-v")
    result.assert_outcomes(passed=30)
    workers: dict[str, set[str]] = {}
    names = ["head.example.test", "disk01.example.test", "disk02.example.test"]
    for line in result.outlines:
        m = re.search(r"\[(gw\d)\].*test_checks\.py::(test_\w+)\[(\S+?)\]", line)
        if not m:
            continue
        if m.group(2) == "test_via":
            key = f"via:{m.group(3)}"
        else:
            key = next((n for n in names if m.group(3).startswith(n)), m.group(3))
        workers.setdefault(key, set()).add(m.group(1))
    assert all(len(w) == 1 for w in workers.values()), f"one worker per group: {workers}"
    head, d1, d2 = (workers[n] for n in names)
    assert len(head | d1 | d2) == 3, f"three groups on three workers: {workers}"
    assert workers["via:head.example.test-root-ipv6-via-disk01"] == d1, f"via disk01 -> disk01: {workers}"
    assert workers["via:disk01.example.test-to-disk02-root-ipv6"] == d2, f"TPC to disk02 -> disk02: {workers}"


# --------------------------------------------------------------------------- unreachable host


UNREACHABLE_INVENTORY = """
all:
  vars: {se_site: netsite, se_ssh_timeout: 3}
  children:
    headnodes:
      hosts:
        head.example.test: {ansible_host: 127.0.0.1}
    disknodes:
      hosts:
        disk01.example.test: {ansible_host: 127.0.0.1, ansible_port: 2222}
        disk02.example.test: {ansible_host: 10.255.255.1}
"""

UNREACHABLE_CHECKS = '''
import pytest
from se_dualstack import checks


@pytest.mark.check("SE6-T-01")
def test_ssh(se_host, host):
    checks.expect(host.file("/etc/hostname").exists, "SE6-T-01", se_host.name, "a file", "none")


@pytest.mark.check("SE6-T-02")
def test_service(se_host_service, host):
    h, svc = se_host_service
    host.socket(f"tcp://{svc.port}")


@pytest.mark.check("SE6-T-04")
def test_dns_needs_no_ssh(se_host):
    assert se_host.name.endswith(".example.test"), "name"
'''


@pytest.fixture
def netns_sshd(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """sshd on 127.0.0.1:22 inside a network namespace fw-<pid> made for this test."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespace and sshd)")
    for tool in ("ip", "ssh", "ssh-keygen", "/usr/sbin/sshd"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} (apt-get install openssh-server openssh-client iproute2)")
    ns = f"fw-{os.getpid()}"
    d = tmp_path / "ssh"
    d.mkdir()
    for key in ("hostkey", "id"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                       check=True, timeout=30)
    (d / "authorized_keys").write_text((d / "id.pub").read_text())
    (d / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1:22\nHostKey {d}/hostkey\nAuthorizedKeysFile {d}/authorized_keys\n"
        f"PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"UsePAM no\nStrictModes no\nPidFile {d}/sshd.pid\nMaxStartups 50\nMaxSessions 50\n")
    (d / "ssh_config").write_text(
        f"Host *\n  User root\n  IdentityFile {d}/id\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  LogLevel ERROR\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    proc = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=30)
        # An empty private /root for the sessions: the machine's root dotfiles (a pyenv init that
        # takes a global lock on every shell start) must not run in each ssh session.
        (d / "home").mkdir(mode=0o700)
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation",
                                 "private", "sh", "-c", 'mount --bind "$1" /root && shift && exec "$@"', "sh",
                                 str(d / "home"), "/usr/sbin/sshd", "-D", "-e", "-f",
                                 str(d / "sshd_config")], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run(["ip", "netns", "exec", ns, "ssh", "-F", str(d / "ssh_config"),
                                    "-o", "ConnectTimeout=2", "127.0.0.1", "true"],
                                   capture_output=True, timeout=15)
            if probe.returncode == 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"sshd in {ns} did not come up", pytrace=False)
        yield ns, d / "ssh_config"
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=30)


def test_unreachable_host_fails_its_checks_with_one_line(suite: pytest.Pytester,
                                                         netns_sshd: tuple[str, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ns, ssh_config = netns_sshd
    monkeypatch.setenv("COLUMNS", "400")  # whole summary lines
    suite.path.joinpath("inventory.yml").write_text(UNREACHABLE_INVENTORY)
    suite.makepyfile(test_checks=UNREACHABLE_CHECKS)
    started = time.monotonic()
    result = suite.run("ip", "netns", "exec", ns, sys.executable, "-m", "pytest",
                       "--inventory=inventory.yml", f"--ssh-config={ssh_config}", "-rf", "-p",
                       "no:randomly", timeout=300)
    elapsed = time.monotonic() - started
    assert result.ret == 1, f"checks failed, run completed: {result.outlines[-15:]}"
    out = "\n".join(result.outlines)
    refused = ("[SE6-T-01] disk01.example.test: host unreachable over ssh (ssh: connect to host "
               "127.0.0.1 port 2222: Connection refused); could not run. Fix: Make the host "
               "reachable over ssh from the machine running the suite (sshd running, key accepted), "
               "or fix ansible_host / --ssh-config.")
    assert f"FAILED test_checks.py::test_ssh[disk01.example.test] - {refused}" in out, out
    assert re.search(r"FAILED test_checks.py::test_service\[disk02.example.test-gsiftp\] - "
                     r"\[SE6-T-02\] disk02.example.test: host unreachable over ssh \(ssh: connect to "
                     r"host 10.255.255.1 port 22: Network is unreachable\)", out), out
    lines = result.outlines
    at = next(i for i, ln in enumerate(lines) if re.match(r"_+ test_ssh\[disk01.example.test\] _+$", ln))
    assert lines[at + 1] == refused, f"the failure is that line: {lines[at:at + 4]}"
    assert lines[at + 2].startswith("____"), f"and only that line: {lines[at:at + 4]}"
    failed = [ln for ln in result.outlines if ln.startswith("FAILED")]
    assert len(failed) == 2 * (1 + 3), f"ssh checks of the two dead hosts only: {failed}"
    assert "Traceback" not in out, "no ssh tracebacks"
    assert "RuntimeError" not in out, "no testinfra RuntimeError dumps"
    assert "test_checks.py::test_dns_needs_no_ssh" not in " ".join(failed), "DNS checks still run"
    assert elapsed < 120, f"probed once per host, bounded: {elapsed:.0f}s"
    html = read_report(next((suite.path / "reports").glob("netsite-2*.html")))
    assert "Unreachable hosts" in html, "report written, lists the unreachable hosts"
    assert "disk01.example.test unreachable over ssh (ssh: connect to host 127.0.0.1 port 2222: " \
           "Connection refused): 4 checks could not run" in html, "one root cause per dead host"
    assert "Connection refused" in html, "and says why"
    assert f"{local_os()} detected" in html, "the reachable host's OS, detected over ssh"


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
    line = f"no valid grid proxy ({pem}: {why}): transfer checks could not run; run voms-proxy-init"
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
    assert list(reports.glob("credsite-2*.html")), "the HTML report is written"
    recs = {r["nodeid"]: r for r in doc["records"]}
    assert [r["outcome"] for n, r in recs.items() if "test_other" in n] == ["passed", "passed"], recs
    xfer = [r for n, r in recs.items() if "test_transfers.py" in n]
    assert len(xfer) == 15, xfer
    assert all(r["outcome"] == "failed" for r in xfer), xfer
    for r in xfer:
        assert str(pem) in r["message"], r["message"]
        assert "voms-proxy-init" in r["message"], r["message"]
        if proxy == "expired":
            assert "expired" in r["message"], r["message"]
    # Transfer checks not selected: the proxy is not the run's business.
    other = pytester.runpytest_subprocess("--inventory=inventory.yml", "--connection=local",
                                          "-m", "not transfer")
    assert other.ret == 0, f"no transfer selected: exit 0, got {other.ret}"
    assert line not in other.outlines, "no credentials line without transfer checks"
