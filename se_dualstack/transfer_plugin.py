"""pytest plugin of the transfer tests: options, parametrization, the worker pool, summary + chart.

Registered by :mod:`se_dualstack.plugin` (or ``-p se_dualstack.transfer_plugin``). Kept apart from
the framework plugin because everything here is about gfal2 transfers: the command-line knobs,
one transfer case per test id (``head.example.test-root-ipv6-via-disk01``), the session's
gfal2 workers (one per family, killed at the end), and the per protocol x family statistics
that go to the terminal and, with an inline SVG chart, to the HTML report's summary.

Per-transfer numbers travel on ``report.user_properties`` so the summary also works under
pytest-xdist (the controller only sees reports): ``se6_transfer`` (one per transfer, for the
summary), ``transfer`` (one figure per direction, for the result file and the run comparison)
and, when the grid proxy is unusable, ``se6_no_credentials`` (the run then exits 4, "could not
run": every transfer test fails saying why, the other checks run on and the reports are written).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from se_dualstack import exitcodes
from se_dualstack import transfer as tx

PROP = "se6_transfer"  # per transfer, read by TransferSummary
FIGURE_PROP = "transfer"  # per direction, read by se_dualstack.results (the result file)
NO_CREDENTIALS_PROP = "se6_no_credentials"  # the could-not-run line, read by TransferSummary


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("se_dualstack_transfers", "gfal2 transfers (marker 'transfer')")
    g.addoption("--transfer-repeat", type=int, default=None, metavar="N",
                help="run each transfer N times and report success rate and throughput "
                     "(default: se_transfer_repeat or 1)")
    g.addoption("--transfer-min-success", type=float, default=None, metavar="RATE",
                help="with --transfer-repeat: minimum success rate 0..1 (default 0.95)")
    g.addoption("--transfer-timeout", type=float, default=None, metavar="SECONDS",
                help="hard deadline of each transfer step; the gfal2 worker is killed after it "
                     "(default: se_transfer_timeout or 60)")
    g.addoption("--transfer-size", default=None, metavar="BYTES",
                help="size of the random test file, e.g. 1M, 100MiB (default 1M)")
    g.addoption("--transfer-protocols", default=None, metavar="LIST",
                help="comma-separated subset of gsiftp,root,davs,https")


# --------------------------------------------------------------------------- site and cases


def _site(config: pytest.Config) -> Any | None:
    """The Site the framework loaded (``plugin.state_of(config).site``), if any."""
    plugin = sys.modules.get("se_dualstack.plugin")
    if plugin is not None and hasattr(plugin, "state_of"):
        return plugin.state_of(config).site
    return None


def _protocols(config: pytest.Config) -> list[str] | None:
    raw = config.getoption("transfer_protocols", None)
    return [p.strip() for p in raw.split(",") if p.strip()] if raw else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, make in (("transfer_case", tx.transfer_cases), ("tpc_case", tx.tpc_cases)):
        if name not in metafunc.fixturenames:
            continue
        site = _site(metafunc.config)
        if site is None:
            metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(
                reason="no inventory (run with --inventory)"))], ids=["no-inventory"])
            continue
        try:
            if make is tx.transfer_cases:
                # Without the family shim (no cc), fall back to declared single-family aliases.
                no_shim = tx.build_shim()[0] is None
                cases = tx.transfer_cases(site, _protocols(metafunc.config), use_aliases=no_shim)
            else:
                cases = make(site, _protocols(metafunc.config))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        if not cases:
            why = ("no host has se_transfer_dir (set it per host: the test directory on the SE)"
                   if name == "transfer_case" else "no disk node with se_transfer_dir")
            metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=why))],
                                 ids=["no-transfer-dir"])
            continue
        metafunc.parametrize(name, cases, ids=[c.id for c in cases])


# --------------------------------------------------------------------------- the session


@dataclass
class TransferSession:
    """Settings, the family shim, the gfal2 workers and a scratch dir, for the whole run."""

    settings: tx.TransferSettings
    shim: str | None
    shim_note: str
    pool: tx.WorkerPool
    workdir: str
    proxy_problem: str | None  # the message every transfer test fails with
    proxy: tx.ProxyProblem | None = None
    results: list[tx.TransferResult] = field(default_factory=list)

    def run_case(self, case: tx.TransferCase) -> list[tx.TransferResult]:
        """The case ``settings.repeat`` times (each with a fresh file); stops early on Ctrl-C."""
        out = []
        for _ in range(self.settings.repeat):
            if self.proxy_problem:
                r = tx.precondition_result(case, self.settings, self.proxy_problem)
            else:
                r = tx.run_transfer(case, self.pool, self.settings, self.workdir, self.shim,
                                    alias=case.endpoint.host != case.entry)
            out.append(r)
        self.results += out
        return out

    def run_tpc(self, case: tx.TpcCase) -> tx.TransferResult:
        if self.proxy_problem:
            r = tx.TransferResult(case.id, case.protocol, case.family, self.settings.size,
                                  precondition=self.proxy_problem)
        else:
            r = tx.run_tpc(case, self.pool, self.settings, self.workdir, self.shim)
        self.results.append(r)
        return r

    def close(self) -> None:
        self.pool.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def make_session(config: pytest.Config, site: Any) -> TransferSession:
    """Build the session from the site's vars and the command line."""
    try:
        settings = tx.TransferSettings.from_vars(
            dict(getattr(site, "vars", {}) or {}),
            repeat=config.getoption("transfer_repeat", None),
            min_success=config.getoption("transfer_min_success", None),
            timeout=config.getoption("transfer_timeout", None),
            size=tx.parse_size(s) if (s := config.getoption("transfer_size", None)) else None,
        )
    except ValueError as exc:
        raise pytest.UsageError(f"transfer options: {exc}") from None
    shim, why = tx.build_shim()
    proxy = tx.check_proxy(settings.proxy)
    return TransferSession(
        settings=settings, shim=shim, shim_note=why, pool=tx.WorkerPool(settings, shim),
        workdir=tempfile.mkdtemp(prefix="se6-transfers-"),
        proxy_problem=proxy.message if proxy else None, proxy=proxy)


@pytest.fixture(scope="session")
def transfer_session(pytestconfig: pytest.Config) -> Iterator[TransferSession]:
    """The run's gfal2 workers; always closed (workers killed, scratch files removed)."""
    site = _site(pytestconfig)
    sess = make_session(pytestconfig, site)
    try:
        yield sess
    finally:
        sess.close()


def add_html(request: pytest.FixtureRequest, content: str) -> None:
    """Attach an HTML extra to this test's row when pytest-html is active."""
    if not request.config.pluginmanager.hasplugin("html"):
        return
    try:
        import pytest_html

        request.getfixturevalue("extras").append(pytest_html.extras.html(content))
    except (ImportError, pytest.FixtureLookupError):
        return


def record(request: pytest.FixtureRequest, results: list[tx.TransferResult]) -> None:
    """Numbers on the report (xdist-safe; no URLs, no credentials): per transfer for the run
    summary, per direction for the result file, and the proxy problem for the exit status."""
    props = request.node.user_properties
    for r in results:
        props.append((PROP, {
            "case": r.case_id, "protocol": r.protocol, "family": r.family, "ok": r.ok,
            "error": r.error_summary(), "upload": r.upload_rate, "download": r.download_rate,
        }))
    props.extend((FIGURE_PROP, fig) for fig in tx.figures(results))
    sess = request.getfixturevalue("transfer_session") if "transfer_session" in request.fixturenames \
        else None
    proxy = getattr(sess, "proxy", None)
    if proxy is not None and any(r.precondition == proxy.message for r in results):
        props.append((NO_CREDENTIALS_PROP, proxy.could_not_run_line()))


# --------------------------------------------------------------------------- summary


@dataclass
class _Row:
    protocol: str
    family: int
    ok: bool
    error: str
    upload: float | None
    download: float | None
    case: str


class TransferSummary:
    """Collects the per-transfer numbers from reports (controller side) and renders the summary."""

    def __init__(self) -> None:
        self.rows: list[_Row] = []
        self.no_credentials: str | None = None  # why the transfer checks could not run

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, val in getattr(report, "user_properties", []):
            if key == NO_CREDENTIALS_PROP and self.no_credentials is None:
                self.no_credentials = str(val)
            if key == PROP and isinstance(val, dict):
                self.rows.append(_Row(val["protocol"], int(val["family"]), bool(val["ok"]),
                                      str(val.get("error", "")), val.get("upload"),
                                      val.get("download"), str(val.get("case", ""))))

    def stats(self) -> dict[tuple[str, int], tx.RepeatStats]:
        results = []
        for r in self.rows:
            res = tx.TransferResult(r.case, r.protocol, r.family, 0)
            if not r.ok:
                res.precondition = r.error or "failed"
            else:  # one-second steps carrying the rate as bytes: the rate survives unchanged
                res.steps = [tx.Step("upload", "passed", 1.0, nbytes=int(r.upload or 0)),
                             tx.Step("download", "passed", 1.0, nbytes=int(r.download or 0))]
            results.append(res)
        return tx.group_stats(results)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """No usable proxy: the run "could not run" (exit 4), not "checks failed".

        Before the results plugin writes the result file (so its exit status and the kept
        ``latest`` agree); an interrupted or crashed run keeps its own status.
        """
        if self.no_credentials and not hasattr(session.config, "workerinput") and \
                session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = exitcodes.USAGE_ERROR

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        stats = self.stats()
        if stats:
            terminalreporter.section("transfers per protocol and family")
            for line in tx.stats_lines(stats):
                terminalreporter.write_line(line)
        if self.no_credentials:
            terminalreporter.write_line(self.no_credentials, red=True, bold=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str]) -> None:
        stats = self.stats()
        if stats:
            postfix.append(tx.stats_html(stats))


def declare_groups(config: pytest.Config) -> None:
    """Tell the framework which host's xdist group each case joins (its ``group_host``).

    The test id starts with the entry host (``head...-root-ipv6-via-disk01``) but the data lands
    on the target, so the case joins the target's group: with ``--dist loadgroup`` the transfers
    of a 1+N site spread over N groups instead of all queueing behind the head node. Done here,
    not at parametrization, because the xdist controller collects nothing.
    """
    plugin = sys.modules.get("se_dualstack.plugin")
    site = _site(config)
    if site is None or plugin is None or not hasattr(plugin, "declare_group_hosts"):
        return
    try:
        cases = [*tx.transfer_cases(site, _protocols(config)), *tx.tpc_cases(site, _protocols(config))]
    except ValueError:
        return  # bad protocols: pytest_generate_tests reports it as a usage error
    plugin.declare_group_hosts(config, {c.id: c.group_host for c in cases})


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("se6-transfer-summary"):
        config.pluginmanager.register(TransferSummary(), "se6-transfer-summary")
    declare_groups(config)
