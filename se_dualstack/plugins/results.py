"""The result file per run, ``<site>-latest.json``, and the ``--baseline`` comparison.

The file sits next to the HTML report as ``<site>-<UTC start>.json`` and is also copied to
``<site>-latest.json`` so a nightly job can always compare against "the previous run" by a
stable name. Under xdist everything it needs travels on the reports (see :mod:`.outcomes`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from se_dualstack import compare
from se_dualstack.plugins.state import State, is_worker, partial_selection, state_of
from se_dualstack.reporting import resultfile
from se_dualstack.reporting.files import STAMP_RE, claim_stem, latest_stem, safe_name, stamp, write_atomic

# This module works alone (``-p se_dualstack.plugins.results``) on the state and outcomes it needs.
pytest_plugins = ["se_dualstack.plugins.state", "se_dualstack.plugins.outcomes"]
# Options whose value is the path of a credential on this machine: never written to a file.
CREDENTIAL_OPTIONS = ("--bearer-token-file",)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("se-results", "se-dualstack result file and comparison")
    group.addoption("--results-dir", default=None, metavar="DIR",
                    help="where <site>-<start>.json and <site>-latest.json go, and the HTML and "
                         "JUnit reports unless --html says otherwise (default: the HTML report's "
                         "directory, else reports/ under the rootdir)")
    group.addoption("--baseline", default=None, metavar="FILE|DIR",
                    help="result file of an earlier run; at the end write <site>-<start>-compare.{html,txt}. "
                         "A directory: the latest run of this site and selection in it "
                         "(<site>-latest.json for the whole selection), if there is one")
    group.addoption("--throughput-threshold", type=float, default=compare.DEFAULT_THRESHOLD,
                    metavar="F", help="relative transfer throughput change reported by --baseline "
                                      "(default 0.2), as in the compare command; only transfers "
                                      "of 32 MiB or more measure throughput")
    group.addoption("--latency-threshold", type=float, default=compare.DEFAULT_LATENCY_THRESHOLD,
                    metavar="F", help="relative step latency change reported by --baseline for "
                                      "transfers too small for a throughput (default 1.0 = twice "
                                      "as slow or fast), as in the compare command")
    group.addoption("--compare-threshold", dest="compare_threshold", type=float, default=None,
                    metavar="F", help="deprecated name of --throughput-threshold (still accepted)")


def pytest_configure(config: pytest.Config) -> None:
    """Load the baseline now, so a bad baseline stops the run before any check runs."""
    if is_worker(config):
        return
    st = state_of(config)
    if not config.pluginmanager.has_plugin("se_dualstack_results"):
        config.pluginmanager.register(ResultWriter(config, st), "se_dualstack_results")
    path = config.getoption("baseline", None)
    if path and Path(path).is_dir():
        path = _baseline_in(config, st, Path(path))
    if path:
        try:
            st.results.baseline = resultfile.read(path)
        except resultfile.ResultFileError as exc:
            raise pytest.UsageError(f"--baseline {path}: {exc}") from None
        st.results.baseline_path = str(path)
    if config.getoption("compare_threshold", None) is not None:
        config.issue_config_time_warning(pytest.PytestDeprecationWarning(
            "--compare-threshold is now --throughput-threshold (the compare command's name); "
            "the old name still works"), stacklevel=2)


def _baseline_in(config: pytest.Config, st: State, directory: Path) -> str | None:
    """The latest result file of this site and selection in ``directory`` (None: first run)."""
    if st.site is None:
        return None
    name = f"{latest_stem(st.site.name, partial_selection(config))}.json"
    if (directory / name).is_file():
        return str(directory / name)
    st.results.baseline_note = (f"no baseline: {directory} holds no {name} (the first run of this "
                                "site and selection there)")
    return None


def _output_dir_and_stem(config: pytest.Config, site_name: str, st: State) -> tuple[Path, str]:
    """Next to the HTML report, with its stem when it is already ``<site>-<stamp>``."""
    html = getattr(config.option, "htmlpath", None)
    chosen = config.getoption("results_dir", None)
    base = st.reports.base
    stem = base.name if base is not None else f"{safe_name(site_name)}-{stamp(st.started)}"
    if chosen:
        return Path(chosen), (stem if base is not None else claim_stem(Path(chosen), stem, ".json"))
    if html:
        html_path = Path(html)
        if not html_path.is_absolute():
            html_path = Path(config.invocation_params.dir) / html_path
        if STAMP_RE.match(html_path.stem) or base is not None:
            stem = html_path.stem
        return html_path.parent, stem
    return config.rootpath / "reports", claim_stem(config.rootpath / "reports", stem, ".json")


def wants_results(config: pytest.Config, st: State) -> bool:
    """A site run (a Site, or checks with ids) or an explicit request; not the project's selftests."""
    if config.getoption("collectonly", False):
        return False
    if config.getoption("results_dir", None) or st.results.baseline is not None or st.site is not None:
        return True
    return any(rec.check for rec in st.outcomes.records.values())


def shown_args(args: list[str], withheld: dict[str, str]) -> list[str]:
    """The command line as a file may keep it: no credential's path (``--bearer-token-file``)."""
    out: list[str] = []
    hide_next = False
    for a in args:
        if hide_next:
            out.append("(withheld)")
            hide_next = False
        elif a in CREDENTIAL_OPTIONS:
            out.append(a)
            hide_next = True
        elif a.startswith(tuple(f"{o}=" for o in CREDENTIAL_OPTIONS)):
            out.append(f"{a.partition('=')[0]}=(withheld)")
        else:
            out.append(next((a.replace(p, v) for p, v in withheld.items() if p in a), a))
    return out


def write_results(config: pytest.Config, st: State, exitstatus: int) -> None:
    """Write ``<site>-<start>.json`` and ``<site>-latest.json``, then the baseline comparison."""
    if not wants_results(config, st):
        return
    res = st.results
    inventory = getattr(st.site, "inventory_path", None) or st.source.inventory
    workers = getattr(config.option, "numprocesses", None)
    doc = resultfile.build(
        site=st.site, inventory=inventory, started=st.started.astimezone(timezone.utc).replace(microsecond=0),
        finished=datetime.now(timezone.utc).replace(microsecond=0), records=st.outcomes.records,
        hosts=st.outcomes.hosts, exitstatus=exitstatus,
        args=shown_args([str(a) for a in config.invocation_params.args], st.outcomes.withheld),
        workers=workers if isinstance(workers, int) else 0,
        collection_errors=st.outcomes.collection_errors, waivers=st.waivers.meta,
        partial=partial_selection(config))
    out_dir, stem = _output_dir_and_stem(config, doc.site, st)
    html_path, txt_path = out_dir / f"{stem}-compare.html", out_dir / f"{stem}-compare.txt"
    if res.baseline is not None:
        threshold = config.getoption("compare_threshold", None)
        if threshold is None:
            threshold = config.getoption("throughput_threshold", compare.DEFAULT_THRESHOLD)
        res.comparison = compare.compare(
            res.baseline, doc, threshold=threshold,
            latency_threshold=config.getoption("latency_threshold", compare.DEFAULT_LATENCY_THRESHOLD))
        doc.baseline = {"path": res.baseline_path, "started": res.baseline.started,
                        "regressions": len(res.comparison.regressions),
                        "fixed": len(res.comparison.fixed),
                        "report_html": str(html_path), "report_text": str(txt_path)}
    text = doc.to_json()
    res.json_path = out_dir / f"{stem}.json"
    res.latest_path = out_dir / f"{doc.latest_stem}.json"
    res.partial, res.site = doc.partial, doc.site
    try:
        write_atomic(res.json_path, text)
        # "latest" is the baseline of the next run of the same selection: only runs that ran
        # their checks replace it, and a narrowed run (-m, -k, --hosts...) only its own.
        if doc.exit_category != "could-not-run":
            write_atomic(res.latest_path, text)
        else:
            res.latest_path = None
        if res.comparison is not None:
            write_atomic(html_path, compare.render_html(res.comparison))
            write_atomic(txt_path, compare.render_text(res.comparison))
            res.compare_paths = [html_path, txt_path]
    except OSError as exc:
        res.write_error = f"could not write result file in {out_dir}: {exc}"


def print_summary(tr: Any, st: State) -> None:
    """Say where the result file went and, with --baseline, what regressed."""
    res = st.results
    if res.write_error:
        tr.write_line(f"se-dualstack: {res.write_error}", red=True)
        return
    if res.json_path is None:
        return
    tr.write_sep("-", "se-dualstack results")
    also = (f"also {res.latest_path.name}" if res.latest_path is not None
            else "the run could not run its checks: the latest file was left as it was")
    tr.write_line(f"result file: {res.json_path} ({also})")
    if res.partial:
        whole = f"{safe_name(res.site)}-latest.json"
        tr.write_line(f"partial run ({'; '.join(res.partial)}): {whole}, the baseline of runs of "
                      "the whole selection, was left as it was", yellow=True)
    if res.baseline_note:
        tr.write_line(res.baseline_note)
    comp = res.comparison
    if comp is not None:
        tr.write_line(f"compared with {res.baseline_path}: {comp.summary_line()}",
                      red=bool(comp.regressions), green=not comp.regressions)
        for line in compare.regression_lines(comp)[:20]:
            tr.write_line(f"  {line}", red=True)
        for path in res.compare_paths:
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
