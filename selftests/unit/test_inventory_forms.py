"""Every inventory form of issue 8, read by the suite and by ``ansible-inventory --list`` alike.

Why compare with the real command: the promise is "your inventory means what it means to
Ansible". Each fixture under ``data/inventories/`` covers forms that a hand-written parser got
wrong (no-suffix INI, group_vars/host_vars in every form, directories, scripts, constructed,
ranges, host:port, old ``ansible_ssh_*`` names, merge keys, ``!unsafe``, Jinja, group
priority, vault); the suite's hosts, roles and merged variables must equal Ansible's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from se_dualstack import inventory
from se_dualstack.errors import InventoryError

DATA = Path(__file__).resolve().parent / "data" / "inventories"
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"
# Ansible's own default ssh_args (connection sharing), which the suite keeps as Ansible does.
ANSIBLE_SSH_ARGS = "-C -o ControlMaster=auto -o ControlPersist=60s"
VAULT = ["--vault-password-file", str(DATA / "vault" / "password.txt")]

CASES = {
    "etc-ansible": (DATA / "etc-ansible" / "hosts", []),
    "yaml-site": (DATA / "yaml-site" / "hosts.yml", []),
    "yaml-site+playbook-dir": (DATA / "yaml-site" / "hosts.yml", ["--playbook-dir", str(DATA / "playbooks")]),
    "directory": (DATA / "directory", []),
    "vault": (DATA / "vault" / "hosts.yml", VAULT),
}


def ansible_list(path: Path, extra: list[str]) -> dict[str, Any]:
    """What Ansible itself says: ``ansible-inventory --list`` from this venv."""
    out = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(path), "--list", *extra],
                         capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "ANSIBLE_VERBOSITY": "0"})
    return json.loads(out.stdout)


def members(inv: dict[str, Any], group: str) -> set[str]:
    g = inv.get(group, {})
    out = set(g.get("hosts", []))
    for child in g.get("children", []):
        out |= members(inv, child)
    return out


def ours(path: Path, extra: list[str]) -> inventory.AnsibleView:
    pb = extra[extra.index("--playbook-dir") + 1] if "--playbook-dir" in extra else None
    vault = [extra[extra.index("--vault-password-file") + 1]] if "--vault-password-file" in extra else []
    return inventory.read([str(path)], playbook_dir=pb, vault_password_files=vault)


def plain(value: Any) -> Any:
    """ansible-inventory's JSON marks vaulted (compared elsewhere) and unsafe values."""
    if isinstance(value, dict) and "__ansible_vault" in value:
        return None
    if isinstance(value, dict) and "__ansible_unsafe" in value:
        return value["__ansible_unsafe"]
    return value


@pytest.mark.skipif(not ANSIBLE_INVENTORY.exists(), reason="ansible-inventory is not in this venv")
@pytest.mark.parametrize("case", list(CASES))
def test_suite_view_equals_ansible_inventory_list(case: str) -> None:
    path, extra = CASES[case]
    ans = ansible_list(path, extra)
    view = ours(path, extra)
    hostvars = ans["_meta"]["hostvars"]
    assert sorted(h.name for h in view.hosts) == sorted(hostvars) or sorted(
        h.name for h in view.hosts) == sorted(members(ans, "all")), f"{case}: same hosts as Ansible"
    for group in ("headnodes", "disknodes"):
        mine = {h.name for h in view.hosts if group in h.groups}
        assert mine == members(ans, group), f"{case}: members of {group}"
    for h in view.hosts:
        theirs = {k: plain(v) for k, v in hostvars.get(h.name, {}).items() if k.startswith("se_")}
        templated = {k for k, v in theirs.items() if isinstance(v, str) and "{{" in v}
        mine = {k: v for k, v in h.vars.items() if k not in templated and theirs.get(k) is not None}
        assert mine == {k: v for k, v in theirs.items() if k not in templated and v is not None}, \
            f"{case}: merged se_* variables of {h.name}"
        hv = hostvars.get(h.name, {})
        address = hv.get("ansible_ssh_host") or hv.get("ansible_host") or h.name
        port = hv.get("ansible_ssh_port") or hv.get("ansible_port")
        user = hv.get("ansible_ssh_user") or hv.get("ansible_user")
        assert (h.connection.address, h.connection.port, h.connection.user) == (address, port, user), \
            f"{case}: connection of {h.name}"


def site(case: str) -> dict[str, Any]:
    path, extra = CASES[case]
    view = ours(path, extra)
    assert view.hosts, case
    pb = extra[extra.index("--playbook-dir") + 1] if "--playbook-dir" in extra else None
    vault = [extra[extra.index("--vault-password-file") + 1]] if "--vault-password-file" in extra else []
    s = inventory.load_site(path, playbook_dir=pb, vault_password_files=vault)
    return {h["name"]: h for h in inventory.site_view(s)["hosts"]} | {"": inventory.site_view(s)}


def test_etc_ansible_hosts_layout() -> None:
    """INI without suffix, first line a host, `[g] # comment`, `pool[:3]`, host:port, old names."""
    s = site("etc-ansible")
    assert sorted(n for n in s if n) == ["head.example.org", "pool0.example.org", "pool1.example.org",
                                         "pool2.example.org", "pool3.example.org",
                                         "pool9.example.org"], "ranges and host:port names"
    assert s["head.example.org"]["connection"] | {} == {
        "host": "192.0.2.10", "user": "admin", "port": 2222, "connection": "ssh", "key_file": None,
        "ssh_args": ANSIBLE_SSH_ARGS, "control_path": None, "become": False,
        "become_user": None}, "ansible_ssh_host/user/port; Ansible's default ssh_args"
    assert s["pool9.example.org"]["connection"]["port"] == 2200, "host:port"
    assert s["pool1.example.org"]["vars"]["se_external_interface"] == "bond0", "host_vars/<h>.yml"
    assert s["pool2.example.org"]["vars"]["se_external_interface"] == "ens3", "group_vars/<g> no suffix"
    assert s["pool2.example.org"]["vars"]["se_gridftp_data_range"] == "30000-31000", "[g:vars]"
    assert s["head.example.org"]["vars"]["se_flavour"] == "dcache", "group_vars/all.yml"
    assert (s[""]["site"], s[""]["flavour"]) == ("ETC-ANSIBLE", "dcache"), "site-wide vars"
    assert s[""]["ignored"] == [{"name": "ce01.example.org",
                                 "reason": "in no SE group (groups: computing)"}], "CE left out"
    assert s["pool1.example.org"]["connection"]["user"] is None, "no default user: ssh picks"


def test_yaml_forms_jinja_unsafe_priority_become() -> None:
    s = site("yaml-site")
    head = s["head.example.net"]
    assert head["connection"] == {
        "host": "2001:db8:7::10", "user": None, "port": 2022, "connection": "ssh",
        "key_file": str(Path("~/.ssh/se_head").expanduser()),
        "ssh_args": f"{ANSIBLE_SSH_ARGS} -o ProxyJump=bastion.example.net", "control_path": None,
        "become": True, "become_user": "root"}, "IPv6 ansible_host, port, key file, jump host, become"
    assert head["vars"]["se_ipv6_alias"] == "head-v6.example.net", "Jinja rendered as Ansible would"
    assert head["vars"]["se_note"] == "{{ literally }}", "!unsafe stays literal"
    assert head["vars"]["se_ssh_timeout"] == 20.0, "group_vars/<g>/main.yml"
    pool1, pool2 = s["pool01.example.net"], s["pool02.example.net"]
    assert pool1["vars"]["se_transfer_dir"] == "/store/pool01", "magic variables in Jinja"
    assert (pool1["vars"]["se_os"], pool1["connection"]["user"]) == ("el7", "stor"), "<<: *anchor"
    assert pool2["vars"]["se_external_interface"] == "ib0", "ansible_group_priority wins"
    assert pool2["connection"]["connection"] == "local", "ansible_connection: local"


def test_playbook_dir_group_and_host_vars() -> None:
    s = site("yaml-site+playbook-dir")
    assert s["pool01.example.net"]["vars"]["se_gridftp_data_range"] == "40000-41000", \
        "playbook group_vars beat inventory group vars"
    assert s["pool01.example.net"]["vars"]["se_connect_timeout"] == 9.0, "playbook host_vars/<h>"
    assert s["head.example.net"]["vars"]["se_gridftp_data_range"] == "20000-25000", "others untouched"


def test_directory_with_script_and_constructed() -> None:
    s = site("directory")
    assert {n: h["role"] for n, h in s.items() if n} == {
        "head.example.com": "headnode", "pool01.example.com": "disknode",
        "pool02.example.com": "disknode", "pool03.example.com": "disknode"}, \
        "INI + YAML files, script hosts put in disknodes by the constructed plugin"
    assert s["pool03.example.com"]["vars"]["se_os"] == "el9", "script _meta hostvars"
    assert s[""]["site"] == "DIRECTORY", "group_vars/ inside the inventory directory"


def test_vault_with_password_file_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    resolvers = site("vault")["head.example.org"]["vars"]["se_resolvers"]
    assert resolvers == ["fd42:99::53"], "--vault-password-file"
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(DATA / "vault" / "password.txt"))
    s = inventory.load_site(DATA / "vault" / "hosts.yml")
    assert s.hosts[0].vars["se_resolvers"] == ["fd42:99::53"], "ANSIBLE_VAULT_PASSWORD_FILE"


def test_vault_without_password_is_one_line() -> None:
    p = DATA / "vault" / "hosts.yml"
    with pytest.raises(InventoryError) as exc:
        inventory.load_site(p)
    assert str(exc.value) == (
        f"{p}: host head.example.org: se_resolvers is vault-encrypted and attempting to decrypt but "
        "no vault secrets found; give the vault password with --vault-password-file FILE or "
        "ANSIBLE_VAULT_PASSWORD_FILE"), "names file, host, key and the fix"


def test_ansible_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """Ansible's warnings (an unparsable file, unexpected keys) never reach the terminal."""
    with pytest.raises(InventoryError):
        inventory.load_site(DATA / "yaml-site" / "group_vars" / "headnodes" / "main.yml")
    site("etc-ansible")
    out, err = capfd.readouterr()
    assert (out, err) == ("", ""), "Ansible printed to the terminal"
