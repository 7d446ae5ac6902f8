"""Resolver files of the seed story: the ::1 line in /etc/hosts; gai.conf's label table on SL6."""

from __future__ import annotations

import pytest

from se_dualstack import knowledge
from se_dualstack.concerns import resolver as resolverfiles
from se_dualstack.facts import os_family, read_file

pytestmark = pytest.mark.resolver


@pytest.mark.check("SE6-RES-01")
def test_hosts_ipv6_localhost(se_host, host, check):
    address, names = knowledge.hosts_ipv6_localhost()
    text = read_file(host, "/etc/hosts") or ""
    v = resolverfiles.check_hosts(text, address, names)
    check.expect(v.ok, f"{address} for {' '.join(names)} in /etc/hosts",
                  f"{v.observed} (missing: {' '.join(v.missing)})", line=knowledge.hosts_line())


@pytest.mark.check("SE6-RES-02")
def test_gai_conf_label_table(se_host, host, check):
    fam = os_family(se_host)
    if not knowledge.needs_gai_conf(fam):
        check.not_applicable(f"the gai.conf label table is needed on SL6/EL6 only; this host runs "
                              f"{fam or 'an undetected OS'}")
    required = knowledge.gai_labels()
    text = read_file(host, "/etc/gai.conf")
    v = resolverfiles.check_gai_conf(text or "", required)
    where = "/etc/gai.conf does not exist" if text is None else (
        f"/etc/gai.conf has {v.labels_in_file} active label line(s)")
    check.expect(v.ok, f"all {len(required)} label lines of the table in /etc/gai.conf",
                  f"{where}; missing {len(v.missing)}: " + " | ".join(v.missing),
                  lines=" | ".join(v.missing))
