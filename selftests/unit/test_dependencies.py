"""SE6-DEP-01's reading and probing (se_dualstack.dependencies) on real outputs: the testbed's
running xrootd and its scitokens config, the probe run on testbed hosts with the issuer made
IPv4-only, and dCache/StoRM/IGTF/fetch-crl files written as their documentation shows them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from se_dualstack import dependencies as dep
from se_dualstack import detect, hostfiles
from se_dualstack.concerns import sysconf

DATA = Path(__file__).parent / "data"


def text(name: str) -> str:
    return (DATA / name).read_text()


def test_the_running_xrootd_names_its_scitokens_config() -> None:
    daemons = dep.running_daemons(detect.parse_ps(text("ps-eo-comm-args-ipv6only-disk02.txt")), "xrootd")
    cfgs = [d.config for d in daemons]
    assert cfgs == ["/run/se-testbed/vs2/hosts/disk02/srv/xrd/xrootd.cfg"], "xrootd's -c, not cmsd's"
    directives = sysconf.xrootd_directives(text("xrootd.cfg-testbed-disk02"), "xrootd", daemons[0].instance,
                                           ("disk02.example.test", "disk02"))
    named = dep.scitokens_configs(cfgs[0], directives, "/etc/xrootd/scitokens.cfg")
    assert [c for c, _ in named] == ["/run/se-testbed/vs2/hosts/disk02/srv/xrd/scitokens.cfg"]
    assert "ofs.authlib ... libXrdAccSciTokens" in named[0][1]


def test_without_config_the_library_default_and_continue_files() -> None:
    cfg = "ofs.authlib ++ \\\n  libXrdAccSciTokens.so\ncontinue /etc/xrootd/config.d/\n# continue /nope\n"
    directives = sysconf.xrootd_directives(cfg)
    named = dep.scitokens_configs("/etc/xrootd/x.cfg", directives, "/etc/xrootd/scitokens.cfg")
    assert named[0][0] == "/etc/xrootd/scitokens.cfg", "a continued line, no config=: the default"
    assert sysconf.continue_globs(directives) == ["/etc/xrootd/config.d", "/etc/xrootd/config.d/*"]
    files = {"/etc/xrootd/config.d/b.cfg": "", "/etc/xrootd/config.d/a.cfg": "",
             "/etc/xrootd/config.d/a.cfg.rpmsave": "", "/etc/xrootd/config.d/sub/c.cfg": ""}
    assert sysconf.continued(files, directives) == ["/etc/xrootd/config.d/a.cfg",
                                                    "/etc/xrootd/config.d/b.cfg"], "by name, no backups"


def test_a_scitokens_library_inside_an_if_for_another_program_is_not_loaded() -> None:
    cfg = "if exec cmsd\n  ofs.authlib libXrdAccSciTokens.so config=/x.cfg\nfi\n"
    assert dep.scitokens_configs("/c", sysconf.xrootd_directives(cfg, "xrootd"), "/d") == []
    named = dep.scitokens_configs("/c", sysconf.xrootd_directives(cfg, "cmsd"), "/d")
    assert [c for c, _ in named] == ["/x.cfg"]


def test_issuers_of_a_scitokens_config() -> None:
    found = dep.scitokens_issuers("/x/scitokens.cfg", text("scitokens.cfg-testbed"), "named by y")
    assert [d.url for d in found] == ["https://issuer.example.test"], "[Global] audience is no issuer"
    assert found[0].endpoint == ("issuer.example.test", 443)
    assert found[0].source == "[Issuer issuer] in /x/scitokens.cfg, named by y"


@pytest.mark.parametrize(("flavour", "name", "urls"), [
    ("dcache", "dcache-layout-gplazma-oidc.conf",
     ["https://wlcg.cloud.cnaf.infn.it/", "https://atlas-auth.web.cern.ch/"]),
    ("storm", "storm-webdav-application.yml",
     ["https://iam-dev.cloud.cnaf.infn.it/", "https://wlcg.cloud.cnaf.infn.it/"]),
])
def test_issuers_of_dcache_and_storm_as_the_storage_data_says(flavour, name, urls) -> None:
    (src,) = dep.sources(flavour, "headnode")
    found = dep.pattern_issuers({f"/etc/{name}": text(name)}, src["pattern"], src["what"])
    assert [d.url for d in found] == urls, found


def test_crl_urls_of_a_ca_directory_and_fetch_crl_infodir() -> None:
    files = {"/etc/grid-security/certificates/f6cdcbac.crl_url": "http://crl.example.test/se-testbed-ca.crl\n",
             "/etc/grid-security/certificates/CERN-Root-2.info": text("igtf-alias.info")}
    found = dep.crl_urls(files)
    assert [(d.url, d.endpoint) for d in found] == [
        ("https://crl.cern.ch/crl/CERN%20Root%20Certification%20Authority%202.crl", ("crl.cern.ch", 443)),
        ("http://cafiles.cern.ch/cafiles/crl/CERN%20Root%20Certification%20Authority%202.crl",
         ("cafiles.cern.ch", 80)),
        ("http://crl.example.test/se-testbed-ca.crl", ("crl.example.test", 80))]
    assert found[-1].source == "CRL of CA f6cdcbac (/etc/grid-security/certificates/f6cdcbac.crl_url)"
    assert dep.fetch_crl_infodir({"/etc/fetch-crl.conf": text("fetch-crl.conf-infodir")}) == \
        ("/etc/grid-security/certificates-igtf", "/etc/fetch-crl.conf")


def test_a_url_without_a_host_to_try() -> None:
    assert dep.Dependency("CRL", "file:///x.crl", "s").endpoint is None
    assert dep.Dependency("token issuer", "https://bad_host$/", "s").endpoint is None


def test_probe_of_an_issuer_with_no_aaaa() -> None:
    got = dep.parse_probe(text("dep-probe-issuer-ipv4-only-disk02.txt"))
    issuer, crl, nosuch = (got[("issuer.example.test", 443)], got[("crl.example.test", 80)],
                           got[("nosuch.example.test", 443)])
    assert not issuer.ok
    assert issuer.observed() == "issuer.example.test has no AAAA at the host's resolver (only IPv4 10.42.0.3)"
    assert crl.ok, crl
    assert nosuch.observed() == "nosuch.example.test has no AAAA at the host's resolver (no address at all)"
    rep = dep.DependencyReport("disk02", probes=got)
    issuers = [dep.Dependency("token issuer", "https://issuer.example.test", "in x")]
    assert rep.failures(issuers) == [
        "token issuer https://issuer.example.test (in x): issuer.example.test has no AAAA at the host's "
        "resolver (only IPv4 10.42.0.3)"]
    assert rep.failures([dep.Dependency("CRL", "http://crl.example.test/c.crl", "y")]) == []


def test_probe_of_a_refused_port() -> None:
    got = dep.parse_probe(text("dep-probe-refused-disk01.txt"))
    assert got[("crl.example.test", 444)].observed() == "[fd42:6::3]:444: Connection refused"
    assert got[("crl.example.test", 80)].ok


def test_probe_command_quotes_every_endpoint() -> None:
    cmd, args = dep.probe_command([("a.example", 443), ("a.example", 443), ("b.example", 80)], 3)
    assert cmd.count("%s") == len(args) == 4, "script, timeout and two unique endpoints"
    assert args[1:] == ["3", "a.example 443", "b.example 80"]


def test_one_command_reads_globs_and_odd_names(tmp_path: Path) -> None:
    (tmp_path / "a.crl_url").write_text("http://x/1.crl\n")
    (tmp_path / "b c.crl_url").write_text("http://x/2.crl")
    (tmp_path / "skip.txt").write_text("no")
    (tmp_path / "it's $HOME.conf").write_text("odd")
    script = hostfiles.read_command([f"{tmp_path}/*.crl_url", f"{tmp_path}/missing.conf",
                                     f"{tmp_path}/it's $HOME.conf", "relative/x"])
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10, check=True)
    assert hostfiles.split_files(out.stdout) == {f"{tmp_path}/a.crl_url": "http://x/1.crl\n",
                                                 f"{tmp_path}/b c.crl_url": "http://x/2.crl",
                                                 f"{tmp_path}/it's $HOME.conf": "odd"}
    assert hostfiles.read_command(["relative/only"]) == "", "nothing absolute: no command at all"
