"""End-to-end throughput with 1, 2 and 3 relais-router replicas in one consumer group (issue 17:
"several replicas"), measured in the same run, on the bench stack of bench/run.py.

For N = 1, 2, 3: N routers run (each its own instance id, so its own transactional.id and static
group membership; the inbound topic's partitions are shared among them by the group), fresh
notifications (fresh tickets: never deduplicated) are posted through relais-ingest as in the
end-to-end part, and a read_committed consumer started at the end of the CPAS topics times them
from the first post to the last routed record seen. The records each replica routed (its
relais_router_routed_total over the step) show how the group shared the partitions.

On a 2-core machine the replicas share the two cores with the broker, PostgreSQL, relais-ingest
and the poster: the figures say what one more replica costs or brings there, not what it brings
on machines of their own. Each step's CPU seconds per process say what limited it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path


def _wait_group_settled(routers, seconds: float = 4.0) -> None:
    """Every replica ready, then a few seconds for the group's assignment to reach all of them."""
    for r in routers:
        r.wait_ready(timeout=300)
    time.sleep(seconds)


def run(R, relais, ingest, first_router, brokers: str, tmp: Path, rng, ssins: list[str], n: int, batch: int,
        concurrency: int, counts=(1, 2, 3)) -> dict:
    """R is bench/run.py's module. first_router is the running replica of the end-to-end part."""
    routers = [first_router]
    steps = []
    for want in counts:
        while len(routers) < want:
            r = relais.add("router", instance=str(len(routers) + 1))
            r.start()
            routers.append(r)
        _wait_group_settled(routers)
        plan = R.write_batches(rng, tmp / f"replicas-{want}", n, ssins, batch)
        cons = R.start_consumer(brokers, tmp / "pb", plan["expected_routed"], tmp / f"replicas-{want}.json",
                                from_end=True, latency=False, max_s=3600)
        time.sleep(2.0)  # the consumer's assignment (end offsets) before the first post
        procs = {"relais-ingest": ingest.proc.pid, **{f"relais-router-{i + 1}": r.proc.pid for i, r in enumerate(routers)}}
        routed0 = [R.metric_sum(r, "relais_router_routed_total") for r in routers]
        tx0 = [R.metric_sum(r, "relais_router_transactions_total") for r in routers]
        cpu0 = R.cpu_snapshot(procs)
        st = R.post_files(lambda flow: f"{ingest.url}/v1/notifications/{flow}:batch", plan["files"], concurrency)
        cpu1, w1 = R.cpu_snapshot(procs), time.time()
        while cons.poll() is None:
            cpu1, w1 = R.cpu_snapshot(procs), time.time()
            time.sleep(0.25)
        c = json.loads((tmp / f"replicas-{want}.json").read_text())
        if c["count"] < plan["expected_routed"]:
            raise RuntimeError(f"{want} replica(s): consumer saw {c['count']} of {plan['expected_routed']} routed records")
        secs = c["last_at"] - st["t0"]
        per = [round(R.metric_sum(r, "relais_router_routed_total") - a) for r, a in zip(routers, routed0)]
        txs = [round(R.metric_sum(r, "relais_router_transactions_total") - a) for r, a in zip(routers, tx0)]
        step = {"replicas": want, "notifications": n, "routed_records": c["count"], "seconds": round(secs, 2),
                "notifications_per_s": round(n / secs, 1), "ingest_accept_per_s": round(st["lines"] / st["seconds"], 1),
                "routed_by_replica": per, "transactions_by_replica": txs,
                "cpu": R.cpu_report(cpu0, cpu1, w1 - st["t0"])}
        steps.append(step)
        R.log(f"  {want} router replica(s): {step['notifications_per_s']:.0f} notifications/s end to end; "
              f"routed per replica {per}")
    base = steps[0]["notifications_per_s"]
    for s in steps:
        s["ratio_to_one"] = round(s["notifications_per_s"] / base, 2)
    for r in routers[1:]:
        r.stop()
    return {"steps": steps, "cores": R.machine_info().get("cores")}
