"""The transfer protocols: one module each, and the registry the runner asks.

Why a registry: a protocol's facts (scheme, default port, the storage services that carry it,
how a family is forced, how a credential is handed over, third-party copy, how a redirect is
read, its ``gfal-copy`` pieces) live in its own module (:mod:`.base` lists them); the runner
(cases, worker, steps, commands) asks here and names no protocol. A new protocol is a module
declaring a :class:`~se_dualstack.transfer.protocols.base.Protocol` and a line in
:data:`PROTOCOLS` (as testinfra's module registry), plus its services in the storage data.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from se_dualstack.transfer.protocols.base import Option, Protocol

# name -> "module:Class" in this package, in the order reports list them.
PROTOCOLS: dict[str, str] = {
    "gsiftp": "gsiftp:GridFTP",
    "root": "root:XRootD",
    "davs": "davs:WebDAV",
    "https": "davs:HTTPS",
}


@functools.cache
def get(name: str) -> Protocol:
    """The protocol called ``name``; a ValueError naming the known ones otherwise."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown transfer protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    module, cls = PROTOCOLS[name].split(":")
    proto = getattr(importlib.import_module(f"{__name__}.{module}"), cls)()
    if proto.name != name:
        raise ValueError(f"transfer protocol registry: {name!r} names a class declaring {proto.name!r}")
    return proto


def _named(spec: str) -> Callable[..., Any]:
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


def tracer(name: str) -> Callable[..., Any]:
    """The redirect tracer the protocol's module names (``Redirect.tracer``, ``module:function``);
    a ValueError when it names none (the redirect chain check skips such a protocol, saying so)."""
    spec = get(name).redirect.tracer
    if not spec:
        raise ValueError(f"transfer protocol {name!r} names no redirect tracer")
    return _named(spec)


def server_version(name: str, host: str, port: int, ctx: Any) -> str:
    """The version a server of the protocol names (its module's ``version_query``), "" none."""
    spec = get(name).version_query
    return str(_named(spec)(host, port, ctx) or "") if spec else ""


def names() -> tuple[str, ...]:
    """Every protocol's name, in registry order."""
    return tuple(PROTOCOLS)


def every() -> list[Protocol]:
    return [get(n) for n in PROTOCOLS]


def with_tokens() -> tuple[str, ...]:
    """Protocols whose servers take a WLCG bearer token."""
    return tuple(p.name for p in every() if p.token)


def unknown(wanted: list[str]) -> list[str]:
    """The names in ``wanted`` that are no protocol (for one-line errors)."""
    return [p for p in wanted if p not in PROTOCOLS]


# --------------------------------------------------------------------------- a worker process
# One gfal2 worker serves every protocol over one family and one credential: its environment and
# options are the union of what each protocol asks for.


def worker_env(family: int, connect_timeout: int, timeout: int, auth: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for p in every():
        env.update(p.family_env(family))
        env.update(p.worker_env(connect_timeout, timeout))
        env.update(p.credential_env(auth))
    return env


def worker_options(family: int, timeout: int) -> list[Option]:
    out: list[Option] = []
    for p in every():
        out += [o for o in (*p.worker_options(timeout), *p.family_options(family)) if o not in out]
    return out


def token_prefixes() -> tuple[str, ...]:
    """URL prefixes a token worker hands the token to gfal2's credentials API for."""
    return tuple(dict.fromkeys(x for p in every() for x in p.token_prefixes))


def token_env() -> list[str]:
    """``VAR=value`` words a shell needs to offer the token to every protocol (pasted lines)."""
    env: dict[str, str] = {}
    for p in every():
        env.update(p.credential_env("token"))
    return [f"{k}={v}" for k, v in env.items()]
