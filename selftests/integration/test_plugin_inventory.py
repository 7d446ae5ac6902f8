"""The plugin's inventory handling end to end (pytester): one-line usage errors, test ids,
``--hosts``, the ad-hoc site and the suite's own ``host`` fixture."""

from __future__ import annotations

import pytest
from pluginsuite import CHECKS, CONFTEST, expected_error, local_os, usage_error_line

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
def test_bad_inventory_is_one_line_exit_4(project: pytest.Pytester, name: str) -> None:
    path = project.path / name
    path.write_text(BAD[name])
    project.makepyfile(test_checks=CHECKS)
    result = project.runpytest(f"--inventory={path}", "--connection=local")
    line = usage_error_line(result)
    assert line == expected_error(path), f"{name}: {line}"
    assert str(path) in line, "names the file"
    assert not list(project.path.glob("reports/*.html")), "no report for a run that never started"


def test_missing_inventory_file_in_a_real_process(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    result = project.runpytest_subprocess("--inventory", "inventory/nope.yml")
    line = usage_error_line(result)
    assert line == ("inventory/nope.yml: inventory not found; give the path of your site's "
                    "inventory (a file or a directory, see inventory/README.md)"), line


def test_inventory_from_environment(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SE_INVENTORY", "elsewhere.yml")
    project.makepyfile(test_checks=CHECKS)
    line = usage_error_line(project.runpytest("--connection=local"))
    assert line.startswith("elsewhere.yml: inventory not found"), line


def test_no_inventory_one_line(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    line = usage_error_line(project.runpytest())
    assert line == ("no inventory given: run pytest --inventory inventory/mysite.yml (or set "
                    "SE_INVENTORY), optionally with --hosts=ssh://root@host1,... to limit the run; "
                    "see inventory/README.md"), line


def test_tests_without_se_fixtures_need_no_inventory(project: pytest.Pytester) -> None:
    # the plugin is active (so it is what lets this run go on without an inventory)
    project.makepyfile(test_plain=(
        "def test_plain(pytestconfig):\n"
        "    pm = pytestconfig.pluginmanager\n"
        "    assert pm.has_plugin('se_dualstack.plugins'), 'se_dualstack plugin not loaded'\n"))
    project.runpytest().assert_outcomes(passed=1)


def test_unknown_host_in_hosts_option(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    line = usage_error_line(project.runpytest(
        "--inventory=inventory.yml", "--hosts=ssh://root@pool07.example.org", "--connection=local"))
    assert line == ("inventory.yml: --hosts names pool07.example.org, which is not in the "
                    "inventory; use one of: head.example.test, disk01.example.test, "
                    "disk02.example.test"), line


def test_unknown_check_id_and_missing_mark(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS.replace('"SE6-T-05"', '"SE6-NOPE-9"'))
    line = usage_error_line(project.runpytest("--inventory=inventory.yml", "--connection=local"))
    assert line == ("test_checks.py::test_head[head.example.test]: check id 'SE6-NOPE-9' is not in "
                    "se_dualstack/data/checks.yml; add it to the catalogue or fix the id"), line
    project.makepyfile(test_checks="def test_x(se_host):\n    pass\n")
    line = usage_error_line(project.runpytest("--inventory=inventory.yml", "--connection=local"))
    assert line.startswith("test_checks.py::test_x[head.example.test]: has no "
                           '@pytest.mark.check("SE6-...")'), line
    assert line.endswith("(and 2 more)"), "counts the other hosts' items"


# --------------------------------------------------------------------------- collection


def collected(result: pytest.RunResult) -> list[str]:
    return [ln.split("::", 1)[1] for ln in result.outlines if ln.startswith("test_checks.py::")]


def test_ids_read_host_and_detail(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    result = project.runpytest("--inventory=inventory.yml", "--collect-only", "-q")
    ids = collected(result)
    assert ids[:3] == ["test_ssh[head.example.test]", "test_ssh[disk01.example.test]",
                       "test_ssh[disk02.example.test]"], ids
    assert "test_service[head.example.test-srm]" in ids, ids
    assert "test_service[disk01.example.test-srm]" not in ids, "srm on head nodes only"
    assert "test_port[disk02.example.test-gsiftp-data]" in ids, ids
    assert [i for i in ids if i.startswith("test_head")] == ["test_head[head.example.test]"], ids
    assert len(ids) == 3 + (6 + 3 + 3) + 4 * 3 + 1, f"count: {ids}"
    assert not list(project.path.glob("reports/*")), "--collect-only writes no report"


def test_hosts_option_limits_the_run(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    result = project.runpytest("--inventory=inventory.yml", "--collect-only", "-q",
                             "--hosts=ssh://root@disk01.example.test,127.0.0.1")
    ids = collected(result)
    hosts = {n for i in ids for n in ("head.example.test", "disk01.example.test",
                                      "disk02.example.test") if f"[{n}" in i}
    assert hosts == {"head.example.test", "disk01.example.test"}, f"by name and ansible_host: {ids}"


def test_no_headnode_in_run_skips_with_reason(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    result = project.runpytest("--inventory=inventory.yml", "--connection=local", "-rs",
                             "--hosts=disk01.example.test", "-k", "test_head")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no head node among the hosts of this run (inventory and --hosts)*"])


def test_hosts_alone_make_an_adhoc_site(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    result = project.runpytest("--hosts=local1,local2", "--collect-only", "-q", "-k", "test_ssh")
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


@pytest.mark.parametrize("wiring", ["conftest", "-p"])
def test_host_fixture_beats_testinfra_and_os_detected(project: pytest.Pytester, wiring: str) -> None:
    project.makepyfile(test_checks=HOST_CHECKS)
    args = ["--inventory=inventory.yml", "--connection=local", "-s"]
    if wiring == "-p":  # plugin loaded before testinfra's entry point: must still win
        project.makeconftest(CONFTEST.replace('pytest_plugins = ["se_dualstack.plugins"]', ""))
        args = ["-p", "se_dualstack.plugins", *args]
    result = project.runpytest(*args)
    result.assert_outcomes(passed=3)
    out = "\n".join(result.outlines)
    assert f"OS head.example.test {local_os()} {local_os()}" in out, out
    assert f"OS disk02.example.test el6 {local_os()}" in out, \
        "declared se_os wins; the one probe of the host still read what it runs (no second contact)"
