"""The storage systems' sites in a box as data: site files, faults, firewall ranges and the config
files each system's hosts carry (no root needed; the servers themselves are proven by
selftests/integration/test_testbed_systems.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import faults, firewall, firewalld, nftconf, services
from testbed.engine import inventory
from testbed.site import SiteError, load_site, parse_site
from testbed.systems import dcache, eos, nginx, storm, xrd

SYSTEMS = ("dcache", "eos", "xrootd", "storm")
PKI = {"certdir": "/ca", "gridmap": "/grid-mapfile"}  # what the config renderers read of the PKI


def _host(site: dict, short: str) -> dict:
    return next(h for h in site["hosts"] if h["short"] == short)


@pytest.mark.parametrize("system", SYSTEMS)
def test_system_site_is_one_head_and_two_disks_named_as_the_system(system: str) -> None:
    site = load_site(system, name="t1")
    roles = [h["role"] for h in site["hosts"]]
    assert (site["system"], roles) == (system, ["headnode", "disknode", "disknode"])
    assert load_site(system, name="t1", disks=5)["hosts"][-1]["short"] == "disk05", "--disks N still works"


@pytest.mark.parametrize("system", SYSTEMS)
def test_inventory_names_the_system_and_no_port_overrides(system: str) -> None:
    inv = inventory(load_site(system, name="t1"))
    assert inv["all"]["vars"]["se_flavour"] == system
    hostvars = {k for g in inv["all"]["children"].values() for hv in g["hosts"].values() for k in hv}
    overrides = {k for k in hostvars if "port" in k or "service" in k}
    assert not overrides, f"per-host port/service overrides: {sorted(overrides)}"


def test_a_fault_of_another_system_is_refused() -> None:
    raw = {"system": "eos", "hosts": [{"short": "head", "role": "headnode", "os": "el7"},
                                      {"short": "disk01", "role": "disknode", "os": "el7",
                                       "faults": ["dcache_xroot_movers_closed_v6"]}]}
    with pytest.raises(SiteError, match="only applies to a dcache site"):
        parse_site(raw, name="t1")


def test_an_unknown_system_is_refused() -> None:
    with pytest.raises(SiteError, match="system 'castor'"):
        parse_site({"system": "castor", "hosts": [{"short": "head", "role": "headnode"}]}, name="t1")


def test_a_system_fault_implies_the_mechanics_it_reuses() -> None:
    site = load_site("dcache-faults", name="t1")
    pool = _host(site, "disk02")
    assert (pool["has_ipv6"], faults.has(pool, "not_dual_stacked")) == (False, True)
    assert faults.params(_host(site, "disk01"), "ip6tables_close") == ["33115-33145"]
    assert faults.expected_failures(pool) == faults.CATALOGUE["dcache_pool_no_ipv6"].catches


def test_every_system_fault_names_its_system_and_a_fault_site() -> None:
    carried = {f for s in SYSTEMS for h in load_site(f"{s}-faults", name="t1")["hosts"] for f in h["faults"]}
    own = {n for n, f in faults.CATALOGUE.items() if f.only_system}
    assert own == carried, f"system faults without a fault site: {own - carried}; unknown: {carried - own}"


def test_dcache_pool_opens_both_ranges_on_every_firewall() -> None:
    site = load_site("dcache", name="t1")
    pool = _host(site, "disk01")
    for fam in (4, 6):
        rules = firewall.rules(site, pool, [], fam)
        opened = ["--dport 20000:25000 -j ACCEPT" in rules, "--dport 33115:33145 -j ACCEPT" in rules]
        assert opened == [True, True], rules
    ports = firewall.service_ports(site, pool, [])
    calls, _ = firewalld.config(pool, ports, [])
    assert {"--add-port=20000-25000/tcp", "--add-port=33115-33145/tcp"} <= {o for c in calls for o in c}
    assert "tcp dport { 20000-25000, 33115-33145 } accept" in nftconf.ruleset(pool, ports)


def test_mover_ports_inside_a_range_are_not_opened_twice() -> None:
    site = load_site("dcache", name="t1")
    pool = _host(site, "disk01")
    assert firewall.service_ports(site, pool, [*dcache.mover_ports(site, pool), 2131]) == [
        22, "20000:25000", "33115:33145", 2131]


def test_xroot_mover_range_closed_over_ipv6_only() -> None:
    site = load_site("dcache-faults", name="t1")
    pool = _host(site, "disk01")
    v6, v4 = firewall.ports(site, pool, [], 6), firewall.ports(site, pool, [], 4)
    assert ["33115:33145" in v6, "20000:25000" in v6, "33115:33145" in v4] == [False, True, True], (v6, v4)


def test_poolmanager_world_net_holds_both_families_unless_the_fault() -> None:
    healthy, bad = (load_site(s, name="t1") for s in ("dcache", "dcache-faults"))
    for site, want in ((healthy, ["0.0.0.0/0.0.0.0", "::/0"]), (bad, ["0.0.0.0/0.0.0.0"])):
        conf = dcache.poolmanager_conf(site, _host(site, "head"))
        got = [ln.split()[-1] for ln in conf.splitlines() if ln.startswith("psu addto ugroup world-net")]
        assert got == want, conf


def test_dcache_conf_sets_the_ranges_and_leaves_listen_blank() -> None:
    conf = dcache.dcache_conf(_host(load_site("dcache", name="t1"), "disk01"))
    keys = dict(ln.split(" = ", 1) for ln in conf.splitlines() if " = " in ln)
    assert keys == {"dcache.layout": "${host.name}", "dcache.net.wan.port.min": "20000",
                    "dcache.net.wan.port.max": "25000", "dcache.net.lan.port.min": "33115",
                    "dcache.net.lan.port.max": "33145"}, conf


def test_dcache_gridftp_door_serves_the_pools_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dCache door reaches every pool: the door's GridFTP allows the pools' /store/<pool>/ and
    binds each pool's directory into its chroot before it starts (the data channel at the door:
    proxy mode, said in the layout)."""
    monkeypatch.setattr(services, "_chroot_files", lambda *a: {})  # reads the CA dir and passwd
    site = load_site("dcache", name="t1")
    head = _host(site, "head")
    srv = "/run/se-testbed/t1/hosts/head/srv"
    spec = dcache.door_gridftp(site, head, {**PKI, "hostcert": {"head": ("/c", "/k")}}, Path(srv))
    conf = spec.files[f"{srv}/gridftp/gridftp.conf"][0]
    assert "restrict_paths /store/head/,/store/disk01/,/store/disk02/" in conf.splitlines(), conf
    script = spec.files[f"{srv}/gridftp/door-binds.sh"][0]
    assert ('s=/run/se-testbed/t1/hosts/disk01/srv/root/store/disk01/; t=' + srv + '/root/store/disk01/; '
            'mkdir -p "$s" "$t"; mountpoint -q "$t" || mount --bind "$s" "$t"') in script.splitlines(), script
    assert spec.argv[:2] == ["/bin/sh", f"{srv}/gridftp/door-binds.sh"], spec.argv
    assert spec.argv[2] == "/usr/sbin/globus-gridftp-server", "exec'd: the process is the server's"
    assert "ftp.proxy.on-passive = true" in dcache.layout(site, head, Path(srv)).splitlines()


def test_unbracketed_redirect_rule_writes_the_ipv6_literal_bare() -> None:
    site = load_site("dcache-faults", name="t1")
    rule = dcache._redirect_rule(site, _host(site, "head"), {"hostcert": {"head": ("/c", "/k")}}, "/srv")
    assert "return 302 https://fd42:6::13:20002$request_uri;" in rule, rule
    assert "return 302 https://10.42.0.13:20002$request_uri;" in rule, rule


def test_storm_nginx_listens_on_both_families_unless_the_fault() -> None:
    site = load_site("storm-faults", name="t1")
    listens = {s: [ln.strip() for ln in storm.nginx_conf(_host(site, s)).splitlines()
                   if ln.strip().startswith("listen")] for s in ("disk01", "disk02")}
    assert listens == {"disk01": ["listen 8443;", "listen 8085;", "listen [::]:8085;"],
                       "disk02": ["listen 8443;", "listen [::]:8443;", "listen 8085;", "listen [::]:8085;"]}


def test_storm_webdav_settings_bind_the_wildcard() -> None:
    text = storm.sysconfig(_host(load_site("storm", name="t1"), "disk01"))
    assert "STORM_WEBDAV_SERVER_ADDRESS=0.0.0.0\n" in text, text
    assert nginx.listen_lines(8443, v6=False) == ["listen 8443;"]


def test_eos_env_names_the_fst_http_port_the_mgm_redirects_to() -> None:
    site = load_site("eos", name="t1")
    assert "EOS_FST_HTTP_PORT=9001\n" in eos.eos_env(site, _host(site, "disk01"))
    fst_http = next(i for i in eos.instances(site, _host(site, "disk01")) if i.http)
    mgm_http = next(i for i in eos.instances(site, _host(site, "head")) if i.http)
    assert (fst_http.port, fst_http.manager) == (9001, mgm_http.manager)


def test_named_instances_split_one_config_file() -> None:
    site = load_site("eos", name="t1")
    fst = _host(site, "disk01")
    text = xrd.config(fst, PKI, "/srv", "/store/disk01/", eos.instances(site, fst), ["x"])
    for name, port in (("fst", 1095), ("fst-http", 9001)):
        block = text.split(f"if exec xrootd && named {name}\n", 1)[1].split("fi\n", 1)[0]
        assert block.startswith(f"xrd.port {port}\n"), block
    assert "ofs.authlib ++ libXrdAccSciTokens.so config=/etc/xrootd/scitokens.cfg" in text
