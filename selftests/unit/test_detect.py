"""Role and flavour from what a host runs (``--hosts`` without an inventory).

The testbed captures are real ``ps -eo comm,args`` / ``ss -Htlnp`` outputs of the default site's
head node (DPM daemons, XRootD manager) and a disk node (XRootD data server, GridFTP); the other
cases are small hand-made outputs in the same format for the markers of data/flavours/*.yml.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from se_dualstack import detect
from se_dualstack.errors import InventoryError
from se_dualstack.sitevars import parse_assignments

DATA = Path(__file__).resolve().parent / "data"


def captured(role: str) -> detect.Verdict:
    return detect.detect_text((DATA / f"ps-eo-comm-args-testbed-{role}.txt").read_text(),
                              (DATA / f"ss-Htlnp-testbed-{role}.txt").read_text())


def test_testbed_head_node_is_a_dpm_head_node() -> None:
    v = captured("headnode")
    assert (v.role, v.flavour) == ("headnode", "dpm"), "DPM daemons on the head node"
    assert v.evidence == ["dpnsdaemon running (DPM name server)", "dpm running (DPM daemon)",
                          "dpm-srm-v2_2 running (DPM SRM)",
                          "cmsd listening on manager port 1213 (XRootD manager)"], "evidence"


def test_testbed_disk_node_is_a_data_server() -> None:
    v = captured("disknode")
    assert (v.role, v.flavour) == ("disknode", None), "plain xrootd + cmsd: role known, flavour not"
    assert v.reason == "xrootd with cmsd on port 44967, not a manager port (XRootD data server)"


PS = "COMMAND         COMMAND\n"


@pytest.mark.parametrize(("ps", "ss", "role", "flavour"), [
    (PS + "xrootd          /usr/bin/xrootd -n mgm -c /etc/xrd.cf.mgm\n", "", "headnode", "eos"),
    (PS + "xrootd          /usr/bin/xrootd -n fst -c /etc/xrd.cf.fst\n", "", "disknode", "eos"),
    (PS + "storm-frontend- /usr/sbin/storm-frontend-server -c /etc/storm/frontend.conf\n", "",
     "headnode", "storm"),
    (PS + "java            /usr/bin/java -Ddcache.home=/usr/share/dcache "
          "-Ddcache.domain.name=dCacheDomain org.dcache.boot.BootLoader start dCacheDomain\n", "",
     "headnode", "dcache"),
    (PS + "java            /usr/bin/java -Ddcache.home=/usr/share/dcache "
          "-Ddcache.domain.name=pool1Domain org.dcache.boot.BootLoader start pool1Domain\n", "",
     "disknode", "dcache"),
    (PS + "cmsd            /usr/bin/cmsd -c /etc/xrootd/xrootd-clustered.cfg\n"
          "xrootd          /usr/bin/xrootd -c /etc/xrootd/xrootd-clustered.cfg\n",
     'LISTEN 0 255 *:3121 *:* users:(("cmsd",pid=8,fd=16))\n', "headnode", "xrootd"),
])
def test_markers_from_the_storage_data(ps: str, ss: str, role: str, flavour: str | None) -> None:
    v = detect.detect_text(ps, ss)
    assert (v.role, v.flavour) == (role, flavour), v.reason


def test_no_decisive_evidence_gives_no_role_and_says_why() -> None:
    v = detect.detect_text(PS + "globus-gridftp- /usr/sbin/globus-gridftp-server -c x\n"
                                "xrootd          /usr/bin/xrootd -c /etc/xrootd.cfg\n", "")
    assert v.role is None, "standalone xrootd + GridFTP: head or disk cannot be told"
    assert v.summary() == ("role unknown: runs globus-gridftp-, xrootd but nothing that tells a head "
                           "node from a disk node; give --se-role HOST=headnode|disknode")
    assert detect.detect_text(PS + "sshd sshd: /usr/sbin/sshd\n", "").reason == (
        "runs no SE daemon the suite knows; give --se-role HOST=headnode|disknode")


def test_site_flavour_sources() -> None:
    head, disk = captured("headnode"), captured("disknode")
    assert detect.site_flavour([head, disk], None, "dpm") == ("dpm", "detected on the hosts")
    assert detect.site_flavour([disk], "eos", "dpm") == ("eos", "--se-flavour")
    assert detect.site_flavour([disk], None, "dpm") == (
        "dpm", "default: no flavour marker seen; give --se-flavour to change it")


def test_parse_assignments() -> None:
    assert parse_assignments(["se_resolvers=[fd42::1, 10.0.0.1]", "se_ssh_timeout=5"], "--se-var") == {
        "se_resolvers": ["fd42::1", "10.0.0.1"], "se_ssh_timeout": 5}, "values read as YAML"
    assert parse_assignments(["h.example.org=disknode"], "--se-role", ("headnode", "disknode")) == {
        "h.example.org": "disknode"}
    with pytest.raises(InventoryError, match=r"^--se-role 'h=pool': use h=headnode\|disknode$"):
        parse_assignments(["h=pool"], "--se-role", ("headnode", "disknode"))
    with pytest.raises(InventoryError, match=r"^--se-var 'ansible_user=x': only site variables"):
        parse_assignments(["ansible_user=x"], "--se-var")
    with pytest.raises(InventoryError, match=r"^--se-var 'se_x': write it as KEY=VALUE$"):
        parse_assignments(["se_x"], "--se-var")


# --------------------------------------------------------------------------- each storage system

SYSTEMS = DATA / "systems"

# The marker files as each host of the systems' sites has them (data/systems/, README there).
SYSTEM_FILES = {
    "dcache-door": {"/etc/dcache/dcache.conf": "dcache.conf-testbed-door",
                    "/etc/dcache/layouts/head.conf": "dcache-layout-testbed-door.conf",
                    "/var/lib/dcache/config/poolmanager.conf": "poolmanager.conf-testbed"},
    "dcache-pool": {"/etc/dcache/dcache.conf": "dcache.conf-testbed-door",
                    "/etc/dcache/layouts/disk01.conf": "dcache-layout-testbed-pool.conf"},
    "eos-mgm": {"/etc/sysconfig/eos_env": "eos_env-testbed-mgm"},
    "eos-fst": {"/etc/sysconfig/eos_env": "eos_env-testbed-fst"},
    "xrootd-redirector": {"/etc/xrootd/xrootd-clustered.cfg": "xrootd-clustered.cfg-testbed-redirector"},
    "xrootd-data-server": {"/etc/xrootd/xrootd-clustered.cfg": "xrootd-clustered.cfg-testbed-data-server"},
    "storm-frontend": {},
    "storm-webdav": {"/etc/sysconfig/storm-webdav": "sysconfig-storm-webdav-testbed",
                     "/etc/systemd/system/storm-webdav.service.d/storm-webdav.conf":
                         "storm-webdav.service.d-testbed.conf"},
}


def system_host(name: str) -> detect.Verdict:
    ps = (SYSTEMS / f"ps-eo-comm-args-{name}.txt").read_text()
    files = {path: (SYSTEMS / f).read_text() for path, f in SYSTEM_FILES[name].items()}
    return detect.detect_text(ps, (SYSTEMS / f"ss-Htlnp-{name}.txt").read_text(), files)


@pytest.mark.parametrize(("name", "role", "flavour", "evidence"), [
    ("dcache-door", "headnode", "dcache", "/var/lib/dcache/config/poolmanager.conf (PoolManager's "
                                          "poolmanager.conf)"),
    ("dcache-pool", "disknode", "dcache", "/etc/dcache/layouts/disk01.conf (a pool cell in the layout)"),
    ("eos-mgm", "headnode", "eos", "xrootd running (EOS MGM)"),
    ("eos-fst", "disknode", "eos", "xrootd running (EOS FST)"),
    ("xrootd-redirector", "headnode", "xrootd", "cmsd listening on manager port 3121 (XRootD manager)"),
    ("xrootd-data-server", "disknode", "xrootd", "xrootd with cmsd on port"),
    ("storm-frontend", "headnode", "storm", "storm-frontend-server running (StoRM frontend)"),
    ("storm-webdav", "disknode", "storm", "/etc/sysconfig/storm-webdav (StoRM WebDAV's settings)"),
])
def test_each_system_and_role_from_its_site(name: str, role: str, flavour: str, evidence: str) -> None:
    v = system_host(name)
    assert (v.role, v.flavour) == (role, flavour), v.evidence
    assert evidence in v.reason


def test_the_files_to_read_include_running_configs() -> None:
    procs = detect.parse_ps((SYSTEMS / "ps-eo-comm-args-xrootd-redirector.txt").read_text())
    wanted = detect.wanted_files(procs)
    assert "/etc/xrootd/xrootd-clustered.cfg" in wanted, "the running daemon's -c"
    assert "/etc/dcache/layouts/*.conf" in wanted
    assert "/etc/sysconfig/eos_env" in wanted


@pytest.mark.parametrize(("name", "flavour", "host", "found"), [
    ("xrootd-data-server", "xrootd", "disk01.example.test",
     {"se_service_ports": {"xrootd": 1095, "https": 1095}}),
    ("xrootd-redirector", "xrootd", "head.example.test", {"se_service_ports": {"https": 1094}}),
    ("eos-fst", "eos", "disk01.example.test", {"se_service_ports": {"eos-fst-https": 9001}}),
    ("eos-mgm", "eos", "head.example.test", {}),
    ("dcache-door", "dcache", "head.example.test", {"se_service_processes": {
        "dcache-srm": ["dcache-srm"], "dcache-webdav": ["xrootd"], "dcache-gsiftp": ["globus-gridftp-"],
        "dcache-xrootd": ["xrootd"]}}),
    ("dcache-pool", "dcache", "disk01.example.test", {"se_service_processes": {"dcache-pool": ["xrootd"]}}),
    ("storm-webdav", "storm", "disk01.example.test", {}),
])
def test_ports_and_processes_the_host_sets_itself(name: str, flavour: str, host: str,
                                                  found: dict[str, dict[str, object]]) -> None:
    v = system_host(name)
    got, notes = detect.host_vars(v, flavour, v.role, host)
    assert got == found
    assert len(notes) == sum(len(x) for x in found.values()), notes


def test_notes_say_where_a_port_came_from() -> None:
    _, notes = detect.host_vars(system_host("eos-fst"), "eos", "disknode", "disk01.example.test")
    assert notes == ["eos-fst-https on 9001 (EOS_FST_HTTP_PORT in /etc/sysconfig/eos_env)"]
    _, notes = detect.host_vars(system_host("dcache-pool"), "dcache", "disknode", "disk01.example.test")
    assert notes == ["dcache-pool served by xrootd on its ranges (20000:25000, 33115:33145) (no java)"]
