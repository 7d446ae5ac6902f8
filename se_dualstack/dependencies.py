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
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from se_dualstack import detect, knowledge

FILE_MARK = "@@se6-file "
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


# --------------------------------------------------------------------------- reading files on the host


def cat_script(patterns: Iterable[str]) -> str:
    """A POSIX sh command printing every existing file matching ``patterns`` (globs allowed),
    each after a marker line with its path: one ssh round trip for many small files."""
    words = " ".join(_glob_word(p) for p in patterns)
    return (f"for f in {words}; do [ -f \"$f\" ] && [ -r \"$f\" ] || continue; "
            f"printf '\\n{FILE_MARK}%s\\n' \"$f\"; cat \"$f\"; done; true")


def _glob_word(pattern: str) -> str:
    """Quote a path for sh but leave its ``*`` and ``?`` to the shell's globbing."""
    return "".join(c if c in "*?" or re.match(r"[A-Za-z0-9/._@+-]", c) else shlex.quote(c)
                   for c in pattern)


def parse_cat(text: str) -> dict[str, str]:
    """The output of :func:`cat_script` -> {path: content}."""
    out: dict[str, str] = {}
    path = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith(FILE_MARK):
            if path is not None:
                out[path] = "\n".join(lines).strip("\n")
            path, lines = line[len(FILE_MARK):], []
        elif path is not None:
            lines.append(line)
    if path is not None:
        out[path] = "\n".join(lines).strip("\n")
    return out


# --------------------------------------------------------------------------- token issuers


def sources(flavour: str, role: str | None) -> list[dict[str, Any]]:
    """The storage system's declared places for token issuers, for a host of ``role``."""
    raw = knowledge.load()["flavours"][flavour].get("token_issuers") or []
    return [s for s in raw if role is None or role in (s.get("roles") or ("headnode", "disknode"))]


def running_configs(ps_text: str, process: str) -> list[str]:
    """Config files of the running ``process`` (its ``-c FILE`` argument), from ``ps -eo comm,args``."""
    out: list[str] = []
    for p in detect.parse_ps(ps_text):
        if not p.is_named(process):
            continue
        words = p.args.split()
        for i, w in enumerate(words[:-1]):
            if w == "-c" and words[i + 1] not in out:
                out.append(words[i + 1])
    return out


def xrootd_lines(text: str) -> list[str]:
    """Directive lines of an XRootD config: comments dropped, ``\\`` continuations joined."""
    out, cur = [], ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        line = (cur + line).strip()
        cur = ""
        if line:
            out.append(line)
    return out


def xrootd_continues(text: str) -> list[str]:
    """``continue PATH`` targets (a file, or a directory whose files follow), as globs to read."""
    out = []
    for line in xrootd_lines(text):
        words = line.split()
        if words[0] == "continue" and len(words) > 1:
            path = words[1].rstrip("/")
            out += [path, f"{path}/*"]
    return out


def scitokens_configs(path: str, text: str, default: str) -> list[tuple[str, str]]:
    """(scitokens config, what named it) for each directive of ``path`` loading libXrdAccSciTokens:
    its ``config=`` argument, else the library's default path."""
    out = []
    for line in xrootd_lines(text):
        if "libXrdAccSciTokens" not in line:
            continue
        m = re.search(r"\bconfig=(\S+)", line)
        directive = line.split()[0]
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


def gather_dependencies(se_host: Any, host: Any) -> DependencyReport:
    """Read the host's token issuers and CRL URLs from its own configuration, then try each
    endpoint over IPv6 from the host (one probe run, endpoints side by side)."""
    v = se_host.vars
    rep = DependencyReport(se_host.name, timeout=float(v.get("se_connect_timeout", 3)))
    srcs = sources(str(v.get("se_flavour", "dpm")), se_host.role)
    crl = crl_settings()
    needs_ps = any(s["how"] == "xrootd-scitokens" for s in srcs)
    ps = host.run(f"timeout {READ_TIMEOUT} {detect.PS_COMMAND}").stdout if needs_ps else ""
    roots = {s["process"]: running_configs(ps, s["process"]) for s in srcs if s["how"] == "xrootd-scitokens"}
    wanted = [p for c in roots.values() for p in c] + [p for s in srcs if s["how"] == "pattern"
                                                       for p in s["paths"]] + list(crl["fetch_crl_configs"])
    files: dict[str, str] = {}
    for _ in range(MAX_ROUNDS):
        todo = [p for p in dict.fromkeys(wanted) if p not in files]
        if todo:
            files.update(_read(host, todo))
        more = [x for path in _xrootd_files(roots, files) for x in xrootd_continues(files[path])]
        more += [cfg for s in srcs if s["how"] == "xrootd-scitokens"
                 for path in _xrootd_files(roots, files)
                 for cfg, _ in scitokens_configs(path, files[path], s["default"])]
        if set(more) <= set(wanted):
            break
        wanted += more
    rep.issuers, rep.issuer_note = _issuers(srcs, roots, files)
    infodir = fetch_crl_infodir({p: files[p] for p in files if "fetch-crl" in p})
    cdir = infodir[0] if infodir else str(v.get("se_certificates_dir") or "/etc/grid-security/certificates")
    crl_files = _read(host, [f"{cdir}/{g}" for g in crl["files"]])
    rep.crls = crl_urls(crl_files)
    where = f"{cdir} ({', '.join(crl['files'])}" + (f"; infodir of {infodir[1]})" if infodir else ")")
    rep.crl_note = f"CRL URLs read from {where}"
    endpoints = [d.endpoint for d in [*rep.issuers, *rep.crls] if d.endpoint]
    if endpoints:
        cmd, args = probe_command(endpoints, rep.timeout)
        rep.probes = parse_probe(host.run(cmd, *args).stdout)
    return rep


READ_TIMEOUT = 30  # seconds for one round of reading files on the host


def _read(host: Any, patterns: list[str]) -> dict[str, str]:
    """The files matching ``patterns`` on the host, in one bounded ssh round trip."""
    return parse_cat(host.run(f"timeout {READ_TIMEOUT} sh -c %s", cat_script(patterns)).stdout)


def _xrootd_files(roots: Mapping[str, list[str]], files: Mapping[str, str]) -> list[str]:
    """The XRootD configs read so far: the running ones and every file their ``continue`` names."""
    out = [p for c in roots.values() for p in c if p in files]
    for path in list(out):
        out += [f for pattern in xrootd_continues(files[path]) for f in files
                if f == pattern or (pattern.endswith("/*") and f.startswith(pattern[:-1]))]
    return list(dict.fromkeys(out))


def _issuers(srcs: list[dict[str, Any]], roots: Mapping[str, list[str]],
             files: Mapping[str, str]) -> tuple[list[Dependency], str]:
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
        configs = _xrootd_files({s["process"]: roots.get(s["process"], [])}, files)
        if not roots.get(s["process"]):
            notes.append(f"no running {s['process']} with -c CONFIG (ps -eo comm,args)")
            continue
        named = [(cfg, f"{why}, the config of the running {s['process']}")
                 for path in configs for cfg, why in scitokens_configs(path, files[path], s["default"])]
        if not named:
            notes.append(f"the running {s['process']} ({', '.join(configs)}) loads no libXrdAccSciTokens")
        for cfg, why in named:
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
