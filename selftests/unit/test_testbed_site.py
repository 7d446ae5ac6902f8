"""Site-file validation and the files the testbed derives from it (no root needed)."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path

import pytest
import yaml

from testbed import dns, dns64, faults, firewall, nat64, netns, osfiles, sshd
from testbed.engine import inventory
from testbed.site import SITES_DIR, SiteError, host_by_name, load_site, parse_site

BASE = {
    "domain": "example.test", "ipv4_prefix": "10.42.0.0/24", "ipv6_prefix": "fd42:6::/64",
    "disks": 2, "hosts": [{"short": "head", "role": "headnode", "os": "sl6"}],
}


def site_with(**changes: object) -> dict:
    raw = copy.deepcopy(BASE)
    raw.update(changes)
    return raw


@pytest.mark.parametrize("path", sorted(SITES_DIR.glob("*.yml")), ids=lambda p: p.stem)
def test_shipped_site_files_are_valid(path: Path) -> None:
    site = load_site(path, name="t1")
    assert site["hosts"][0]["role"] == "headnode", f"first host is not the head node: {site['hosts'][0]}"
    assert all(h["role"] == "disknode" for h in site["hosts"][1:]), (
        f"hosts after the first must all be disk nodes: {[h['role'] for h in site['hosts'][1:]]}")


def test_default_site_is_one_head_two_disks_without_faults() -> None:
    site = load_site(None, name="t1")
    assert [(h["short"], h["role"]) for h in site["hosts"]] == [
        ("head", "headnode"), ("disk01", "disknode"), ("disk02", "disknode")], (
        f"default hosts: {[(h['short'], h['role']) for h in site['hosts']]}")
    assert all(not h["faults"] and h["has_ipv6"] for h in site["hosts"]), (
        f"default hosts must be fault-free with IPv6: "
        f"{[(h['short'], h['faults'], h['has_ipv6']) for h in site['hosts']]}")


def test_addresses_names_and_namespaces_are_derived() -> None:
    site = parse_site(site_with(), name="tb1")
    head, d1 = site["hosts"][0], site["hosts"][1]
    assert (head["ipv4"], head["ipv6"], head["fqdn"]) == ("10.42.0.10", "fd42:6::10", "head.example.test"), (
        f"head addresses/fqdn: {(head['ipv4'], head['ipv6'], head['fqdn'])}")
    assert (d1["ipv4"], d1["ipv6"]) == ("10.42.0.11", "fd42:6::11"), (
        f"disk01 addresses: {(d1['ipv4'], d1['ipv6'])}")
    assert head["names"] == ["head.example.test", "head-v6.example.test", "head-v4.example.test"], (
        f"head names: {head['names']}")
    assert head["ns"] == "tb1-head", f"head namespace: {head['ns']!r}"
    assert site["client"]["ns"] == "tb1-client", f"client namespace: {site['client']['ns']!r}"
    assert site["client"]["ipv4"] == "10.42.0.2", f"client IPv4: {site['client']['ipv4']!r}"
    assert site["dns"] == {"ipv4": "10.42.0.1", "ipv6": "fd42:6::1"}, f"DNS addresses: {site['dns']}"
    assert all(len(h["ifname"]) <= 15 for h in [*site["hosts"], site["client"]]), (
        f"interface names over 15 chars: "
        f"{[h['ifname'] for h in [*site['hosts'], site['client']] if len(h['ifname']) > 15]}")


def test_disks_override_up_to_32() -> None:
    site = parse_site(site_with(), name="tb1", disks=32)
    disks = [h for h in site["hosts"] if h["role"] == "disknode"]
    assert len(disks) == 32, f"expected 32 disk nodes, got {len(disks)}"
    assert disks[-1]["short"] == "disk32", f"last disk short name: {disks[-1]['short']!r}"
    assert disks[-1]["ipv4"] == "10.42.0.42", f"last disk IPv4: {disks[-1]['ipv4']!r}"
    assert len({h["ipv6"] for h in site["hosts"]}) == 33, (
        f"expected 33 distinct IPv6 addresses, got {len({h['ipv6'] for h in site['hosts']})}")


def test_seed_sites_reproduce_the_story() -> None:
    before = load_site("seed-before", name="t1")
    after = load_site("seed-after", name="t1")
    head_b = host_by_name(before, "head")
    assert {"gai_conf_empty", "hosts_no_ipv6_localhost", "ip6tables_transfer_only"} <= set(
        head_b["faults"]), f"seed-before head lacks the story's faults: {head_b['faults']}"
    assert all(h["os"] == "sl6" for h in before["hosts"] + after["hosts"]), (
        f"seed hosts not all sl6: {[(h['short'], h['os']) for h in before['hosts'] + after['hosts']]}")
    assert not any(h["faults"] for h in after["hosts"]), (
        f"seed-after hosts still have faults: "
        f"{[(h['short'], h['faults']) for h in after['hosts'] if h['faults']]}")


@pytest.mark.parametrize(("raw", "needle"), [
    (site_with(bogus=1), "unknown key"),
    (site_with(domain="nodots"), "domain"),
    (site_with(ipv4_prefix="8.8.8.0/24"), "private"),
    (site_with(ipv4_prefix="10.0.0.0/28"), "too small"),
    (site_with(ipv6_prefix="2001:db8::/64"), "ULA"),
    (site_with(ipv6_prefix="fd42::/120"), "/64"),
    (site_with(gridftp_data_range="25000-20000"), "gridftp_data_range"),
    (site_with(disks=0), "disks"),
    (site_with(disks=33), "disks"),
    (site_with(hosts=[]), "headnode"),
    (site_with(hosts=[{"short": "h", "role": "headnode"}, {"short": "g", "role": "headnode"}]),
     "exactly one"),
    (site_with(hosts=[{"short": "head", "role": "boss"}]), "role"),
    (site_with(hosts=[{"short": "Head!", "role": "headnode"}]), "short name"),
    (site_with(hosts=[{"short": "client", "role": "headnode"}]), "short name"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "os": "el5"}]), "os"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "color": "red"}]), "unknown key"),
    (site_with(hosts=[{"short": "head", "role": "headnode"}, {"short": "head", "role": "disknode"}]),
     "duplicate"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "faults": ["no_such"]}]), "unknown fault"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "faults": ["ip6tables_close"]}]), "parameter"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "faults": ["ip6tables_close:https"]}]), "port"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "faults": ["no_aaaa:1"]}]), "no parameter"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "os": "el7", "faults": ["gai_conf_empty"]}]),
     "sl6"),
    (site_with(hosts=[{"short": "head", "role": "headnode"},
                      {"short": "d1", "role": "disknode", "faults": ["ip6tables_transfer_only"]}]),
     "head node"),
    ("just a string", "mapping"),
])
def test_invalid_site_files_are_refused_with_a_reason(raw: object, needle: str) -> None:
    with pytest.raises(SiteError, match=needle):
        parse_site(raw, name="tb1", source="x.yml")


def test_bad_testbed_name_is_refused() -> None:
    with pytest.raises(SiteError, match="testbed name"):
        parse_site(site_with(), name="bad-name")


def test_unreadable_site_file(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="cannot read"):
        load_site(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("hosts: [\n")
    with pytest.raises(SiteError, match="not valid YAML"):
        load_site(bad)


def test_every_fault_has_a_one_line_description() -> None:
    for name, entry in faults.CATALOGUE.items():
        assert entry.story, name
        assert "\n" not in entry.story, name
        assert entry.catches or entry.catches_dependents, f"{name}: no check catches it"


def _site_with_faults(*fl: str, os_: str = "sl6") -> tuple[dict, dict]:
    site = parse_site(site_with(hosts=[{"short": "head", "role": "headnode", "os": os_, "faults": list(fl)}]),
                      name="tb1")
    return site, site["hosts"][0]


def test_dns_faults_change_exactly_one_record() -> None:
    site, _ = _site_with_faults()
    good = dns.config(site, Path("/p"), Path("/l")).splitlines()
    for fault, gone in (("no_aaaa", "dns-rr=head.example.test,28"), ("no_ipv6_ptr", "ptr-record=")):
        s, _ = _site_with_faults(fault)
        conf = dns.config(s, Path("/p"), Path("/l"))
        assert not any(ln.startswith(gone) and "head" in ln for ln in conf.splitlines()), fault
    s, h = _site_with_faults("aaaa_mismatch")
    assert dns.published_aaaa(s, h) not in (h["ipv6"], None), (
        f"aaaa_mismatch should publish a wrong AAAA, got {dns.published_aaaa(s, h)!r} (real {h['ipv6']!r})")
    assert any(ln.startswith("host-record=head.example.test,10.42.0.10") for ln in good), (
        f"no head host-record in fault-free DNS config: {[ln for ln in good if 'head' in ln]}")


def test_osfiles_faults() -> None:
    site, head = _site_with_faults()
    files = osfiles.files(site, head)
    assert "::1" in files["/etc/hosts"], f"no ::1 in fault-free /etc/hosts: {files['/etc/hosts']!r}"
    assert files["/etc/gai.conf"].count("label") == 9, (
        f"fault-free gai.conf label lines: {files['/etc/gai.conf'].count('label')}, expected 9")
    assert files["/etc/os-release"] is None, (
        f"sl6 should have no /etc/os-release: {files['/etc/os-release']!r}")
    assert "Scientific Linux" in files["/etc/redhat-release"], (
        f"redhat-release: {files['/etc/redhat-release']!r}")
    assert "IPV6INIT=yes" in files["/etc/sysconfig/network-scripts/ifcfg-eth0"], (
        f"no IPV6INIT=yes in ifcfg-eth0: {files['/etc/sysconfig/network-scripts/ifcfg-eth0']!r}")
    site, head = _site_with_faults("hosts_no_ipv6_localhost", "gai_conf_partial", "ifcfg_no_ipv6init")
    files = osfiles.files(site, head)
    assert "::1" not in files["/etc/hosts"], f"hosts_no_ipv6_localhost left ::1: {files['/etc/hosts']!r}"
    assert files["/etc/gai.conf"].count("label") == 4, (
        f"gai_conf_partial label lines: {files['/etc/gai.conf'].count('label')}, expected 4")
    assert "IPV6INIT" not in files["/etc/sysconfig/network-scripts/ifcfg-eth0"], (
        f"ifcfg_no_ipv6init left IPV6INIT: {files['/etc/sysconfig/network-scripts/ifcfg-eth0']!r}")
    site, head = _site_with_faults("ifcfg_no_ipv6init", os_="el9")
    key = osfiles.files(site, head)["/etc/NetworkManager/system-connections/eth0.nmconnection"]
    assert "[ipv6]\nmethod=disabled" in key, f"el9 keyfile does not disable IPv6: {key!r}"


def test_firewall_faults() -> None:
    site, head = _site_with_faults()
    assert 8446 in firewall.ports(site, head, [], 6), (
        f"fault-free v6 ports lack 8446: {firewall.ports(site, head, [], 6)}")
    assert 8446 in firewall.ports(site, head, [], 4), (
        f"fault-free v4 ports lack 8446: {firewall.ports(site, head, [], 4)}")
    site, head = _site_with_faults("ip6tables_transfer_only")
    assert 8446 not in firewall.ports(site, head, [], 6), (
        f"ip6tables_transfer_only still opens 8446 on v6: {firewall.ports(site, head, [], 6)}")
    assert 8446 in firewall.ports(site, head, [], 4), (
        f"ip6tables_transfer_only closed 8446 on v4: {firewall.ports(site, head, [], 4)}")
    site, head = _site_with_faults("ip6tables_close:5010")
    assert 5010 not in firewall.ports(site, head, [], 6), (
        f"ip6tables_close:5010 still opens 5010 on v6: {firewall.ports(site, head, [], 6)}")
    site, head = _site_with_faults("ip6tables_saved_differs")
    assert firewall.rules(site, head, [], 6) != firewall.rules(site, head, [], 6, saved=True), (
        f"ip6tables_saved_differs: saved v6 rules equal live ones: {firewall.rules(site, head, [], 6)!r}")
    assert firewall.rules(site, head, [], 4) == firewall.rules(site, head, [], 4, saved=True), (
        f"v4 saved rules differ from live: {firewall.rules(site, head, [], 4)!r} "
        f"vs {firewall.rules(site, head, [], 4, saved=True)!r}")


def test_inventory_follows_the_contract() -> None:
    site = load_site(None, name="t1")
    inv = yaml.safe_load(yaml.safe_dump(inventory(site)))["all"]
    assert inv["vars"]["se_resolvers"] == ["fd42:6::1", "10.42.0.1"], (
        f"se_resolvers: {inv['vars']['se_resolvers']}")
    assert inv["vars"]["se_ipv6_prefixes"] == ["fd42:6::/64"], (
        f"se_ipv6_prefixes: {inv['vars']['se_ipv6_prefixes']}")
    assert inv["vars"]["se_flavour"] == "dpm", f"se_flavour: {inv['vars']['se_flavour']!r}"
    head = inv["children"]["headnodes"]["hosts"]["head.example.test"]
    assert head["ansible_host"] == "10.42.0.10", f"head ansible_host: {head['ansible_host']!r}"
    assert head["se_transfer_dir"] == "/store/head/se6test", (
        f"head se_transfer_dir: {head['se_transfer_dir']!r}")
    assert set(inv["children"]["disknodes"]["hosts"]) == {"disk01.example.test", "disk02.example.test"}, (
        f"disknodes in inventory: {sorted(inv['children']['disknodes']['hosts'])}")


def test_stale_aaaa_adds_a_second_aaaa_and_its_ptr() -> None:
    s, h = _site_with_faults("stale_aaaa")
    stale = dns.stale_v6(s, h)
    conf = dns.config(s, Path("/p"), Path("/l")).splitlines()
    aaaa = [ln for ln in conf if ln.startswith("dns-rr=head.example.test,28,")]
    assert len(aaaa) == 2, f"stale_aaaa: expected the real and the stale AAAA, got {aaaa}"
    assert stale != h["ipv6"], f"the stale address {stale} is the host's own"
    assert any(ln.startswith("ptr-record=") and ln.endswith(",head.example.test")
               and ln.split("=")[1].startswith(ipaddress.IPv6Address(stale).reverse_pointer)
               for ln in conf), f"no PTR for the stale address {stale}: {conf}"


def test_temporary_source_address_is_not_the_dns_one() -> None:
    s, h = _site_with_faults("temporary_source")
    src = netns.second_source(s, h)
    assert src != h["ipv6"], f"temporary_source speaks from the DNS address {src}"
    assert ipaddress.IPv6Address(src) in ipaddress.IPv6Network(s["ipv6_prefix"]), src


def test_alias_one_dead_publishes_the_alias_and_rejects_its_port_on_one_node() -> None:
    site = parse_site(site_with(hosts=[
        {"short": "head", "role": "headnode", "os": "el7", "faults": []},
        {"short": "disk01", "role": "disknode", "os": "el7", "faults": []},
        {"short": "disk02", "role": "disknode", "os": "el7", "faults": ["alias_one_dead"]}]), name="tb1")
    alias = faults.endpoint_alias(site)
    assert alias == "disks.example.test", alias
    conf = dns.config(site, Path("/p"), Path("/l")).splitlines()
    rrs = [ln for ln in conf if ln.startswith(f"dns-rr={alias},")]
    assert len(rrs) == 4, f"A and AAAA of both disk nodes behind {alias}: {rrs}"
    disks = inventory(site)["all"]["children"]["disknodes"]
    assert disks["vars"]["se_endpoints"][0]["name"] == alias, disks.get("vars")
    d1, d2 = site["hosts"][1], site["hosts"][2]
    assert faults.ALIAS_PORT not in firewall.ports(site, d2, [], 6), "the alias's port is open over IPv6"
    assert faults.ALIAS_PORT in firewall.ports(site, d2, [], 4), "IPv4 stays open"
    assert faults.ALIAS_PORT in firewall.ports(site, d1, [], 6), "the other node is healthy"
    healthy = parse_site(site_with(), name="tb1")
    assert faults.endpoint_alias(healthy) is None, "no alias without the fault"
    assert "vars" not in inventory(healthy)["all"]["children"]["disknodes"], "no se_endpoints then"


# --- IPv6-only hosts and client, DNS64/NAT64 (issue 18) ---------------------------------------

def test_ipv6only_site_declares_an_ipv6_only_client_and_disk_node() -> None:
    site = load_site("ipv6only", name="t1")
    client, disk02 = site["client"], host_by_name(site, "disk02")
    assert (client["families"], client["ipv4"]) == (["ipv6"], None), (client["families"], client["ipv4"])
    assert (disk02["families"], disk02["ipv4"], disk02["has_ipv6"]) == (["ipv6"], None, True), disk02
    assert "disk02-v4.example.test" not in disk02["names"], disk02["names"]
    dual = [h["short"] for h in site["hosts"] if h["families"] == ["ipv6", "ipv4"] and h["ipv4"]]
    assert dual == ["head", "disk01"], dual
    issuer = site["issuer"]
    assert (issuer["ipv4"], issuer["has_ipv6"]) == ("10.42.0.3", True), "the issuer is dual-stack by default"
    assert site["dns64"] == {"address": "fd42:6::64", "prefix": "64:ff9b::/96", "forwards_to": "fd42:6::1"}, (
        site["dns64"])
    # tayga 0.9.2 will not translate the well-known prefix to private IPv4: a NETMAP in front
    nat = site["nat64"]
    assert (nat["netmap"], nat["translator_prefix"]) == (True, "fd42:6:0:64::/96"), nat


def test_a_network_specific_prefix_needs_no_netmap() -> None:
    site = parse_site(site_with(client={"families": ["ipv6"]}, nat64={"prefix": "fd42:6:0:64::/96"}),
                      name="tb1")
    assert site["nat64"]["prefix"] == site["nat64"]["translator_prefix"] == "fd42:6:0:64::/96", site["nat64"]
    assert not site["nat64"]["netmap"], site["nat64"]
    assert site["dns64"]["prefix"] == "fd42:6:0:64::/96", site["dns64"]


def test_ipv6_only_host_files_have_no_ipv4() -> None:
    six = ["ipv6"]
    site = parse_site(site_with(hosts=[{"short": "head", "role": "headnode", "os": "el7"},
                                       {"short": "d6", "role": "disknode", "os": "el7", "families": six},
                                       {"short": "d9", "role": "disknode", "os": "el9", "families": six}]),
                      name="tb1")
    d6, d9 = host_by_name(site, "d6"), host_by_name(site, "d9")
    conf = dns.config(site, Path("/p"), Path("/l")).splitlines()
    assert not any(ln.startswith(("host-record=d6.", "dns-rr=d6-v4.")) for ln in conf), (
        [ln for ln in conf if "d6" in ln])
    assert 'txt-record=d6.example.test,"IPv6-only host"' in conf, "the name must exist (A answers NODATA)"
    assert any(ln.startswith("dns-rr=d6.example.test,28,") for ln in conf), "d6 keeps its AAAA"
    ifcfg = osfiles.files(site, d6)["/etc/sysconfig/network-scripts/ifcfg-eth0"]
    assert "IPADDR" not in ifcfg, ifcfg
    assert "GATEWAY=" not in ifcfg, ifcfg
    assert "IPV6ADDR=fd42:6::" in ifcfg, ifcfg
    key = osfiles.files(site, d9)["/etc/NetworkManager/system-connections/eth0.nmconnection"]
    assert "[ipv4]\nmethod=disabled" in key, key
    assert "[ipv6]\nmethod=manual" in key, key
    resolv = osfiles.files(site, d6)["/etc/resolv.conf"]
    servers = [ln for ln in resolv.splitlines() if ln.startswith("nameserver")]
    assert servers == ["nameserver fd42:6::1"], resolv
    cfg = sshd.sshd_config(d6, "/ak")
    listen = [ln for ln in cfg.splitlines() if ln.startswith("ListenAddress")]
    assert listen == [f"ListenAddress {d6['ipv6']}"], cfg
    assert "None" not in sshd.known_hosts_line(d6, "ssh-ed25519 AAAA x"), sshd.known_hosts_line(d6, "k k")


def test_inventory_of_the_ipv6only_site() -> None:
    site = load_site("ipv6only", name="t1")
    inv = yaml.safe_load(yaml.safe_dump(inventory(site)))["all"]
    assert inv["vars"]["se_resolvers"] == ["fd42:6::64"], "the suite asks what the client asks: the DNS64"
    hosts = {**inv["children"]["headnodes"]["hosts"], **inv["children"]["disknodes"]["hosts"]}
    assert {n: h["ansible_host"] for n, h in hosts.items()} == {
        "head.example.test": "fd42:6::10", "disk01.example.test": "fd42:6::11",
        "disk02.example.test": "fd42:6::12"}, "an IPv6-only client manages every host over IPv6"
    assert {n: h.get("se_families") for n, h in hosts.items()} == {
        "head.example.test": None, "disk01.example.test": None, "disk02.example.test": ["ipv6"]}, hosts
    assert "se_ipv4_alias" not in hosts["disk02.example.test"], hosts["disk02.example.test"]
    assert hosts["disk01.example.test"]["se_ipv4_alias"] == "disk01-v4.example.test", hosts
    ssh = sshd.ssh_config(Path("/sd"), site)
    assert "HostName 10.42." not in ssh, ssh
    assert "Host disk02\n    HostName fd42:6::12" in ssh, ssh


def test_dns64_names_and_configs() -> None:
    site = load_site("ipv6only", name="t1")
    conf = dns.config(site, Path("/p"), Path("/l")).splitlines()
    assert "local=/ipv4only.arpa/" in conf, conf[-4:]
    assert "dns-rr=ipv4only.arpa,1,c00000aa" in conf, conf[-4:]
    assert "dns-rr=crl.example.test,28,fd420006000000000000000000000003" in conf, "crl.<domain>: issuer host"
    ub = dns64.config(site, Path("/w"), Path("/l"))
    for line in ("interface: fd42:6::64", "dns64-prefix: 64:ff9b::/96", "forward-addr: fd42:6::1",
                 'local-zone: "example.test." transparent', 'module-config: "dns64 iterator"'):
        assert line in ub, f"{line!r} missing from the DNS64 config:\n{ub}"
    tg = nat64.config(site, Path("/w"))
    assert "prefix fd42:6:0:64::/96" in tg, tg
    assert "dynamic-pool 192.168.255.0/24" in tg, tg
    default = parse_site(site_with(), name="tb1")
    plain = dns.config(default, Path("/p"), Path("/l"))
    assert "ipv4only.arpa" not in plain, "ipv4only.arpa only on a DNS64 site"
    assert (default["nat64"], default["dns64"]) == (None, None), "no DNS64/NAT64 without `nat64:`"


def test_ipv6only_faults_site_expectations() -> None:
    site = load_site("ipv6only-faults", name="t1")
    got = {h["short"]: sorted(faults.expected_failures(h, site)) for h in site["hosts"]}
    assert got == {"head": ["SE6-DEP-01"], "disk01": ["SE6-DEP-01", "SE6-DNS-02"],
                   "disk02": ["SE6-DEP-01"], "disk03": ["SE6-DEP-01", "SE6-FAM-01"]}, got
    disk03 = host_by_name(site, "disk03")
    assert (disk03["ipv4"], disk03["families"]) == ("10.42.0.13", ["ipv6"]), "IPv4 left on an IPv6-only host"
    assert dns.published_aaaa(site, site["issuer"]) is None, "issuer_ipv4_only: no AAAA for issuer.<domain>"
    # without the site, the catalogue's own view: no_aaaa also trips SVC-04 where no DNS64 synthesizes
    assert faults.expected_failures(host_by_name(site, "disk01")) == {"SE6-DNS-02", "SE6-SVC-04"}


@pytest.mark.parametrize(("raw", "needle"), [
    (site_with(hosts=[{"short": "head", "role": "headnode", "families": ["ipv4"]}]), "not_dual_stacked"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "families": ["ipv7"]}]), "families"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "families": []}]), "families"),
    (site_with(disk_defaults={"families": "ipv6"}), "families"),
    (site_with(client={"families": ["ipv6"], "os": "el9"}), "client"),
    (site_with(nat64={}), "IPv6-only clients"),
    (site_with(client={"families": ["ipv6"]}, nat64={"prefix": "64:ff9b::/64"}), "/96"),
    (site_with(client={"families": ["ipv6"]}, nat64={"prefix": "2001:db8::/96"}), "ULA"),
    (site_with(client={"families": ["ipv6"]}, nat64={"prefix": "fd42:6::/96"}), "overlaps"),
    (site_with(client={"families": ["ipv6"]}, nat64={"pool4": "10.42.0.128/25"}), "pool4"),
    (site_with(client={"families": ["ipv6"]}, nat64={"ttl": 3}), "nat64"),
    (site_with(issuer={"faults": ["no_aaaa"]}), "issuer faults"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "faults": ["issuer_ipv4_only"]}]),
     "token issuer"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "faults": ["ipv4_not_removed"]}]), "families"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "os": "el7", "families": ["ipv6"],
                       "faults": ["not_dual_stacked"]}]), "families"),
    (site_with(hosts=[{"short": "head", "role": "headnode", "families": ["ipv6"],
                       "faults": ["service_ipv4_only:gsiftp"]}]), "families"),
    (site_with(hosts=[{"short": "crl", "role": "headnode"}]), "short name"),
])
def test_invalid_families_and_nat64_are_refused(raw: object, needle: str) -> None:
    with pytest.raises(SiteError, match=needle):
        parse_site(raw, name="tb1", source="x.yml")


@pytest.mark.parametrize("os_", ["sl6", "el7", "el9"])
def test_gai_prefers_ipv4_sorts_ipv4_first_on_every_os(os_: str) -> None:
    """The fault's gai.conf (issue 17 item 9) makes glibc list a dual-stack peer's IPv4 first."""
    from se_dualstack.concerns.resolver import prefers_ipv4

    def disk(*fl: str) -> dict:
        hosts = [{"short": "head", "role": "headnode", "os": os_, "faults": []},
                 {"short": "disk01", "role": "disknode", "os": os_, "faults": list(fl)}]
        return parse_site(site_with(hosts=hosts), name="tb1")["hosts"][1]

    healthy, faulty = disk(), disk("gai_prefers_ipv4")
    assert not prefers_ipv4(osfiles.gai_conf(healthy), "fd42:6::11", "10.42.0.11")
    assert prefers_ipv4(osfiles.gai_conf(faulty), "fd42:6::11", "10.42.0.11")
    if os_ == "sl6":
        assert osfiles.gai_conf(faulty).startswith(osfiles.gai_conf(healthy)), "the label table stays"
