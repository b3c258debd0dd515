#!/usr/bin/env python3
"""Relais benchmarks (issue 6, first increment): raw-broker baselines, end-to-end throughput
and latency. Driven by `make bench`; see docs/performance.md.

    var/venv/bin/python bench/run.py [--quick] [--notifications N] [--integrations M]
                                     [--only raw,java,e2e,latency] [--name NAME]

By default it starts a dedicated, freshly reset stack under var/bench-stack (PostgreSQL
57232, Kafka 59992/59993) and stops it at the end; --keep-stack leaves it running.
Results go to bench/results/<date>-<name>.json and a summary table is printed.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "harness"))
import relais_harness as H  # noqa: E402
import requests  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest_part  # noqa: E402
import journal_part  # noqa: E402
import micro_part  # noqa: E402
import soap_part  # noqa: E402
import health_part  # noqa: E402
import peer  # noqa: E402
import replicas_part  # noqa: E402

BUILD = Path(os.environ.get("RELAIS_BUILD_DIR", REPO / "build"))
# The bench stack; BENCH_STACK_DIR, BENCH_PG_PORT, BENCH_KAFKA_PORT and
# BENCH_KAFKA_CONTROLLER_PORT put a second one elsewhere (two benchmarks at once).
STACK = {
    "RELAIS_STACK_DIR": os.environ.get("BENCH_STACK_DIR", str(REPO / "var" / "bench-stack")),
    "RELAIS_PG_PORT": os.environ.get("BENCH_PG_PORT", "57232"),
    "RELAIS_KAFKA_PORT": os.environ.get("BENCH_KAFKA_PORT", "59992"),
    "RELAIS_KAFKA_CONTROLLER_PORT": os.environ.get("BENCH_KAFKA_CONTROLLER_PORT", "59993"),
}
CPAS_TOPIC_RE = re.compile(r"^cpas\..*\.notifications\.v1$")
# A realistic mix of the six flows (share of the nightly volume).
FLOW_MIX = {
    "notify-person": 0.40,
    "personnel-file": 0.20,
    "notify-family-composition": 0.15,
    "pension-register-mutation": 0.10,
    "ecarmed-calculation": 0.10,
    "self-employed-career": 0.05,
}
ROUTED_SHARE = 0.90      # the rest targets SSINs nobody integrated: dropped as not_integrated
EFFECTIVE_DATE = "2026-11-01"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------ stack
def stack_cmd(*args: str, reset: bool = False) -> None:
    env = dict(os.environ, **STACK)
    if reset:
        env["RELAIS_STACK_RESET"] = "1"
    subprocess.run([str(REPO / "deploy/local/stack.sh"), *args], env=env, check=True)


def stack_coords() -> dict[str, str]:
    os.environ.update(STACK)
    coords = H.stack_env(STACK["RELAIS_STACK_DIR"])
    # the stack's Kafka credentials (its administrator), for the bench's own clients and tools
    os.environ.update({k: v for k, v in coords.items() if k.startswith("RELAIS_KAFKA_S") or k == "RELAIS_KAFKA_ADMIN_CONFIG"})
    return coords


# ------------------------------------------------------------------ CPU accounting
# Where the CPU goes during a run: user+system seconds of each process of the pipeline (the
# services, the broker's JVM, every PostgreSQL process, the bench's consumer), read from
# /proc/<pid>/stat before and after. On a 2-core machine shared by all of them, this is the
# first profile: the sum over processes, divided by the wall time, says whether the run was
# CPU-bound, and the shares say which process to look at with perf.
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])  # utime, stime (fields 14 and 15)
    except (OSError, IndexError, ValueError):
        return 0


def _children(ppid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == ppid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None


def cpu_snapshot(procs: dict[str, int | None]) -> dict[str, int]:
    """{name: ticks}; `postgres` and `kafka` are found from the stack's pid files."""
    stack_dir = Path(STACK["RELAIS_STACK_DIR"])
    snap = {k: _cpu_ticks(v) for k, v in procs.items() if v}
    kpid = _pidfile(stack_dir / "kafka" / "kafka.pid")
    if kpid:
        snap["kafka"] = _cpu_ticks(kpid) + sum(_cpu_ticks(c) for c in _children(kpid))
    pgpid = _pidfile(stack_dir / "pg" / "data" / "postmaster.pid")
    if pgpid:
        snap["postgres"] = _cpu_ticks(pgpid) + sum(_cpu_ticks(c) for c in _children(pgpid))
    return snap


def peak_memory_mib(procs: dict[str, int | None]) -> dict[str, float]:
    """VmHWM (peak resident set since the process started) of the services and the broker, MiB."""
    pids = dict(procs, kafka=_pidfile(Path(STACK["RELAIS_STACK_DIR"]) / "kafka" / "kafka.pid"))
    return {k: hwm for k, pid in pids.items() if pid and (hwm := peer.proc_status(pid).get("VmHWM")) is not None}


def cpu_report(before: dict[str, int], after: dict[str, int], wall_s: float) -> dict:
    per = {k: round((after.get(k, 0) - before.get(k, 0)) / CLK_TCK, 2) for k in after}
    total = sum(per.values())
    return {"wall_seconds": round(wall_s, 2), "cpu_seconds": per, "cpu_seconds_total": round(total, 2),
            "cores_busy": round(total / wall_s, 2) if wall_s > 0 else None, "cores": os.cpu_count()}


def start_perf(pid: int, out: Path) -> subprocess.Popen | None:
    """BENCH_PERF=1: `perf record -g` of one process for the end-to-end run (docs/performance.md)."""
    if os.environ.get("BENCH_PERF", "") in ("", "0") or not shutil.which("perf"):
        return None
    return subprocess.Popen(["perf", "record", "-F", "499", "-g", "-p", str(pid), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ------------------------------------------------------------------ protobuf
def load_protos(tmp: Path):
    out = tmp / "pb"
    out.mkdir()
    files = sorted(str(p.relative_to(REPO / "proto")) for p in (REPO / "proto/relais/v1").glob("*.proto"))
    subprocess.run(["protoc", "-I", str(REPO / "proto"), "--python_out", str(out), *files], check=True)
    sys.path.insert(0, str(out))
    from relais.v1 import records_pb2  # type: ignore
    return records_pb2


def typical_record_size(pb, rng: random.Random, n: int = 3000) -> int:
    """Mean size of the inbound Notification as relais-ingest serializes it (flow + envelope copy
    + accepted_at_us + body), for the generator's mix."""
    from google.protobuf import json_format
    field_of = {f: f.replace("-", "_") for f in FLOW_MIX}
    flow_enum = {f: "FLOW_" + f.replace("-", "_").upper() for f in FLOW_MIX}
    sizes = []
    flows, weights = zip(*FLOW_MIX.items())
    for _ in range(n):
        flow = rng.choices(flows, weights)[0]
        d = H.notification(flow, H.new_ticket(), H.make_ssin(rng), EFFECTIVE_DATE, rng)
        msg = pb.Notification()
        msg.flow = pb.Notification.DESCRIPTOR.fields_by_name["flow"].enum_type.values_by_name[flow_enum[flow]].number
        body = getattr(msg, field_of[flow])
        json_format.ParseDict(d, body)
        env = msg.envelope
        for k in ("ticket", "ssin", "effective_date", "sent_at"):
            setattr(env, k, d[k])
        msg.accepted_at_us = int(time.time() * 1e6)
        sizes.append(msg.ByteSize())
    return round(statistics.mean(sizes))


# ------------------------------------------------------------------ baselines
# Partitions of each CPAS topic (notifications and alerts), as relais-api and relais-router
# create them; BENCH_CPAS_PARTITIONS overrides (passed to both services).
CPAS_PARTITIONS = int(os.environ.get("BENCH_CPAS_PARTITIONS", "1"))


def create_topic(brokers: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({**H.kafka_conf(), "bootstrap.servers": brokers, "log_level": 3})
    fs = a.create_topics([NewTopic(topic, partitions, 1)])
    for f in fs.values():
        try:
            f.result(30)
        except Exception as e:  # already exists is fine
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def bench_java(brokers: str, n: int, size: int) -> dict:
    cmd = ["java", "-Xmx512m", "-cp", str(REPO / "var/kafka-libs") + "/*",
           f"-Dlog4j2.configurationFile={STACK['RELAIS_STACK_DIR']}/kafka/config/tools-log4j2.properties",
           "org.apache.kafka.tools.ProducerPerformance", "--topic", "bench.raw.java",
           "--num-records", str(n), "--record-size", str(size), "--throughput", "-1",
           "--producer-props", f"bootstrap.servers={brokers}", "acks=all", "enable.idempotence=true",
           "linger.ms=5"]
    if os.environ.get("RELAIS_KAFKA_ADMIN_CONFIG"):  # SASL credentials of the stack's administrator
        cmd += ["--producer.config", os.environ["RELAIS_KAFKA_ADMIN_CONFIG"]]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        raise RuntimeError(f"ProducerPerformance failed: {p.stderr[-2000:]}")
    # Last line: "N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency,
    #             p50 ms 50th, p95 ms 95th, p99 ms 99th, p999 ms 99.9th."
    last = [l for l in p.stdout.splitlines() if "records sent" in l][-1]
    m = re.search(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                  r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th", last)
    if not m:
        raise RuntimeError(f"cannot parse: {last}")
    return {"records": int(m[1]), "record_size": size, "records_per_s": float(m[2]), "mb_per_s": float(m[3]),
            "latency_ms": {"avg": float(m[4]), "max": float(m[5]), "p50": int(m[6]), "p95": int(m[7]),
                           "p99": int(m[8]), "p99_9": int(m[9])},
            "settings": "acks=all enable.idempotence=true linger.ms=5", "wall_seconds": round(wall, 2)}


def bench_raw(brokers: str, n: int, size: int) -> dict:
    exe = BUILD / "bench" / "raw_producer"
    p = subprocess.run([str(exe), "--brokers", brokers, "--topic", "bench.raw", "--records", str(n),
                        "--size", str(size)], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"raw_producer failed: {p.stdout} {p.stderr[-2000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["settings"] = "acks=all enable.idempotence=true linger.ms=2 (relais-ingest's)"
    return r


# ------------------------------------------------------------------ data
def make_directory(rng: random.Random, n_int: int, n_cpas: int) -> tuple[list[str], list[str]]:
    cbes: list[str] = []
    while len(cbes) < n_cpas:
        c = H.make_cbe(rng)
        if c not in cbes:
            cbes.append(c)
    ssins: set[str] = set()
    while len(ssins) < n_int:
        ssins.add(H.make_ssin(rng))
    return cbes, sorted(ssins)


def put_cpas(api_url: str, cbes: list[str]) -> None:
    """The CPAS through relais-api (their topics and credentials), whichever way the lines go in."""
    for i, cbe in enumerate(cbes):
        H.api_put_cpas(api_url, cbe, f"CPAS bench {i}", [H.NIS_CODES[i % len(H.NIS_CODES)]])


def quality_of(ssin: str) -> int:
    return 1 + (hash(ssin) % 9)


def load_directory(api_url: str, cbes: list[str], ssins: list[str], chunk: int = 20000) -> float:
    t0 = time.time()
    put_cpas(api_url, cbes)
    sess = requests.Session()
    per_cpas: dict[str, list[str]] = {c: [] for c in cbes}
    for j, s in enumerate(ssins):
        per_cpas[cbes[j % len(cbes)]].append(s)
    for cbe, lst in per_cpas.items():
        for k in range(0, len(lst), chunk):
            body = "ssin,quality_code,start_date,end_date\n" + "".join(
                f"{s},{quality_of(s)},2020-01-01,\n" for s in lst[k:k + chunk])
            r = sess.post(f"{api_url}/v1/cpas/{cbe}/integrations:import", data=body.encode(),
                          headers=H.api_headers(**{"Content-Type": "text/csv"}), timeout=600)
            if r.status_code not in (200, 201):
                raise RuntimeError(f"import {cbe}: {r.status_code} {r.text[:500]}")
    return time.time() - t0


def fill_directory_copy(api_url: str, dsn: str, cbes: list[str], ssins: list[str]) -> float:
    """The same directory as load_directory (one open line from 2020-01-01 per SSIN, CPAS in
    turn), the CPAS through relais-api (their topics and credentials) but the integrations by
    COPY straight into PostgreSQL: the cost model's 5 and 10 million lines would take the import
    endpoint 6 and 13 minutes here. The rows are what the import writes (the directory journal's
    trigger left out when the role may: a bench, not an audit trail); the router loads them at
    its start like any others."""
    t0 = time.time()
    put_cpas(api_url, cbes)
    rows = "".join(f"{s}\t{cbes[j % len(cbes)]}\t{quality_of(s)}\t2020-01-01\tbench\tbench\n"
                   for j, s in enumerate(ssins))
    sql = ("BEGIN;\n"
           "DO $$ BEGIN SET LOCAL session_replication_role = replica; "
           "EXCEPTION WHEN insufficient_privilege THEN NULL; END $$;\n"
           "COPY integrations (ssin, cbe, quality_code, start_date, created_by, updated_by) FROM STDIN;\n"
           + rows + "\\.\nCOMMIT;\nVACUUM (ANALYZE) integrations;\n")
    subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-q"], input=sql, text=True, check=True,
                   stdout=subprocess.DEVNULL)
    return time.time() - t0


def write_batches(rng: random.Random, out: Path, n: int, ssins: list[str], batch: int) -> dict:
    """NDJSON batch files (one flow per file, the endpoint is per flow). Returns the plan."""
    out.mkdir(parents=True, exist_ok=True)
    flows, weights = zip(*FLOW_MIX.items())
    pending: dict[str, list[str]] = {f: [] for f in flows}
    files: list[tuple[str, Path, int]] = []
    routed = 0
    total_bytes = 0

    def flush(flow: str) -> None:
        nonlocal total_bytes
        lines = pending[flow]
        if not lines:
            return
        p = out / f"{len(files):06d}-{flow}.ndjson"
        data = ("\n".join(lines) + "\n").encode()
        p.write_bytes(data)
        total_bytes += len(data)
        files.append((flow, p, len(lines)))
        pending[flow] = []

    for _ in range(n):
        flow = rng.choices(flows, weights)[0]
        if rng.random() < ROUTED_SHARE:
            ssin = ssins[rng.randrange(len(ssins))]
            routed += 1
        else:
            ssin = H.make_ssin(rng, bis=True)  # BIS numbers: never in the generated directory
        d = H.notification(flow, H.new_ticket(), ssin, EFFECTIVE_DATE, rng)  # fresh tickets: never deduplicated
        pending[flow].append(json.dumps(d, separators=(",", ":")))
        if len(pending[flow]) >= batch:
            flush(flow)
    for f in flows:
        flush(f)
    rng.shuffle(files)
    return {"files": files, "expected_routed": routed, "bytes": total_bytes}


# ------------------------------------------------------------------ posting
def post_files(url_of, files, concurrency: int, pace_lines_per_s: float | None = None) -> dict:
    """Posts every file (re-posting on 429/503 as a BCSS sender would), `concurrency` threads,
    each with its own Session. With a pace, starts each file at its scheduled time."""
    idx = iter(range(len(files)))
    lock = threading.Lock()
    stats = {"retries": 0, "lines": 0, "errors": 0}
    t0 = time.time()
    cumulative = []
    acc = 0
    for _, _, n in files:
        cumulative.append(acc)
        acc += n

    def worker():
        s = requests.Session()
        while True:
            with lock:
                i = next(idx, None)
            if i is None:
                return
            flow, path, n = files[i]
            if pace_lines_per_s:
                due = t0 + cumulative[i] / pace_lines_per_s
                wait = due - time.time()
                if wait > 0:
                    time.sleep(wait)
            data = path.read_bytes() if isinstance(path, Path) else path
            while True:
                try:
                    r = s.post(url_of(flow), data=data, headers={"Content-Type": "application/x-ndjson"},
                               timeout=300)
                    if r.status_code == 200:
                        break
                    if r.status_code not in (429, 503):
                        with lock:
                            stats["errors"] += 1
                        raise RuntimeError(f"batch refused: {r.status_code} {r.text[:300]}")
                    wait = min(float(r.headers.get("Retry-After", "1")), 1.0)
                except requests.ConnectionError:
                    wait = 0.2
                with lock:
                    stats["retries"] += 1
                time.sleep(wait)
            with lock:
                stats["lines"] += n

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats["seconds"] = time.time() - t0
    stats["t0"] = t0
    return stats


async def _sink_server(port: int, ready: threading.Event, stop: list):
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n[]")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    stop.append((asyncio.get_running_loop(), server))
    ready.set()
    async with server:
        try:
            await server.serve_forever()
        except asyncio.CancelledError:
            pass


def bench_poster_ceiling(files, concurrency: int) -> dict:
    """The poster's own maximum rate against a trivial endpoint that reads the body and answers
    200 (itself Python, on the same 2 cores: a lower bound of the poster's ceiling)."""
    port = H.free_port()
    ready, stop = threading.Event(), []
    th = threading.Thread(target=lambda: asyncio.run(_sink_server(port, ready, stop)), daemon=True)
    th.start()
    ready.wait(10)
    st = post_files(lambda flow: f"http://127.0.0.1:{port}/v1/notifications/{flow}:batch", files, concurrency)
    loop, server = stop[0]
    loop.call_soon_threadsafe(server.close)
    return {"notifications_per_s": round(st["lines"] / st["seconds"], 1), "seconds": round(st["seconds"], 2)}


# ------------------------------------------------------------------ consumer (separate process)
def consume_main(args) -> int:
    """Reads every CPAS notifications topic read_committed from the given start (beginning or
    current end) until `expect` records were seen; writes a JSON result."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    sys.path.insert(0, args.pb_dir)
    from relais.v1 import records_pb2 as pb  # type: ignore
    c = Consumer({**H.kafka_conf(), "bootstrap.servers": args.brokers, "group.id": f"relais-bench-{uuid.uuid4()}",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": int(os.environ.get("BENCH_READER_FETCH_WAIT_MS", "50"))})
    md = c.list_topics(timeout=10)
    topics = sorted(t for t in md.topics if CPAS_TOPIC_RE.match(t))
    parts = []
    for t in topics:
        for p in md.topics[t].partitions:
            if args.from_end:
                lo, hi = c.get_watermark_offsets(TopicPartition(t, p), timeout=10)
                parts.append(TopicPartition(t, p, hi))
            else:
                parts.append(TopicPartition(t, p, OFFSET_BEGINNING))
    c.assign(parts)
    print(json.dumps({"ready": True, "topics": len(topics), "partitions": len(parts)}), flush=True)
    count, first, last = 0, None, None
    lat = []
    deadline = time.time() + args.max_s
    while count < args.expect and time.time() < deadline:
        # consume() returns when it has 10,000 records or when its timeout passes: the records are
        # stamped when it returns, so the timeout bounds what it adds to a latency (it was 100 ms,
        # 50 on average, until 7 December 2026: docs/performance.md, "Latency against the offered rate")
        msgs = c.consume(10000, 0.01)
        now_us = time.time() * 1e6
        for m in msgs:
            if m.error():
                continue
            count += 1
            if args.latency:
                r = pb.RoutedNotification.FromString(m.value())
                lat.append((now_us - r.notification.accepted_at_us) / 1000.0)
        if msgs:
            if first is None:
                first = now_us / 1e6
            last = now_us / 1e6
    c.close()
    out = {"count": count, "first_at": first, "last_at": last, "topics": len(topics)}
    if lat:
        lat.sort()
        q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]  # noqa: E731
        out["latency_ms"] = {"n": len(lat), "p50": round(q(0.5), 2), "p90": round(q(0.9), 2),
                             "p99": round(q(0.99), 2), "p99_9": round(q(0.999), 2), "max": round(lat[-1], 2)}
    Path(args.out).write_text(json.dumps(out))
    return 0 if count >= args.expect else 1


def start_consumer(brokers: str, pb_dir: Path, expect: int, out: Path, from_end: bool, latency: bool,
                   max_s: float) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "_consume", "--brokers", brokers, "--pb-dir", str(pb_dir),
           "--expect", str(expect), "--out", str(out), "--max-s", str(max_s)]
    if from_end:
        cmd.append("--from-end")
    if latency:
        cmd.append("--latency")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line or not json.loads(line).get("ready"):
        raise RuntimeError("consumer did not start")
    return p


def metric_sum(svc: H.Service, prefix: str) -> float:
    return sum(v for k, v in svc.metrics().items() if k.split("{")[0] == prefix)


# ------------------------------------------------------------------ main
def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_consume":
        ap = argparse.ArgumentParser()
        ap.add_argument("_consume")
        ap.add_argument("--brokers"); ap.add_argument("--pb-dir"); ap.add_argument("--out")  # noqa: E702
        ap.add_argument("--expect", type=int); ap.add_argument("--max-s", type=float, default=1800)  # noqa: E702
        ap.add_argument("--from-end", action="store_true"); ap.add_argument("--latency", action="store_true")  # noqa: E702
        return consume_main(ap.parse_args())

    quick_env = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", default=quick_env,
                    help="100k notifications and integrations (also BENCH_QUICK=1)")
    ap.add_argument("--notifications", type=int, help="end-to-end notifications (default 1,000,000; quick 100,000)")
    ap.add_argument("--integrations", type=int, help="directory size (default 5,000,000; quick 100,000)")
    ap.add_argument("--cpas", type=int, default=565, help="CPAS of the directory, each with its own topics "
                    "(default 565, Belgium's count after the 2025 mergers)")
    ap.add_argument("--directory-fill", choices=["auto", "api", "copy"], default="auto",
                    help="end to end: the directory through relais-api's import, or COPY into PostgreSQL "
                         "(auto: the import up to 1,000,000 integrations, COPY above)")
    ap.add_argument("--raw-records", type=int, help="records per raw baseline (default = notifications)")
    ap.add_argument("--batch", type=int, default=1000, help="lines per NDJSON batch (throughput run)")
    ap.add_argument("--concurrency", type=int, default=4, help="concurrent client connections")
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument("--latency-rates", default=os.environ.get("BENCH_LATENCY_RATES", ""),
                    help="latency: also at these fixed paces (comma list of notifications/s, e.g. "
                         "50,200,500,1000,2000; env BENCH_LATENCY_RATES), after the half-load point: "
                         "`latency_curve` in the result")
    ap.add_argument("--only", default="raw,java,e2e,latency,ingest,peer,soap,journal,micro,health",
                    help="comma list among raw,java,e2e,latency,ingest,peer,soap,journal,micro,health (ingest: "
                         "relais-ingest alone on a warm broker, bench/ingest_part.py; peer: the Kafka "
                         "Streams comparison; soap: SOAP against JSON ingest; journal: the journal's PostgreSQL CPU "
                         "per notification, bench/journal_part.py; micro: codec CPU and directory scale, "
                         "bench/micro; health: relais-api's subscriber health pass at 565 CPAS x 3 applications; "
                         "replicas, not in the default list: end to end with 1, 2 and 3 relais-router replicas, "
                         "bench/replicas_part.py)")
    ap.add_argument("--peer-threads", type=int, default=1, help="peer: Kafka Streams num.stream.threads")
    ap.add_argument("--peer-java-opts", default=None, help=f"peer: JVM options (default {peer.DEFAULT_JAVA_OPTS})")
    ap.add_argument("--name", default=None, help="results file name part (default quick|full)")
    ap.add_argument("--keep-stack", action="store_true", help="leave the bench stack running")
    ap.add_argument("--no-reset", action="store_true", help="reuse the bench stack's data")
    ap.add_argument("--seed", type=int, default=6)
    args = ap.parse_args()
    n = args.notifications or (100_000 if args.quick else 1_000_000)
    m = args.integrations or (100_000 if args.quick else 5_000_000)
    raw_n = args.raw_records or n
    only = set(args.only.split(","))
    if "latency" in only or "replicas" in only:
        only.add("e2e")  # latency: the pace is half the measured end-to-end maximum; replicas: its setup
    name = args.name or ("quick" if args.quick else "full")
    rng = random.Random(args.seed)
    results: dict = {"name": name, "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "machine": machine_info(), "git": git_rev(),
                     "params": {"notifications": n, "integrations": m, "cpas": args.cpas, "raw_records": raw_n,
                                "batch_lines": args.batch, "concurrency": args.concurrency,
                                "flow_mix": FLOW_MIX, "routed_share": ROUTED_SHARE}}
    tmp = Path(tempfile.mkdtemp(prefix="relais-bench-", dir=str(REPO / "var")))
    relais = None
    try:
        log(f"bench stack up ({STACK['RELAIS_STACK_DIR']}, reset={not args.no_reset})")
        stack_cmd("up", reset=not args.no_reset)
        coords = stack_coords()
        brokers = coords["RELAIS_KAFKA_BROKERS"]
        pb = load_protos(tmp)
        size = typical_record_size(pb, rng)
        results["record_size"] = size
        log(f"typical inbound Notification record: {size} bytes")
        if "raw" in only:
            create_topic(brokers, "bench.raw", 6)
            log(f"raw librdkafka producer: {raw_n} x {size} B")
            results["raw_librdkafka"] = bench_raw(brokers, raw_n, size)
            log(f"  {results['raw_librdkafka']['records_per_s']:.0f} records/s")
        if "java" in only:
            create_topic(brokers, "bench.raw.java", 6)
            log(f"Kafka ProducerPerformance: {raw_n} x {size} B")
            results["kafka_producer_perf"] = bench_java(brokers, raw_n, size)
            log(f"  {results['kafka_producer_perf']['records_per_s']:.0f} records/s")
        if "e2e" in only:
            relais = H.Relais(coords, tmp / "logs", group_id="relais-router",
                              extra_env={"RELAIS_API_CPAS_TOPIC_PARTITIONS": str(CPAS_PARTITIONS),
                                         "RELAIS_ROUTER_CPAS_TOPIC_PARTITIONS": str(CPAS_PARTITIONS)})
            api = relais.add("api")
            api.start()
            api.wait_ready()
            log(f"directory: {m} integrations over {args.cpas} CPAS")
            cbes, ssins = make_directory(rng, m, args.cpas)
            H.ensure_operator_token(coords["RELAIS_PG_DSN"])  # relais-api authenticates every call
            fill = args.directory_fill if args.directory_fill != "auto" else "api" if m <= 1_000_000 else "copy"
            load_s = (load_directory(api.url, cbes, ssins) if fill == "api"
                      else fill_directory_copy(api.url, coords["RELAIS_PG_DSN"], cbes, ssins))
            results["directory_import"] = {"integrations": m, "cpas": args.cpas, "seconds": round(load_s, 2),
                                           "rows_per_s": round(m / load_s, 1), "fill": fill}
            log(f"  imported in {load_s:.1f}s")
            log(f"generating {n} notifications as NDJSON batches of {args.batch}")
            t0 = time.time()
            plan = write_batches(rng, tmp / "batches", n, ssins, args.batch)
            log(f"  {len(plan['files'])} files, {plan['bytes'] / 1e6:.0f} MB in {time.time() - t0:.1f}s; "
                f"{plan['expected_routed']} expected routed")
            ceiling_files = plan["files"][: max(1, len(plan["files"]) // 5)]
            results["poster_ceiling"] = bench_poster_ceiling(ceiling_files, args.concurrency)
            log(f"  poster ceiling (trivial endpoint): {results['poster_ceiling']['notifications_per_s']:.0f}/s")
            # The router creates cpas.<cbe>.alerts.v1 on demand, about a second each on this broker:
            # created beforehand (3 partitions, as the router would) so the run measures steady state.
            from confluent_kafka.admin import AdminClient, NewTopic
            adm = AdminClient({**H.kafka_conf(), "bootstrap.servers": brokers, "log_level": 3})
            for f in adm.create_topics([NewTopic(f"cpas.{c}.alerts.v1", CPAS_PARTITIONS, 1) for c in cbes]).values():
                try:
                    f.result(60)
                except Exception as e:
                    if "TOPIC_ALREADY_EXISTS" not in str(e):
                        raise
            del adm
            ingest, router = relais.add("ingest"), relais.add("router")
            ingest.start()
            router.start()
            ingest.wait_ready()
            router.wait_ready(timeout=300)
            deadline = time.time() + 300
            # relais_directory_integrations is only set after a change is applied, not after the
            # initial load: accept either it or the router's "directory loaded" log line.
            while metric_sum(router, "relais_directory_integrations") < m and loaded_count(router) < m:
                if time.time() > deadline:
                    raise TimeoutError("router directory never reached the imported count")
                time.sleep(0.5)
            router_after_load = memory_after_load(router)
            deadline = time.time() + 60
            while True:  # every CPAS topic visible before the consumer assigns them
                cons_md = sum(1 for t in admin_topics(brokers) if CPAS_TOPIC_RE.match(t))
                if cons_md >= args.cpas or time.time() > deadline:
                    break
                time.sleep(0.5)
            cons = start_consumer(brokers, tmp / "pb", plan["expected_routed"], tmp / "e2e.json",
                                  from_end=True, latency=False, max_s=3600)
            log(f"end to end: posting {n} notifications, {args.concurrency} connections")
            procs = {"relais-ingest": ingest.proc.pid, "relais-router": router.proc.pid,
                     "relais-api": api.proc.pid, "bench-consumer": cons.pid}
            perf = start_perf(router.proc.pid, tmp / "perf-router.data")
            cpu0, w0 = cpu_snapshot(procs), time.time()
            st = post_files(lambda flow: f"{ingest.url}/v1/notifications/{flow}:batch", plan["files"],
                            args.concurrency)
            log(f"  posted in {st['seconds']:.1f}s ({st['lines'] / st['seconds']:.0f}/s accepted by ingest, "
                f"{st['retries']} re-posts); waiting for the consumer")
            cpu1, w1 = cpu_snapshot(procs), time.time()
            while cons.poll() is None:  # the consumer's ticks vanish when it exits: keep the last sample
                cpu1, w1 = cpu_snapshot(procs), time.time()
                time.sleep(0.25)
            cpu = cpu_report(cpu0, cpu1, w1 - w0)
            if perf:
                perf.send_signal(signal.SIGINT)
                perf.wait(timeout=120)
                log(f"  perf profile of relais-router: {tmp / 'perf-router.data'}")
            c = json.loads((tmp / "e2e.json").read_text())
            if c["count"] < plan["expected_routed"]:
                raise RuntimeError(f"consumer saw {c['count']} of {plan['expected_routed']} routed records")
            e2e_s = c["last_at"] - st["t0"]
            e2e = {"notifications": n, "routed_records": c["count"], "seconds": round(e2e_s, 2),
                   "notifications_per_s": round(n / e2e_s, 1),
                   "ingest_accept_seconds": round(st["seconds"], 2),
                   "ingest_accept_per_s": round(st["lines"] / st["seconds"], 1), "reposts": st["retries"],
                   "router_routed_total": metric_sum(router, "relais_router_routed_total"),
                   "router_dropped_total": metric_sum(router, "relais_router_dropped_total"),
                   "router_transactions": metric_sum(router, "relais_router_transactions_total"),
                   "router_transaction_seconds": metric_sum(router, "relais_router_transaction_duration_seconds_sum"),
                   "cpu": cpu,
                   "peak_memory_mib": peak_memory_mib({k: v for k, v in procs.items() if k != "bench-consumer"}),
                   "router_memory_after_load": router_after_load}
            raw = results.get("raw_librdkafka", {}).get("records_per_s")
            if raw:
                e2e["ratio_to_raw"] = round(e2e["notifications_per_s"] / raw, 3)
                e2e["ratio_to_two_write_bound"] = round(e2e["notifications_per_s"] / (raw / 2), 3)
            results["end_to_end"] = e2e
            log(f"  {e2e['notifications_per_s']:.0f} notifications/s end to end")
            if "latency" in only:
                # BENCH_LATENCY_RATE fixes the pace (notifications/s), e.g. to compare two versions at one rate
                pace = float(os.environ.get("BENCH_LATENCY_RATE") or e2e["notifications_per_s"] / 2)
                results["latency"] = bench_latency(rng, tmp, brokers, ingest, ssins, pace,
                                                   args.latency_seconds, args.concurrency)
                if args.latency_rates:  # the latency at fixed paces, from a trickle to the half-load pace
                    results["latency_curve"] = latency_curve(rng, tmp, brokers, ingest, router, ssins,
                                                             args.latency_rates, args.latency_seconds,
                                                             args.concurrency)
            if "replicas" in only:
                rn = max(10_000, n // 2)
                log(f"router replicas: {rn} notifications end to end with 1, 2 and 3 replicas in one group")
                results["router_replicas"] = replicas_part.run(sys.modules[__name__], relais, ingest, router, brokers,
                                                               tmp, rng, ssins, rn, args.batch, args.concurrency)
        if "ingest" in only:
            if relais:  # "router stopped": nothing else of Relais runs
                relais.stop_all()
                relais = None
            ssins_i = [H.make_ssin(rng) for _ in range(20_000)]
            plan_i = write_batches(rng, tmp / "ingest-batches", n, ssins_i, args.batch)
            log(f"relais-ingest alone: {n} notifications in batches of {args.batch}, 5 passes, "
                f"{args.concurrency} connections, into {ingest_part.TOPIC}")
            results["ingest_alone"] = ingest_part.run(sys.modules[__name__], coords, tmp, plan_i["files"],
                                                      args.concurrency)
            shutil.rmtree(tmp / "ingest-batches", ignore_errors=True)
            log(f"  {results['ingest_alone']['notifications_per_s']:.0f}/s after the first pass "
                f"({results['ingest_alone']['passes'][0]['notifications_per_s']:.0f}/s)")
        if "peer" in only:
            # The end-to-end run filled the inbound topic and the directory, the ingest part its
            # own topic: the comparison starts on a fresh stack (its directory is its own).
            if relais or only & {"e2e", "ingest"}:
                if relais:
                    relais.stop_all()
                    relais = None
                log("bench stack reset for the Kafka Streams comparison")
                stack_cmd("down")
                stack_cmd("up", reset=True)
                coords = stack_coords()
                brokers = coords["RELAIS_KAFKA_BROKERS"]
            os.environ.pop("RELAIS_API_TOKEN", None)  # a reset stack holds no credential yet
            H.ensure_operator_token(coords["RELAIS_PG_DSN"])
            results["peer"] = peer.bench_peer(sys.modules[__name__], args, rng, coords, tmp, pb, n, m)
        if "soap" in only:
            if relais:
                relais.stop_all()
            relais = H.Relais(coords, tmp / "logs-soap", group_id="relais-router-soap")
            ingest = relais.add("ingest")
            ingest.start()
            ingest.wait_ready()
            soap_n = 5_000 if args.quick else 50_000
            log(f"SOAP against JSON ingest: {soap_n} notifications each, {args.concurrency} connections")
            ssins = [H.make_ssin(rng) for _ in range(1000)]
            results["soap_vs_json"] = soap_part.run(ingest.url, ingest.proc.pid, ssins, soap_n, args.concurrency)
            log(f"  SOAP / JSON: {results['soap_vs_json']['throughput_ratio']:.2f}x")
            relais.stop_all()
            relais = None
        if "journal" in only:
            if relais:
                relais.stop_all()
                relais = None
            jn = n  # --notifications, else 100,000 (quick) or 1,000,000
            log(f"journal in PostgreSQL: {jn} notifications after {jn} already journaled, per schema variant")
            pgpid = _pidfile(Path(STACK["RELAIS_STACK_DIR"]) / "pg" / "data" / "postmaster.pid")
            results["journal"] = journal_part.run(
                coords["RELAIS_PG_DSN"], lambda: {p: _cpu_ticks(p) for p in [pgpid, *_children(pgpid)]}, jn, jn,
                only=[v for v in os.environ.get("BENCH_JOURNAL_VARIANTS", "").split(",") if v] or None)
            for variant, v in results["journal"]["variants"].items():
                log(f"  {variant}: {v['pg_cpu_us_per_notification']} us of PostgreSQL CPU per notification")
            pair = [v for v in os.environ.get("BENCH_JOURNAL_PAIRED", "").split(",") if v]
            if pair:  # two variants against each other, their batches interleaved in one session
                p = results["journal"]["paired"] = journal_part.run_paired(coords["RELAIS_PG_DSN"], jn, jn, pair)
                log(f"  paired {pair[1]} / {pair[0]}: {p['ratio']}x of the backend's CPU "
                    f"({', '.join(str(v['backend_us_per_notification']) for v in p['variants'].values())} us)")
        if "micro" in only:
            if relais:
                relais.stop_all()
                relais = None
            log("micro benchmarks (bench/micro/run_micro.sh)")
            results["micro"] = micro_part.run(coords, args.quick, dt.date.today().isoformat())
        if "health" in only:
            if relais:
                relais.stop_all()
                relais = None
            log(f"subscriber health pass: {health_part.N_CPAS} CPAS x {health_part.APPS} applications")
            results["subscriber_health"] = health_part.run(H, coords, BUILD)
            for p in results["subscriber_health"]["passes"]:
                log(f"  pass {p['pass']}: {p['seconds']:.3f} s, {p['requests']} Kafka requests, "
                    f"{p['fetched']} fetched")
    finally:
        if relais:
            relais.stop_all()
        if not args.keep_stack:
            log("bench stack down")
            stack_cmd("down")
        shutil.rmtree(tmp / "batches", ignore_errors=True)
        shutil.rmtree(tmp / "lat", ignore_errors=True)
        shutil.rmtree(tmp / "peer-batches", ignore_errors=True)
    results["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    results["targets"] = targets(results)
    out = REPO / "bench" / "results" / f"{dt.date.today().isoformat()}-{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print_summary(results)
    log(f"results: {out.relative_to(REPO)}  (logs of the services: {tmp / 'logs'})")
    return 0


def loaded_count(svc: H.Service) -> int:
    found = re.findall(r"directory loaded integrations=(\d+)", svc.log_path.read_text(errors="replace"))
    return int(found[-1]) if found else 0


def memory_after_load(svc: H.Service) -> dict:
    """The router's memory once its directory is loaded, before any record: its resident set and
    peak so far (MiB), and the directory's own bytes from the "directory loaded" log line. Set
    against the run's peak, it splits the router's memory into the directory and the routing."""
    st = peer.proc_status(svc.proc.pid)
    found = re.findall(r"directory loaded .*?bytes=(\d+)", svc.log_path.read_text(errors="replace"))
    return {"rss_mib": st.get("VmRSS"), "peak_mib": st.get("VmHWM"),
            "directory_mib": round(int(found[-1]) / 2**20, 1) if found else None}


def admin_topics(brokers: str) -> list[str]:
    from confluent_kafka.admin import AdminClient
    return list(AdminClient({**H.kafka_conf(), "bootstrap.servers": brokers, "log_level": 3})
                .list_topics(timeout=10).topics)


def latency_curve(rng, tmp: Path, brokers: str, ingest: H.Service, router: H.Service, ssins: list[str],
                  rates: str, seconds: float, concurrency: int) -> list[dict]:
    """bench_latency at each pace of `rates` (comma list of notifications/s, lowest first), with the
    router's transactions during each point (count, mean records and seconds per transaction)."""
    names = ("relais_router_transactions_total", "relais_router_transaction_duration_seconds_sum",
             "relais_router_routed_total", "relais_router_end_to_end_seconds_sum",
             "relais_router_end_to_end_seconds_count")
    points = []
    for rate in sorted(float(r) for r in rates.split(",") if r):
        tx0 = [metric_sum(router, k) for k in names]
        p = bench_latency(rng, tmp, brokers, ingest, ssins, rate, seconds, concurrency)
        tx1 = [metric_sum(router, k) for k in names]
        txs, d = tx1[0] - tx0[0], [b - a for a, b in zip(tx0, tx1)]
        p["router_transactions"] = txs
        if txs > 0:
            p["routed_per_transaction"] = round(d[2] / txs, 1)
            p["transaction_seconds_mean"] = round(d[1] / txs, 3)
        if d[4] > 0:  # accepted by ingest -> committed by the router (the router's own histogram), mean
            p["router_committed_ms_mean"] = round(1000 * d[3] / d[4], 1)
        points.append(p)
    return points


def bench_latency(rng, tmp: Path, brokers: str, ingest: H.Service, ssins: list[str], rate: float,
                  seconds: float, concurrency: int) -> dict:
    """Steady pace at `rate` notifications/s for `seconds`, in small batches (50 lines, every flow
    routed), measuring accepted_at_us (set by ingest) → receive time by a read_committed consumer."""
    n = int(rate * seconds)
    batch = 50
    log(f"latency: {n} notifications at {rate:.0f}/s for {seconds:.0f}s (batches of {batch})")
    plan = write_batches(rng, tmp / "lat", n, ssins, batch)
    plan["files"].sort(key=lambda f: f[1].name)
    cons = start_consumer(brokers, tmp / "pb", plan["expected_routed"], tmp / "lat.json", from_end=True,
                          latency=True, max_s=seconds + 300)
    st = post_files(lambda flow: f"{ingest.url}/v1/notifications/{flow}:batch", plan["files"],
                    max(concurrency, 8), pace_lines_per_s=rate)
    cons.wait()
    c = json.loads((tmp / "lat.json").read_text())
    res = {"target_rate_per_s": round(rate, 1), "achieved_post_rate_per_s": round(st["lines"] / st["seconds"], 1),
           "notifications": n, "routed_records": c["count"], "batch_lines": batch, **c.get("latency_ms", {})}
    log(f"  p50 {res.get('p50')} ms, p99 {res.get('p99')} ms, p99.9 {res.get('p99_9')} ms")
    return res


def machine_info() -> dict:
    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    return {"cpu_model": model, "cores": os.cpu_count(), "memory_mib": mem, "kernel": platform.release()}


def git_rev() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return ""


# The table of issue 19 (docs/performance.md, "Issue 19 at 565 CPAS"): every row from this
# run's own figures, each with its target; a row whose part did not run is absent.
def targets(r: dict) -> list[dict]:
    rows: list[dict] = []

    def row(measure: str, value, target: str, met: bool | None, note: str = "") -> None:
        rows.append({"measure": measure, "value": value, "target": target, "met": met, "note": note})

    prm = r.get("params", {})
    row("CPAS in the benchmark", prm.get("cpas"), ">= 565", (prm.get("cpas") or 0) >= 565,
        f"{prm.get('integrations', 0):,} integrations (target 5,000,000 at full size)")
    p = r.get("peer")
    if p:
        ratio = p["throughput_ratio_relais_to_peer"]
        row("relais-router / Kafka Streams peer, same job", ratio, ">= 2.0", ratio >= 2.0,
            f"{p['relais_router']['notifications_per_s']:,.0f} against {p['streams_peer']['notifications_per_s']:,.0f}/s")
        mem = p.get("peak_memory_ratio_relais_to_peer")
        if mem is not None:
            row("relais-router peak RSS / peer peak RSS", mem, "<= 0.5", mem <= 0.5,
                f"{p['relais_router']['peak_memory_mib']} against {p['streams_peer']['peak_memory_mib']} MiB")
    ia = r.get("ingest_alone")
    if ia:
        rate = ia["notifications_per_s"]
        first = ia["passes"][0]
        row("relais-ingest alone (router stopped), NDJSON batches", rate, ">= 100,000/s", rate >= 100_000,
            f"passes 2-{len(ia['passes'])} of {first['notifications']:,} each, batches of {prm.get('batch_lines')}; "
            f"first pass on the fresh topic {first['notifications_per_s']:,.0f}/s")
    if p:
        if not ia and p.get("prefill") == "relais-ingest" and p.get("prefill_seconds"):
            rate = round(p["notifications"] / p["prefill_seconds"], 1)
            row("relais-ingest alone (router stopped), NDJSON batches", rate, ">= 100,000/s", rate >= 100_000,
                f"{p['notifications']:,} notifications in {p['prefill_seconds']} s, batches of {prm.get('batch_lines')}")
    e = r.get("end_to_end")
    if e:
        row("end to end notifications/s (ingest -> CPAS topic, read_committed)", e["notifications_per_s"],
            ">= 40,000", e["notifications_per_s"] >= 40_000)
        cpu = e.get("cpu", {}).get("cpu_seconds", {}).get("relais-router")
        if cpu is not None and e.get("routed_records"):
            us = round(1e6 * cpu / e["routed_records"], 1)
            row("relais-router CPU per routed record (us)", us, "<= 10", us <= 10,
                f"{cpu} CPU s for {e['routed_records']:,} routed records, end-to-end run")
    lat = r.get("latency")
    if lat and "p99" in lat:
        fixed = os.environ.get("BENCH_LATENCY_RATE")
        row("p99 accepted -> visible at half the maximum sustained rate (ms)", lat["p99"], "<= 200",
            lat["p99"] <= 200, f"at {lat['target_rate_per_s']:,.0f}/s" + (" (BENCH_LATENCY_RATE)" if fixed else ""))
    # the current schema and sink: offset marks (0020), rows in (CPAS, time) order (copy_order),
    # in COPY's binary format (pg::CopyBinary)
    jv = r.get("journal", {}).get("variants", {})
    j = jv.get("marks_binary", jv.get("marks_sorted", jv.get("marks")))
    if j:
        row("journal: PostgreSQL CPU per notification (us), the current schema", j["pg_cpu_us_per_notification"],
            "<= 10, nothing lost", j["pg_cpu_us_per_notification"] <= 10 and j["nothing_lost"],
            "nothing lost" if j["nothing_lost"] else "ROWS MISSING")
    return rows


def print_summary(r: dict) -> None:
    rows = []
    raw = r.get("raw_librdkafka", {}).get("records_per_s")
    if raw:
        rows.append(("raw librdkafka producer (records/s)", f"{raw:,.0f}", "physical limit"))
        rows.append(("two-write bound = raw / 2", f"{raw / 2:,.0f}", ""))
    if "kafka_producer_perf" in r:
        rows.append(("Kafka ProducerPerformance (records/s)", f"{r['kafka_producer_perf']['records_per_s']:,.0f}", ""))
    if "poster_ceiling" in r:
        rows.append(("poster vs trivial endpoint (notif/s)", f"{r['poster_ceiling']['notifications_per_s']:,.0f}",
                     "client ceiling"))
    if "directory_import" in r:
        d = r["directory_import"]
        rows.append((f"directory import, {d['integrations']:,} lines (s)", f"{d['seconds']:.1f}", ""))
    if "end_to_end" in r:
        e = r["end_to_end"]
        rows.append(("end to end (notifications/s)", f"{e['notifications_per_s']:,.0f}", ""))
        if "ratio_to_raw" in e:
            ok = "met" if e["ratio_to_raw"] >= 0.4 else "MISSED"
            rows.append(("  / raw", f"{e['ratio_to_raw']:.0%}", f"target >= 40%: {ok}"))
            ok = "met" if e["ratio_to_two_write_bound"] >= 0.8 else "MISSED"
            rows.append(("  / two-write bound", f"{e['ratio_to_two_write_bound']:.0%}", f"target >= 80%: {ok}"))
        if "cpu" in e:
            c = e["cpu"]
            rows.append(("  CPU busy during the run (cores)", f"{c['cores_busy']:.2f}", f"of {c['cores']}"))
            for k, v in sorted(c["cpu_seconds"].items(), key=lambda kv: -kv[1]):
                rows.append((f"    {k} (CPU s per 1,000 notif.)", f"{1000 * v / e['notifications']:.3f}", ""))
        for k, v in e.get("peak_memory_mib", {}).items():
            rows.append((f"  peak memory {k} (VmHWM MiB)", f"{v:,.0f}", ""))
    if "latency" in r and "p99" in r["latency"]:
        l = r["latency"]  # noqa: E741
        rows.append((f"latency at {l['target_rate_per_s']:,.0f}/s p50 (ms)", f"{l['p50']}", ""))
        ok = "met" if l["p99"] <= 200 else "MISSED"
        rows.append(("  p99 (ms)", f"{l['p99']}", f"target <= 200 ms: {ok}"))
        rows.append(("  p99.9 (ms)", f"{l['p99_9']}", ""))
    for l in r.get("latency_curve", []):  # noqa: E741
        if "p99" in l:
            tx = (f"{l['router_transactions']:.0f} transactions of {l['routed_per_transaction']:,.0f} records, "
                  f"{l['transaction_seconds_mean']} s" if l.get("routed_per_transaction") else "")
            rows.append((f"latency at {l['target_rate_per_s']:,.0f}/s p50 / p99 (ms)", f"{l['p50']} / {l['p99']}", tx))
    for st in r.get("router_replicas", {}).get("steps", []):
        rows.append((f"end to end, {st['replicas']} router replica(s) (notif/s)", f"{st['notifications_per_s']:,.0f}",
                     f"x{st['ratio_to_one']} of 1; routed per replica {st['routed_by_replica']}"))
    rows += peer.summary_rows(r)
    if "micro" in r:
        rows.extend(micro_part.summary_rows(r["micro"]))
    rows += soap_part.summary_rows(r)
    rows += journal_part.summary_rows(r.get("journal", {}))
    rows += health_part.summary_rows(r)
    if r.get("targets"):
        rows.append(("issue 19 targets", "", ""))
        for t in r["targets"]:
            v = t["value"]
            rows.append((f"  {t['measure']}", f"{v:,}" if isinstance(v, (int, float)) else str(v),
                         f"target {t['target']}: {'met' if t['met'] else 'MISSED'}"))
    w = max(len(a) for a, _, _ in rows) if rows else 10
    print()
    print(f"{'benchmark':<{w}}  {'value':>12}  note")
    print(f"{'-' * w}  {'-' * 12}  {'-' * 22}")
    for a, b, c in rows:
        print(f"{a:<{w}}  {b:>12}  {c}")
    print()


if __name__ == "__main__":
    sys.exit(main())
