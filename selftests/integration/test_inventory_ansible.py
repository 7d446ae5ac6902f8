"""Issue 8 end to end: the installed plugin, ``--inventory PATH`` with a space, reports that never
collide, and ``--hosts`` alone against the testbed with roles detected on the hosts.

Why real processes: the space form only works when pytest knows ``--inventory`` before it
parses the command line, i.e. from the installed ``pytest11`` entry point; only a fresh venv
and a subprocess show that. The ``--hosts`` runs use the real testbed (no mock of a host).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from tbrun import PY, ROOT, Testbed, tb_name, unavailable

DATA = ROOT / "selftests" / "unit" / "data" / "inventories"
HOSTS = DATA / "etc-ansible" / "hosts"  # INI without suffix: the /etc/ansible/hosts layout
TB_NAME = tb_name("inv1")


def run(argv: list[str], cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False, env={**os.environ, **(env or {})})


def collected_ids(out: str) -> list[str]:
    return sorted(ln.strip() for ln in out.splitlines() if "::" in ln and "[" in ln)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``pip install .`` of a copy of this checkout into a new ``--system-site-packages`` venv."""
    base = tmp_path_factory.mktemp("install")
    src = base / "se-dualstack"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".py39", ".git", "reports", "__pycache__", "*.egg-info", "build", ".ruff_cache"))
    venv = base / "venv"
    made = run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)], base)
    assert made.returncode == 0, f"venv: {made.stderr[-500:]}"
    pip = run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(src)],
              base, timeout=900)
    if pip.returncode != 0 and "No matching distribution" in pip.stderr + pip.stdout:
        pytest.skip(f"no package index reachable to install the dependencies: {pip.stderr[-300:]}")
    assert pip.returncode == 0, f"pip install . failed: {(pip.stderr or pip.stdout)[-1500:]}"
    return venv, src


def test_pip_install_then_inventory_with_a_space(fresh_venv: tuple[Path, Path]) -> None:
    venv, src = fresh_venv
    res = run([str(venv / "bin" / "pytest"), "--inventory", str(HOSTS), "--collect-only", "-q",
               "-p", "no:cacheprovider", "tests/test_services.py"], src)
    assert res.returncode == 0, f"collect with --inventory PATH failed: {(res.stdout + res.stderr)[-1500:]}"
    ids = collected_ids(res.stdout)
    assert any("[pool9.example.org-" in i for i in ids), f"inventory hosts parametrize the checks: {ids[:5]}"
    assert any("[head.example.org-dcache-srm]" in i for i in ids), "flavour from group_vars/all.yml"
    site = run([str(venv / "bin" / "se-dualstack"), "site", "--inventory", str(HOSTS)], src)
    assert site.returncode == 0, site.stderr
    assert json.loads(site.stdout)["site"] == "ETC-ANSIBLE", "the console script is installed"


@pytest.mark.parametrize("form", [["--inventory", str(HOSTS)],
                                  ["-p", "no:cacheprovider", f"--inventory={HOSTS}"]])
def test_inventory_space_and_equals_from_the_suite_directory(form: list[str]) -> None:
    res = run([str(PY), "-m", "pytest", *form, "--collect-only", "-q", "tests/test_dns.py"], ROOT)
    assert res.returncode == 0, (res.stdout + res.stderr)[-1500:]
    assert "tests/test_dns.py::test_aaaa_record[pool9.example.org]" in res.stdout, res.stdout[-800:]


def test_two_runs_in_one_second_keep_both_reports(pytester: pytest.Pytester) -> None:
    """The names of this second (and the next two) are taken: the run must pick another one."""
    pytester.makeconftest('pytest_plugins = ["se_dualstack.plugins"]\n')
    pytester.makepyfile(test_plain="import pytest\n\n\n@pytest.mark.check('SE6-DNS-01')\n"
                                   "def test_plain(se_host):\n    assert se_host.name\n")
    inv = pytester.path / "two.ini"
    inv.write_text("[headnodes]\nh.example.org ansible_connection=local\n")
    reports = pytester.path / "reports"
    reports.mkdir()
    now = datetime.now(timezone.utc)
    taken = []
    for s in range(3):
        stem = f"two-{(now + timedelta(seconds=s)).strftime('%Y%m%dT%H%M%SZ')}"
        for suffix in (".html", ".json"):
            (reports / f"{stem}{suffix}").write_text("an earlier run's report\n")
            taken.append(reports / f"{stem}{suffix}")
    result = pytester.runpytest_subprocess(f"--inventory={inv}", "-p", "no:cacheprovider")
    assert result.ret == 0, result.outlines[-10:]
    assert all(p.read_text() == "an earlier run's report\n" for p in taken), "no report overwritten"
    new = sorted(p.name for p in reports.iterdir() if p not in taken and "latest" not in p.name)
    assert len([n for n in new if n.endswith(".html")]) == 1, f"one new HTML report: {new}"
    stem = next(n for n in new if n.endswith(".html")).removesuffix(".html")
    assert stem.rsplit("-", 1)[-1].isdigit(), f"a -N suffix keeps the name unique: {stem}"
    assert f"{stem}.json" in new, f"the result file follows the report's name: {new}"


# --------------------------------------------------------------------------- --hosts on the testbed


@pytest.fixture(scope="module")
def testbed() -> Iterator[Testbed]:
    why = unavailable()
    if why:
        pytest.skip(why)
    with Testbed(TB_NAME) as tb:
        yield tb


@pytest.mark.parametrize(("host", "role", "evidence"), [
    ("disk01.example.test", "disknode", "cmsd on port"),
    ("head.example.test", "headnode", "dpnsdaemon running"),
])
def test_hosts_without_inventory_detect_roles_and_pass(testbed: Testbed, tmp_path: Path, host: str,
                                                       role: str, evidence: str) -> None:
    """The design's headline use: no inventory, only the testbed's ULA prefix and resolvers."""
    ssh_config = testbed.state / "ssh_config"
    res = testbed._tb(
        "run", "--", "env", f"PYTEST_ADDOPTS=--ssh-config={ssh_config}", "pytest",
        "-p", "no:cacheprovider", f"--hosts=ssh://root@{host}", "--se-var=se_ipv6_prefixes=[fd42:6::/64]",
        "--se-var=se_resolvers=[fd42:6::1, 10.42.0.1]", f"--results-dir={tmp_path}",
        f"--html={tmp_path / 'report.html'}", "tests/", timeout=900)
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"--hosts={host}: checks failed or could not run:\n{out[-3000:]}"
    assert f"se_dualstack: hosts {host} ({role})" in out, f"detected role in the header:\n{out[:1500]}"
    assert f"se_dualstack: {host}: detected: " in out, "how the role was found, in the header"
    assert evidence in out, "the evidence itself"
    html = (tmp_path / "report.html").read_text()
    assert f"{role} (detected: " in html, "the report shows the detected role and its evidence"
    doc = json.loads(next(p for p in tmp_path.glob("*.json") if "latest" not in p.name).read_text())
    outcomes = [r["outcome"] for r in doc["records"]]
    assert "failed" not in outcomes, f"{host}: no false alarm: {outcomes}"
    assert outcomes.count("passed") >= 30, f"{host}: the role's checks ran: {outcomes}"


def test_python_m_se_dualstack_site_detects_over_ssh(testbed: Testbed) -> None:
    res = testbed._tb("run", "--", sys.executable, "-m", "se_dualstack", "site",
                      "--hosts=ssh://root@head.example.test,ssh://root@disk02.example.test",
                      f"--ssh-config={testbed.state / 'ssh_config'}", timeout=300)
    assert res.returncode == 0, res.stderr[-1500:]
    doc = json.loads(res.stdout)
    assert [(h["name"], h["role"]) for h in doc["hosts"]] == [
        ("head.example.test", "headnode"), ("disk02.example.test", "disknode")], "roles detected"
    assert doc["flavour"] == "dpm", "flavour from the head node's DPM daemons"


def test_host_whose_role_cannot_be_told_gets_role_independent_checks(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["se_dualstack.plugins"]\n')
    pytester.makepyfile(test_roles=(
        "import pytest\n\n\n@pytest.mark.check('SE6-DNS-01')\ndef test_any(se_host):\n    pass\n\n\n"
        "@pytest.mark.check('SE6-SVC-01')\ndef test_head(se_headnode):\n    pass\n"))
    result = pytester.runpytest_subprocess("--hosts=ssh://root@nosuch.invalid", "--collect-only",
                                           "-p", "no:cacheprovider")
    out = "\n".join(result.outlines)
    assert "se_dualstack: hosts nosuch.invalid (role unknown)" in out, out[-1500:]
    assert "se_dualstack: nosuch.invalid: not detected: could not look at the host (ssh: " in out, \
        "one line saying why"
    assert "test_any[nosuch.invalid]" in out, "role-independent checks run"
    assert "test_head[nosuch.invalid]" not in out, "no head-node check on a host of unknown role"
