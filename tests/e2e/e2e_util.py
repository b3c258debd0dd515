"""Helpers of the e2e tier: PostgreSQL through psql, Kafka reads with
read_committed, the protobuf schemas compiled for Python, and polling with
deadlines. Nothing here comes from Relais itself."""

from __future__ import annotations

import contextlib

import importlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable

from confluent_kafka import Consumer, TopicPartition
from relais_harness import kafka_conf  # the stack's Kafka credentials

REPO = Path(__file__).resolve().parents[2]


def dump_logs(run_dir: Path, lines: int = 60) -> None:
    for p in sorted(Path(run_dir).glob("*.log")):
        text = p.read_text(errors="replace").splitlines()[-lines:]
        print(f"----- {p} -----\n" + "\n".join(text), file=sys.stderr)


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.2, what: str = "condition"):
    """Polls predicate until it returns a truthy value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


# ----------------------------------------------------------------- protobuf
def compile_protos(out: Path):
    """protoc --python_out into `out`, then imports relais.v1.records_pb2."""
    out.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(REPO / "proto")) for p in (REPO / "proto").rglob("*.proto"))
    subprocess.run(["protoc", f"-I{REPO / 'proto'}", f"--python_out={out}", *protos], check=True, cwd=REPO / "proto")
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    return importlib.import_module("relais.v1.records_pb2")


# --------------------------------------------------------------- PostgreSQL
class Db:
    def __init__(self, dsn: str):
        self.dsn = dsn

    def query(self, sql: str) -> list[list[str]]:
        """Runs one SQL statement with psql; rows of text fields ('' for NULL)."""
        r = subprocess.run(["psql", self.dsn, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                           input=sql, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr.strip()}")
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def journal(self, tickets: Iterable[str]) -> list[dict]:
        ts = sorted(set(tickets))
        if not ts:
            return []
        arr = ",".join(f"'{t}'" for t in ts)  # UUIDs made by the test: no quoting issue
        rows = self.query(
            "SELECT ticket, kind, coalesce(cpas_cbe,''), coalesce(reason,''), coalesce(flow,''), "
            "coalesce(quality_code::text,'') FROM journal "
            f"WHERE ticket IN (SELECT unnest(ARRAY[{arr}]::text[]))")
        return [dict(ticket=a, kind=b, cpas=c, reason=d, flow=e, quality=f) for a, b, c, d, e, f in rows]


def sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# -------------------------------------------------------------------- Kafka
def _consumer(brokers: str) -> Consumer:
    return Consumer({
        **kafka_conf(),
        "bootstrap.servers": brokers,
        "group.id": f"relais-e2e-{uuid.uuid4()}",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
    })


def end_offsets(brokers: str, topic: str) -> dict[int, int]:
    """High watermarks of every partition of `topic` (empty if it does not exist)."""
    c = _consumer(brokers)
    try:
        md = c.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return {}
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in t.partitions}
    finally:
        c.close()


def read_topic(brokers: str, topic: str, start: dict[int, int] | None = None, timeout: float = 60.0) -> list:
    """Every committed record of `topic` from `start` (default: the beginning)
    up to the end of each partition as it is when the read starts. Records of
    transactions still open at that time are not waited for: poll with
    read_until when more are expected."""
    c = _consumer(brokers)
    try:
        md = c.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return []
        parts = list(t.partitions)
        start = start or {}
        tps = [TopicPartition(topic, p, start.get(p, 0)) for p in parts]
        c.assign(tps)
        # read_committed: stop at each partition's EOF (last stable offset).
        pending = set(parts)
        out = []
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    pending.discard(m.partition())
                continue
            out.append(m)
        if pending:
            raise AssertionError(f"reading {topic}: partitions {sorted(pending)} not read to their end in {timeout}s")
        return out
    finally:
        c.close()


def headers_of(msg) -> dict[str, str]:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (msg.headers() or [])}


def read_until(brokers: str, topic: str, done: Callable[[list], bool], timeout: float, settle: float = 1.0,
               start: dict[int, int] | None = None) -> list:
    """Re-reads `topic` until done(records) holds, then once more after `settle`
    seconds so that late extra records (duplicates) are seen too."""
    deadline = time.monotonic() + timeout
    while True:
        recs = read_topic(brokers, topic, start)
        if done(recs):
            if settle > 0:
                time.sleep(settle)
                recs = read_topic(brokers, topic, start)
            return recs
        if time.monotonic() > deadline:
            return recs
        time.sleep(0.5)


def ticket_counts(records: list) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in records:
        t = headers_of(m).get("ticket")
        out[t] = out.get(t, 0) + 1
    return out


def cpas_topic(cbe: str) -> str:
    return f"cpas.{cbe}.notifications.v1"


def ndjson(notifs: list[dict]) -> list[str]:
    return [json.dumps(n, separators=(",", ":")) for n in notifs]


def produce_raw(brokers: str, topic: str, records: list[tuple[bytes | None, bytes, list | None]]) -> None:
    from confluent_kafka import Producer
    p = Producer({**kafka_conf(), "bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all"})
    errors = []
    for key, value, headers in records:
        p.produce(topic, key=key, value=value, headers=headers or [],
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
    left = p.flush(30)
    assert left == 0 and not errors, f"raw produce failed: {errors} ({left} left)"


def make_test_certs(run_dir: Path, name: str) -> Path:
    """The test CA and certificates of tests/tls/make-certs.sh, made by openssl now in a fresh
    folder under the test stack's directory (or run_dir), never committed."""
    base = Path(os.environ.get("RELAIS_STACK_DIR") or run_dir)
    d = base / f"{name}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["sh", str(Path(__file__).resolve().parents[2] / "tests/tls/make-certs.sh"), str(d)], check=True)
    return d


def env_flag(name: str, default: str) -> str:
    return os.environ.get(name, default)


# --------------------------------------------------------------- test data
SECTOR17 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 20, 21, 40]


def fresh_ssins(db: Db, rng, n: int, bis_ratio: float = 0.25, exclude: set[str] | None = None) -> list[str]:
    """n valid SSINs (National Register and BIS numbers) that no integration
    or SSIN replacement of the shared directory mentions yet, so that a
    previous run or another test cannot change where they are routed."""
    from relais_harness import make_ssin
    exclude = set(exclude or ())
    out: list[str] = []
    while len(out) < n:
        want = n - len(out)
        cands = []
        seen = set(out) | exclude
        while len(cands) < want + want // 10 + 5:
            s = make_ssin(rng, bis=rng.random() < bis_ratio)
            if s not in seen:
                seen.add(s)
                cands.append(s)
        arr = ",".join(f"'{s}'" for s in cands)
        taken = {r[0] for r in db.query(
            # char(11), the columns' type: compared as text, the indexes on ssin could not be used
            f"WITH c(s) AS (SELECT unnest(ARRAY[{arr}]::char(11)[])) "
            "SELECT s FROM c WHERE EXISTS (SELECT 1 FROM integrations i WHERE i.ssin = c.s) "
            "OR EXISTS (SELECT 1 FROM ssin_replacements r WHERE r.old_ssin = c.s OR r.new_ssin = c.s)")}
        out.extend(s for s in cands if s not in taken)
    return out[:n]


def fresh_cbes(rng, n: int) -> list[str]:
    from relais_harness import make_cbe
    out: list[str] = []
    while len(out) < n:
        c = make_cbe(rng)
        if c not in out:
            out.append(c)
    return out


def covering(rows: list[tuple], day) -> dict[str, tuple]:
    """Expected routing, computed here from the rows the test registered:
    rows are (cbe, quality, start: date, end: date|None); returns, per CPAS
    whose line covers `day` (start and end inclusive), the line that wins
    (latest start, then lowest quality code)."""
    out: dict[str, tuple] = {}
    for cbe, q, s, e in rows:
        if s <= day and (e is None or day <= e):
            cur = out.get(cbe)
            if cur is None or s > cur[2] or (s == cur[2] and q < cur[1]):
                out[cbe] = (cbe, q, s, e)
    return out


# ------------------------------------------------------------ stream tests
# Shared by the crash and shutdown tests: two CPAS, a stream of batches posted
# like a real sender, and the exactly-once check of what they received.
import random  # noqa: E402
import threading  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402

from relais_harness import (FLOWS, api_import, api_put_cpas, new_ticket, notification,  # noqa: E402
                            post_batch_until_accepted)


def make_world(relais, db, n_persons: int, label: str):
    """Two CPAS; persons at one or both (open lines from 2020), 1/6 integrated nowhere."""
    rng = random.Random()
    cbes = fresh_cbes(rng, 2)
    ssins = fresh_ssins(db, rng, n_persons)
    rows = defaultdict(list)
    where: dict[str, set[str]] = defaultdict(set)
    for i, s in enumerate(ssins):
        if i % 6 == 5:
            continue
        for cbe in (cbes if i % 4 == 0 else [rng.choice(cbes)]):
            rows[cbe].append((s, rng.choice([1, 2, 3, 4]), "2020-01-01", None))
            where[s].add(cbe)
    for i, cbe in enumerate(cbes):
        api_put_cpas(relais.api.url, cbe, f"CPAS e2e {label} {i}", ["44021"])
        assert api_import(relais.api.url, cbe, rows[cbe]).status_code == 200
    wait_for(lambda: all(relais.router.metrics().get(f'relais_directory_integrations{{cpas="{c}"}}') == len(rows[c])
                         for c in cbes), 10, what="router directory")
    return rng, cbes, ssins, where


def make_batches(rng, ssins, where, n_batches: int, size: int):
    batches, expected = [], {}
    for b in range(n_batches):
        flow = FLOWS[b % len(FLOWS)]
        ns = []
        for _ in range(size):
            s, t = rng.choice(ssins), new_ticket()
            ns.append(notification(flow, t, s, "2024-05-01", rng))
            expected[t] = where.get(s, set())
        batches.append((flow, ndjson(ns)))
    return batches, expected


class Poster(threading.Thread):
    """Posts the batches one after the other like a BCSS sender: re-posts a
    batch on connection errors, 429 and 503 until it gets its 200 report."""

    def __init__(self, url_of, batches, pace_s: float = 0.0):
        super().__init__(daemon=True)
        self.url_of, self.batches, self.pace_s = url_of, batches, pace_s
        self.acked: list[str] = []
        self.done_batches = 0
        self.error: BaseException | None = None

    def run(self):
        try:
            for flow, lines in self.batches:
                rep = post_batch_until_accepted(self.url_of(), flow, lines, deadline_s=180)
                assert rep["rejected"] == 0, rep
                self.acked += [it["ticket"] for it in rep["items"] if it["status"] == 202]
                self.done_batches += 1
                time.sleep(self.pace_s)  # the shape of the stream, not a wait for a result
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


def check_exactly_once(brokers, db, cbes, expected, acked, check_journal_dupes: bool):
    assert sorted(acked) == sorted(expected), "every batch ends with a 200 report naming all its tickets"
    for cbe in cbes:
        want = {t for t, c in expected.items() if cbe in c}
        recs = read_until(brokers, cpas_topic(cbe), lambda rs: {headers_of(m)["ticket"] for m in rs} >= want,
                          timeout=180, settle=2.0)
        counts = Counter(headers_of(m)["ticket"] for m in recs)
        missing, extra = want - set(counts), set(counts) - want
        dupes = {t: n for t, n in counts.items() if n > 1}
        assert not missing, f"{cbe}: {len(missing)} accepted tickets lost, e.g. {sorted(missing)[:3]}"
        assert not extra, f"{cbe}: {len(extra)} tickets not for this CPAS"
        assert not dupes, f"{cbe}: {len(dupes)} tickets delivered more than once, e.g. {list(dupes.items())[:3]}"
        print(f"{cpas_topic(cbe)}: {len(recs)} records, exactly once")

    def journal_done():
        rows = db.journal(expected)
        dec = Counter(r["ticket"] for r in rows if r["kind"] in ("routed", "dropped"))
        return rows if all(dec[t] >= max(1, len(c)) for t, c in expected.items()) else None
    rows = wait_for(journal_done, 60, interval=1.0, what="journal decisions")
    acc = Counter(r["ticket"] for r in rows if r["kind"] == "accepted")
    assert set(acc) == set(expected) and max(acc.values()) == 1, "one accepted row per ticket"
    routed = Counter((r["ticket"], r["cpas"]) for r in rows if r["kind"] == "routed")
    assert max(routed.values()) == 1
    assert {k for k in routed} == {(t, c) for t, cs in expected.items() for c in cs}
    assert {r["ticket"] for r in rows if r["kind"] == "dropped"} == {t for t, c in expected.items() if not c}
    dups = [r for r in rows if r["kind"] == "duplicate"]
    print(f"journal: {len(acc)} tickets accepted once, {len(routed)} routings, {len(dups)} duplicates absorbed")
    if check_journal_dupes:
        assert not dups, f"each ticket was posted once, yet {len(dups)} duplicate rows"




def wait_router_live(relais, db, timeout: float = 60.0) -> float:
    """Posts one notification for a person integrated nowhere and waits for the
    router's decision in the journal: the router has its partitions and is
    keeping up (a freshly started router first joins its consumer group).
    Returns the seconds it took."""
    import json as _json
    import requests as _requests
    rng = random.Random()
    t0 = time.monotonic()
    t = new_ticket()
    n = notification("notify-person", t, fresh_ssins(db, rng, 1)[0], "2024-01-01", rng, event="DEATH")
    r = _requests.post(f"{relais.ingest.url}/v1/notifications/notify-person", data=_json.dumps(n),
                       headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 202, r.text
    wait_for(lambda: any(x["kind"] == "dropped" for x in db.journal([t])), timeout, interval=0.1,
             what="the router's first decision")
    return time.monotonic() - t0


def cpas_with_persons(relais, db, rng, name: str, count: int, quality: int = 2) -> tuple[str, list[str]]:
    """A new CPAS integrating `count` new National Register persons since 2020-01-01, once the
    router's directory knows them."""
    from relais_harness import api_import, api_put_cpas
    (cbe,) = fresh_cbes(rng, 1)
    api_put_cpas(relais.api.url, cbe, name, ["21004"])
    persons = fresh_ssins(db, rng, count, bis_ratio=0)
    assert api_import(relais.api.url, cbe, [(p, quality, "2020-01-01", None) for p in persons]).status_code == 200
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{cbe}"}}') == count, 10,
             what="router directory")
    return cbe, persons


def journal_entries(relais, since: str, request_ids: set[str]) -> dict[str, dict]:
    """The access journal rows of these calls (by X-Request-Id), read through the operator route."""
    import requests
    from relais_harness import api_headers

    def fetch():
        r = requests.get(f"{relais.api.url}/v1/access-journal", params={"since": since, "limit": 10000},
                         headers=api_headers(), timeout=10)
        assert r.status_code == 200, r.text
        got = {e["request_id"]: e for e in r.json()["entries"] if e["request_id"] in request_ids}
        return got if len(got) == len(request_ids) else None
    return wait_for(fetch, 15, interval=0.2, what="the access journal rows of the calls")


def wait_tickets_once(brokers: str, topic: str, tickets: set[str], timeout: float = 300) -> list:
    """The records of `topic` (read_committed) carrying one of `tickets`, once every ticket is
    there; asserts that none of them is there twice."""
    def delivered():
        recs = [m for m in read_topic(brokers, topic) if headers_of(m).get("ticket") in tickets]
        return recs if len({headers_of(m)["ticket"] for m in recs}) == len(tickets) else None
    recs = wait_for(delivered, timeout, interval=1, what=f"{len(tickets)} tickets on {topic}")
    seen = [headers_of(m)["ticket"] for m in recs]
    assert len(seen) == len(set(seen)) == len(tickets), "a record was published twice"
    return recs


@contextlib.contextmanager
def running_relais(stack, run_dir: Path, extra_env: dict[str, str]):
    """The three services of a module of its own (its own settings in `extra_env`), stopped at
    the end; their logs are dumped when they do not start."""
    from relais_harness import Relais
    r = Relais(stack=stack, run_dir=run_dir, extra_env=extra_env)
    try:
        r.start_all()
    except Exception:
        r.stop_all()
        dump_logs(run_dir)
        raise
    yield r
    codes = {k: s.stop() for k, s in r.services.items()}
    print(f"\nrelais services stopped: {codes}; logs in {run_dir}")
