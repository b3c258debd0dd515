#!/usr/bin/env python3
"""A flame graph (SVG) of a `perf record -g` profile: the profile of relais-router that
`BENCH_PERF=1 make bench` records (docs/performance.md, "Profile before and after").

    var/venv/bin/python bench/flamegraph.py PERF_DATA OUT.svg [--title T] [--min-pct 0.2]

`perf script` prints each sample's call chain; the chains are folded (one line per distinct
stack, leaf last, with its sample count) and drawn the usual way: one box per frame, the root at
the bottom, the width of a box is the share of samples whose stack passes through it, siblings
sorted by name. Each box carries its name, samples and share as a tooltip (`<title>`), so the
SVG reads in a browser. Frames under --min-pct of all samples are left out (their samples still
count in their parents). The folded stacks are written next to the SVG (`.folded`), the input of
any other flame graph tool."""

from __future__ import annotations

import argparse
import html
import re
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.+?)\s+\((.*)\)\s*$")


def fold(lines) -> Counter:
    """Folds `perf script` output (header line, then one frame per line, leaf first, blank line
    between samples) into {"comm;root;...;leaf": samples}."""
    stacks: Counter = Counter()
    comm, frames = None, []

    def flush():
        if comm is not None:
            stacks[";".join([comm, *reversed(frames)])] += 1

    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            comm, frames = None, []
            continue
        if comm is None and not line.startswith(("\t", " ")):
            comm = line.strip().replace(";", ",") or "?"
            continue
        m = FRAME.match(line)
        if m:
            sym, dso = m.group(1), m.group(2)
            if sym == "[unknown]":
                sym = dso if dso.startswith("[") else f"[{Path(dso).name}]"
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            frames.append(sym.replace(";", ","))
    flush()
    return stacks


def tree(stacks: Counter) -> dict:
    root = {"n": 0, "c": {}}
    for stack, n in stacks.items():
        node = root
        node["n"] += n
        for f in stack.split(";"):
            node = node["c"].setdefault(f, {"n": 0, "c": {}})
            node["n"] += n
    return root


def color(name: str) -> str:
    h = zlib.crc32(name.encode())
    if any(k in name for k in ("relais", "router::", "kafka::", "journal", "directory::", "dedupe")):
        return f"rgb({200 + h % 40},{120 + (h >> 8) % 60},{40 + (h >> 16) % 30})"   # the project's code
    if name.startswith("[") or "rd_kafka" in name or "rdk" in name:
        return f"rgb({90 + h % 40},{150 + (h >> 8) % 50},{200 + (h >> 16) % 40})"   # librdkafka, unknown
    return f"rgb({220 + h % 30},{90 + (h >> 8) % 90},{50 + (h >> 16) % 40})"


def render(stacks: Counter, title: str, min_pct: float, width: int = 1200, row: int = 16) -> str:
    root = tree(stacks)
    total = root["n"] or 1
    boxes = []   # (depth, x, w, name, samples)

    def walk(node, depth, x):
        for name in sorted(node["c"]):
            child = node["c"][name]
            if 100.0 * child["n"] / total >= min_pct:
                boxes.append((depth, x, child["n"], name))
                walk(child, depth + 1, x)
            x += child["n"]

    walk(root, 0, 0)
    depth = 1 + max((b[0] for b in boxes), default=0)
    top = 40
    height = top + (depth + 1) * row + 10
    scale = (width - 20) / total
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="#f8f8f8"/>',
           f'<text x="{width // 2}" y="20" text-anchor="middle" font-size="15">{html.escape(title)}</text>',
           f'<text x="10" y="34" fill="#555">{total:,} samples; box width = share of samples; '
           f'frames under {min_pct}% left out; hover a box for its name and share</text>']
    for d, x, n, name in boxes:
        px, pw = 10 + x * scale, n * scale
        py = height - 10 - (d + 1) * row
        label = html.escape(name)
        tip = f"{label} ({n:,} samples, {100.0 * n / total:.2f}%)"
        out.append(f'<g><title>{tip}</title><rect x="{px:.1f}" y="{py}" width="{max(pw - 0.5, 0.5):.1f}" '
                   f'height="{row - 1}" fill="{color(name)}" rx="2"/>')
        chars = int(pw / 7)
        if chars >= 3:
            text = name if len(name) <= chars else name[: chars - 2] + ".."
            out.append(f'<text x="{px + 3:.1f}" y="{py + row - 4}">{html.escape(text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("perf_data")
    ap.add_argument("out_svg")
    ap.add_argument("--title", default="relais-router: CPU samples (perf record -g)")
    ap.add_argument("--min-pct", type=float, default=0.2)
    args = ap.parse_args()
    p = subprocess.run(["perf", "script", "-i", args.perf_data, "-F", "comm,ip,sym,dso"],
                       capture_output=True, text=True, errors="replace")
    if p.returncode != 0:
        print(p.stderr, file=sys.stderr)
        return 1
    stacks = fold(p.stdout.splitlines())
    if not stacks:
        print("no samples with call chains in the profile", file=sys.stderr)
        return 1
    out = Path(args.out_svg)
    out.with_suffix(".folded").write_text("".join(f"{k} {v}\n" for k, v in sorted(stacks.items())))
    out.write_text(render(stacks, args.title, args.min_pct))
    print(f"{out}: {sum(stacks.values()):,} samples, {len(stacks):,} distinct stacks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
