"""Errors the suite reports to a site admin as one line, never as a traceback."""

from __future__ import annotations


class InventoryError(Exception):
    """A bad inventory (or ``--hosts``): the message names the file, the key or host, and the fix.

    The plugin turns it into a pytest usage error (exit code 4), so it must read on its own.
    """

    def __init__(self, message: str) -> None:
        # Keep it one line whatever the caller passed (YAML errors carry newlines).
        super().__init__(" ".join(str(message).split()))
