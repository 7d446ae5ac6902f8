"""The credential dimension of transfer cases, worker environments and pasted commands.

X.509 ids must stay what they were before tokens (result files and waivers key on them); token
cases exist only where servers take a token, and the combination XRootD 5.5 cannot do is a case
that says why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from se_dualstack.model import PortRange, SEHost, Service, Site
from se_dualstack.plugins.transfers import _auths
from se_dualstack.transfer import tokens
from se_dualstack.transfer.cases import TransferSettings, tpc_cases, transfer_cases
from se_dualstack.transfer.commands import gfal_copy_command, gfal_rm_command
from se_dualstack.transfer.worker import worker_env


def _site() -> Site:
    svcs = [Service("gsiftp", 2811, ("globus-gridftp-server",), True, "GridFTP"),
            Service("xrootd", 1094, ("xrootd",), True, "XRootD"),
            Service("https", 443, ("xrootd",), True, "HTTPS")]
    hosts = [SEHost("head.example.test", "headnode", {"se_transfer_dir": "/store/head/se6test"}, svcs,
                    PortRange(20000, 25000))]
    hosts += [SEHost(f"disk0{i}.example.test", "disknode", {"se_transfer_dir": f"/store/disk0{i}/se6test",
                                                             "se_ipv6_alias": f"disk0{i}-v6.example.test"},
                     svcs, PortRange(20000, 25000)) for i in (1, 2)]
    return Site("t", "dpm", "t.yml", hosts, {})


def test_x509_ids_unchanged_and_token_ids_suffixed() -> None:
    site = _site()
    x509 = [c.id for c in transfer_cases(site)]
    both = [c.id for c in transfer_cases(site, auths=("x509", "token"))]
    assert both[:len(x509)] == x509, "X.509 ids (and their order) must not change"
    tokens = both[len(x509):]
    assert tokens, "no token cases"
    assert all(i.endswith("-token") for i in tokens), tokens
    assert "head.example.test-davs-ipv6-via-disk01-token" in tokens, tokens
    assert not [i for i in tokens if "-gsiftp-" in i], f"GridFTP takes no token: {tokens}"


def test_token_tpc_pull_push_and_root_runs() -> None:
    """Root TPC with a token is tried (issue 17 item 8): a refusal is the servers' answer, at run time."""
    cases = tpc_cases(_site(), auths=("x509", "token"))
    ids = [c.id for c in cases]
    assert "disk01.example.test-to-disk02-davs-ipv6" in ids, "the X.509 id is unchanged"
    assert "disk01.example.test-to-disk02-davs-ipv6-pull-token" in ids, ids
    assert "disk01.example.test-to-disk02-davs-ipv6-push-token" in ids, ids
    assert "disk01.example.test-to-disk02-root-ipv6-token" in ids, ids
    assert all(not c.unsupported for c in cases), "no combination is skipped before it is tried"


def test_worker_env_holds_one_credential() -> None:
    os.environ["BEARER_TOKEN"] = "leaked-if-kept"
    try:
        s = TransferSettings(proxy="/p/proxy.pem", certdir="/c")
        env = worker_env(6, s, None, "/tmp/log")
        assert env["XrdSecPROTOCOL"] == "gsi", env.get("XrdSecPROTOCOL")
        assert "BEARER_TOKEN" not in env, "an X.509 worker must not see a token"
        assert env["X509_USER_PROXY"] == "/p/proxy.pem", env.get("X509_USER_PROXY")
        t = TransferSettings(proxy="/p/proxy.pem", certdir="/c", auth="token", token_file="/t/bt")
        env = worker_env(4, t, None, "/tmp/log")
        assert env["XrdSecPROTOCOL"] == "ztn", env.get("XrdSecPROTOCOL")
        assert env["BEARER_TOKEN_FILE"] == "/t/bt", env.get("BEARER_TOKEN_FILE")
        assert not os.path.exists(env["X509_USER_PROXY"]), "a token worker must not fall back to the proxy"
        assert env["X509_USER_PROXY"] != "/p/proxy.pem", "a token worker must not present the proxy"
        assert "BEARER_TOKEN" not in env, "the token goes by file only"
        assert env["X509_CERT_DIR"] == "/c", "the CA directory still verifies the servers"
    finally:
        del os.environ["BEARER_TOKEN"]


def test_pasted_commands_name_the_token_file_never_the_token() -> None:
    cmd = gfal_copy_command("file:///tmp/a", "davs://h:443/s/d/a", "davs", 6, 60, None, token_file="/t/bt")
    assert cmd.startswith("export BEARER_TOKEN_FILE=/t/bt XrdSecPROTOCOL=ztn; "), cmd
    assert '-D "BEARER:TOKEN=$(cat "$BEARER_TOKEN_FILE")"' in cmd, cmd
    root = gfal_copy_command("file:///tmp/a", "root://h:1094//s/d/a", "root", 4, 60, None, token_file="/t/bt")
    assert "BEARER:TOKEN" not in root, "root:// reads BEARER_TOKEN_FILE itself (ztn)"
    assert "XRD_NETWORKSTACK=IPv4" in root, root
    assert "BEARER_TOKEN_FILE" in gfal_rm_command("davs://h/s/d/a", "davs", 6, None, "/t/bt")
    x509 = gfal_copy_command("file:///tmp/a", "davs://h:443/s/d/a", "davs", 6, 60, None)
    assert "BEARER" not in x509, x509


def test_pasted_tpc_command_keeps_the_copy_mode() -> None:
    cmd = gfal_copy_command("davs://a/s/d/x", "davs://b/s/d/y", "davs", 6, 60, None, token_file="/t/bt",
                            copy_mode="push")
    assert "'HTTP PLUGIN:DEFAULT_COPY_MODE=3rd push'" in cmd, cmd


class _Config:
    def __init__(self, **opts: object) -> None:
        self.opts = opts

    def getoption(self, name: str, default: object = None) -> object:
        return self.opts.get(name, default)


def _choose(config: _Config, site: Site) -> list[str]:
    """The credentials, with the token discovery the plugin makes once per run."""
    found = tokens.discover(config.getoption("bearer_token_file"))[0] is not None
    return _auths(config, site, found)  # type: ignore[arg-type]


def test_auth_choice_option_inventory_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--transfer-auth, else se_transfer_auth, else every credential present; X.509 first."""
    site = _site()
    assert _choose(_Config(transfer_auth="token,x509"), site) == ["x509", "token"], "X.509 first"
    site.vars["se_transfer_auth"] = ["token"]
    assert _choose(_Config(), site) == ["token"], "the inventory's choice"
    assert _choose(_Config(transfer_auth="x509"), site) == ["x509"], "the option wins"
    with pytest.raises(pytest.UsageError, match="unknown"):
        _choose(_Config(transfer_auth="kerberos"), site)
    del site.vars["se_transfer_auth"]
    monkeypatch.setenv("X509_USER_PROXY", str(tmp_path / "no-proxy"))
    monkeypatch.delenv("BEARER_TOKEN", raising=False)
    monkeypatch.delenv("BEARER_TOKEN_FILE", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    tok = tmp_path / "tok"
    tok.write_text("aaa.bbb.ccc")
    assert _choose(_Config(bearer_token_file=str(tok)), site) == ["token"], "only a token is present"
    (tmp_path / "no-proxy").write_text("x")
    assert _choose(_Config(bearer_token_file=str(tok)), site) == ["x509", "token"], "both present"
    (tmp_path / "no-proxy").unlink()
    if not Path(f"/tmp/bt_u{os.getuid()}").exists():
        assert _choose(_Config(), site) == ["x509"], "nothing present: x509, whose tests say what to do"


def test_each_requested_credential_unusable_here_could_not_run() -> None:
    """Issue 19: a missing token beside a good proxy is the suite machine's problem (exit 4, one
    line), not six SE failures; so is a missing proxy beside a good token."""
    from types import SimpleNamespace

    from se_dualstack.transfer.session import no_credential_line

    note = "no WLCG token (BEARER_TOKEN, BEARER_TOKEN_FILE unset; none at /tmp/bt_u0)"
    missing = SimpleNamespace(could_not_run_line=lambda: "no valid grid proxy (p: no such file): "
                              "transfer checks could not run; run voms-proxy-init")
    sess = SimpleNamespace(proxy=None, token=None, token_note=note)
    assert no_credential_line(["x509", "token"], sess) == (  # type: ignore[arg-type]
        f"no usable WLCG token ({note}): token transfer checks could not run")
    assert no_credential_line(["x509"], sess) is None, "only what was asked for"  # type: ignore[arg-type]
    sess.proxy = missing
    assert no_credential_line(["x509", "token"], sess).count("could not run") == 2  # type: ignore[arg-type, union-attr]
