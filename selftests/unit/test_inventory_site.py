"""The site's whole inventory and ssh as Ansible does it (issue 19).

A site's inventory holds more than its SE: an ungrouped host (Ansible's example
/etc/ansible/hosts opens with one), ``localhost ansible_connection=local`` (kayobe's), compute
elements. ``se_site`` may be set in any group. The connection keeps Ansible's own ssh arguments,
its defaults included, and names the ControlPath as Ansible names it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from se_dualstack import knowledge, remote
from se_dualstack.connection import resolve
from se_dualstack.errors import InventoryError
from se_dualstack.inventory import load_site

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
ANSIBLE_SSH_ARGS = "-C -o ControlMaster=auto -o ControlPersist=60s"

WHOLE = """\
stray.example.org
localhost ansible_connection=local

[headnodes]
head.example.org

[disknodes]
pool1.example.org

[ce]
ce01.example.org

[site:children]
headnodes
disknodes

[site:vars]
se_site=UKI-NWC
"""


def test_every_host_of_the_inventory_is_either_checked_or_listed_with_why(tmp_path: Path) -> None:
    p = tmp_path / "hosts"
    p.write_text(WHOLE)
    site = load_site(p)
    assert [h.name for h in site.hosts] == ["head.example.org", "pool1.example.org"]
    assert dict(site.ignored) == {
        "stray.example.org": "in no group (ungrouped): not an SE host; put it in headnodes or "
                             "disknodes if it is one",
        "localhost": "in no group (ungrouped): not an SE host; put it in headnodes or disknodes "
                     "if it is one",
        "ce01.example.org": "in no SE group (groups: ce)"}
    assert site.name == "UKI-NWC", "se_site from a group other than all names the site"
    assert (site.inventory_path, site.origin) == (str(p), f"inventory {p}"), "a path; prose apart"


def test_a_host_with_se_variables_of_its_own_outside_the_se_groups_stays_an_error(tmp_path: Path) -> None:
    p = tmp_path / "hosts"
    p.write_text(WHOLE.replace("stray.example.org\n", "stray.example.org se_os=el9\n"))
    with pytest.raises(InventoryError, match=r"host stray\.example\.org has se_\* variables of its own"):
        load_site(p)


def test_se_site_follows_ansible_precedence_and_one_run_is_one_site(tmp_path: Path) -> None:
    p = tmp_path / "hosts"
    p.write_text(WHOLE + "[disknodes:vars]\nse_site=OTHER\n")
    with pytest.raises(InventoryError, match=r"name different sites in se_site: UKI-NWC \(head"
                                             r"\.example\.org\); OTHER \(pool1\.example\.org\)"):
        load_site(p)
    assert load_site(p, limit=["pool1.example.org"]).name == "OTHER", "child group beats parent"
    p.write_text("[headnodes]\nhead.example.org\n")
    assert load_site(p).name == "hosts", "no se_site anywhere: the inventory's file name"


def _hash(host: str, port: object, user: object) -> str:
    """Ansible's ControlPath file name, computed here as its ssh plugin documents it."""
    return hashlib.sha1(f"{host}-{port}-{user}".encode()).hexdigest()[:10]


def test_ansible_default_ssh_args_and_control_path_name() -> None:
    c = resolve("h.example.org", {"ansible_host": "192.0.2.7", "ansible_user": "root",
                                  "ansible_ssh_common_args": "-o UserKnownHostsFile=/k"})
    assert c.ssh_args == f"{ANSIBLE_SSH_ARGS} -o UserKnownHostsFile=/k", "defaults first, as Ansible"
    assert (c.control_path, c.control_name) == (None, _hash("192.0.2.7", None, "root")), \
        "the site chose no directory: the suite's own, Ansible's file name"
    c = resolve("h.example.org", {"ansible_port": 2222})
    assert c.control_name == _hash("h.example.org", 2222, None), "port in the hash as Ansible puts it"


def test_site_settings_for_ssh_from_the_environment_and_variables(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("ANSIBLE_SSH_ARGS", "-o ControlMaster=auto -o ControlPersist=30m")
    monkeypatch.setenv("ANSIBLE_HOST_KEY_CHECKING", "False")
    monkeypatch.setenv("ANSIBLE_SSH_CONTROL_PATH_DIR", str(tmp_path / "cp"))
    c = resolve("h.example.org", {"ansible_host": "192.0.2.7"})
    assert c.ssh_args == "-o ControlMaster=auto -o ControlPersist=30m -o StrictHostKeyChecking=no"
    assert c.control_path == str(tmp_path / "cp" / _hash("192.0.2.7", None, None)), "site's dir"
    c = resolve("h.example.org", {"ansible_control_path": "%(directory)s/%%h-%%r"})
    assert c.control_path == f"{tmp_path / 'cp'}/%h-%r", "the site's control_path, %% as Ansible"
    c = resolve("h.example.org", {"ansible_ssh_extra_args": "-o ControlPath=/run/x/%C"})
    assert (c.control_path, c.control_name) == (None, None), "arguments naming one are left alone"
    monkeypatch.setenv("ANSIBLE_SSH_ARGS", "")
    assert resolve("h.example.org", {}).control_name is None, "no sharing asked: none added"


def test_ansible_cfg_ssh_connection_section(tmp_path: Path) -> None:
    """ansible.cfg is read by ansible-core at import: a process of its own with ANSIBLE_CONFIG."""
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(f"[ssh_connection]\nssh_args = -o ControlMaster=auto -o ControlPersist=5m\n"
                   f"control_path_dir = {tmp_path}/cp\ncontrol_path = %(directory)s/cm-%%C\n")
    inv = tmp_path / "hosts"
    inv.write_text("[headnodes]\nhead.example.org ansible_host=192.0.2.10\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    res = subprocess.run([sys.executable, "-m", "se_dualstack", "site", "--inventory", str(inv)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
                         env={**env, "ANSIBLE_CONFIG": str(cfg)})
    assert res.returncode == 0, res.stderr
    conn = json.loads(res.stdout)["hosts"][0]["connection"]
    assert conn["ssh_args"] == "-o ControlMaster=auto -o ControlPersist=5m", conn
    assert conn["control_path"] == f"{tmp_path}/cp/cm-%C", conn


def test_private_control_directory_made_and_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    masters = remote.Masters()
    conn = resolve("h.example.org", {"ansible_host": "192.0.2.7"})
    path = Path(masters.control_path(conn) or "")
    assert path.parent.parent == tmp_path, "under $XDG_RUNTIME_DIR"
    assert path.name == conn.control_name, "Ansible's file name"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, "private"
    assert masters.control_path(conn) == str(path), "one directory per run"
    masters.close()
    assert not path.parent.exists(), "nothing stays after the run"


@pytest.mark.parametrize(("text", "family"), [
    ((DATA / "os-release-debian12").read_text(), "debian12"),
    ('NAME="AlmaLinux"\nVERSION="9.4 (Seafoam Ocelot)"\nID="almalinux"\nVERSION_ID="9.4"\n', "el9"),
    ('NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nVERSION_ID="7"\n', "el7"),
    ("Scientific Linux release 6.10 (Carbon)\n", "el6"),
    ("", None),
])
def test_os_from_what_the_probe_reads(text: str, family: str | None) -> None:
    assert knowledge.os_from_release(text) == family
