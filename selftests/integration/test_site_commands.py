"""The README's site section typed as written (issue 19), against a testbed site known only from
the outside, from the suite's directory and, through ``se-dualstack run``, from another one.

The inventory is where the README puts it, ``/etc/ansible/hosts`` (the client host's own /etc,
an overlay: the machine's /etc is never touched), in Ansible's example layout: INI, ungrouped
hosts first (``localhost ansible_connection=local`` among them), the SE groups, a compute
element group, ``group_vars/``, and no ssh settings beyond a key and a known_hosts file.

Each command line is the README's own text, run by bash from the checkout as the client host.
Only what a testbed cannot be is stood in for, never an option of a command:
- the set-up lines (dnf, git clone, the venv, pip install, voms-proxy-init) are this checkout's
  venv and the testbed's proxy (``X509_USER_PROXY``);
- ``oidc-token ... <account>`` is ``cat`` of the testbed's valid token (the rest of that line,
  umask and the file it writes, is kept), in a private /tmp (an overlay) so the machine's /tmp
  holds no token;
- the README's host names and prefix are the testbed's (``NAMES``);
- the ``--hosts`` line without an inventory gets the testbed's ssh config in PYTEST_ADDOPTS,
  as a site admin's own ``~/.ssh/config`` would give it.
How fast the host checks run with this inventory is measured in bench/bench_site_ssh.py.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from tbrun import ROOT, Testbed, site_inventory, tb_name, unavailable

from se_dualstack.reporting.files import latest_stem

NAME = tb_name("site1")
NAMES = {"pool07.example.org": "disk01.example.test", "head.example.org": "head.example.test",
         "-k pool07": "-k disk01", "2001:db8:1::/48": "fd42:6::/64"}
SETUP = ("dnf ", "git clone ", "/usr/bin/python3 -m venv", ".venv/bin/pip install", "voms-proxy-init")


def readme_commands() -> list[str]:
    """The site section's command lines, continuation lines joined."""
    blocks = re.findall(r"```\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    block = next(b for b in blocks if ".venv/bin/se-dualstack site --inventory" in b)
    return [ln for ln in block.replace("\\\n", " ").splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def readme_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Testbed, Path]]:
    why = unavailable()
    if why:
        pytest.skip(why)
    with Testbed(NAME) as tb:
        src = tmp_path_factory.mktemp("etc-ansible")
        site_inventory(tb.state, src)
        res = tb._tb("run", "--", "bash", "-c", f"mkdir -p /etc/ansible && cp -r {src}/. /etc/ansible/ "
                     "&& findmnt -n -o FSTYPE /etc")
        assert res.stdout.strip() == "overlay", f"the client's own /etc: {res.stdout}{res.stderr}"
        tmp_upper = tb.state / "tmp-upper"
        yield tb, tmp_upper


def typed(tb: Testbed, tmp_upper: Path, line: str) -> tuple[int, str]:
    """Run one README line as the client host, from the checkout, with a private /tmp."""
    for old, new in NAMES.items():
        line = line.replace(old, new)
    line = re.sub(r"oidc-token .*?<account>", f"cat {tb.state / 'tokens' / 'valid.jwt'}", line)
    work = tb.state / "tmp-work"
    env = (["env", f"PYTEST_ADDOPTS=--ssh-config={tb.state / 'ssh_config'}"]
           if "--hosts=" in line and "--inventory" not in line else ["env", "-u", "PYTEST_ADDOPTS"])
    script = (f"mkdir -p {tmp_upper} {work} && mount -t overlay overlay -o lowerdir=/tmp,"
              f"upperdir={tmp_upper},workdir={work} /tmp && cd {shlex.quote(str(ROOT))} && {line}")
    res = tb._tb("run", "--", *env, "unshare", "-m", "--propagation", "private", "bash", "-c", script,
                 timeout=900)
    return res.returncode, res.stdout + res.stderr


def as_written(tmp_upper: Path, path: Path) -> Path:
    """Where a file the client wrote is seen from here: under the private /tmp's upper dir when
    the checkout itself is under /tmp (a CI clone may be), else where it was written."""
    if Path("/tmp") in path.parents:
        return tmp_upper / path.relative_to("/tmp")
    return path


def test_readme_site_section_as_typed(readme_site: tuple[Testbed, Path]) -> None:
    tb, tmp_upper = readme_site
    lines = [ln for ln in readme_commands() if not ln.startswith(SETUP)]
    assert any("se-dualstack run" in ln for ln in lines), "the README shows se-dualstack run"
    for line in lines:
        rc, out = typed(tb, tmp_upper, line)
        assert rc == 0, f"README line failed ({rc}): {line}\n{out[-3000:]}"
        if "se-dualstack site" in line:
            doc = json.loads(out[out.index("{"):out.rindex("}") + 1])
            assert doc["site"] == "UKI-TESTBED", "se_site from group_vars/storage.yml"
            assert [h["name"] for h in doc["hosts"]] == [
                "head.example.test", "disk01.example.test", "disk02.example.test"]
            assert {i["name"] for i in doc["ignored"]} == {"mgmt.example.test", "localhost",
                                                           "ce01.example.test"}, doc["ignored"]
            continue
        if "pytest" not in line and "se-dualstack run" not in line:
            continue  # the token line
        assert f"rootdir: {ROOT}" in out, f"{line}: the suite's rootdir\n{out[:1500]}"
        assert "selftests" not in out, f"{line}: only the acceptance checks are collected"
        summary = out.strip().splitlines()[-1]
        print(f"{line}\n  -> {summary}")  # the record of what each README line did (pytest -s)
        assert " passed" in summary, f"{line}: {summary}"
        assert not re.search(r"failed|error", summary), f"{line}: {summary}"
        if "se-dualstack run" in line:
            assert list((tmp_upper / "reports").glob("UKI-TESTBED-*.html")), \
                "se-dualstack run writes its reports under ./reports where it is typed"
        if "--transfer-auth x509,token" in line:
            # -m transfer narrows the selection: the run's latest is its selection's own.
            latest = ROOT / "reports" / f"{latest_stem('UKI-TESTBED', ['-m transfer'])}.json"
            doc = json.loads(as_written(tmp_upper, latest).read_text())
            tokens = [r["outcome"] for r in doc["records"] if r["nodeid"].endswith("-token]")]
            assert tokens, "token transfers ran, with the token where the README writes it"
            assert set(tokens) <= {"passed", "skipped"}, tokens
