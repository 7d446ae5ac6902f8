"""The one redaction of credentials: every text that leaves the suite goes through ``redact``.

Reports, result files, JUnit XML and terminal lines are artefacts a site attaches to its
certification or keeps in CI; a proxy, a key or a bearer token must never reach them.
"""

from __future__ import annotations

import re

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?(?:-----END \1-----|\Z)", re.DOTALL)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s@:]*):[^/\s@]+@")
# A JWT (WLCG/SciTokens bearer token): three base64url parts, the first two JSON objects.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# Opaque tokens after an Authorization header, an authz= URL parameter or a Bearer keyword.
_BEARER = re.compile(r"(?i)\b(bearer\s+|authz=|access_token=|authorization:\s*)[^\s&\"'<>]+")


def redact(text: str) -> str:
    """Remove PEM blocks, bearer tokens and passwords inside URLs from ``text``."""
    if not text:
        return text
    out = _PEM.sub(lambda m: f"[{m.group(1).lower()} redacted]", text)
    out = _JWT.sub("[token redacted]", out)
    out = _BEARER.sub(lambda m: f"{m.group(1)}[token redacted]", out)
    return _URL_PASSWORD.sub(r"\1:[redacted]@", out)
