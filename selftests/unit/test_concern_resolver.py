"""resolverfiles.py on /etc/hosts variants (EL default, Debian style, none, split/commented)
and gai.conf variants (empty, partial, the story's full table, spacing/comments, Debian's
all-commented default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from se_dualstack import knowledge
from se_dualstack.concerns import resolver as rf

DATA = Path(__file__).parent / "data"
ADDRESS, NAMES = knowledge.hosts_ipv6_localhost()
LABELS = knowledge.gai_labels()


def text(name: str) -> str:
    return (DATA / name).read_text()


def test_hosts_el_default_ok():
    v = rf.check_hosts(text("hosts-el-default"), ADDRESS, NAMES)
    assert v.ok, v


def test_hosts_names_split_over_lines_and_long_form_address():
    v = rf.check_hosts(text("hosts-ipv6-split-and-commented"), ADDRESS, NAMES)
    assert v.ok, v


@pytest.mark.parametrize(("name", "missing"), [
    ("hosts-no-ipv6", tuple(NAMES)),
    ("hosts-debian-style", ("localhost.localdomain", "localhost6", "localhost6.localdomain6")),
])
def test_hosts_missing(name, missing):
    v = rf.check_hosts(text(name), ADDRESS, NAMES)
    assert not v.ok, v
    assert v.missing == missing, v
    assert v.fix_line.split() == ["::1", *NAMES], v.fix_line


@pytest.mark.parametrize("name", ["gai.conf-full-story", "gai.conf-full-spacing-comments"])
def test_gai_full(name):
    v = rf.check_gai_conf(text(name), LABELS)
    assert v.ok, v
    assert not v.missing, v


@pytest.mark.parametrize(("name", "n_missing", "active"), [
    ("gai.conf-empty", 9, 0),
    ("gai.conf-partial", 6, 3),
    ("gai.conf-debian12-commented", 9, 0),  # every label line is a comment
])
def test_gai_missing(name, n_missing, active):
    v = rf.check_gai_conf(text(name), LABELS)
    assert not v.ok, v
    assert len(v.missing) == n_missing, v
    assert v.labels_in_file == active, v
    assert v.missing[-1] == "label ::ffff:7f00:0001/128 8", "reported as knowledge.yml writes it"
