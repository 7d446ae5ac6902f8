"""Which host a test id is about, when no inventory names it (standalone plugin use), and the
xdist group a test joins: one reading of test ids for both."""

from __future__ import annotations

import pytest

from se_dualstack.nodeids import host_in_nodeid, param_id


@pytest.mark.parametrize(("param", "host"), [
    ("disks.example.test-root-ipv4-10.42.0.11", "disks.example.test"),
    ("pool-1.example.org-gsiftp", "pool-1.example.org"),
    ("my-host.example.org", "my-host.example.org"),
    ("head.example.test-root-ipv6-via-disk01-fd42:6::5:7a1e:b", "head.example.test"),
    ("nohost-foo", None),
])
def test_host_guessed_from_the_id(param: str, host: str | None) -> None:
    assert host_in_nodeid(f"t.py::test_x[{param}]", []) == host, param


def test_known_names_win_over_the_guess() -> None:
    names = ["pool07.example.org", "pool07.example.org-b"]
    assert host_in_nodeid("t::x[pool07.example.org-b-gsiftp]", names) == "pool07.example.org-b", \
        "the longest known name that prefixes the parameter"


def test_without_guessing_only_known_names_count() -> None:
    """The xdist scheduler groups by known hosts only: an unknown FQDN is no group."""
    assert host_in_nodeid("t::x[other.example.org-gsiftp]", ["pool07.example.org"], guess=False) is None
    assert host_in_nodeid("t::x[pool07.example.org-gsiftp]", ["pool07.example.org"], guess=False) \
        == "pool07.example.org"
    assert param_id("t::x") is None, "no parameter, no host"
    assert param_id("t::x[a-b]") == "a-b"
