#!/usr/bin/env python3
"""Where a JVM's CPU went, from a Java Flight Recorder file (`jdk.ExecutionSample` events): the
threads, the broker's work by request kind (the outermost `KafkaApis.handle…` frame; a waiting
fetch completed elsewhere counts as `DelayedFetch`), and the methods with the most samples on top
of the stack (self) and anywhere in it (total). Used for the broker's profile of a drain
(`BENCH_BROKER_JFR=1`, bench/peer.py).

    bench/jfr_top.py FILE.jfr [--top 25] [--json OUT]
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys


def samples(path: str) -> list[tuple[str, list[str]]]:
    """[(thread, [frame, ...] innermost first)] from `jfr print --json`."""
    out = subprocess.run(["jfr", "print", "--json", "--stack-depth", "64", "--events", "jdk.ExecutionSample", path],
                         check=True, capture_output=True, text=True).stdout
    events = json.loads(out)["recording"]["events"]
    res = []
    for e in events:
        v = e["values"]
        thread = (v.get("sampledThread") or {}).get("javaName") or "?"
        frames = []
        for f in ((v.get("stackTrace") or {}).get("frames") or []):
            m = f["method"]
            frames.append(f'{m["type"]["name"]}.{m["name"]}')
        res.append((thread, frames))
    return res


def thread_group(name: str) -> str:
    """Kafka's thread names without their numbers: data-plane-kafka-request-handler-3 → …-handler."""
    return name.rstrip("0123456789-").rstrip("-") or name


def request_kind(thread: str, frames: list[str]) -> str:
    """The Kafka request a sample works for: `handleFetchRequest`, `handleProduceRequest`, …"""
    for f in reversed(frames):  # outermost first, past the dispatcher KafkaApis.handle
        name = f.rsplit(".", 1)[1]
        if "KafkaApis." in f and name.startswith("handle") and name != "handle":
            return name
    for f in reversed(frames):
        if "DelayedFetch" in f:
            return "DelayedFetch"
    return "thread " + thread_group(thread)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("jfr")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--json")
    a = ap.parse_args()
    ss = samples(a.jfr)
    n = len(ss) or 1
    self_c, total_c, thr, req = (collections.Counter() for _ in range(4))
    for t, fr in ss:
        thr[thread_group(t)] += 1
        req[request_kind(t, fr)] += 1
        if fr:
            self_c[fr[0]] += 1
        for m in set(fr):
            total_c[m] += 1
    report = {"samples": len(ss),
              "threads": [(k, v, round(100 * v / n, 1)) for k, v in thr.most_common(a.top)],
              "requests": [(k, v, round(100 * v / n, 1)) for k, v in req.most_common(a.top)],
              "self": [(k, v, round(100 * v / n, 1)) for k, v in self_c.most_common(a.top)],
              "total": [(k, v, round(100 * v / n, 1)) for k, v in total_c.most_common(a.top)]}
    print(f"{len(ss)} samples")
    for key in ("threads", "requests", "self", "total"):
        print(f"\n{key}:")
        for k, v, pct in report[key]:
            print(f"  {pct:5.1f}% {v:7d}  {k}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
