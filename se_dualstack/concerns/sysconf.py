"""The storage systems' own configuration formats, read as the products read them.

Why exact parsing: each product has its own rules for which line wins, and the checks of
:mod:`se_dualstack.concerns.systems` must see the value the daemon runs with, not a line that a
later one overrides: dCache's properties (later wins) and its layout files (``[domain]`` and
``[domain/service]`` sections override what comes before), XRootD's config (``if``/``else``/
``fi`` blocks chosen per program and instance, ``set`` variables), a systemd drop-in's
``Environment=`` lines, nginx's statements and ``include``s. Shell-style files (eos_env,
/etc/sysconfig/storm-webdav) are read by :func:`~se_dualstack.concerns.interfaces.parse_ifcfg`.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split("#", 1)[0].split()


# --------------------------------------------------------------------------- dCache


def parse_properties(text: str) -> dict[str, str]:
    """``key = value`` lines (dcache.conf, StoRM's frontend conf); ``#`` comments; a later
    assignment of a key wins, as dCache's and Java's properties readers do."""
    return dict(assignments(text))


def assignments(text: str) -> list[tuple[str, str]]:
    """Every ``key = value`` (or ``key=value``) line, in order."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out.append((key.strip(), value.strip()))
    return out


@dataclass(frozen=True)
class LayoutSection:
    """One part of a dCache layout file: ``""`` before the first section, ``domain`` or
    ``domain/service``; its properties override those of the parts above it for that scope."""

    name: str
    properties: tuple[tuple[str, str], ...]

    @property
    def domain(self) -> str:
        return self.name.split("/", 1)[0]


def parse_layout(text: str) -> list[LayoutSection]:
    """A dCache layout file (dCache's Book, "the layout file"): properties, then ``[domain]``
    and ``[domain/service]`` sections, each with the properties that apply there."""
    sections: list[tuple[str, list[tuple[str, str]]]] = [("", [])]
    for raw in text.splitlines():
        line = raw.strip()
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            sections.append((m.group(1).strip(), []))
        elif line and not line.startswith("#"):
            sections[-1][1].extend(assignments(line))
    return [LayoutSection(n, tuple(p)) for n, p in sections]


# --------------------------------------------------------------------------- systemd


def parse_systemd_env(text: str) -> dict[str, str]:
    """``Environment="A=b" C=d`` lines of a unit or drop-in (a later assignment wins; an empty
    ``Environment=`` resets the list, as systemd does)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        key, sep, value = raw.strip().partition("=")
        if not sep or key.strip() != "Environment":
            continue
        if not value.strip():
            out.clear()
        for word in _words(value):
            k, eq, v = word.partition("=")
            if eq:
                out[k] = v
    return out


def exec_lines(text: str) -> list[str]:
    """The command lines a unit or drop-in starts (``ExecStart=``, prefixes such as ``-`` and
    ``@`` dropped); an empty ``ExecStart=`` (a drop-in clearing the unit's) is left out."""
    out = []
    for raw in text.splitlines():
        key, sep, value = raw.strip().partition("=")
        if sep and key.strip() == "ExecStart" and value.strip():
            out.append(value.strip().lstrip("-@:+!"))
    return out


# --------------------------------------------------------------------------- XRootD


@dataclass(frozen=True)
class XrdDaemon:
    """A running (or configured) XRootD daemon, from its command line."""

    program: str  # xrootd | cmsd
    config: str  # -c
    instance: str  # -n ("" when unnamed: XRootD's "anon")
    family: str  # -I v4 | v6, "" when both
    args: str

    @property
    def label(self) -> str:
        return f"{self.program}{f' -n {self.instance}' if self.instance else ''}"


def parse_xrootd_cmdline(args: str) -> XrdDaemon | None:
    """An ``xrootd``/``cmsd`` command line -> what it runs (None: not one of them)."""
    words = _words(args) or args.split()
    prog = next((i for i, w in enumerate(words) if w.rsplit("/", 1)[-1] in ("xrootd", "cmsd")), None)
    if prog is None:
        return None
    opts: dict[str, str] = {}
    rest = words[prog + 1:]
    for i, w in enumerate(rest):
        if w in ("-c", "-n", "-I") and i + 1 < len(rest):
            opts.setdefault(w, rest[i + 1])
        elif len(w) > 2 and w[:2] in ("-c", "-n", "-I") and not w.startswith("--"):
            opts.setdefault(w[:2], w[2:])
    return XrdDaemon(words[prog].rsplit("/", 1)[-1], opts.get("-c", ""), opts.get("-n", ""),
                     opts.get("-I", ""), " ".join(words[prog:]))


_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.]*)\)|\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")


def _xrd_lines(text: str) -> list[str]:
    """Config lines with comments dropped and ``\\`` continuations joined."""
    out, pending = [], ""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            out.append(line)
    return out


def _xrd_atom(words: list[str], program: str, instance: str, hostnames: tuple[str, ...],
              variables: dict[str, str]) -> bool:
    """One condition of an ``if``: ``[<hosts>] [exec <programs>] [named <names>]`` or
    ``defined <vars>``; every part given must hold."""
    parts: dict[str, list[str]] = {"": []}
    key = ""
    for w in words:
        if w in ("exec", "named", "defined"):
            key = w
            parts[key] = []
        else:
            parts[key].append(w)
    checks = [
        not parts[""] or any(fnmatch.fnmatch(h, p) for p in parts[""] for h in hostnames),
        "exec" not in parts or program in parts["exec"],
        "named" not in parts or instance in parts["named"],
        "defined" not in parts or all(v.lstrip("?~") in variables for v in parts["defined"]),
    ]
    return all(checks)


def _xrd_condition(words: list[str], program: str, instance: str, hostnames: tuple[str, ...],
                   variables: dict[str, str]) -> bool:
    """``a && b || c`` evaluated left to right, as XRootD's config reader does."""
    result: bool | None = None
    op = ""
    atom: list[str] = []
    for w in [*words, "&&"]:
        if w in ("&&", "||"):
            value = _xrd_atom(atom, program, instance, hostnames, variables)
            result = value if result is None else (result and value if op == "&&" else result or value)
            op, atom = w, []
        else:
            atom.append(w)
    return bool(result)


def xrootd_directives(text: str, program: str = "xrootd", instance: str = "",
                      hostnames: tuple[str, ...] = ()) -> list[tuple[str, list[str]]]:
    """The directives ``program -n instance`` on a host named ``hostnames`` reads from one
    config file: ``if``/``else if``/``else``/``fi`` chosen, ``set`` variables substituted.
    Each is (directive, its words), in order; ``continue`` directives are kept (the reader of
    the host follows them)."""
    variables: dict[str, str] = {}
    out: list[tuple[str, list[str]]] = []
    stack: list[tuple[bool, bool]] = []  # (this branch active, a branch of this if was taken)

    def active() -> bool:
        return all(a for a, _ in stack)

    for line in _xrd_lines(text):
        line = _VAR.sub(lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), line)
        words = line.split()
        head = words[0]
        if head == "if":
            parent = active()
            ok = parent and _xrd_condition(words[1:], program, instance, hostnames, variables)
            stack.append((ok, ok))
        elif head == "else" and stack:
            _, taken = stack.pop()
            outer = active()
            if len(words) > 2 and words[1] == "if":
                ok = outer and not taken and _xrd_condition(words[2:], program, instance, hostnames,
                                                             variables)
            else:
                ok = outer and not taken
            stack.append((ok, taken or ok))
        elif head == "fi" and stack:
            stack.pop()
        elif not active():
            continue
        elif head in ("set", "setenv") and len(words) >= 3:
            name = words[1].rstrip("=")
            value = words[3:] if len(words) > 3 and words[2] == "=" else words[2:]
            variables[name] = " ".join(x for x in value if x != "=")
        else:
            out.append((head, words[1:]))
    return out


def xrootd_port(directives: list[tuple[str, list[str]]], default: int | None) -> int | None:
    """``xrd.port`` (the last one wins; ``any``: None, no fixed port); ``default`` without one
    (XRootD's own, the xrootd service's port in the storage data)."""
    port: int | None = default
    for name, args in directives:
        if name == "xrd.port" and args:
            port = int(args[0]) if args[0].isdigit() else None
    return port


def xrdhttp_ports(directives: list[tuple[str, list[str]]], xrd_port: int | None) -> list[int]:
    """Ports ``xrd.protocol XrdHttp[:port]`` serves HTTP on (no port: it shares xrd.port)."""
    out: list[int] = []
    for name, args in directives:
        if name != "xrd.protocol" or not args:
            continue
        words = args[1:] if args[0] == "tls" else args
        proto, _, port = words[0].partition(":")
        if "http" not in proto.lower() and not any("XrdHttp" in w for w in words[1:]):
            continue
        p = int(port) if port.isdigit() else xrd_port
        if p is not None and p not in out:
            out.append(p)
    return out


def network_options(directives: list[tuple[str, list[str]]]) -> list[list[str]]:
    """The options of every ``xrd.network`` directive."""
    return [args for name, args in directives if name == "xrd.network"]


def continues(directives: list[tuple[str, list[str]]]) -> list[str]:
    """The paths ``continue`` directives name (a file, or a directory read in name order)."""
    return [args[0] for name, args in directives if name == "continue" and args]


# Files XRootD's `continue <dir>` skips (backups and package leftovers, XrdOucStream).
XRD_SKIPPED = ("~", ".rpmsave", ".rpmnew", ".dpkg-old", ".dpkg-dist", ".bak")


def continue_globs(directives: list[tuple[str, list[str]]]) -> list[str]:
    """What to read for each ``continue``: the path itself (a file) and its files (a directory)."""
    return [g for path in continues(directives) for g in (path.rstrip("/"), f"{path.rstrip('/')}/*")]


def continued(files: Mapping[str, str], directives: list[tuple[str, list[str]]]) -> list[str]:
    """The paths among ``files`` (as read with :func:`continue_globs`) that XRootD reads after the
    file of ``directives``, in its order: a named file, or a directory's files by name with
    backups left out."""
    out: list[str] = []
    for target in (p.rstrip("/") for p in continues(directives)):
        if target in files:
            out.append(target)
            continue
        out += sorted(p for p in files if p.startswith(f"{target}/") and "/" not in p[len(target) + 1:]
                      and not p.endswith(XRD_SKIPPED))
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- nginx


@dataclass(frozen=True)
class NginxListen:
    """One ``listen`` directive of a ``server`` block."""

    address: str  # "" wildcard of IPv4 ("listen 8443" / "*:8443"), "::" IPv6 wildcard, a literal, a name
    port: int
    ipv6only: bool  # nginx's default for an IPv6 address: on
    context: str  # http | stream
    file: str  # where it is written
    text: str  # the directive as written: "listen [::]:8443 ssl"
    unix: bool = False

    @property
    def options(self) -> list[str]:
        """Its parameters after the address (``ssl``, ``http2``...), ``ipv6only`` left out."""
        return [w for w in self.text.split()[2:] if not w.startswith("ipv6only=")]

    @property
    def families(self) -> frozenset[int]:
        """Families this socket accepts (empty: a name nginx resolves when it starts)."""
        addr = self.address
        if addr in ("", "*", "0.0.0.0") or re.fullmatch(r"[\d.]+", addr):
            return frozenset({4})
        if ":" in addr:
            return frozenset({6} if self.ipv6only or addr != "::" else {4, 6})
        return frozenset()

    @property
    def loopback(self) -> bool:
        return self.address in ("127.0.0.1", "::1", "localhost") or self.address.startswith("127.")


@dataclass
class NginxConfig:
    """What nginx reads from its main file and every file it includes."""

    listens: list[NginxListen] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)  # patterns, relative ones resolved


def _nginx_statements(text: str) -> list[tuple[list[str], str]]:
    """(context stack, statement words) for every ``;``-ended statement."""
    body = re.sub(r"#[^\n]*", "", text)
    out: list[tuple[list[str], str]] = []
    stack: list[str] = []
    buf = ""
    for ch in body:
        if ch == "{":
            stack.append(buf.split()[0] if buf.split() else "")
            buf = ""
        elif ch == "}":
            if stack:
                stack.pop()
            buf = ""
        elif ch == ";":
            out.append((list(stack), buf.strip()))
            buf = ""
        else:
            buf += ch
    return out


def parse_listen(words: list[str], context: str, file: str) -> NginxListen | None:
    """``listen`` arguments (nginx's ngx_http_core_module / stream core module)."""
    if not words:
        return None
    first = words[0]
    if first.startswith("unix:"):
        return NginxListen(first, 0, False, context, file, " ".join(["listen", *words]), unix=True)
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", first) or re.fullmatch(r"(?:(.+):)?(\d+)", first)
    if m is None:  # a name or address alone: port 80
        addr, port = first, 80
    elif first.startswith("["):
        addr, port = m.group(1), int(m.group(2) or 80)
    else:
        addr, port = (m.group(1) or ""), int(m.group(2))
    v6only = not any(w == "ipv6only=off" for w in words[1:])
    return NginxListen(addr, port, v6only, context, file, " ".join(["listen", *words]))


def parse_nginx(text: str, path: str, prefix: str = "/etc/nginx") -> NginxConfig:
    """The ``listen`` directives of the ``server`` blocks of one file, and what it includes."""
    out = NginxConfig()
    for stack, stmt in _nginx_statements(text):
        words = stmt.split()
        if not words:
            continue
        if words[0] == "include" and len(words) > 1:
            pattern = words[1]
            out.includes.append(pattern if pattern.startswith("/") else f"{prefix}/{pattern}")
        elif words[0] == "listen" and stack and stack[-1] == "server":
            context = "stream" if "stream" in stack else "http"
            lst = parse_listen(words[1:], context, path)
            if lst is not None:
                out.listens.append(lst)
    return out


def nginx_listens(files: dict[str, str], main: str) -> list[NginxListen]:
    """Every listen directive nginx reads starting at ``main``, following includes among
    ``files`` (path -> text, as read from the host)."""
    seen: set[str] = set()
    out: list[NginxListen] = []

    def visit(path: str) -> None:
        if path in seen or path not in files:
            return
        seen.add(path)
        conf = parse_nginx(files[path], path)
        out.extend(conf.listens)
        for pattern in conf.includes:
            for p in sorted(files):
                if fnmatch.fnmatch(p, pattern):
                    visit(p)

    visit(main)
    return out
