"""davs:// and https://: WebDAV and plain HTTP verbs over TLS, both through gfal2's davix.

Why one module for two schemes: the same servers (XrdHttp, dCache's WebDAV door, StoRM WebDAV,
EOS) and the same client serve both; only the scheme differs (``https`` is ``davs``'s sibling
for plain GET/PUT). davix has no family switch: the shim (or a single-family alias) forces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from se_dualstack.transfer.protocols.base import Option, Protocol, Redirect


class WebDAV(Protocol):
    name = "davs"
    title = "WebDAV over TLS"
    default_port = 443  # IANA https
    services = ("https", "dcache-webdav", "eos-https", "eos-fst-https", "storm-webdav")
    path_separator = ""

    needs_shim = True
    family_switch = ""  # davix has none: name pinning or the family shim

    x509 = "TLS client certificate: the proxy from X509_USER_PROXY"
    token = ("Authorization: Bearer: the token is given to gfal2's credentials API (BEARER) for the "
             "URL prefix; in HTTP-TPC gfal2 passes it on to the active server (TransferHeaderAuthorization)")
    token_prefixes = ("davs://",)

    tpc = "HTTP-TPC (WebDAV COPY): pull (the destination fetches) or push (the source sends)"
    # With a token both ways (the token travels with the request); X.509 keeps gfal2's default.
    tpc_modes: ClassVar[Mapping[str, tuple[str, ...]]] = {"token": ("pull", "push")}
    tpc_unsupported: ClassVar[Mapping[str, str]] = {}
    tpc_refusals: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    tpc_enable: ClassVar[Mapping[str, str]] = {}
    # HTTP-TPC: in pull mode the destination GETs from the source, in push the source PUTs.
    tpc_active: ClassVar[Mapping[str, str]] = {"": "dest", "pull": "dest", "push": "source"}

    redirect = Redirect(
        "http", ("301", "302", "303", "307", "308"), "the Location header (host, port and path)",
        note="dCache's WebDAV door answers GET with 302 and PUT with 307 to a pool's mover, a PUT only "
             "when the client sends Expect: 100-continue (webdav.redirect.on-read / on-write)",
        tracer="se_dualstack.transfer.hops.http:trace")
    gone_on_redirect_loop = False

    def worker_options(self, timeout: int) -> list[Option]:
        return [("HTTP PLUGIN", "KEEP_ALIVE", True), ("HTTP PLUGIN", "OPERATION_TIMEOUT", timeout)]

    def copy_mode_option(self, mode: str) -> Option | None:
        return ("HTTP PLUGIN", "DEFAULT_COPY_MODE", f"3rd {mode}")  # gfal2's "3rd pull" / "3rd push"

    def command_token_args(self) -> list[str]:
        # gfal-copy has no token option: gfal2 reads BEARER:TOKEN from its config (-D). The value
        # stays a shell expansion of the file, so the printed line never holds the token.
        return ["-D", '"BEARER:TOKEN=$(cat "$BEARER_TOKEN_FILE")"']


class HTTPS(WebDAV):
    name = "https"
    title = "HTTP over TLS (the davs servers, plain GET/PUT)"
    token_prefixes = ("https://",)
