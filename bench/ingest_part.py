"""`make bench` part `ingest`: relais-ingest alone, NDJSON batches, on a warm broker.

Issue 19's row "relais-ingest alone (router stopped)". Until 6 December 2026 the row was read
from the peer part's pre-fill: the first 100,000 records a fresh broker ever took (1.4 s in quick
mode, rounded to a tenth of a second), so it measured the broker's JIT compilation and the first
writes of its segments as much as relais-ingest (docs/performance.md, "relais-ingest alone").

Here a relais-ingest of its own, under its own Kafka principal and ACLs, writes to a scratch
topic shaped like relais.inbound.v1 (same partitions, same settings), so nothing reaches the
router or the peer comparison. The same batch files are posted `passes` times: the first pass is
reported apart (the broker's first writes to the topic), the rate is that of the others together.
"""
from __future__ import annotations

from pathlib import Path

TOPIC = "bench.ingest.v1"
INBOUND = "relais.inbound.v1"


def _topic_and_acl(H, brokers: str) -> int:
    """Creates TOPIC like relais.inbound.v1 and lets relais-ingest's principal write it (the
    bench's administrator credentials). Returns the partition count."""
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                       ConfigResource, NewTopic, ResourcePatternType, ResourceType)
    adm = AdminClient({**H.kafka_conf(), "bootstrap.servers": brokers, "log_level": 3})
    md = adm.list_topics(INBOUND, timeout=30)
    parts = len(md.topics[INBOUND].partitions)
    res = ConfigResource(ResourceType.TOPIC, INBOUND)
    cfg = adm.describe_configs([res])[res].result(30)
    keep = {k: v.value for k, v in cfg.items()
            if k in ("min.insync.replicas", "compression.type", "retention.ms", "segment.bytes")}
    for f in adm.create_topics([NewTopic(TOPIC, parts, 1, config=keep)]).values():
        try:
            f.result(60)
        except Exception as e:  # a kept stack (--no-reset) has it already
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
    principal = f"User:{H.SERVICE_PRINCIPALS.get('ingest', 'relais-ingest')}"
    acls = [AclBinding(ResourceType.TOPIC, TOPIC, ResourcePatternType.LITERAL, principal, "*", op,
                       AclPermissionType.ALLOW) for op in (AclOperation.WRITE, AclOperation.DESCRIBE)]
    for f in adm.create_acls(acls).values():
        f.result(30)
    return parts


def run(R, coords: dict, tmp: Path, files, concurrency: int, passes: int = 5) -> dict:
    """R: bench/run.py (post_files, cpu_snapshot, cpu_report). Returns the part's result."""
    H = R.H
    brokers = coords["RELAIS_KAFKA_BROKERS"]
    parts = _topic_and_acl(H, brokers)
    relais = H.Relais(coords, tmp / "ingest-logs", group_id="relais-bench-ingest",
                      extra_env={"RELAIS_INGEST_TOPIC": TOPIC})
    ingest = relais.add("ingest")
    out: dict = {"topic": TOPIC, "partitions": parts, "passes": []}
    try:
        ingest.start()
        ingest.wait_ready(timeout=60)
        for i in range(passes):
            c0 = R.cpu_snapshot({"relais-ingest": ingest.proc.pid})
            st = R.post_files(lambda flow: f"{ingest.url}/v1/notifications/{flow}:batch", files, concurrency)
            c1 = R.cpu_snapshot({"relais-ingest": ingest.proc.pid})
            if st["errors"] or st["lines"] == 0:
                raise RuntimeError(f"ingest pass {i + 1}: {st}")
            cpu = R.cpu_report(c0, c1, st["seconds"])["cpu_seconds"]
            out["passes"].append({
                "pass": i + 1, "notifications": st["lines"], "seconds": round(st["seconds"], 3),
                "notifications_per_s": round(st["lines"] / st["seconds"], 1), "reposts": st["retries"],
                "ingest_cpu_us_per_notification": round(1e6 * cpu.get("relais-ingest", 0) / st["lines"], 2),
                "broker_cpu_us_per_notification": round(1e6 * cpu.get("kafka", 0) / st["lines"], 2)})
    finally:
        relais.stop_all()
    warm = out["passes"][1:] or out["passes"]
    lines, secs = sum(p["notifications"] for p in warm), sum(p["seconds"] for p in warm)
    out["notifications_per_s"] = round(lines / secs, 1)
    return out
