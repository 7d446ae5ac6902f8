"""The storage systems as data (data/flavours/): roles, services, ports and ranges, config files,
redirects; the site's overrides of ports and ranges; the DPM default site unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from se_dualstack import knowledge, sitevars
from se_dualstack.errors import InventoryError
from se_dualstack.inventory import load_site
from se_dualstack.model import ROLES, PortRange


def _host(role: str, **vars_: object):
    return sitevars.build_host("t.yml: host h", "h.example.org", role, dict(vars_), None)


@pytest.mark.parametrize("flavour", knowledge.flavours())
def test_every_system_is_complete_and_consistent(flavour: str) -> None:
    system = knowledge.system(flavour)
    assert system.name == flavour
    assert system.title
    assert set(system.roles) == set(ROLES)
    for role in system.roles.values():
        assert role.what, f"{flavour} {role.name}: what it is"
        assert role.services, f"{flavour} {role.name}: what it runs"
        for name in role.services:
            svc = knowledge.service(name)
            assert svc.port is not None or svc.ranges, f"{flavour}: {name} has no port and no range"
            assert svc.processes, f"{flavour}: {name} names no process"
            for r in svc.ranges:
                assert r.label.startswith(f"{name}-"), r
                assert 0 < r.first <= r.last < 65536, r
    for cf in system.config_files:
        assert cf.path.startswith("/"), cf
        assert all((cf.format, cf.roles, cf.keys)), cf
    for hop in system.redirects:
        entry = system.roles[hop.from_role].services
        assert hop.from_service in entry, f"{flavour}: {hop.protocol} enters at a service its role lacks"
        target = [knowledge.service(n) for n in system.roles[hop.to_role].services]
        assert knowledge.landing(hop, target), f"{flavour}: {hop.protocol} lands nowhere on a {hop.to_role}"


def test_dcache_pools_run_movers_on_ranges_not_doors() -> None:
    pool = _host("disknode", se_flavour="dcache")
    assert [s.name for s in pool.services] == ["dcache-pool"], "pools run no doors by default"
    assert [(str(t), t.label) for t in pool.transfer_ports] == [
        ("20000:25000", "dcache-pool-wan"), ("33115:33145", "dcache-pool-xrootd")], \
        "HTTP/FTP movers on the WAN range, xroot movers on the LAN range (pool.properties)"
    hop = knowledge.system("dcache").hops("root")[0]
    assert [str(t) for t in knowledge.landing(hop, pool.services)] == ["33115:33145"], \
        "an xroot door redirects to the pool's xrootd mover range"


def test_eos_mgm_redirects_to_fst_ports() -> None:
    fst = _host("disknode", se_flavour="eos")
    assert [(s.name, s.port) for s in fst.services] == [("eos-fst", 1095), ("eos-fst-https", 8444)]
    eos = knowledge.system("eos")
    assert [str(t) for t in knowledge.landing(eos.hops("root")[0], fst.services)] == ["1095"]
    assert [str(t) for t in knowledge.landing(eos.hops("davs")[0], fst.services)] == ["8444"]
    assert "/etc/sysconfig/eos_env" in [f.path for f in eos.files("disknode")]


def test_dpm_default_site_keeps_todays_ports_and_ranges() -> None:
    head, disk = _host("headnode"), _host("disknode")
    assert [(s.name, s.port) for s in head.services] == [
        ("gsiftp", 2811), ("xrootd", 1094), ("https", 443), ("srm", 8446), ("dpns", 5010), ("dpm", 5015)]
    assert [str(t) + t.label for t in disk.transfer_ports] == [
        "2811gsiftp", "20000:25000gsiftp-data", "1094xrootd", "443https"]
    assert knowledge.default_data_range() == "20000-25000"


def test_site_overrides_a_range_and_the_older_variable_still_works() -> None:
    pool = _host("disknode", se_flavour="dcache", se_service_ranges={"dcache-pool-xrootd": "20000-25000"})
    assert [str(t) for t in pool.transfer_ports] == ["20000:25000", "20000:25000"], \
        "a site that moved its xroot movers to the WAN range"
    disk = _host("disknode", se_gridftp_data_range="40000-41000")
    assert [str(t) for t in disk.transfer_ports if t.label == "gsiftp-data"] == ["40000:41000"]
    both = _host("disknode", se_gridftp_data_range="40000-41000",
                 se_service_ranges={"gsiftp-data": "50000-50100"})
    assert [str(t) for t in both.transfer_ports if t.label == "gsiftp-data"] == ["50000:50100"], \
        "se_service_ranges names the range itself: it wins"


@pytest.mark.parametrize(("ranges", "message"), [
    ({"dcache-pool-lan": "1-2"}, "se_service_ranges names unknown range 'dcache-pool-lan'; use one of: "),
    ({"gsiftp-data": "25000-20000"}, "se_service_ranges.gsiftp-data '25000-20000' is not a port range"),
    (["gsiftp-data"], "se_service_ranges must be a mapping range: FIRST-LAST"),
])
def test_bad_range_override_is_one_line(ranges: object, message: str) -> None:
    with pytest.raises(InventoryError, match=message.replace("(", r"\(")):
        _host("disknode", se_service_ranges=ranges)


def test_range_override_from_an_inventory(tmp_path: Path) -> None:
    p = tmp_path / "d.yml"
    p.write_text("all:\n  vars: {se_flavour: dcache}\n  children:\n    disknodes:\n      hosts:\n"
                 "        pool1.example.org:\n"
                 "          se_service_ranges: {dcache-pool-xrootd: 30000-30100}\n")
    pool = load_site(p).hosts[0]
    assert {t.label: str(t) for t in pool.transfer_ports}["dcache-pool-xrootd"] == "30000:30100"
    assert PortRange.parse("30000-30100") == PortRange(30000, 30100)


def test_a_pool_without_a_port_is_checked_on_its_ranges_only() -> None:
    svc = knowledge.service("dcache-pool")
    assert svc.port is None
    assert svc.transfer
    assert len(svc.ranges) == 2


def test_config_files_move_per_host() -> None:
    moved = {"/var/lib/dcache/config/poolmanager.conf": "/srv/dcache/poolmanager.conf"}
    head = _host("headnode", se_flavour="dcache", se_config_files=moved)
    assert head.config_path("/var/lib/dcache/config/poolmanager.conf") == "/srv/dcache/poolmanager.conf"
    assert head.config_path("/etc/dcache/dcache.conf") == "/etc/dcache/dcache.conf", "the others stay"


@pytest.mark.parametrize(("value", "message"), [
    ({"/etc/dcache/nosuch.conf": "/x"}, "names '/etc/dcache/nosuch.conf', which is no config file"),
    ({"/etc/dcache/dcache.conf": "relative/dcache.conf"}, "is not an absolute path of plain characters"),
    ({"/etc/dcache/dcache.conf": "/etc/dcache/my dcache.conf"}, "is not an absolute path of plain"),
    (["/etc/dcache/dcache.conf"], "must be a mapping path: path"),
])
def test_config_files_refused(value: object, message: str) -> None:
    with pytest.raises(InventoryError, match=message):
        _host("headnode", se_flavour="dcache", se_config_files=value)


@pytest.mark.parametrize("flavour", knowledge.flavours())
def test_every_system_can_be_detected(flavour: str) -> None:
    markers = [m for m in knowledge.detection_markers() if m["flavour"] == flavour]
    assert markers, f"{flavour}: --hosts without an inventory needs a marker"
    for p in knowledge.detection_ports(flavour):
        assert p["service"] in knowledge.service_names()
