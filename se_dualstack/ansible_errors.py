"""Ansible's messages turned into the suite's one line: file, line, key and what to do.

Why apart: Ansible reports an unreadable inventory as warnings printed to the terminal (one per
plugin that tried) and errors that carry YAML snippets over many lines. This module mutes
Ansible's display while the suite reads, keeps those warnings, and picks the line that says what
is wrong and where, so :mod:`se_dualstack.inventory` stays about reading the site.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence

from ansible.utils.display import Display

from se_dualstack.errors import InventoryError


class Quiet:
    """Ansible's display singleton, muted while we read: warnings are kept for error messages.

    Why: Ansible prints warnings (``Failed to parse ... with ini plugin``) straight to the
    terminal; under pytest that would be noise, and the one useful line is in them.
    """

    NAMES = ("display", "warning", "deprecated", "error", "banner")

    def __init__(self) -> None:
        self.warnings: list[str] = []

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Quiet]:
        disp = Display()
        saved = {n: disp.__dict__.get(n) for n in self.NAMES}
        disp.display = lambda *a, **k: None
        disp.deprecated = lambda *a, **k: None
        disp.banner = lambda *a, **k: None
        disp.warning = lambda msg, *a, **k: self.warnings.append(str(msg))
        disp.error = lambda msg, *a, **k: self.warnings.append(str(msg))
        try:
            yield self
        finally:
            for n, old in saved.items():
                if old is None:
                    disp.__dict__.pop(n, None)
                else:
                    disp.__dict__[n] = old


def first_line(exc: BaseException | str) -> str:
    """The useful line of an Ansible message (they carry snippets and blank lines)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


_FAILED = re.compile(r"Failed to parse (?P<src>.+?) with (?P<plugin>\S+) plugin: (?P<msg>.*)", re.S)


def parse_failure(source: str, warnings: list[str]) -> InventoryError:
    """The one line for an inventory source no plugin could read, from Ansible's warnings."""
    fails = [m.groupdict() for w in warnings if (m := _FAILED.search(w))]
    yaml_like = source.endswith((".yml", ".yaml", ".json"))
    order = ("yaml", "auto", "ini", "script", "toml") if yaml_like else ("ini", "script", "yaml")
    fails.sort(key=lambda f: order.index(f["plugin"]) if f["plugin"] in order else len(order))
    fails = [f for f in fails if "no root 'plugin' key" not in f["msg"]
             and "Plugin configuration YAML file" not in f["msg"]] or fails
    if not fails:
        return InventoryError(f"{source}: Ansible cannot read this inventory; check it with "
                              f"ansible-inventory -i {source} --list")
    f = fails[0]
    problem = what_is_wrong(f["msg"]).replace(f"{source}:", "").strip(" :")
    problem = re.sub(r"^(\d+): ", r"line \1: ", problem)  # the INI plugin's "LINE: message"
    return InventoryError(f"{source}: {f['plugin']} inventory: {problem}; fix it there "
                          f"(ansible-inventory -i {source} --list shows what Ansible reads)")


def what_is_wrong(msg: str) -> str:
    """The line of an Ansible parse message that says what is wrong, with its position."""
    text = " ".join(msg.split())
    where = re.search(r"line (\d+), column (\d+)", text)
    m = re.search(r"Syntax Error while loading YAML\.\s+(.+?)(?:\. while |\s+in \"|\s+The error appears|$)",
                  text)
    problem = f"YAML syntax error: {m.group(1)}" if m else first_line(msg)
    if "tab character at the start of the line" in text:
        problem += " (a tab: YAML indents with spaces)"
    if where and f"line {where.group(1)}" not in problem:
        problem = f"line {where.group(1)}, column {where.group(2)}: {problem}"
    return problem


def ansible_error(sources: Sequence[str], exc: Exception) -> InventoryError:
    text = " ".join(str(exc).split())
    src = ", ".join(sources)
    if "no vault secrets" in text or "Decryption failed" in text:
        return InventoryError(f"{src}: {first_line(exc)}; give the vault password with "
                              "--vault-password-file FILE or ANSIBLE_VAULT_PASSWORD_FILE")
    where = re.search(r"The error appears to be in '([^']+)': line (\d+), column (\d+)", text)
    at = f"{where.group(1)}: line {where.group(2)}, column {where.group(3)}" if where else src
    return InventoryError(f"{at}: {first_line(exc)}; fix it there (ansible-inventory -i {src} "
                          "--list shows what Ansible reads)")
