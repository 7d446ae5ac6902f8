"""The transfer protocol registry: every module declares every field, the runner's pieces come
from it, and the services it names exist in the storage data."""

from __future__ import annotations

import pytest

from se_dualstack import knowledge
from se_dualstack.transfer import protocols
from se_dualstack.transfer.protocols.base import Protocol, Redirect

DECLARED = ("name", "title", "default_port", "services", "x509", "tpc", "redirect")


@pytest.mark.parametrize("name", protocols.names())
def test_every_protocol_declares_every_field(name: str) -> None:
    p = protocols.get(name)
    assert isinstance(p, Protocol), p
    assert p.name == name, "the registry key is the protocol's own name"
    for attr in DECLARED:
        assert getattr(p, attr) not in ("", 0, (), None), f"{name} declares no {attr}"
    # Declared in the module's own class body (not inherited from the base class' empty default).
    own = {k for cls in type(p).__mro__ if cls is not Protocol for k in vars(cls)}
    for attr in (*DECLARED, "path_separator", "needs_shim", "family_switch", "token", "token_prefixes",
                 "tpc_modes", "tpc_unsupported", "tpc_refusals", "tpc_enable", "tpc_active",
                 "gone_on_redirect_loop"):
        assert attr in own, f"{name} does not declare {attr} itself"
    assert 0 < p.default_port < 65536, p.default_port
    assert set(p.tpc_active.values()) <= {"source", "dest"}, p.tpc_active
    assert isinstance(p.redirect, Redirect)
    assert p.redirect.kind
    assert p.redirect.signals
    assert p.redirect.target
    assert p.url("h.x", p.default_port, "/s/f").startswith(f"{name}://h.x:{p.default_port}/")
    assert p.needs_shim or p.forcing(6), f"{name} forces the family by itself, yet says nothing how"
    assert bool(p.token) == bool(p.token_prefixes or p.credential_env("token")), \
        f"{name}: a token protocol must say how the token is handed over"


@pytest.mark.parametrize("name", protocols.names())
def test_services_named_by_a_protocol_exist_in_the_storage_data(name: str) -> None:
    known = set(knowledge.service_names())
    missing = [s for s in protocols.get(name).services if s not in known]
    assert not missing, f"{name} names services no knowledge file defines: {missing}"


def test_every_redirect_of_every_system_names_a_registered_protocol() -> None:
    for flavour in knowledge.flavours():
        for hop in knowledge.system(flavour).redirects:
            assert hop.protocol in protocols.names(), (flavour, hop)
            carried = protocols.get(hop.protocol).services
            assert hop.from_service in carried, \
                f"{flavour}: {hop.protocol} enters at {hop.from_service}, which the protocol does not name"


def test_registry_answers_and_refuses() -> None:
    assert protocols.names() == ("gsiftp", "root", "davs", "https"), "report order"
    assert protocols.with_tokens() == ("root", "davs", "https"), "GridFTP takes no token"
    assert protocols.unknown(["root", "s3", "ftp"]) == ["s3", "ftp"]
    with pytest.raises(ValueError, match="unknown transfer protocol 's3'; known: gsiftp, root"):
        protocols.get("s3")


def test_xrootd_connects_twice_within_the_connect_timeout() -> None:
    """One login a server drops (XRootD < 5.5.4, xrootd issue 1952) is retried, and a silent
    path still fails within the site's connect timeout: two windows of half of it."""
    env = protocols.worker_env(4, 10, 60, "x509")
    assert (env["XRD_CONNECTIONRETRY"], env["XRD_CONNECTIONWINDOW"]) == ("2", "5"), env
    assert protocols.worker_env(6, 7, 60, "x509")["XRD_CONNECTIONWINDOW"] == "4"
    assert protocols.worker_env(6, 1, 60, "x509")["XRD_CONNECTIONWINDOW"] == "1"


def test_worker_pieces_are_the_union_of_the_protocols() -> None:
    env = protocols.worker_env(6, 10, 60, "x509")
    assert env["XRD_NETWORKSTACK"] == "IPv6", env
    assert env["XrdSecPROTOCOL"] == "gsi", env
    assert protocols.worker_env(4, 10, 60, "token")["XrdSecPROTOCOL"] == "ztn"
    opts = protocols.worker_options(4, 30)
    assert ("GRIDFTP PLUGIN", "IPV6", False) in opts, opts
    assert ("HTTP PLUGIN", "OPERATION_TIMEOUT", 30) in opts, opts
    assert len(opts) == len(set(opts)), "no option twice"
    assert protocols.token_prefixes() == ("davs://", "https://")


def test_tpc_modes_and_what_servers_cannot_do() -> None:
    davs, root = protocols.get("davs"), protocols.get("root")
    assert davs.copy_modes("token") == ("pull", "push")
    assert davs.copy_modes("x509") == ("",)
    assert davs.copy_mode_option("push") == ("HTTP PLUGIN", "DEFAULT_COPY_MODE", "3rd push")
    assert not root.unsupported("token"), "tried, not skipped in advance (issue 17 item 8)"
    err = ("step tpc failed after 0.30 s: Could not copy: [3030] [FATAL] Auth failed: No protocols "
           "left to try (source)")
    assert root.refusal("token", err) == "No protocols left to try (source)", "the servers' refusal"
    assert root.refusal("x509", err) == "", "with a proxy the same answer is a failure"
    assert "fcreds ?ztn" in root.tpc_enable["token"]
    assert root.tpc_active[""] == "dest", "the destination's xrdcp pulls"
    assert davs.tpc_active["push"] == "source"
    assert davs.tpc_active[""] == "dest", "gfal2's default is a pull"
    assert protocols.get("gsiftp").tpc_active[""] == "source", "FXP: the source connects to the passive dest"
    assert root.gone_on_redirect_loop
    assert not davs.gone_on_redirect_loop
