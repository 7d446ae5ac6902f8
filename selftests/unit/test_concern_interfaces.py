"""netconfig.py on ifcfg files (the seed story's SL6 DHCPv6 file, EL7 quoted static, files the
testbed writes), NetworkManager keyfiles and ``nmcli -t`` output, and real ``ip -j`` output."""

from __future__ import annotations

from pathlib import Path

import pytest

from se_dualstack.concerns import interfaces as nc

DATA = Path(__file__).parent / "data"


def text(name: str) -> str:
    return (DATA / name).read_text()


@pytest.mark.parametrize("name", ["ifcfg-eth0-sl6-dhcpv6", "ifcfg-eth0-el7-quoted-static",
                                  "ifcfg-eth0-testbed-static"])
def test_ifcfg_enables_ipv6(name):
    v = nc.ifcfg_ipv6(nc.parse_ifcfg(text(name)))
    assert v.enabled, v
    assert not v.missing, v


def test_quotes_and_trailing_comment():
    vals = nc.parse_ifcfg(text("ifcfg-eth0-el7-quoted-static"))
    assert vals['IPV6INIT'] == 'yes', vals
    assert vals['IPV6ADDR'] == '2001:db8:42::30/64', vals


@pytest.mark.parametrize(("name", "missing"), [
    ("ifcfg-eth0-testbed-ipv4-only", ("IPV6INIT=yes", "DHCPV6C=yes")),
    ("ifcfg-eth0-ipv6-commented-out", ("IPV6INIT=yes", "DHCPV6C=yes")),
    ("ifcfg-eth0-ipv6init-only", ("DHCPV6C=yes",)),
])
def test_ifcfg_missing_lines(name, missing):
    v = nc.ifcfg_ipv6(nc.parse_ifcfg(text(name)))
    assert not v.enabled, v
    assert v.missing == missing, v


def test_keyfiles():
    disabled = nc.parse_keyfile(text("nm-eth0-ipv6-disabled.nmconnection"), "/etc/x/eth0.nmconnection")
    auto = nc.parse_keyfile(text("nm-eth0-auto.nmconnection"))
    nosec = nc.parse_keyfile(text("nm-eth0-no-ipv6-section.nmconnection"))
    other = nc.parse_keyfile(text("nm-eth1-ignore.nmconnection"))
    assert (disabled.interface, disabled.ipv6_method) == ("eth0", "disabled"), disabled
    assert (auto.name, auto.ipv6_method) == ("System eth0", "auto"), auto
    assert nosec.ipv6_method == "auto", "no [ipv6] group is normalised to auto"
    v = nc.nm_ipv6([disabled, other], "eth0")
    assert not v.enabled, v
    assert 'ipv6.method=disabled' in v.observed, v
    assert v.missing == ("nmcli connection modify 'eth0' ipv6.method auto",), v.missing
    assert nc.nm_ipv6([auto, other], "eth0").enabled, "eth1 ignore does not matter for eth0"
    v = nc.nm_ipv6([other], "eth0")
    assert not v.enabled, v
    assert 'no NetworkManager profile' in v.observed, v


def test_nmcli_terse():
    assert nc.parse_nmcli_field(text("nmcli-t-ipv6-method-auto.txt")) == "auto", "terse key:value"
    assert nc.parse_nmcli_field(text("nmcli-t-ipv6-method-disabled.txt")) == "disabled", "disabled"
    assert nc.parse_nmcli_field("") is None, "no output"


def test_live_addresses_from_ip_json():
    live = nc.parse_ip_addr_json(text("ip-j-addr-eth0-dualstack.json"))
    assert live.global_addresses == ("fd42:0:0:1::10",), live
    assert not nc.parse_ip_addr_json(text("ip-j-addr-eth0-linklocal-only.json")).has_global, "fe80 only"
    off = nc.parse_ip_addr_json(text("ip-j-addr-eth0-disable-ipv6.json"))
    assert off.all_ipv6 == (), "disable_ipv6=1 removes every IPv6 address"


def test_is_global():
    assert nc.is_global_ipv6('fd42:6::10'), 'ULA/global'
    assert nc.is_global_ipv6('2001:db8::1'), 'ULA/global'
    assert not nc.is_global_ipv6('fe80::1'), 'link-local/loopback'
    assert not nc.is_global_ipv6('::1'), 'link-local/loopback'


def test_default_routes_text_and_json():
    assert nc.parse_default_routes(text("ip-6-route-default.txt")) == \
        ["default via fd42:0:0:1::1 dev eth0 metric 1024 pref medium"], "text"
    assert nc.parse_default_routes(text("ip-j-6-route-default.json")) == \
        ["default via fd42:0:0:1::1 dev eth0"], "json"
    assert nc.parse_default_routes(text("ip-j-6-route-default-none.json")) == [], "none"
    assert nc.parse_default_routes("") == [], "empty"


def test_saved_vs_live():
    assert nc.saved_vs_live(True, True)[0], "both"
    ok, why = nc.saved_vs_live(True, False)
    assert not ok, why
    assert 'not applied' in why, why
    assert 'restart the interface' in why, why
    ok, why = nc.saved_vs_live(False, True)
    assert not ok, why
    assert 'lost at the next reboot' in why, why


# --------------------------------------------------------------------------- SE6-IF-07 source address

@pytest.mark.parametrize(("name", "src"), [
    ("ip-6-route-get-dns-address.txt", "fd42:6::10"),
    ("ip-6-route-get-route-src.txt", "fd42:6::5ce"),
    ("ip-6-route-get-temporary.txt", "fd42:6::477d:ea27:b6f1:cdd4"),
    ("ip-6-route-get-unreachable.txt", None),
])
def test_route_get_source(name, src):
    got = nc.parse_route_get_src(text(name))
    assert got == src, f"{name}: expected source {src}, parsed {got}"


def test_addr_flags_find_the_temporary_address():
    flags = nc.parse_addr_flags(text("ip-6-addr-eth0-temporary.txt"))
    assert nc.temporary_addresses(flags) == ["fd42:6::477d:ea27:b6f1:cdd4"], flags
    assert "mngtmpaddr" in flags["fd42:6::12:1"], flags
    plain = nc.parse_addr_flags(text("ip-6-addr-eth0-dns-address.txt"))
    assert nc.temporary_addresses(plain) == [], plain


def test_route_get_many_parses_each_destination():
    got = nc.parse_route_get_many(text("ip-6-route-get-many-no-default.txt"))
    assert got == {"2001:db8::1": None, "fd42:6::1": "fd42:6::10", "fd42:6::10": "fd42:6::10",
                   "fd42:6::5:7a1e:b": "fd42:6::10"}, got
    script = nc.route_get_script(["2001:db8::1", "fd42:6::10"])
    assert script.startswith("for d in 2001:db8::1 fd42:6::10; do"), script
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        nc.route_get_script(["2001:db8::1; rm -rf /"])


def test_source_is_published_address_passes():
    flags = nc.parse_addr_flags(text("ip-6-addr-eth0-dns-address.txt"))
    v = nc.source_address({nc.GLOBAL_PROBE: nc.parse_route_get_src(text("ip-6-route-get-dns-address.txt"))},
                          ["fd42:6::10"], nc.temporary_addresses(flags), "0", "eth0")
    assert v.ok, v


def test_second_address_as_route_src_names_both_addresses():
    flags = nc.parse_addr_flags(text("ip-6-addr-eth0-second-address.txt"))
    v = nc.source_address({nc.GLOBAL_PROBE: nc.parse_route_get_src(text("ip-6-route-get-route-src.txt"))},
                          ["fd42:6::11"], nc.temporary_addresses(flags), "0", "eth0")
    assert not v.ok, v
    assert v.fix_kind == "src", v
    assert "fd42:6::5ce" in v.observed, v.observed
    assert "fd42:6::11" in v.observed, v.observed


def test_peers_see_the_second_address_too():
    found = nc.parse_route_get_many(text("ip-6-route-get-many-route-src.txt"))
    sources = {d: s for d, s in found.items() if s}
    v = nc.source_address(sources, ["fd42:6::12"], [], "0", "eth0")
    assert not v.ok, v
    assert "fd42:6::5ce:c" in v.observed, v.observed
    assert "fd42:6::10" in v.observed, f"the head node (a peer) is named: {v.observed}"


def test_temporary_address_and_use_tempaddr_fail():
    flags = nc.parse_addr_flags(text("ip-6-addr-eth0-temporary.txt"))
    v = nc.source_address({nc.GLOBAL_PROBE: nc.parse_route_get_src(text("ip-6-route-get-temporary.txt"))},
                          ["fd42:6::12"], nc.temporary_addresses(flags), "2", "eth0")
    assert not v.ok, v
    assert v.fix_kind == "privacy", v
    for part in ("fd42:6::477d:ea27:b6f1:cdd4", "fd42:6::12", "temporary", "use_tempaddr=2"):
        assert part in v.observed, f"{part!r} missing from {v.observed!r}"


def test_privacy_enabled_without_address_yet_fails():
    v = nc.source_address({nc.GLOBAL_PROBE: "fd42:6::10"}, ["fd42:6::10"], [], "1", "eth0")
    assert not v.ok, v
    assert "use_tempaddr=1" in v.observed, v
