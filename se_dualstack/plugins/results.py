"""The result file per run, ``<site>-latest.json``, and the ``--baseline`` comparison.

The file sits next to the HTML report as ``<site>-<UTC start>.json`` and is also copied to
``<site>-latest.json`` so a nightly job can always compare against "the previous run" by a
stable name. Under xdist everything it needs travels on the reports (see :mod:`.tags`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from se_dualstack import compare
from se_dualstack.plugins.state import State, is_worker, state_of
from se_dualstack.reporting import resultfile

# This module works alone (``-p se_dualstack.plugins.results``) on the state and tags it needs.
pytest_plugins = ["se_dualstack.plugins.state", "se_dualstack.plugins.tags"]


STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
STAMP_RE = re.compile(r"^(?P<site>.+)-(?P<stamp>\d{8}T\d{6}Z)(?:-\d+)?$")  # -2: same second


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("se-results", "se-dualstack result file and comparison")
    group.addoption("--results-dir", default=None, metavar="DIR",
                    help="where <site>-<start>.json and <site>-latest.json go, and the HTML and "
                         "JUnit reports unless --html says otherwise (default: the HTML report's "
                         "directory, else reports/ under the rootdir)")
    group.addoption("--baseline", default=None, metavar="FILE",
                    help="result file of an earlier run; at the end write <site>-<start>-compare.{html,txt} "
                         "(reports/<site>-latest.json works: it is read before this run replaces it)")
    group.addoption("--compare-threshold", type=float, default=compare.DEFAULT_THRESHOLD, metavar="F",
                    help="relative transfer throughput change reported by --baseline (default 0.2)")


def pytest_configure(config: pytest.Config) -> None:
    """Load the baseline now, so a bad baseline stops the run before any check runs."""
    if is_worker(config):
        return
    st = state_of(config)
    if not config.pluginmanager.has_plugin("se_dualstack_results"):
        config.pluginmanager.register(ResultWriter(config, st), "se_dualstack_results")
    path = config.getoption("baseline", None)
    if path:
        try:
            st.baseline = compare.load(path)
        except compare.ResultFileError as exc:
            raise pytest.UsageError(f"--baseline {path}: {exc}") from None
        st.baseline_path = str(path)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "site"


def _output_dir_and_stem(config: pytest.Config, site_name: str, st: State) -> tuple[Path, str]:
    """Next to the HTML report, with its stem when it is already ``<site>-<stamp>``."""
    html = getattr(config.option, "htmlpath", None)
    chosen = config.getoption("results_dir", None)
    stem = f"{_safe(site_name)}-{st.started.astimezone(timezone.utc).strftime(STAMP_FORMAT)}"
    if st.report_base is not None:
        stem = st.report_base.name
    if chosen:
        return Path(chosen), (stem if st.report_base is not None else
                              resultfile.claim_stem(Path(chosen), stem, ".json"))
    if html:
        html_path = Path(html)
        if not html_path.is_absolute():
            html_path = Path(config.invocation_params.dir) / html_path
        if STAMP_RE.match(html_path.stem) or st.report_base is not None:
            stem = html_path.stem
        return html_path.parent, stem
    return config.rootpath / "reports", resultfile.claim_stem(config.rootpath / "reports", stem, ".json")


def wants_results(config: pytest.Config, st: State) -> bool:
    """A site run (a Site, or checks with ids) or an explicit request; not the project's selftests."""
    if config.getoption("collectonly", False):
        return False
    if config.getoption("results_dir", None) or st.baseline is not None or st.site is not None:
        return True
    return any(rec["check"] for rec in st.records.values())


def write_results(config: pytest.Config, st: State, exitstatus: int) -> None:
    """Write ``<site>-<start>.json`` and ``<site>-latest.json``, then the baseline comparison."""
    if not wants_results(config, st):
        return
    inventory = getattr(st.site, "inventory_path", None) or st.inventory
    workers = getattr(config.option, "numprocesses", None)
    doc = resultfile.build_document(
        site=st.site, inventory=inventory, started=st.started.astimezone(timezone.utc).replace(microsecond=0),
        finished=datetime.now(timezone.utc).replace(microsecond=0), records=st.records,
        hostinfo=st.hostinfo, exitstatus=exitstatus,
        args=[str(a) for a in config.invocation_params.args],
        workers=workers if isinstance(workers, int) else 0,
        collection_errors=st.collection_errors, waivers=st.waiver_meta)
    out_dir, stem = _output_dir_and_stem(config, doc["site"], st)
    html_path, txt_path = out_dir / f"{stem}-compare.html", out_dir / f"{stem}-compare.txt"
    if st.baseline is not None:
        threshold = config.getoption("compare_threshold", compare.DEFAULT_THRESHOLD)
        st.comparison = compare.compare(st.baseline, doc, threshold=threshold)
        doc["baseline"] = {"path": st.baseline_path, "started": st.baseline.get("started"),
                           "regressions": len(st.comparison.regressions),
                           "fixed": len(st.comparison.fixed),
                           "report_html": str(html_path), "report_text": str(txt_path)}
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    st.json_path = out_dir / f"{stem}.json"
    st.latest_path = out_dir / f"{_safe(doc['site'])}-latest.json"
    try:
        resultfile.write_atomic(st.json_path, text)
        # "latest" is the baseline of the next run: only runs that ran their checks replace it.
        if doc["exit_category"] != "could-not-run":
            resultfile.write_atomic(st.latest_path, text)
        else:
            st.latest_path = None
        if st.comparison is not None:
            resultfile.write_atomic(html_path, compare.render_html(st.comparison))
            resultfile.write_atomic(txt_path, compare.render_text(st.comparison))
            st.compare_paths = [html_path, txt_path]
    except OSError as exc:
        st.write_error = f"could not write result file in {out_dir}: {exc}"


def print_summary(tr: Any, st: State) -> None:
    """Say where the result file went and, with --baseline, what regressed."""
    if st.write_error:
        tr.write_line(f"se-dualstack: {st.write_error}", red=True)
        return
    if st.json_path is None:
        return
    tr.write_sep("-", "se-dualstack results")
    also = (f"also {st.latest_path.name}" if st.latest_path is not None
            else "the run could not run its checks: the latest file was left as it was")
    tr.write_line(f"result file: {st.json_path} ({also})")
    comp = st.comparison
    if comp is not None:
        tr.write_line(f"compared with {st.baseline_path}: {comp.summary_line()}",
                      red=bool(comp.regressions), green=not comp.regressions)
        for line in compare.regression_lines(comp)[:20]:
            tr.write_line(f"  {line}", red=True)
        for path in st.compare_paths:
            tr.write_line(f"comparison: {path}")


class ResultWriter:
    """Controller side: writes the files at the end and says where they went."""

    def __init__(self, config: pytest.Config, state: State) -> None:
        self.config = config
        self.state = state

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # session.exitstatus, not the hook argument: an earlier sessionfinish hook may have set
        # the final status (e.g. the transfers plugin's "could not run: no credentials", exit 4).
        write_results(self.config, self.state, int(session.exitstatus))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        print_summary(terminalreporter, self.state)
