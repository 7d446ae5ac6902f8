"""What vermin (make lint) cannot see of Python 3.9: ``X | Y`` evaluated at run time.

vermin reads ``X | Y`` only by heuristics (and flags annotations, which ``from __future__ import
annotations`` never evaluates); an ``isinstance(x, A | B)`` raises TypeError on 3.9 only when it
runs. The unit tests also run under a real 3.9 (make test-py39).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ("isinstance", "issubclass")


def test_no_union_type_evaluated_at_run_time() -> None:
    found = []
    for base in ("se_dualstack", "tests", "testbed", "selftests", "bench"):
        for path in sorted((ROOT / base).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                call = isinstance(node, ast.Call) and getattr(node.func, "id", "") in CHECKS
                if call and len(node.args) == 2 and isinstance(node.args[1], ast.BinOp) \
                        and isinstance(node.args[1].op, ast.BitOr):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"write a tuple, (A, B), for Python 3.9: {found}"
