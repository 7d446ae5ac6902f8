"""Per-address transfer cases, service aliases mapped to hosts, fault attribution, the shim's pin."""

from __future__ import annotations

import os
import subprocess
import sys

import fakesite
import pytest

from se_dualstack.errors import InventoryError
from se_dualstack.sitevars import endpoints
from se_dualstack.transfer.addresses import (
    alias_cases,
    attribute,
    holders,
    per_address,
    sort_addresses,
)
from se_dualstack.transfer.cases import transfer_cases
from se_dualstack.transfer.evidence import Connection
from se_dualstack.transfer.outcome import Step, TransferResult
from se_dualstack.transfer.shim import build_shim

DNS = {
    ("head.example.test", 6): ["fd42:6::10"], ("head.example.test", 4): ["10.42.0.10"],
    ("disk01.example.test", 6): ["fd42:6::5:7a1e:b", "fd42:6::11"],  # a stale second AAAA
    ("disk01.example.test", 4): ["10.42.0.11"],
    ("disk02.example.test", 6): ["fd42:6::12"], ("disk02.example.test", 4): ["10.42.0.12"],
    ("disks.example.test", 6): ["fd42:6::11", "fd42:6::12", "fd42:6::99"],
    ("disks.example.test", 4): ["10.42.0.11", "10.42.0.12"],
}


def resolve(name: str, family: int) -> list[str]:
    return sort_addresses(DNS.get((name, family), []))


_site = fakesite.site


def test_single_address_per_family_keeps_every_case_and_id() -> None:
    base = transfer_cases(_site())
    single = per_address(base, lambda n, f: resolve(n, f)[:1])
    assert [c.id for c in single] == [c.id for c in base], "one address per family must change nothing"
    assert all(not c.pins for c in single), "nothing to pin with one address per family"


def test_two_aaaa_give_one_case_per_address_pinned() -> None:
    cases = per_address(transfer_cases(_site()), resolve)
    ids = [c.id for c in cases]
    for want in ("disk01.example.test-davs-ipv6-fd42:6::11", "disk01.example.test-davs-ipv6-fd42:6::5:7a1e:b",
                 "head.example.test-root-ipv6-via-disk01-fd42:6::5:7a1e:b", "disk01.example.test-gsiftp-ipv4",
                 "disk02.example.test-davs-ipv6", "head.example.test-root-ipv6-via-disk02"):
        assert want in ids, f"{want} missing from {ids}"
    assert len(ids) == len(set(ids)), ids
    c = next(c for c in cases if c.id == "head.example.test-root-ipv6-via-disk01-fd42:6::5:7a1e:b")
    assert c.pins == (("disk01.example.test", "fd42:6::5:7a1e:b"),), "the redirect target is pinned"
    assert c.group_host == "disk01.example.test", c


def test_alias_addresses_map_back_to_their_hosts() -> None:
    site = _site(se_endpoints=[{"name": "disks.example.test", "protocols": ["root"], "ports": {},
                                "transfer_dir": ""}])
    owner = holders(site, resolve)
    assert owner["fd42:6::11"] == "disk01.example.test", owner
    assert "fd42:6::99" not in owner, "an address of no inventory host"
    cases = {c.id: c for c in alias_cases(site, resolve)}
    one = cases["disks.example.test-root-ipv6-fd42:6::12"]
    assert one.target == "disk02.example.test", "the address's host is the target (and xdist group)"
    assert one.endpoint.url("f") == "root://disks.example.test:1094//store/disk02/se6test/f", one
    assert one.pins == (("disks.example.test", "fd42:6::12"),), one.pins
    stray = cases["disks.example.test-root-ipv6-fd42:6::99"]
    assert stray.target == "disks.example.test", "no inventory host holds it"
    assert stray.endpoint.test_dir == "", "no test directory: the test fails saying so"
    assert "disks.example.test-root-ipv4-10.42.0.11" in cases, sorted(cases)


def test_alias_transfer_dir_and_unknown_protocol() -> None:
    site = _site(se_endpoints=[{"name": "door.example.test", "protocols": ["davs"],
                                "transfer_dir": "/pnfs/x/se6test"}])
    (c6,) = [c for c in alias_cases(site, resolve) if c.family == 6]
    assert c6.endpoint.test_dir == "/pnfs/x/se6test", c6
    assert c6.address == "", "no record: one case, whose test fails naming the missing record"
    bad = _site(se_endpoints=[{"name": "door.example.test", "protocols": ["rfio"]}])
    with pytest.raises(ValueError, match="rfio"):
        alias_cases(bad, resolve)


def test_se_endpoints_validation() -> None:
    ok = endpoints("inv: host h", [{"name": "d.example.org", "protocols": "root,davs",
                                    "ports": {"davs": "8443"}}])
    assert ok == [{"name": "d.example.org", "protocols": ["root", "davs"], "ports": {"davs": 8443},
                   "transfer_dir": ""}], ok
    for bad, msg in (({"protocols": ["root"]}, "needs a name"), ({"name": "x", "prots": 1}, "needs a name"),
                     ({"name": "x", "ports": [1]}, "mapping"),
                     ({"name": "x", "transfer_dir": "rel"}, "absolute"),
                     ({"name": "x", "ports": {"root": 0}}, "not a TCP port")):
        with pytest.raises(InventoryError, match=msg):
            endpoints("inv: host h", [bad])
    with pytest.raises(InventoryError, match="list"):
        endpoints("inv: host h", {"name": "x"})


def test_attribute_names_the_redirect_target_and_address() -> None:
    case = next(c for c in per_address(transfer_cases(_site()), resolve)
                if c.id == "head.example.test-root-ipv6-via-disk01-fd42:6::5:7a1e:b")
    r = TransferResult(case.id, "root", 6, 1, steps=[Step("list", "failed", error="Permission denied")],
                       connections=[Connection(6, "fd42:6::10", 1094, "shim"),
                                    Connection(6, "fd42:6::5:7a1e:b", 1094, "shim"),
                                    Connection(6, "fd42:6::5:7a1e:b", 1094, "proc")])
    attribute(r, case)
    assert r.landed == "[fd42:6::5:7a1e:b]:1094", r.landed
    assert (r.fault_host, r.fault_address) == ("disk01.example.test", "fd42:6::5:7a1e:b"), r
    head_down = TransferResult(case.id, "root", 6, 1, steps=[Step("list", "failed", error="refused")],
                               connections=[Connection(6, "fd42:6::10", 1094, "shim", error="ECONNREFUSED")])
    attribute(head_down, case)
    assert (head_down.fault_host, head_down.fault_address) == ("head.example.test", "fd42:6::10"), head_down


def test_shim_pins_a_name_to_one_address() -> None:
    shim, why = build_shim()
    if shim is None:
        pytest.skip(f"no shim: {why}")
    code = ("import socket\n"
            "ai = socket.getaddrinfo('Pinned.Example.', 443, type=socket.SOCK_STREAM)\n"
            "print(sorted({a[4][0] for a in ai}))\n")
    env = {**os.environ, "LD_PRELOAD": shim, "SE6_FAMILY": "6",
           "SE6_PIN": "pinned.example=2001:db8::7,other.example=2001:db8::8"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "['2001:db8::7']", f"pin not applied: {out}"
