"""Client-side probes of a storage system's site in a box, run as the client host (/usr/bin/python3,
the distribution's gfal2 bindings) by test_testbed_systems.py; one JSON line per job on stdout.

    systems_probe.py http JOBS      curl: status and Location of one request (GET or PUT), per family
    systems_probe.py xroot JOBS     the xroot redirect an entry point answers (XrdCl Dump log)
    systems_probe.py connect JOBS   a TCP connect to address:port (errno name when refused)
    systems_probe.py gfal FAM AUTH SHIM JOBS
                                    gfal2 round trips (put, stat, adler32, get, compare, delete),
                                    LD_PRELOADing the suite's family shim so every connection of the
                                    other family fails, and reporting each connection made

AUTH is x509 (X509_USER_PROXY) or token (BEARER_TOKEN_FILE: bearer for davs/https, ztn for
roots://; no client certificate at all). Nothing is left on the storage element.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import zlib

TIMEOUT = 30


def out(res: dict) -> None:
    print(json.dumps(res), flush=True)


def http(jobs: list[dict]) -> None:
    payload = tempfile.NamedTemporaryFile(prefix="se6-http-", delete=False)  # noqa: SIM115
    payload.write(os.urandom(4096))
    payload.close()
    cred = ["--capath", os.environ["X509_CERT_DIR"], "--cert", os.environ["X509_USER_PROXY"],
            "--key", os.environ["X509_USER_PROXY"]]
    for job in jobs:
        body = ["-T", payload.name] if job.get("method") == "PUT" else []
        res = subprocess.run(["curl", f"-{job['family']}", "-sS", "-o", "/dev/null", "-D", "-",
                              "--max-time", "20", *cred, *body, job["url"]],
                             capture_output=True, text=True, timeout=TIMEOUT)
        codes = re.findall(r"^HTTP/\S+ (\d+)", res.stdout, re.M)
        loc = re.findall(r"^location: *(\S+)", res.stdout, re.M | re.I)
        out({"job": job, "status": int(codes[-1]) if codes else None, "location": loc[-1] if loc else None,
             "error": res.stderr.strip()[-500:]})
    os.unlink(payload.name)


def xroot(jobs: list[dict]) -> None:
    """`xrdfs stat` through an entry point; XrdCl's debug log names each redirect (host, port) and
    why a connection to it failed."""
    for job in jobs:
        env = dict(os.environ, XRD_LOGLEVEL="Debug", XRD_NETWORKSTACK=f"IPv{job['family']}",
                   XRD_CONNECTIONRETRY="1", XRD_REQUESTTIMEOUT="15")
        res = subprocess.run(["xrdfs", job["entry"], "stat", job["path"]], capture_output=True,
                             timeout=TIMEOUT, env=env)
        log = (res.stdout + res.stderr).decode(errors="replace")
        hops = re.findall(r"Redirected from: \S+ to: root://(\S+?):(\d+)/", log)
        refused = re.findall(r"\[(\S+?)\] Unable to connect: ([^\n]+)", log)
        final = [ln for ln in log.splitlines() if ln.startswith("[ERROR]")]
        out({"job": job, "host": hops[0][0] if hops else None, "port": int(hops[0][1]) if hops else None,
             "rc": res.returncode, "refused": [f"{a}: {b.strip()}" for a, b in refused],
             "error": final[-1] if final else ""})


def connect(jobs: list[dict]) -> None:
    for job in jobs:
        fam = socket.AF_INET6 if ":" in job["address"] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect((job["address"], job["port"]))
            res = "ok"
        except OSError as exc:
            res = errno.errorcode.get(exc.errno or 0, str(exc)) if exc.errno else str(exc)
        finally:
            s.close()
        out({"job": job, "result": res})


def gfal(fam: str, auth: str, shim: str, jobs: list[dict]) -> None:
    """Re-exec with the shim preloaded (it must be there before any library resolves a name)."""
    if os.environ.get("SE6_FAMILY") != fam:
        log = tempfile.NamedTemporaryFile(prefix="se6-conn-", delete=False)  # noqa: SIM115
        log.close()
        env = dict(os.environ, SE6_FAMILY=fam, SE6_CONNLOG=log.name, LD_PRELOAD=shim,
                   XRD_NETWORKSTACK=f"IPv{fam}", XRD_CONNECTIONRETRY="1", XRD_REQUESTTIMEOUT="20")
        if auth == "token":
            env.update(XrdSecPROTOCOL="ztn", X509_USER_PROXY="/nonexistent/no-proxy")
        try:
            rc = subprocess.run([sys.executable, *sys.argv], env=env, timeout=600).returncode
        finally:
            os.unlink(log.name)
        sys.exit(rc)
    import gfal2
    ctx = gfal2.creat_context()
    ctx.set_opt_boolean("GRIDFTP PLUGIN", "IPV6", fam == "6")
    if auth == "token":
        with open(os.environ["BEARER_TOKEN_FILE"]) as f:
            cred = ctx.cred_new("BEARER", f.read().strip())
        for prefix in ("davs://", "https://"):
            ctx.cred_set(prefix, cred)
        os.environ.pop("X509_USER_PROXY", None)  # ztn needs none; XrdCl must not look for one
    data = os.urandom(1 << 20)
    want = "%08x" % (zlib.adler32(data) & 0xFFFFFFFF)
    fd, src = tempfile.mkstemp(prefix="se6-src-")
    os.write(fd, data)
    os.close(fd)
    fd, dst = tempfile.mkstemp(prefix="se6-dst-")
    os.close(fd)
    logpos = 0
    for job in jobs:
        t = time.monotonic()
        res: dict = {"job": job, "family": fam, "auth": auth}
        url = job["url"]
        try:
            p = ctx.transfer_parameters()
            p.overwrite = True
            p.timeout = 60
            ctx.filecopy(p, "file://" + src, url)
            res["size"] = ctx.stat(url).st_size
            res["adler32"] = ctx.checksum(url, "adler32")
            ctx.filecopy(p, url, "file://" + dst)
            with open(dst, "rb") as f:
                same = f.read() == data
            ctx.unlink(url)
            res["ok"] = res["size"] == len(data) and int(res["adler32"], 16) == int(want, 16) and same
        except gfal2.GError as e:
            res["ok"] = False
            res["error"] = str(e)[:1500]
        with open(os.environ["SE6_CONNLOG"]) as f:
            f.seek(logpos)
            lines = f.read()
            logpos = f.tell()
        res["connections"] = sorted({" ".join(ln.split()[:4]) for ln in lines.splitlines() if ln.strip()})
        res["seconds"] = round(time.monotonic() - t, 2)
        out(res)
    os.unlink(src)
    os.unlink(dst)


if __name__ == "__main__":
    op = sys.argv[1]
    if op == "gfal":
        gfal(sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))
    else:
        {"http": http, "xroot": xroot, "connect": connect}[op](json.loads(sys.argv[2]))
