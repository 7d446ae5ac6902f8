"""The suite's view of a site: hosts, their role, their services. Plain data, no I/O.

Built by :mod:`se_dualstack.inventory` from an Ansible inventory plus the site knowledge;
consumed by the plugin (parametrization) and the checks. Testinfra hosts are attached lazily
by the plugin, so this module stays importable and testable without ssh.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROLES = ("headnode", "disknode")
GROUP_ROLE = {"headnodes": "headnode", "disknodes": "disknode"}


@dataclass(frozen=True)
class Connection:
    """How to reach a host, resolved as Ansible resolves it (``ansible_host``, ``ansible_user``...).

    Why a separate record: the suite connects exactly where, and exactly as, the site's own
    Ansible runs connect (Ansible's ssh arguments included: its connection sharing is what
    makes a host's hundred checks cost one ssh handshake), and ``se-dualstack site`` and the
    report show it. No password is ever kept here.
    """

    address: str  # ansible_host (or ansible_ssh_host), else the inventory name
    user: str | None = None  # None: ssh picks (its config, else the local user), as Ansible does
    port: int | None = None
    kind: str = "ssh"  # ansible_connection: ssh, local, paramiko, docker...
    private_key_file: str | None = None
    # Ansible's ssh_args (its default: -C -o ControlMaster=auto -o ControlPersist=60s, or
    # ansible.cfg's), then ssh_common_args and ssh_extra_args, in Ansible's order.
    ssh_args: str = ""
    # Where Ansible would put the ControlPath socket when the arguments share connections and
    # name none: the site's control_path (``%(directory)s`` filled in) or
    # ``<control_path_dir>/<control_name>``. None when the site chose neither (the suite then
    # uses a private directory of its own, see remote.py) or the arguments name one.
    control_path: str | None = None
    control_name: str | None = None  # Ansible's socket file name: a hash of host, port, user
    become: bool = False
    become_user: str | None = None

    def hostvars(self) -> dict[str, Any]:
        """The canonical ``ansible_*`` names, the input of testinfra's ``get_ansible_host``."""
        out: dict[str, Any] = {"ansible_host": self.address, "ansible_connection": self.kind}
        if self.user:
            out["ansible_user"] = self.user
        if self.port:
            out["ansible_port"] = self.port
        if self.private_key_file:
            out["ansible_ssh_private_key_file"] = self.private_key_file
        if self.ssh_args:
            out["ansible_ssh_extra_args"] = self.ssh_args
        if self.become:
            out["ansible_become"] = True
            out["ansible_become_user"] = self.become_user or "root"
        return out

    def as_dict(self) -> dict[str, Any]:
        """Plain view for ``se-dualstack site`` and the report."""
        return {"host": self.address, "user": self.user, "port": self.port, "connection": self.kind,
                "key_file": self.private_key_file, "ssh_args": self.ssh_args,
                "control_path": self.control_path,
                "become": self.become, "become_user": self.become_user if self.become else None}


@dataclass(frozen=True)
class Service:
    """A TCP service an SE host must offer on both address families: a port, port ranges or both.

    ``ranges``: where its data movers or data channels listen (a GridFTP server's passive range,
    a dCache pool's movers), each labelled ``<service>-<name>``, as the storage data declares them
    with the site's overrides applied.
    """

    name: str
    port: int | None  # None: no fixed port (a dCache pool listens on its ranges only)
    processes: tuple[str, ...]
    transfer: bool
    title: str
    ranges: tuple[TransferPort, ...] = ()


@dataclass(frozen=True)
class PortRange:
    """An inclusive TCP port range (a data channel's or movers' ports)."""

    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """Parse ``"30000-30100"`` (or ``"30000:30100"``, as iptables writes it)."""
        sep = "-" if "-" in text else ":"
        a, b = (int(x) for x in str(text).split(sep, 1))
        if not 0 < a <= b < 65536:
            raise ValueError(f"bad port range {text!r}")
        return cls(a, b)

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


@dataclass(frozen=True)
class TransferPort:
    """A port (or range) that must be open over IPv6 for transfers: one firewall check row."""

    label: str  # the service's name for its port, <service>-<range> for a range (gsiftp-data)
    first: int
    last: int

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}:{self.last}"


@dataclass
class SEHost:
    """One storage-element host of the inventory."""

    name: str  # the FQDN the DNS checks query and test ids show
    role: str | None  # "headnode" | "disknode"; None: not known (--hosts, nothing detected)
    vars: dict[str, Any]  # merged variables (defaults < Ansible's precedence < --se-var)
    services: list[Service]
    data_range: PortRange
    connection: Connection = None  # type: ignore[assignment]  # None given: the name, ssh's defaults
    role_source: str = ""  # where the role came from: "inventory group disknodes", evidence...
    # The testinfra Host the checks use (``host`` fixture), set by the plugin.
    testinfra: Any = field(default=None, repr=False, compare=False)
    detected_os: str | None = field(default=None, compare=False)  # learnt on first contact
    # Set by the plugin: contacts the host (once) the first time `.os` needs its OS.
    detect_os: Callable[[], str | None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.connection is None:
            self.connection = Connection(self.name)

    @property
    def interface(self) -> str:
        """External interface carrying the SE's addresses."""
        return str(self.vars.get("se_external_interface", "eth0"))

    @property
    def address(self) -> str:
        """Address ssh connects to (``ansible_host`` else the name)."""
        return self.connection.address

    @property
    def user(self) -> str | None:
        """Login user; None when the site sets none (ssh picks, as it does for Ansible)."""
        return self.connection.user

    @property
    def port(self) -> int | None:
        return self.connection.port

    @property
    def declared_os(self) -> str | None:
        """``se_os`` from the inventory (normalised when the variables were validated)."""
        return self.vars.get("se_os") or None

    @property
    def os(self) -> str | None:
        """OS family the checks use: ``se_os`` if declared, else detected (once, lazily)."""
        return self.declared_os or self.os_detected()

    @property
    def os_family(self) -> str | None:
        """Alias of :attr:`os` (declared ``se_os`` wins over detection)."""
        return self.os

    def os_detected(self) -> str | None:
        """The detected OS family, asking the host only the first time."""
        if self.detected_os is None and self.detect_os is not None:
            self.detected_os = self.detect_os()
        return self.detected_os

    def config_path(self, path: str) -> str:
        """Where this host keeps a config file the storage data names at ``path`` (the site may
        move it: ``se_config_files``, registry path -> the host's path)."""
        return str((self.vars.get("se_config_files") or {}).get(path, path))

    @property
    def transfer_ports(self) -> list[TransferPort]:
        """Transfer ports of this host's services: each one's port, then its ranges (a GridFTP
        server's data range, a dCache pool's movers), as the storage data declares them."""
        out: list[TransferPort] = []
        for s in self.services:
            if not s.transfer:
                continue
            if s.port is not None:
                out.append(TransferPort(s.name, s.port, s.port))
            out.extend(s.ranges)
        return out


@dataclass
class Site:
    """The whole inventory: hosts in inventory order plus site-wide settings."""

    name: str
    flavour: str
    inventory_path: str | None  # the inventory file or directory; None: --hosts, or several
    hosts: list[SEHost]
    vars: dict[str, Any]  # the `all` group's vars merged over defaults
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (host, why it is not checked)
    # Where the hosts came from, for people: "inventory /etc/ansible/hosts", "--hosts; flavour
    # dpm: detected on head.example.org".
    origin: str = ""

    @property
    def headnodes(self) -> list[SEHost]:
        return [h for h in self.hosts if h.role == "headnode"]

    @property
    def disknodes(self) -> list[SEHost]:
        return [h for h in self.hosts if h.role == "disknode"]

    def host(self, name: str) -> SEHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    @property
    def ipv6_prefixes(self) -> list[ipaddress.IPv6Network]:
        """The site's IPv6 prefixes: every SE host's (its own vars hold the `all` group's and the
        defaults', global unicast), as a site may set them on its storage group only."""
        found: list[ipaddress.IPv6Network] = []
        for vs in [h.vars for h in self.hosts] or [self.vars]:
            for p in vs.get("se_ipv6_prefixes") or []:
                net = ipaddress.IPv6Network(p)
                if net not in found:
                    found.append(net)
        return found
