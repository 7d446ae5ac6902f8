"""Report names: two runs of one site in the same second each get their own files."""

from __future__ import annotations

import threading
from pathlib import Path

from se_dualstack.reporting.files import claim_stem


def test_claim_stem_never_hands_out_a_name_twice(tmp_path: Path) -> None:
    stem = "site-20261129T204500Z"
    got: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        name = claim_stem(tmp_path, stem, ".html")
        with lock:
            got.append(name)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(got) == sorted([stem, *(f"{stem}-{n}" for n in range(2, 9))]), got
    assert len({p.name for p in tmp_path.iterdir()}) == 8, "each name's file exists (taken)"


def test_claim_stem_keeps_an_earlier_report(tmp_path: Path) -> None:
    (tmp_path / "s-1.json").write_text("earlier\n")
    assert claim_stem(tmp_path, "s-1", ".json") == "s-1-2", "the next free name"
    assert (tmp_path / "s-1.json").read_text() == "earlier\n", "the earlier file is untouched"
