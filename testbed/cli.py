"""Command line of the site in a box.

    python -m testbed [--name NAME] up [SITE.yml | dcache | eos | xrootd | storm | ...] [--disks N]
    python -m testbed [--name NAME] status
    python -m testbed [--name NAME] exec HOST -- CMD...      (inside HOST; `client` included)
    python -m testbed [--name NAME] run -- CMD...            (as the client, suite env set)
    python -m testbed [--name NAME] fault HOST FAULT          (apply a fault to a running site)
    python -m testbed faults                                  (the fault catalogue)
    python -m testbed [--name NAME] down
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from testbed import dns, engine, faults, firewall, hostenv, netns, osfiles
from testbed.site import SiteError, host_by_name, load_site

DEFAULT_NAME = os.environ.get("SE_TESTBED_NAME", "se6tb")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m testbed", description="Dual-stack grid SE site in a box.")
    p.add_argument("--name", default=DEFAULT_NAME,
                   help="testbed instance name (namespaces <name>-*, state /run/se-testbed/<name>); "
                        f"default {DEFAULT_NAME} or $SE_TESTBED_NAME")
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="bring a site up (cleans leftovers of the same name first)")
    u.add_argument("site", nargs="?", help="site file (default testbed/sites/default.yml; a bare name "
                                           "like dcache or seed-before means testbed/sites/<name>.yml)")
    u.add_argument("--disks", type=int, help="number of disk nodes (1..32), overrides the site file")
    sub.add_parser("status", help="hosts, addresses, listening ports, paths")
    e = sub.add_parser("exec", help="run a command inside a host (its network, /etc, processes)")
    e.add_argument("host")
    e.add_argument("command", nargs=argparse.REMAINDER)
    r = sub.add_parser("run", help="run a command as the client host with the suite's environment")
    r.add_argument("command", nargs=argparse.REMAINDER)
    f = sub.add_parser("fault", help="apply a catalogue fault to a host of the running site")
    f.add_argument("host")
    f.add_argument("fault")
    sub.add_parser("faults", help="list the fault catalogue")
    sub.add_parser("down", help="remove everything the testbed made (a no-op when nothing is up)")
    return p


def _command(cmd: list[str]) -> list[str]:
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise engine.TestbedError("no command given (usage: ... -- CMD ARGS...)")
    return cmd


def _host_pid(state: dict[str, Any], name: str) -> tuple[dict[str, Any], int]:
    site = state["site"]
    h = host_by_name(site, name)
    rec = next(r for r in state["hosts"] if r["short"] == h["short"])
    if not hostenv.alive(rec["pid"]):
        raise engine.TestbedError(f"host {h['short']} of testbed {state['name']!r} is not running "
                                  f"(init pid {rec['pid']} gone); run down and up again")
    return h, rec["pid"]


def suite_env(state: dict[str, Any]) -> dict[str, str]:
    """Environment of `run`: how the suite finds the inventory, ssh config and credentials."""
    sd = engine.state_dir(state["name"])
    env = dict(os.environ)
    env.update(state.get("x509") or {})
    env["SE_TESTBED_STATE"] = str(sd)
    env["SE_TESTBED_NAME"] = state["name"]
    # --opt=value: pytest's early parse would otherwise take the path for a test path (rootdir)
    addopts = f"--inventory={sd / 'inventory.yml'} --ssh-config={sd / 'ssh_config'}"
    env["PYTEST_ADDOPTS"] = (addopts + " " + env.get("PYTEST_ADDOPTS", "")).strip()
    # `run -- pytest` finds the venv's pytest (and se-dualstack): its bin directory comes first.
    venv_bin = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([venv_bin, *(p for p in env.get("PATH", "").split(os.pathsep)
                                               if p and p != venv_bin)])
    return env


def _print_up(state: dict[str, Any]) -> None:
    site = state["site"]
    print(f"testbed {state['name']!r} up in {state['up_seconds']:.2f} s: site {site['site']} "
          f"({site['source']}), domain {site['domain']}")
    print(f"  bridge + dnsmasq  netns {state['name']}-site  DNS {site['dns']['ipv6']} {site['dns']['ipv4']}")
    personality = {h["short"]: h.get("personality", h["os"]) for h in site["hosts"]}
    for rec in state["hosts"]:
        svcs = ", ".join(f"{s['name']}:{'/'.join(map(str, s['ports'])) or '-'}" for s in rec["services"])
        extra = {"client": "", "issuer": f"  {svcs}"}.get(  # the issuer runs https only
            rec["role"], f"  sshd:22{', ' + svcs if svcs else ''}")
        fl = f"  faults: {', '.join(rec['faults'])}" if rec["faults"] else ""
        v6, v4 = rec["ipv6"] or "(no IPv6)", rec["ipv4"] or "(no IPv4)"
        os_ = personality.get(rec["short"], rec["os"])
        print(f"  {rec['fqdn']:<28} {rec['role']:<8} {os_:<7} {v4:<13} {v6:<16}{extra}{fl}")
    if state.get("dns64"):
        d64, n64 = state["dns64"], state["nat64"]
        via = f" (mapped onto {n64['translator_prefix']})" if n64["netmap"] else ""
        print(f"  DNS64       {d64['resolver']} (unbound, prefix {d64['prefix']}, forwards to "
              f"{d64['forwards_to']}); NAT64 tayga in {n64['gateway']}{via}, pool {n64['pool4']}")
    _print_paths(state)
    print(f"  run the suite:  python -m testbed --name {state['name']} run -- .venv/bin/pytest")
    print(f"  tear down:      python -m testbed --name {state['name']} down")


def _print_paths(state: dict[str, Any]) -> None:
    """Where the suite finds the site: inventory, ssh config, proxy, CA, issuer, tokens."""
    sd = engine.state_dir(state["name"])
    print(f"  inventory   {sd / 'inventory.yml'}")
    print(f"  ssh config  {sd / 'ssh_config'}")
    if state.get("x509"):
        print(f"  proxy       {state['x509']['X509_USER_PROXY']}")
        print(f"  CA dir      {state['x509']['X509_CERT_DIR']}")
    if state.get("tokens"):
        print(f"  issuer      {state['tokens']['issuer']}")
        print(f"  tokens      {sd / 'tokens'}/<kind>.jwt: {', '.join(state['tokens']['tokens'])} "
              f"(suite: --bearer-token-file=... or BEARER_TOKEN_FILE)")


def _status(name: str) -> int:
    st = engine.leftovers(name)
    if not st["namespaces"]:
        print(f"testbed {name!r} is down" + (f" (leftover dirs: {st['dirs']})" if st["dirs"] else ""))
        return 1
    try:
        state = engine.load_state(name)
    except engine.TestbedError:
        print(f"testbed {name!r}: namespaces {st['namespaces']} exist but no state.json "
              "(crashed or still starting); run down or up")
        return 1
    print(f"testbed {name!r}: {len(state['hosts'])} hosts, state {engine.state_dir(name)}")
    bad = 0
    for rec in state["hosts"]:
        ok = hostenv.alive(rec["pid"])
        bad += not ok
        ports = sorted(hostenv.listening_ports(rec["pid"])) if ok else []
        print(f"  {rec['fqdn']:<28} {'up  ' if ok else 'DEAD'} pid {rec['pid']:<7} {rec['ipv4'] or '-':<13} "
              f"{rec['ipv6'] or '-':<16} listening {ports}"
              + (f"  faults {rec['faults']}" if rec["faults"] else ""))
    _print_paths(state)
    return 1 if bad else 0


def _fault(state: dict[str, Any], host_name: str, fault: str) -> None:
    """Apply one fault to a running host: regenerate what that fault touches."""
    site = state["site"]
    h, pid = _host_pid(state, host_name)
    if h["role"] == "client":
        raise engine.TestbedError("faults apply to SE hosts, not the client")
    name, _ = faults.split(fault)
    if name == "alias_one_dead" or (name in faults.CATALOGUE and faults.CATALOGUE[name].applies == "svc"):
        why = "the inventory regenerated" if name == "alias_one_dead" else "its services restarted"
        raise engine.TestbedError(f"{name} needs {why}: put it in the site file's faults and run up")
    new = [*h["faults"], fault] if fault not in h["faults"] else list(h["faults"])
    try:
        faults.validate(new, h)
    except ValueError as exc:
        raise engine.TestbedError(str(exc)) from None
    h["faults"] = new
    if name == "not_dual_stacked" and h["has_ipv6"]:
        h["has_ipv6"] = False
        netns.remove_ipv6(h, site)
    if name == "temporary_source" and h["has_ipv6"]:
        netns.add_second_source(h, site)
    sd = engine.state_dir(state["name"])
    kind = faults.CATALOGUE[name].applies
    if kind in ("dns", "net"):
        state["dns_pid"] = dns.start(site, sd)
    if kind in ("os", "net"):
        for path, content in osfiles.files(site, h).items():
            if content is None:
                hostenv.whiteout(pid, path)
            else:
                hostenv.write_file(pid, path, content)
    if kind in ("fw", "net"):
        rec = next(r for r in state["hosts"] if r["short"] == h["short"])
        firewall.apply(pid, site, h, sorted({p for s in rec["services"] for p in s["ports"]}))
    for rec in state["hosts"]:
        if rec["short"] == h["short"]:
            rec["faults"] = new
            if not h["has_ipv6"]:
                rec["ipv6"] = None
    (sd / "state.json").write_text(json.dumps(state, indent=1, default=str))
    print(f"applied {fault} to {h['fqdn']}: {faults.CATALOGUE[name].story}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "faults":
            print(faults.describe())
            return 0
        if args.cmd in ("up", "down", "exec", "run", "fault"):
            engine.preflight()
        if args.cmd == "up":
            site = load_site(args.site, name=args.name, disks=args.disks)
            _print_up(engine.up(site))
            return 0
        if args.cmd == "down":
            with engine.locked(args.name, remove=True):
                found = engine.down(args.name)
            if any(found.values()):
                print(f"testbed {args.name!r} down: removed {len(found['namespaces'])} namespaces, "
                      f"{len(found['pids'])} processes, {len(found['dirs'])} directories")
            else:
                print(f"testbed {args.name!r}: nothing to remove")
            return 0
        if args.cmd == "status":
            return _status(args.name)
        state = engine.load_state(args.name)
        if args.cmd == "fault":
            with engine.locked(args.name):
                _fault(state, args.host, args.fault)
            return 0
        cmd = _command(args.command)
        target = "client" if args.cmd == "run" else args.host
        _, pid = _host_pid(state, target)
        env = suite_env(state) if args.cmd == "run" else dict(os.environ)
        full = [*hostenv.nsenter_argv(pid, os.getcwd()), *cmd]
        sys.stdout.flush()
        os.execvpe(full[0], full, env)
    except (engine.TestbedError, SiteError, hostenv.HostEnvError, netns.NetError) as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `status | head`
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

