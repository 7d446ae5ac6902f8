"""Drive a testbed site and run the suite from its client host (shared by tests and bench).

Why a helper: the before/after, parallel and benchmark runs all do the same dance -- up, run the
suite from the client with its result file in a known directory, down -- and must always tear
the site down, even when a run fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / ".venv" / "bin" / "python"
STATE_ROOT = Path("/run/se-testbed")


def tb_name(base: str) -> str:
    """The testbed name a test uses: its own base name plus ``$SE6_TB_TAG`` (unset in CI).

    Why a tag: engineers run the same integration test at once on one machine (each from their
    own checkout); a short tag per engineer keeps their testbeds apart. Names stay within the
    testbed's 10 characters.
    """
    tag = "".join(c for c in os.environ.get("SE6_TB_TAG", "").lower() if c.isalnum())[:3]
    return (base[: 10 - len(tag)] + tag) if tag else base


def unavailable() -> str | None:
    """Why the testbed cannot run here (None if it can): it needs root, ip netns and the package."""
    if os.geteuid() != 0:
        return "the testbed needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    if not (ROOT / "testbed" / "__main__.py").is_file():
        return "the testbed package is not in this checkout"
    if not (ROOT / "tests").is_dir() or not any((ROOT / "tests").glob("test_*.py")):
        return "no acceptance checks in tests/ yet"
    return None


@dataclass
class Run:
    """One suite run: exit status, wall time, its result document and console output."""

    status: int
    seconds: float
    result: dict[str, Any]
    result_path: Path
    output: str


class Testbed:
    """A named testbed site; use as a context manager so it always comes down."""

    __test__ = False  # not a test class, whatever pytest's collection patterns say

    def __init__(self, name: str, site: str | None = None, disks: int | None = None) -> None:
        self.name = name
        self.site = site
        self.disks = disks
        self.state = STATE_ROOT / name

    def _tb(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(PY), "-m", "testbed", "--name", self.name, *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def up(self) -> float:
        """Bring the site up (after clearing a leftover of the same name); returns seconds."""
        self.down()
        args = ["up", *([self.site] if self.site else []),
                *(["--disks", str(self.disks)] if self.disks else [])]
        t0 = time.monotonic()
        res = self._tb(*args, timeout=900)
        if res.returncode != 0:
            self.down()
            raise RuntimeError(f"testbed {self.name} up {' '.join(args[1:])} failed ({res.returncode}): "
                               f"{(res.stderr or res.stdout).strip()[-2000:]}")
        return time.monotonic() - t0

    def down(self) -> None:
        self._tb("down", timeout=300)

    def __enter__(self) -> Testbed:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def run_suite(self, results_dir: Path, *pytest_args: str, timeout: float = 3600) -> Run:
        """Run the suite as the client host; the result file goes to ``results_dir``.

        Every path option is given as ``--opt=value`` (PYTEST_ADDOPTS restated too): in the
        ``--opt value`` form pytest takes a path outside the project for a test path before the
        plugin's options exist and picks the wrong rootdir (see inventory/README.md).
        """
        results_dir.mkdir(parents=True, exist_ok=True)
        addopts = f"--inventory={self.state}/inventory.yml --ssh-config={self.state}/ssh_config"
        cmd = ["run", "--", "env", f"PYTEST_ADDOPTS={addopts}", str(PY), "-m", "pytest",
               "-p", "no:cacheprovider", "-q", f"--results-dir={results_dir}",
               f"--html={results_dir / 'report.html'}", *pytest_args]
        before = set(results_dir.glob("*.json"))
        t0 = time.monotonic()
        res = self._tb(*cmd, timeout=timeout)
        seconds = time.monotonic() - t0
        new = sorted(p for p in set(results_dir.glob("*.json")) - before if not p.stem.endswith("-latest"))
        output = res.stdout + res.stderr
        if len(new) != 1:
            raise RuntimeError(f"suite run on {self.name} wrote {len(new)} result files (exit "
                               f"{res.returncode}):\n{output[-3000:]}")
        return Run(res.returncode, seconds, json.loads(new[0].read_text()), new[0], output)


def outcomes(doc: dict[str, Any]) -> dict[str, str]:
    """Outcome per test id of a result document."""
    return {r["nodeid"]: r["outcome"] for r in doc["records"]}


def site_inventory(state: Path, root: Path, site: str = "UKI-TESTBED") -> Path:
    """The testbed written as a site admin writes an inventory, knowing the site from outside.

    INI in Ansible's ``/etc/ansible/hosts`` layout under ``root`` with ``group_vars/``: ungrouped
    hosts first (one of them ``localhost ansible_connection=local``), the SE groups, a compute
    element group, and no ssh settings beyond the key and the known_hosts file (so connection
    sharing is Ansible's own default). Returns the path of ``hosts``.
    """
    hosts = json.loads((state / "state.json").read_text())["hosts"]
    se = [h for h in hosts if h["role"] in ("headnode", "disknode")]
    lines = ["# Ex 1: Ungrouped hosts, specify before any group headers.", "mgmt.example.test",
             "localhost ansible_connection=local", ""]
    for group, role in (("headnodes", "headnode"), ("disknodes", "disknode")):
        lines += [f"[{group}]", *(f"{h['fqdn']} ansible_host={h['ipv4']}" for h in se if h["role"] == role),
                  ""]
    lines += ["[ce]", "ce01.example.test", "", "[storage:children]", "headnodes", "disknodes", ""]
    (root / "group_vars").mkdir(parents=True, exist_ok=True)
    (root / "hosts").write_text("\n".join(lines))
    (root / "group_vars" / "all.yml").write_text(
        f"ansible_user: root\nansible_ssh_private_key_file: {state / 'id_ed25519'}\n"
        f"ansible_ssh_common_args: -o UserKnownHostsFile={state / 'known_hosts'}\n")
    dns = json.loads((state / "state.json").read_text())["site"]["dns"]
    prefix = dns["ipv6"].rsplit("::", 1)[0] + "::/64"
    (root / "group_vars" / "storage.yml").write_text(
        f"se_site: {site}\nse_resolvers: [{dns['ipv6']}, {dns['ipv4']}]\nse_ipv6_prefixes: [{prefix}]\n"
        "se_transfer_dir: \"/store/{{ inventory_hostname_short }}/se6test\"\n"
        "se_ipv6_alias: \"{{ inventory_hostname_short }}-v6.example.test\"\n")
    return root / "hosts"
