"""The SE's own dependencies over IPv6 (SE6-DEP-01): what a server fetches to do its job.

Why: a storage server validates tokens by fetching its issuers' discovery document and keys over
https, and its CAs' CRLs are downloaded (fetch-crl) from the URLs in the CA directory. If one of
those answers only over IPv4, an IPv6-only SE fails token transfers (or, once the CRLs expire,
every X.509 login) while every check of the host itself is green. The dependencies are read from
the server's own configuration, where each storage system keeps them (data: ``token_issuers`` in
``data/flavours/<system>.yml``, ``dependencies`` in ``data/knowledge.yml``), and tried from the
host itself, at its own resolver, with bash, getent and timeout (on every EL host).

Pure: outputs in, dependencies and verdicts out; :mod:`se_dualstack.facts` runs the commands.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from se_dualstack import detect, knowledge
from se_dualstack.concerns import sysconf
from se_dualstack.hostfiles import read_files

_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]{1,253}$")


@dataclass(frozen=True)
class Dependency:
    """One thing the server fetches: a token issuer or a CA's CRL, and where it was read."""

    kind: str  # "token issuer" | "CRL"
    url: str
    source: str  # the file (and what named it) the URL was read from

    @property
    def endpoint(self) -> tuple[str, int] | None:
        """(DNS name, TCP port) of the URL; None when it names no host a probe can try."""
        try:
            parts = urlsplit(self.url)
            port = parts.port or knowledge.scheme_port(parts.scheme)
        except ValueError:
            return None
        host = (parts.hostname or "").rstrip(".")
        if not host or port is None or not _HOSTNAME.match(host):
            return None
        return host, int(port)


# --------------------------------------------------------------------------- token issuers


def sources(flavour: str, role: str | None) -> list[dict[str, Any]]:
    """The storage system's declared places for token issuers, for a host of ``role``."""
    raw = knowledge.load()["flavours"][flavour].get("token_issuers") or []
    return [s for s in raw if role is None or role in (s.get("roles") or ("headnode", "disknode"))]


def running_daemons(processes: Iterable[detect.Process], process: str) -> list[sysconf.XrdDaemon]:
    """The running ``process`` daemons that name a config file (``-c FILE``), one per file."""
    out: dict[str, sysconf.XrdDaemon] = {}
    for p in processes:
        d = sysconf.parse_xrootd_cmdline(p.args) if p.is_named(process) else None
        if d is not None and d.config:
            out.setdefault(d.config, d)
    return list(out.values())


def scitokens_configs(path: str, directives: list[tuple[str, list[str]]],
                      default: str) -> list[tuple[str, str]]:
    """(scitokens config, what named it) for each directive of ``path`` (as
    :func:`~se_dualstack.concerns.sysconf.xrootd_directives` reads it) loading libXrdAccSciTokens:
    its ``config=`` argument, else the library's default path."""
    out = []
    for directive, args in directives:
        line = " ".join(args)
        if "libXrdAccSciTokens" not in line:
            continue
        m = re.search(r"\bconfig=(\S+)", line)
        out.append((m.group(1) if m else default, f"named by `{directive} ... libXrdAccSciTokens` in {path}"
                    + ("" if m else f" (no config=: the library's default {default})")))
    return list(dict.fromkeys(out))


def scitokens_issuers(path: str, text: str, named_by: str) -> list[Dependency]:
    """``issuer = URL`` of each ``[Issuer NAME]`` section of a scitokens config (INI)."""
    out, section = [], ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        m = re.match(r"^\[(.+)\]$", line)
        if m:
            section = m.group(1).strip()
            continue
        m = re.match(r"^issuer\s*=\s*(\S+)", line)
        if m and section.lower().startswith("issuer"):
            out.append(Dependency("token issuer", m.group(1), f"[{section}] in {path}, {named_by}"))
    return out


def pattern_issuers(files: Mapping[str, str], pattern: str, what: str) -> list[Dependency]:
    """Issuer URLs a regular expression (its group 1) finds in a system's config files."""
    rx = re.compile(pattern, re.MULTILINE)
    return [Dependency("token issuer", m.group(1).strip("\"'"), f"{what} in {path}")
            for path, text in files.items() for m in rx.finditer(text)]


# --------------------------------------------------------------------------- CRLs


def crl_settings() -> dict[str, Any]:
    """Where CRL URLs and fetch-crl's settings are (knowledge.yml ``dependencies: crl``)."""
    return dict(knowledge.load()["dependencies"]["crl"])


def fetch_crl_infodir(files: Mapping[str, str]) -> tuple[str, str] | None:
    """(directory, the config saying so) when a fetch-crl config sets ``infodir``."""
    for path, text in files.items():
        for raw in text.splitlines():
            m = re.match(r"^\s*infodir\s*=\s*(\S+)", raw.split("#", 1)[0])
            if m:
                return m.group(1).rstrip("/"), path
    return None


def crl_urls(files: Mapping[str, str]) -> list[Dependency]:
    """CRL URLs of a CA directory: ``<hash>.crl_url`` (one URL a line) and IGTF ``<alias>.info``
    (``crl_url = URL[;URL]``), as fetch-crl reads them."""
    out = []
    for path, text in sorted(files.items()):
        ca = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if path.endswith(".crl_url"):
            urls = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        elif path.endswith(".info"):
            urls = [u.strip() for ln in text.splitlines()
                    if (m := re.match(r"^\s*crl_url\s*=\s*(.+)$", ln)) for u in m.group(1).split(";")]
        else:
            continue
        out += [Dependency("CRL", u, f"CRL of CA {ca} ({path})") for u in urls if u]
    return out


# --------------------------------------------------------------------------- trying them from the host

PROBE = r"""
t=$1; shift
for spec in "$@"; do
  (
    name=${spec% *}; port=${spec##* }
    out=$(getent ahostsv6 "$name" 2>/dev/null); rc=$?
    six=$(printf '%s\n' "$out" | awk '$2=="STREAM" && $1 !~ /^::ffff:/ {print $1}' | sort -u | tr '\n' ' ')
    four=$( { printf '%s\n' "$out" | awk '$2=="STREAM" && $1 ~ /^::ffff:/ {sub(/^::ffff:/,"",$1); print $1}';
              getent ahostsv4 "$name" 2>/dev/null | awk '$2=="STREAM" {print $1}'; } | sort -u | tr '\n' ' ')
    printf 'R\t%s\t%s\t%s\t%s\t%s\n' "$name" "$port" "$rc" "$six" "$four"
    for a in $six; do
      err=$(timeout "$t" bash -c "exec 3<>/dev/tcp/$a/$port" 2>&1); c=$?
      printf 'C\t%s\t%s\t%s\t%s\t%s\n' "$name" "$port" "$a" "$c" "$(printf '%s' "$err" | tail -n 1)"
    done
  ) &
done
wait
"""


@dataclass
class Probe:
    """What one host saw of one dependency endpoint: its addresses and each IPv6 connect."""

    name: str
    port: int
    aaaa: list[str] = field(default_factory=list)
    ipv4: list[str] = field(default_factory=list)
    resolved: bool = False  # getent ahostsv6 answered at all
    connects: list[tuple[str, bool, str]] = field(default_factory=list)  # (address, ok, error)

    @property
    def ok(self) -> bool:
        return any(ok for _, ok, _ in self.connects)

    def observed(self) -> str:
        """What went wrong, in a few words (empty when one IPv6 address accepted)."""
        if self.ok:
            return ""
        if not self.aaaa:
            four = f"only IPv4 {', '.join(self.ipv4)}" if self.ipv4 else "no address at all"
            return f"{self.name} has no AAAA at the host's resolver ({four})"
        return "; ".join(f"[{a}]:{self.port}: {err or 'refused'}" for a, _, err in self.connects)


def probe_command(endpoints: Iterable[tuple[str, int]], timeout: float) -> tuple[str, list[str]]:
    """(testinfra command with %s placeholders, its arguments) trying every endpoint in parallel."""
    specs = [f"{h} {p}" for h, p in dict.fromkeys(endpoints)]
    total = int(timeout * 2 + 20)  # resolver retries, then the connects, all side by side
    return (f"timeout {total} bash -c %s se6-dep-probe %s " + " ".join(["%s"] * len(specs)),
            [PROBE, f"{timeout:g}", *specs])


def parse_probe(text: str) -> dict[tuple[str, int], Probe]:
    """The probe's ``R``/``C`` lines -> one :class:`Probe` per (name, port)."""
    out: dict[tuple[str, int], Probe] = {}
    for line in text.splitlines():
        f = line.split("\t")
        if len(f) < 4 or f[0] not in ("R", "C") or not f[2].isdigit():
            continue
        p = out.setdefault((f[1], int(f[2])), Probe(f[1], int(f[2])))
        if f[0] == "R" and len(f) >= 6:
            p.resolved = f[3] == "0"
            p.aaaa, p.ipv4 = f[4].split(), f[5].split()
        elif f[0] == "C" and len(f) >= 5:
            rc, err = f[4], (f[5] if len(f) > 5 else "").strip()
            err = err.rsplit("connect: ", 1)[-1].rsplit(": ", 1)[-1] if err else ""
            if rc == "124":
                err = "no answer (timed out)"
            p.connects.append((f[3], rc == "0", "" if rc == "0" else err or f"exit status {rc}"))
    return out


def tried(host: str, timeout: float) -> str:
    """The words a failure uses to say what was tried, and from where."""
    return (f"tried from {host}: getent ahostsv6 (the host's own resolver), then a TCP connect "
            f"to each AAAA with a {timeout:g} s timeout (bash /dev/tcp)")


# --------------------------------------------------------------------------- gathering (the one I/O)

MAX_ROUNDS = 3  # config -> its `continue` files -> the scitokens config they name


@dataclass
class DependencyReport:
    """A host's dependencies, where they were looked for, and what the host saw of each."""

    host: str
    issuers: list[Dependency] = field(default_factory=list)
    crls: list[Dependency] = field(default_factory=list)
    issuer_note: str = ""  # where issuers were looked for (the N/A reason when none)
    crl_note: str = ""
    probes: dict[tuple[str, int], Probe] = field(default_factory=dict)
    timeout: float = 3.0

    def probe(self, dep: Dependency) -> Probe | None:
        ep = dep.endpoint
        return self.probes.get(ep) if ep else None

    def failures(self, deps: list[Dependency]) -> list[str]:
        """One line per dependency the host cannot reach over IPv6 (name, URL, source, why)."""
        out = []
        for dep in deps:
            p = self.probe(dep)
            if dep.endpoint is None:
                why = "the URL names no host and port to try"
            elif p is None:
                why = "the probe on the host gave no answer for it"
            elif p.ok:
                continue
            else:
                why = p.observed()
            out.append(f"{dep.kind} {dep.url} ({dep.source}): {why}")
        return out


def gather_dependencies(se_host: Any, host: Any, processes: list[detect.Process]) -> DependencyReport:
    """Read the host's token issuers and CRL URLs from its own configuration (the running
    daemons among ``processes`` name theirs), then try each endpoint over IPv6 from the host
    (one probe run, endpoints side by side)."""
    v = se_host.vars
    rep = DependencyReport(se_host.name, timeout=float(v.get("se_connect_timeout", 3)))
    srcs = sources(str(v.get("se_flavour", "dpm")), se_host.role)
    crl = crl_settings()
    names = (se_host.name, se_host.name.split(".")[0])
    daemons = {s["process"]: running_daemons(processes, s["process"])
               for s in srcs if s["how"] == "xrootd-scitokens"}
    wanted = [d.config for ds in daemons.values() for d in ds] + \
        [p for s in srcs if s["how"] == "pattern" for p in s["paths"]] + list(crl["fetch_crl_configs"])
    files: dict[str, str] = {}
    asked: set[str] = set()
    for _ in range(MAX_ROUNDS):
        todo = [p for p in dict.fromkeys(wanted) if p not in asked]
        if not todo:
            break
        asked.update(todo)
        files.update(read_files(host, todo))
        for s in srcs:
            if s["how"] == "xrootd-scitokens":
                for d in daemons[s["process"]]:
                    for path, directives in xrootd_configs(d, files, names):
                        wanted += sysconf.continue_globs(directives)
                        wanted += [cfg for cfg, _ in scitokens_configs(path, directives, s["default"])]
    rep.issuers, rep.issuer_note = _issuers(srcs, daemons, files, names)
    infodir = fetch_crl_infodir({p: files[p] for p in files if "fetch-crl" in p})
    cdir = infodir[0] if infodir else str(v.get("se_certificates_dir") or "/etc/grid-security/certificates")
    crl_files = read_files(host, [f"{cdir}/{g}" for g in crl["files"]])
    rep.crls = crl_urls(crl_files)
    where = f"{cdir} ({', '.join(crl['files'])}" + (f"; infodir of {infodir[1]})" if infodir else ")")
    rep.crl_note = f"CRL URLs read from {where}"
    endpoints = [d.endpoint for d in [*rep.issuers, *rep.crls] if d.endpoint]
    if endpoints:
        cmd, args = probe_command(endpoints, rep.timeout)
        rep.probes = parse_probe(host.run(cmd, *args).stdout)
    return rep


def xrootd_configs(daemon: sysconf.XrdDaemon, files: Mapping[str, str],
                   names: tuple[str, ...]) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """(path, directives) of the daemon's config read so far and of each file its ``continue``
    names, as that daemon on a host of ``names`` reads them (``if``/``else`` chosen)."""
    if daemon.config not in files:
        return []
    main = sysconf.xrootd_directives(files[daemon.config], daemon.program, daemon.instance, names)
    return [(daemon.config, main)] + [
        (p, sysconf.xrootd_directives(files[p], daemon.program, daemon.instance, names))
        for p in sysconf.continued(files, main)]


def _issuers(srcs: list[dict[str, Any]], daemons: Mapping[str, list[sysconf.XrdDaemon]],
             files: Mapping[str, str], names: tuple[str, ...]) -> tuple[list[Dependency], str]:
    """The issuers the host's server trusts, and a sentence saying where they were looked for."""
    out: list[Dependency] = []
    notes: list[str] = []
    if not srcs:
        return [], "this storage system declares no place for token issuers on this role"
    for s in srcs:
        if s["how"] == "pattern":
            read = {p: t for p, t in files.items() if any(_matches(p, g) for g in s["paths"])}
            found = pattern_issuers(read, s["pattern"], s["what"])
            out += found
            notes.append(f"{s['what']} in {', '.join(read) or 'none of ' + ', '.join(s['paths'])}")
            continue
        running = daemons.get(s["process"], [])
        if not running:
            notes.append(f"no running {s['process']} with -c CONFIG (ps -eo comm,args)")
            continue
        configs = [c for d in running for c in xrootd_configs(d, files, names)]
        named = [(cfg, f"{why}, the config of the running {s['process']}")
                 for path, directives in configs
                 for cfg, why in scitokens_configs(path, directives, s["default"])]
        if not named:
            read = ", ".join(p for p, _ in configs) or "its config unread"
            notes.append(f"the running {s['process']} ({read}) loads no libXrdAccSciTokens")
        for cfg, why in dict.fromkeys(named):
            if cfg not in files:
                notes.append(f"{cfg} ({why}) cannot be read on the host")
                continue
            found = scitokens_issuers(cfg, files[cfg], why)
            out += found
            notes.append(f"{cfg} ({why})" + ("" if found else ": no [Issuer] section with issuer ="))
    unique = list({d.url: d for d in out}.values())
    return unique, "; ".join(notes)


def _matches(path: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern)
