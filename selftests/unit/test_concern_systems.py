"""The storage systems' own settings (SE6-SYS-01..06) on captured real files.

``data/systems/``: files the site in a box writes on its hosts (healthy sites and the fault
sites: dcache.conf, layouts, poolmanager.conf as PoolManager's `save` writes it, eos_env,
xrd.cf.*, xrootd-clustered.cfg, nginx conf.d, StoRM WebDAV's sysconfig and drop-in), `ps`/`ss`
of its hosts, and this machine's own Debian 12 packaged files (xrootd-server's
xrootd-clustered.cfg, nginx's nginx.conf and default site). Small hand-made variants follow
the products' documented syntax (dCache's Book, XRootD's config reference, nginx's listen).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from se_dualstack import detect, sitevars
from se_dualstack.concerns import firewall, fwkind, sysconf, systems
from se_dualstack.concerns.interfaces import parse_ifcfg
from se_dualstack.concerns.services import in_ranges, parse_ss

DATA = Path(__file__).resolve().parent / "data" / "systems"


def read(name: str) -> str:
    return (DATA / name).read_text()


# --------------------------------------------------------------------------- SE6-SYS-01


def test_world_net_with_both_families_passes() -> None:
    v = systems.world_net(read("poolmanager.conf-testbed"))
    assert v.ok, v.observed
    assert "world-net: 0.0.0.0/0.0.0.0, ::/0" in v.observed


def test_world_net_ipv4_only_names_the_group_and_both_commands() -> None:
    v = systems.world_net(read("poolmanager.conf-testbed-world-net-ipv4-only"))
    assert not v.ok
    assert v.observed.startswith("unit group world-net holds 0.0.0.0/0.0.0.0 (every IPv4 client) but no ::/0")
    assert v.fix == "`psu create unit -net ::/0` ; `psu addto ugroup world-net ::/0`"


def test_world_net_unit_created_but_not_added_needs_only_the_addto() -> None:
    text = read("poolmanager.conf-testbed").replace("psu addto ugroup world-net ::/0\n", "")
    v = systems.world_net(text)
    assert not v.ok
    assert v.fix == "`psu addto ugroup world-net ::/0`"


def test_a_private_lan_group_is_not_a_world_group() -> None:
    text = (read("poolmanager.conf-testbed") +
            "psu create unit -net 10.0.0.0/255.0.0.0\npsu create ugroup lan-net\n"
            "psu addto ugroup lan-net 10.0.0.0/255.0.0.0\n"
            "psu create link lan-link any-store lan-net any-protocol\n")
    assert systems.world_net(text).ok, "only a group matching every IPv4 client needs ::/0"


def test_world_net_unused_by_any_link_is_not_judged() -> None:
    text = read("poolmanager.conf-testbed-world-net-ipv4-only").replace(
        "psu create link default-link any-store world-net any-protocol",
        "psu create link default-link any-store any-protocol")
    assert systems.world_net(text).ok


# --------------------------------------------------------------------------- SE6-SYS-02


def test_layout_sections_in_order() -> None:
    sections = sysconf.parse_layout(read("dcache-layout-testbed-door.conf"))
    assert [s.name for s in sections][:3] == ["", "dCacheDomain", "dCacheDomain/pnfsmanager"]
    webdav = next(s for s in sections if s.name == "dCacheDomain/webdav")
    assert webdav.properties == (("webdav.net.port", "2880"), ("webdav.authn.protocol", "https"))
    assert webdav.domain == "dCacheDomain"


def test_dcache_listen_blank_passes() -> None:
    v = systems.dcache_listen(read("dcache.conf-testbed-door"), "/etc/dcache/dcache.conf",
                              read("dcache-layout-testbed-door.conf"), "/etc/dcache/layouts/head.conf")
    assert v.ok
    assert v.observed == "dcache.net.listen blank (every interface)"


def test_dcache_listen_pinned_in_dcache_conf_fails_for_the_pool_domain() -> None:
    v = systems.dcache_listen(read("dcache.conf-testbed-pool-listen-ipv4"), "/etc/dcache/dcache.conf",
                              read("dcache-layout-testbed-pool.conf"), "/etc/dcache/layouts/disk01.conf")
    assert not v.ok
    assert v.observed == ("dcache.net.listen = 10.42.0.14 (/etc/dcache/dcache.conf) for disk01Domain, "
                          "disk01Domain/pool: bound to one IPv4 address, it serves IPv4 only")


@pytest.mark.parametrize(("layout", "ok", "scope"), [
    ("[poolDomain]\ndcache.net.listen = 192.0.2.7\n[poolDomain/pool]\n", False,
     "poolDomain, poolDomain/pool"),
    ("[poolDomain]\n[poolDomain/pool]\ndcache.net.listen = 2001:db8::7\n", False, "poolDomain/pool"),
    ("dcache.net.listen =\n[poolDomain]\n[poolDomain/pool]\n", True, ""),  # the layout blanks dcache.conf's
    ("[poolDomain]\ndcache.net.listen = 0.0.0.0\n", True, ""),
])
def test_dcache_listen_layout_overrides(layout: str, ok: bool, scope: str) -> None:
    conf = read("dcache.conf-testbed-pool-listen-ipv4") if "dcache.net.listen =\n" in layout else \
        read("dcache.conf-testbed-door")
    v = systems.dcache_listen(conf, "/etc/dcache/dcache.conf", layout, "/etc/dcache/layouts/pool.conf")
    assert v.ok is ok, v.observed
    assert ok or f"for {scope}:" in v.observed


# --------------------------------------------------------------------------- SE6-SYS-03


def fst_http(name: str, instances: tuple[str, ...] = ("fst", "fst-http")) -> list[int]:
    text, out = read(name), []
    for inst in instances:
        d = sysconf.xrootd_directives(text, "xrootd", inst, ("disk01.example.test", "disk01"))
        out += [p for p in sysconf.xrdhttp_ports(d, sysconf.xrootd_port(d, 1094)) if p not in out]
    return out


def test_eos_fst_serves_what_it_advertises() -> None:
    env = parse_ifcfg(read("eos_env-testbed-fst"))
    assert env["XRD_ROLES"] == "fst"
    assert env["EOS_FST_HTTP_PORT"] == "9001"
    v = systems.eos_fst_http(env, fst_http("xrd.cf.fst-testbed"), 9001, "/etc/xrd.cf.fst")
    assert v.ok
    assert v.observed == "EOS_FST_HTTP_PORT=9001, XrdHttp on 9001 in /etc/xrd.cf.fst"


def test_eos_fst_http_port_mismatch() -> None:
    served = fst_http("xrd.cf.fst-testbed-http-port-mismatch")
    assert served == [8001]
    v = systems.eos_fst_http({"EOS_FST_HTTP_PORT": "9001"}, served, 9001, "/etc/xrd.cf.fst")
    assert not v.ok
    assert "the MGM redirects HTTP clients to 9001, where /etc/xrd.cf.fst serves no XrdHttp (XrdHttp on " \
           "8001)" in v.observed
    assert "`xrd.protocol XrdHttp:9001`" in v.fix


def test_eos_declared_port_differs_from_the_advertised_one() -> None:
    v = systems.eos_fst_http({"EOS_FST_HTTP_PORT": "9001"}, [9001], 8444, "/etc/xrd.cf.fst")
    assert not v.ok
    assert "declares eos-fst-https on 8444" in v.observed
    assert "se_service_ports {eos-fst-https: 9001}" in v.fix


def test_eos_unset_port_is_the_fsts_default_8001() -> None:
    v = systems.eos_fst_http({}, [8001], None, "/etc/xrd.cf.fst")
    assert v.ok
    assert "unset (the FST advertises 8001)" in v.observed


# --------------------------------------------------------------------------- XRootD config


@pytest.mark.parametrize(("name", "instance", "port", "http"), [
    ("xrootd-clustered.cfg-testbed-data-server", "clustered", 1095, [1095]),
    ("xrootd-clustered.cfg-testbed-redirector", "clustered", 1094, [1094]),
    ("xrootd-clustered.cfg-debian12-packaged", "clustered", 1094, []),
    ("xrd.cf.mgm-testbed", "mgm-http", 8443, [8443]),
    ("xrd.cf.mgm-testbed", "mgm", 1094, []),
])
def test_xrootd_port_and_xrdhttp_per_instance(name: str, instance: str, port: int, http: list[int]) -> None:
    d = sysconf.xrootd_directives(read(name), "xrootd", instance, ("head.example.test", "head"))
    assert sysconf.xrootd_port(d, 1094) == port
    assert sysconf.xrdhttp_ports(d, sysconf.xrootd_port(d, 1094)) == http


def test_xrootd_if_else_hosts_and_set_variables() -> None:
    text = ("set rdr = head.example.org\nall.manager $(rdr):3121\n"
            "if $(rdr)\n  all.role manager\nelse if exec cmsd\n  all.role server\n  xrd.port 9999\n"
            "else\n  all.role server\n  xrd.network keepalive assumev4\nfi\n"
            "xrd.protocol XrdHttp libXrdHttp.so  # no port: it shares xrd.port\n"
            "continue /etc/xrootd/config.d/\n")
    head = sysconf.xrootd_directives(text, "xrootd", "", ("head.example.org", "head"))
    assert ("all.manager", ["head.example.org:3121"]) in head
    assert ("all.role", ["manager"]) in head
    assert not sysconf.network_options(head)
    disk = sysconf.xrootd_directives(text, "xrootd", "", ("disk1.example.org", "disk1"))
    assert sysconf.network_options(disk) == [["keepalive", "assumev4"]]
    assert sysconf.xrdhttp_ports(disk, sysconf.xrootd_port(disk, 1094)) == [1094]
    assert sysconf.continues(disk) == ["/etc/xrootd/config.d/"]
    cms = sysconf.xrootd_directives(text, "cmsd", "", ("disk1.example.org",))
    assert sysconf.xrootd_port(cms, 1094) == 9999
    assert not sysconf.network_options(cms)


def daemons(name: str) -> list[tuple[str, sysconf.XrdDaemon]]:
    procs = detect.parse_ps(read(name))
    return [("running", d) for p in procs if (d := sysconf.parse_xrootd_cmdline(p.args))]


def test_cmdline_of_a_named_instance() -> None:
    d = daemons("ps-eo-comm-args-xrootd-data-server-ipv4-only.txt")
    assert [(x.program, x.instance, x.family, x.config) for _, x in d] == [
        ("cmsd", "clustered", "v4", "/etc/xrootd/xrootd-clustered.cfg"),
        ("xrootd", "clustered", "v4", "/etc/xrootd/xrootd-clustered.cfg")]
    assert sysconf.parse_xrootd_cmdline("/usr/sbin/sshd -D") is None


def test_xrootd_with_minus_i_v4_fails() -> None:
    v = systems.xrootd_families(daemons("ps-eo-comm-args-xrootd-data-server-ipv4-only.txt"),
                                [("/etc/xrootd/xrootd-clustered.cfg", ["keepalive"])])
    assert not v.ok
    assert v.observed.startswith("cmsd -n clustered running with -I v4: it listens and announces IPv4 only")
    assert "remove `-I v4` from the xrootd -n clustered command line (running)" in v.fix


def test_healthy_xrootd_and_eos_pass() -> None:
    for name in ("ps-eo-comm-args-xrootd-data-server.txt", "ps-eo-comm-args-eos-mgm.txt"):
        v = systems.xrootd_families(daemons(name), [("/etc/xrd.cf.mgm", ["keepalive"])])
        assert v.ok, v.observed
    v = systems.xrootd_families(daemons("ps-eo-comm-args-eos-mgm.txt"), [])
    assert v.observed == "cmsd -n mgm, cmsd -n mgm-http, xrootd -n mgm, xrootd -n mgm-http, xrootd -n mq " \
                         "without -I; no xrd.network"


def test_unit_dropin_and_assumev4() -> None:
    dropin = ("[Service]\nExecStart=\n"
              "ExecStart=-/usr/bin/xrootd -k fifo -c /etc/xrootd/xrootd-%i.cfg -n %i -I v4\n")
    lines = sysconf.exec_lines(dropin)
    assert lines == ["/usr/bin/xrootd -k fifo -c /etc/xrootd/xrootd-%i.cfg -n %i -I v4"]
    found = [("started by x.conf", d) for ln in lines if (d := sysconf.parse_xrootd_cmdline(ln))]
    assert not systems.xrootd_families(found, []).ok
    v = systems.xrootd_families([], [("/etc/xrootd/xrootd-clustered.cfg", ["assumev4"])])
    assert not v.ok
    assert "assumev4 takes IPv6 clients older than protocol version 4" in v.observed


def test_minus_i_v6_only_on_a_host_declared_ipv6_only() -> None:
    d = [("running", sysconf.parse_xrootd_cmdline("/usr/bin/xrootd -c /x.cfg -I v6"))]
    assert not systems.xrootd_families(d, []).ok
    assert systems.xrootd_families(d, [], ipv6_only=True).ok


# --------------------------------------------------------------------------- SE6-SYS-05


def nginx(conf_d: str, main: str = "nginx.conf-testbed-storm") -> list[sysconf.NginxListen]:
    files = {"/etc/nginx/nginx.conf": read(main), "/etc/nginx/conf.d/storm-webdav.conf": read(conf_d),
             "/etc/nginx/sites-enabled/default": read("nginx-sites-default-debian12")}
    return sysconf.nginx_listens(files, "/etc/nginx/nginx.conf")


def test_nginx_both_lines_per_port() -> None:
    listens = nginx("nginx-storm-webdav.conf-testbed")
    assert [(x.address, x.port, sorted(x.families), x.context) for x in listens] == [
        ("", 8443, [4], "stream"), ("::", 8443, [6], "stream"), ("", 8085, [4], "stream"),
        ("::", 8085, [6], "stream")]
    v = systems.nginx_families(listens, [2811, 8443, 8085])
    assert v is not None
    assert v.ok, v


def test_nginx_missing_ipv6_line() -> None:
    v = systems.nginx_families(nginx("nginx-storm-webdav.conf-testbed-no-ipv6-listen"), [8443, 8085])
    assert v is not None
    assert not v.ok
    assert v.observed == ("8443 is served over IPv4 only (`listen 8443` in "
                          "/etc/nginx/conf.d/storm-webdav.conf)")
    assert v.fix == "add `listen [::]:8443;` beside it, then `nginx -s reload`"


def test_debian_default_site_through_its_includes() -> None:
    listens = nginx("nginx-storm-webdav.conf-testbed", main="nginx.conf-debian12")
    assert {(x.port, frozenset(x.families)) for x in listens if x.port == 80} == {
        (80, frozenset({4})), (80, frozenset({6}))}, "http { include sites-enabled/* } followed"
    assert systems.nginx_families(listens, [80]).ok
    assert systems.nginx_families(listens, [443]) is None, "nginx serves none of these ports"


@pytest.mark.parametrize(("listen", "families"), [
    ("[::]:8443 ssl ipv6only=off", {4, 6}),
    ("[::]:8443 ssl", {6}),
    ("*:8443 ssl http2", {4}),
    ("0.0.0.0:8443", {4}),
    ("192.0.2.7:8443", {4}),
    ("[2001:db8::7]:8443", {6}),
    ("8443 default_server", {4}),
])
def test_nginx_listen_forms(listen: str, families: set[int]) -> None:
    conf = f"http {{ server {{ listen {listen}; }} }}"
    (one,) = sysconf.parse_nginx(conf, "/etc/nginx/nginx.conf").listens
    assert (one.port, set(one.families)) == (8443, families)


def test_nginx_keeps_the_options_in_the_fix_and_skips_loopback() -> None:
    conf = "http { server { listen [::]:8443 ssl; listen 127.0.0.1:8443; } }"
    v = systems.nginx_families(sysconf.parse_nginx(conf, "/etc/nginx/nginx.conf").listens, [8443])
    assert not v.ok
    assert "`listen 8443 ssl;`" in v.fix
    assert "IPv6 only" in v.observed


# --------------------------------------------------------------------------- SE6-SYS-06


def storm(*names: str) -> list[tuple[str, dict[str, str]]]:
    return [(n, sysconf.parse_systemd_env(read(n)) if n.endswith(".conf") else parse_ifcfg(read(n)))
            for n in names]


def test_storm_default_address_passes() -> None:
    v = systems.storm_address(storm("sysconfig-storm-webdav-testbed", "storm-webdav.service.d-testbed.conf"))
    assert v.ok
    assert v.observed.startswith("STORM_WEBDAV_SERVER_ADDRESS=0.0.0.0 (sysconfig-storm-webdav-testbed)")


def test_storm_ipv4_address_named_in_each_file() -> None:
    v = systems.storm_address(storm("sysconfig-storm-webdav-testbed-ipv4-address",
                                    "storm-webdav.service.d-testbed-ipv4-address.conf"))
    assert not v.ok
    assert v.observed.count("STORM_WEBDAV_SERVER_ADDRESS=10.42.0.12 in ") == 2
    assert v.fix.endswith("then `systemctl restart storm-webdav`")


@pytest.mark.parametrize(("env", "ok"), [
    ({"STORM_WEBDAV_SERVER_ADDRESS": "127.0.0.1"}, True),  # behind nginx on the same host
    ({"STORM_WEBDAV_SERVER_ADDRESS": "::"}, True),
    ({"STORM_WEBDAV_JVM_OPTS": "-Xms1024m -Djava.net.preferIPv4Stack=true"}, False),
    ({}, True),
])
def test_storm_address_variants(env: dict[str, str], ok: bool) -> None:
    assert systems.storm_address([("/etc/sysconfig/storm-webdav", env)]).ok is ok


def test_systemd_environment_lines() -> None:
    env = sysconf.parse_systemd_env('[Service]\nEnvironment="A=1" B=2\nEnvironment=\nEnvironment="C=x y"\n')
    assert env == {"C": "x y"}, "an empty Environment= resets, quotes keep spaces"


# --------------------------------------------------------------------------- ranges (SE6-FW-01/02/03)
# The rows of the firewall checks are the registry's ports and ranges of each host
# (SEHost.transfer_ports); here the dCache site's rule sets on each kind of firewall (door:
# iptables; pools: firewalld and nftables), and a pool whose ip6tables opens the WAN range only.


def dcache_rows(role: str) -> list[tuple[str, int, int]]:
    h = sitevars.build_host("t.yml: host h", "h.example.org", role, {"se_flavour": "dcache"}, None)
    return [(t.label, t.first, t.last) for t in h.transfer_ports]


def rule_set(kind: str, name: str) -> fwkind.HostFirewall:
    if kind.startswith("iptables"):
        return fwkind.HostFirewall(kind, iptables={f: read(f"{'ip6' if f == 6 else 'ip'}tables-S-{name}.txt")
                                                   .splitlines() for f in (4, 6)}, iface="eth0")
    return fwkind.HostFirewall(kind, read(f"nft-j-{kind}-{name}.json"), zone="public", iface="eth0")


@pytest.mark.parametrize(("kind", "name", "role"), [
    ("iptables-nft", "dcache-door", "headnode"),
    ("firewalld", "dcache-pool", "disknode"),
    ("nftables", "dcache-pool", "disknode"),
])
def test_dcache_ranges_open_on_every_kind_of_firewall(kind: str, name: str, role: str) -> None:
    rows = dcache_rows(role)
    assert ("dcache-pool-xrootd", 33115, 33145) in rows or role == "headnode"
    assert ("dcache-gsiftp-data", 20000, 25000) in rows or role == "disknode"
    fwall = rule_set(kind, name)
    for family in (4, 6):
        for label, first, last in rows:
            state, detail = fwall.view(family).status(first, last)
            assert state == "open", (kind, family, label, detail)
    assert firewall.parity(fwall.view(4), fwall.view(6)) == []


def test_xroot_mover_range_closed_over_ipv6_only() -> None:
    fwall = rule_set("iptables-nft", "dcache-pool-xroot-movers-closed-v6")
    v4, v6 = fwall.view(4), fwall.view(6)
    assert v4.status(33115, 33145)[0] == "open"
    assert v6.status(20000, 25000)[0] == "open", "the WAN range (HTTP movers) is open over IPv6"
    state, detail = v6.status(33115, 33145)
    assert state == "closed"
    assert "REJECT" in detail
    assert fwkind.open_command(fwall, firewall.PortSet.of([(33115, 33145)]), 6) == \
        "ip6tables -I INPUT -p tcp -m conntrack --ctstate NEW -m tcp --dport 33115:33145 -j ACCEPT"


def test_mover_sample_leaves_out_a_cmsd_socket_inside_the_lan_range() -> None:
    """The pool's cmsd took an ephemeral port inside 33115-33145 (33137), as the kernel may."""
    socks = parse_ss(read("ss-Htlnp-dcache-pool.txt"))
    ranges = [(20000, 25000), (33115, 33145)]
    assert in_ranges(socks, ranges, ("xrootd",)) == [20000, 33115]
    assert in_ranges(socks, ranges, ()) == [20000, 33115, 33137], "no process given: every holder"
    assert in_ranges(socks, ranges, ("java",)) == [], "a real pool's movers are java"
