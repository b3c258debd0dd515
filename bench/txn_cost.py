#!/usr/bin/env python3
"""What a Kafka transaction costs the broker at 565 CPAS, apart from Relais.

    var/venv/bin/python bench/txn_cost.py [MODE,MODE...] [--records N] [--no-reset]

Writes the same records (500-byte values, lz4) to 1,130 single-partition topics shaped like
the 565 CPAS notification topics and their alert topics (each record to one CPAS; 24% of them
also to its alert topic, as the default clignotant rules do) with librdkafka, in several
ways, one after the other on the bench stack's broker (reset first, then warmed as the peer
part does), and reports for each the broker's CPU per record and the client's:

    txn<N>   transactions of N records, as relais-router commits them (default mode txn4800)
    idem<N>  the idempotent producer without transactions, flushed every N records
    lin<MS>  the idempotent producer without transactions, linger.ms MS, never flushed
    k<K>     transactions over K partitions only, 4 records per partition per transaction

It isolates the cost of the transactions themselves (partitions registered with the
coordinator, the broker's verification of each produce request, the commit markers) from
that of the produce requests (librdkafka sends one per partition). docs/performance.md,
"Transactions or not at 565 CPAS", has the figures and what they mean for the router.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer  # noqa: E402
import run as R  # noqa: E402

CPAS = 565


def cpu_seconds(pid: str) -> float:
    return R._cpu_ticks(int(pid)) / R.CLK_TCK


def measure(mode: str, base: dict, plan: list[str], topics: list[str], broker: str) -> dict:
    from confluent_kafka import Producer
    subset = topics[: int(mode[1:])] if mode.startswith("k") else None
    if subset is not None or mode.startswith("txn"):
        size = 4 * len(subset) if subset is not None else int(mode[3:] or 4800)
        conf = {"linger.ms": 5, "transactional.id": f"relais-bench-txncost-{mode}-{time.time_ns()}"}
    elif mode.startswith("idem"):
        size, conf = int(mode[4:] or 4800), {"linger.ms": 5, "enable.idempotence": True}
    elif mode.startswith("lin"):
        size = 0
        conf = {"linger.ms": int(mode[3:] or 100), "enable.idempotence": True, "batch.size": 1000000}
    else:
        raise SystemExit(f"unknown mode {mode}")
    transactional = "transactional.id" in conf
    p = Producer({**base, **conf, "queue.buffering.max.messages": 1000000})
    if transactional:
        p.init_transactions(60)
    seq = plan if subset is None else [subset[i % len(subset)] for i in range(min(len(plan), 200000))]
    value = b"v" * 500
    b0, t0, c0 = cpu_seconds(broker), time.time(), os.times()
    commits = 0
    if transactional:
        p.begin_transaction()
    for i, t in enumerate(seq):
        while True:
            try:
                p.produce(t, value=value, partition=0)
                break
            except BufferError:
                p.poll(0.01)
        if size and (i + 1) % size == 0:
            if transactional:
                p.commit_transaction(60)
                p.begin_transaction()
            else:
                p.flush(60)
            commits += 1
        elif i % 1000 == 0:
            p.poll(0)
    if transactional:
        p.commit_transaction(60)
    else:
        p.flush(60)
    commits += 1
    wall, broker_cpu, c1 = time.time() - t0, cpu_seconds(broker) - b0, os.times()
    n = len(seq)
    out = {"records": n, "seconds": round(wall, 2), "records_per_s": round(n / wall),
           "commits_or_flushes": commits, "broker_cpu_s": round(broker_cpu, 2),
           "broker_us_per_record": round(broker_cpu * 1e6 / n, 1),
           "client_cpu_s": round(c1.user + c1.system - c0.user - c0.system, 2),
           "client_us_per_record": round((c1.user + c1.system - c0.user - c0.system) * 1e6 / n, 1)}
    if subset:
        out["broker_us_per_partition_per_transaction"] = round(broker_cpu * 1e6 / commits / len(subset), 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modes", nargs="?", default="txn4800,idem4800,lin100,txn4800,idem4800")
    ap.add_argument("--records", type=int, default=300000, help="notifications (records: 1.24 times as many)")
    ap.add_argument("--warmup", type=float, default=20.0, help="seconds of broker warm-up (0: none)")
    ap.add_argument("--no-reset", action="store_true", help="reuse a running bench stack")
    ap.add_argument("--out", default=None, help="results file (default bench/results/<date>-txn-cost.json)")
    args = ap.parse_args()
    from confluent_kafka.admin import AdminClient, NewTopic
    R.stack_cmd("up", reset=not args.no_reset)
    coords = R.stack_coords()
    brokers = coords["RELAIS_KAFKA_BROKERS"]
    base = {**peer.kconf(), "bootstrap.servers": brokers, "log_level": 3, "compression.type": "lz4"}
    adm = AdminClient({**peer.kconf(), "bootstrap.servers": brokers, "log_level": 3})
    topics = [f"bench.txncost.c{i:03d}.notifications" for i in range(CPAS)] + \
             [f"bench.txncost.c{i:03d}.alerts" for i in range(CPAS)]
    for f in adm.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
        try:
            f.result(120)
        except Exception as e:  # noqa: BLE001
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
    warm = peer.warm_transactions(brokers, args.warmup)
    rng = random.Random(1)
    plan = []
    for _ in range(args.records):
        c = rng.randrange(CPAS)
        plan.append(topics[c])
        if rng.random() < 0.24:
            plan.append(topics[CPAS + c])
    broker = peer.broker_pid()
    results = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpas": CPAS, "topics": len(topics),
               "notifications": args.records, "broker_warmup": warm, "modes": []}
    for mode in args.modes.split(","):
        r = {"mode": mode, **measure(mode, base, plan, topics, broker)}
        print(json.dumps(r), flush=True)
        results["modes"].append(r)
    out = Path(args.out or R.REPO / "bench" / "results" / f"{time.strftime('%Y-%m-%d')}-txn-cost.json")
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"results: {out}")
    if not args.no_reset:
        R.stack_cmd("down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
