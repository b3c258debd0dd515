#!/usr/bin/env python3
"""The `make run` demo: drives the three running Relais services like a data
centre's day would, then shows what each CPAS received.

Started by scripts/run-demo.sh, which brings up the stack and the services and
passes their coordinates through the environment:

  DEMO_INGEST_URL, DEMO_API_URL, DEMO_ROUTER_URL   the services
  RELAIS_KAFKA_BROKERS, RELAIS_PG_DSN              the stack
  DEMO_SEED           random seed of the generated data (default 20260101)
  DEMO_NOTIFICATIONS  how many notifications to stream (default 30000)
  DEMO_BATCH          NDJSON lines per batch request (default 500)

The directory and the notifications are derived from the seed, so a re-run
imports the same integrations (the import is idempotent) and sends the same
mix; only the tickets are new. Every ticket of a run starts with the run id
(the first two UUID groups), which is how the journal and the CPAS topics are
filtered to this run when counting.

Exit status: 0 all counts agree, 2 the demo ran but some count disagrees,
1 the demo could not run (a clear message says why).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "harness"))

import requests  # noqa: E402

import relais_harness as h  # noqa: E402

SEED = int(os.environ.get("DEMO_SEED", "20260101"))
N_NOTIFICATIONS = int(os.environ.get("DEMO_NOTIFICATIONS", "30000"))
BATCH = int(os.environ.get("DEMO_BATCH", "500"))
INGEST = os.environ.get("DEMO_INGEST_URL", "http://127.0.0.1:8080")
API = os.environ.get("DEMO_API_URL", "http://127.0.0.1:8081")
ROUTER = os.environ.get("DEMO_ROUTER_URL", "http://127.0.0.1:8082")
BROKERS = os.environ.get("RELAIS_KAFKA_BROKERS", "127.0.0.1:59092")
PG_DSN = os.environ.get("RELAIS_PG_DSN", "host=127.0.0.1 port=55432 dbname=relais user=relais")
LOG_DIR = os.environ.get("DEMO_LOG_DIR", "var/demo")

TTY = sys.stdout.isatty()
BOLD, DIM, RED, GREEN, YELLOW, RESET = (
    ("\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[33m", "\033[0m") if TTY else ("",) * 6)

SHORT = {
    "notify-person": "person",
    "notify-family-composition": "family",
    "pension-register-mutation": "pension",
    "personnel-file": "dimona",
    "self-employed-career": "self-empl",
    "ecarmed-calculation": "ecarmed",
}
# Share of each flow in the stream (a nightly delivery is dominated by the
# National Register and DIMONA).
FLOW_WEIGHTS = {
    "notify-person": 30, "personnel-file": 22, "notify-family-composition": 15,
    "ecarmed-calculation": 13, "pension-register-mutation": 10, "self-employed-career": 10,
}
# Sector 17 quality codes, weighted like a CPAS caseload (RIS files dominate).
QUALITY_WEIGHTS = {2: 40, 1: 12, 3: 8, 4: 10, 5: 6, 6: 4, 7: 7, 8: 3, 9: 3, 40: 7}


class DemoError(Exception):
    """A failure with a message meant for the operator."""


# ------------------------------------------------------------------ the CPAS
def cbe(first8: str) -> str:
    """A CBE number from its first eight digits: check = 97 - (first8 mod 97)."""
    return first8 + f"{97 - int(first8) % 97:02d}"


CPAS = [  # (cbe, name, municipality NIS codes)
    (cbe("02123456"), "CPAS de Bruxelles", ["21004"]),
    (cbe("02124573"), "OCMW Gent", ["44021"]),
    (cbe("02073198"), "CPAS de Charleroi", ["52011"]),
]
NAME = {c: n for c, n, _ in CPAS}


# ------------------------------------------------------------------- helpers
def fmt_n(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def step(msg: str) -> None:
    print(f"{BOLD}==>{RESET} {msg}", flush=True)


def info(msg: str) -> None:
    print(f"    {msg}", flush=True)


def status_line(msg: str, final: bool = False) -> None:
    """One line that updates in place on a terminal (printed once at the end otherwise)."""
    if TTY:
        sys.stdout.write("\r\033[K    " + msg + ("\n" if final else ""))
        sys.stdout.flush()
    elif final:
        print("    " + msg, flush=True)


def day(d: dt.date) -> str:
    return d.isoformat()


def psql(sql: str) -> list[list[str]]:
    """Runs one query with psql (no Python PostgreSQL driver needed)."""
    try:
        r = subprocess.run(["psql", PG_DSN, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"],
                           input=sql, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise DemoError("psql is not installed (make deps installs postgresql-client-15)")
    except subprocess.TimeoutExpired:
        raise DemoError("PostgreSQL did not answer within 60 s (see var/stack/pg/log/postgresql.log)")
    if r.returncode != 0:
        raise DemoError(f"query failed on PostgreSQL ({PG_DSN}): {r.stderr.strip()}")
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def this_run(run_prefix: str) -> str:
    """SQL condition for this run's tickets: a range on the ticket index (the
    database collation is C, where '.' sorts right after '-')."""
    return f"ticket >= '{run_prefix}' AND ticket < '{run_prefix[:-1]}.'"


def metric_sum(url: str, name: str) -> float:
    text = requests.get(url + "/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rpartition(" ")[2])
    return total


# ------------------------------------------------------------- the directory
class Directory:
    """This demo's own model of the integrations it imports, to know which
    CPAS each notification should reach (computed independently of Relais)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.rows: dict[str, list[tuple]] = {c: [] for c, _, _ in CPAS}  # cbe -> (ssin, q, start, end)
        self.by_ssin: dict[str, list[tuple]] = collections.defaultdict(list)  # ssin -> (cbe, q, start, end)
        self.persons: list[str] = []
        self.shared = 0
        self.bis = 0
        self.closed = 0

    def _ssin(self, used: set[str]) -> str:
        while True:
            bis = self.rng.random() < 0.12
            s = h.make_ssin(self.rng, bis=bis)
            if s not in used:
                used.add(s)
                if bis:
                    self.bis += 1
                return s

    def _period(self) -> tuple[dt.date, dt.date | None]:
        start = dt.date(2017, 1, 1) + dt.timedelta(days=self.rng.randint(0, 8 * 365))
        if self.rng.random() < 0.25:  # a closed file
            end = min(start + dt.timedelta(days=self.rng.randint(90, 900)), dt.date(2026, 3, 31))
            if end > start + dt.timedelta(days=30):
                self.closed += 1
                return start, end
        return start, None

    def build(self, per_cpas: int, nowhere: int) -> list[str]:
        used: set[str] = set()
        cbes = [c for c, _, _ in CPAS]
        for c in cbes:
            for _ in range(per_cpas):
                s = self._ssin(used)
                self._add(c, s)
        # ~6% of the persons are also integrated by a second CPAS (a move, a
        # cohabitant, a collaborator in an inquiry): the notification fans out.
        for s in self.rng.sample(self.persons, len(self.persons) * 6 // 100):
            other = self.rng.choice([c for c in cbes if c not in {r[0] for r in self.by_ssin[s]}])
            self._add(other, s)
            self.shared += 1
        return [self._ssin(used) for _ in range(nowhere)]

    def _add(self, c: str, s: str) -> None:
        q = self.rng.choices(list(QUALITY_WEIGHTS), weights=list(QUALITY_WEIGHTS.values()))[0]
        start, end = self._period()
        self.rows[c].append((s, q, day(start), day(end) if end else None))
        if s not in self.by_ssin:
            self.persons.append(s)
        self.by_ssin[s].append((c, q, start, end))

    def reconcile(self, nowhere: list[str]) -> tuple[list[str], int]:
        """Copes with a directory that already holds data (earlier runs with
        another seed, other tests, an operator's own CPAS): a person whose lines
        in PostgreSQL are not exactly this demo's model, or who takes part in an
        SSIN replacement, is left out of the stream, so that what each CPAS
        should receive stays computable here."""
        ssins = self.persons + nowhere
        arr = "'{" + ",".join(ssins) + "}'::text[]"
        rows = psql(f"SELECT ssin, cbe::text, quality_code, start_date::text, coalesce(end_date::text, '') FROM integrations "
                    f"WHERE ssin = ANY({arr}) "
                    f"UNION ALL SELECT old_ssin, 'replaced', 0, '', '' FROM ssin_replacements WHERE old_ssin = ANY({arr}) "
                    f"UNION ALL SELECT new_ssin, 'replaced', 0, '', '' FROM ssin_replacements WHERE new_ssin = ANY({arr})")
        in_pg: dict[str, set] = collections.defaultdict(set)
        for ssin, c, q, a, b in rows:
            in_pg[ssin].add((c, int(q), a, b))
        odd = set()
        for ssin in in_pg.keys() | set(self.persons):
            model = {(c, q, day(a), day(b) if b else "") for c, q, a, b in self.by_ssin.get(ssin, ())}
            if in_pg.get(ssin, set()) != model:
                odd.add(ssin)
        self.persons = [x for x in self.persons if x not in odd]
        return [x for x in nowhere if x not in odd], len(odd)

    def targets(self, s: str, d: dt.date) -> list[str]:
        return sorted({c for c, _, a, b in self.by_ssin.get(s, ()) if a <= d and (b is None or d <= b)})

    def date_inside(self, s: str) -> dt.date:
        c, _, a, b = self.rng.choice(self.by_ssin[s])
        hi = min(b or dt.date(2026, 6, 30), dt.date(2026, 6, 30))
        lo = a + dt.timedelta(days=1)
        return lo + dt.timedelta(days=self.rng.randint(0, max(0, (hi - lo).days - 1)))

    def date_outside(self, s: str) -> dt.date | None:
        """A date no integration of s covers (before the first start, or after a closed end)."""
        periods = self.by_ssin[s]
        first = min(a for _, _, a, _ in periods)
        cands = [first - dt.timedelta(days=self.rng.randint(30, 700))]
        for _, _, a, b in periods:
            if b is not None:
                cands.append(b + dt.timedelta(days=self.rng.randint(1, 120)))
        d = self.rng.choice(cands)
        return d if not self.targets(s, d) and d <= dt.date(2026, 10, 31) else None


# ----------------------------------------------------------- notifications
class Stream:
    """The notifications of the run, with what Relais should do with each."""

    def __init__(self, rng: random.Random, directory: Directory, nowhere: list[str], run_id: str):
        self.rng, self.dir, self.nowhere, self.run_id = rng, directory, nowhere, run_id
        self.by_flow: dict[str, list[str]] = {f: [] for f in h.FLOWS}
        self.tickets: set[str] = set()
        self.expected_routed: collections.Counter = collections.Counter()  # (cbe, flow)
        self.expected_dropped: collections.Counter = collections.Counter()  # reason
        self.expected_invalid: collections.Counter = collections.Counter()  # kind of damage

    def ticket(self) -> str:
        t = f"{self.run_id[:8]}-{self.run_id[8:12]}-{uuid.uuid4().hex[12:]}"
        return f"{t[:18]}-{t[18:22]}-{t[22:34]}"

    def build(self, n: int) -> None:
        flows, weights = list(FLOW_WEIGHTS), list(FLOW_WEIGHTS.values())
        persons = self.dir.persons
        for _ in range(n):
            flow = self.rng.choices(flows, weights=weights)[0]
            r = self.rng.random()
            ticket = self.ticket()
            if r < 0.03:
                self.by_flow[flow].append(self._invalid(flow, ticket))
                continue
            if r < 0.18:  # a person no CPAS of this data centre integrates
                s, d, reason = self.rng.choice(self.nowhere), self._any_date(), "not_integrated"
            elif r < 0.28:  # an integrated person, but the event falls outside every period
                s = self.rng.choice(persons)
                d, reason = self.dir.date_outside(s), "outside_period"
                if d is None:
                    s, d, reason = self.rng.choice(self.nowhere), self._any_date(), "not_integrated"
            else:
                s = self.rng.choice(persons)
                d, reason = self.dir.date_inside(s), None
            targets = self.dir.targets(s, d)
            if targets:
                for c in targets:
                    self.expected_routed[(c, flow)] += 1
            else:
                self.expected_dropped[reason or "outside_period"] += 1
            extra = {}
            if flow == "ecarmed-calculation":
                extra["decision_cpas_cbe"] = targets[0] if targets else CPAS[0][0]
            n = h.notification(flow, ticket, s, day(d), self.rng, **extra)
            self.tickets.add(ticket)
            self.by_flow[flow].append(json.dumps(n, separators=(",", ":")))

    def _any_date(self) -> dt.date:
        return dt.date(2024, 1, 1) + dt.timedelta(days=self.rng.randint(0, 900))

    def _invalid(self, flow: str, ticket: str) -> str:
        s = self.rng.choice(self.dir.persons)
        n = h.notification(flow, ticket, s, day(self._any_date()), self.rng)
        kind = self.rng.choice(["check digit", "date", "enum"])
        if kind == "check digit":
            while True:  # wrong for both the 19YY and the 20YY reading
                bad = s[:9] + f"{(int(s[9:]) + self.rng.randint(1, 9)) % 100:02d}"
                if int(bad[9:]) not in (h.ssin_check(bad[:9], False), h.ssin_check(bad[:9], True)):
                    break
            n["ssin"] = bad
        elif kind == "date":
            n["effective_date"] = self.rng.choice(["2025-02-30", "2025-13-01", "31/12/2025", "2025-6-1"])
        else:
            n["event"] = self.rng.choice(["TELEPORTED", "ADDRESS_CHANGED", "UNKNOWN_EVENT"])
        self.expected_invalid[kind] += 1
        return json.dumps(n, separators=(",", ":"))

    def batches(self) -> list[tuple[str, list[str]]]:
        """Per-flow NDJSON batches, interleaved across flows like a mixed delivery."""
        per_flow = {f: [lines[i:i + BATCH] for i in range(0, len(lines), BATCH)]
                    for f, lines in self.by_flow.items()}
        out = []
        while any(per_flow.values()):
            for f in h.FLOWS:
                if per_flow[f]:
                    out.append((f, per_flow[f].pop(0)))
        return out

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.by_flow.values())


# ------------------------------------------------------------------- phases
def check_services() -> None:
    for name, url in (("relais-ingest", INGEST), ("relais-api", API), ("relais-router", ROUTER)):
        try:
            r = requests.get(url + "/readyz", timeout=3)
        except requests.RequestException:
            raise DemoError(f"{name} does not answer at {url} (see {LOG_DIR}/{name.split('-')[1]}.log)")
        if r.status_code != 200:
            raise DemoError(f"{name} at {url} is not ready: {r.status_code} {r.text[:200]}")


def load_directory(directory: Directory) -> None:
    step("Directory: three CPAS and their integrated persons (relais-api)")
    for c, name, nis in CPAS:
        r = requests.put(f"{API}/v1/cpas/{c}", json={"name": name, "municipalities": nis}, headers=h.api_headers(),
                         timeout=30)
        if r.status_code not in (200, 201):
            raise DemoError(f"PUT /v1/cpas/{c} answered {r.status_code}: {r.text[:300]}")
        # Its identity: the municipality it serves, by which relais-api also finds it (/v1/cpas/<nis>/...).
        r = requests.put(f"{API}/v1/cpas/{c}/identity", headers=h.api_headers(), timeout=30,
                         json={"nis_codes": nis, "reason": "demo: the municipality this CPAS serves"})
        if r.status_code not in (200, 201):
            raise DemoError(f"PUT /v1/cpas/{c}/identity answered {r.status_code}: {r.text[:300]}")
    t0 = time.time()
    total_written = 0
    for c, name, nis in CPAS:
        rows = directory.rows[c]
        r = h.api_import(API, c, rows)
        if r.status_code != 200:
            raise DemoError(f"import for {name} answered {r.status_code}: {r.text[:500]}")
        rep = r.json()
        total_written += rep.get("written", 0)
        closed = sum(1 for row in rows if row[3])
        bis = sum(1 for row in rows if 20 < int(row[0][2:4]) <= 52)
        info(f"{name:<18} {c}  NIS {','.join(nis)}  {fmt_n(len(rows)):>6} integrations "
             f"({fmt_n(bis)} BIS, {fmt_n(closed)} closed)  import: {fmt_n(rep.get('written', 0))} written, "
             f"{fmt_n(rep.get('unchanged', 0))} unchanged")
    n = sum(len(v) for v in directory.rows.values())
    info(f"{fmt_n(n)} lines imported in {time.time() - t0:.1f} s; "
         f"{fmt_n(directory.shared)} persons are integrated by two CPAS")
    # The router polls the directory (a change is seen within one second):
    # wait until its in-memory copy holds every line PostgreSQL has.
    want = int(psql("SELECT count(*) FROM integrations")[0][0])
    deadline = time.time() + 15
    while True:
        have = metric_sum(ROUTER, "relais_directory_integrations")
        if have >= want:
            break
        if time.time() > deadline:
            raise DemoError(f"relais-router holds {int(have)} integrations after 15 s, PostgreSQL has {want} "
                            f"(see {LOG_DIR}/router.log)")
        time.sleep(0.1)


def write_example(directory: Directory) -> None:
    """Tells run-demo.sh a person to use in its example curl commands: one
    integrated by the first CPAS over a period covering 2026-01-15."""
    cb = CPAS[0][0]
    for s, q, a, b in directory.rows[cb]:
        if len(directory.by_ssin[s]) == 1 and a < "2025-06-01" and b is None and 0 < int(s[2:4]) <= 12:
            # A credential of that CPAS only, for the example commands (relais-api needs a token).
            token = h.issue_token(PG_DSN, f"demo-example-{cb}", [cb])["token"]
            # The file holds a bearer token: readable by its owner only (created so, never 0644 first).
            path = Path(LOG_DIR, "example.env")
            path.unlink(missing_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"EXAMPLE_SSIN={s}\nEXAMPLE_CBE={cb}\nEXAMPLE_TOKEN={token}\n")
            return


class Progress:
    def __init__(self, total: int):
        self.total, self.sent, self.accepted, self.rejected, self.dupes = total, 0, 0, 0, 0
        self.rejected_by_code: collections.Counter = collections.Counter()
        self.accepted_tickets: set[str] = set()
        self.lock = threading.Lock()
        self.t0 = time.time()
        self.retries = 0

    def line(self) -> str:
        el = max(time.time() - self.t0, 1e-6)
        return (f"sent {fmt_n(self.sent):>7} / {fmt_n(self.total)}   accepted {fmt_n(self.accepted):>7}   "
                f"rejected {fmt_n(self.rejected):>5}   {fmt_n(int(self.sent / el)):>6} notifications/s")


def send(stream: Stream) -> Progress:
    step(f"Streaming {fmt_n(stream.total)} notifications of the six flows to relais-ingest "
         f"(NDJSON batches of {BATCH})")
    batches = stream.batches()
    p = Progress(stream.total)
    stop = threading.Event()

    def worker(item):
        flow, lines = item
        s = requests.Session()
        deadline = time.time() + 120
        while True:
            try:
                r = s.post(f"{INGEST}/v1/notifications/{flow}:batch", data=("\n".join(lines) + "\n").encode(),
                           headers={"Content-Type": "application/x-ndjson"}, timeout=120)
            except requests.RequestException as e:
                raise DemoError(f"relais-ingest failed on a {flow} batch: {e} (see {LOG_DIR}/ingest.log)")
            if r.status_code == 200:
                break
            if r.status_code in (429, 503) and time.time() < deadline:
                with p.lock:
                    p.retries += 1
                time.sleep(min(float(r.headers.get("Retry-After", "1")), 2.0))
                continue
            raise DemoError(f"relais-ingest refused a {flow} batch: {r.status_code} {r.text[:300]}")
        rep = r.json()
        with p.lock:
            p.sent += len(lines)
            p.accepted += rep["accepted"]
            p.rejected += rep["rejected"]
            p.dupes += rep.get("duplicates", 0)
            for it in rep["items"]:
                if it["status"] == 202:
                    p.accepted_tickets.add(it["ticket"])
                else:
                    p.rejected_by_code[(it["error"]["code"], it["error"].get("field", ""))] += 1

    def ticker():
        while not stop.wait(0.2):
            with p.lock:
                status_line(p.line())

    th = threading.Thread(target=ticker, daemon=True)
    th.start()
    try:
        with ThreadPoolExecutor(max_workers=4) as ex:
            for fut in [ex.submit(worker, b) for b in batches]:
                fut.result()
    finally:
        stop.set()
        th.join()
    status_line(p.line(), final=True)
    info(f"done in {time.time() - p.t0:.1f} s" + (f" ({p.retries} batches re-posted after 429/503)" if p.retries else ""))
    return p


def wait_router(run_prefix: str, accepted: int) -> float:
    """Waits until the router has decided on every accepted notification of this
    run and the journal sink has copied the decisions to PostgreSQL."""
    step("Waiting for relais-router to route everything (journal in PostgreSQL)")
    t0 = time.time()
    deadline = t0 + 120
    last_change, last = t0, -1
    sql = f"SELECT count(*) FROM journal WHERE kind = 'accepted' AND {this_run(run_prefix)}"
    while True:
        done = int(psql(sql)[0][0])
        consumed = metric_sum(ROUTER, "relais_router_records_consumed_total")
        status_line(f"journaled {fmt_n(done):>7} / {fmt_n(accepted)}   router consumed {fmt_n(int(consumed))} "
                    f"records since start   {time.time() - t0:4.1f} s")
        if done >= accepted:
            break
        now = time.time()
        if done != last:
            last, last_change = done, now
        if now > deadline or now - last_change > 30:
            status_line("", final=False)
            raise DemoError(f"only {done} of {accepted} notifications reached the journal after "
                            f"{now - t0:.0f} s (see {LOG_DIR}/router.log)")
        time.sleep(0.25)
    status_line(f"journaled {fmt_n(done)} / {fmt_n(accepted)} in {time.time() - t0:.1f} s", final=True)
    return time.time() - t0


def read_topics(tickets: set[str], run_prefix: str) -> tuple[collections.Counter, collections.Counter]:
    """Reads every CPAS topic to its end as a read_committed consumer; counts this
    run's records per (cbe, flow) and the tickets seen more than once."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    counts: collections.Counter = collections.Counter()
    dupes: collections.Counter = collections.Counter()
    c = Consumer({**h.kafka_conf(), "bootstrap.servers": BROKERS, "group.id": f"relais-demo-{uuid.uuid4()}",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "enable.partition.eof": True})
    try:
        for cb, _, _ in CPAS:
            topic = f"cpas.{cb}.notifications.v1"
            md = c.list_topics(topic, timeout=10)
            if topic not in md.topics or md.topics[topic].error is not None:
                continue
            parts = [TopicPartition(topic, p, 0) for p in md.topics[topic].partitions]
            c.assign(parts)
            pending = {p.partition for p in parts}
            seen: set[str] = set()
            deadline = time.time() + 60
            while pending and time.time() < deadline:
                for m in c.consume(1000, 0.5):
                    if m.error():
                        if m.error().code() == KafkaError._PARTITION_EOF:
                            pending.discard(m.partition())
                        continue
                    hd = h.headers_of(m)
                    t = hd.get("ticket", "")
                    if not t.startswith(run_prefix):
                        continue
                    if t in seen:
                        dupes[cb] += 1
                        continue
                    seen.add(t)
                    if t in tickets:
                        counts[(cb, hd.get("flow", "?"))] += 1
                        if hd.get("flow") in SOURCE_CODE_FLOWS:
                            ROUTED_SAMPLES.append(m.value())
            if pending:
                raise DemoError(f"could not read {topic} to its end within 60 s")
            c.unassign()
    finally:
        c.close()
    return counts, dupes


# ------------------------------------------------------------------- report
def table(headers: list[str], rows: list[list], align: str | None = None, indent: int = 4) -> None:
    cols = len(headers)
    align = align or ("l" + "r" * (cols - 1))
    cells = [[str(x) for x in headers]] + [[str(x) for x in r] for r in rows]
    width = [max(len(strip_ansi(r[i])) for r in cells) for i in range(cols)]

    def fmt(r):
        out = []
        for i, x in enumerate(r):
            pad = " " * (width[i] - len(strip_ansi(x)))
            out.append(x + pad if align[i] == "l" else pad + x)
        return " " * indent + "  ".join(out).rstrip()

    print(BOLD + fmt(cells[0]) + RESET)
    print(" " * indent + "  ".join("-" * w for w in width))
    for r in cells[1:]:
        print(fmt(r))


def strip_ansi(s: str) -> str:
    return re.sub(r"\033\[[0-9;]*m", "", s)


def report(stream: Stream, p: Progress, run_prefix: str, topic_counts, topic_dupes) -> bool:
    rows = psql("SELECT kind, coalesce(cpas_cbe, ''), coalesce(flow, ''), coalesce(reason, ''), count(*) "
                f"FROM journal WHERE {this_run(run_prefix)} GROUP BY 1, 2, 3, 4")
    j_routed: collections.Counter = collections.Counter()
    j_dropped: collections.Counter = collections.Counter()
    j_kind: collections.Counter = collections.Counter()
    for kind, cb, flow, reason, n in rows:
        n = int(n)
        j_kind[kind] += n
        if kind == "routed":
            j_routed[(cb, flow)] += n
        elif kind == "dropped":
            j_dropped[(reason, flow)] += n
    ok = True

    def cell(topic: int, journal: int, expected: int) -> str:
        nonlocal ok
        if topic == journal == expected:
            return fmt_n(topic)
        ok = False
        return f"{RED}{fmt_n(topic)}≠{fmt_n(journal)}{RESET}" if topic != journal else \
               f"{YELLOW}{fmt_n(topic)} (exp {fmt_n(expected)}){RESET}"

    print()
    step("Routed to each CPAS: read back from cpas.<cbe>.notifications.v1 (read_committed) and from the journal")
    info(f"{DIM}each cell: topic count when topic = journal = expected from the imported directory; "
         f"otherwise topic≠journal or (exp n){RESET}")
    print()
    headers = ["CPAS", "CBE"] + [SHORT[f] for f in h.FLOWS] + ["total topic", "total journal", "check"]
    trows = []
    for cb, name, _ in CPAS:
        r = [name, cb]
        tt = tj = te = 0
        for f in h.FLOWS:
            t, j, e = topic_counts[(cb, f)], j_routed[(cb, f)], stream.expected_routed[(cb, f)]
            tt, tj, te = tt + t, tj + j, te + e
            r.append(cell(t, j, e))
        good = tt == tj == te and not topic_dupes[cb]
        ok = ok and good
        r += [fmt_n(tt), fmt_n(tj),
              f"{GREEN}ok{RESET}" if good else
              f"{RED}MISMATCH{' dup ' + str(topic_dupes[cb]) if topic_dupes[cb] else ''}{RESET}"]
        trows.append(r)
    tot = ["all three", ""] + [fmt_n(sum(topic_counts[(cb, f)] for cb, _, _ in CPAS)) for f in h.FLOWS]
    tot += [fmt_n(sum(topic_counts.values())), fmt_n(sum(j_routed.values())), ""]
    trows.append(tot)
    table(headers, trows, align="ll" + "r" * 8 + "l")
    other = {k: v for k, v in j_routed.items() if k[0] not in NAME}
    if other:
        ok = False
        print(f"    {RED}routed to a CPAS outside the demo: {dict(other)}{RESET}")

    print()
    step("Dropped (no CPAS covers the person on the effective date), from the journal")
    print()
    reasons = sorted({r for r, _ in j_dropped} | set(stream.expected_dropped))
    drows = []
    for reason in reasons:
        n = sum(v for (r, _), v in j_dropped.items() if r == reason)
        e = stream.expected_dropped[reason]
        drows.append([reason] + [fmt_n(j_dropped[(reason, f)]) for f in h.FLOWS] +
                     [fmt_n(n), fmt_n(e), f"{GREEN}ok{RESET}" if n == e else f"{RED}MISMATCH{RESET}"])
        ok = ok and n == e
    table(["reason"] + [SHORT[f] for f in h.FLOWS] + ["total", "expected", "check"], drows,
          align="l" + "r" * 8 + "l")

    print()
    step("Rejected by relais-ingest (400 in the batch reports), by error code")
    print()
    rrows = [[code, field or "-", fmt_n(n)] for (code, field), n in sorted(p.rejected_by_code.items(),
                                                                         key=lambda kv: (-kv[1], kv[0]))]
    rrows.append(["total", "", fmt_n(p.rejected)])
    table(["code", "field", "lines"], rrows, align="llr")
    exp_invalid = sum(stream.expected_invalid.values())
    info(f"{DIM}sent damaged on purpose: " +
         ", ".join(f"{fmt_n(v)} bad {k}" for k, v in sorted(stream.expected_invalid.items())) + RESET)
    if p.rejected != exp_invalid:
        ok = False
        print(f"    {RED}expected {exp_invalid} rejected lines, got {p.rejected}{RESET}")

    print()
    decided = len(p.accepted_tickets)
    routed_tickets = j_kind["accepted"] - sum(j_dropped.values())
    info(f"{BOLD}run {run_prefix[:13]}{RESET}: sent {fmt_n(p.sent)}, accepted {fmt_n(p.accepted)}, "
         f"rejected {fmt_n(p.rejected)}; router: {fmt_n(j_kind['accepted'])} journaled, "
         f"{fmt_n(routed_tickets)} routed to {fmt_n(j_kind['routed'])} CPAS deliveries, "
         f"{fmt_n(sum(j_dropped.values()))} dropped, {j_kind['duplicate']} duplicates, "
         f"{j_kind['dead_letter']} dead letters")
    if j_kind["accepted"] != decided or j_kind["duplicate"] or j_kind["dead_letter"]:
        ok = False
    return ok


# ---------------------------------------------------------------- clignotants
UPSTREAM_CONTROL = os.environ.get("DEMO_UPSTREAM_CONTROL_URL", "")


SOURCE_CODE_FLOWS = ("notify-person", "notify-family-composition", "personnel-file")
ROUTED_SAMPLES: list[bytes] = []  # RoutedNotification values of this run, filled by read_topics


def routed_pb2():
    """The relais.v1 schemas compiled for Python (protoc), to read the CPAS topics as a CPAS does."""
    out = Path(LOG_DIR) / "pb"
    out.mkdir(parents=True, exist_ok=True)
    proto = Path(__file__).resolve().parents[1] / "proto"
    files = sorted(str(p.relative_to(proto)) for p in proto.rglob("*.proto"))
    subprocess.run(["protoc", f"-I{proto}", f"--python_out={out}", *files], check=True, cwd=proto)
    sys.path.insert(0, str(out))
    from relais.v1 import flows_pb2, records_pb2  # noqa: E402
    return records_pb2, flows_pb2


def show_source_codes() -> bool:
    """What a CPAS application reads on its topic: the National Register's, BCSS's and the NSSO's
    own codes, and the deprecated relais.v1 fields Relais derives from them (docs/domain-model.md)."""
    step("What the CPAS topics carry: the source codes, and the relais.v1 fields Relais derives")
    try:
        pb, flows = routed_pb2()
    except (OSError, subprocess.CalledProcessError, ImportError) as e:
        info(f"{RED}cannot compile the schemas for Python ({e}){RESET}")
        return False
    shown: dict[str, list] = {}
    for value in ROUTED_SAMPLES:
        r = pb.RoutedNotification()
        r.ParseFromString(value)
        n = r.notification
        body = getattr(n, n.WhichOneof("body"))
        event = body.DESCRIPTOR.fields_by_name["event"].enum_type.values_by_number[body.event].name
        if event in shown:
            continue
        if n.HasField("notify_person"):
            b = n.notify_person
            codes = [f"IT {b.nr_information_type or '-'}"]
            if b.HasField("address"):
                a = b.address
                codes.append(f"country {a.country_nr_code}/{a.country_code or '-'}")
                if a.municipality_nis_code:
                    codes.append(f"NIS {a.municipality_nis_code} (today {a.current_municipality_nis_code})")
            if b.civil_status_code:
                codes.append(f"civil status {b.civil_status_code}/"
                             f"{flows.NotifyPerson.CivilStatus.Name(b.civil_status) if b.civil_status else '-'}")
            if b.nationality_nr_code:
                codes.append(f"nationality {b.nationality_nr_code}/{b.nationality_code or '-'}")
            for f in ("partner_ssin", "household_head_ssin", "register_code", "absence_end_date", "birth_date"):
                if getattr(b, f):
                    codes.append(f"{f} {getattr(b, f)}")
            if b.nr_raw_value:
                codes.append(f"raw {b.nr_raw_value[:40]}")
        elif n.HasField("personnel_file"):
            b = n.personnel_file
            employer = f"CBE {b.employer_cbe}" if b.employer_cbe else f"NSSO {b.employer_nsso_number}"
            codes = [employer, f"DIMONA {b.dimona_worker_type}/"
                     f"{flows.PersonnelFile.WorkerType.Name(b.worker_type) if b.worker_type else '-'}",
                     f"article 60 {'yes' if b.cpas_article_60 else 'no'}"]
        else:
            b = n.notify_family_composition
            codes = ["roles " + ", ".join(f"{m.role_code:02d}/"
                                          f"{flows.NotifyFamilyComposition.Role.Name(m.role) if m.role else '-'}"
                                          for m in b.members)]
        shown[event] = [event, "; ".join(codes)]
    table(["event", "codes as the CPAS receives them (source/derived)"], list(shown.values()), align="ll")
    return bool(shown)


def show_clignotants(directory: "Directory", run_prefix: str) -> bool:
    """Alerts raised by the router for this run (journal), stored by relais-api
    (its alert store), and one reaction travelling to the PCSAAAlertReaction
    stand-in through the outbox."""
    step("Clignotants raised by the router for this run (journal), stored by relais-api")
    rows = psql(f"SELECT cpas_cbe, reason, count(*) FROM journal WHERE kind = 'alert' AND {this_run(run_prefix)} "
                "GROUP BY 1, 2")
    raised = {(c, t): int(n) for c, t, n in rows}
    total = sum(raised.values())

    def stored() -> int:
        return int(psql(f"SELECT count(*) FROM alerts WHERE {this_run(run_prefix)}")[0][0])
    deadline = time.time() + 60
    n_stored = stored()
    while n_stored < total and time.time() < deadline:
        time.sleep(0.3)
        n_stored = stored()
    types = sorted({t for _, t in raised})
    names = dict(NAME)
    body = [[t] + [fmt_n(raised.get((c, t), 0)) for c, _, _ in CPAS] for t in types]
    body.append(["all types"] + [fmt_n(sum(v for (cc, _), v in raised.items() if cc == c)) for c, _, _ in CPAS])
    table(["alert type"] + [n for _, n, _ in CPAS], body, align="l" + "r" * len(CPAS))
    ok = n_stored == total
    info(f"{fmt_n(total)} alerts raised, {fmt_n(n_stored)} stored by relais-api "
         f"{'(all)' if ok else RED + '(missing some)' + RESET}")

    # One reaction, end to end.
    bxl = CPAS[0][0]
    # The social worker's application holds a credential of its own CPAS only.
    cpas_auth = h.api_headers(h.issue_token(PG_DSN, f"demo-social-worker-{bxl}", [bxl])["token"])
    r = requests.get(f"{API}/v1/cpas/{bxl}/alerts", params={"status": "OPEN", "type": "EMPLOYMENT_STARTED",
                                                                "limit": 500}, headers=cpas_auth, timeout=10)
    r.raise_for_status()
    # An early signal no SPP IS clignotant was linked to yet (an earlier run may have linked some).
    alerts = [x for x in r.json()["alerts"] if x.get("kind") == "EARLY_SIGNAL" and not x.get("linked_alert_id")]
    if not alerts:
        info("no open EMPLOYMENT_STARTED alert to react to")
        return ok
    early = alerts[0]
    print()
    step(f"An early signal of {names[bxl]}, and the SPP IS clignotant that comes later for the same fact")
    info(f"early signal {early['alert_id']}  {early['type']}  person {early['ssin']}  "
         f"effective {early['effective_date']}  raised {early['raised_at'][:10]}")
    refused = requests.post(f"{API}/v1/cpas/{bxl}/alerts/{early['alert_id']}/reaction",
                            json={"code": "NO_IMPACT"}, headers=cpas_auth, timeout=10)
    info(f"a reaction on it: {refused.status_code} {refused.json().get('code')} (SPP IS does not know it)")
    ok = ok and refused.status_code == 409
    # SPP IS crosses DIMONA with the CPAS's declarations weeks later: the demo dates the clignotant
    # 47 days after the early signal (it cannot wait that long).
    raised = dt.date.fromisoformat(early["raised_at"][:10])
    effective = dt.date.fromisoformat(early["effective_date"][:10].replace("-00", "-01"))
    sppis_id = f"CLG-DEMO-{run_prefix[:8].upper()}"
    body = h.sppis_clignotant(str(uuid.uuid4()), early["ssin"], bxl, sppis_id,
                              (raised + dt.timedelta(days=47)).isoformat(),
                              period=(effective.isoformat(), effective.isoformat()))
    r = requests.post(f"{INGEST}/v1/notifications/sppis-clignotant", json=body, timeout=10)
    if r.status_code != 202:
        info(f"{RED}the SPP IS clignotant was refused: {r.status_code} {r.text[:300]}{RESET}")
        return False
    a, deadline = None, time.time() + 30
    while a is None and time.time() < deadline:
        g = requests.get(f"{API}/v1/cpas/{bxl}/alerts/{early['alert_id']}", headers=cpas_auth, timeout=10).json()
        a = g.get("linked_alert")
        if a is None:
            time.sleep(0.2)
    if a is None:
        info(f"{RED}the SPP IS clignotant {sppis_id} was not linked to the early signal{RESET}")
        return False
    info(f"SPP IS clignotant {sppis_id} ({a['type']}) linked: Relais warned {BOLD}{a['lead_days']} days{RESET} "
         f"earlier (relais_api_clignotant_lead_seconds)")
    ok = ok and (a["lead_days"] or 0) > 0
    print()
    step(f"A social worker of {names[bxl]} reacts to the SPP IS clignotant (POST .../alerts/{{id}}/reaction)")
    info(f"alert {a['alert_id']}  {a['type']}  person {a['ssin']}  due {a['due_date']}  status {a['status']}")
    rr = requests.post(f"{API}/v1/cpas/{bxl}/alerts/{a['alert_id']}/reaction",
                       json={"code": "UNDER_INVESTIGATION", "comment": "Contract checked with the employer."},
                       headers=cpas_auth, timeout=10)
    if rr.status_code not in (200, 201):
        info(f"{RED}reaction refused: {rr.status_code} {rr.text}{RESET}")
        return False
    t0 = time.time()
    status = None
    while time.time() - t0 < 30:
        g = requests.get(f"{API}/v1/cpas/{bxl}/alerts/{a['alert_id']}", headers=cpas_auth, timeout=10).json()
        status = g["status"]
        if status == "SENT":
            break
        time.sleep(0.2)
    reaction = (g.get("reactions") or [{}])[-1]
    info(f"reaction {reaction.get('code')}: alert {status} after {time.time() - t0:.1f} s, "
         f"{reaction.get('attempts', '?')} attempt(s), idempotency key {reaction.get('idempotency_key')}")
    if UPSTREAM_CONTROL:
        rec = requests.get(f"{UPSTREAM_CONTROL}/_received", timeout=5).json()["received"]
        mine = [x for x in rec if x.get("key") == reaction.get("idempotency_key")]
        info(f"the PCSAAAlertReaction stand-in received it {len(mine)} time(s)")
        ok = ok and len(mine) >= 1
    return ok and status == "SENT"


# --------------------------------------------------------------------- main
def main() -> int:
    t_start = time.time()
    run_id = uuid.uuid4().hex[:12]
    run_prefix = f"{run_id[:8]}-{run_id[8:12]}-"
    rng = random.Random(SEED)
    check_services()
    h.ensure_operator_token(PG_DSN)  # relais-api authenticates every call (docs/security.md)
    print(f"{BOLD}Relais demo{RESET}  seed {SEED} (DEMO_SEED)  run {run_prefix[:-1]}  "
          f"{fmt_n(N_NOTIFICATIONS)} notifications (DEMO_NOTIFICATIONS)")
    print()
    directory = Directory(rng)
    nowhere = directory.build(per_cpas=1200, nowhere=1500)
    load_directory(directory)
    nowhere, odd = directory.reconcile(nowhere)
    if odd:
        info(f"{fmt_n(odd)} generated persons left out of the stream: the directory already held other "
             f"lines for them (earlier data)")
    write_example(directory)
    stream = Stream(rng, directory, nowhere, run_id)
    stream.build(N_NOTIFICATIONS)
    print()
    p = send(stream)
    print()
    wait_router(run_prefix, len(p.accepted_tickets))
    topic_counts, topic_dupes = read_topics(stream.tickets, run_prefix)
    ok = report(stream, p, run_prefix, topic_counts, topic_dupes)
    print()
    ok = show_source_codes() and ok
    print()
    ok = show_clignotants(directory, run_prefix) and ok
    print()
    if ok:
        print(f"{GREEN}{BOLD}All counts agree{RESET} (topics = journal = directory expectation). "
              f"Demo done in {time.time() - t_start:.1f} s.")
        return 0
    print(f"{RED}{BOLD}Some counts disagree (marked above).{RESET} Logs: {LOG_DIR}/*.log. "
          f"Demo done in {time.time() - t_start:.1f} s.")
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DemoError as e:
        if TTY:
            sys.stdout.write("\r\033[K")
        print(f"\n{RED}demo failed:{RESET} {e}", file=sys.stderr)
        sys.exit(1)
    except requests.ConnectionError as e:
        print(f"\n{RED}demo failed:{RESET} a service stopped answering ({e.request.url if e.request else e}); "
              f"see {LOG_DIR}/*.log", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
