"""`--only health`: relais-api's subscriber health pass at data-centre scale (docs/performance.md).

565 CPAS topics (cpas.<cbe>.notifications.v1, one partition, 10 records each) and 3 applications
per CPAS (consumer groups cpas.<cbe>.app-0..2 committed at 10, 5 and 0: caught up, half way, nothing
read), then build/bench/subscriber_health_bench runs passes as relais-api's principal (its ACLs):
the first pass fetches the first unread record of every lagging partition, the next ones find them
in the cache. Reports, per pass, the time and the Kafka requests."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N_CPAS = 565
APPS = 3
RECORDS = 10


def cbes(n: int) -> list[str]:
    out = []
    for i in range(n):
        head = f"0{9000000 + i:07d}"
        out.append(head + f"{97 - int(head) % 97:02d}")
    return out


def setup(H, coords: dict[str, str]) -> list[str]:
    from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    conf = {"bootstrap.servers": coords["RELAIS_KAFKA_BROKERS"], **H.kafka_conf(env=coords)}
    admin = AdminClient(conf)
    all_cbes = cbes(N_CPAS)
    topics = [f"cpas.{c}.notifications.v1" for c in all_cbes]
    for t, f in admin.create_topics([NewTopic(t, 1, 1) for t in topics], operation_timeout=120).items():
        try:
            f.result(timeout=180)
        except Exception as e:  # an existing topic (a kept stack) is fine
            if "already exists" not in str(e).lower():
                raise
    p = Producer({**conf, "linger.ms": 20})
    for t in topics:
        for i in range(RECORDS):
            p.produce(t, key=b"k", value=b"bench-health-%d" % i)
        p.poll(0)
    assert p.flush(120) == 0
    futures = []
    for c, t in zip(all_cbes, topics):
        for k, off in enumerate((RECORDS, RECORDS // 2, 0)[:APPS]):
            futures += admin.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(f"cpas.{c}.app-{k}", [TopicPartition(t, 0, off)])]).values()
        if len(futures) >= 300:
            for f in futures:
                f.result(timeout=120)
            futures = []
    for f in futures:
        f.result(timeout=120)
    return all_cbes


def run(H, coords: dict[str, str], build: Path, passes: int = 3) -> dict:
    t0 = time.monotonic()
    setup(H, coords)
    setup_s = time.monotonic() - t0
    env = {**os.environ, **coords, **H.service_kafka_env("api", coords)}
    env["RELAIS_KAFKA_SASL_MECHANISM"] = "PLAIN"  # the services' mechanism (docs/architecture.md)
    r = subprocess.run([str(build / "bench" / "subscriber_health_bench"), str(passes)], env=env,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"subscriber_health_bench failed: {r.stderr[-2000:]}")
    out = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    if r.stderr.strip():
        print(r.stderr[-2000:])
    return {"cpas": N_CPAS, "applications_per_cpas": APPS, "records_per_topic": RECORDS,
            "setup_seconds": round(setup_s, 1), "passes": out}


def summary_rows(r: dict) -> list[tuple[str, str, str]]:
    h = r.get("subscriber_health")
    if not h or not h.get("passes"):
        return []
    rows = []
    for p in h["passes"]:
        kind = "cold (fetches)" if p["pass"] == 1 else "warm (cache)"
        rows.append((f"subscriber health pass {p['pass']}, {h['cpas']} CPAS x {h['applications_per_cpas']} (s)",
                     f"{p['seconds']:.3f}", f"{p['requests']} Kafka requests, {p['fetched']} fetched, {kind}"))
    return rows
