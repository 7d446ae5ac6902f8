"""Documentation that cannot drift: generated tables match their data, named paths exist.

Why: the README's fault list once missed five of twenty faults and docs/architecture.md named a
module that was gone. The tables are written by ``make docs`` (docs/generate.py) from the data
they describe; these tests fail when a committed document differs from what it would write, or
names a file of this repository that does not exist.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("se_dualstack", "testbed", "selftests", "bench", "docs", "inventory", "ci-examples", "tests")
# A repository path in backquotes: `se_dualstack/transfer/worker.py`, `bench/`, `docs/nightly.md`.
REPO_PATH = re.compile(r"`((?:" + "|".join(TOP) + r")/[\w./-]*)`")
# A file name, with or without its directory, quoted or in prose: `knowledge.yml`, transfer.py.
FILE_NAME = re.compile(r"(?<![\w/.:-])((?:[\w-]+/)*[\w-]+\.(?:py|yml|yaml|md|c|css|j2|ini|toml|sh|cfg))\b")
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
# Names the documents use for files a site or a run makes, not files of this repository.
NOT_OURS = {"SITE.yml", "inventory.yml", "inventory/mysite.yml", "waivers.yml",
            "srv/xrd/scitokens.cfg", "ansible.cfg"}  # the site's files, not ours


def generator() -> Any:
    """docs/generate.py, the script ``make docs`` runs."""
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None, "docs/generate.py"
    assert spec.loader is not None, "docs/generate.py"
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_tables_match_their_data() -> None:
    gen = generator()
    for doc in gen.DOCUMENTS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert gen.BLOCK.search(text), f"{doc} has no generated block"
        assert gen.render(text) == text, f"{doc} differs from its data: run make docs"


def test_every_variable_with_a_default_is_documented() -> None:
    from se_dualstack import knowledge

    gen = generator()
    documented = {n for rows in gen.variables().values() for v in rows
                  for n in ([v["name"]] if "name" in v else v["names"])}
    assert set(knowledge.defaults()) <= documented, set(knowledge.defaults()) - documented


def tracked() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True).stdout.split()
    return set(out)


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_every_path_a_document_names_exists(doc: Path) -> None:
    files = tracked() | {str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*")}
    dirs = {str(Path(f).parent) for f in files}
    names = {Path(f).name for f in files}
    text = doc.read_text(encoding="utf-8")
    missing = []
    for path in REPO_PATH.findall(text):
        p = path.rstrip("/")
        if p not in files and p not in dirs and not any(d.startswith(p + "/") for d in dirs):
            missing.append(path)
    for link in LINK.findall(text):
        if re.match(r"^[a-z]+:", link):
            continue
        p = (doc.parent / link).resolve()
        if not p.exists() or ROOT not in (p, *p.parents):
            missing.append(link)
    missing += [n for n in FILE_NAME.findall(text)
                if n not in files and Path(n).name not in names and n not in NOT_OURS]
    assert not missing, f"{doc.relative_to(ROOT)} names what is not in the repository: {sorted(set(missing))}"
