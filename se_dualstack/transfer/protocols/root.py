"""root://: XRootD (xrootd data servers and redirectors, DPM, EOS, dCache's xrootd door).

Why no shim is needed: XRootD's client has a real switch, ``XRD_NETWORKSTACK=IPv4|IPv6``, read
once when gfal2's XRootD plugin starts (so one worker process per family). A path follows the
port after a double slash (``root://host:1094//store/file``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from se_dualstack.transfer.protocols.base import Protocol, Redirect

# How many times the transfers' XrdCl connects per stream (XRD_CONNECTIONRETRY).
CONNECTION_ATTEMPTS = 2


def connection_env(connect_timeout: int, attempts: int = CONNECTION_ATTEMPTS) -> dict[str, str]:
    """XrdCl's connection settings: ``attempts`` connections, each within an equal share of the
    connect timeout (XRD_CONNECTIONWINDOW), so a silent path still fails within it (a refused one
    after one window, when XrdCl retries)."""
    window = max(1, -(-int(connect_timeout) // attempts))
    return {"XRD_CONNECTIONWINDOW": str(window), "XRD_CONNECTIONRETRY": str(attempts)}


class XRootD(Protocol):
    name = "root"
    title = "XRootD"
    default_port = 1094  # IANA rootd/xrootd; xrd.port's default
    services = ("xrootd", "dcache-xrootd", "eos-fst")
    path_separator = "/"

    needs_shim = False
    family_switch = "XRD_NETWORKSTACK=IPv4|IPv6 (XRootD's client; XRD_PREFERIPV4 only prefers)"

    x509 = ("GSI (XrdSecPROTOCOL=gsi): the proxy from X509_USER_PROXY; XrdSecGSIDELEGPROXY=1 "
            "delegates it, which a third-party copy needs")
    token = "ztn over TLS (XrdSecPROTOCOL=ztn): the client reads the token from BEARER_TOKEN_FILE"
    token_prefixes = ()

    tpc = "xroot TPC: the destination pulls from the source with the client's delegated credential"
    tpc_modes: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    tpc_unsupported: ClassVar[Mapping[str, str]] = {}
    # A destination that does not forward the client's token to its pull: the pull reaches the
    # source with no credential (XRootD 5.5, measured on the testbed without `fcreds ?ztn`).
    tpc_refusals: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "token": ("No protocols left to try (source)", "no delegated credentials for tpc")}
    tpc_enable: ClassVar[Mapping[str, str]] = {
        "token": "XRootD forwards the client's token to the pulling xrdcp only with `ofs.tpc ... fcreds "
                 "?ztn =BEARER_TOKEN_FILE` on the destination (the XRootD reference, ofs.tpc fcreds)"}
    tpc_active: ClassVar[Mapping[str, str]] = {"": "dest"}  # the destination's xrdcp pulls

    redirect = Redirect(
        "xroot", ("kXR_redirect (4004)",),
        "the host (with opaque data after ?) and the port (a 32-bit integer) of the kXR_redirect response",
        note="a manager's cmsd picks the data server; kXR_wait (4005) asks the client to retry the same host",
        tracer="se_dualstack.transfer.hops.xroot:trace")
    # After a delete, a manager may still redirect to the server that held the file, which answers
    # "not found": gfal2 reports ELOOP, which means the file is gone there.
    gone_on_redirect_loop = True
    version_query = "se_dualstack.transfer.hops.xroot:server_version"  # query config version

    def family_env(self, family: int) -> dict[str, str]:
        return {"XRD_NETWORKSTACK": f"IPv{family}"}

    def forcing(self, family: int) -> list[str]:
        return [f"{k}={v}" for k, v in self.family_env(family).items()]

    def worker_env(self, connect_timeout: int, timeout: int) -> dict[str, str]:
        return {
            # Two connection attempts, half the site's connect timeout each. A forced-but-broken
            # path fails within that timeout (XrdCl's defaults retry for minutes; testbed-facts.md),
            # and one login the server drops is retried instead of failing the transfer: XRootD
            # servers before 5.5.4 drop a few TLS logins in a hundred (xrootd issue 1952, fixed in
            # 5.5.4; Debian 12 ships 5.5.3). With a single attempt such a drop failed the round
            # trip, through a redirector as "Redirect limit has been reached".
            **connection_env(connect_timeout),
            "XRD_REQUESTTIMEOUT": str(timeout),
            "XRD_STREAMTIMEOUT": str(timeout),
            "XRD_TIMEOUTRESOLUTION": "1",
            # Third-party copy: the destination pulls with the client's delegated proxy; the GSI
            # plugin delegates only when asked before the first connection (else the server says
            # "no delegated credentials for tpc"). Harmless for plain copies.
            "XrdSecGSIDELEGPROXY": "1",
        }

    def credential_env(self, auth: str) -> dict[str, str]:
        # One protocol offered, never both: XRootD tries ztn before gsi, so a token found by
        # discovery would otherwise stand in for the proxy under test (and the other way round).
        return {"XrdSecPROTOCOL": "ztn" if auth == "token" else "gsi"}

    def command_env(self, family: int, third_party: bool, token: bool) -> list[str]:
        words = [f"{k}={v}" for k, v in self.family_env(family).items()]
        if third_party and not token:
            words.append("XrdSecGSIDELEGPROXY=1")
        return words
