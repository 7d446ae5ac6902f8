"""Address families as facts (issue 18), on real outputs of the ipv6only testbed: the suite
machine's families from ``ip`` and /proc, NAT64 prefixes (RFC 6052/7050), what IPv4 a host
declared IPv6-only still has, ``se_families`` validation and which items apply or can run."""

from __future__ import annotations

from pathlib import Path

import fakesite
import pytest

from se_dualstack import applicability, sitevars
from se_dualstack.concerns import families as fam
from se_dualstack.concerns import services as listening
from se_dualstack.concerns.interfaces import ip_addresses
from se_dualstack.errors import InventoryError
from se_dualstack.transfer.cases import TpcCase, TransferCase, tpc_cases, transfer_cases

DATA = Path(__file__).parent / "data"


def text(name: str) -> str:
    return (DATA / name).read_text()


# --------------------------------------------------------------------------- NAT64 prefixes


@pytest.mark.parametrize(("plen", "address"), [  # RFC 6052 section 2.4's table: 192.0.2.33
    (32, "2001:db8:c000:221::"), (40, "2001:db8:1c0:2:21::"), (48, "2001:db8:122:c000:2:2100::"),
    (56, "2001:db8:122:3c0:0:221::"), (64, "2001:db8:122:344:c0:2:2100:0"),
    (96, "2001:db8:122:344::192.0.2.33")])
def test_embedded_ipv4_at_every_rfc6052_length(plen: int, address: str) -> None:
    assert fam.embedded_ipv4(address, plen) == "192.0.2.33"


def test_nat64_prefix_from_ipv4only_arpa() -> None:
    # unbound's dns64 on the testbed: AAAA of ipv4only.arpa in the well-known prefix
    assert fam.nat64_prefixes(["64:ff9b::c000:aa", "64:ff9b::c000:ab"]) == ["64:ff9b::/96"]
    assert fam.nat64_prefixes(["fd42:6:0:64::c000:aa"]) == ["fd42:6:0:64::/96"], "network-specific"
    assert fam.nat64_prefixes(["2001:db8:1c0:0:aa::"]) == ["2001:db8:100::/40"], "a /40 prefix"
    assert fam.nat64_prefixes(["2001:db8::1"]) == [], "a real AAAA reveals no prefix"


def test_synthesized_names_prefix_and_the_ipv4_it_carries() -> None:
    x = fam.synthesized("64:ff9b::a2a:b", [fam.WELL_KNOWN_PREFIX])
    assert x == fam.Synthesized("64:ff9b::a2a:b", "64:ff9b::/96", "10.42.0.11"), x
    assert fam.synthesized("fd42:6::11", [fam.WELL_KNOWN_PREFIX]) is None, "native"


# --------------------------------------------------------------------------- the suite machine


def test_ipv6_only_client_from_ip_json() -> None:
    m = fam.machine_from_ip(text("ip-j-addr-client-ipv6-only.json"),
                            text("ip-j-4-route-default-client-ipv6-only.json"),
                            text("ip-j-6-route-default-client-ipv6-only.json"))
    assert m.label == "IPv6-only", m
    assert not m.has(4)
    assert m.has(6)
    assert [a.address for a in m.usable(6)] == ["fd42:6::2"], "link-local and ::1 left out"
    assert m.family_text(4) == "no IPv4 address, no IPv4 default route"
    assert m.family_text(6) == "IPv6 fd42:6::2/64 on eth0; default route via fd42:6::1 dev eth0"


def test_dual_stack_host_and_old_iproute_text() -> None:
    m = fam.machine_from_ip(text("ip-j-addr-head-dualstack.json"),
                            text("ip-j-4-route-default-head-dualstack.json"), "")
    assert m.label == "dual-stack", m
    old = fam.machine_from_ip(text("ip-o-addr-ipv4-not-removed-disk03.txt"), "",
                              text("ip-o-6-route-default-client-ipv6-only.txt"))
    assert [str(a) for a in old.usable(4)] == ["10.42.0.13/24 on eth0"], "ip -o (EL7) parsed too"
    assert old.default_routes(6) == ["default via fd42:6::1 dev eth0 metric 1024 pref medium"]


def test_proc_fallback_agrees_with_ip() -> None:
    addrs = fam.proc_if_inet6(text("proc-net-if_inet6-client-ipv6-only.txt")) + \
        fam.proc_fib_trie_local(text("proc-net-fib_trie-client-ipv6-only.txt"))
    routes = fam.proc_default_routes(text("proc-net-route-client-ipv6-only.txt"),
                                     text("proc-net-ipv6_route-client-ipv6-only.txt"))
    m = fam.MachineNet(tuple(addrs), tuple(routes), "/proc/net")
    assert m.label == "IPv6-only", m
    assert m.default_routes(6) == ["default via fd42:6::1 dev eth0"], routes
    head4 = fam.proc_fib_trie_local(text("proc-net-fib_trie-head-dualstack.txt"))
    assert [a.address for a in fam.usable(head4, 4)] == ["10.42.0.10"], head4
    assert fam.proc_default_routes(text("proc-net-route-head-dualstack.txt"), "") == \
        [(4, "default via 10.42.0.1 dev eth0")]


def test_nothing_known_blocks_nothing() -> None:
    m = fam.MachineNet(error="ip (iproute2) not installed")
    assert m.has(4)
    assert m.has(6)
    assert m.describe() == "not known (ip (iproute2) not installed)"


# --------------------------------------------------------------------------- IPv4 really gone


def test_ipv4_left_on_a_host_declared_ipv6_only() -> None:
    addrs = ip_addresses(text("ip-j-addr-ipv4-not-removed-disk03.json"))
    assert [a.address for a in fam.usable(addrs, 4)] == ["10.42.0.13"]
    socks = listening.parse_ss(text("ss-Htlnpe-ipv4-not-removed-disk03.txt"))
    found = fam.ipv4_listeners(socks, 0)
    assert found[0].startswith("TCP 22 (sshd): listening on 10.42.0.13:22"), found
    assert any(x.startswith("TCP 1094 (xrootd): *:1094 is an IPv6 wildcard socket without V6ONLY")
               for x in found), found


def test_ipv6_only_host_has_no_ipv4_address_for_its_dual_stack_socket() -> None:
    addrs = ip_addresses(text("ip-j-addr-ipv6-only-disk02.json"))
    assert fam.usable(addrs, 4) == [], "no IPv4 address: XRootD's *:1094 reaches nothing over IPv4"
    socks = listening.parse_ss(text("ss-Htlnpe-ipv6-only-disk02.txt"))
    assert fam.ipv4_listeners(socks, 0), "the socket alone would accept IPv4 (hence the address test)"


# --------------------------------------------------------------------------- se_families


@pytest.mark.parametrize(("value", "want"), [(["ipv6"], ["ipv6"]), (["IPv4", "ipv6"], ["ipv6", "ipv4"]),
                                             ("ipv6,ipv4", ["ipv6", "ipv4"]), ([6], ["ipv6"])])
def test_se_families_normalised(value, want) -> None:
    v = sitevars.validate("f: host h", {"se_families": value})
    assert v["se_families"] == want


@pytest.mark.parametrize(("value", "words"), [(["ipv4"], "leaves out ipv6"),
                                              (["ipx"], "not an address family")])
def test_se_families_refused_in_one_line(value, words) -> None:
    with pytest.raises(InventoryError, match=words):
        sitevars.validate("f: host h", {"se_families": value})


# --------------------------------------------------------------------------- what applies, what runs


def _v6site():
    s = fakesite.site()
    s.hosts[2].vars["se_families"] = ["ipv6"]
    return s


def test_ipv4_of_a_host_declared_ipv6_only_is_na_with_the_reason() -> None:
    s = _v6site()
    assert applicability.declared_na(s.hosts[2].vars, 4).startswith(fam.DECLARED_IPV6_ONLY)
    assert applicability.declared_na(s.hosts[2].vars, 6) == ""
    assert applicability.declared_na(s.hosts[1].vars, 4) == "", "dual-stack by default"
    hosts = {h.name: h for h in s.hosts}
    cases = {c.id: c for c in transfer_cases(s, ["root"])}
    assert applicability.transfer_na(cases["head.example.test-root-ipv4-via-disk02"], hosts).startswith(
        "disk02.example.test declared IPv6-only")
    assert applicability.transfer_na(cases["head.example.test-root-ipv4-via-disk01"], hosts) == ""


def test_a_machine_without_ipv4_cannot_run_ipv4_items() -> None:
    m = fam.machine_from_ip(text("ip-j-addr-client-ipv6-only.json"), "[]",
                            text("ip-j-6-route-default-client-ipv6-only.json"))
    s = fakesite.site()
    hosts = {h.name: h for h in s.hosts}
    cases = {c.id: c for c in transfer_cases(s, ["root"])}
    assert applicability.suite_missing(m, 4).startswith("the suite machine has no IPv4 (no IPv4 address")
    assert not applicability.runnable(cases["disk01.example.test-root-ipv4"], hosts, m)
    assert applicability.runnable(cases["disk01.example.test-root-ipv6"], hosts, m)


def test_transfers_through_nat64_are_labelled() -> None:
    answers = {"disk01.example.test": ["64:ff9b::a2a:b"], "head.example.test": ["fd42:6::10"],
               "disk02.example.test": ["fd42:6::12"]}
    resolve = lambda name, family: answers.get(name, []) if family == 6 else []  # noqa: E731
    out = applicability.label_nat64(transfer_cases(fakesite.site(), ["root"]), resolve,
                                    [fam.WELL_KNOWN_PREFIX])
    ids = [c.id for c in out]
    assert "head.example.test-root-ipv6-via-disk01-nat64" in ids, "the redirect target is synthesized"
    assert "disk01.example.test-root-ipv6-nat64" in ids
    assert "head.example.test-root-ipv6-via-disk02" in ids, "native: no label"
    assert "disk01.example.test-root-ipv4" in ids, "IPv4 is never through NAT64"


def test_tpc_across_families_both_ways_pinned_on_the_end_that_connects() -> None:
    s = _v6site()
    s.hosts.append(fakesite.host("disk03.example.test", "disknode", se_transfer_dir="/store/disk03/se6test",
                                 se_families=["ipv6"]))
    cases = tpc_cases(s, ["davs", "gsiftp"])
    pairs = list(dict.fromkeys((c.source_host, c.dest_host) for c in cases))
    d1, d2, d3 = (f"disk0{i}.example.test" for i in (1, 2, 3))
    assert pairs == [(d1, d2), (d2, d1), (d1, d3), (d3, d1)], pairs
    by = {c.id: c for c in cases}
    assert by["disk02.example.test-to-disk01-gsiftp-ipv6"].active_host == d2, "FXP: the source connects"
    assert by["disk02.example.test-to-disk01-davs-ipv6"].active_host == d1, "HTTP-TPC pull: the destination"
    push = TpcCase("davs", 6, cases[0].source, cases[0].dest, d1, d2, True, "token", mode="push")
    assert push.active_host == d1
    assert push.id == "disk01.example.test-to-disk02-davs-ipv6-push-token"
    assert TransferCase("root", 6, d1, d1, cases[0].source, nat64=True, auth="token").id == \
        "disk01.example.test-root-ipv6-nat64-token"


def test_dns64_says_which_resolver_synthesizes_in_which_prefix() -> None:
    from se_dualstack.clientnet import Dns64
    from se_dualstack.concerns.dns import Answer

    seen = Dns64(("fd42:6::64", "fd42:6::1"), {"fd42:6::64": ["64:ff9b::/96"]})
    assert seen.prefixes == ["64:ff9b::/96"]
    assert seen.resolvers_for("64:ff9b::/96") == ["fd42:6::64"]
    assert seen.describe() == "fd42:6::64 synthesizes AAAA records (DNS64) in 64:ff9b::/96"
    none = Dns64(("fd42:6::1",))
    assert none.prefixes == [fam.WELL_KNOWN_PREFIX], "the well-known prefix is always synthesized"
    assert none.resolvers_for(fam.WELL_KNOWN_PREFIX) == ["fd42:6::1"]
    assert none.describe() == "no DNS64 at fd42:6::1 (no AAAA for ipv4only.arpa)"
    assert Answer("d.example", "AAAA", (), "synthesized").describe() == \
        "no AAAA record of its own for d.example (only one synthesized by DNS64)"
