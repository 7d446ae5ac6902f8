"""What every transfer protocol declares, and the behaviour the declarations give.

Why one class per protocol, declarations first: forcing a family, handing over a credential,
third-party copy and the pasted ``gfal-copy`` line all differ per protocol, and were once
``if protocol == ...`` branches in ten files. A protocol module now states its facts as class
attributes (the reviewer reads them like data) and overrides a method only where its behaviour is
its own; the runner asks :mod:`se_dualstack.transfer.protocols` and never names a protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Union

# A gfal2 context option: (section, key, value), as ``gfal2.set_opt_*`` and ``gfal-copy -D`` take it.
# Evaluated at run time, where Python 3.9 has no ``X | Y``.
Option = tuple[str, str, Union[bool, int, str]]


@dataclass(frozen=True)
class Redirect:
    """How a server sends a client on to another host and port (an entry point to a data server).

    The redirect-chain check (SE6-XFER-03) reads this to follow every hop of a protocol without
    moving data; ``tracer`` names its function (``module:function``, called with the protocol,
    the entry point's host and port and a :class:`~se_dualstack.transfer.hops.chain.TraceContext`,
    returning a :class:`~se_dualstack.transfer.hops.chain.Chain`); "" for a protocol not traced.
    """

    kind: str  # "http" (a status code and a header), "xroot" (a response), "ftp" (a reply)
    signals: tuple[str, ...]  # what says "go elsewhere": status codes, response or reply codes
    target: str  # where the next hop's host and port are written in that answer
    note: str = ""  # what a tracer must know (e.g. which requests a server redirects)
    tracer: str = ""  # "module:function" of the hop tracer, once there is one


def option_text(option: Option) -> str:
    """``GRIDFTP PLUGIN:IPV6=true``: an option as ``gfal-copy -D`` takes it."""
    section, key, value = option
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return f"{section}:{key}={text}"


class Protocol:
    """A transfer protocol: the declarations every module sets, the defaults of its behaviour.

    A unit test checks that every registered protocol sets every declaration below.
    """

    # --- what it is ---------------------------------------------------------------------------
    name: str = ""  # URL scheme, and its name in se_transfer_protocols and test ids
    title: str = ""
    default_port: int = 0  # when the host runs none of ``services`` and sets no se_transfer_ports
    # Services of the storage registry (data/knowledge.yml, data/flavours/) whose port carries
    # the protocol on a host; the first of the host's services named here gives the port.
    services: tuple[str, ...] = ()
    # Between ``host:port`` and the absolute SE path: "/" makes ``root://h:1094//store/f``.
    path_separator: str = ""

    # --- forcing an address family ------------------------------------------------------------
    needs_shim: bool = True  # without the family shim or a single-family alias: verified only
    family_switch: str = ""  # the protocol's own switch, in words ("" when it has none)

    # --- credentials --------------------------------------------------------------------------
    x509: str = ""  # how the grid proxy reaches the server
    token: str = ""  # how a WLCG bearer token reaches the server ("" = its servers take none)
    # URL prefixes gfal2's credentials API is given the token for (in the worker process).
    token_prefixes: tuple[str, ...] = ()

    # --- third-party copy ---------------------------------------------------------------------
    tpc: str = ""  # how the servers copy between themselves ("" = no third-party copy)
    # Copy modes tested per credential ("" = gfal2's default); a credential not named: ("",).
    tpc_modes: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # Credential -> why the servers of the field cannot do a third-party copy with it.
    tpc_unsupported: ClassVar[Mapping[str, str]] = {}
    # Credential -> what servers answer when they will not copy with it (the test then skips,
    # quoting this run's answer and the server's version), and how a site lets them.
    tpc_refusals: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    tpc_enable: ClassVar[Mapping[str, str]] = {}
    # Copy mode -> the end ("source" or "dest") that opens the server-to-server connection: the
    # one a failed copy is pinned on (it could not reach the other). A mode not named: "dest".
    tpc_active: ClassVar[Mapping[str, str]] = {}

    # --- redirects ----------------------------------------------------------------------------
    redirect: Redirect = Redirect("", (), "")
    # A stat that meets a redirect loop after a delete means "gone" (a manager's stale location).
    gone_on_redirect_loop: bool = False
    # "module:function" asking a server its software version, called with host, port and a
    # TraceContext ("" when the protocol has no such question): a refusal's skip quotes it.
    version_query: str = ""

    # --- URLs ---------------------------------------------------------------------------------

    def url(self, host: str, port: int, path: str) -> str:
        """URL of an absolute SE path on ``host`` (an IPv6 literal already bracketed)."""
        return f"{self.name}://{host}:{port}{self.path_separator}{path}"

    # --- forcing a family: the worker process and the report ------------------------------------

    def family_env(self, family: int) -> dict[str, str]:
        """Environment a worker of ``family`` needs (read at process start)."""
        return {}

    def family_options(self, family: int) -> list[Option]:
        """gfal2 options that force (or prefer) ``family`` in a worker."""
        return []

    def worker_env(self, connect_timeout: int, timeout: int) -> dict[str, str]:
        """Further environment of every worker (bounded retries, delegation)."""
        return {}

    def worker_options(self, timeout: int) -> list[Option]:
        """gfal2 options of every worker (sessions kept, operation timeouts)."""
        return []

    def credential_env(self, auth: str) -> dict[str, str]:
        """Environment that makes the client offer ``auth`` ("x509" or "token") and no other."""
        return {}

    def forcing(self, family: int) -> list[str]:
        """The protocol's own forcing of ``family``, for the report line."""
        return []

    def forcing_description(self, family: int, shim: str | None, alias: bool) -> str:
        """One line for the report: how this transfer's family was forced, honestly."""
        fam = f"IPv{family}"
        parts = []
        if shim:
            parts.append(f"family shim (LD_PRELOAD, getaddrinfo/connect restricted to {fam})")
        parts += self.forcing(family)
        if alias:
            parts.append(f"{fam}-only DNS alias in the URL")
        if not self.is_forced(shim, alias):
            parts.append(f"NOT forced (no shim, no alias): family verified only, other than {fam} fails")
        return "; ".join(parts)

    def is_forced(self, shim: str | None, alias: bool) -> bool:
        return bool(shim) or alias or not self.needs_shim

    # --- third-party copy ---------------------------------------------------------------------

    def copy_modes(self, auth: str) -> tuple[str, ...]:
        return self.tpc_modes.get(auth, ("",))

    def unsupported(self, auth: str) -> str:
        return self.tpc_unsupported.get(auth, "")

    def refusal(self, auth: str, error: str) -> str:
        """The servers' words in ``error`` that mean they will not copy with ``auth`` ("" none)."""
        return next((x for x in self.tpc_refusals.get(auth, ()) if x in error), "")

    def copy_mode_option(self, mode: str) -> Option | None:
        """The gfal2 option that selects a third-party copy ``mode`` (None: no such option)."""
        return None

    # --- the gfal-copy / gfal-rm lines a site admin pastes --------------------------------------

    def command_env(self, family: int, third_party: bool, token: bool) -> list[str]:
        """``VAR=value`` words before the command: the same forcing as the worker's."""
        return []

    def command_args(self, family: int) -> list[str]:
        """``gfal-copy`` arguments that force the family (``-D`` options)."""
        return [a for o in self.family_options(family) for a in ("-D", option_text(o))]

    def command_token_args(self) -> list[str]:
        """Arguments that give ``gfal-copy`` the token (already shell words: never the value)."""
        return []
