"""The fault suite's checker (docs/reliability.md). It shares no code with Relais: it reads the
topics as a read_committed consumer (confluent-kafka), the database with psql, and the upstream
stand-in's record, decodes the few protobuf fields it needs with its own wire-format reader, and
computes what should have happened from the run's own log (what the load generator was told,
and when), never from Relais's answers.

Input: a `RunLog` (the world the suite registered, every ticket answered 2xx with its
notification's facts, the directory changes with their times, the reactions answered 201, the
poison records written). Output: a list of violations (empty = the guarantees held) and
figures."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition

INBOUND = "relais.inbound.v1"
DLQ = "relais.dlq.v1"
# A decision of the router must follow a directory change made this long before it (the router's
# directory feed polls every 200 ms; docs/reliability.md "Directory changes").
DIRECTORY_LAG_BOUND_S = 10.0


# --------------------------------------------------------------------- run log
@dataclass
class Ticket:
    ticket: str
    flow: str
    ssin: str
    effective_date: str
    event: str
    acked_at: float           # when the sender got its 200 report (time.time())


@dataclass
class Change:
    """A directory change of a race person: registration at (or closing of) the race CPAS."""
    ssin: str
    kind: str                 # "register" | "unregister"
    started: float            # the API call was sent
    done: float               # the API answered 2xx


@dataclass
class RunLog:
    cpas: list[str]                               # every CPAS of the run
    lines: dict[str, list[tuple]]                 # ssin -> [(cbe, quality, start, end|None)] (stable)
    race_cpas: str = ""
    race_initial: dict[str, bool] = field(default_factory=dict)   # race ssin -> integrated at race_cpas at start
    changes: dict[str, Change] = field(default_factory=dict)      # race ssin -> its one change
    tickets: dict[str, Ticket] = field(default_factory=dict)
    reactions: dict[str, str] = field(default_factory=dict)       # reaction id -> alert id
    clignotants: dict[str, str] = field(default_factory=dict)     # SPP IS id answered 202 -> its CPAS
    poison: list[tuple[int, int]] = field(default_factory=list)   # (partition, offset) in INBOUND
    death_alert_type: str = "PERSON_DECEASED"


# ---------------------------------------------------------------- Kafka reading
def _consumer(kconf: dict) -> Consumer:
    return Consumer({**kconf, "group.id": f"relais-faults-check-{uuid.uuid4()}",
                     "isolation.level": "read_committed", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "enable.partition.eof": True})


def read_all(kconf: dict, topic: str, timeout: float = 180.0) -> list:
    """Every committed record of `topic`, up to each partition's last stable offset."""
    c = _consumer(kconf)
    try:
        md = c.list_topics(topic, timeout=20)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return []
        c.assign([TopicPartition(topic, p, 0) for p in t.partitions])
        pending, out = set(t.partitions), []
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
            raise RuntimeError(f"{topic}: partitions {sorted(pending)} not read to the end in {timeout:.0f}s")
        return out
    finally:
        c.close()


def header(msg, name: str) -> str | None:
    for k, v in msg.headers() or []:
        if k == name:
            return v.decode() if isinstance(v, bytes) else v
    return None


def pb_fields(buf: bytes) -> dict[int, list]:
    """Protobuf wire format → {field number: [values]} (varints as int, length-delimited as
    bytes); enough to read a DeadLetter's source topic, partition and offset."""
    out: dict[int, list] = defaultdict(list)
    i = 0

    def varint() -> int:
        nonlocal i
        shift = v = 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            if b < 0x80:
                return v
            shift += 7

    while i < len(buf):
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            out[num].append(varint())
        elif wt == 2:
            n = varint()
            out[num].append(buf[i:i + n])
            i += n
        elif wt == 1:
            out[num].append(buf[i:i + 8])
            i += 8
        elif wt == 5:
            out[num].append(buf[i:i + 4])
            i += 4
        else:
            raise ValueError(f"wire type {wt}")
    return out


# ------------------------------------------------------------------- database
class Db:
    def __init__(self, dsn: str):
        self.dsn = dsn

    def rows(self, sql: str, retry_s: float = 60.0) -> list[list[str]]:
        """Rows of text fields. The database may be restarting (the suite restarts it): a
        connection failure is retried for up to retry_s."""
        deadline = time.monotonic() + retry_s
        while True:
            r = subprocess.run(["psql", self.dsn, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                               input=sql, capture_output=True, text=True, timeout=300)
            if r.returncode != 2 or time.monotonic() > deadline:   # 2: connection failed
                break
            time.sleep(0.5)
        if r.returncode != 0:
            raise RuntimeError(f"psql: {r.stderr.strip()}")
        return [line.split("\t") for line in r.stdout.splitlines() if line]


def _tickets_table(tickets: list[str]) -> str:
    """The tickets as a one-column table to join with (a literal array: each query is its own
    psql session, so no temporary table)."""
    return "(SELECT unnest(ARRAY[" + ",".join(f"'{t}'" for t in tickets) + "]::text[]) AS ticket)"


# ------------------------------------------------------------------ expectation
def covering(lines: list[tuple], day: str) -> set[str]:
    """The CPAS whose line covers `day` (start and end inclusive)."""
    return {cbe for cbe, _q, s, e in lines if s <= day and (e is None or day <= e)}


@dataclass
class Outcome:
    violations: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)        # tickets (each once) that missed a CPAS
    duplicated: list[str] = field(default_factory=list)  # tickets delivered twice somewhere

    def fail(self, msg: str) -> None:
        self.violations.append(msg)


def check(log: RunLog, kconf: dict, db: Db, upstream_received: list[dict], journal_wait_s: float = 120.0) -> Outcome:
    out = Outcome()
    tickets = log.tickets
    # 1. Durability of every 2xx: the ticket is in relais.inbound.v1.
    inbound = read_all(kconf, INBOUND)
    where_in: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for m in inbound:
        t = header(m, "ticket")
        if t:
            where_in[t].append((m.partition(), m.offset()))
    missing_in = [t for t in tickets if t not in where_in]
    if missing_in:
        out.fail(f"{len(missing_in)} tickets answered 2xx are not in {INBOUND}, e.g. {missing_in[:3]}")
    out.figures["inbound_records"] = len(inbound)
    out.figures["inbound_reposts"] = sum(len(v) - 1 for t, v in where_in.items() if t in tickets)

    # 2. Delivery to CPAS topics, read_committed: exactly once, exactly where it should.
    delivered: dict[str, Counter] = {}
    for cbe in log.cpas:
        delivered[cbe] = Counter(header(m, "ticket") for m in read_all(kconf, f"cpas.{cbe}.notifications.v1"))
    stable_expect: dict[str, set[str]] = {}
    lost = dup = extra = 0
    for t, tk in tickets.items():
        want = covering(log.lines.get(tk.ssin, []), tk.effective_date)
        stable_expect[t] = want
        for cbe in log.cpas:
            n = delivered[cbe].get(t, 0)
            if cbe == log.race_cpas and tk.ssin in log.race_initial:
                if n > 1:
                    dup += 1
                    out.duplicated.append(t)
                    out.fail(f"DUPLICATE: ticket {t} delivered {n} times to race CPAS {cbe}")
                continue
            if cbe in want and n == 0:
                lost += 1
                out.lost.append(t)
                if lost <= 5:
                    out.fail(f"LOST: ticket {t} ({tk.flow}, {tk.ssin}, {tk.effective_date}) never reached {cbe}")
            elif cbe in want and n > 1:
                dup += 1
                out.duplicated.append(t)
                if dup <= 5:
                    out.fail(f"DUPLICATE: ticket {t} reached {cbe} {n} times")
            elif cbe not in want and n > 0:
                extra += 1
                if extra <= 5:
                    out.fail(f"FINALITY: ticket {t} ({tk.ssin}, {tk.effective_date}) reached {cbe}, which has no "
                             "line covering the date")
    known = set(tickets)
    for cbe, cnt in delivered.items():
        strangers = [t for t in cnt if t not in known]
        # Tickets the suite never got a 2xx for may still arrive (the sender gave up after the
        # broker had stored them): allowed, but never twice.
        twice = [t for t in strangers if cnt[t] > 1]
        if twice:
            out.fail(f"{cbe}: {len(twice)} unacknowledged tickets delivered more than once")
    out.figures.update(lost=lost, duplicated=dup, misrouted=extra,
                       delivered=sum(sum(c.values()) for c in delivered.values()))

    # 3. The journal agrees with the topics (wait for the journal sink to catch up first).
    tl = list(tickets)
    deadline = time.monotonic() + journal_wait_s
    while True:
        rows = []
        for i in range(0, len(tl), 20000):
            rows += db.rows(
                "SELECT j.ticket, j.kind, coalesce(j.cpas_cbe, ''), extract(epoch FROM j.at) FROM journal j "
                f"JOIN {_tickets_table(tl[i:i + 20000])} x USING (ticket) "
                "WHERE j.kind IN ('accepted', 'routed', 'dropped')")
        decided = {r[0] for r in rows if r[1] in ("routed", "dropped")}
        if len(decided) >= len(tickets) or time.monotonic() > deadline:
            break
        time.sleep(2)
    acc = Counter(r[0] for r in rows if r[1] == "accepted")
    routed = Counter((r[0], r[2]) for r in rows if r[1] == "routed")
    decided_at: dict[str, float] = {}
    for r in rows:
        if r[1] == "accepted":
            decided_at[r[0]] = float(r[3])
    no_acc = [t for t in tickets if acc.get(t, 0) == 0]
    if no_acc:
        out.fail(f"journal: {len(no_acc)} tickets without an accepted row, e.g. {no_acc[:3]}")
    many = [t for t, n in acc.items() if n > 1]
    if many:
        out.fail(f"journal: {len(many)} tickets accepted more than once, e.g. {many[:3]}")
    topic_pairs = {(t, cbe) for cbe, cnt in delivered.items() for t in cnt if t in known}
    journal_pairs = set(routed)
    if topic_pairs != journal_pairs:
        a, b = sorted(topic_pairs - journal_pairs)[:3], sorted(journal_pairs - topic_pairs)[:3]
        out.fail(f"journal disagrees with the topics: {len(topic_pairs - journal_pairs)} deliveries not journaled "
                 f"(e.g. {a}), {len(journal_pairs - topic_pairs)} journaled routings not delivered (e.g. {b})")
    if any(n > 1 for n in routed.values()):
        out.fail("journal: a (ticket, CPAS) routed more than once")
    out.figures["journal_rows"] = len(rows)

    # 4. Directory changes racing with notifications of the same person.
    race_checked = 0
    per_person: dict[str, list[tuple[float, bool, str]]] = defaultdict(list)
    for t, tk in tickets.items():
        if tk.ssin not in log.race_initial or t not in decided_at:
            continue
        got = delivered.get(log.race_cpas, Counter()).get(t, 0) > 0
        if tk.effective_date < "2024-01-01":
            continue   # before the unregistration's end date: the race does not change the answer
        per_person[tk.ssin].append((decided_at[t], got, t))
    for ssin, evs in per_person.items():
        before = log.race_initial[ssin]
        ch = log.changes.get(ssin)
        after = (ch.kind == "register") if ch else before
        for at, got, t in sorted(evs):
            if ch is None or at < ch.started:
                ok = got == before
            elif at > ch.done + DIRECTORY_LAG_BOUND_S:
                ok = got == after
            else:
                ok = True
            race_checked += 1
            if not ok:
                out.fail(f"RACE: ticket {t} of {ssin} decided {at - (ch.done if ch else 0):+.1f}s after the "
                         f"{ch.kind if ch else 'no'} change: delivered={got}, expected {not got}")
        # once the new state is seen, never the old one again (per person, in decision order)
        if ch:
            seq = [got for at, got, t in sorted(evs) if at >= ch.started]
            flips = sum(1 for a, b in zip(seq, seq[1:]) if a != b)
            if flips > 1:
                out.fail(f"RACE: {ssin}'s race decisions flip {flips} times after its change: {seq[:20]}")
    out.figures["race_decisions_checked"] = race_checked

    # 5. Alerts: every alert id once on its topic and once in the database; every DEATH routed
    # to a CPAS raised its alert there.
    # An SPP IS clignotant sent again under a new ticket is raised again under the same alert id
    # (its consumers and the store keep one): for those, once per (alert id, ticket).
    alert_ids: Counter = Counter()
    clignotant_raised: Counter = Counter()
    alert_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    alert_pairs = set()
    for cbe in log.cpas:
        for m in read_all(kconf, f"cpas.{cbe}.alerts.v1"):
            aid, t, typ = header(m, "alert-id"), header(m, "ticket"), header(m, "alert-type")
            if header(m, "alert-kind") == "SPPIS_CLIGNOTANT":
                clignotant_raised[(aid, t)] += 1
                alert_ids[aid] = 1
            else:
                alert_ids[aid] += 1
            alert_of[(t, cbe)].add(typ)
            alert_pairs.add((t, cbe))
    twice = [a for a, n in alert_ids.items() if n > 1] + [a for (a, t), n in clignotant_raised.items() if n > 1]
    if twice:
        out.fail(f"alerts: {len(twice)} alert ids raised more than once, e.g. {twice[:3]}")
    for (t, cbe) in topic_pairs:
        tk = tickets[t]
        if tk.flow == "notify-person" and tk.event == "DEATH" and log.death_alert_type not in alert_of.get((t, cbe), set()):
            out.fail(f"alerts: DEATH ticket {t} routed to {cbe} raised no {log.death_alert_type}")
    stray = [p for p in alert_pairs if p[0] in known and p not in topic_pairs]
    if stray:
        out.fail(f"alerts: {len(stray)} alerts for a (ticket, CPAS) that was not delivered, e.g. {stray[:3]}")
    ids = list(alert_ids)
    in_db = set()
    for i in range(0, len(ids), 20000):
        arr = ",".join(f"'{a}'" for a in ids[i:i + 20000])
        in_db |= {r[0] for r in db.rows(f"SELECT alert_id::text FROM alerts WHERE alert_id = ANY(ARRAY[{arr}]::uuid[])")}
    if set(ids) - in_db:
        out.fail(f"alerts: {len(set(ids) - in_db)} raised alerts not stored by relais-api")
    out.figures["alerts"] = len(ids)

    # 6. SPP IS clignotants: each one answered 202 is stored once, for its CPAS, and raised once on
    # that CPAS's alerts topic, however many times SPP IS sent it.
    if log.clignotants:
        arr = ",".join(f"'{c}'" for c in log.clignotants)
        got = db.rows(f"SELECT sppis_id, cpas_cbe, alert_id::text FROM alerts WHERE sppis_id IN ({arr})")
        per = Counter(r[0] for r in got)
        missing = [c for c in log.clignotants if per.get(c, 0) == 0]
        if missing:
            out.fail(f"clignotants: {len(missing)} accepted but not stored, e.g. {missing[:3]}")
        many = [c for c, n in per.items() if n > 1]
        if many:
            out.fail(f"clignotants: {len(many)} stored more than once, e.g. {many[:3]}")
        wrong = [r for r in got if r[1] != log.clignotants[r[0]]]
        if wrong:
            out.fail(f"clignotants: {len(wrong)} stored for another CPAS, e.g. {wrong[:3]}")
        not_raised = [r[0] for r in got if r[2] not in alert_ids]
        if not_raised:
            out.fail(f"clignotants: {len(not_raised)} stored but never raised on their alerts topic, e.g. {not_raised[:3]}")
        out.figures["clignotants"] = len(log.clignotants)

    # 6. Reactions: each answered 201 is SENT and reached the upstream at least once.
    if log.reactions:
        arr = ",".join(f"'{r}'" for r in log.reactions)
        st = dict((r[0], r[1]) for r in db.rows(
            f"SELECT id::text, delivery_status FROM reactions WHERE id = ANY(ARRAY[{arr}]::uuid[])"))
        not_sent = [r for r in log.reactions if st.get(r) != "SENT"]
        if not_sent:
            out.fail(f"reactions: {len(not_sent)} not SENT, e.g. {[(r, st.get(r)) for r in not_sent[:3]]}")
        keys = Counter(x["key"] for x in upstream_received)
        never = [r for r in log.reactions if keys.get(r, 0) == 0]
        if never:
            out.fail(f"reactions: {len(never)} never reached the upstream, e.g. {never[:3]}")
        out.figures["reactions"] = len(log.reactions)
        out.figures["reactions_redelivered"] = sum(1 for r in log.reactions if keys.get(r, 0) > 1)

    # 7. Poison records: each in the dead-letter topic; its partition kept moving past it.
    if log.poison:
        dead = set()
        for m in read_all(kconf, DLQ):
            f = pb_fields(m.value() or b"")
            if f.get(1, [b""])[0] == INBOUND.encode():
                dead.add((f.get(2, [0])[0], f.get(3, [0])[0]))
        for p, o in log.poison:
            if (p, o) not in dead:
                out.fail(f"poison record {INBOUND}[{p}]@{o} is not in {DLQ}")
            later = [t for t, locs in where_in.items() if t in decided_at and any(pp == p and oo > o for pp, oo in locs)]
            if not later:
                out.fail(f"partition {p} did not move past the poison record at offset {o}")
        out.figures["poison"] = len(log.poison)
    return out

