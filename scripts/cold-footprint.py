#!/usr/bin/env python3
"""What the producer bench's cold call touches, per call: the distinct
code cache lines and pages it executes, and the data cache lines it
misses in a simulated L1 (valgrind's callgrind, which is deterministic,
unlike timings on a shared machine).

Usage: scripts/cold-footprint.py ['ROW' ...]   (default: the floor and the
connected row; ROW is a substring of a producer-bench row name)

Needs valgrind. Under valgrind the threads run one at a time, so the
flusher falls behind and taktora-log rows find the channel full: their
cold call then includes the eviction path (a few pages of the total).
"""

import collections
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLD_CALLS = 20  # one per round of the bench


def bench_binary():
    """Builds the producer bench and returns its executable's path."""
    out = subprocess.run(
        ["cargo", "bench", "--bench", "producer", "--no-run"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    m = re.search(r"\(([^()]*/deps/producer-[0-9a-f]+)\)", out.stderr)
    if not m:
        sys.exit("cold-footprint: no bench executable in cargo's output:\n" + out.stderr)
    return os.path.join(ROOT, m.group(1))


def profile(binary, row, out_file):
    """Runs `row` of the bench under callgrind, collecting only the cold call."""
    env = dict(os.environ, PRODUCER_ROWS=row)
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--cache-sim=yes", "--dump-instr=yes",
         "--compress-pos=no", "--compress-strings=no",
         "--toggle-collect=producer::cold_call",
         f"--callgrind-out-file={out_file}", binary, "--bench"],
        env=env, capture_output=True, text=True, check=True,
    )


def footprint(out_file):
    """(code lines, code pages, data lines missed in L1, instructions), per call."""
    lines, pages = set(), set()
    events, totals = [], None
    ob, after_calls = "", False
    for line in open(out_file):
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("totals:") or line.startswith("summary:"):
            totals = [int(x) for x in line.split()[1:]]
        elif line.startswith("ob="):
            ob = line[3:].strip()
        elif line.startswith("calls="):
            after_calls = True  # the next cost line is a call's inclusive cost
        elif line.startswith("0x"):
            if after_calls:
                after_calls = False
                continue
            addr = int(line.split()[0], 16)
            lines.add((ob, addr >> 6))
            pages.add((ob, addr >> 12))
    cost = dict(zip(events, totals or []))
    data = cost.get("D1mr", 0) + cost.get("D1mw", 0)
    return (len(lines), len(pages), data / COLD_CALLS, cost.get("Ir", 0) / COLD_CALLS)


def main():
    rows = sys.argv[1:] or ["floor:", "daemon connected"]
    binary = bench_binary()
    print(f"{'row':<24} {'code lines':>10} {'code pages':>10} {'data lines':>10} {'instructions':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            out_file = os.path.join(tmp, "callgrind.out")
            profile(binary, row, out_file)
            code, pages, data, ir = footprint(out_file)
            print(f"{row:<24} {code:>10} {pages:>10} {data:>10.0f} {ir:>12.0f}")


if __name__ == "__main__":
    main()
