"""Waiver file parsing and matching.

Why: a waiver hides a failure from the exit status, so the file is strict (required
justification, real dates, no unknown keys) and every error names the file, the entry and the key.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from se_dualstack import waivers

GOOD = """
- check: dns-aaaa
  hosts: "disk*.example.org"
  justification: >
    AAAA pending
    at the NREN
  expires: 2026-12-31
- check: firewall-parity
  hosts: [head.example.org, "se-?.example.org"]
  justification: retiring
  expires: "2027-01-15"
"""


def test_parse_good_file() -> None:
    ws = waivers.parse(GOOD, "w.yml")
    assert ws[0] == waivers.Waiver(1, "dns-aaaa", ("disk*.example.org",), "AAAA pending at the NREN",
                                   date(2026, 12, 31)), ws[0]
    assert ws[1].hosts == ("head.example.org", "se-?.example.org"), "a list of globs is accepted"
    assert ws[1].expires == date(2027, 1, 15), "quoted dates are accepted too"
    assert waivers.parse("", "w.yml") == [], "an empty file waives nothing"


def test_matching_is_exact_on_check_and_glob_on_host() -> None:
    w = waivers.parse(GOOD, "w.yml")[0]
    assert w.matches("dns-aaaa", "disk12.example.org"), "glob"
    assert w.matches("dns-aaaa", "DISK3.Example.ORG"), "host names are case-insensitive"
    assert not w.matches("dns-aaaa", "head.example.org"), "other host"
    assert not w.matches("dns-aaaa-ptr", "disk1.example.org"), "check ids are exact"
    assert not w.matches("dns-aaaa", None), "no host, no match"


def test_expiry_is_inclusive() -> None:
    w = waivers.parse(GOOD, "w.yml")[0]
    assert not w.expired(date(2026, 12, 31)), "valid on its expiry date"
    assert w.expired(date(2027, 1, 1)), "expired the day after"


def test_find_prefers_a_valid_waiver_and_reports_the_latest_expired() -> None:
    ws = waivers.parse("""
- {check: c, hosts: "*", justification: a, expires: 2020-01-01}
- {check: c, hosts: "*", justification: b, expires: 2021-01-01}
- {check: c, hosts: "h1", justification: c, expires: 2030-01-01}
""", "w.yml")
    valid, expired = waivers.find(ws, "c", "h1", date(2025, 1, 1))
    assert valid is not None, "the unexpired h1 waiver applies"
    assert valid.justification == "c", valid
    valid, expired = waivers.find(ws, "c", "h2", date(2025, 1, 1))
    assert valid is None, f"only expired waivers match h2: {valid}"
    assert expired is not None, "the expired match is reported"
    assert expired.expires == date(2021, 1, 1), f"the latest expired one is named: {expired}"


@pytest.mark.parametrize(("text", "message"), [
    ("[unclosed", "waiver file w.yml: not valid YAML at line 1"),
    ("{check: x}", "waiver file w.yml: expected a YAML list of waivers, got dict"),
    ("- just a string", "waiver file w.yml: entry 1: expected a mapping"),
    ("- {hosts: '*', justification: j, expires: 2026-01-01}", "entry 1: key 'check': missing or empty"),
    ("- {check: c, justification: j, expires: 2026-01-01}", "entry 1: key 'hosts': missing or empty"),
    ("- {check: c, hosts: '*', justification: '  ', expires: 2026-01-01}",
     "entry 1: key 'justification': must be a non-empty text"),
    ("- {check: c, hosts: '*', justification: j}", "entry 1: key 'expires': missing or empty"),
    ("- {check: c, hosts: '*', justification: j, expires: 2026-02-30}",
     "entry 1: key 'expires': not a valid date: '2026-02-30'"),
    ("- {check: c, hosts: '*', justification: j, expires: 31.12.2026}",
     "entry 1: key 'expires': must be a date YYYY-MM-DD, got '31.12.2026'"),
    ("- {check: c, hosts: '*', justification: j, expires: '2026-02-30'}",
     "entry 1: key 'expires': not a valid date: '2026-02-30'"),
    ("- {check: c, hosts: '*', justification: j, expires: 2026-02-01 10:00:00}",
     "entry 1: key 'expires': must be a date YYYY-MM-DD, got '2026-02-01 10:00:00'"),
    ("- {check: c, hosts: [], justification: j, expires: 2026-01-01}", "entry 1: key 'hosts': must be"),
    ("- {check: c, hosts: [1], justification: j, expires: 2026-01-01}", "entry 1: key 'hosts': must be"),
    ("- {check: c, hosts: '*', justification: j, expires: 2026-01-01, owner: me}",
     "entry 1: key 'owner': unknown key"),
    ("- {check: [c], hosts: '*', justification: j, expires: 2026-01-01}", "entry 1: key 'check': must be"),
])
def test_malformed_entries_name_file_entry_and_key(text: str, message: str) -> None:
    with pytest.raises(waivers.WaiverFileError) as err:
        waivers.parse(text, "w.yml")
    assert message in str(err.value), f"{message!r} not in {err.value}"
    assert "\n" not in str(err.value), "one line"


def test_unknown_check_id_is_an_error_when_the_catalogue_is_known() -> None:
    text = "- {check: dns-aaa, hosts: '*', justification: j, expires: 2026-01-01}"
    with pytest.raises(waivers.WaiverFileError, match="entry 1: key 'check': unknown check id 'dns-aaa'"):
        waivers.parse(text, "w.yml", known_checks={"dns-aaaa"})
    assert waivers.parse(text, "w.yml", known_checks=None), "without a catalogue any id is accepted"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(waivers.WaiverFileError, match=r"waiver file .*nope.yml: cannot read"):
        waivers.load(tmp_path / "nope.yml")
