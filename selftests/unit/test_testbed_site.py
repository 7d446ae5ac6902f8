"""Site-file validation and the files the testbed derives from it (no root needed)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from testbed import dns, faults, firewall, osfiles
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
    assert site["hosts"][0]["role"] == "headnode"
    assert all(h["role"] == "disknode" for h in site["hosts"][1:])


def test_default_site_is_one_head_two_disks_without_faults() -> None:
    site = load_site(None, name="t1")
    assert [(h["short"], h["role"]) for h in site["hosts"]] == [
        ("head", "headnode"), ("disk01", "disknode"), ("disk02", "disknode")]
    assert all(not h["faults"] and h["has_ipv6"] for h in site["hosts"])


def test_addresses_names_and_namespaces_are_derived() -> None:
    site = parse_site(site_with(), name="tb1")
    head, d1 = site["hosts"][0], site["hosts"][1]
    assert (head["ipv4"], head["ipv6"], head["fqdn"]) == ("10.42.0.10", "fd42:6::10", "head.example.test")
    assert (d1["ipv4"], d1["ipv6"]) == ("10.42.0.11", "fd42:6::11")
    assert head["names"] == ["head.example.test", "head-v6.example.test", "head-v4.example.test"]
    assert head["ns"] == "tb1-head"
    assert site["client"]["ns"] == "tb1-client"
    assert site["client"]["ipv4"] == "10.42.0.2"
    assert site["dns"] == {"ipv4": "10.42.0.1", "ipv6": "fd42:6::1"}
    assert all(len(h["ifname"]) <= 15 for h in [*site["hosts"], site["client"]])


def test_disks_override_up_to_32() -> None:
    site = parse_site(site_with(), name="tb1", disks=32)
    disks = [h for h in site["hosts"] if h["role"] == "disknode"]
    assert len(disks) == 32
    assert disks[-1]["short"] == "disk32"
    assert disks[-1]["ipv4"] == "10.42.0.42"
    assert len({h["ipv6"] for h in site["hosts"]}) == 33


def test_seed_sites_reproduce_the_story() -> None:
    before = load_site("seed-before", name="t1")
    after = load_site("seed-after", name="t1")
    head_b = host_by_name(before, "head")
    assert {"gai_conf_empty", "hosts_no_ipv6_localhost", "ip6tables_transfer_only"} <= set(head_b["faults"])
    assert all(h["os"] == "sl6" for h in before["hosts"] + after["hosts"])
    assert not any(h["faults"] for h in after["hosts"])


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
    for name, (_kind, text) in faults.CATALOGUE.items():
        assert text, name
        assert "\n" not in text, name


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
    assert dns.published_aaaa(s, h) not in (h["ipv6"], None)
    assert any(ln.startswith("host-record=head.example.test,10.42.0.10") for ln in good)


def test_osfiles_faults() -> None:
    site, head = _site_with_faults()
    files = osfiles.files(site, head)
    assert "::1" in files["/etc/hosts"]
    assert files["/etc/gai.conf"].count("label") == 9
    assert files["/etc/os-release"] is None
    assert "Scientific Linux" in files["/etc/redhat-release"]
    assert "IPV6INIT=yes" in files["/etc/sysconfig/network-scripts/ifcfg-eth0"]
    site, head = _site_with_faults("hosts_no_ipv6_localhost", "gai_conf_partial", "ifcfg_no_ipv6init")
    files = osfiles.files(site, head)
    assert "::1" not in files["/etc/hosts"]
    assert files["/etc/gai.conf"].count("label") == 4
    assert "IPV6INIT" not in files["/etc/sysconfig/network-scripts/ifcfg-eth0"]
    site, head = _site_with_faults("ifcfg_no_ipv6init", os_="el9")
    key = osfiles.files(site, head)["/etc/NetworkManager/system-connections/eth0.nmconnection"]
    assert "[ipv6]\nmethod=disabled" in key


def test_firewall_faults() -> None:
    site, head = _site_with_faults()
    assert 8446 in firewall.ports(site, head, [], 6)
    assert 8446 in firewall.ports(site, head, [], 4)
    site, head = _site_with_faults("ip6tables_transfer_only")
    assert 8446 not in firewall.ports(site, head, [], 6)
    assert 8446 in firewall.ports(site, head, [], 4)
    site, head = _site_with_faults("ip6tables_close:5010")
    assert 5010 not in firewall.ports(site, head, [], 6)
    site, head = _site_with_faults("ip6tables_saved_differs")
    assert firewall.rules(site, head, [], 6) != firewall.rules(site, head, [], 6, saved=True)
    assert firewall.rules(site, head, [], 4) == firewall.rules(site, head, [], 4, saved=True)


def test_inventory_follows_the_contract() -> None:
    site = load_site(None, name="t1")
    inv = yaml.safe_load(yaml.safe_dump(inventory(site)))["all"]
    assert inv["vars"]["se_resolvers"] == ["fd42:6::1", "10.42.0.1"]
    assert inv["vars"]["se_ipv6_prefixes"] == ["fd42:6::/64"]
    assert inv["vars"]["se_flavour"] == "dpm"
    head = inv["children"]["headnodes"]["hosts"]["head.example.test"]
    assert head["ansible_host"] == "10.42.0.10"
    assert head["se_transfer_dir"] == "/store/head/se6test"
    assert set(inv["children"]["disknodes"]["hosts"]) == {"disk01.example.test", "disk02.example.test"}
