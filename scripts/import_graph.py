"""Print statesync's import graph by package, and any import cycle between modules.

Usage: python scripts/import_graph.py [--check]
``--check`` exits 1 when a module-level cycle exists or an import goes against
the layers (see docs/ARCHITECTURE.md): cli -> api -> sync operations ->
sync/{store,folder,secrets,bundle} -> backends, crypto -> errors.
Imports inside functions (lazy ones) count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
# Lower number = lower layer; a module may import only its own layer or lower ones.
LAYERS = {
    "statesync.errors": 0,
    "statesync.version": 0,
    "statesync.paths": 0,
    "statesync.fsutil": 0,
    "statesync.jsonpointer": 0,
    "statesync.optimistic": 0,
    "statesync.crypto": 1,
    "statesync.backends": 1,
    "statesync.whoami": 1,
    "statesync.logsetup": 1,
    "statesync.config": 4,
    "statesync.config_check": 4,
    "statesync.sync.progress": 2,
    "statesync.sync.store": 3,
    "statesync.sync.secrets": 3,
    "statesync.sync.folder": 3,
    "statesync.sync.bundle": 3,
    "statesync.sync": 4,
    "statesync.keys": 4,
    "statesync.api": 5,
    "statesync": 5,
    "statesync.cli": 6,
    "statesync.server": 6,
    "statesync.service": 6,
    "statesync.integrations": 6,
    "statesync.formats": 4,
}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, name: str) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("statesync"))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.startswith("statesync")
        ):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.add(
                    full
                    if (SRC / full.replace(".", "/")).with_suffix(".py").exists()
                    or (SRC / full.replace(".", "/")).is_dir()
                    else node.module
                )
    out.discard(name)
    return out


def layer(mod: str) -> tuple[str, int]:
    best = max((k for k in LAYERS if mod == k or mod.startswith(k + ".")), key=len)
    return best, LAYERS[best]


def graph() -> dict[str, set[str]]:
    mods = {module_name(p): p for p in SRC.rglob("*.py")}
    return {m: {i for i in imports(p, m) if i in mods} for m, p in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(g[m]):
            if state.get(n) == 1:
                found.append([*stack[stack.index(n) :], n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    return found


def main() -> int:
    g = graph()
    by_pkg: dict[str, set[str]] = defaultdict(set)
    against = []
    for m, deps in g.items():
        pm, lm = layer(m)
        for d in deps:
            pd, ld = layer(d)
            if pd != pm:
                by_pkg[pm].add(pd)
            if ld > lm:
                against.append(f"{m} -> {d}")
    for p in sorted(by_pkg, key=lambda k: -LAYERS[k]):
        print(f"{p} -> {', '.join(sorted(by_pkg[p], key=lambda k: -LAYERS[k]))}")
    cyc = cycles(g)
    for c in cyc:
        print("cycle: " + " -> ".join(c))
    for a in sorted(against):
        print("against the layers: " + a)
    print(f"{len(g)} modules, {len(cyc)} cycles, {len(against)} imports against the layers")
    return 1 if "--check" in sys.argv and (cyc or against) else 0


if __name__ == "__main__":
    sys.exit(main())
