"""docs/architecture.md's tree is the package as built: every module it names exists, every module is named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY = re.compile(r"^(?P<indent> *)(?P<name>[A-Za-z0-9_]+(?:\.py|/[A-Za-z0-9_/]*))(?:\s|$)")


def documented_modules() -> set[str]:
    """The .py files the tree block of docs/architecture.md names, as paths from the repository root."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("## The tree", 1)[1].split("```", 2)[1]
    folders: list[tuple[int, str]] = []  # (indent, folder path) of the folders enclosing the current line
    found = set()
    for line in block.splitlines():
        match = ENTRY.match(line)
        if not match:
            continue
        indent, name = len(match["indent"]), match["name"]
        folders = [(i, f) for i, f in folders if i < indent]
        parent = folders[-1][1] if folders else ""
        if name.endswith("/"):
            folders.append((indent, parent + name))
        else:
            found.add(parent + name)
    return found


def test_the_tree_in_the_docs_is_the_package() -> None:
    actual = {p.relative_to(ROOT).as_posix() for p in (ROOT / "goreliable_lib").rglob("*.py")}
    documented = documented_modules()
    assert sorted(documented - actual) == [], "named in docs/architecture.md but not in the tree"
    assert sorted(actual - documented) == [], "in the tree but not named in docs/architecture.md"


def test_the_check_would_notice_a_missing_module(tmp_path: Path) -> None:
    documented = documented_modules()
    assert "goreliable_lib/reports/slo.py" in documented and "goreliable_lib/devstack/sim/metrics.py" in documented
    assert not any("__pycache__" in p for p in documented)
