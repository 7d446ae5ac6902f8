"""Which host a test id is about, when no inventory names it (standalone plugin use)."""

from __future__ import annotations

import pytest

from se_dualstack.plugins.tags import host_in_nodeid


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
