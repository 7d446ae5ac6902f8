"""The local side of a transfer: fresh random files, their ADLER32, a byte compare.

Why fresh random bytes: a cached or dedupable pattern could let a broken path look healthy; why
ADLER32: it is what gfal2 and the SEs compute, so the value known here is checked at both ends.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path


def adler32_hex(data: bytes, value: int = 1) -> str:
    """ADLER32 as gfal2 and the SEs print it: 8 lowercase hex digits."""
    return f"{zlib.adler32(data, value) & 0xFFFFFFFF:08x}"


def adler32_file(path: str | Path, chunk: int = 4 << 20) -> str:
    value = 1
    with open(path, "rb") as f:
        while block := f.read(chunk):
            value = zlib.adler32(block, value)
    return f"{value & 0xFFFFFFFF:08x}"


def make_random_file(path: str | Path, size: int, chunk: int = 4 << 20) -> str:
    """Write ``size`` fresh random bytes (never a cached/dedupable pattern); return ADLER32."""
    value = 1
    with open(path, "wb") as f:
        left = size
        while left > 0:
            block = os.urandom(min(chunk, left))
            value = zlib.adler32(block, value)
            f.write(block)
            left -= len(block)
    return f"{value & 0xFFFFFFFF:08x}"


def files_equal(a: str | Path, b: str | Path, chunk: int = 4 << 20) -> tuple[bool, str]:
    """Byte compare; the detail names the first differing offset or the size difference."""
    sa, sb = os.path.getsize(a), os.path.getsize(b)
    if sa != sb:
        return False, f"sizes differ: {sa} vs {sb} bytes"
    off = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                i = next(i for i, (p, q) in enumerate(zip(x, y)) if p != q)
                return False, f"first difference at byte {off + i}"
            if not x:
                return True, f"{sa} bytes identical"
            off += len(x)

