"""A host's files read in one command: the one reader every check of a host's own configuration
uses (the storage systems' files, SE6-SYS-*; the token issuers and CRL URLs, SE6-DEP-01; the
files ``--hosts`` detection reads).

Why one command: a config file often names others (XRootD's ``continue``, nginx's ``include``,
a CA directory's globs), and each ssh round trip costs; a shell loop prints every readable
regular file a glob matches after a marker line with its path, each cut at :data:`FILE_LIMIT`,
and :func:`split_files` takes the output apart. Reading only: nothing is written on the host.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import Any

FILE_MARK = "@@SE6FILE"  # the line before each file when several are read in one command
FILE_LIMIT = 262144  # bytes read of one file
READ_TIMEOUT = 30  # seconds for one reading command on the host
_PLAIN = re.compile(r"[A-Za-z0-9/._@+,=:-]")


def glob_word(pattern: str) -> str:
    """A path for sh with every character quoted except the glob's ``*``, ``?`` and ``[...]``:
    a path with spaces, quotes or ``$`` (from a command line on the host, or the inventory) is
    read as written, never run."""
    return "".join(c if c in "*?[]" or _PLAIN.match(c) else shlex.quote(c) for c in pattern)


def read_command(patterns: Iterable[str]) -> str:
    """The POSIX sh loop printing each file the absolute glob ``patterns`` match (none: "")."""
    words = " ".join(glob_word(p) for p in dict.fromkeys(patterns) if p.startswith("/"))
    if not words:
        return ""
    return (f"for f in {words}; do [ -f \"$f\" ] && [ -r \"$f\" ] || continue; "
            f"printf '\\n{FILE_MARK} %s\\n' \"$f\"; head -c {FILE_LIMIT} \"$f\"; done; true")


def split_files(text: str) -> dict[str, str]:
    """The output of :func:`read_command` -> path -> text."""
    out: dict[str, str] = {}
    for chunk in text.split(f"\n{FILE_MARK} ")[1:]:
        path, _, body = chunk.partition("\n")
        out[path] = body
    return out


def read_files(host: Any, patterns: Iterable[str]) -> dict[str, str]:
    """The files matching glob ``patterns`` on a testinfra host (path -> text), in one bounded
    command; a pattern matching nothing adds nothing, a failed command reads as no file."""
    script = read_command(patterns)
    if not script:
        return {}
    out = host.run(f"timeout {READ_TIMEOUT} sh -c {shlex.quote(script)}")
    return split_files(out.stdout) if out.rc == 0 else {}
