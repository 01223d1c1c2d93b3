"""Summarise a py-spy raw (collapsed-stack) profile: where the sensor's samples went.

Usage: python -m bench.profile FILE [N]
Prints the N functions with most samples at the leaf (self) and with most
samples anywhere on the stack (inclusive), as percentages of all samples.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path


def summarise(path: Path, n: int = 15) -> str:
    leaf: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        c = int(count)
        total += c
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")" if " (" in f else f
                  for f in stack.split(";")]  # fmt: skip
        leaf[frames[-1]] += c
        for f in set(frames):
            incl[f] += c
    out = [f"{path.name}: {total} samples"]
    for title, ctr in (("self", leaf), ("inclusive", incl)):
        out.append(f"  top {n} by {title}:")
        for f, c in ctr.most_common(n):
            out.append(f"    {100 * c / max(total, 1):5.1f}%  {f}")
    return "\n".join(out)


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 15))
