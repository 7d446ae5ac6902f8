"""The plugin's throw-away pytest runs (pytester), shared by the test_plugin_* modules.

A small inventory of three hosts (every one this machine, through testinfra's
``--connection=local``), a catalogue of fake checks, and helpers to read what a site admin sees:
the exit code, the one-line errors, the test ids and the HTML report.
"""

from __future__ import annotations

import os
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


def make_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
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


def local_os() -> str | None:
    info = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines()
                if "=" in line)
    return knowledge.os_family(info.get("ID", "").strip('"'), info.get("VERSION_ID", "").strip('"'))


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

