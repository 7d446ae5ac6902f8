"""Transfer cases from a site: URLs, the path guard, ids, entry points, xdist groups."""

from __future__ import annotations

import fakesite
import pytest

from se_dualstack import sitevars
from se_dualstack.model import Site
from se_dualstack.transfer import protocols
from se_dualstack.transfer.cases import (
    PathGuardError,
    build_url,
    entry_points,
    guard_path,
    host_protocols,
    parse_size,
    tpc_cases,
    transfer_cases,
    unique_name,
    url_path,
)


def _site(**disk_vars: object) -> Site:
    """disk02's test directory ends in a slash: paths are normalised."""
    return fakesite.site("/store/disk02/se6test/", **disk_vars)


def test_build_url_per_protocol() -> None:
    assert build_url("root", "h.x", 1094, "/store/a/f") == "root://h.x:1094//store/a/f", "root wants //"
    assert build_url("davs", "h.x", 443, "/store/a/f") == "davs://h.x:443/store/a/f", "davs one slash"
    assert build_url("gsiftp", "fd42::11", 2811, "/s/f") == "gsiftp://[fd42::11]:2811/s/f", "bracketed"
    with pytest.raises(ValueError, match="unknown transfer protocol"):
        build_url("ftp", "h", 21, "/x")
    with pytest.raises(ValueError, match="absolute"):
        build_url("root", "h", 1, "x")


def test_url_path_round_trip() -> None:
    for proto in protocols.names():
        url = build_url(proto, "[fd42::10]", 1, "/store/d/se6test/f.dat")
        assert url_path(url) == "/store/d/se6test/f.dat", f"{proto}: path lost in {url}"


@pytest.mark.parametrize("url", [
    "root://h:1094//store/d/se6test/../x.dat",
    "root://h:1094//store/d/se6test/./x.dat",
    "davs://h:443/store/d/other/x.dat",
    "davs://h:443/store/d/se6test",
    "davs://h:443/store/d/se6test/",
    "davs://h:443/store/d/se6test/sub/x.dat",
    "davs://h:443/store/d/se6testX/x.dat",
    "gsiftp://h:2811/etc/passwd",
    "davs://h:443/store/d/se6test//x.dat",
    "not a url",
])
def test_guard_refuses_outside_paths(url: str) -> None:
    with pytest.raises(PathGuardError):
        guard_path(url, "/store/d/se6test")


@pytest.mark.parametrize("tdir", ["/", "/store", "store/d/x", "/store/../etc", ""])
def test_guard_refuses_bad_test_dirs(tdir: str) -> None:
    with pytest.raises(PathGuardError):
        guard_path("root://h:1//store/d/se6test/x.dat", tdir)


def test_guard_accepts_a_child_file() -> None:
    got = guard_path("root://h:1//store/d/se6test/x.dat", "/store/d/se6test")
    assert got == "/store/d/se6test/x.dat", "a direct child of the test directory must pass the guard"


def test_unique_names_differ_and_are_safe() -> None:
    names = {unique_name("root-ipv6") for _ in range(200)}
    assert len(names) == 200, "unique_name repeated itself"
    assert all("/" not in n and n.endswith(".dat") for n in names), f"unsafe name among {list(names)[:3]}"


def test_parse_size() -> None:
    assert parse_size("1M") == 1 << 20, "1M"
    assert parse_size("100MiB") == 100 << 20, "100MiB"
    assert parse_size(4096) == 4096, "int"
    assert parse_size("10k") == 10240, "10k"
    with pytest.raises(ValueError, match="bad size"):
        parse_size("lots")


def test_cases_default_site_ids_and_entry_points() -> None:
    ids = [c.id for c in transfer_cases(_site())]
    assert "head.example.test-root-ipv6-via-disk01" in ids, ids
    assert "head.example.test-davs-ipv4-via-disk02" in ids, ids
    assert "disk01.example.test-gsiftp-ipv6" in ids, "gsiftp goes to the disk node directly"
    assert "head.example.test-gsiftp-ipv4" in ids, "the head's own directory over gsiftp"
    assert "head.example.test-root-ipv6" not in ids, "the redirector's own dir is covered via the disks"
    assert "disk01.example.test-davs-ipv6" in ids, "a disk's own https port gets a direct davs round trip"
    assert "disk02.example.test-root-ipv6" in ids, "a disk's data server gets a direct root round trip"
    assert len(ids) == len(set(ids)) == 22, ids
    fewer = [c.id for c in transfer_cases(_site(se_transfer_direct=["davs", "https"]))]
    assert "disk02.example.test-root-ipv6" not in fewer, "a site can keep root to the redirector alone"
    assert len(fewer) == 18, fewer
    c = next(c for c in transfer_cases(_site()) if c.id == "head.example.test-root-ipv6-via-disk02")
    assert c.endpoint.url("f") == "root://head.example.test:1094//store/disk02/se6test/f", "trailing / kept"


def test_cases_head_only_site_tests_all_protocols_on_the_head() -> None:
    site = _site()
    site.hosts = site.hosts[:1]
    ids = [c.id for c in transfer_cases(site, protocols=["root"])]
    assert ids == ["head.example.test-root-ipv6", "head.example.test-root-ipv4"], ids


def test_cases_ports_and_protocol_validation() -> None:
    site = _site(se_transfer_ports={"davs": 8443}, se_transfer_via_head=[])
    c = next(c for c in transfer_cases(site) if c.id == "disk01.example.test-davs-ipv6")
    assert c.endpoint.port == 8443, "se_transfer_ports override ignored"
    with pytest.raises(ValueError, match="unknown"):
        transfer_cases(_site(se_transfer_protocols=["rfio"]))


def test_tpc_cases_use_ipv6_aliases_when_declared() -> None:
    plain = tpc_cases(_site())
    assert {c.protocol for c in plain} == {"davs", "root", "gsiftp"}, plain
    assert not plain[0].names_forced, "no alias declared: server-to-server is not forced"
    site = _site()
    for h in site.hosts:
        h.vars["se_ipv6_alias"] = h.name.replace(".", "-v6.", 1)
    c = tpc_cases(site, ["root"])[0]
    assert c.names_forced, c
    assert c.source.url("f").startswith("root://disk01-v6.example.test:1094//"), c
    assert c.id == "disk01.example.test-to-disk02-root-ipv6", c.id


def test_cases_join_their_targets_xdist_group() -> None:
    """A transfer through the head node and a TPC run in the group of the host the data lands on."""
    groups = {c.id: c.group_host for c in transfer_cases(_site())}
    assert groups["head.example.test-root-ipv6-via-disk01"] == "disk01.example.test", groups
    assert groups["disk02.example.test-gsiftp-ipv4"] == "disk02.example.test", groups
    assert groups["head.example.test-gsiftp-ipv6"] == "head.example.test", groups
    tpc = tpc_cases(_site(), ["root"])[0]
    assert (tpc.id, tpc.group_host) == ("disk01.example.test-to-disk02-root-ipv6", "disk02.example.test")


# --------------------------------------------------------------------------- the storage registry


def _system_site(flavour: str, heads: int = 1, disks: int = 2, **disk_vars: object) -> Site:
    """A site of one storage system, its hosts' services from data/flavours/ (as inventory.py builds them)."""
    hosts = [sitevars.build_host("t.yml: host h", f"door{i}.example.org", "headnode",
                                 {"se_flavour": flavour}, None) for i in range(1, heads + 1)]
    hosts += [sitevars.build_host("t.yml: host d", f"pool{i:02d}.example.org", "disknode",
                                  {"se_flavour": flavour, "se_transfer_dir": f"/data/pool{i:02d}/se6test",
                                   **disk_vars}, None) for i in range(1, disks + 1)]
    return Site("t", flavour, "t.yml", hosts, {})


def test_entry_points_follow_the_registrys_redirects() -> None:
    """The DPM site keeps its entry points; gsiftp has no redirect in DPM and goes direct."""
    site = _site()
    disk01 = site.hosts[1]
    assert [(h.name, port) for h, port, _ in entry_points(site, disk01, "root")] == [
        ("head.example.test", 1094)]
    assert [(h.name, port) for h, port, _ in entry_points(site, disk01, "davs")] == [
        ("head.example.test", 443)], "davs enters at the head's https service"
    assert entry_points(site, disk01, "gsiftp") == [], "DPM has no gsiftp redirect"
    assert entry_points(site, site.hosts[0], "root") == [], "a head node is no redirect target"


def test_every_head_node_running_the_entry_service_is_an_entry_point() -> None:
    site = _system_site("eos", heads=2, disks=1, se_transfer_protocols=["root", "davs"])
    ids = [c.id for c in transfer_cases(site)]
    assert ids[:4] == [f"door{d}.example.org-root-ipv{f}-via-pool01" for d in (1, 2) for f in (6, 4)], ids
    by_id = {c.id: c for c in transfer_cases(site)}
    assert by_id["door1.example.org-davs-ipv6-via-pool01"].endpoint.port == 8443, "the MGM's XrdHttp port"
    assert by_id["pool01.example.org-root-ipv6"].endpoint.port == 1095, "an FST's own xrd.port"
    assert by_id["pool01.example.org-davs-ipv6"].endpoint.port == 8444, "an FST's EOS_FST_HTTP_PORT"


def test_a_pool_without_a_fixed_port_gets_no_direct_round_trip() -> None:
    """dCache: clients go through the doors (gsiftp too: the PASV names the pool's mover); a
    direct round trip to a pool has no port to go to, so it skips, naming the mover range."""
    site = _system_site("dcache", disks=1, se_transfer_protocols=["gsiftp", "root", "davs"])
    cases = {c.id: c for c in transfer_cases(site)}
    assert cases["door1.example.org-davs-ipv6-via-pool01"].endpoint.port == 2880, "WebDAV door"
    assert cases["door1.example.org-root-ipv6-via-pool01"].endpoint.port == 1094, "xrootd door"
    assert cases["door1.example.org-gsiftp-ipv6-via-pool01"].endpoint.port == 2811, "GridFTP door"
    assert not any(c.skip for c in cases.values() if c.entry != c.target), "through the doors: no skip"
    direct = cases["pool01.example.org-root-ipv6"]
    assert "no fixed port" in direct.skip, direct.skip
    assert "dcache-pool-xrootd 33115-33145" in direct.skip, direct.skip
    assert "door1.example.org" in direct.skip, "the skip names the entry point that reaches it"
    tpcs = {c.id: c for c in tpc_cases(_system_site("dcache", disks=2), ["root", "davs"])}
    tpc = tpcs["pool01.example.org-to-pool02-root-ipv6-via-door1"]
    assert not tpc.unsupported, "a copy between pools goes through the doors, as a dCache client's"
    assert (tpc.source.host, tpc.source.port, tpc.dest.host, tpc.dest.port) == \
        ("door1.example.org", 1094, "door1.example.org", 1094), "both URLs on the xrootd door"
    assert tpc.source.test_dir != tpc.dest.test_dir, "each pool's own directory, through the door"
    assert (tpc.source_host, tpc.dest_host, tpc.contacted) == \
        ("pool01.example.org", "pool02.example.org", ("door1.example.org", "door1.example.org"))
    assert not tpc.names_forced, "the door's redirect names the pool: the servers' family is not forced"
    assert tpcs["pool01.example.org-to-pool02-davs-ipv6-via-door1"].dest.port == 2880, "the WebDAV door"


def test_the_default_protocols_are_those_a_host_serves() -> None:
    """EOS and XRootD sites run no GridFTP: no gsiftp case to skip; a dCache pool takes every
    protocol its doors redirect to it; a site's own list is kept as written."""
    eos = _system_site("eos", disks=1)
    assert [host_protocols(h) for h in eos.hosts] == [["root", "davs"]] * 2
    assert not any(c.protocol == "gsiftp" for c in transfer_cases(eos))
    assert host_protocols(_system_site("dcache", disks=1).hosts[1]) == ["gsiftp", "root", "davs"]
    assert host_protocols(_system_site("xrootd", disks=1).hosts[1]) == ["root", "davs"]
    own = _system_site("eos", disks=1, se_transfer_protocols=["gsiftp"]).hosts[1]
    assert host_protocols(own) == ["gsiftp"], "as written: its skip then tells the site why"


def test_a_site_override_of_via_head_still_wins() -> None:
    ids = [c.id for c in transfer_cases(_site(se_transfer_via_head=["gsiftp"]))]
    assert "head.example.test-gsiftp-ipv6-via-disk01" in ids, "listed: through the (first) head node"
    assert "disk01.example.test-root-ipv6" in ids, "not listed: direct"
    assert "head.example.test-root-ipv6-via-disk01" not in ids, "not listed: not through the head"
