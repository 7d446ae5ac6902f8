"""How Ansible would connect to a host: its ssh connection plugin's own option rules.

Why Ansible's rules and Ansible's defaults: the suite must reach a host exactly where and as the
site's own playbooks do (``ansible_host``, ``ansible_user``, key, jump host, become, the old
``ansible_ssh_*`` names, ``ansible.cfg`` and ``ANSIBLE_*``), and as fast. Ansible's default
``ssh_args`` (``-C -o ControlMaster=auto -o ControlPersist=60s``) plus the ControlPath it adds
make every command after the first ride one ssh connection; without them each of a host's
hundred commands pays a handshake (measured 8.7x slower host checks). Every value is read
through ansible-core's config API (``get_config_value_and_origin`` with the host's variables),
and the ControlPath decision and its file name are Ansible's own code.
"""

from __future__ import annotations

import os
import re
import shlex
import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from ansible import constants as C
    from ansible.errors import AnsibleError
    from ansible.module_utils.parsing.convert_bool import boolean
    from ansible.plugins.connection.ssh import Connection as AnsibleSsh
    from ansible.utils.path import unfrackpath

from se_dualstack import sitevars
from se_dualstack.ansible_errors import first_line
from se_dualstack.errors import InventoryError
from se_dualstack.model import Connection

# Connection variables Ansible templates before its connection plugin reads them (old names too).
CONN_VARS = (
    "ansible_host", "ansible_ssh_host", "ansible_user", "ansible_ssh_user", "ansible_port",
    "ansible_ssh_port", "ansible_private_key_file", "ansible_ssh_private_key_file",
    "ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args", "ansible_connection",
    "ansible_become", "ansible_become_user", "ansible_sudo_user", "ansible_become_method",
    "ansible_host_key_checking", "ansible_ssh_host_key_checking", "ansible_control_path",
    "ansible_control_path_dir",
)
# Connection types testinfra can drive (as its own get_ansible_host accepts them).
CONNECTIONS = ("ssh", "smart", "paramiko", "paramiko_ssh", "local", "docker",
               "community.docker.docker", "lxc", "lxd")


def setting(name: str, **kw: Any) -> Any:
    """An Ansible setting as Ansible resolves it now (ansible.cfg < ANSIBLE_* env < variables)."""
    return C.config.get_config_value(name, **kw)


def shares_connections(ssh_args: str) -> tuple[bool, bool]:
    """(ControlPersist asked for, a ControlPath given) in these arguments, as Ansible tells."""
    try:
        words = shlex.split(ssh_args)
    except ValueError:
        words = ssh_args.split()
    return AnsibleSsh._persistence_controls([w.encode() for w in words])


def resolve(name: str, hv: dict[str, Any]) -> Connection:
    """Where and how Ansible would connect to host ``name`` with its variables ``hv``."""
    def ssh(option: str) -> tuple[Any, str]:
        try:
            value, origin = C.config.get_config_value_and_origin(
                option, plugin_type="connection", plugin_name="ssh", variables=hv)
        except AnsibleError as exc:
            m = re.search(r"\(from (?:var: )?([^)]+)\)", str(exc))
            key = m.group(1) if m else option
            fix = ("is not a TCP port; use a number 1-65535" if option == "port" else
                   f"is not valid for Ansible's ssh connection ({first_line(exc)}); fix it")
            raise InventoryError(f"host {name}: {key} {hv.get(key, '')!r} {fix}") from None
        return value, str(origin)

    kind = str(hv.get("ansible_connection") or setting("DEFAULT_TRANSPORT") or "ssh")
    if kind not in CONNECTIONS:
        raise InventoryError(
            f"host {name}: ansible_connection {kind!r} cannot be used by testinfra; use ssh "
            "(or local) for the SE hosts"
        )
    host, origin = ssh("host")
    address = str(host or name) if origin != "default" else name  # its default names a variable
    user = ssh("remote_user")[0]
    port = ssh("port")[0]
    key_file = ssh("private_key_file")[0]
    # Ansible's order: ssh_args (its default included), host key checking, then the common and
    # extra arguments of the inventory.
    args = [str(ssh("ssh_args")[0] or "")]
    if ssh("host_key_checking")[0] is False:
        args.append("-o StrictHostKeyChecking=no")
    args += [str(ssh(o)[0] or "") for o in ("ssh_common_args", "ssh_extra_args")]
    ssh_args = " ".join(a.strip() for a in args if a.strip())
    become = boolean(hv.get("ansible_become", setting("DEFAULT_BECOME")), strict=False)
    method = str(hv.get("ansible_become_method") or setting("DEFAULT_BECOME_METHOD") or "sudo")
    if become and method != "sudo":
        raise InventoryError(f"host {name}: ansible_become_method {method!r} is not supported "
                             "(testinfra becomes root with sudo); use sudo")
    become_user, _ = C.config.get_config_value_and_origin(
        "become_user", plugin_type="become", plugin_name="sudo", variables=hv)
    control_path, control_name = None, None
    persist, has_path = shares_connections(ssh_args)
    if persist and not has_path and kind in ("ssh", "smart"):
        # Ansible's choice of socket: its own hash of (host, port, user) in control_path_dir,
        # or the site's control_path; kept only where the site chose one (see remote.py).
        template = ssh("control_path")[0]
        directory, dir_origin = ssh("control_path_dir")
        control_name = os.path.basename(AnsibleSsh._create_control_path(address, port, user))
        if template or dir_origin != "default":
            cpdir = unfrackpath(str(directory))
            control_path = (str(template) if template else f"%(directory)s/{control_name}") \
                % {"directory": cpdir}
    return Connection(
        address=address.strip("[]"),
        user=str(user) if user else None,
        port=sitevars.port(f"host {name}", "ansible_port", port) if port not in (None, "") else None,
        kind={"smart": "ssh", "paramiko_ssh": "paramiko", "community.docker.docker": "docker",
              "lxd": "lxc"}.get(kind, kind),
        private_key_file=os.path.expanduser(str(key_file)) if key_file else None,
        ssh_args=ssh_args,
        control_path=control_path,
        control_name=control_name,
        become=bool(become),
        become_user=str(become_user) if become else None,
    )
