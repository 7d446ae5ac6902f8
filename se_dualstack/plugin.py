"""The pytest plugin: inventory option, per-host parametrization, testinfra hosts, report wiring.

Loaded by the project's one-line ``conftest.py``.  A site admin only ever sees one-line errors
from here (bad inventory, unknown ``--hosts`` entry, unknown check id), and an unreachable host
turns into one failing line per check that needs it while the other hosts' checks run on.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from se_dualstack import checks, knowledge
from se_dualstack.errors import InventoryError
from se_dualstack.inventory import adhoc_site, load_site
from se_dualstack.model import SEHost, Site

# Report hooks live in report.py (an instance per run, registered in pytest_configure); the
# results/waivers/transfer plugins are other engineers' modules and
# are registered only once they exist (an ImportError inside them must still surface).
pytest_plugins = [
    m for m in ("se_dualstack.results", "se_dualstack.waivers", "se_dualstack.transfer_plugin")
    if importlib.util.find_spec(m)
]

# Fixtures that parametrize a test over inventory hosts, in the order the plugin prefers them.
PAIR_FIXTURES = ("se_host_service", "se_host_transfer_port", "se_headnode")
SE_FIXTURES = ("site", "se_host", *PAIR_FIXTURES)
CONCERNS = ("dns", "interfaces", "resolver", "firewall", "services", "transfer")


@dataclass
class Probe:
    """Outcome of the one reachability probe of a host."""

    ok: bool
    reason: str = ""


@dataclass
class State:
    """Per-run plugin state (one per pytest config; xdist workers each have their own)."""

    site: Site | None = None
    inventory: str | None = None
    adhoc: bool = False
    needs_inventory: list[str] = field(default_factory=list)  # tests that wanted one
    usage_errors: list[str] = field(default_factory=list)
    testinfra_hosts: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, Probe] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    current_check: str | None = None
    report_html: Path | None = None  # set when the plugin chose the report path
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Parameter id -> inventory host whose xdist group the test joins (see declare_group_hosts).
    group_hosts: dict[str, str] = field(default_factory=dict)


STATE_KEY = pytest.StashKey[State]()


def state_of(config: pytest.Config) -> State:
    """The plugin's state for this run (created on first use)."""
    if STATE_KEY not in config.stash:
        config.stash[STATE_KEY] = State()
    return config.stash[STATE_KEY]


# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("se_dualstack", "IPv6 dual-stack SE acceptance")
    group.addoption(
        "--inventory",
        action="store",
        dest="se_inventory",
        default=None,
        metavar="PATH",
        help="Ansible inventory (YAML or INI) of the site's storage element "
        "(also env SE_INVENTORY or ini se_inventory). Limit hosts with testinfra's --hosts.",
    )
    parser.addini("se_inventory", "default inventory path (see --inventory)", default="")


def inventory_path(config: pytest.Config) -> str | None:
    """``--inventory`` wins over ``$SE_INVENTORY``, which wins over the ini setting."""
    return (
        config.getoption("se_inventory", None)
        or os.environ.get("SE_INVENTORY")
        or (config.getini("se_inventory") or None)
    )


def hosts_option(config: pytest.Config) -> list[str]:
    """testinfra's own ``--hosts`` (comma separated), which here limits the inventory."""
    raw = config.getoption("hosts", None)
    return [h.strip() for h in str(raw).split(",") if h.strip()] if raw else []


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "check(id): the acceptance check this test implements (id from data/checks.yml)"
    )
    config.addinivalue_line("markers", "xdist_group(name): keep a host's checks on one xdist worker")
    st = state_of(config)
    from se_dualstack.report import SEReport

    if not config.pluginmanager.has_plugin("se_dualstack_report"):
        config.pluginmanager.register(SEReport(config), "se_dualstack_report")
    if not config.pluginmanager.has_plugin("se_dualstack_host"):
        config.pluginmanager.register(HostFixture(), "se_dualstack_host")
    if config.getoption("help", False) or config.getoption("version", False):
        return
    st.inventory = inventory_path(config)
    limit = hosts_option(config)
    try:
        if st.inventory:
            st.site = load_site(st.inventory, limit=limit or None)
        elif limit:
            st.site = adhoc_site(limit)
            st.adhoc = True
    except InventoryError as exc:
        raise pytest.UsageError(str(exc)) from None
    if st.site is not None:
        _default_report_paths(config, st)


def _default_report_paths(config: pytest.Config, st: State) -> None:
    """Unless the user chose ``--html``, write reports/<site>-<UTC>.html (+ JUnit XML)."""
    assert st.site is not None, "called only once the site is known"
    if hasattr(config, "workerinput") or config.getoption("collectonly", False):
        return
    if config.pluginmanager.hasplugin("html") is False or not hasattr(config.option, "htmlpath"):
        return
    if config.option.htmlpath:
        return
    args = [a for a in config.args if not a.startswith("-")]
    if args and all("selftests" in Path(a.split("::")[0]).parts for a in args):
        return  # the project's own tests: no site report
    stamp = st.started.strftime("%Y%m%dT%H%M%SZ")
    base = config.rootpath / "reports" / f"{_safe(st.site.name)}-{stamp}"
    config.option.htmlpath = str(base.with_suffix(".html"))
    config.option.self_contained_html = True
    if not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(base.with_suffix(".xml"))
    st.report_html = base.with_suffix(".html")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "site"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Point reports/<site>-latest.html at this run's report (stable link for the reviewer)."""
    st = config.stash.get(STATE_KEY, None)
    if st is None or st.report_html is None or st.site is None or not st.report_html.exists():
        return
    latest = st.report_html.parent / f"{_safe(st.site.name)}-latest.html"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(st.report_html.name)
    except OSError:
        import shutil

        shutil.copyfile(st.report_html, latest)


def pytest_report_header(config: pytest.Config) -> list[str]:
    st = state_of(config)
    if st.site is None:
        return []
    hosts = ", ".join(f"{h.name} ({h.role})" for h in st.site.hosts)
    src = "--hosts (no inventory: hosts taken as DPM head nodes)" if st.adhoc else st.inventory
    return [f"se_dualstack: site {st.site.name}, flavour {st.site.flavour}, inventory {src}",
            f"se_dualstack: hosts {hosts}"]


# --------------------------------------------------------------------------- parametrization


def _rows(site: Site | None, fixture: str) -> list[tuple[SEHost, Any, str]]:
    """(host, fixture value, id) for one parametrizing fixture."""
    if site is None:
        return []
    out: list[tuple[SEHost, Any, str]] = []
    for h in site.hosts:
        if fixture == "se_host" or (fixture == "se_headnode" and h.role == "headnode"):
            out.append((h, h, h.name))
        elif fixture == "se_host_service":
            out.extend((h, (h, s), f"{h.name}-{s.name}") for s in h.services)
        elif fixture == "se_host_transfer_port":
            out.extend((h, (h, tp), f"{h.name}-{tp.label}") for tp in h.transfer_ports)
    return out


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    pairs = [f for f in PAIR_FIXTURES if f in names]
    if not pairs and "se_host" not in names:
        return
    st = state_of(metafunc.config)
    where = metafunc.definition.nodeid
    if len(pairs) > 1:
        st.usage_errors.append(
            f"{where}: takes {' and '.join(pairs)}; a check takes one of "
            f"{', '.join(PAIR_FIXTURES)} (plus se_host/host)"
        )
        pairs = pairs[:1]
    primary = pairs[0] if pairs else "se_host"
    argnames = [primary] + (["se_host"] if primary != "se_host" and "se_host" in names else [])
    if st.site is None:
        st.needs_inventory.append(where)
        metafunc.parametrize(argnames, [tuple(None for _ in argnames)], ids=["no-inventory"],
                             indirect=True)
        return
    rows = _rows(st.site, primary)
    if not rows:
        what = {"se_headnode": "head node", "se_host_service": "service",
                "se_host_transfer_port": "transfer port"}.get(primary, "host")
        reason = f"no {what} among the hosts of this run (inventory and --hosts)"
        metafunc.parametrize(
            argnames,
            [pytest.param(*(None for _ in argnames), marks=pytest.mark.skip(reason=reason))],
            ids=[f"no-{what.replace(' ', '')}"], indirect=True,
        )
        return
    values = [(val, h) if len(argnames) == 2 else (val,) for h, val, _ in rows]
    metafunc.parametrize(argnames, values, ids=[i for _, _, i in rows], indirect=True)


def item_se_host(item: pytest.Item) -> SEHost | None:
    """The inventory host a collected test runs against (None for tests not per host)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for name in ("se_host", *PAIR_FIXTURES):
        val = callspec.params.get(name)
        if isinstance(val, SEHost):
            return val
        if isinstance(val, tuple) and val and isinstance(val[0], SEHost):
            return val[0]
    return None


def item_check_id(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("check")
    if mark is None:
        return None
    return str(mark.args[0]) if mark.args else str(mark.kwargs.get("id", "")) or None


def item_concern(item: pytest.Item, check_id: str | None) -> str:
    """Concern for the summary matrix: the catalogue's, else a concern marker, else the module."""
    if check_id:
        try:
            return checks.get(check_id).concern
        except (KeyError, OSError):
            pass
    for c in CONCERNS:
        if item.get_closest_marker(c) is not None:
            return c
    stem = Path(str(getattr(item, "path", ""))).stem
    return stem.removeprefix("test_") if stem.startswith("test_") else "other"


def _in_acceptance_dir(item: pytest.Item, config: pytest.Config) -> bool:
    try:
        rel = Path(str(item.path)).relative_to(config.rootpath)
    except ValueError:
        return False
    return bool(rel.parts) and rel.parts[0] == "tests"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Validate check ids, then group each host's checks for ``xdist --dist loadgroup``."""
    st = state_of(config)
    if st.needs_inventory:
        raise pytest.UsageError(
            "no inventory given: run pytest --inventory inventory/mysite.yml (or set SE_INVENTORY), "
            "optionally with --hosts=ssh://root@host1,... to limit the run; see inventory/README.md"
        )
    if st.usage_errors:
        raise pytest.UsageError(st.usage_errors[0])
    errors: list[str] = []
    for item in items:
        cid = item_check_id(item)
        uses_se = any(f in getattr(item, "fixturenames", ()) for f in SE_FIXTURES)
        if cid is None:
            if uses_se or _in_acceptance_dir(item, config):
                errors.append(
                    f"{item.nodeid}: has no @pytest.mark.check(\"SE6-...\"); every acceptance "
                    "check carries the id of its entry in se_dualstack/data/checks.yml"
                )
            continue
        try:
            checks.get(cid)
        except KeyError:
            errors.append(
                f"{item.nodeid}: check id {cid!r} is not in se_dualstack/data/checks.yml; "
                "add it to the catalogue or fix the id"
            )
        except OSError as exc:
            errors.append(f"cannot read the check catalogue se_dualstack/data/checks.yml ({exc})")
        group = item_group_host(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise pytest.UsageError(errors[0] + more)


def declare_group_hosts(config: pytest.Config, hosts: dict[str, str]) -> None:
    """Declare, by parameter id, the inventory host whose xdist group a test joins.

    For tests parametrized with their own objects (transfer cases) whose id starts with one host
    but whose work lands on another (``head...-root-ipv6-via-disk01`` writes to disk01). Call it
    from ``pytest_configure`` so the xdist controller, which collects nothing, knows it too.
    The parameter objects should also expose the host as ``group_host`` (used for the
    ``xdist_group`` mark on the item).
    """
    state_of(config).group_hosts.update(hosts)


def _param_id(nodeid: str) -> str | None:
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    return nodeid[nodeid.rindex("[") + 1:-1]


def group_host(nodeid: str, names: list[str], declared: dict[str, str] | None = None) -> str | None:
    """The host whose xdist group a test id belongs to: a declared one, else the host in the id."""
    param = _param_id(nodeid)
    if param is not None and declared and param in declared:
        return declared[param]
    return host_in_nodeid(nodeid, names)


def item_group_host(item: pytest.Item) -> str | None:
    """The host whose group an item joins: a parameter's ``group_host``, else its SE host."""
    callspec = getattr(item, "callspec", None)
    for val in (callspec.params.values() if callspec is not None else ()):
        declared = getattr(val, "group_host", None)
        if isinstance(declared, str) and declared:
            return declared
    seh = item_se_host(item)
    return seh.name if seh is not None else None


def host_in_nodeid(nodeid: str, names: list[str]) -> str | None:
    """The inventory host a test id is about: ``test_x[pool07.example.org-gsiftp]`` -> pool07..."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    param = nodeid[nodeid.rindex("[") + 1:-1]
    for name in sorted(names, key=len, reverse=True):
        if param == name or param.startswith(name + "-"):
            return name
    return None


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: keep each host's checks on one worker (one ssh master per host).

    xdist groups by an ``@group`` suffix its workers add to node ids, which pytest 9.2's
    structured node ids silently drop (pytest-xdist#1386), so the controller also groups by
    the host of the test id: the one declared for its parameter id (``declare_group_hosts``,
    e.g. a transfer through the head node lands in its target disk node's group), else the host
    the id starts with. The ``xdist_group`` marks stay for a fixed xdist.
    """
    st = state_of(config)
    if config.getvalue("dist") != "loadgroup" or st.site is None:
        return None
    from xdist.scheduler import LoadGroupScheduling

    names = [h.name for h in st.site.hosts]
    declared = st.group_hosts

    class HostGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            if scope != nodeid:
                return scope
            return group_host(nodeid, names, declared) or nodeid

    return HostGroupScheduling(config, log)


# --------------------------------------------------------------------------- testinfra hosts


def _hostspec(seh: SEHost, connection: str) -> str:
    if connection == "local":
        return "local://"
    addr = seh.connection
    try:
        if isinstance(ipaddress.ip_address(addr.strip("[]")), ipaddress.IPv6Address):
            addr = f"[{addr.strip('[]')}]"
    except ValueError:
        pass
    port = f":{seh.port}" if seh.port else ""
    return f"{connection}://{seh.user}@{addr}{port}"


def testinfra_host(config: pytest.Config, seh: SEHost) -> Any:
    """The (cached) testinfra Host for an inventory host, over testinfra's own options."""
    import testinfra

    st = state_of(config)
    with st.lock:
        if seh.name in st.testinfra_hosts:
            return st.testinfra_hosts[seh.name]
        connection = config.getoption("connection", None) or "ssh"
        kwargs: dict[str, Any] = {
            "ssh_config": config.getoption("ssh_config", None),
            "ssh_identity_file": config.getoption("ssh_identity_file", None),
            "sudo": bool(config.getoption("sudo", False)),
            "sudo_user": config.getoption("sudo_user", None),
        }
        if connection in ("ssh", "safe-ssh"):
            # BatchMode: never sit at a password prompt; ConnectTimeout bounds a dead address.
            extra = config.getoption("ssh_extra_args", None) or ""
            kwargs["ssh_extra_args"] = f"-o BatchMode=yes {extra}".strip()
            kwargs["timeout"] = int(seh.vars.get("se_ssh_timeout", 10))
        kwargs = {k: v for k, v in kwargs.items() if v not in (None, "")}
        real = testinfra.get_host(_hostspec(seh, connection), **kwargs)
        st.testinfra_hosts[seh.name] = real
        return real


def _short_reason(exc: BaseException) -> str:
    """One short line from a failed probe (ssh's own last stderr line, usually)."""
    arg = exc.args[0] if exc.args else None
    text = ""
    if arg is not None and hasattr(arg, "stderr"):
        try:
            text = str(arg.stderr)
        except Exception:
            text = ""
        if not text.strip():
            text = f"exit status {getattr(arg, 'rc', '?')}"
    if not text.strip():
        text = str(exc) or type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Warning:")]
    line = lines[-1] if lines else text.strip()
    return line[:160]


def probe_host(real: Any, timeout: float) -> Probe:
    """Run ``true`` on the host once, bounded by ``timeout`` (a thread: testinfra has none)."""
    result: list[Probe] = []

    def run() -> None:
        try:
            out = real.run("true")
            ok = out.rc == 0
            result.append(Probe(ok, "" if ok else _short_reason(RuntimeError(out))))
        except Exception as exc:
            result.append(Probe(False, _short_reason(exc)))

    t = threading.Thread(target=run, name="se-probe", daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        return Probe(False, f"no answer within {timeout:g} s")
    return result[0]


def unreachable_message(check_id: str | None, host: str, reason: str) -> str:
    prefix = f"[{check_id}] " if check_id else ""
    return (
        f"{prefix}{host}: host unreachable over ssh ({reason}); "
        "check that sshd runs and --ssh-config/ansible_host are right"
    )


def require_reachable(config: pytest.Config, seh: SEHost) -> Any:
    """The testinfra host, or fail the current check with one line if it cannot be reached."""
    st = state_of(config)
    real = testinfra_host(config, seh)
    probe = st.probes.get(seh.name)
    if probe is None:
        probe = probe_host(real, float(seh.vars.get("se_ssh_timeout", 10)) * 2 + 5)
        st.probes[seh.name] = probe
    if not probe.ok:
        pytest.fail(unreachable_message(st.current_check, seh.name, probe.reason), pytrace=False)
    return real


class GuardedHost:
    """A testinfra Host that first makes sure its SE host answers over ssh.

    Any use (``host.file(...)``, ``host.run(...)``) of an unreachable host fails the check with
    one line instead of an ssh traceback; checks that need no ssh (DNS, client connects) run.
    """

    def __init__(self, config: pytest.Config, seh: SEHost) -> None:
        self._se_config = config
        self._se_host = seh

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(require_reachable(self._se_config, self._se_host), name)

    def __repr__(self) -> str:
        return f"<testinfra host of {self._se_host.name}>"


def detect_os(config: pytest.Config, seh: SEHost) -> str | None:
    """OS family from testinfra's ``system_info`` (fails the check if the host is unreachable)."""
    real = require_reachable(config, seh)
    info = real.system_info
    return knowledge.os_family(info.distribution, info.release)


def attach(config: pytest.Config, seh: SEHost | None) -> SEHost | None:
    """Give an inventory host its (guarded) testinfra Host and OS detector, once."""
    if seh is not None and seh.host is None:
        seh.host = GuardedHost(config, seh)
        seh.detect_os = lambda: detect_os(config, seh)
    return seh


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def site(pytestconfig: pytest.Config) -> Site:
    """The site under test: all hosts of this run, site-wide variables."""
    st = state_of(pytestconfig)
    if st.site is None:
        pytest.fail("no inventory given: run pytest --inventory inventory/mysite.yml", pytrace=False)
    for h in st.site.hosts:
        attach(pytestconfig, h)
    return st.site


@pytest.fixture
def se_host(request: pytest.FixtureRequest) -> SEHost:
    """One inventory host (the test is parametrized over all hosts of the run; id = name)."""
    return attach(request.config, request.param)  # type: ignore[return-value]


@pytest.fixture
def se_headnode(request: pytest.FixtureRequest) -> SEHost:
    """One head node of the run (parametrized over head nodes only)."""
    return attach(request.config, request.param)  # type: ignore[return-value]


@pytest.fixture
def se_host_service(request: pytest.FixtureRequest) -> tuple[SEHost, Any]:
    """(host, Service) pairs over every host's services; id ``host-service``."""
    seh, svc = request.param
    attach(request.config, seh)
    return seh, svc


@pytest.fixture
def se_host_transfer_port(request: pytest.FixtureRequest) -> tuple[SEHost, Any]:
    """(host, TransferPort) pairs, the GridFTP data range included; id ``host-label``."""
    seh, tp = request.param
    attach(request.config, seh)
    return seh, tp


class HostFixture:
    """Holds the suite's ``host`` fixture, registered in ``pytest_configure``.

    testinfra's plugin defines ``host`` too.  Of two global fixtures the one registered later
    wins; an entry-point plugin may load before or after this module (``-p`` loads first), but
    every plugin is loaded before ``pytest_configure``, so registering here always wins.
    """

    @pytest.fixture
    def host(self, request: pytest.FixtureRequest) -> Any:
        """The testinfra Host of the current inventory host (overrides testinfra's ``host``)."""
        seh = item_se_host(request.node)
        if seh is None:
            pytest.fail(
                f"{request.node.nodeid}: 'host' needs a per-host check (take se_host, se_headnode, "
                "se_host_service or se_host_transfer_port)", pytrace=False,
            )
        attach(request.config, seh)
        return seh.host


# --------------------------------------------------------------------------- run-time


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state_of(item.config).current_check = item_check_id(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Tag each report with check id, host, concern (and the fix on failure) for the report."""
    report = yield
    cid = item_check_id(item)
    seh = item_se_host(item)
    st = state_of(item.config)
    if seh is None and st.site is not None:  # tests parametrized their own way (transfers)
        name = host_in_nodeid(item.nodeid, [h.name for h in st.site.hosts])
        seh = st.site.host(name) if name else None
    report.se_check = cid or ""
    report.se_host = seh.name if seh else ""
    report.se_role = seh.role if seh else ""
    report.se_concern = item_concern(item, cid)
    fix = ""
    if report.failed:
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, checks.CheckFailure):
            fix = exc.fix
            # A failed check is a finding about the host, not a fault in the suite: show the
            # message alone (as pytest.fail(pytrace=False) does), not a Python traceback.
            report.longrepr = str(exc)
        elif cid:
            probe = st.probes.get(seh.name) if seh else None
            if probe is not None and not probe.ok:
                fix = ("Make the host reachable over ssh from the machine running the suite "
                       "(sshd running, key accepted), or fix ansible_host / --ssh-config.")
            else:
                try:
                    fix = checks.get(cid).fix
                except (KeyError, OSError):
                    fix = ""
    report.se_fix = fix
    message = ""
    if report.failed and call.excinfo is not None:
        message = next((ln.strip() for ln in str(call.excinfo.value).splitlines() if ln.strip()),
                       call.excinfo.typename)
    report.se_message = message
    # What this process learnt about the host travels on the report (xdist serializes it).
    report.se_os = (seh.detected_os or "") if seh else ""
    probe = st.probes.get(seh.name) if seh else None
    report.se_unreachable = probe.reason if probe is not None and not probe.ok else ""
    from se_dualstack import report as se_report

    se_report.decorate(report)
    return report
