"""The family shim (``data/family_shim.c``): built once, LD_PRELOADed into each worker.

Why a shim: gfal2 has no switch that forces the family for every protocol; in the worker's
process only, the shim makes ``getaddrinfo()`` answer the forced family alone and a TCP
``connect()`` to the other family fail with ENETUNREACH (and logs every attempt), so a site's
ordinary dual-stack names can be used. Which protocols need it, and the one-line description of
how a transfer's family was forced, are the protocols' own (:mod:`se_dualstack.transfer.protocols`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path


def shim_source() -> str:
    return resources.files("se_dualstack").joinpath("data/family_shim.c").read_text()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "se_dualstack"


def build_shim(timeout: float = 60.0) -> tuple[str | None, str]:
    """Compile the family shim once per source version; return (path or None, why not).

    Cached by the source's hash; compiled to a temp name and renamed, so parallel pytest-xdist
    workers never load a half-written library.
    """
    src = shim_source()
    digest = hashlib.sha256(src.encode()).hexdigest()[:16]
    for d in (cache_dir(), Path(tempfile.gettempdir()) / f"se_dualstack-{os.getuid()}"):
        so = d / f"family_shim-{digest}.so"
        if so.exists():
            return str(so), ""
        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        if not cc:
            return None, "no C compiler (cc) to build the family shim"
        try:
            d.mkdir(parents=True, exist_ok=True)
            c_file = d / f"family_shim-{digest}.c"
            c_file.write_text(src)
            tmp = d / f".family_shim-{digest}-{os.getpid()}.so"
            res = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(c_file), "-ldl"],
                                 capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = f"building the family shim failed: {exc}"
            continue
        if res.returncode != 0:
            return None, f"building the family shim failed: {res.stderr.strip()[:300]}"
        os.replace(tmp, so)
        return str(so), ""
    return None, why
