"""``se-dualstack site``: the site as JSON on stdout; a bad inventory is one line and exit 4."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from se_dualstack import cli

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data" / "inventories"


def test_site_prints_hosts_roles_connection_vars(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["site", "--inventory", str(DATA / "etc-ansible" / "hosts"),
                   "--se-var", "se_resolvers=[192.0.2.53]"])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, ""), "success, nothing on stderr"
    doc = json.loads(out)
    assert set(doc) == {"site", "flavour", "inventory", "origin", "hosts", "ignored"}, "top-level keys"
    head = doc["hosts"][0]
    assert (head["name"], head["role"], head["connection"]["user"]) == (
        "head.example.org", "headnode", "admin"), "first host"
    assert head["vars"]["se_resolvers"] == ["192.0.2.53"], "--se-var beats the inventory"
    assert all(k.startswith("se_") for h in doc["hosts"] for k in h["vars"]), "se_* vars only"
    assert doc["ignored"] == [{"name": "ce01.example.org",
                               "reason": "in no SE group (groups: computing)"}], "left out"


def test_bad_inventory_exit_4_one_line(tmp_path: Path) -> None:
    p = tmp_path / "hosts"
    p.write_text("[headnodes]\nh.example.org\n[disknodes]\nh.example.org\n")
    r = subprocess.run([sys.executable, "-m", "se_dualstack", "site", "--inventory", str(p)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert (r.returncode, r.stdout) == (4, ""), "exit 4, no JSON"
    assert r.stderr == (f"se-dualstack: error: {p}: host h.example.org is in both headnodes and "
                        "disknodes; a host has one role: keep it in one of the two groups\n"), \
        "one line, no traceback"


def test_no_inventory_and_no_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["site"]) == 4, "usage error"
    assert capsys.readouterr().err.startswith("se-dualstack: error: no inventory given: write "
                                              "se-dualstack site --inventory PATH"), "says what to do"


def test_site_piped_into_head_ends_quietly() -> None:
    """`se-dualstack site ... | head`: the reader stops early; no BrokenPipeError traceback.

    The pipe's reading end is closed before the command starts, so every write meets it."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r = subprocess.run([sys.executable, "-m", "se_dualstack", "site", "--inventory",
                            str(DATA / "etc-ansible" / "hosts")], stdout=write_end, stderr=subprocess.PIPE,
                           text=True, timeout=120, cwd=ROOT, check=False)
    finally:
        os.close(write_end)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr[-800:]
