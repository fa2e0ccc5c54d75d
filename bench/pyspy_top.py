#!/usr/bin/env python3
"""Summarise a py-spy ``--format raw`` profile: where the samples go.

    python bench/pyspy_top.py WORKDIR/profiles/s3-r1-full_push.txt [--top 25] [--match statesync]

Prints, as % of the samples kept: the hottest leaf frames (self time), the
frames most often on the stack (inclusive; only frames whose text contains
--match, default ``statesync/``), and for the main thread and the worker
threads apart, the deepest matching frame of each sample. Samples of pool
workers idle in ``concurrent.futures`` waiting for work are dropped (with
``--native`` py-spy cannot always tell they are idle) unless --keep-idle.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")


def parse(path: Path) -> list[tuple[list[str], int]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if m:
            out.append((m.group(1).split(";"), int(m.group(2))))
    return out


def _short(frame: str) -> str:
    # "func (path/to/file.py:123)" -> "func (file.py:123)"; keep native frames as they are.
    return re.sub(r"\(([^()]*/)?([^/()]+)\)$", r"(\2)", frame)


def _nolineno(frame: str) -> str:
    return re.sub(r":\d+\)$", ")", _short(frame))


def _idle_worker(frames: list[str]) -> bool:
    py = [f for f in frames if ".py:" in f]
    return bool(py) and py[-1].startswith("_worker (") and "concurrent/futures/thread.py" in py[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--match", default="statesync/")
    p.add_argument("--keep-idle", action="store_true")
    args = p.parse_args()
    stacks = parse(args.profile)
    idle = [s for s in stacks if _idle_worker(s[0])]
    if not args.keep_idle:
        stacks = [s for s in stacks if not _idle_worker(s[0])]
    total = sum(n for _, n in stacks) or 1
    leaf: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    groups: dict[str, collections.Counter[str]] = {
        "main": collections.Counter(),
        "worker": collections.Counter(),
    }
    for frames, n in stacks:
        group = (
            "worker"
            if any("thread_run" in f or "Thread._bootstrap " in f for f in frames[:6])
            else "main"
        )
        mine = [f for f in frames if args.match in f]
        groups[group][_nolineno(mine[-1]) if mine else "-> " + _nolineno(frames[-1])] += n
        if frames:
            leaf[_nolineno(frames[-1])] += n
        for f in {_nolineno(f) for f in frames if args.match in f}:
            incl[f] += n
    print(
        f"{args.profile}: {total} samples kept; idle pool-worker samples "
        f"{'kept' if args.keep_idle else 'dropped'}: {sum(n for _, n in idle)}"
    )
    for group, rows in groups.items():
        n_group = sum(rows.values())
        print(
            f"\n{group} threads: {n_group} samples ({100 * n_group / total:.1f}%), "
            f"by deepest frame matching {args.match!r} (-> leaf if none):"
        )
        for name, n in rows.most_common(args.top):
            print(f"  {100 * n / n_group:6.1f}%  {name[:130]}")
    print(f"\nself (leaf frame), top {args.top}:")
    for name, n in leaf.most_common(args.top):
        print(f"  {100 * n / total:6.1f}%  {name[:130]}")
    print(f"\ninclusive, frames matching {args.match!r}, top {args.top}:")
    for name, n in incl.most_common(args.top):
        print(f"  {100 * n / total:6.1f}%  {name[:130]}")


if __name__ == "__main__":
    main()
