"""What a test id says: its parameter, and the host it is about.

Why a leaf of its own: the outcomes plugin (which host a record is about when no inventory
names it) and the hosts plugin (which xdist group a test joins) read the same ids the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# The shortest FQDN at the start of a parameter, ending at "-" or the end of the parameter:
# "disks.example.test-root-ipv4-10.42.0.11" -> "disks.example.test".
_FQDN = re.compile(r"^(?P<host>(?:[A-Za-z0-9-]+?\.)+?[A-Za-z0-9]+?)(?=-|$)")


def param_id(nodeid: str) -> str | None:
    """``t.py::test_x[pool07.example.org-gsiftp]`` -> ``pool07.example.org-gsiftp``."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    return nodeid[nodeid.index("[") + 1:-1]


def host_in_nodeid(nodeid: str, names: Iterable[str], guess: bool = True) -> str | None:
    """The host a test id is about: ``test_x[pool07.example.org-gsiftp]`` -> pool07.example.org.

    Known names (the site's) are matched first, the longest that prefixes the parameter; with
    ``guess``, and no known name matching, an FQDN at the start of the parameter is taken (host
    names contain hyphens, so it ends at the first ``-`` after the FQDN's last dot).
    """
    param = param_id(nodeid)
    if param is None:
        return None
    for name in sorted(names, key=len, reverse=True):
        if param == name or param.startswith(name + "-"):
            return name
    m = _FQDN.match(param) if guess else None
    return m.group("host") if m else None
