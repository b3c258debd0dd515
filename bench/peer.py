#!/usr/bin/env python3
"""Relais's router against the same job built the usual way (issue 6, item 4): a Kafka Streams
application (bench/peers/streams-router, Java, exactly_once_v2) reading the same inbound records
on the same broker. Run by bench/run.py (`--only peer`); see docs/performance.md.

Steps: build the peer with Maven; load a directory with some variety (several CPAS per person,
later and closed lines, SSIN replacements) through relais-api; pre-fill relais.inbound.v1 with N
notifications through relais-ingest, the router NOT running; publish the directory's rows read
back from PostgreSQL to the compacted topic bench.peer.directory.v1 (key = SSIN); then
(a) start relais-router alone and time it until a read_committed consumer has seen the last
expected record on cpas.<cbe>.notifications.v1, (b) start the Streams application (its own
application.id, from the earliest offset) and time it until the last expected record on
peer.cpas.<cbe>.notifications.v1. Peak memory is each process's VmHWM, read just before it is
stopped. Both outputs are then read back and compared, with each other and with the decision
computed here from the same rows.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "harness"))
import relais_harness as H  # noqa: E402
import requests  # noqa: E402

PEER_DIR = REPO / "bench" / "peers" / "streams-router"
PEER_JAR = PEER_DIR / "target" / "streams-router.jar"
DIRECTORY_TOPIC = "bench.peer.directory.v1"
PEER_PREFIX = "peer.cpas."
RELAIS_TOPICS = r"^cpas\..*\.notifications\.v1$"
PEER_TOPICS = r"^peer\.cpas\..*\.notifications\.v1$"
EFFECTIVE_DATE = "2026-11-01"
EARLY_DATE = "2019-06-01"          # before every line: dropped as outside_period
DEFAULT_JAVA_OPTS = "-Xmx1g"


def kconf() -> dict:
    """The stack's Kafka credentials for the bench's own clients (empty on a broker without
    authentication)."""
    f = getattr(H, "kafka_conf", None)
    return f() if f else {}


# ------------------------------------------------------------------ build
def build_peer(log) -> dict:
    """mvn package, offline first (the local repository usually has everything), else online."""
    t0 = time.time()
    sources = [PEER_DIR / "pom.xml", *(PEER_DIR / "src").rglob("*"), *(REPO / "proto").rglob("*.proto")]
    if PEER_JAR.exists() and PEER_JAR.stat().st_mtime > max(f.stat().st_mtime for f in sources):
        return {"seconds": 0.0, "offline": True, "up_to_date": True, "jar_mb": round(PEER_JAR.stat().st_size / 1e6, 1)}
    for offline in (True, False):
        cmd = ["mvn", "-q", "-B", *(["-o"] if offline else []), "package"]
        p = subprocess.run(cmd, cwd=str(PEER_DIR), capture_output=True, text=True)
        if p.returncode == 0 and PEER_JAR.exists():
            return {"seconds": round(time.time() - t0, 1), "offline": offline, "jar_mb": round(PEER_JAR.stat().st_size / 1e6, 1)}
        log(f"  mvn {'offline ' if offline else ''}package failed{', trying online' if offline else ''}")
    raise RuntimeError(f"Maven build of the Kafka Streams peer failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")


# ------------------------------------------------------------------ data
def make_lines(rng: random.Random, cbes: list[str], ssins: list[str]) -> tuple[list[tuple], list[tuple]]:
    """Integration lines (ssin, cbe, quality, start, end or '') and replacements (old, new).
    Every SSIN has an open line from 2020-01-01 at one CPAS, as in the end-to-end benchmark;
    one in 20 also has a second CPAS, one a later line at the same CPAS (started last wins),
    one a closed line elsewhere, one its only line closed before the date (outside_period), one
    a line of the same start with another quality (lowest code wins), one lines ending and
    starting on the effective date (inclusive bounds). 2% of the SSINs replace a BIS number
    nobody integrated (one in ten of those through a chain of two), 1% replace another
    integrated SSIN."""
    c = len(cbes)
    lines: list[tuple] = []
    reps: list[tuple] = []
    m = len(ssins)
    taken = set(ssins)

    def fresh_bis() -> str:  # never the same number twice: one number is replaced by one only
        while (b := H.make_ssin(rng, bis=True)) in taken:
            pass
        taken.add(b)
        return b
    for j, s in enumerate(ssins):
        home, q = cbes[j % c], rng.randint(1, 9)
        q2 = 1 + (q % 9)
        k = j % 20
        lines.append((s, home, q, "2020-01-01", "2026-10-31" if k == 4 else ""))
        if k == 1:
            lines.append((s, cbes[(j + 7) % c], q2, "2024-06-01", ""))
        elif k == 2:
            lines.append((s, home, q2, "2025-01-01", ""))
        elif k == 3:
            lines.append((s, cbes[(j + 13) % c], q, "2021-01-01", "2026-10-31"))
        elif k == 4 and j % 40 == 4:
            lines.append((s, home, q2, "2026-12-01", ""))
        elif k == 5:
            lines.append((s, home, q2, "2020-01-01", ""))
        elif k == 6:
            lines.append((s, cbes[(j + 3) % c], q2, "2022-01-01", EFFECTIVE_DATE))
            lines.append((s, cbes[(j + 5) % c], 40, EFFECTIVE_DATE, ""))
        if j % 50 == 7:
            old = fresh_bis()
            reps.append((old, s))
            if j % 500 == 7:
                reps.append((fresh_bis(), old))
        elif j % 100 == 8 and j < m // 2:
            reps.append((ssins[j + m // 2], s))
    return lines, reps


def api_headers(**extra: str) -> dict:
    """relais-api's credentials where it authenticates its callers (the harness's operator token)."""
    f = getattr(H, "api_headers", None)
    return f(**extra) if f else extra


def import_lines(api_url: str, cbes: list[str], lines: list[tuple], reps: list[tuple], chunk: int = 20000) -> float:
    t0 = time.time()
    for i, cbe in enumerate(cbes):
        H.api_put_cpas(api_url, cbe, f"CPAS bench {i}", [H.NIS_CODES[i % len(H.NIS_CODES)]])
    per: dict[str, list[tuple]] = {c: [] for c in cbes}
    for ln in lines:
        per[ln[1]].append(ln)
    sess = requests.Session()
    for cbe, lst in per.items():
        for k in range(0, len(lst), chunk):
            body = "ssin,quality_code,start_date,end_date\n" + "".join(
                f"{s},{q},{a},{b}\n" for s, _, q, a, b in lst[k:k + chunk])
            r = sess.post(f"{api_url}/v1/cpas/{cbe}/integrations:import", data=body.encode(),
                          headers=api_headers(**{"Content-Type": "text/csv"}), timeout=600)
            if r.status_code not in (200, 201):
                raise RuntimeError(f"import {cbe}: {r.status_code} {r.text[:500]}")
    for old, new in reps:  # one by one, as relais-api takes them (operator route, docs/security.md §7)
        r = sess.put(f"{api_url}/v1/ssin-replacements/{old}",
                     json={"replaced_by": new, "reason": "bench directory"}, headers=api_headers(), timeout=30)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"replacement {old}->{new}: {r.status_code} {r.text[:300]}")
    return time.time() - t0


def write_notifications(rng: random.Random, out: Path, n: int, ssins: list[str], reps: list[tuple],
                        flow_mix: dict, batch: int) -> tuple[list, list[dict]]:
    """NDJSON batch files, one flow per file. 85% target an integrated SSIN, 3% a replaced
    number, 2% an integrated SSIN
    with an effective date before every line, 10% a BIS number nobody integrated. Returns the
    files and the envelopes (ticket, ssin, replaces_ssin, effective_date)."""
    out.mkdir(parents=True, exist_ok=True)
    flows, weights = zip(*flow_mix.items())
    olds = [o for o, _ in reps]
    pending: dict[str, list[str]] = {f: [] for f in flows}
    files: list = []
    envs: list[dict] = []

    def flush(flow: str) -> None:
        if pending[flow]:
            p = out / f"{len(files):06d}-{flow}.ndjson"
            p.write_bytes(("\n".join(pending[flow]) + "\n").encode())
            files.append((flow, p, len(pending[flow])))
            pending[flow] = []

    for _ in range(n):
        flow = rng.choices(flows, weights)[0]
        x = rng.random()
        date, extra = EFFECTIVE_DATE, {}
        if x < 0.85:
            # No replaces_ssin: routers follow it on SSIN_REPLACED only, which is never drawn.
            ssin = ssins[rng.randrange(len(ssins))]
        elif x < 0.88 and olds:
            ssin = olds[rng.randrange(len(olds))]
        elif x < 0.90:
            ssin, date = ssins[rng.randrange(len(ssins))], EARLY_DATE
        else:
            ssin = H.make_ssin(rng, bis=True)
        # H.notification never draws SSIN_REPLACED: the directory stays as loaded during the run.
        d = H.notification(flow, H.new_ticket(), ssin, date, rng, **extra)
        envs.append({"ticket": d["ticket"], "ssin": ssin, "replaces_ssin": extra.get("replaces_ssin", ""),
                     "effective_date": date})
        pending[flow].append(json.dumps(d, separators=(",", ":")))
        if len(pending[flow]) >= batch:
            flush(flow)
    for f in flows:
        flush(f)
    rng.shuffle(files)
    return files, envs


def produce_direct(brokers: str, pb, files: list) -> float:
    """Fallback pre-fill when relais-ingest cannot reach the broker: the same records relais-ingest
    writes (Notification with the envelope copy and accepted_at_us, key = SSIN, headers flow,
    ticket, content-type), produced with acks=all and idempotence."""
    from confluent_kafka import Producer
    from google.protobuf import json_format
    t0 = time.time()
    flow_no = {f.name: f.number for f in pb.DESCRIPTOR.enum_types_by_name["Flow"].values}
    p = Producer({**kconf(), "bootstrap.servers": brokers, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 2, "queue.buffering.max.messages": 2_000_000})
    for flow, path, _ in files:
        field = flow.replace("-", "_")
        for line in path.read_text().splitlines():
            d = json.loads(line)
            m = pb.Notification()
            m.flow = flow_no["FLOW_" + field.upper()]
            json_format.ParseDict(d, getattr(m, field))
            for k in ("ticket", "ssin", "replaces_ssin", "effective_date", "sent_at"):
                if k in d:
                    setattr(m.envelope, k, d[k])
            m.accepted_at_us = int(time.time() * 1e6)
            while True:
                try:
                    p.produce("relais.inbound.v1", key=d["ssin"].encode(), value=m.SerializeToString(),
                              headers=[("flow", flow), ("ticket", d["ticket"]),
                                       ("content-type", "application/x-protobuf")])
                    break
                except BufferError:
                    p.poll(0.1)
            p.poll(0)
    if p.flush(120) != 0:
        raise RuntimeError("pre-fill: undelivered records")
    return time.time() - t0


# ------------------------------------------------------------------ directory as stored
def read_directory(dsn: str) -> tuple[list[tuple], list[tuple]]:
    """The rows the router loads: integrations (in id order) and ssin_replacements."""
    def copy(sql: str) -> list[list[str]]:
        p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", dsn, "-c", f"COPY ({sql}) TO STDOUT"],
                           capture_output=True, text=True, check=True)
        return [ln.split("\t") for ln in p.stdout.splitlines() if ln]
    lines = [(s, c, int(q), a, "" if b == r"\N" else b) for s, c, q, a, b in
             copy("SELECT ssin, cbe, quality_code, start_date::text, end_date::text FROM integrations ORDER BY id")]
    reps = [(o, n) for o, n in copy("SELECT old_ssin, new_ssin FROM ssin_replacements WHERE active ORDER BY old_ssin")]
    return lines, reps


class Model:
    """libs/routing's decision in Python, over the rows read from PostgreSQL: the expected output."""

    def __init__(self, lines: list[tuple], reps: list[tuple]):
        self.lines: dict[str, list[tuple]] = {}
        for ln in lines:
            self.lines.setdefault(ln[0], []).append(ln)
        self.rel: dict[str, list[str]] = {}
        for old, new in reps:  # replaced_by first, then replaces, as the router's BFS
            self.rel.setdefault(old, []).insert(0, new)
            self.rel.setdefault(new, []).append(old)

    def related(self, ssin: str) -> list[str]:
        out = [ssin]
        i = 0
        while i < len(out) and len(out) < 16:
            for s in self.rel.get(out[i], []):
                if s not in out:
                    out.append(s)
            i += 1
        return out

    def decide(self, ssin: str, replaces: str, day: str) -> list[tuple]:
        nums = self.related(ssin)
        if replaces and replaces != ssin:
            nums += [s for s in self.related(replaces) if s not in nums]
        best: dict[str, tuple] = {}
        for num in nums:
            for s, c, q, a, b in self.lines.get(num, []):
                if a <= day and (not b or day <= b):
                    cur = best.get(c)
                    if cur is None or a > cur[3] or (a == cur[3] and q < cur[2]):
                        best[c] = (s, c, q, a, b)
        return list(best.values())

    def expected(self, envs: list[dict]) -> set[tuple]:
        out = set()
        for e in envs:
            for s, c, q, a, b in self.decide(e["ssin"], e["replaces_ssin"], e["effective_date"]):
                out.add((c, e["ticket"], s, a, b, q))
        return out

    def entries(self):
        """(ssin, DirectoryEntry fields) for every number with lines or replacement links."""
        for s in sorted(set(self.lines) | set(self.rel)):
            yield s, self.lines.get(s, []), self.rel.get(s, [])


def publish_directory(brokers: str, pbpeer, model: Model, partitions: int) -> dict:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    adm = AdminClient({**kconf(), "bootstrap.servers": brokers, "log_level": 3})
    for f in adm.create_topics([NewTopic(DIRECTORY_TOPIC, partitions, 1,
                                         config={"cleanup.policy": "compact"})]).values():
        f.result(60)
    p = Producer({**kconf(), "bootstrap.servers": brokers, "acks": "all", "enable.idempotence": True, "linger.ms": 20,
                  "queue.buffering.max.messages": 2_000_000})
    n = 0
    t0 = time.time()
    for s, lines, rel in model.entries():
        e = pbpeer.DirectoryEntry()
        for ln in lines:
            i = e.lines.add()
            i.ssin, i.cpas_cbe, i.quality_code, i.start_date, i.end_date = ln[0], ln[1], ln[2], ln[3], ln[4]
        e.related.extend(rel)
        while True:
            try:
                p.produce(DIRECTORY_TOPIC, key=s.encode(), value=e.SerializeToString())
                break
            except BufferError:
                p.poll(0.1)
        n += 1
    if p.flush(120) != 0:
        raise RuntimeError("directory topic: undelivered records")
    return {"topic": DIRECTORY_TOPIC, "records": n, "seconds": round(time.time() - t0, 2)}


# ------------------------------------------------------------------ consumer (separate process)
def consume_main(args) -> int:
    """read_committed over every topic matching --topics (metadata at start, from the beginning):
    counts records until --expect (no decoding, to take as little CPU as possible from the
    process measured) or, with --collect, decodes them into (cpas, ticket, integration ssin,
    start, end, quality) and also stops after --idle-s without a record."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer({**kconf(), "bootstrap.servers": args.brokers, "group.id": f"relais-bench-peer-{uuid.uuid4()}",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": int(os.environ.get("BENCH_READER_FETCH_WAIT_MS", "500"))})
    rx = re.compile(args.topics)
    md = c.list_topics(timeout=10)
    parts = [TopicPartition(t, p, OFFSET_BEGINNING) for t in sorted(md.topics) if rx.match(t)
             for p in md.topics[t].partitions]
    c.assign(parts)
    pb = None
    if args.collect:
        sys.path.insert(0, args.pb_dir)
        from relais.v1 import records_pb2 as pb  # type: ignore
    print(json.dumps({"ready": True, "partitions": len(parts)}), flush=True)
    count, first, last, rows = 0, None, None, []
    deadline = time.time() + args.max_s
    idle_since = time.time()
    while count < args.expect and time.time() < deadline:
        msgs = c.consume(10000, 0.1)
        now = time.time()
        for m in msgs:
            if m.error():
                continue
            count += 1
            if pb:
                r = pb.RoutedNotification.FromString(m.value())
                i = r.integration
                rows.append([r.cpas_cbe, r.notification.envelope.ticket, i.ssin, i.start_date, i.end_date,
                             i.quality_code, m.topic()])
        if msgs:
            first = first or now
            last = now
            idle_since = now
        elif args.collect and now - idle_since > args.idle_s:
            break
    c.close()
    out = {"count": count, "first_at": first, "last_at": last, "partitions": len(parts)}
    if args.collect:
        out["rows"] = rows
    Path(args.out).write_text(json.dumps(out))
    return 0


def start_consumer(brokers: str, topics: str, expect: int, out: Path, max_s: float,
                   collect: bool = False, pb_dir: Path | None = None) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "_consume", "--brokers", brokers, "--topics", topics, "--expect",
           str(expect), "--out", str(out), "--max-s", str(max_s)]
    if collect:
        cmd += ["--collect", "--pb-dir", str(pb_dir)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line or not json.loads(line).get("ready"):
        raise RuntimeError("consumer did not start")
    return p


# ------------------------------------------------------------------ process measures
def proc_status(pid: int) -> dict:
    """VmHWM (peak resident set) and VmRSS in MiB, CPU seconds (user + system) of one process."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                out[k] = round(int(v.split()[0]) / 1024, 1)
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out["cpu_seconds"] = round((int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, IndexError, ValueError):
        pass
    return out


def watch_peak(pid: int, stop_when) -> dict:
    """Samples VmRSS every 0.2 s (the peak is VmHWM anyway; the samples give the profile)."""
    peak_rss = 0.0
    while not stop_when():
        s = proc_status(pid)
        peak_rss = max(peak_rss, s.get("VmRSS", 0.0))
        time.sleep(0.2)
    return {"sampled_peak_rss_mib": peak_rss}


def broker_pid() -> str | None:
    """The single-broker bench stack's broker pid (its pid file, as bench/run.py), or None."""
    stack = Path(os.environ.get("BENCH_STACK_DIR", str(REPO / "var" / "bench-stack")))
    try:
        return (stack / "kafka" / "kafka.pid").read_text().split()[0]
    except (OSError, IndexError):
        return None


def broker_jfr(path: Path | None, start: bool) -> Path | None:
    """BENCH_BROKER_JFR=1: a Java Flight Recorder profile of the broker over one drain, written to
    `path` (read with `bench/jfr_top.py`): where the broker's CPU goes for each side."""
    if path is None or os.environ.get("BENCH_BROKER_JFR", "") in ("", "0") or not shutil.which("jcmd"):
        return None
    kpid = broker_pid()
    if kpid is None:  # none (a cluster stack): no profile
        return None
    cmd = ["JFR.start", "name=drain", "settings=profile"] if start else \
        ["JFR.dump", "name=drain", f"filename={path}"]
    subprocess.run(["jcmd", kpid, *cmd], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not start:
        subprocess.run(["jcmd", kpid, "JFR.stop", "name=drain"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def broker_threads() -> dict[str, list[int]]:
    """{thread group: [user ticks, system ticks]} of the broker's threads (digits in the names
    folded: `data-plane-kafka-request-handler-N` is one group), from /proc; {} without the stack's
    pid file. Unlike a JFR profile it counts native and kernel time too (GC, socket and file I/O)."""
    out: dict[str, list[int]] = {}
    kpid = broker_pid()
    try:
        tasks = list(Path(f"/proc/{kpid}/task").iterdir()) if kpid else None
    except OSError:
        tasks = None
    if tasks is None:
        return out
    names: dict[str, str] = {}  # Linux keeps 15 characters of a thread's name; jcmd has them whole
    if shutil.which("jcmd"):
        dump = subprocess.run(["jcmd", kpid, "Thread.print"], capture_output=True, text=True, check=False).stdout
        names = {str(int(nid, 16)): name for name, nid in re.findall(r'^"([^"]+)".*? nid=(0x[0-9a-f]+)', dump, re.M)}
    for t in tasks:
        try:
            comm = names.get(t.name) or (t / "comm").read_text().strip()
            f = (t / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        acc = out.setdefault(re.sub(r"[-#]?\d+", "", comm) or comm, [0, 0])
        acc[0] += int(f[11])
        acc[1] += int(f[12])
    try:  # the process's page faults, under the key "(faults)": [minor, major]
        f = Path(f"/proc/{kpid}/stat").read_text().rsplit(")", 1)[1].split()
        out["(faults)"] = [int(f[7]), int(f[9])]
    except (OSError, IndexError, ValueError):
        pass
    return out


def threads_report(before: dict[str, list[int]], after: dict[str, list[int]], top: int = 8) -> dict:
    """The `top` broker thread groups by CPU over a drain: {group: {"user_s", "system_s"}}."""
    tck = os.sysconf("SC_CLK_TCK")
    d = {k: [a - before.get(k, [0, 0])[0], b - before.get(k, [0, 0])[1]] for k, (a, b) in after.items()}
    faults = d.pop("(faults)", None)
    best = sorted(d.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:top]
    out: dict = {k: {"user_s": round(u / tck, 1), "system_s": round(s / tck, 1)} for k, (u, s) in best if u + s > 0}
    if faults:
        out["page_faults"] = {"minor": faults[0], "major": faults[1]}
    return out


def timed_drain(name: str, start, pid_of, brokers: str, topics: str, expect: int, out: Path, log,
                snapshot=None) -> dict:
    """Starts the consumer (from the beginning of `topics`), then the process; returns the drain
    time from the process start to the last expected record seen, and the process's figures.
    `snapshot()` ({name: CPU ticks} of the broker and PostgreSQL) is taken before and after."""
    cons = start_consumer(brokers, topics, expect, out, max_s=1800)
    before = snapshot() if snapshot else {}
    threads_before = broker_threads()
    jfr = broker_jfr(out.with_suffix(".broker.jfr"), start=True)
    t0 = time.time()
    start()
    pid = pid_of()
    sampled = watch_peak(pid, lambda: cons.poll() is not None)
    broker_jfr(jfr, start=False)
    st = proc_status(pid)
    c = json.loads(out.read_text())
    if c["count"] < expect:
        log(f"  {name}: consumer saw {c['count']} of {expect} expected records")
    res = {"records_seen": c["count"], "expected_records": expect,
           "seconds_from_start": round((c["last_at"] or time.time()) - t0, 2),
           "seconds_first_to_last": round((c["last_at"] or 0) - (c["first_at"] or 0), 2),
           "first_record_after_s": round((c["first_at"] or t0) - t0, 2),
           "peak_memory_mib": st.get("VmHWM"), "rss_at_end_mib": st.get("VmRSS"),
           "cpu_seconds": st.get("cpu_seconds"), **sampled}
    if snapshot:  # the broker's CPU over the drain says whether it, not the process, was the limit
        after = snapshot()
        tck = os.sysconf("SC_CLK_TCK")
        res["other_cpu_seconds"] = {k: round((after[k] - before[k]) / tck, 1) for k in after if k in before}
    if threads_before:
        res["broker_threads_cpu"] = threads_report(threads_before, broker_threads())
    return res


# ------------------------------------------------------------------ the benchmark
def bench_peer(R, args, rng: random.Random, coords: dict, tmp: Path, pb, n: int, m: int) -> dict:
    """R is bench/run.py's module (log, post_files, make_directory, CPAS_PARTITIONS, FLOW_MIX)."""
    log = R.log
    brokers, dsn = coords["RELAIS_KAFKA_BROKERS"], coords["RELAIS_PG_DSN"]
    res: dict = {"notifications": n}
    log("peer: Maven build of bench/peers/streams-router")
    res["build"] = build_peer(log)
    log(f"  built in {res['build']['seconds']}s (offline={res['build']['offline']})")
    pbpeer = load_peer_proto(tmp)

    relais = H.Relais(coords, tmp / "peer-logs", group_id="relais-router",
                      extra_env={"RELAIS_API_CPAS_TOPIC_PARTITIONS": str(R.CPAS_PARTITIONS),
                                 "RELAIS_ROUTER_CPAS_TOPIC_PARTITIONS": str(R.CPAS_PARTITIONS)})
    try:
        if hasattr(H, "ensure_operator_token"):  # relais-api authenticates every call
            H.ensure_operator_token(dsn)
        api, ingest = relais.add("api"), relais.add("ingest")
        api.start()
        ingest.start()
        api.wait_ready()
        try:
            ingest.wait_ready(timeout=60)
            res["prefill"] = "relais-ingest"
        except (TimeoutError, RuntimeError) as e:
            log(f"  relais-ingest not ready ({e}): pre-filling with a direct producer instead")
            res["prefill"] = "direct producer (relais-ingest's record format)"
        cbes, ssins = R.make_directory(rng, m, args.cpas)
        lines, reps = make_lines(rng, cbes, ssins)
        log(f"peer: directory of {len(lines)} lines over {args.cpas} CPAS, {len(reps)} SSIN replacements")
        res["directory_import_seconds"] = round(import_lines(api.url, cbes, lines, reps), 1)
        files, envs = write_notifications(rng, tmp / "peer-batches", n, ssins, reps, R.FLOW_MIX, args.batch)
        log(f"peer: pre-filling relais.inbound.v1 with {n} notifications, {res['prefill']} (router not running)")
        if res["prefill"] == "relais-ingest":
            st = R.post_files(lambda flow: f"{ingest.url}/v1/notifications/{flow}:batch", files, args.concurrency)
            res["prefill_seconds"] = round(st["seconds"], 2)
        else:
            res["prefill_seconds"] = round(produce_direct(brokers, pb, files), 2)
        log(f"  written in {res['prefill_seconds']}s")
        # Only the process measured runs during each drain.
        ingest.stop()
        api.stop()

        rows, reps_db = read_directory(dsn)
        model = Model(rows, reps_db)
        expected = model.expected(envs)
        res["directory"] = {"lines": len(rows), "replacements": len(reps_db), "cpas": args.cpas}
        res["expected_routed_records"] = len(expected)
        res["directory_topic"] = publish_directory(brokers, pbpeer, model, 6)
        log(f"peer: {len(expected)} routed records expected; directory topic: {res['directory_topic']['records']} "
            f"records in {res['directory_topic']['seconds']}s")
        from confluent_kafka.admin import AdminClient, NewTopic
        adm = AdminClient({**kconf(), "bootstrap.servers": brokers, "log_level": 3})
        # Alert topics as the router would create them on demand, peer topics as the Streams
        # application needs them (it does not create its output topics).
        new = [NewTopic(f"cpas.{c}.alerts.v1", R.CPAS_PARTITIONS, 1) for c in cbes] + \
              [NewTopic(f"{PEER_PREFIX}{c}.notifications.v1", R.CPAS_PARTITIONS, 1) for c in cbes]
        for f in adm.create_topics(new).values():
            try:
                f.result(120)
            except Exception as e:
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise
        wait_topics(adm, 2 * len(cbes) + len(cbes))

        # The transaction coordinator's topic (__transaction_state, 50 partitions) is created on
        # the first transactional producer's request: made here, so that neither side pays it.
        # BENCH_PEER_WARMUP seconds (default 20; 0: none) of transactions first warm the broker.
        res["broker_warmup"] = warm_transactions(brokers, float(os.environ.get("BENCH_PEER_WARMUP", "20")))

        # (a) relais-router alone
        router = relais.add("router")
        if os.environ.get("BENCH_PEER_AS_ADMIN", "") not in ("", "0"):
            # The stack's administrator instead of relais-router's own principal and ACLs.
            router.env.update({k: v for k, v in os.environ.items() if k.startswith("RELAIS_KAFKA_SASL_")})
        log("peer: (a) relais-router draining relais.inbound.v1")
        a = timed_drain("relais-router", router.start, lambda: router.proc.pid, brokers, RELAIS_TOPICS,
                        len(expected), tmp / "peer-a.json", log, lambda: R.cpu_snapshot({}))
        a["directory_loaded_integrations"] = R.loaded_count(router)
        a["routed_total_metric"] = R.metric_sum(router, "relais_router_routed_total")
        a["alerts_metric"] = R.metric_sum(router, "relais_router_alerts_raised_total")
        a["transactions"] = R.metric_sum(router, "relais_router_transactions_total")
        a["transaction_seconds"] = round(
            R.metric_sum(router, "relais_router_transaction_duration_seconds_sum"), 2)
        router.stop()
        a["notifications_per_s"] = round(n / a["seconds_from_start"], 1)
        res["relais_router"] = a
        log(f"  {a['notifications_per_s']:.0f} notifications/s, peak memory {a['peak_memory_mib']} MiB")

        # (b) the Kafka Streams peer
        java_opts = (args.peer_java_opts or DEFAULT_JAVA_OPTS).split()
        app_id = f"relais-bench-peer-{uuid.uuid4().hex[:8]}"
        cmd = ["java", *java_opts, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-jar", str(PEER_JAR),
               "--brokers", brokers, "--application-id", app_id, "--threads", str(args.peer_threads),
               "--state-dir", str(tmp / "peer-state"), "--output-prefix", PEER_PREFIX,
               "--directory-topic", DIRECTORY_TOPIC]
        if os.environ.get("RELAIS_KAFKA_ADMIN_CONFIG"):  # SASL: the stack's administrator, as the bench's tools
            cmd += ["--client-config", os.environ["RELAIS_KAFKA_ADMIN_CONFIG"]]
        plog = open(tmp / "peer-logs" / "streams-router.log", "w")
        holder: dict = {}

        def start_java():
            holder["p"] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=plog, text=True,
                                           start_new_session=True)
        log(f"peer: (b) Kafka Streams peer draining relais.inbound.v1 ({' '.join(java_opts)}, "
            f"{args.peer_threads} stream thread(s))")
        b = timed_drain("streams peer", start_java, lambda: holder["p"].pid, brokers, PEER_TOPICS,
                        len(expected), tmp / "peer-b.json", log, lambda: R.cpu_snapshot({}))
        p = holder["p"]
        p.send_signal(signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        plog.close()
        counters = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{\"consumed\"")]
        b["counters"] = counters[-1] if counters else None
        b["java_opts"] = " ".join(java_opts)
        b["stream_threads"] = args.peer_threads
        b["notifications_per_s"] = round(n / b["seconds_from_start"], 1)
        res["streams_peer"] = b
        log(f"  {b['notifications_per_s']:.0f} notifications/s, peak memory {b['peak_memory_mib']} MiB")

        # equality
        log("peer: reading both outputs back for the equality check")
        res["equality"] = compare_outputs(brokers, tmp, expected)
        log(f"  equal: {res['equality']['relais_equals_peer']}, both as computed: "
            f"{res['equality']['relais_equals_expected'] and res['equality']['peer_equals_expected']}")
        res["throughput_ratio_relais_to_peer"] = round(a["notifications_per_s"] / b["notifications_per_s"], 2)
        if a["peak_memory_mib"] and b["peak_memory_mib"]:
            res["peak_memory_ratio_relais_to_peer"] = round(a["peak_memory_mib"] / b["peak_memory_mib"], 3)
        ss_a = a["seconds_first_to_last"] or 1e-9
        ss_b = b["seconds_first_to_last"] or 1e-9
        res["steady_ratio_relais_to_peer"] = round(ss_b / ss_a, 2)
    finally:
        relais.stop_all()
    return res


WARMUP_TOPIC = "bench.warmup.v1"


def warm_transactions(brokers: str, seconds: float = 0.0) -> dict:
    """Creates the transaction coordinator's topic (one empty transaction). With `seconds` > 0 it
    then also warms the broker's JIT for as long: transactions of small records over the many
    partitions of a scratch topic, with consumed offsets, read back read_committed. Without it the
    first side measured pays the broker's compilation of those paths (17 CPU-seconds of
    `C2 CompilerThread` during the router's drain at 565 CPAS, against 3 for the second side),
    which a broker that has run for a day has long paid."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    p = Producer({**kconf(), "bootstrap.servers": brokers, "log_level": 3, "linger.ms": 5,
                  "transactional.id": f"relais-bench-warmup-{uuid.uuid4().hex[:8]}"})
    p.init_transactions(120)
    p.begin_transaction()
    p.commit_transaction(60)
    if seconds <= 0:
        return {}
    t0, parts = time.time(), 300
    adm = AdminClient({**kconf(), "bootstrap.servers": brokers, "log_level": 3})
    for fut in adm.create_topics([NewTopic(WARMUP_TOPIC, parts, 1)]).values():
        try:
            fut.result(60)
        except Exception as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
    group = f"relais-bench-warmup-{uuid.uuid4().hex[:8]}"
    c = Consumer({**kconf(), "bootstrap.servers": brokers, "group.id": group, "log_level": 3,
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    c.assign([TopicPartition(WARMUP_TOPIC, i, 0) for i in range(parts)])
    # On a fresh broker the first group's coordinator (__consumer_offsets) is still being created
    # and loaded: librdkafka 2.0.2's send_offsets_to_transaction then waited past its timeout
    # here. An offset fetch for the group, retried, waits for the coordinator first.
    for _ in range(60):
        try:
            c.committed([TopicPartition(WARMUP_TOPIC, 0)], timeout=10)
            break
        except Exception:
            time.sleep(1)
    txns, seen, value = 0, 0, b"x" * 300
    while time.time() - t0 < seconds:
        p.begin_transaction()
        for i in range(4 * parts):
            p.produce(WARMUP_TOPIC, value=value, partition=i % parts)
        p.send_offsets_to_transaction([TopicPartition(WARMUP_TOPIC, 0, txns)], c.consumer_group_metadata(), 60)
        p.commit_transaction(60)
        txns += 1
        seen += len(c.consume(100000, 0.05))
    c.close()
    return {"seconds": round(time.time() - t0, 1), "transactions": txns, "records_read": seen}


def wait_topics(adm, count: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    rx = re.compile(r"^(peer\.)?cpas\..*\.(notifications|alerts)\.v1$")
    while time.time() < deadline:
        if sum(1 for t in adm.list_topics(timeout=10).topics if rx.match(t)) >= count:
            return
        time.sleep(0.5)


def compare_outputs(brokers: str, tmp: Path, expected: set) -> dict:
    out = {}
    sets = {}
    for side, topics in (("relais", RELAIS_TOPICS), ("peer", PEER_TOPICS)):
        f = tmp / f"peer-collect-{side}.json"
        p = start_consumer(brokers, topics, 10**9, f, max_s=600, collect=True, pb_dir=tmp / "pb")
        p.wait()
        rows = json.loads(f.read_text())["rows"]
        tuples = [tuple(r[:6]) for r in rows]
        s = set(tuples)
        wrong_topic = sum(1 for r in rows if not r[6].endswith(f"cpas.{r[0]}.notifications.v1"))
        sets[side] = s
        out[side] = {"records": len(rows), "distinct": len(s), "duplicates": len(rows) - len(s),
                     "wrong_topic": wrong_topic, "missing_vs_expected": len(expected - s),
                     "unexpected_vs_expected": len(s - expected)}
    out["key"] = "(cpas, ticket, integration ssin, start_date, end_date, quality_code)"
    out["expected"] = len(expected)
    out["relais_equals_peer"] = sets["relais"] == sets["peer"]
    out["relais_equals_expected"] = sets["relais"] == expected
    out["peer_equals_expected"] = sets["peer"] == expected
    diff = sorted(sets["relais"] ^ sets["peer"])[:5]
    if diff:
        out["sample_differences"] = [list(d) for d in diff]
    return out


def load_peer_proto(tmp: Path):
    out = tmp / "pbpeer"
    out.mkdir(exist_ok=True)
    subprocess.run(["protoc", "-I", str(REPO / "proto"), "-I", str(PEER_DIR / "src/main/proto"),
                    "--python_out", str(out), "relais/bench/peer/v1/directory.proto"], check=True)
    sys.path.insert(0, str(out))
    from relais.bench.peer.v1 import directory_pb2  # type: ignore
    return directory_pb2


def summary_rows(r: dict) -> list[tuple[str, str, str]]:
    p = r.get("peer")
    if not p:
        return []
    a, b, e = p["relais_router"], p["streams_peer"], p["equality"]
    ratio = p["throughput_ratio_relais_to_peer"]
    mem = p.get("peak_memory_ratio_relais_to_peer")
    rows = [
        ("relais-router draining N (notif/s)", f"{a['notifications_per_s']:,.0f}", f"{a['seconds_from_start']} s"),
        ("Kafka Streams peer draining N (notif/s)", f"{b['notifications_per_s']:,.0f}", f"{b['seconds_from_start']} s"),
        ("  relais / peer throughput", f"{ratio:.2f}x", f"target >= 2x: {'met' if ratio >= 2 else 'MISSED'}"),
        ("relais-router peak memory (VmHWM MiB)", f"{a['peak_memory_mib']}", ""),
        ("Kafka Streams peer peak memory (MiB)", f"{b['peak_memory_mib']}", b.get("java_opts", "")),
    ]
    if mem is not None:
        rows.append(("  relais / peer memory", f"{mem:.2f}", f"target <= 0.5: {'met' if mem <= 0.5 else 'MISSED'}"))
    rows.append(("outputs equal (relais, peer, computed)",
                 "yes" if e["relais_equals_peer"] and e["relais_equals_expected"] else "NO",
                 f"{e['expected']:,} records"))
    return rows


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "_consume":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("_consume")
    ap.add_argument("--brokers"); ap.add_argument("--topics"); ap.add_argument("--out")  # noqa: E702
    ap.add_argument("--expect", type=int); ap.add_argument("--max-s", type=float, default=1800)  # noqa: E702
    ap.add_argument("--collect", action="store_true"); ap.add_argument("--pb-dir")  # noqa: E702
    ap.add_argument("--idle-s", type=float, default=5.0)
    sys.exit(consume_main(ap.parse_args()))
