"""Typed records: made once where a report is folded, carried by xdist as plain dicts, written to
and read from the result file (this version's format and the previous one's).

Why: every renderer reads these; a field lost on the way (xdist, JSON) or read differently by
the comparison would make the report, the result file and the terminal disagree.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from se_dualstack.model import PortRange, SEHost, Site
from se_dualstack.reporting import resultfile
from se_dualstack.reporting.records import HostFacts, Record, Tag, TransferRow, WaiverNote
from se_dualstack.transfer.evidence import Connection
from se_dualstack.transfer.outcome import Step, TransferResult
from se_dualstack.transfer.stats import figures, row


def result(address: str, landed: str, connections: list[Connection]) -> TransferResult:
    r = TransferResult("head.example.test-root-ipv6-via-disk02", "root", 6, 2**20,
                       steps=[Step("upload", "passed", 0.5, nbytes=2**20), Step("stat", "passed", 0.1)],
                       connections=connections, endpoint="head.example.test", address=address,
                       landed=landed)
    return r


def test_a_row_keeps_the_data_steps_that_passed() -> None:
    r = row(result("fd42:6::10", "[fd42:6::12]:1094", []))
    assert r.steps == {"upload": (0.5, 2**20)}, "data steps only, as (seconds, bytes)"
    assert (r.address, r.landed, r.auth, r.ok) == ("fd42:6::10", "[fd42:6::12]:1094", "x509", True)


def test_a_reused_entry_connection_does_not_hide_the_entry_address() -> None:
    """The report showed "-" (or the disk's address) for the head node's IPv6 root rows: the warm
    worker's XRootD channel to the redirector was open already, so the only new connection was to
    the disk node the redirect landed on."""
    landed_only = result("fd42:6::12", "", [Connection(6, "fd42:6::12", 1094, "shim")])
    r = row(landed_only, entry_address="fd42:6::10")
    assert (r.address, r.landed) == ("fd42:6::10", "[fd42:6::12]:1094"), r
    nothing_new = row(result("", "", []), entry_address="fd42:6::10")
    assert (nothing_new.address, nothing_new.landed) == ("fd42:6::10", ""), nothing_new
    fresh = row(result("fd42:6::10", "[fd42:6::11]:1094", []), entry_address="fd42:6::10")
    assert (fresh.address, fresh.landed) == ("fd42:6::10", "[fd42:6::11]:1094"), "observed: kept"


def test_a_tag_survives_the_trip_through_xdist() -> None:
    """xdist carries a report's plain attributes: the tag goes as a dict and comes back whole."""
    tag = Tag(check="SE6-XFER-01", host="disk02.example.test", through="head.example.test",
              concern="transfer", message="m", could_not_run=False, detail={"expected": "e"},
              waiver=WaiverNote(1, "SE6-XFER-01", ["disk02.*"], "ticket 9", "2099-01-01", "w.yml"),
              facts={"head.example.test": HostFacts(role="headnode", firewall="iptables-nft")},
              transfers=[TransferRow("c", "root", 6, ok=True, steps={"upload": (0.5, 10)})],
              no_credentials="")
    wire = json.loads(json.dumps(tag.to_dict()))
    assert Tag.from_dict(wire) == tag, wire


def test_host_facts_merge_keeps_what_is_known() -> None:
    f = HostFacts(role="disknode", firewall="nftables")
    f.merge(HostFacts(detected_os="el9"))
    assert f == HostFacts(role="disknode", detected_os="el9", firewall="nftables"), f


def test_the_result_file_round_trips_and_reads_the_previous_format() -> None:
    rec = Record("t.py::x[h1]", test="x", check="SE6-XFER-01", host="h1", outcome="failed",
                 concern="transfer", fix="do it", through="h0", cause="unreachable:h1",
                 transfers=[TransferRow("c", "davs", 4, ok=True, steps={"upload": (2.0, 400_000_000)})])
    site = Site("s", "dpm", "inv.yml", [SEHost("h1", "disknode", {"se_os": "el9"}, [], PortRange(1, 2))], {})
    t = datetime(2026, 12, 3, tzinfo=timezone.utc)
    doc = resultfile.build(site=site, inventory=None, started=t, finished=t, records={rec.nodeid: rec},
                           hosts={"h1": HostFacts(firewall="nftables")}, exitstatus=1, args=[],
                           workers=0, collection_errors=[], waivers=None)
    back = resultfile.ResultDoc.from_dict(json.loads(doc.to_json()))
    assert back.records == [rec], back.records
    assert back.hosts == [{"name": "h1", "role": "disknode", "os": "el9", "os_source": "declared",
                           "firewall": "nftables"}], back.hosts
    old = {"nodeid": "t.py::x[h1]", "check": "SE6-XFER-01", "host": "h1", "outcome": "passed",
           "message": "", "duration": 0.1, "waiver": None,
           "transfer": [{"protocol": "davs", "family": 4, "direction": "upload", "bytes": 400_000_000,
                         "seconds": 2.0, "runs": 1}]}
    v1 = Record.from_dict(old)
    assert figures(v1.transfers) == figures(rec.transfers) == {"davs/4/upload": 200.0}, "same figure"
