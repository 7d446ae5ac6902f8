"""Site knowledge: the facts per flavour and role the checks rely on, and OS-family mapping."""

from __future__ import annotations

import pytest

from se_dualstack import knowledge


def test_flavours_and_dpm_ports_from_the_seed_story() -> None:
    assert knowledge.flavours() == ["dcache", "dpm", "eos", "storm", "xrootd"], "flavours"
    head = {n: knowledge.service(n).port for n in knowledge.services_for("dpm", "headnode")}
    assert head == {"gsiftp": 2811, "xrootd": 1094, "https": 443, "srm": 8446, "dpns": 5010,
                    "dpm": 5015}, "DPM head node ports"
    assert knowledge.services_for("dpm", "disknode") == ["gsiftp", "xrootd", "https"], "disk"
    assert knowledge.default_data_range() == "20000-25000", "GridFTP data range"


def test_every_flavour_role_names_defined_services() -> None:
    names = set(knowledge.service_names())
    for flavour in knowledge.flavours():
        for role in ("headnode", "disknode"):
            got = knowledge.services_for(flavour, role)
            assert got, f"{flavour} {role} has services"
            assert set(got) <= names, f"{flavour} {role} services are defined"


def test_service_overrides() -> None:
    s = knowledge.service("srm", port=8443, processes=["srmv2.2"])
    assert (s.name, s.port, s.processes, s.transfer, s.title) == (
        "srm", 8443, ("srmv2.2",), False, "SRM v2.2"), "override port and processes"


def test_unknown_flavour() -> None:
    with pytest.raises(KeyError, match="unknown flavour 'castor'; known: dcache, dpm"):
        knowledge.services_for("castor", "headnode")


def test_resolver_tables() -> None:
    line = "::1   localhost localhost.localdomain localhost6 localhost6.localdomain6"
    assert knowledge.hosts_line() == line, "the /etc/hosts line fixes print"
    labels = knowledge.gai_labels()
    assert labels[0] == "label ::1/128 0", "gai.conf table starts with the loopback label"
    assert len(labels) == 9, "full gai.conf label table"
    assert knowledge.uses_ifcfg("el7"), "ifcfg on EL7"
    assert not knowledge.uses_ifcfg("el9"), "NetworkManager on EL9"
    assert knowledge.needs_gai_conf("el6"), "gai.conf table on EL6"
    assert not knowledge.needs_gai_conf("el7"), "not on EL7"


@pytest.mark.parametrize(("distribution", "release", "family"), [
    ("centos", "7.9.2009", "el7"),
    ("CentOS", "6.10", "el6"),
    ("Scientific Linux", "6.10", "el6"),
    ("Red Hat Enterprise Linux Server", "6.10", "el6"),
    ("rhel", "9.4", "el9"),
    ("rocky", "8.10", "el8"),
    ("almalinux", "9.5", "el9"),
    ("debian", "12", "debian12"),
    ("ubuntu", "22.04", "ubuntu22"),
    ("debian", None, None),
    (None, "7", None),
])
def test_os_family(distribution: str | None, release: str | None, family: str | None) -> None:
    assert knowledge.os_family(distribution, release) == family, (distribution, release)


@pytest.mark.parametrize(("value", "norm"), [
    ("el7", "el7"), ("SL6", "el6"), ("centos7", "el7"), ("rocky9", "el9"), ("debian12", "debian12"),
    ("windows", None), ("el", None),
])
def test_normalise_os(value: str, norm: str | None) -> None:
    assert knowledge.normalise_os(value) == norm, value
