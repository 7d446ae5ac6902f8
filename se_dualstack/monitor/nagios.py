"""The Nagios/Icinga/Checkmk probe: one status line, an exit code, performance data.

Why: ETF and EGI's ARGO run Nagios-style probes, and sites watch their services in Icinga or
Checkmk; a probe that reads the nightly result puts the SE's dual-stack state next to the rest.
Output as the monitoring-plugins guidelines define it: the first line ``SE6 <STATE> - <text> |
<perfdata>``, more lines of detail after it, perfdata as ``'label'=value[UOM];[warn];[crit];[min];[max]``.

States (decided here, documented in docs/nightly.md):

The state follows the run's own verdict (:class:`~se_dualstack.monitor.view.RunView`):

* OK (0): the run passed; waived failures are named in the text, as the report's verdict names
  them, and so are the items an IPv6-only suite machine could not run over IPv4 (its run exits 0:
  no SE host is at fault).
* WARNING (1): the run passed, but a waiver it applied expires within ``waiver_days`` (renew it or
  fix the check before it turns CRITICAL).
* CRITICAL (2): checks failed, or could not run because a host or a service did not answer (the
  suite's exit 1); an expired waiver's check fails, so it is CRITICAL too.
* UNKNOWN (3): no result file, a result older than ``max_age`` hours, a run that could not run
  its checks (exit 2-5: bad inventory, no credentials, no IPv6 on the suite machine,
  interrupted), or one whose report gives no result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from se_dualstack.monitor.view import RunView, view
from se_dualstack.reporting.causes import elsewhere
from se_dualstack.reporting.resultfile import ResultDoc

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
WAIVER_DAYS = 14  # a waiver expiring within this many days is a WARNING
MAX_IDS = 6  # check ids named on the status line
MAX_LINES = 40  # detail lines after it


@dataclass
class Probe:
    """A probe's answer: the state, its one-line text, detail lines, performance data."""

    state: int
    text: str
    details: list[str] = field(default_factory=list)
    perfdata: list[str] = field(default_factory=list)

    def render(self) -> str:
        perf = f" | {' '.join(self.perfdata)}" if self.perfdata else ""
        first = f"SE6 {STATES[self.state]} - {' '.join(self.text.split())}{perf}"
        return "\n".join([first, *(" ".join(d.split()) for d in self.details[:MAX_LINES])]) + "\n"


def perf(label: str, value: float, uom: str = "", warn: str = "", crit: str = "",
         minimum: float | None = 0, maximum: float | None = None) -> str:
    """One perfdata item; the label quoted (a quote in it doubled), trailing empty fields cut."""
    number = f"{value:.6g}" if isinstance(value, float) else str(value)
    fields = [f"'{label.replace(chr(39), chr(39) * 2)}'={number}{uom}", warn, crit,
              "" if minimum is None else f"{minimum:g}", "" if maximum is None else f"{maximum:g}"]
    while len(fields) > 1 and fields[-1] == "":
        fields.pop()
    return ";".join(fields)


def perfdata(v: RunView, age_s: float | None, max_age_h: float | None) -> list[str]:
    """Counts (the run's and per concern), the median latency of each transfer step, the
    duration and age of the run."""
    c = v.counts
    here = sum(r.failed and elsewhere(r) for r in v.rows)  # the suite machine's own could-not-runs
    out = [perf("checks_failed", c.failed - c.could_not_run, crit="0"),
           perf("checks_could_not_run", c.could_not_run - here, crit="0"),
           perf("checks_passed", c.passed), perf("checks_waived", c.waived),
           perf("checks_not_applicable", c.not_applicable)]
    if here:
        out.append(perf("checks_not_run_here", here))
    for concern in v.matrix.concerns:
        cells = [v.matrix.cell(h, concern) for h in v.hosts]
        for what in ("failed", "could_not_run", "passed"):
            n = sum(getattr(cell, what) for cell in cells if cell is not None)
            out.append(perf(f"{concern}_{what}", n, crit="0" if what != "passed" else ""))
    for (protocol, family, auth, step), seconds in sorted(v.latencies.items()):
        cred = "" if auth == "x509" else f"_{auth}"
        out.append(perf(f"{protocol}_ipv{family}{cred}_{step}", round(seconds, 6), "s"))
    out.append(perf("duration", round(v.doc.duration, 1), "s"))
    if age_s is not None:
        crit = f"{max_age_h * 3600:g}" if max_age_h else ""
        out.append(perf("age", round(age_s), "s", crit=crit))
    return out


def expiring(v: RunView, today: date, days: int) -> list[str]:
    """The waivers this run applied that expire within ``days`` (``SE6-X on host on 2026-12-20``)."""
    out = []
    for r in v.rows:
        w = r.waiver
        if r.waived and w is not None:
            try:
                until = date.fromisoformat(w.expires)
            except ValueError:
                continue
            if until - today <= timedelta(days=days):
                out.append(f"{r.check} on {r.host} on {w.expires}")
    return list(dict.fromkeys(out))


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _ids(records: list, limit: int = MAX_IDS) -> str:
    ids = list(dict.fromkeys(r.check or r.test for r in records))
    more = f", +{len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def probe(doc: ResultDoc | None, now: datetime, max_age_h: float | None = None,
          waiver_days: int = WAIVER_DAYS, missing: str = "no result file") -> Probe:
    """The probe's answer for the newest result (``doc``; None: ``missing`` says why)."""
    if doc is None:
        return Probe(UNKNOWN, missing)
    v = view(doc)
    site, finished = doc.site, v.finished()
    age = (now - finished).total_seconds() if finished is not None else None
    perf_items = perfdata(v, age, max_age_h)
    where = [f"result {doc.path or '-'} of the run started {doc.started} (suite {doc.suite_version}"
             f"{'; partial: ' + '; '.join(doc.partial) if doc.partial else ''})"]
    if max_age_h is not None and (age is None or age > max_age_h * 3600):
        old = f"{age / 3600:.1f} h old" if age is not None else "of unknown age"
        return Probe(UNKNOWN, f"{site}: the newest result is {old} (finished {doc.finished}; "
                              f"--max-age {max_age_h:g} h): the nightly run did not run", where, perf_items)
    if doc.exit_category == "could-not-run":
        seen = f"; {v.failed_only} checks failed before it stopped" if v.failed_only else ""
        return Probe(UNKNOWN, f"{site}: the suite could not run its checks (exit {doc.exit_status}: "
                              f"{doc.exit_detail}){seen}", where, perf_items)
    if not v.rows:
        return Probe(UNKNOWN, f"{site}: no check ran (exit {doc.exit_status})", where, perf_items)
    c = v.counts
    details = [f"root cause: {cause.line()}" for cause in v.causes]
    details += [f"{r.check or r.test} {r.host}: {r.message}" for r in v.loose]
    waived = [f"{r.check} on {r.host} until {r.waiver.expires if r.waiver else '?'}"
              for r in v.rows if r.waived]
    if v.kind == "fail":
        what = f"{_n(v.failed_only, 'check')} failed" if v.failed_only else ""
        if c.could_not_run:
            what += f"{' and ' if what else ''}{c.could_not_run} could not run"
        at = f" on {', '.join(v.at_fault)}" if v.at_fault else ""
        failing = [r for r in v.rows if r.failed]
        causes = "; ".join(cause.line() for cause in v.causes)
        return Probe(CRITICAL, f"{site}: {what}{at}: {_ids(failing)}"
                               + (f"; root cause: {causes}" if causes else ""),
                     details + where, perf_items)
    if v.kind == "skip":  # the report's NO RESULT: e.g. the suite machine could not prove IPv6
        return Probe(UNKNOWN, f"{site}: {v.verdict}", details + where, perf_items)
    na = f" ({c.not_applicable} not applicable)" if c.not_applicable else ""
    text = f"{site}: all {c.passed} applicable checks passed on {len(v.hosts)} hosts{na}"
    if v.causes:  # only the suite machine's own (an IPv6-only client's IPv4 items), as the verdict says
        text += "; " + "; ".join(cause.line() for cause in v.causes)
    if waived:
        text += f"; {len(waived)} waived: {'; '.join(waived)}"
    soon = expiring(v, now.date(), waiver_days)
    if soon:
        return Probe(WARNING, f"{text}; waiver expiring within {waiver_days} days: {'; '.join(soon)}",
                     where, perf_items)
    return Probe(OK, text, where, perf_items)

