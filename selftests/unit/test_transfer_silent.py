"""A service that does not answer is one root cause; each transfer failure's fix follows its
evidence (issue 20 item 4).

Why unit tests here: which endpoint a timed-out transfer waited for, which later transfers it
keeps back, and which fix a failure's evidence points to are decisions on plain data (cases,
steps, the connections a worker was seen to make); the testbed test
(test_transfers_testbed.py) stops a real xrootd and checks the run as a whole.
"""

from __future__ import annotations

import threading
from pathlib import Path

from se_dualstack.reporting.causes import root_causes
from se_dualstack.reporting.resultfile import read
from se_dualstack.transfer.cases import Endpoint, TpcCase, TransferCase, TransferSettings
from se_dualstack.transfer.evidence import Connection
from se_dualstack.transfer.outcome import Step, TransferResult, evidence_fix
from se_dualstack.transfer.session import Silence, SilentEndpoints, TransferSession
from se_dualstack.transfer.worker import WorkerPool

HEAD, D1, D2 = "head.example.test", "disk01.example.test", "disk02.example.test"
HEAD6, D16 = "fd42:6::10", "fd42:6::11"
STOPPED = next((Path(__file__).parent / "data" / "results" / "xrootd-stopped").glob("*.json"))


def case(protocol: str = "root", family: int = 6, entry: str = D1, target: str = D1,
         port: int = 1094, auth: str = "x509") -> TransferCase:
    ep = Endpoint(protocol, entry, port, "/store/x/se6")
    return TransferCase(protocol, family, entry, target, ep, auth)


def tpc(protocol: str = "root") -> TpcCase:
    return TpcCase(protocol, 6, Endpoint(protocol, "disk01-v6.example.test", 1094, "/store/d1/se6"),
                   Endpoint(protocol, "disk02-v6.example.test", 1094, "/store/d2/se6"), D1, D2, True)


def result(c: TransferCase, status: str = "timeout", seconds: float = 10.0, error: str = "",
           conns: tuple[Connection, ...] = (), ok: bool = False) -> TransferResult:
    r = TransferResult(c.id, c.protocol, c.family, 2**20, auth=c.auth, deadline=10.0)
    r.steps = [Step("list", "passed" if ok else status, seconds, error=error)]
    r.connections = list(conns)
    return r


def session(resolve: dict[str, list[str]] | None = None) -> TransferSession:
    settings = TransferSettings(timeout=10)
    sess = TransferSession(settings=settings, shim=None, shim_note="",  # no worker is ever started
                           workers={"x509": WorkerPool(settings, None)}, workdir="/nonexistent",
                           proxy_problem=None)
    sess.services = {(D1, 1094): ["xrootd"], (D1, 443): ["https"], (HEAD, 1094): ["xrootd"],
                     (D2, 1095): ["xrootd", "https"]}  # XrdHttp on the xrd.port
    sess.resolve = (lambda name, fam: (resolve or {}).get(name, []))
    return sess


def test_the_first_mark_of_an_endpoint_stays_and_is_read_across_threads() -> None:
    silent = SilentEndpoints()
    first = Silence(D1, 1094, 6, "xrootd", "a", 10.0)
    marks = []
    threads = [threading.Thread(target=lambda i=i: marks.append(
        silent.mark(Silence(D1, 1094, 6, "xrootd", f"case{i}", 10.0)))) for i in range(8)]
    silent.mark(first)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {m.case for m in marks} == {"a"}, "the first transfer that waited names the cause"
    assert first.cause == f"silent:{D1}|xrootd"
    assert first.reason() == (f"not tried: xrootd on {D1} (port 1094) did not answer over IPv6 "
                              "within 10 s in transfer a")


def test_a_silent_endpoint_keeps_back_what_goes_to_it_and_nothing_else() -> None:
    silent = SilentEndpoints()
    silent.mark(Silence(D1, 1094, 6, "xrootd", "a", 10.0))
    assert silent.blocking(case()) is not None, "the same endpoint"
    assert silent.blocking(case(auth="token")) is not None, "whatever the credential"
    assert silent.blocking(case(family=4)) is None, "the other family is another endpoint"
    assert silent.blocking(case("davs", port=443)) is None, "another port of the host"
    assert silent.blocking(case("gsiftp", port=2811, entry=D2, target=D2)) is None, "another host"
    assert silent.blocking(case(entry=HEAD, target=D1)) is not None, "redirected to the silent host"
    assert silent.blocking(case(entry=HEAD, target=D1, family=4)) is None
    assert silent.blocking(tpc()) is not None, "a third-party copy from it"


def test_where_a_timed_out_transfer_waited() -> None:
    sess = session({HEAD: [HEAD6]})
    direct = case()
    assert sess.where(direct, result(direct)) == (D1, 1094), "a direct transfer: its own endpoint"
    via = case(entry=HEAD, target=D1)
    landed = (Connection(6, HEAD6, 1094, "proc"), Connection(6, D16, 1094, "proc"))
    assert sess.where(via, result(via, conns=landed)) == (D1, 1094), "the redirect's landing"
    stuck = (Connection(6, HEAD6, 1094, "proc"),)
    assert sess.where(via, result(via, conns=stuck)) == (HEAD, 1094), "the entry did not answer"
    warm = (Connection(6, D16, 1094, "proc"),)  # the worker's channel to the head was already open
    assert sess.where(via, result(via, conns=warm)) == (D1, 1094), "not the entry's address: the landing"
    refused = (Connection(6, HEAD6, 443, "shim"), Connection(6, D16, 443, "shim", error="Connection refused"))
    assert sess.where(case("davs", entry=HEAD, port=443), result(via, "failed", 0.1, conns=refused)) == (
        D1, 443), "a connection that failed points at itself"


def test_a_timeout_marks_its_endpoint_and_the_next_transfer_is_not_tried() -> None:
    sess = session()
    first = case()
    r = result(first, conns=(Connection(6, D16, 1094, "proc"),))
    sess._after(first, r)
    assert (r.cause, r.fault_host) == (f"silent:{D1}|xrootd", D1)
    kept = sess._run_case(case(entry=HEAD, target=D1), sess.workers["x509"])
    assert [(x.could_not_run, x.cause, x.fault_host) for x in kept] == [(True, f"silent:{D1}|xrootd", D1)]
    assert kept[0].error_summary().startswith(f"not tried: xrootd on {D1} (port 1094) did not answer")
    assert kept[0].fix.startswith(f"Make xrootd (port 1094) on {D1} answer again"), kept[0].fix


def test_a_port_two_services_share_is_named_by_the_protocol_that_failed() -> None:
    """An XRootD data server serves xroot and HTTPS (XrdHttp) on one xrd.port: a root timeout
    there names xrootd, a davs one https, in the root cause and in the fix."""
    sess = session()
    for protocol, service in (("root", "xrootd"), ("davs", "https")):
        c = case(protocol, entry=D2, target=D2, port=1095)
        r = result(c, conns=(Connection(6, "fd42:6::12", 1095, "proc"),))
        sess._after(c, r)
        assert r.cause == f"silent:{D2}|{service}", (protocol, r.cause)
        assert sess._fix(c, r).startswith(f"{service} (port 1095) on {D2} did not answer"), sess._fix(c, r)
        sess.silent = SilentEndpoints()


def test_a_failure_the_client_gave_up_on_at_the_deadline_is_a_timeout() -> None:
    c = case()
    r = result(c, "failed", 9.95, "Failed to stat file (Stale file handle)")
    assert r.timed_out, "XRootD's own request timeout fires just before the worker is killed"
    assert r.error_summary() == ("step list got no answer within the 10 s deadline (the client gave up "
                                 "after 9.95 s: Failed to stat file (Stale file handle))")
    assert not result(c, "failed", 0.3, "Connection refused").timed_out
    killed = result(c, "timeout", 10.1, "no answer within 10 s: worker pid 7 killed")
    assert killed.error_summary() == (
        "step list timed out after 10.10 s: no answer within 10 s: worker pid 7 killed")


def test_each_fix_follows_its_evidence() -> None:
    c6, c4 = case(), case(family=4)
    hung6, hung4 = result(c6), result(c4)
    ok4 = result(c4, ok=True)
    assert "the IPv4 transfer failed too: the service itself is stopped, hung" in evidence_fix(
        hung6, D1, 1094, "xrootd", [hung4])
    assert "over IPv6 only (IPv4 passed): something on the IPv6 path drops port 1094" in evidence_fix(
        hung6, D1, 1094, "xrootd", [ok4])
    refused6 = result(c6, "failed", 0.1, "Connection refused")
    refused4 = result(c4, "failed", 0.1, "Connection refused")
    both = evidence_fix(refused6, D1, 1094, "xrootd", [refused4])
    assert both.startswith(f"root fails over IPv6 and IPv4 to {D1}: the service"), both
    one = evidence_fix(refused6, D1, 1094, "xrootd", [ok4])
    assert one.startswith(f"Only IPv6 fails (IPv4 to the same endpoint passed): check {D1}'s AAAA"), one
    assert "IPv4 transfer of the same endpoint tells" in evidence_fix(refused6, D1, 1094, "xrootd", None)
    for words in ("[3010] Unable to open /store/x; not authorized", "Result HTTP 403 : Permission refused"):
        fix = evidence_fix(result(c6, "failed", 0.2, words), D1, 1094, "xrootd", [refused4])
        assert fix.startswith(f"{D1} refused the grid proxy (X.509)"), fix
    denied6 = result(c6, "failed", 1.5, "Failed to create directory root://h//store (Permission denied)")
    denied6.landed = "[fd42:6::11]:33115"
    fix = evidence_fix(denied6, D1, 1094, "xrootd", [ok4])
    assert fix.startswith("Not the credential: IPv4 to the same endpoint passed with it. Look for a "
                          f"firewall rejecting [fd42:6::11]:33115 on {D1} over IPv6"), fix
    fix = evidence_fix(denied6, D1, 1094, "xrootd", None)
    assert fix.startswith(f"{D1} refused the grid proxy"), fix
    assert "Or, if the IPv4 transfer passes" in fix, "a redirect that landed: the firewall is named too"
    for fix in (both, one, evidence_fix(hung6, D1, 1094, "xrootd", [hung4])):
        assert "proxy" not in fix, "no credential advice without a server's refusal"
    expired = TransferResult("x", "root", 6, 1, precondition="grid proxy expired")
    assert evidence_fix(expired, D1, 1094, "xrootd", None).startswith("Fix the credential the failure names")


def test_a_stopped_service_is_one_line_for_its_host() -> None:
    """From the run with disk01's xrootd stopped (SIGSTOP): 443 and 1094 are one process."""
    doc = read(STOPPED)
    causes, loose = root_causes(doc.records)
    assert loose == [], [r.nodeid for r in loose]
    assert [c.line() for c in causes] == [
        f"{D1}: https and xrootd did not answer over IPv6 and IPv4: 5 transfers timed out waiting "
        "for them; 5 could not run (not tried: no second wait)"]
    assert {r.host for r in causes[0].records} == {D1}
    assert sum(r.could_not_run for r in doc.records) == 5


def test_a_silent_endpoint_keeps_back_redirect_chains_too() -> None:
    """A redirect chain (SE6-XFER-03) is kept back by a silent entry point, or by its target's
    silent endpoint of the family (where the redirect lands is known only once followed); a chain
    that timed out marks the endpoint under the same cause as a transfer would."""
    from se_dualstack.transfer.hops.cases import ChainCase

    def chain(family: int = 6, entry: str = HEAD, target: str = D1) -> ChainCase:
        return ChainCase("root", family, entry, 1094, target, "/store/x/se6")

    sess = session()
    m = sess.mark_silent(chain(), D1, 1094, 10.0)
    assert (m.cause, m.service, m.case) == (f"silent:{D1}|xrootd", "xrootd", chain().id)
    assert sess.silent.blocking(chain()) is m, "its target is silent over IPv6"
    assert sess.silent.blocking(chain(4)) is None, "the other family is another endpoint"
    assert sess.silent.blocking(chain(target=D2)) is None, "another target through the same head"
    assert sess.silent.blocking(case()) is m, "the transfers to it are kept back as well"
    sess.mark_silent(chain(4), HEAD, 1094, 10.0)
    assert sess.silent.blocking(chain(4, target=D2)) is not None, "a silent entry point"
    assert m.fix("redirect chain") == (f"Make xrootd (port 1094) on {D1} answer again (the root cause "
                                       "above); this redirect chain was not tried, so as not to wait for "
                                       "it once more.")
