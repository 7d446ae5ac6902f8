"""Path options as typed (issue 19): ``--inventory /x/hosts`` with a space, no test path.

pytest settles its rootdir before installed plugins load, so these runs must be real pytest
runs with the plugin loaded from its entry point (pytester here; the README's commands against
a testbed in ``test_site_commands.py``). The project is a throw-away one: an ini file with
``testpaths`` and ``addopts``, a sibling directory that must not be collected, and the
inventory and other path options outside it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tbrun import PY, ROOT

from se_dualstack import cli

HOSTS = ROOT / "selftests" / "unit" / "data" / "inventories" / "etc-ansible"
INI = """[pytest]
testpaths = checks
addopts = --strict-markers -p no:cacheprovider
markers =
    dns: DNS records
"""


@pytest.fixture
def project(pytester: pytest.Pytester,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[pytest.Pytester, Path]:
    """A project whose checks are in checks/, and an inventory in a directory beside it."""
    pytester.makefile(".ini", pytest=INI)
    pytester.makeconftest('pytest_plugins = ["se_dualstack.plugins"]\n')
    checks = pytester.mkpydir("checks")
    (checks / "test_one.py").write_text("import pytest\n\n\n@pytest.mark.dns\ndef test_one():\n    pass\n")
    other = pytester.mkdir("selftests")  # collected only from a wrong rootdir: it fails loudly
    (other / "conftest.py").write_text('pytest_plugins = ["se_dualstack.plugins"]\n')
    (other / "test_other.py").write_text("def test_other():\n    assert False, 'collected'\n")
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(HOSTS, site / "inv")
    return pytester, site / "inv" / "hosts"


@pytest.mark.parametrize("form", ["space", "equals"])
@pytest.mark.parametrize("test_path", [False, True])
def test_inventory_outside_the_project(project: tuple[pytest.Pytester, Path], form: str,
                                       test_path: bool) -> None:
    pytester, hosts = project
    opt = ["--inventory", str(hosts)] if form == "space" else [f"--inventory={hosts}"]
    res = pytester.runpytest_subprocess(*opt, "-v", *(["checks/test_one.py"] if test_path else []))
    out = res.stdout.str()
    assert res.ret == 0, out[-2000:]
    assert f"rootdir: {pytester.path}" in out, f"the project is the rootdir:\n{out[:800]}"
    assert "configfile: pytest.ini" in out, "its ini file is read"
    assert "checks/test_one.py::test_one PASSED" in out, "testpaths and the test id as from the project"
    assert "test_other" not in out, "nothing outside testpaths is collected"
    assert not (pytester.path / ".pytest_cache").exists(), "the ini addopts apply (-p no:cacheprovider)"


def test_every_path_option_keeps_the_rootdir(project: tuple[pytest.Pytester, Path]) -> None:
    """Several path options of several plugins, space form, paths that exist."""
    pytester, hosts = project
    waivers = hosts.parent / "waivers.yml"
    waivers.write_text("[]\n")
    res = pytester.runpytest_subprocess(
        "--inventory", str(hosts), "--waivers", str(waivers), "--ssh-config", str(hosts),
        "--ansible-playbook-dir", str(hosts.parent), "--results-dir", str(hosts.parent), "-v")
    out = res.stdout.str()
    assert res.ret == 0, out[-2000:]
    assert f"rootdir: {pytester.path}" in out, out[:800]
    assert "checks/test_one.py::test_one PASSED" in out, out[-800:]


def test_strict_markers_from_the_right_ini(project: tuple[pytest.Pytester, Path]) -> None:
    """The ini file found after correction is the one whose addopts count: an unknown marker fails."""
    pytester, hosts = project
    (pytester.path / "checks" / "test_two.py").write_text(
        "import pytest\n\n\n@pytest.mark.nosuchmarker\ndef test_two():\n    pass\n")
    res = pytester.runpytest_subprocess("--inventory", str(hosts))
    assert res.ret != 0, res.stdout.str()[-800:]
    assert "'nosuchmarker' not found in `markers`" in res.stdout.str() + res.stderr.str()


def test_se_dualstack_run_arguments(tmp_path: Path) -> None:
    args = cli.pytest_args(["--inventory", "/etc/ansible/hosts", "-m", "dns"], tmp_path)
    assert args[:2] == ["-c", str(ROOT / "pytest.ini")], "the suite's ini file: rootdir and markers"
    assert f"--results-dir={tmp_path / 'reports'}" in args, "reports where the command is typed"
    assert args[-4:] == ["--inventory", "/etc/ansible/hosts", "-m", "dns"]
    assert "-c" not in cli.pytest_args(["-c", "my.ini"], tmp_path)[2:], "a chosen ini file is kept"
    assert not any(a.startswith("--results-dir") for a in cli.pytest_args(["--html=r.html"], tmp_path))


def test_se_dualstack_run_from_elsewhere(tmp_path: Path) -> None:
    """The installed suite from another directory: the suite's test ids, a test path as the suite's."""
    hosts = tmp_path / "inv"
    shutil.copytree(HOSTS, hosts)
    exe = PY.parent / "se-dualstack"
    for extra, expect in (([], "tests/test_services.py::"), (["tests/test_dns.py"], "tests/test_dns.py::")):
        res = subprocess.run([str(exe), "run", "--inventory", str(hosts / "hosts"), "--co", "-q", *extra],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
        assert res.returncode == 0, (res.stdout + res.stderr)[-1500:]
        ids = [ln for ln in res.stdout.splitlines() if "::" in ln]
        assert ids, res.stdout[-800:]
        assert all(i.startswith("tests/") for i in ids), ids[:3]
        assert any(i.startswith(expect) for i in ids), (extra, ids[:3])
        if extra:
            assert all(i.startswith("tests/test_dns.py::") for i in ids), "only the named file"
