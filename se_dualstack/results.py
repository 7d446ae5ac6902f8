"""pytest plugin: one machine-readable record per check and host, written as JSON at session end.

Why: sites run the suite before and after a change and every night; the HTML report is for
people, the JSON result file is for :mod:`se_dualstack.compare` and CI.  The file sits next to
the HTML report as ``<site>-<UTC start>.json`` and is also copied to ``<site>-latest.json`` so a
nightly job can always compare against "the previous run" by a stable name.

The plugin works under the framework (``se_dualstack.plugin`` registers it) and standalone
(``-p se_dualstack.results``), and under pytest-xdist: everything it needs from an item (check
id, host, first message line, host role and OS) is attached to the report in the worker, because
reports are the only thing the controller sees.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import se_dualstack
from se_dualstack import compare, exitcodes

FORMAT = "se-dualstack-results/1"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
STAMP_RE = re.compile(r"^(?P<site>.+)-(?P<stamp>\d{8}T\d{6}Z)$")

# The framework (or a test's conftest) may put the Site here; other places are searched too.
SITE_KEY = pytest.StashKey[Any]()


@dataclass
class RunState:
    """What the controller collects during a run; lives in ``config.stash[STATE_KEY]``."""

    started: datetime
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    hostinfo: dict[str, dict[str, Any]] = field(default_factory=dict)
    collection_errors: list[dict[str, str]] = field(default_factory=list)
    baseline: dict[str, Any] | None = None
    baseline_path: str | None = None
    json_path: Path | None = None
    latest_path: Path | None = None
    comparison: compare.Comparison | None = None
    compare_paths: list[Path] = field(default_factory=list)
    write_error: str | None = None


STATE_KEY = pytest.StashKey[RunState]()
COLLECTOR_NAME = "se-dualstack-results-collector"
# The waivers plugin puts its file, digest and entries here for the result file's metadata.
WAIVERS_META_KEY = pytest.StashKey[dict[str, Any]]()


# --------------------------------------------------------------------------- identification


def _one_line(text: Any) -> str:
    """First non-empty line of ``text``: the summary line people and diffs read."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def _looks_like_host(obj: Any) -> bool:
    return isinstance(getattr(obj, "name", None), str) and isinstance(getattr(obj, "role", None), str)


def _looks_like_site(obj: Any) -> bool:
    return isinstance(getattr(obj, "hosts", None), list) and isinstance(getattr(obj, "name", None), str)


def find_site(config: pytest.Config) -> Any | None:
    """Find the Site the framework loaded, wherever it keeps it (stash keys, config attributes).

    Robust on purpose: results must still be written if the framework changes how it stores the
    Site, and standalone runs have none at all.
    """
    candidates: list[Any] = [config.stash.get(SITE_KEY, None)]
    plugin_mod = sys.modules.get("se_dualstack.plugin")
    if plugin_mod is not None:
        for obj in vars(plugin_mod).values():
            if isinstance(obj, pytest.StashKey):
                candidates.append(config.stash.get(obj, None))
    for attr in ("se_site", "_se_site", "site"):
        candidates.append(getattr(config, attr, None))
    for cand in candidates:
        if _looks_like_site(cand):
            return cand
        inner = getattr(cand, "site", None)
        if _looks_like_site(inner):
            return inner
    return None


def framework_started(config: pytest.Config) -> datetime | None:
    """The framework's run start (its HTML report is named by it), so both files share a stamp."""
    plugin_mod = sys.modules.get("se_dualstack.plugin")
    if plugin_mod is None:
        return None
    for obj in vars(plugin_mod).values():
        if isinstance(obj, pytest.StashKey):
            started = getattr(config.stash.get(obj, None), "started", None)
            if isinstance(started, datetime):
                return started.astimezone(UTC).replace(microsecond=0)
    return None


def _known_hosts(config: pytest.Config) -> list[str]:
    site = find_site(config)
    return [h.name for h in site.hosts] if site is not None else []


def host_from_nodeid(nodeid: str, known: Iterable[str] = ()) -> str | None:
    """Host part of ``test_x[host-detail]``: a known host name if one prefixes it, else a guess.

    Host names contain hyphens and dots, so the guess ends the name at the first ``-`` after the
    last ``.`` of the FQDN part; known names (from the Site) avoid guessing.
    """
    m = re.search(r"\[(?P<param>.*)\]$", nodeid)
    if not m:
        return None
    param = m.group("param")
    for name in sorted(known, key=len, reverse=True):
        if param == name or param.startswith(name + "-"):
            return name
    fqdn = re.match(r"^(?P<host>(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9]+)(?:-|$)", param)
    if fqdn:
        return fqdn.group("host")
    return param.split("-", 1)[0] or None


def _param_host(item: pytest.Item) -> Any | None:
    """The SEHost-like object among the test's parameters (``se_host`` or inside a pair)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    params = dict(callspec.params)
    ordered = [params.pop("se_host")] if "se_host" in params else []
    ordered += list(params.values())
    for value in ordered:
        if _looks_like_host(value):
            return value
        if isinstance(value, tuple | list):
            for part in value:
                if _looks_like_host(part):
                    return part
    return None


def identify(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException] | None = None
             ) -> tuple[str | None, str | None]:
    """(check id, host name) of a test: marker and parameters first, then the failure, then the id."""
    check: str | None = None
    marker = item.get_closest_marker("check")
    if marker is not None:
        value = marker.args[0] if marker.args else marker.kwargs.get("id")
        check = str(value) if value else None
    host: str | None = None
    for name, value in item.user_properties:
        if name == "host" and value:
            host = str(value)
    if host is None:
        obj = _param_host(item)
        if obj is not None:
            host = obj.name
    exc = excinfo.value if excinfo is not None else None
    if check is None and exc is not None and getattr(exc, "check", None) is not None:
        check = getattr(exc.check, "id", None)  # type: ignore[union-attr]
    if host is None and exc is not None and isinstance(getattr(exc, "host", None), str):
        host = exc.host  # type: ignore[union-attr]
    if host is None:
        host = host_from_nodeid(item.nodeid, _known_hosts(item.config))
    return check, host


def _hostinfo(item: pytest.Item) -> dict[str, Any] | None:
    """Role and OS of the test's host without any I/O (``detected_os`` is filled by the plugin)."""
    obj = item.funcargs.get("se_host") if hasattr(item, "funcargs") else None
    if not _looks_like_host(obj):
        obj = _param_host(item)
    if obj is None:
        return None
    detected = getattr(obj, "detected_os", None)
    declared = getattr(obj, "declared_os", None)
    return {"name": obj.name, "role": obj.role, "detected_os": detected, "declared_os": declared}


def _redact(text: str) -> str:
    """The report's redaction (PEM blocks, URL credentials) when available: result files are
    artefacts kept by CI, so they must not carry more than the HTML report does."""
    try:
        from se_dualstack.report import redact
    except Exception:  # standalone use without the framework: nothing to redact with
        return text
    return redact(text)


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so odd objects in user_properties cannot break the result file."""
    return json.loads(json.dumps(value, default=str))


# --------------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("se-results", "se-dualstack result file and comparison")
    group.addoption("--results-dir", default=None, metavar="DIR",
                    help="where <site>-<start>.json and <site>-latest.json go "
                         "(default: the HTML report's directory, else reports/ under the rootdir)")
    group.addoption("--baseline", default=None, metavar="FILE",
                    help="result file of an earlier run; at the end write <site>-<start>-compare.{html,txt} "
                         "(reports/<site>-latest.json works: it is read before this run replaces it)")
    group.addoption("--compare-threshold", type=float, default=compare.DEFAULT_THRESHOLD, metavar="F",
                    help="relative transfer throughput change reported by --baseline (default 0.2)")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """Start the run clock and load the baseline now, so a bad baseline stops the run early."""
    # Standalone use (-p se_dualstack.results) must accept the framework's marker under --strict.
    config.addinivalue_line("markers", "check(id): the catalogue id of the check a test implements")
    if _is_worker(config):
        return
    state = RunState(started=datetime.now(UTC).replace(microsecond=0))
    path = config.getoption("baseline", None)
    if path:
        try:
            state.baseline = compare.load(path)
        except compare.ResultFileError as exc:
            raise pytest.UsageError(f"--baseline {path}: {exc}") from None
        state.baseline_path = str(path)
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(Collector(config, state), COLLECTOR_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    collector = config.pluginmanager.get_plugin(COLLECTOR_NAME)
    if collector is not None:
        config.pluginmanager.unregister(collector)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach check id, host, message and host facts to the report (it crosses xdist, items don't)."""
    report = yield
    excinfo = call.excinfo
    check, host = identify(item, excinfo)
    report.res_check = check  # type: ignore[attr-defined]
    report.res_host = host  # type: ignore[attr-defined]
    if excinfo is not None and not excinfo.errisinstance((pytest.skip.Exception,)):
        exc = excinfo.value
        msg = _one_line(_redact(str(exc))) or excinfo.typename
        report.res_message = msg  # type: ignore[attr-defined]
        parts = {k: _redact(getattr(exc, k)) for k in ("expected", "observed", "fix")
                 if isinstance(getattr(exc, k, None), str)}
        if parts:
            report.res_detail = parts  # type: ignore[attr-defined]
    info = _hostinfo(item)
    if info is not None:
        report.res_hostinfo = info  # type: ignore[attr-defined]
    return report


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple | list) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return _one_line(getattr(report, "longreprtext", "") or longrepr or "")


def _failure_line(report: pytest.TestReport) -> str:
    msg = getattr(report, "res_message", None)
    if msg:
        return str(msg)
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return _one_line(crash.message)
    return _one_line(getattr(report, "longreprtext", "") or report.longrepr or "")


def _phase_outcome(report: pytest.TestReport) -> str:
    waiver = getattr(report, "res_waiver", None)
    if hasattr(report, "wasxfail"):
        if report.skipped:
            return "waived" if waiver and not waiver.get("expired") else "xfailed"
        return "xpassed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "skipped" if report.skipped else "passed"


def fold_report(state: RunState, report: pytest.TestReport) -> None:
    """Fold the setup/call/teardown reports of one test into its record."""
    rec = state.records.get(report.nodeid)
    if rec is None:
        name = report.nodeid.split("::")[-1]
        rec = state.records[report.nodeid] = {
            "nodeid": report.nodeid, "test": re.sub(r"\[.*\]$", "", name), "check": None, "host": None,
            "outcome": "passed", "message": "", "duration": 0.0, "transfer": [], "waiver": None,
        }
    rec["check"] = rec["check"] or getattr(report, "res_check", None)
    rec["host"] = rec["host"] or getattr(report, "res_host", None)
    rec["duration"] = round(rec["duration"] + float(report.duration or 0.0), 6)
    info = getattr(report, "res_hostinfo", None)
    if not info and getattr(report, "se_host", None):  # the framework's own tags
        info = {"name": report.se_host, "role": getattr(report, "se_role", None) or None,
                "detected_os": getattr(report, "se_os", None) or None}
    if info:
        known = state.hostinfo.setdefault(info["name"], {})
        known.update({k: v for k, v in info.items() if v is not None})
    outcome = _phase_outcome(report)
    if report.when == "setup":
        if outcome != "passed":
            rec["outcome"] = outcome if outcome != "failed" else "error"
            rec["message"] = _skip_reason(report) if outcome == "skipped" else _failure_line(report)
    elif report.when == "call":
        rec["outcome"] = outcome
        if outcome in ("failed", "waived", "xfailed", "error"):
            rec["message"] = _failure_line(report)
        elif outcome == "skipped":
            rec["message"] = _skip_reason(report)
        detail = getattr(report, "res_detail", None)
        if detail:
            rec["detail"] = detail
        waiver = getattr(report, "res_waiver", None)
        if waiver:
            rec["waiver"] = waiver
            if waiver.get("expired"):
                rec["message"] = f"{rec['message']} (waiver expired on {waiver['expires']})"
    elif report.when == "teardown" and report.failed:
        if rec["outcome"] in ("passed", "skipped"):
            rec["outcome"] = "error"
            rec["message"] = _failure_line(report)
        else:
            rec["teardown_error"] = _failure_line(report)
    transfers = [_jsonable(v) for (k, v) in getattr(report, "user_properties", []) if k == "transfer"]
    if transfers:
        rec["transfer"] = transfers


class Collector:
    """Controller-side half of the plugin: gathers reports, writes files, prints the summary.

    Registered per config (not module-level hooks) because report hooks get no config and pytester
    runs several sessions in one process.
    """

    def __init__(self, config: pytest.Config, state: RunState) -> None:
        self.config = config
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        fold_report(self.state, report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Collection errors mean checks did not run: keep them in the result file."""
        if report.failed:
            self.state.collection_errors.append({"nodeid": report.nodeid, "message": _failure_line(report)})  # type: ignore[arg-type]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # session.exitstatus, not the hook argument: an earlier sessionfinish hook may have set
        # the final status (e.g. the transfer plugin's "could not run: no credentials", exit 4).
        write_results(self.config, self.state, int(session.exitstatus))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        print_summary(terminalreporter, self.state)


# --------------------------------------------------------------------------- writing


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "site"


def _sha256(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _host_list(site: Any, state: RunState) -> list[dict[str, Any]]:
    """Hosts in inventory order (records' hosts appended), with role and the best OS we know."""
    order: list[str] = []
    facts: dict[str, dict[str, Any]] = {}
    if site is not None:
        for h in site.hosts:
            order.append(h.name)
            facts[h.name] = {"role": getattr(h, "role", None),
                             "detected_os": getattr(h, "detected_os", None),
                             "declared_os": getattr(h, "declared_os", None)}
    for name, info in state.hostinfo.items():
        if name not in facts:
            order.append(name)
            facts[name] = {}
        facts[name].update({k: v for k, v in info.items() if k != "name" and v is not None})
    for rec in state.records.values():
        if rec["host"] and rec["host"] not in facts:
            order.append(rec["host"])
            facts[rec["host"]] = {}
    out = []
    for name in order:
        f = facts[name]
        os_name = f.get("detected_os") or f.get("declared_os")
        source = "detected" if f.get("detected_os") else ("declared" if f.get("declared_os") else None)
        out.append({"name": name, "role": f.get("role"), "os": os_name, "os_source": source})
    return out


def _output_dir_and_stem(config: pytest.Config, site_name: str, state: RunState) -> tuple[Path, str]:
    """Next to the HTML report, with its stem when it is already ``<site>-<stamp>``."""
    html = getattr(config.option, "htmlpath", None)
    chosen = config.getoption("results_dir", None)
    stamp = state.started.strftime(STAMP_FORMAT)
    stem = f"{_safe(site_name)}-{stamp}"
    if chosen:
        return Path(chosen), stem
    if html:
        html_path = Path(html)
        if not html_path.is_absolute():
            html_path = Path(config.invocation_params.dir) / html_path
        if STAMP_RE.match(html_path.stem):
            stem = html_path.stem
        return html_path.parent, stem
    return config.rootpath / "reports", stem


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_document(config: pytest.Config, state: RunState, exitstatus: int) -> dict[str, Any]:
    """The result file's content: run metadata plus records sorted by test id (xdist-stable)."""
    site = find_site(config)
    inventory = (getattr(site, "inventory_path", None) or config.getoption("se_inventory", None)
                 or config.getoption("inventory", None))
    site_name = getattr(site, "name", None) or (Path(str(inventory)).stem if inventory else "site")
    finished = datetime.now(UTC).replace(microsecond=0)
    records = [state.records[k] for k in sorted(state.records)]
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec["outcome"]] = counts.get(rec["outcome"], 0) + 1
    workers = getattr(config.option, "numprocesses", None)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "site": site_name,
        "flavour": getattr(site, "flavour", None),
        "inventory": {"path": str(inventory) if inventory else None, "sha256": _sha256(inventory)},
        "suite_version": se_dualstack.__version__,
        "started": state.started.isoformat().replace("+00:00", "Z"),
        "finished": finished.isoformat().replace("+00:00", "Z"),
        "duration": (finished - state.started).total_seconds(),
        "hosts": _host_list(site, state),
        "exit_status": int(exitstatus),
        "exit_category": exitcodes.category(exitstatus),
        "exit_detail": exitcodes.detail(exitstatus),
        "counts": counts,
        "args": [str(a) for a in config.invocation_params.args],
        "xdist_workers": workers if isinstance(workers, int) else 0,
        "collection_errors": state.collection_errors,
        "records": records,
    }
    waivers_meta = config.stash.get(WAIVERS_META_KEY, None)
    if waivers_meta:
        doc["waivers"] = waivers_meta
    return doc


def wants_results(config: pytest.Config, state: RunState) -> bool:
    """A site run (a Site, or checks with ids) or an explicit request; not the project's selftests."""
    if config.getoption("collectonly", False):
        return False
    if config.getoption("results_dir", None) or state.baseline is not None:
        return True
    if find_site(config) is not None:
        return True
    return any(rec["check"] for rec in state.records.values())


def write_results(config: pytest.Config, state: RunState, exitstatus: int) -> None:
    """Write ``<site>-<start>.json`` and ``<site>-latest.json``, then the baseline comparison."""
    if not wants_results(config, state):
        return
    state.started = framework_started(config) or state.started
    doc = build_document(config, state, exitstatus)
    out_dir, stem = _output_dir_and_stem(config, doc["site"], state)
    if state.baseline is not None:
        threshold = config.getoption("compare_threshold", compare.DEFAULT_THRESHOLD)
        state.comparison = compare.compare(state.baseline, doc, threshold=threshold)
        html_path, txt_path = out_dir / f"{stem}-compare.html", out_dir / f"{stem}-compare.txt"
        doc["baseline"] = {"path": state.baseline_path, "started": state.baseline.get("started"),
                           "regressions": len(state.comparison.regressions),
                           "fixed": len(state.comparison.fixed),
                           "report_html": str(html_path), "report_text": str(txt_path)}
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    state.json_path = out_dir / f"{stem}.json"
    state.latest_path = out_dir / f"{_safe(doc['site'])}-latest.json"
    try:
        _write_atomic(state.json_path, text)
        # "latest" is the baseline of the next run: only runs that ran their checks replace it.
        if doc["exit_category"] != "could-not-run":
            _write_atomic(state.latest_path, text)
        else:
            state.latest_path = None
        if state.comparison is not None:
            _write_atomic(html_path, compare.render_html(state.comparison))
            _write_atomic(txt_path, compare.render_text(state.comparison))
            state.compare_paths = [html_path, txt_path]
    except OSError as exc:
        state.write_error = f"could not write result file in {out_dir}: {exc}"


def print_summary(tr: Any, state: RunState) -> None:
    """Say where the result file went and, with --baseline, what regressed."""
    if state.write_error:
        tr.write_line(f"se-dualstack: {state.write_error}", red=True)
        return
    if state.json_path is None:
        return
    tr.write_sep("-", "se-dualstack results")
    also = (f"also {state.latest_path.name}" if state.latest_path is not None
            else "the run could not run its checks: the latest file was left as it was")
    tr.write_line(f"result file: {state.json_path} ({also})")
    comp = state.comparison
    if comp is not None:
        tr.write_line(f"compared with {state.baseline_path}: {comp.summary_line()}",
                      red=bool(comp.regressions), green=not comp.regressions)
        for line in compare.regression_lines(comp)[:20]:
            tr.write_line(f"  {line}", red=True)
        for path in state.compare_paths:
            tr.write_line(f"comparison: {path}")
