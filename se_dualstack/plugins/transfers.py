"""Transfers: options, parametrization, the gfal2 worker session, summary + chart.

The runner itself is :mod:`se_dualstack.transfer` (no pytest there); this module is its wiring:
the command-line knobs,
one transfer case per test id (``head.example.test-root-ipv6-via-disk01``), the session's
gfal2 workers (one per family, killed at the end), and the per protocol x family statistics
that go to the terminal and, with an inline SVG chart, to the HTML report's summary.

Each transfer travels once, as a row on its test's report tag (so the summary also works under
pytest-xdist: the controller only sees reports), and becomes part of the test's record: the run
summary, the result file and the run comparison all read those rows. When no credential is
usable the tag also carries the run's could-not-run line (the run then exits 4: every transfer
test fails saying why, the other checks run on and the reports are written).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from se_dualstack import applicability, exitcodes
from se_dualstack.plugins import outcomes
from se_dualstack.plugins.state import State, is_worker, state_of
from se_dualstack.reporting.records import Tag
from se_dualstack.transfer import protocols, tokens, tpc
from se_dualstack.transfer.addresses import Resolve, alias_cases, per_address, site_resolve
from se_dualstack.transfer.cases import (
    AUTHS,
    DEFAULTS,
    TpcCase,
    TransferCase,
    TransferSettings,
    parse_size,
    tpc_cases,
    transfer_cases,
)
from se_dualstack.transfer.hops.cases import ChainCase, chain_cases
from se_dualstack.transfer.outcome import TransferResult
from se_dualstack.transfer.pool import TransferPool
from se_dualstack.transfer.proxy import check_proxy
from se_dualstack.transfer.render import stats_lines, transfers_html
from se_dualstack.transfer.session import TransferSession, no_credential_line
from se_dualstack.transfer.shim import build_shim
from se_dualstack.transfer.stats import RepeatStats, group_stats, row
from se_dualstack.transfer.worker import WorkerPool

# This module works alone (``-p se_dualstack.plugins.transfers``) on the state and outcomes it needs.
pytest_plugins = ["se_dualstack.plugins.state", "se_dualstack.plugins.outcomes"]


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
                help=f"comma-separated subset of {','.join(protocols.names())}")
    g.addoption("--transfer-concurrency", type=int, default=None, metavar="N",
                help="transfers run side by side, each still its own test; shared out over "
                     "xdist workers (default: se_transfer_concurrency or 2; 1 = one after the other)")
    g.addoption("--transfer-per-host", type=int, default=None, metavar="N",
                help="at most N of those transfers load one host at a time "
                     "(default: se_transfer_per_host or 2)")
    g.addoption("--transfer-auth", default=None, metavar="LIST",
                help="credentials to prove, comma-separated subset of x509,token (default: "
                     "se_transfer_auth, else every credential present: a grid proxy file, a "
                     "bearer token found by WLCG token discovery)")
    g.addoption("--bearer-token-file", default=None, metavar="PATH",
                help="the bearer token to use (default: WLCG discovery: BEARER_TOKEN, "
                     "BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u$UID, /tmp/bt_u$UID)")


# --------------------------------------------------------------------------- site and cases


def _protocols(config: pytest.Config) -> list[str] | None:
    raw = config.getoption("transfer_protocols", None)
    return [p.strip() for p in raw.split(",") if p.strip()] if raw else None


def _per_address(config: pytest.Config, site: Any, cases: list[TransferCase]) -> list[TransferCase]:
    """One case per address of a name with several A/AAAA, plus the ``se_endpoints`` aliases.

    Needs the family shim (it pins the address); without it the cases stay as they are.
    """
    if build_shim()[0] is None:
        return cases
    resolve = site_resolve(site, state_of(config).hosts.facts.dns_cache)
    return [*per_address(cases, resolve), *alias_cases(site, resolve, _protocols(config))]


def _proxy_path() -> str:
    return os.environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}"


def _auths(config: pytest.Config, site: Any, token_found: bool) -> list[str]:
    """Credentials to prove: the option, the inventory's ``se_transfer_auth``, else every one
    present (a proxy file; a token discovery found); none present: x509, whose tests then say how
    to get a proxy (and the run "could not run")."""
    raw = config.getoption("transfer_auth", None)
    if raw is None:
        raw = (getattr(site, "vars", {}) or {}).get("se_transfer_auth") or None
    if raw:
        wanted = [a.strip() for a in (raw.split(",") if isinstance(raw, str) else raw) if str(a).strip()]
        bad = [a for a in wanted if a not in AUTHS]
        if bad:
            raise pytest.UsageError(
                f"--transfer-auth / se_transfer_auth: unknown {bad}; known: {', '.join(AUTHS)}")
        return [a for a in AUTHS if a in wanted]
    present = [a for a, there in (("x509", os.path.exists(_proxy_path())), ("token", token_found)) if there]
    return present or ["x509"]


@dataclass
class RunCases:
    """What the run transfers, built once per run (``State.transfer_cases``) and read by the
    site hook (xdist groups), the parametrization and the session alike."""

    auths: list[str]  # credentials to prove, X.509 first
    token: tokens.Token | None  # WLCG token discovery's find (its value stays in memory)
    token_note: str  # where discovery looked, when it found nothing
    transfers: list[TransferCase]  # round trips, per address and through service aliases too
    tpcs: list[TpcCase]
    error: str = ""  # a bad protocol or credential setting: a usage error where it is met
    chains: list[ChainCase] = field(default_factory=list)  # redirect chains (SE6-XFER-03)


def run_cases(config: pytest.Config) -> RunCases:
    """This run's transfer cases and credentials (made on first use; the site must be known)."""
    state = state_of(config)
    if state.transfers.cases is None:
        state.transfers.cases = _make_cases(config, state.site)
    return state.transfers.cases


def _make_cases(config: pytest.Config, site: Any) -> RunCases:
    token, note = tokens.discover(config.getoption("bearer_token_file", None))
    try:
        auths = _auths(config, site, token is not None)
        if site is None:
            return RunCases(auths, token, note, [], [])
        # Without the family shim (no cc), fall back to declared single-family aliases.
        plain = transfer_cases(site, _protocols(config), use_aliases=build_shim()[0] is None, auths=auths)
        # Cases the client would reach through NAT64 (a DNS64-made AAAA) are labelled "-nat64".
        resolve = site_resolve(site, state_of(config).hosts.facts.dns_cache)
        prefixes = state_of(config).hosts.facts.dns64(dict(getattr(site, "vars", {}) or {})).prefixes
        return RunCases(auths, token, note,
                        applicability.label_nat64(_per_address(config, site, plain), resolve, prefixes),
                        applicability.label_nat64(tpc_cases(site, _protocols(config), auths=auths),
                                                  resolve, prefixes),
                        chains=chain_cases(site, _protocols(config), auths=auths))
    except (ValueError, pytest.UsageError) as exc:
        return RunCases([], token, note, [], [], str(exc))


def _param(case: TransferCase | TpcCase | ChainCase) -> Any:
    """A case, skipped saying why when it does not apply (a TPC the servers cannot do, a data
    server a client never reaches directly; a redirect chain always applies)."""
    why = case.skip_reason
    marks = [pytest.mark.skip(reason=why)] if why else []
    return pytest.param(case, marks=marks, id=case.id)


# A parametrizing fixture without cases: why its test does not apply, and the id it then has.
NO_CASES = {
    "transfer_case": ("no host has se_transfer_dir (set it per host: the test directory on the SE)",
                      "no-transfer-dir"),
    "tpc_case": ("no disk node with se_transfer_dir", "no-transfer-dir"),
    "chain_case": ("no entry point redirects to a host with se_transfer_dir (the storage system's "
                   "redirects, data/flavours/<system>.yml)", "no-redirect"),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name in ("transfer_case", "tpc_case", "chain_case"):
        if name not in metafunc.fixturenames:
            continue
        if state_of(metafunc.config).site is None:
            metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(
                reason="no inventory (run with --inventory)"))], ids=["no-inventory"])
            continue
        run = run_cases(metafunc.config)
        if run.error:
            raise pytest.UsageError(run.error)
        cases = {"transfer_case": run.transfers, "tpc_case": run.tpcs, "chain_case": run.chains}[name]
        if not cases:
            why, none_id = NO_CASES[name]
            metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=why))],
                                 ids=[none_id])
            continue
        metafunc.parametrize(name, [_param(c) for c in cases])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A service alias's address belongs to the inventory host holding it (else to the alias):
    its test is about that host from setup on, as a transfer through the head is about its
    target when it fails."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("transfer_case") if callspec is not None else None
        if isinstance(case, TransferCase) and case.alias:
            item.user_properties.append(("host", case.target))


# --------------------------------------------------------------------------- the session


def make_session(config: pytest.Config, site: Any) -> TransferSession:
    """Build the session from the site's vars and the command line."""
    try:
        settings = TransferSettings.from_vars(
            dict(getattr(site, "vars", {}) or {}),
            repeat=config.getoption("transfer_repeat", None),
            min_success=config.getoption("transfer_min_success", None),
            timeout=config.getoption("transfer_timeout", None),
            size=parse_size(s) if (s := config.getoption("transfer_size", None)) else None,
        )
    except ValueError as exc:
        raise pytest.UsageError(f"transfer options: {exc}") from None
    run = run_cases(config)
    if run.error:
        raise pytest.UsageError(run.error)
    shim, why = build_shim()
    proxy = check_proxy(settings.proxy)
    workdir = tempfile.mkdtemp(prefix="se6-transfers-")
    sess = TransferSession(
        settings=settings, shim=shim, shim_note=why, workers={"x509": WorkerPool(settings, shim)},
        workdir=workdir, proxy_problem=proxy.message if proxy else None, proxy=proxy)
    if "token" in run.auths:
        sess.token_note = run.token_note
        if run.token is not None:
            sess.token = tokens.with_file(run.token, workdir)  # workers read it from a file
            sess.workers["token"] = WorkerPool(replace(settings, auth="token", token_file=sess.token.path),
                                               shim)
    sess.no_credential = no_credential_line(run.auths, sess)
    if site is not None:  # a silent endpoint's service, and which address is the entry's
        for h in site.hosts:
            for svc in h.services:
                if svc.port is not None:
                    sess.services.setdefault((h.name, svc.port), []).append(svc.name)
        sess.resolve = site_resolve(site, state_of(config).hosts.facts.dns_cache)
    concurrency, per_host = _slot_limits(config, site)
    if concurrency > 1:
        sess.slots = TransferPool(shim, concurrency, per_host)
    return sess


def _slot_limits(config: pytest.Config, site: Any) -> tuple[int, int]:
    """``--transfer-concurrency`` / ``--transfer-per-host``, else the site's vars, else defaults.

    The concurrency is the whole run's: under xdist each worker gets its share (at least 1), so
    ``-n auto`` beside the pool does not multiply the gfal2 workers on the client's CPUs."""
    site_vars = dict(getattr(site, "vars", {}) or {})
    out = []
    for opt, var in (("transfer_concurrency", "se_transfer_concurrency"),
                     ("transfer_per_host", "se_transfer_per_host")):
        value = config.getoption(opt, None)
        value = value if value is not None else site_vars.get(var, DEFAULTS[var])
        try:
            n = int(value)
        except (TypeError, ValueError):
            n = 0
        if n < 1:
            raise pytest.UsageError(f"--{opt.replace('_', '-')} / {var}: {value!r} is not a whole "
                                    "number of at least 1; write e.g. 2")
        out.append(n)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1) if is_worker(config) else 1
    return max(1, -(-out[0] // max(1, workers))), out[1]


def _plan(session: pytest.Session, config: pytest.Config) -> tuple[list[Any], bool]:
    """The transfer cases this process will run, in test order, and whether to plan per group.

    Under xdist without ``--dist loadgroup`` nothing is planned: another worker may run a case.
    """
    by_group = is_worker(config)
    if by_group and config.getoption("dist", "no") != "loadgroup":
        return [], False
    st = state_of(config)
    hosts = {h.name: h for h in st.site.hosts} if st.site is not None else {}
    machine = st.hosts.facts.suite_machine()
    cases = []
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        case = params.get("transfer_case") or params.get("tpc_case")
        # Not the N/A ones (an end declared without the family), nor those this machine cannot
        # run (no address of the family): their tests say so without a transfer.
        if case is not None and item.get_closest_marker("skip") is None and \
                applicability.runnable(case, hosts, machine):
            cases.append(case)
    # Third-party copies first: they wait longest (the servers' rendezvous), so they overlap the
    # round trips instead of trailing them; each test still takes its own result.
    return sorted(cases, key=lambda c: not isinstance(c, TpcCase)), by_group


@pytest.fixture(scope="session")
def transfer_session(pytestconfig: pytest.Config, request: pytest.FixtureRequest
                     ) -> Iterator[TransferSession]:
    """The run's gfal2 workers; always closed (workers killed, scratch files removed)."""
    site = state_of(pytestconfig).site
    sess = make_session(pytestconfig, site)
    plan, by_group = _plan(request.session, pytestconfig)
    sess.cases, sess.plan_by_group = list(plan), by_group  # the other family's, for a fix
    if site is not None:
        # Third-party copies read the servers' socket tables over the hosts' ssh connections,
        # which the site fixture gives its hosts.
        site = request.getfixturevalue("site")
        resolve = site_resolve(site, state_of(pytestconfig).hosts.facts.dns_cache)
        sess.leg_watch = lambda case: tpc.watch(case, site, resolve)
    if sess.slots is not None:
        sess.plan = plan
    try:
        yield sess
    finally:
        sess.close()


@pytest.fixture
def add_html(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``add_html(content)``: attach an HTML extra to this test's row when pytest-html is active."""

    def add(content: str) -> None:
        if not request.config.pluginmanager.hasplugin("html"):
            return
        try:
            import pytest_html

            request.getfixturevalue("extras").append(pytest_html.extras.html(content))
        except (ImportError, pytest.FixtureLookupError):
            return

    return add


def _withhold_credentials(config: pytest.Config, sess: Any) -> None:
    """The credential files of this run never appear by path in a report: a pasted command or
    a message names the variable a grid client reads instead."""
    withheld = state_of(config).outcomes.withheld
    proxy = getattr(getattr(sess, "settings", None), "proxy", "")
    if proxy:
        withheld[proxy] = "$X509_USER_PROXY" if os.environ.get("X509_USER_PROXY") else "/tmp/x509up_u$UID"
    token = getattr(getattr(sess, "token", None), "path", "")
    for path in (token, config.getoption("bearer_token_file", None)):
        if path:
            withheld[str(path)] = "$BEARER_TOKEN_FILE"


def _entry_address(resolve: Resolve | None, r: TransferResult) -> str:
    """The entry's address when its name has one of the family (several: the case pinned one)."""
    addresses = resolve(r.endpoint, r.family) if resolve is not None and r.endpoint else []
    return addresses[0] if len(addresses) == 1 else ""


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[[list[TransferResult]], None]:
    """``record(results)``: this test's transfers on its report, one row each (xdist-safe; no
    URLs, no credentials), and the run's could-not-run line when no credential is usable."""

    def put(results: list[TransferResult]) -> None:
        left = request.node.stash.setdefault(outcomes.TRANSFERS, Tag())
        st = state_of(request.config)
        resolve = site_resolve(st.site, st.hosts.facts.dns_cache) if st.site is not None else None
        left.transfers.extend(row(r, _entry_address(resolve, r)) for r in results)
        sess = (request.getfixturevalue("transfer_session")
                if "transfer_session" in request.fixturenames else None)
        _withhold_credentials(request.config, sess)
        line = getattr(sess, "no_credential", None)
        if line and any(r.precondition for r in results):
            left.no_credentials = line

    return put


# --------------------------------------------------------------------------- summary


class TransferSummary:
    """The run's transfers per protocol, credential and family (controller side), from records."""

    def __init__(self, state: State) -> None:
        self.state = state

    def rows(self) -> list[Any]:
        return outcomes.transfer_rows(self.state.outcomes.records.values())

    def stats(self) -> dict[tuple[str, int, str], RepeatStats]:
        return group_stats(self.rows())

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """No usable proxy: the run "could not run" (exit 4), not "checks failed".

        Before the results plugin writes the result file (so its exit status and the kept
        ``latest`` agree); an interrupted or crashed run keeps its own status.
        """
        if self.state.transfers.no_credentials and not is_worker(session.config) and \
                session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = exitcodes.USAGE_ERROR

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        stats = self.stats()
        if stats:
            terminalreporter.section("transfers per protocol, credential and family")
            for line in stats_lines(stats):
                terminalreporter.write_line(line)
        if self.state.transfers.no_credentials:
            terminalreporter.write_line(self.state.transfers.no_credentials, red=True, bold=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str]) -> None:
        rows = self.rows()
        if rows:
            postfix.append(transfers_html(self.stats(), rows))


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("se6-transfer-summary"):
        config.pluginmanager.register(TransferSummary(state_of(config)), "se6-transfer-summary")


def pytest_se_dualstack_site(config: pytest.Config, state: State) -> None:
    """Declare which host's xdist group each case joins (its ``group_host``).

    The test id starts with the entry host (``head...-root-ipv6-via-disk01``) but the data lands
    on the target, so the case joins the target's group: with ``--dist loadgroup`` the transfers
    of a 1+N site spread over N groups instead of all queueing behind the head node. Done here,
    not at parametrization, because the xdist controller collects nothing. The cases made here
    are the run's (:func:`run_cases`); a bad setting is reported at parametrization.
    """
    run = run_cases(config)
    state.hosts.group_hosts.update({c.id: c.group_host for c in [*run.transfers, *run.tpcs, *run.chains]})
