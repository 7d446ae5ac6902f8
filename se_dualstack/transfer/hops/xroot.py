"""The xroot tracer (root://): each ``kXR_redirect`` as the server wrote it, from XRootD's own client.

Why XRootD's client and its log: authenticating as the transfers do (GSI with the proxy, ztn with
the token over TLS) is XRootD's own code; its Dump-level log names every redirect verbatim
(``Got kXR_redirect response to message kXR_open (...): <host>, port <port>``) before it follows
it, and every connection attempt with the address and the outcome. ``XRD_NETWORKSTACK`` forces
the family (a true force: no fallback). The request is an upload's ``kXR_open`` of a new file;
after an error at a data server the client goes back to the redirector with ``tried=``: the
chain ends before such a retry. The probe file is closed empty and removed through the entry.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from se_dualstack.transfer.cases import TransferSettings
from se_dualstack.transfer.evidence import wire_family
from se_dualstack.transfer.hops.chain import Attempt, Chain, Hop, TraceContext, hostport, parse_xroot
from se_dualstack.transfer.protocols.root import connection_env
from se_dualstack.transfer.worker import worker_env

_LINE = re.compile(r"^\[[^\]]*\]\[\s*(?P<level>\w+)\s*\]\[\s*(?P<topic>\w+)\s*\]\s*(?P<msg>.*)$")
_ID = r"\[(?P<id>(?:\[[^\]]+\]|[^\[\]\s])+?)(?:\.\d+)?\]"
_REDIRECT = re.compile(_ID + r" Got kXR_redirect response to message (?P<req>kXR_\w+) \((?P<desc>.*)\): "
                       r"(?P<host>\S+), port (?P<port>-?\d+)\s*$")
_ATTEMPT = re.compile(_ID + r" Attempting connection to (?P<addr>\S+)\s*$")
# The server's handshake answer: TCP works (before TLS and the login, which may still fail).
_CONNECTED = re.compile(_ID + r" Got the server hand shake response")
_SENT = re.compile(_ID + r" Sending out the initial hand shake")  # the TCP connection is up
_FAILED = re.compile(_ID + r" Unable to connect: (?P<why>.*)$")
_UNRESOLVED = re.compile(_ID + r" Unable to resolve IP address for the host")
_HANDSHAKE = re.compile(_ID + r" Socket error while handshaking: (?P<why>.*)$")
_TLS = re.compile(r"Failed to do TLS connect: (?P<why>.*)$")


def _address(text: str) -> tuple[str, int]:
    """``[::ffff:10.42.0.10]:8080`` -> (``10.42.0.10``, 8080): the address as on the wire."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if host.lower().startswith("::ffff:") and "." in host and wire_family(host) == 4:
        host = host[7:]
    return host, int(port) if port.isdigit() else 0


def _hostport(hid: str) -> tuple[str, int]:
    host, _, port = hid.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 0


PROBE = "se_dualstack.transfer.hops.xrdprobe"
# The Python that runs the XRootD client process: the suite's own, unless SE6_XROOTD_PYTHON names
# another one that has XRootD's bindings (the probe needs only them and the standard library).
# EL9: EPEL's python3-xrootd is for /usr/bin/python3, the suite's own Python; a Debian 12 machine
# testing the suite under Debian 11's 3.9 (make test-py39) has bindings only for its 3.11.
XROOTD_PYTHON_VAR = "SE6_XROOTD_PYTHON"
OPERATION_EXPIRED = 206  # XrdCl's errOperationExpired: no answer within the request's timeout


def probe_argv(*args: str) -> list[str]:
    """The probe's command line: the suite's own Python, or the one ``SE6_XROOTD_PYTHON`` names
    (isolated, with this package added to its path)."""
    chosen = os.environ.get(XROOTD_PYTHON_VAR, "").strip()
    if not chosen or chosen == sys.executable:
        return [sys.executable, "-m", PROBE, *args]
    top = str(Path(__file__).resolve().parents[3])  # the directory holding se_dualstack/
    return [chosen, "-I", "-c", f"import runpy, sys; sys.path.append({top!r}); "
            f"runpy.run_module({PROBE!r}, run_name='__main__')", *args]


class TracerUnavailable(RuntimeError):
    """The machine running the suite cannot trace xroot (no XRootD Python bindings)."""


def parse_log(log: str, entry: str, port: int) -> tuple[list[Hop], dict[str, list[Attempt]]]:
    """The open's redirects in order, and every connection attempt by the client's host id.

    The chain is cut at the first redirect that is not the previous target's answer or that
    carries ``tried=`` (the client back at the redirector after an error)."""
    hops: list[Hop] = []
    attempts: dict[str, list[Attempt]] = {}
    current: dict[str, tuple[str, int]] = {}
    tls: dict[str, str] = {}
    sent: set[str] = set()
    last_tls, expect, done = "", hostport(entry, port), False
    for line in log.splitlines():
        m = _LINE.match(line)
        msg = m.group("msg") if m else ""
        r = _REDIRECT.match(msg)
        if r:
            if r.group("req") == "kXR_open" and not done:
                if "tried=" in r.group("desc") or r.group("id") != expect:
                    done = True
                    continue
                t = parse_xroot(r.group("host"), int(r.group("port")))
                hops.append(Hop(*_hostport(r.group("id")), "kXR_redirect", t))
                expect = hostport(t.host, t.port)
            continue
        for rx in (_ATTEMPT, _CONNECTED, _FAILED, _UNRESOLVED, _HANDSHAKE, _SENT):
            x = rx.match(msg)
            if x is None:
                continue
            hid = x.group("id")
            if rx is _ATTEMPT:
                current[hid] = _address(x.group("addr"))
            elif rx is _UNRESOLVED:
                pass  # no address of the family: the judgement names the record
            elif rx is _SENT:
                sent.add(hid)
            elif rx is _HANDSHAKE:
                tls[hid] = last_tls or x.group("why")
            elif hid in current:
                ok = rx is _CONNECTED
                why = "" if ok else x.group("why")
                attempts.setdefault(hid, []).append(Attempt(*current.pop(hid), ok, why))
            break
        tl = _TLS.search(msg)
        if tl:
            last_tls = tl.group("why")
    for hid, address in current.items():  # connected, then no hand shake answer: a silent server
        if hid in sent and hid not in tls:
            attempts.setdefault(hid, []).append(Attempt(*address, True, "no answer to the hand shake"))
    for hop in hops:
        hid = hostport(hop.target.host, hop.target.port)
        hop.attempts = list(dict.fromkeys(attempts.get(hid, [])))
        hop.tls = tls.get(hid, "")
    return hops, attempts


def request_timeout(ctx: TraceContext) -> int:
    """Seconds XRootD's client waits for each answer (XRD_REQUESTTIMEOUT, whole seconds)."""
    return max(5, int(ctx.timeout))


def run_probe(cmd: str, url: str, ctx: TraceContext) -> tuple[dict[str, Any], str]:
    """Run the XRootD client process; (its JSON answer, its log)."""
    settings = TransferSettings(timeout=ctx.timeout, connect_timeout=max(1, int(ctx.connect_timeout)),
                                proxy=ctx.proxy if ctx.auth == "x509" else "", certdir=ctx.certdir,
                                auth=ctx.auth, token_file=ctx.token_file)
    request = request_timeout(ctx)
    env = worker_env(ctx.family, settings, None, "")
    env.update({"XRD_LOGLEVEL": "Dump", "XRD_REQUESTTIMEOUT": str(request), "XRD_STREAMTIMEOUT": str(request),
                "XRD_REDIRECTLIMIT": str(ctx.max_hops),
                # One connection attempt over the whole window: a trace records what each server
                # answers first, and a hop silent for the window is a silent hop (the transfers
                # retry a dropped login; a trace shows it).
                **connection_env(settings.connect_timeout, attempts=1)})
    if ctx.auth == "token":  # no client certificate at all: XRootD fails on a named one that is absent
        env.pop("X509_USER_PROXY", None)
    for var in ("SE6_FAMILY", "SE6_CONNLOG", "SE6_AUTH", "XRD_LOGFILE"):
        env.pop(var, None)
    try:
        res = subprocess.run(probe_argv(cmd, url, str(request)), env=env,
                             capture_output=True, text=True, check=False,
                             timeout=request * 4 + ctx.connect_timeout + 10)
    except subprocess.TimeoutExpired as exc:
        log = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return {"error": f"the XRootD client gave no answer within {exc.timeout:g} s", "timed_out": True}, log
    lines = [x for x in res.stdout.splitlines() if x.startswith("{")]
    try:
        answer = json.loads(lines[-1]) if lines else {"error": f"the XRootD client exited {res.returncode}"}
    except ValueError:
        answer = {"error": "the XRootD client answered no JSON"}
    if "bindings are not installed" in str(answer.get("error", "")):
        raise TracerUnavailable(str(answer["error"]))
    return answer, res.stderr


def trace(protocol: str, entry: str, port: int, ctx: TraceContext) -> Chain:
    """The chain of an upload's ``kXR_open`` from ``entry``:``port``, then the probe file removed."""
    url = f"root://{hostport(entry, port)}/{ctx.probe}"
    chain = Chain(protocol, ctx.family, ctx.auth, entry, port,
                  f"kXR_open of a new file {ctx.probe} (closed empty, then removed)")
    answer, log = run_probe("open", url, ctx)
    chain.hops, attempts = parse_log(log, entry, port)
    chain.start = attempts.get(hostport(entry, port), [])
    chain.server = f"XRootD {answer['version']}" if answer.get("version") else ""
    last = chain.hops[-1].target.host if chain.hops else entry
    opened = answer.get("open") or {}
    if opened.get("ok"):
        at = answer.get("data_server") or last
        chain.final = f"kXR_open: {opened.get('message') or '[SUCCESS]'} at {at}"
        rm = answer.get("rm") or {}
        chain.cleanup = "removed" if rm.get("ok") else f"left: rm through {entry}: {rm.get('message', '')}"
    else:
        chain.error = (opened.get("message") or answer.get("error")
                       or (answer.get("query") or {}).get("message", ""))
        chain.error_at = last
        chain.cleanup = "not created"
        # No answer in time from where the client got a connection: that server is silent (a
        # refused connection retried until the timeout expires too, but then none was accepted).
        landed = chain.hops[-1].attempts if chain.hops else chain.start
        chain.timed_out = any(a.ok for a in landed) and (
            bool(answer.get("timed_out")) or opened.get("code") == OPERATION_EXPIRED)
        if chain.timed_out and opened.get("code") == OPERATION_EXPIRED:
            chain.error = f"no answer within {request_timeout(ctx)} s ({chain.error})"
    return chain


def server_version(host: str, port: int, ctx: TraceContext) -> str:
    """The XRootD version a server names (``query config version``), "" when it names none."""
    answer, _ = run_probe("version", f"root://{hostport(host, port)}//", ctx)
    return str(answer.get("version") or "")
