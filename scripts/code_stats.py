"""Print the package tree with line counts and the function-length distribution.

Usage: python scripts/code_stats.py [--tree]
Function length = lines from ``def`` to the function's last line, docstring included.
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "statesync"


def lengths(path: Path) -> list[int]:
    tree = ast.parse(path.read_text())
    return [
        n.end_lineno - n.lineno + 1
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno
    ]


def tree() -> None:
    for d in sorted({p.parent for p in SRC.rglob("*.py")}):
        files = sorted(d.glob("*.py"))
        total = sum(len(f.read_text().splitlines()) for f in files)
        print(f"{d.relative_to(SRC.parent)}/  ({len(files)} files, {total} lines)")
        for f in files:
            print(f"    {f.name:<24} {len(f.read_text().splitlines()):>5}")


def main() -> None:
    if "--tree" in sys.argv:
        tree()
    all_lengths = sorted(n for p in SRC.rglob("*.py") for n in lengths(p))
    p90 = all_lengths[int(0.9 * (len(all_lengths) - 1))]
    print(
        f"{len(all_lengths)} functions: median {statistics.median(all_lengths):g} lines, "
        f"p90 {p90}, max {all_lengths[-1]}"
    )


if __name__ == "__main__":
    main()
