"""System checks: the storage system's own settings that decide whether a family is served
(SE6-SYS-01..06). Each reads the files the storage data names for the host's system
(data/flavours/<system>.yml ``config_files``, moved per host with ``se_config_files``) and the
daemons' command lines, and is N/A, saying why, on a host of another system or without them."""

from __future__ import annotations

import pytest

from se_dualstack import knowledge
from se_dualstack.concerns import systems
from se_dualstack.concerns.interfaces import parse_ifcfg
from se_dualstack.concerns.sysconf import (
    exec_lines,
    network_options,
    nginx_listens,
    parse_properties,
    parse_systemd_env,
    parse_xrootd_cmdline,
    xrdhttp_ports,
    xrootd_directives,
    xrootd_port,
)

pytestmark = pytest.mark.systems

# Where a systemd or EL6 init setup starts XRootD daemons with extra options (XRootD's own
# xrootd@.service / cmsd@.service units, their drop-ins, EL6's /etc/sysconfig/xrootd).
XROOTD_STARTERS = ("/etc/systemd/system/xrootd@*.service", "/etc/systemd/system/cmsd@*.service",
                   "/etc/systemd/system/xrootd@*.service.d/*.conf",
                   "/etc/systemd/system/cmsd@*.service.d/*.conf", "/etc/sysconfig/xrootd")
NGINX_CONF = "/etc/nginx/nginx.conf"  # nginx's compiled-in default (-c overrides it)


def _only(system, name, check):
    if system.name != name:
        check.not_applicable(f"this host runs {system.title} (se_flavour {system.name}): this check reads "
                             f"{knowledge.system(name).title}'s own settings")


def _read(se_host, facts, path):
    return facts.files(se_host, se_host.testinfra, (path,)).get(path)


def _file_of(se_host_system, flavour, fmt, facts, check, absent):
    """(host, system, path, text) of the system's file of format ``fmt`` on the host; N/A on a
    host of another system or without the file (``absent`` says what that means)."""
    se_host, system = se_host_system
    _only(system, flavour, check)
    path = se_host.config_path(system.paths(fmt)[0])
    text = _read(se_host, facts, path)
    if text is None:
        check.not_applicable(f"no {path}: {absent}")
    return se_host, system, path, text


@pytest.mark.check("SE6-SYS-01")
def test_dcache_world_net_matches_ipv6(se_host_system, facts, check):
    _, _, path, text = _file_of(se_host_system, "dcache", "dcache-admin", facts, check,
                                "PoolManager does not run on this host (dCache keeps it with the core "
                                "services, usually on the head node)")
    v = systems.world_net(text)
    check.expect(v.ok, "every unit group of a link that matches all IPv4 clients (0.0.0.0/0) matching "
                 "all IPv6 clients (::/0)", f"{path}: {v.observed}", lines=v.fix, path=path)


def _dcache_layout(se_host, conf, registry_path):
    """The layout file dCache reads (dcache.layout, by default ${host.name}: the short name)."""
    props = parse_properties(conf)
    short = se_host.name.split(".")[0]
    name = props.get("dcache.layout", "${host.name}").replace("${host.name}", short) \
        .replace("${host.fqdn}", se_host.name)
    path = se_host.config_path(registry_path).replace("<layout>", name)
    where = props.get("dcache.layout.dir")
    return f"{where.rstrip('/')}/{name}.conf" if where else path


@pytest.mark.check("SE6-SYS-02")
def test_dcache_listen_not_pinned(se_host_system, facts, check):
    se_host, system, conf_path, conf = _file_of(se_host_system, "dcache", "properties", facts, check,
                                                "dCache is not configured on this host")
    layout_path = _dcache_layout(se_host, conf, system.paths("dcache-layout")[0])
    v = systems.dcache_listen(conf, conf_path, _read(se_host, facts, layout_path), layout_path)
    check.expect(v.ok, "dcache.net.listen blank (every interface) for every domain and cell",
                 v.observed, lines=v.fix)


@pytest.mark.check("SE6-SYS-03")
def test_eos_fst_serves_advertised_http_port(se_host_system, facts, check):
    se_host, system = se_host_system
    _only(system, "eos", check)
    host = se_host.testinfra
    fst_path = se_host.config_path(next(f.path for f in system.files("disknode") if f.format == "xrootd"))
    fst = facts.xrootd_config(se_host, host, fst_path)
    if fst is None:
        check.not_applicable(f"no {fst_path}: not an EOS FST (the MGM redirects HTTP clients to the port "
                             "each FST advertises; checked on the FSTs)")
    env_path = se_host.config_path(system.paths("shell-env")[0])
    env = parse_ifcfg(_read(se_host, facts, env_path) or "")
    if "EOS_FST_HTTP_PORT" not in env:  # EOS's manual also sets it in the eos@fst unit's drop-in
        for text in facts.files(se_host, host, ("/etc/systemd/system/eos@fst.service.d/*.conf",
                                                "/usr/lib/systemd/system/eos@fst.service.d/*.conf")).values():
            env.update({k: v for k, v in parse_systemd_env(text).items() if k == "EOS_FST_HTTP_PORT"})
    names = sorted({d.instance for p in facts.processes(se_host, host) if (d := parse_xrootd_cmdline(p.args))
                    and d.program == "xrootd" and d.config == fst_path})
    served: list[int] = []
    for name in names or ["fst"]:  # EOS starts its FST as xrootd -n fst (eos@fst)
        directives = xrootd_directives(fst, "xrootd", name, (se_host.name, se_host.name.split(".")[0]))
        xrd_port = xrootd_port(directives, knowledge.service("xrootd").port)
        served += [p for p in xrdhttp_ports(directives, xrd_port) if p not in served]
    declared = next((s.port for s in se_host.services if s.name == "eos-fst-https"), None)
    v = systems.eos_fst_http(env, served, declared, fst_path)
    check.expect(v.ok, "EOS_FST_HTTP_PORT (where the MGM redirects HTTP clients) served by the FST's "
                 "XrdHttp and declared for eos-fst-https", v.observed, lines=v.fix)


@pytest.mark.check("SE6-SYS-04")
def test_xrootd_keeps_both_families(se_host_system, facts, check):
    se_host, system = se_host_system
    if not system.paths("xrootd"):
        check.not_applicable(f"{system.title} runs no XRootD server of its own (its doors and data "
                             "servers are the product's own)")
    host = se_host.testinfra
    daemons = [("running", d) for p in facts.processes(se_host, host)
               if (d := parse_xrootd_cmdline(p.args)) and p.is_named(d.program)]
    for path, text in sorted(facts.files(se_host, host, XROOTD_STARTERS).items()):
        lines = exec_lines(text) if "/systemd/" in path else \
            [f"xrootd {v}" for k, v in parse_ifcfg(text).items() if k.endswith("_OPTIONS")]
        daemons += [(f"started by {path}", d) for ln in lines if (d := parse_xrootd_cmdline(ln))]
    configs = {d.config: d for _, d in daemons if d.config}
    registry = [se_host.config_path(p) for p in system.paths("xrootd")]
    names = (se_host.name, se_host.name.split(".")[0])
    texts = {p: t for p in [*configs, *registry] if (t := facts.xrootd_config(se_host, host, p)) is not None}
    if not daemons and not texts:
        check.not_applicable(f"no xrootd or cmsd runs here and none of {', '.join(registry)} exists")
    networks = []
    for path, text in texts.items():
        d = configs.get(path)
        directives = xrootd_directives(text, d.program if d else "xrootd", d.instance if d else "", names)
        networks += [(path, opts) for opts in network_options(directives)]
    v = systems.xrootd_families(daemons, networks, se_host.vars.get("se_families") == ["ipv6"])
    check.expect(v.ok, "xrootd and cmsd without -I v4 (or -I v6) and without xrd.network assumev4",
                 v.observed, lines=v.fix)


@pytest.mark.check("SE6-SYS-05")
def test_nginx_listens_both_families(se_host_system, facts, check):
    se_host, system = se_host_system
    host = se_host.testinfra
    masters = [p for p in facts.processes(se_host, host)
               if p.is_named("nginx") and "master process" in p.args]
    mine = [se_host.config_path(p) for p in system.paths("nginx")]
    if not masters and not (mine and facts.files(se_host, host, tuple(mine))):
        check.not_applicable("nginx does not run on this host" + (
            f" and none of {', '.join(mine)} exists" if mine else ""))
    words = masters[0].args.split() if masters else []
    main = words[words.index("-c") + 1] if "-c" in words[:-1] else NGINX_CONF
    files = facts.nginx_files(se_host, host, main)
    if main not in files:
        check.not_applicable(f"no {main}: nginx has no configuration to start from here")
    ports = sorted({s.port for s in se_host.services if s.port is not None})
    v = systems.nginx_families(nginx_listens(files, main), ports)
    if v is None:
        check.not_applicable("nginx listens on none of this host's service ports "
                             f"({', '.join(map(str, ports))})")
    check.expect(v.ok, "a listen line of each family (or [::]:P ipv6only=off) for every service port "
                 "nginx serves", v.observed, lines=v.fix)


@pytest.mark.check("SE6-SYS-06")
def test_storm_webdav_not_bound_to_one_family(se_host_system, facts, check):
    se_host, system = se_host_system
    _only(system, "storm", check)
    shell = [se_host.config_path(p) for p in system.paths("shell-env")]
    units = [se_host.config_path(p) for p in system.paths("systemd")]
    dropins = sorted({f"{p.rsplit('/', 1)[0]}/*.conf" for p in units})
    files = facts.files(se_host, se_host.testinfra, (*shell, *units, *dropins))
    if not files:
        check.not_applicable(f"no StoRM WebDAV settings ({', '.join([*shell, *dropins])}): StoRM WebDAV "
                             "is not installed on this host")
    settings = [(p, parse_ifcfg(t) if p in shell else parse_systemd_env(t)) for p, t in sorted(files.items())]
    v = systems.storm_address(settings)
    check.expect(v.ok, "STORM_WEBDAV_SERVER_ADDRESS unset or 0.0.0.0 (both families) and no "
                 "preferIPv4Stack", v.observed, lines=v.fix)
