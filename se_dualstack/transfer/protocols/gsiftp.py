"""gsiftp://: GridFTP with GSI (Globus servers; dCache's and StoRM's GridFTP).

Why the shim: gfal2's ``GRIDFTP PLUGIN:IPV6`` (what ``gfal-copy -4/-6`` set) only *prefers*
IPv6 for the control and data channels; it does not forbid the other family, so only the family
shim (or a single-family alias) forces it. The data channel is where GridFTP meets the firewall:
the server names it in its PASV/EPSV reply, on its own data port range (or a dCache pool's mover).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from se_dualstack.transfer.protocols.base import Option, Protocol, Redirect, option_text


class GridFTP(Protocol):
    name = "gsiftp"
    title = "GridFTP (GSI)"
    default_port = 2811  # IANA gsiftp; globus-gridftp-server's `port`
    services = ("gsiftp", "dcache-gsiftp")
    path_separator = ""

    needs_shim = True
    family_switch = "gfal2 GRIDFTP PLUGIN:IPV6 (gfal-copy -4/-6): prefers the family, forbids no other"

    x509 = "GSI on the control channel: the proxy from X509_USER_PROXY (delegated to the server)"
    token = ""  # GridFTP servers take no bearer token
    token_prefixes = ()

    tpc = "FXP: the servers open the data channel between themselves (gfal2's default)"
    tpc_modes: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    tpc_unsupported: ClassVar[Mapping[str, str]] = {}
    tpc_refusals: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    tpc_enable: ClassVar[Mapping[str, str]] = {}
    # FXP as gfal2 2.21 runs it: the destination is passive (listens in its data range) and the
    # source connects to it (measured on the testbed: dest [fd..12]:20512 <- source [fd..11]:33808).
    tpc_active: ClassVar[Mapping[str, str]] = {"": "source"}

    redirect = Redirect(
        "ftp", ("227 Entering Passive Mode", "229 Entering Extended Passive Mode"),
        "the address and port of the PASV (227) or EPSV (229) reply: the data channel, on the server's "
        "data port range or a dCache pool's mover",
        note="gfal2's PASV plugin (ENABLE_PASV_PLUGIN) reports it as an event, e.g. IPV6: [addr]:port")
    gone_on_redirect_loop = False

    def family_options(self, family: int) -> list[Option]:
        return [("GRIDFTP PLUGIN", "IPV6", family == 6)]

    def forcing(self, family: int) -> list[str]:
        return [option_text(o) for o in self.family_options(family)]

    def worker_options(self, timeout: int) -> list[Option]:
        # SESSION_REUSE keeps the control connection between operations; ENABLE_PASV_PLUGIN makes
        # gfal2 emit an event naming the data channel's family and address (family evidence).
        return [("GRIDFTP PLUGIN", "SESSION_REUSE", True),
                ("GRIDFTP PLUGIN", "ENABLE_PASV_PLUGIN", True),
                ("GRIDFTP PLUGIN", "DELAY_PASSV", True),
                ("GRIDFTP PLUGIN", "OPERATION_TIMEOUT", timeout)]
