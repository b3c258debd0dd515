#!/usr/bin/env python3
"""The cost model of issue 19: how the end-to-end throughput and the latency change with the
number of CPAS and with the size of the directory (docs/performance.md, "Cost model").

    var/venv/bin/python bench/cost_model.py run  [--notifications 100000] [--date YYYY-MM-DD]
    var/venv/bin/python bench/cost_model.py plot [--date YYYY-MM-DD] [--out docs/img/cost-model.svg]
    var/venv/bin/python bench/cost_model.py curve --result bench/results/<run>.json [--out docs/img/latency-curve.svg]

`run` makes one `bench/run.py --only e2e,latency` run per point, each on a fresh bench stack:
50, 200 and 565 CPAS with 1,000,000 integrations, then 565 CPAS with 5,000,000 and 10,000,000
(`--directory-fill auto`: COPY above a million). Results: bench/results/<date>-cost-c<CPAS>-m<M>.json.
`plot` reads them and writes an SVG (throughput and latency against each axis, drawn here
without a plotting library) and prints the Markdown table of docs/performance.md. The latency is
measured at half of each point's own end-to-end rate, as in `make bench`.

`curve` plots the latency against the offered rate from one `bench/run.py` result that has a
`latency_curve` (`--latency-rates 50,200,...`, or BENCH_LATENCY_RATES), the half-load point
last, and prints its Markdown table."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CPAS_AXIS = [(50, 1_000_000), (200, 1_000_000), (565, 1_000_000)]
SIZE_AXIS = [(565, 1_000_000), (565, 5_000_000), (565, 10_000_000)]
POINTS = list(dict.fromkeys(CPAS_AXIS + SIZE_AXIS))


def name_of(cpas: int, m: int) -> str:
    return f"cost-c{cpas}-m{m // 1_000_000}M"


def run(args) -> int:
    for cpas, m in POINTS:
        print(f"[cost model] {cpas} CPAS, {m:,} integrations", flush=True)
        rc = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--only", "e2e,latency",
                             "--cpas", str(cpas), "--integrations", str(m),
                             "--notifications", str(args.notifications), "--name", name_of(cpas, m)]).returncode
        if rc != 0:
            print(f"[cost model] the run at {cpas} CPAS, {m:,} integrations failed ({rc})", file=sys.stderr)
            return rc
    return plot(args)


def load(date: str) -> dict:
    pts = {}
    for cpas, m in POINTS:
        f = RESULTS / f"{date}-{name_of(cpas, m)}.json"
        if f.exists():
            r = json.loads(f.read_text())
            e, lat = r.get("end_to_end", {}), r.get("latency", {})
            pts[(cpas, m)] = {"file": f.name, "e2e": e.get("notifications_per_s"), "pace": lat.get("target_rate_per_s"),
                              "p50": lat.get("p50"), "p99": lat.get("p99"),
                              "tx": e.get("router_transactions"), "router_rss": e.get("peak_memory_mib", {}).get("relais-router"),
                              "router_cpu_us": round(1e6 * e["cpu"]["cpu_seconds"]["relais-router"] / e["routed_records"], 1)
                              if e.get("routed_records") else None}
    return pts


def chart(x0: int, y0: int, w: int, h: int, title: str, xlabel: str, xs: list, series: list, ylabel: str,
          target: float | None = None) -> list[str]:
    """A line chart at (x0, y0): series = [(name, colour, [y per x])]; the x positions are evenly
    spaced (categories: 50, 200, 565 CPAS), not to scale."""
    ys = [y for _, _, vals in series for y in vals if y is not None] + ([target] if target else [])
    top = max(ys) * 1.15 if ys else 1
    px = [x0 + 60 + i * (w - 90) / max(1, len(xs) - 1) for i in range(len(xs))]

    def py(v):
        return y0 + h - 40 - (v / top) * (h - 70)

    out = [f'<text x="{x0 + w / 2}" y="{y0 + 16}" text-anchor="middle" font-size="13">{title}</text>',
           f'<line x1="{x0 + 60}" y1="{y0 + h - 40}" x2="{x0 + w - 20}" y2="{y0 + h - 40}" stroke="#333"/>',
           f'<line x1="{x0 + 60}" y1="{y0 + 30}" x2="{x0 + 60}" y2="{y0 + h - 40}" stroke="#333"/>',
           f'<text x="{x0 + w / 2}" y="{y0 + h - 8}" text-anchor="middle">{xlabel}</text>',
           f'<text x="{x0 + 14}" y="{y0 + h / 2}" text-anchor="middle" transform="rotate(-90 {x0 + 14} {y0 + h / 2})">'
           f'{ylabel}</text>']
    for k in range(5):
        v = top * k / 4
        out.append(f'<text x="{x0 + 55}" y="{py(v) + 4:.0f}" text-anchor="end" fill="#555">{v:,.0f}</text>')
        out.append(f'<line x1="{x0 + 60}" y1="{py(v):.0f}" x2="{x0 + w - 20}" y2="{py(v):.0f}" stroke="#ddd"/>')
    for i, x in enumerate(xs):
        out.append(f'<text x="{px[i]:.0f}" y="{y0 + h - 25}" text-anchor="middle">{x}</text>')
    if target:
        out.append(f'<line x1="{x0 + 60}" y1="{py(target):.0f}" x2="{x0 + w - 20}" y2="{py(target):.0f}" '
                   f'stroke="#c00" stroke-dasharray="5,4"/>')
        out.append(f'<text x="{x0 + w - 22}" y="{py(target) - 4:.0f}" text-anchor="end" fill="#c00">target {target:,.0f}</text>')
    for j, (name, col, vals) in enumerate(series):
        pts = [(px[i], py(v)) for i, v in enumerate(vals) if v is not None]
        if len(pts) > 1:
            out.append(f'<polyline fill="none" stroke="{col}" stroke-width="2" points="'
                       + " ".join(f"{a:.0f},{b:.0f}" for a, b in pts) + '"/>')
        for k, ((a, b), v) in enumerate(zip(pts, [v for v in vals if v is not None])):
            last = k == len(pts) - 1   # the last label left of its point: inside the chart
            out.append(f'<circle cx="{a:.0f}" cy="{b:.0f}" r="3.5" fill="{col}"><title>{name}: {v:,}</title></circle>')
            anchor = ' text-anchor="end"' if last else ""
            out.append(f'<text x="{a - 5 if last else a + 5:.0f}" y="{b - 6:.0f}" fill="{col}" font-size="10"'
                       f'{anchor}>{v:,.0f}</text>')
        out.append(f'<rect x="{x0 + 75}" y="{y0 + 28 + 14 * j}" width="10" height="10" fill="{col}"/>'
                   f'<text x="{x0 + 90}" y="{y0 + 37 + 14 * j}">{name}</text>')
    return out


def svg(pts: dict, date: str) -> str:
    W, H = 960, 620
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="11">', f'<rect width="{W}" height="{H}" fill="#fff"/>',
           f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="15">Relais cost model ({date}, '
           f'bench/cost_model.py): end to end and latency at half of each point\'s rate</text>']

    def col(axis, key):
        return [pts.get(p, {}).get(key) for p in axis]

    out += chart(0, 30, W // 2, 290, "Throughput by CPAS count (1 M integrations)", "CPAS",
                 [c for c, _ in CPAS_AXIS], [("end to end, notifications/s", "#1f77b4", col(CPAS_AXIS, "e2e"))],
                 "notifications/s")
    out += chart(W // 2, 30, W // 2, 290, "Throughput by directory size (565 CPAS)", "integrations (millions)",
                 [m // 1_000_000 for _, m in SIZE_AXIS],
                 [("end to end, notifications/s", "#1f77b4", col(SIZE_AXIS, "e2e"))], "notifications/s")
    out += chart(0, 325, W // 2, 290, "Latency accepted -> visible by CPAS count", "CPAS",
                 [c for c, _ in CPAS_AXIS], [("p50 ms", "#2ca02c", col(CPAS_AXIS, "p50")),
                                             ("p99 ms", "#d62728", col(CPAS_AXIS, "p99"))], "ms", target=200)
    out += chart(W // 2, 325, W // 2, 290, "Latency by directory size (565 CPAS)", "integrations (millions)",
                 [m // 1_000_000 for _, m in SIZE_AXIS], [("p50 ms", "#2ca02c", col(SIZE_AXIS, "p50")),
                                                          ("p99 ms", "#d62728", col(SIZE_AXIS, "p99"))], "ms", target=200)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def plot(args) -> int:
    pts = load(args.date)
    if not pts:
        print(f"no cost-model results of {args.date} in {RESULTS}", file=sys.stderr)
        return 1
    out = Path(args.out or REPO / "docs" / "img" / "cost-model.svg")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(svg(pts, args.date))
    print(f"{out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    print("| CPAS | integrations | end to end | latency pace | p50 | p99 | transactions | router CPU / record | router VmHWM |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (c, m), p in sorted(pts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"| {c} | {m:,} | {p['e2e'] or 0:,.0f}/s | {p['pace'] or 0:,.0f}/s | {p['p50']} ms | {p['p99']} ms "
              f"| {p['tx'] or 0:,.0f} | {p['router_cpu_us']} µs | {p['router_rss']} MiB |")
    return 0


def curve(args) -> int:
    if not args.result:
        print("curve: --result bench/results/<run>.json", file=sys.stderr)
        return 2
    r = json.loads(Path(args.result).read_text())
    pts = [p for p in r.get("latency_curve", []) + [r.get("latency", {})] if "p99" in p]
    if not pts:
        print(f"{args.result}: no latency_curve", file=sys.stderr)
        return 1
    pts.sort(key=lambda p: p["target_rate_per_s"])
    prm = r.get("params", {})
    W, H = 960, 360
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="11">', f'<rect width="{W}" height="{H}" fill="#fff"/>']
    out += chart(0, 0, W, H, f"Latency accepted -> visible against the offered rate ({prm.get('cpas')} CPAS, "
                 f"{prm.get('integrations', 0):,} integrations; {Path(args.result).name})", "notifications/s offered (evenly spaced, not to scale)",
                 [f"{p['target_rate_per_s']:,.0f}" for p in pts],
                 [("p50 ms", "#2ca02c", [p["p50"] for p in pts]), ("p99 ms", "#d62728", [p["p99"] for p in pts])],
                 "ms", target=200)
    out.append("</svg>")
    dest = Path(args.out or REPO / "docs" / "img" / "latency-curve.svg")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("\n".join(out) + "\n")
    print(f"{dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest}")
    print("| offered | p50 | p90 | p99 | p99.9 | router transactions | records per transaction "
          "| seconds per transaction | router's accepted → committed, mean |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def ms(v):
        return f"{v:,.0f} ms" if v is not None else ""
    for p in pts:
        tx = p.get("router_transactions")
        print(f"| {p['target_rate_per_s']:,.0f}/s | {ms(p['p50'])} | {ms(p.get('p90'))} | {ms(p['p99'])} "
              f"| {ms(p.get('p99_9'))} | {'' if tx is None else f'{tx:,.0f}'} "
              f"| {p.get('routed_per_transaction', '')} | {p.get('transaction_seconds_mean', '')} "
              f"| {ms(p.get('router_committed_ms_mean'))} |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["run", "plot", "curve"])
    ap.add_argument("--result", help="curve: a bench/run.py result with a latency_curve")
    ap.add_argument("--notifications", type=int, default=100_000)
    ap.add_argument("--date", default=dt.date.today().isoformat())
    ap.add_argument("--out", default=None,
                    help="the SVG (default docs/img/cost-model.svg, or latency-curve.svg for curve)")
    args = ap.parse_args()
    return {"run": run, "plot": plot, "curve": curve}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
