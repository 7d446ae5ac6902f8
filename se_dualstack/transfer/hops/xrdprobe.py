"""The XRootD client the xroot tracer runs, one process per family (``XRD_NETWORKSTACK``).

Why a process: XRootD's client reads its family, timeouts and log level once, at its start. Its
Dump-level log (stderr) is the evidence the tracer reads: every ``kXR_redirect`` as the server
wrote it and every connection attempt. This program only acts and reports on stdout, as one
JSON object:

* ``open URL TIMEOUT``: the servers' version (``query config version`` at the entry point), an
  open for a new file (the request an upload starts with, which every redirector sends on), its
  close, then the file's removal through the entry point;
* ``version URL TIMEOUT``: the version alone (a third-party copy's skip quotes it).

Run as ``python -m se_dualstack.transfer.hops.xrdprobe open root://host:port//path 15``.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any


def split(url: str) -> tuple[str, str]:
    """``root://h:8080//store/f`` -> (``root://h:8080``, ``/store/f``)."""
    m = re.match(r"^([a-z]+://[^/]+)/(/.*)$", url)
    if not m:
        raise ValueError(f"not an xroot URL with an absolute path: {url}")
    return m.group(1), m.group(2)


def _status(st: Any) -> dict[str, Any]:
    return {"ok": bool(st.ok), "message": str(st.message).strip(), "code": int(st.code)}


def run(cmd: str, url: str, timeout: int) -> dict[str, Any]:
    try:
        from XRootD import client
        from XRootD.client.flags import OpenFlags, QueryCode
    except ImportError as exc:
        return {"error": f"the XRootD Python bindings are not installed here ({exc}): install "
                         "python3-xrootd (Debian, EPEL) on the machine running the suite"}
    entry, path = split(url)
    fs = client.FileSystem(entry)
    st, answer = fs.query(QueryCode.CONFIG, "version", timeout=timeout)
    out: dict[str, Any] = {"version": (answer or b"").decode(errors="replace").strip() if st.ok else "",
                           "query": _status(st)}
    if cmd != "open":
        return out
    f = client.File()
    st, _ = f.open(url, OpenFlags.NEW, timeout=timeout)
    out["open"] = _status(st)
    out["data_server"] = str(f.get_property("DataServer") or "")
    if st.ok:
        out["close"] = _status(f.close(timeout=timeout)[0])
        out["rm"] = _status(fs.rm(path, timeout=timeout)[0])
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] not in ("open", "version") or not argv[3].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(run(argv[1], argv[2], int(argv[3]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
