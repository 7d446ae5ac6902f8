"""``se-dualstack nagios | prometheus | history``: the monitoring outputs from result files.

Each reads one result file, or by default the newest night of a site under a reports directory
(``--reports DIR``, default ``reports/``; ``--site`` when it holds several sites): see
:mod:`se_dualstack.monitor.runs`. Registered by :mod:`se_dualstack.cli` (:func:`register`).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from se_dualstack import exitcodes
from se_dualstack.monitor import nagios, prometheus, runs
from se_dualstack.monitor.history import history_html
from se_dualstack.reporting.files import safe_name, write_atomic
from se_dualstack.reporting.resultfile import ResultDoc, ResultFileError, read

COMMANDS = ("nagios", "prometheus", "history")


def _source(p: argparse.ArgumentParser, result: bool = True) -> None:
    if result:
        p.add_argument("result", nargs="?", metavar="RESULT.json",
                       help="a result file (default: the newest night under --reports)")
    p.add_argument("--reports", default="reports", metavar="DIR",
                   help="the reports directory the nightly job writes to (default: reports)")
    p.add_argument("--site", metavar="NAME", help="the site (se_site), when DIR holds several")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the subcommands to ``se-dualstack``'s parser."""
    n = sub.add_parser("nagios", help="Nagios/Icinga/Checkmk probe over the newest result",
                       description="One status line and perfdata; exit 0 OK, 1 WARNING (a waiver "
                                   "expires soon), 2 CRITICAL (checks failed or could not run), "
                                   "3 UNKNOWN (no result, too old, the suite could not run).")
    _source(n)
    n.add_argument("--max-age", type=float, metavar="HOURS",
                   help="UNKNOWN when the newest result ended longer ago than this")
    n.add_argument("--waiver-days", type=int, default=nagios.WAIVER_DAYS, metavar="DAYS",
                   help=f"WARNING when a waiver expires within DAYS (default {nagios.WAIVER_DAYS})")
    p = sub.add_parser("prometheus", help="Prometheus textfile (node_exporter) of the newest results",
                       description="Write the exposition format for node_exporter's textfile "
                                   "collector: the newest night of each site under --reports.")
    _source(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.prom",
                   help="the file to write (a temporary file renamed over it)")
    h = sub.add_parser("history", help="one HTML page: checks x nights, failing since, flapping, "
                                       "IPv6/IPv4 latency")
    h.add_argument("reports_dir", metavar="DIR", help="the reports directory of the nightly job")
    h.add_argument("--site", metavar="NAME", help="the site (se_site), when DIR holds several")
    h.add_argument("-o", "--output", default=None, metavar="FILE.html",
                   help="where to write it (default: DIR/<site>-history.html)")
    h.add_argument("--nights", type=int, default=60, metavar="N", help="the last N nights (default 60)")


def run(args: argparse.Namespace) -> int:
    """Run the subcommand ``args.command``; returns the exit status."""
    if args.command == "nagios":
        return _nagios(args)
    try:
        if args.command == "prometheus":
            return _prometheus(args)
        return _history(args)
    except (runs.NoRuns, ResultFileError, OSError) as exc:
        print(f"se-dualstack {args.command}: {exc}", file=sys.stderr)
        return exitcodes.USAGE_ERROR


def _one(args: argparse.Namespace) -> ResultDoc:
    return read(args.result) if args.result else runs.newest(Path(args.reports), args.site)


def _nagios(args: argparse.Namespace) -> int:
    """Never a traceback: whatever goes wrong is UNKNOWN with one line, as probes must."""
    try:
        doc: ResultDoc | None = _one(args)
        missing = ""
    except (runs.NoRuns, ResultFileError, OSError) as exc:
        doc, missing = None, f"{args.result or args.reports}: {exc}"
    result = nagios.probe(doc, datetime.now(timezone.utc), args.max_age, args.waiver_days, missing)
    sys.stdout.write(result.render())
    return result.state


def _prometheus(args: argparse.Namespace) -> int:
    docs = [read(args.result)] if args.result else runs.newest_per_site(Path(args.reports), args.site)
    out = Path(args.output)
    write_atomic(out, prometheus.exposition(docs))
    print(f"se-dualstack prometheus: {out} ({', '.join(f'{d.site} {d.started}' for d in docs)})")
    return exitcodes.PASSED


def _history(args: argparse.Namespace) -> int:
    directory = Path(args.reports_dir)
    docs, skipped = runs.read_all(directory)
    nights = runs.nights(runs.of_site(docs, args.site, str(directory)))[-max(1, args.nights):]
    out = Path(args.output) if args.output else directory / f"{safe_name(nights[-1].site)}-history.html"
    write_atomic(out, history_html(nights, out.parent))
    for line in skipped:
        print(f"se-dualstack history: skipped {line}", file=sys.stderr)
    print(f"se-dualstack history: {out} ({len(nights)} nights of {nights[-1].site})")
    return exitcodes.PASSED
