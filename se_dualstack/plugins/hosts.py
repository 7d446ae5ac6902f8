"""Hosts: the inventory option, per-host parametrization, testinfra hosts, fixtures.

A site admin only ever sees one-line errors from here (bad inventory, unknown ``--hosts`` entry,
unknown check id), and an unreachable host turns into one failing line per check that needs it
while the other hosts' checks run on.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from se_dualstack import checks, remote, sitevars
from se_dualstack.errors import InventoryError
from se_dualstack.facts import Facts
from se_dualstack.inventory import adhoc_site, load_site
from se_dualstack.model import ROLES, SEHost, Site
from se_dualstack.plugins import outcomes
from se_dualstack.plugins.state import state_of

# This run's ssh connection sharing (one per pytest config: each xdist worker has its own).
MASTERS = pytest.StashKey[remote.Masters]()

# Fixtures that parametrize a test over inventory hosts, in the order the plugin prefers them.
PAIR_FIXTURES = ("se_host_service", "se_host_transfer_port", "se_headnode")
SE_FIXTURES = ("site", "se_host", *PAIR_FIXTURES)


# --------------------------------------------------------------------------- options


# This module works alone (``-p se_dualstack.plugins.hosts``) on the state and outcomes it needs.
pytest_plugins = ["se_dualstack.plugins.state", "se_dualstack.plugins.outcomes"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("se_dualstack", "IPv6 dual-stack SE acceptance")
    group.addoption(
        "--inventory", action="store", dest="se_inventory", default=None, metavar="PATH",
        help="Ansible inventory of the site's storage element, any form Ansible reads (file, "
        "directory, script) (also env SE_INVENTORY or ini se_inventory). Limit with --hosts.",
    )
    group.addoption("--ansible-playbook-dir", dest="se_playbook_dir", metavar="DIR",
                    help="also read group_vars/ and host_vars/ next to these playbooks")
    group.addoption("--vault-password-file", dest="se_vault_password_files", action="append",
                    default=[], metavar="FILE",
                    help="Ansible vault password file (ANSIBLE_VAULT_PASSWORD_FILE works too)")
    group.addoption("--se-role", dest="se_roles", action="append", default=[], metavar="HOST=ROLE",
                    help="role of a --hosts host without inventory: headnode or disknode "
                    "(else detected from what it runs)")
    group.addoption("--se-flavour", dest="se_flavour", metavar="FLAVOUR",
                    help="SE flavour (dpm, dcache, eos, storm, xrootd); else detected or dpm")
    group.addoption("--se-var", dest="se_vars", action="append", default=[], metavar="KEY=VALUE",
                    help="set any se_* site variable (YAML value); beats the inventory")
    parser.addini("se_inventory", "default inventory path (see --inventory)", default="")


def inventory_path(config: pytest.Config) -> str | None:
    """``--inventory`` wins over ``$SE_INVENTORY``, which wins over the ini setting."""
    return (config.getoption("se_inventory", None) or os.environ.get("SE_INVENTORY")
            or (config.getini("se_inventory") or None))


def hosts_option(config: pytest.Config) -> list[str]:
    """testinfra's own ``--hosts`` (comma separated), which here limits the inventory."""
    raw = config.getoption("hosts", None)
    return [h.strip() for h in str(raw).split(",") if h.strip()] if raw else []


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("se_dualstack_host"):
        config.pluginmanager.register(HostFixture(), "se_dualstack_host")
    if config.getoption("help", False) or config.getoption("version", False):
        return
    st = state_of(config)
    st.source.inventory = inventory_path(config)
    limit = hosts_option(config)
    try:
        overrides = sitevars.parse_assignments(config.getoption("se_vars"), "--se-var")
        flavour = config.getoption("se_flavour")
        if flavour:
            overrides["se_flavour"] = sitevars.flavour_of("--se-flavour", flavour)
        if st.source.inventory:
            st.site = load_site(st.source.inventory, limit=limit or None, overrides=overrides,
                                playbook_dir=config.getoption("se_playbook_dir"),
                                vault_password_files=config.getoption("se_vault_password_files"))
        elif limit:
            roles = sitevars.parse_assignments(config.getoption("se_roles"), "--se-role", ROLES)
            site = adhoc_site(limit, roles, overrides.get("se_flavour"), overrides)
            st.site = remote.detect_roles(site, lambda h: testinfra_host(config, h),
                                          overrides.get("se_flavour"))
            st.source.adhoc = True
    except InventoryError as exc:
        raise pytest.UsageError(str(exc)) from None
    if st.site is not None:
        config.hook.pytest_se_dualstack_site(config=config, state=st)


def pytest_report_header(config: pytest.Config) -> list[str]:
    st = state_of(config)
    if st.site is None:
        return []
    hosts = ", ".join(f"{h.name} ({h.role or 'role unknown'})" for h in st.site.hosts)
    lines = [f"se_dualstack: site {st.site.name}, flavour {st.site.flavour}, {st.site.origin}",
             f"se_dualstack: hosts {hosts}"]
    # How each role was found, so a detected (or undetectable) role is never a silent guess.
    return lines + [f"se_dualstack: {h.name}: {h.role_source}" for h in st.site.hosts if st.source.adhoc]


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
        st.source.usage_errors.append(
            f"{where}: takes {' and '.join(pairs)}; a check takes one of "
            f"{', '.join(PAIR_FIXTURES)} (plus se_host/host)"
        )
        pairs = pairs[:1]
    primary = pairs[0] if pairs else "se_host"
    argnames = [primary] + (["se_host"] if primary != "se_host" and "se_host" in names else [])
    if st.site is None:
        st.source.needs_inventory.append(where)
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


def _in_acceptance_dir(item: pytest.Item, config: pytest.Config) -> bool:
    try:
        rel = Path(str(item.path)).relative_to(config.rootpath)
    except ValueError:
        return False
    return bool(rel.parts) and rel.parts[0] == "tests"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Validate check ids (the xdist groups are :mod:`.groups`')."""
    st = state_of(config)
    if st.source.needs_inventory:
        raise pytest.UsageError(
            "no inventory given: run pytest --inventory inventory/mysite.yml (or set SE_INVENTORY), "
            "optionally with --hosts=ssh://root@host1,... to limit the run; see inventory/README.md"
        )
    if st.source.usage_errors:
        raise pytest.UsageError(st.source.usage_errors[0])
    errors: list[str] = []
    for item in items:
        cid = outcomes.check_id(item)
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
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise pytest.UsageError(errors[0] + more)


# --------------------------------------------------------------------------- testinfra hosts


def testinfra_host(config: pytest.Config, seh: SEHost) -> Any:
    """The (cached) testinfra Host of an SE host: its Ansible connection, testinfra's options on top.

    testinfra's ``--connection``/``--sudo``/``--sudo-user``/``--ssh-extra-args`` given on the
    command line beat the inventory, as they did before; ``--ssh-config`` and
    ``--ssh-identity-file`` apply where the inventory names no key.
    """
    st = state_of(config)
    with st.hosts.lock:
        if seh.name in st.hosts.testinfra:
            return st.hosts.testinfra[seh.name]
        conn = seh.connection
        if config.getoption("connection", None):
            conn = replace(conn, kind=config.getoption("connection"))
        if config.getoption("sudo", False):
            conn = replace(conn, become=True, become_user=config.getoption("sudo_user", None))
        if config.getoption("ssh_extra_args", None):
            conn = replace(conn, ssh_args=f"{conn.ssh_args} {config.getoption('ssh_extra_args')}".strip())
        if MASTERS not in config.stash:
            config.stash[MASTERS] = remote.Masters()
        real = remote.host_for(seh.name, conn, ssh_config=config.getoption("ssh_config", None),
                               ssh_identity_file=config.getoption("ssh_identity_file", None),
                               timeout=float(seh.vars.get("se_ssh_timeout", 10)),
                               masters=config.stash[MASTERS])
        st.hosts.testinfra[seh.name] = real
        return real


def require_reachable(config: pytest.Config, seh: SEHost, check_id: str | None = None) -> Any:
    """The testinfra host, or fail the current check with one line if it cannot be reached."""
    st = state_of(config)
    real = testinfra_host(config, seh)
    probe = st.hosts.probes.get(seh.name)
    if probe is None:
        probe = remote.probe(real, float(seh.vars.get("se_ssh_timeout", 10)) * 2 + 5)
        st.hosts.probes[seh.name] = probe
        seh.detected_os = seh.detected_os or probe.os  # learnt with the probe: no second contact
    if not probe.ok:
        raise checks.CouldNotRun(check_id, seh.name, probe.reason, outcomes.UNREACHABLE_FIX)
    return real


class GuardedHost:
    """A testinfra Host that first makes sure its SE host answers over ssh.

    Any use (``host.file(...)``, ``host.run(...)``) of an unreachable host fails the check with
    one line instead of an ssh traceback; checks that need no ssh (DNS, client connects) run.
    """

    def __init__(self, config: pytest.Config, seh: SEHost) -> None:
        self._se_config = config
        self._se_host = seh
        self._se_check: str | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(require_reachable(self._se_config, self._se_host, self._se_check), name)

    def __repr__(self) -> str:
        return f"<testinfra host of {self._se_host.name}>"


def detect_os(config: pytest.Config, seh: SEHost) -> str | None:
    """OS family, read by the host's one reachability probe (fails the check if unreachable)."""
    require_reachable(config, seh)
    return state_of(config).probes[seh.name].os


def attach(config: pytest.Config, seh: SEHost | None) -> SEHost | None:
    """Give an inventory host its (guarded) testinfra Host and OS detector, once."""
    if seh is not None and seh.testinfra is None:
        seh.testinfra = GuardedHost(config, seh)
        seh.detect_os = lambda: detect_os(config, seh)
    return seh


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Unreachable-host lines name the check being run."""
    seh = attach(item.config, outcomes.se_host(item))
    if seh is not None and isinstance(seh.testinfra, GuardedHost):
        seh.testinfra._se_check = outcomes.check_id(item)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Learn the OS of hosts that no check contacted (a `-m dns` run, say), then close ssh.

    The report's matrix and the result file name each host's OS. A host's OS comes with its
    one reachability probe, so a host a check reached is never contacted again (under xdist
    its OS arrives on the reports); only a host no check reached is probed here, once.
    """
    config = session.config
    st = state_of(config)
    try:
        if st.site is not None and not config.getoption("collectonly", False) \
                and not hasattr(config, "workerinput"):
            _probe_uncontacted(config, st.site)
    finally:
        if MASTERS in config.stash:
            config.stash[MASTERS].close()


def _probe_uncontacted(config: pytest.Config, site: Site) -> None:
    """Probe, in parallel and bounded, the hosts of this run whose OS is not known yet."""
    st = state_of(config)
    ran = {r.host for r in st.outcomes.records.values()}
    todo = [h for h in site.hosts
            if h.name in ran and not st.outcomes.host(h.name).unreachable and h.name not in st.hosts.probes
            and not st.outcomes.host(h.name).detected_os and not h.detected_os]
    if not todo:
        return

    def one(h: SEHost) -> None:
        try:
            attach(config, h)
            require_reachable(config, h)
        except BaseException:  # pytest.fail() is a BaseException: the OS stays unknown
            probe = st.hosts.probes.get(h.name)
            if probe is not None and not probe.ok:
                facts = st.outcomes.host(h.name)
                facts.unreachable = facts.unreachable or probe.reason

    threads = [threading.Thread(target=one, args=(h,), daemon=True) for h in todo]
    for t in threads:
        t.start()
    bound = max(float(h.vars.get("se_ssh_timeout", 10)) for h in todo) * 2 + 10
    for t in threads:
        t.join(bound)
    for h in todo:
        if h.detected_os:
            st.outcomes.host(h.name).detected_os = h.detected_os


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


@pytest.fixture(scope="session")
def facts(pytestconfig: pytest.Config) -> Facts:
    """This run's gathered host state (each fact asked once per run)."""
    return state_of(pytestconfig).hosts.facts


@pytest.fixture
def check(request: pytest.FixtureRequest) -> checks.Bound:
    """The test's check (id from its ``@pytest.mark.check``) bound to its host."""
    cid, _, name = outcomes.identify(request.node)
    if cid is None:
        pytest.fail(f"{request.node.nodeid}: the 'check' fixture needs @pytest.mark.check(\"SE6-...\")",
                    pytrace=False)
    return checks.Bound(cid, name or "")


class HostFixture:
    """Holds the suite's ``host`` fixture, registered in ``pytest_configure``.

    testinfra's plugin defines ``host`` too. Of two global fixtures the one registered later
    wins; an entry-point plugin may load before or after this module (``-p`` loads first), but
    every plugin is loaded before ``pytest_configure``, so registering here always wins.
    """

    @pytest.fixture
    def host(self, request: pytest.FixtureRequest) -> Any:
        """The testinfra Host of the current inventory host (overrides testinfra's ``host``)."""
        seh = outcomes.se_host(request.node)
        if seh is None:
            pytest.fail(
                f"{request.node.nodeid}: 'host' needs a per-host check (take se_host, se_headnode, "
                "se_host_service or se_host_transfer_port)", pytrace=False,
            )
        attach(request.config, seh)
        return seh.testinfra
