"""The journal's cost in PostgreSQL as a part of `make bench` (run.py --only journal; issue 19:
journal cost in PostgreSQL CPU per notification, target <= 10 us, nothing lost).

What relais-router's journal sink does for every batch of relais.journal.v1 (libs/router
journal_sink.cpp), done here by psql against the bench stack's PostgreSQL with the same rows:
COPY the entries into a temporary table, `INSERT ... SELECT ... ON CONFLICT DO NOTHING` into
the journal, commit; batches of 5,000 entries (the sink's batch_max). The entries are those of
the end-to-end mix: per notification one `accepted`, then one `routed` (90%) or `dropped`
(10%), and an `alert` for 24% of the routed (the share the default rules raised in the peer
benchmark). Each schema variant gets its own copy of the journal table (`LIKE journal
INCLUDING ALL`, then the variant's change) filled first with `prefill` notifications (the
indexes' size matters), then timed.

CPU = the psql session's backend (utime + stime read from /proc by psql itself, before and
after) + every other PostgreSQL process's (WAL writer, checkpointer, background writer) over
the same interval, per notification. Variants, measured one after the other in one run:
- `before`: the journal table before migration 0017, with `journal_ticket` (ticket), which the
  unique key (ticket, kind, cpas_cbe, source, alert_id) already served (its leading column);
- `now`: the journal table as migration 0017 left it (one row per entry, 5 indexes);
- `keys_only`: the floor of that one-row-per-entry design: the primary key and the unique key
  (idempotence) only, no index for the auditors' queries by SSIN, CPAS or kind;
- `one_row`: migration 0019's `journal_rows`: one row per routing outcome
  (the acceptance and the alerts folded into it, as the sink folds the entries of one journal
  record), the auditors' indexes kept, `(kind, at)` for the rare kinds only,
  no primary key on `id` (no reader looks a row up by id);
- `one_row_unique_only`, `one_row_no_index`: the cost model of the one-row design, its unique key
  alone (idempotence) and no index at all (heap, WAL, COPY, INSERT ... SELECT);
- `marks`: migration 0020, `journal_rows` as migrations/ leave it now: no unique key, the
  idempotence kept by exactly-once offset bookkeeping (each batch: the partition's mark inserted
  if missing and locked, the rows copied straight into the table, the mark moved), hash indexes
  on the ticket and the SSIN; `marks_btree`, `marks_hash_ticket`, `marks_no_ticket`: the same
  bookkeeping with B-trees on both, a hash on the ticket only, no index on the ticket;
  `marks_seq_cache`: `marks` with ids from a sequence caching 1,000 values per session;
  `marks_heap_only`, `marks_no_ssin`, `marks_no_check`, `marks_uuid`: the bookkeeping with no
  index at all, without the SSIN's index, without the CHECK constraints, with the ticket as uuid;
  `marks_sorted`: `marks` with each batch's rows in (CPAS, time) order, as the sink copies them
  since 7 December 2026 (`copy_order()`); `marks_binary`: the same rows in COPY's binary format,
  as the sink sends them since 7 December 2026 (`pg::CopyBinary`: no text to parse).
Each notification is routed 1 ms after the one before (until 7 December 2026 they all had the
same time, which let the (CPAS, time) index deduplicate its keys: 14 instead of 129 MiB at two
million rows, and a lower cost per row than a real journal's).
A variant named twice in BENCH_JOURNAL_VARIANTS is measured twice (`marks#2`): this machine's
spread between runs of one variant is larger than some of the differences measured.
The old-shape tables are created from their DDL here (after 0019 `journal` is a view).
Rows kept: every variant checks that its table, read as entries (the `journal` view's
unfolding for the one-row variants), holds every entry written.
The source of an entry is the inbound record's "topic/partition/offset", as the router writes it.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import struct
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

BATCH = 5000
FLOWS = ["notify-person", "personnel-file", "notify-family-composition", "pension-register-mutation",
         "ecarmed-calculation", "self-employed-career"]


def _notifications(rng: random.Random, n: int, cbes: list[str], first: int = 0) -> list[dict]:
    """n notifications of the end-to-end mix, each with its routing outcome and alert, routed one
    millisecond apart from the `first`-th (a journal's times grow: each row's (CPAS, time) key is
    a new one at the end of its CPAS's range; until 7 December 2026 every row had the same time,
    which let the B-tree deduplicate them into a few pages)."""
    out = []
    t0 = dt.datetime(2026, 12, 5, 10, tzinfo=dt.timezone.utc)
    for i in range(first, first + n):
        at = (t0 + dt.timedelta(milliseconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        x = {"at": at, "ticket": str(uuid.UUID(int=rng.getrandbits(128))),
             "ssin": "%011d" % rng.randrange(10**10, 10**11), "flow": rng.choice(FLOWS),
             "source": f"relais.inbound.v1/{rng.randrange(6)}/{10_000_000 + i}"}
        if rng.random() < 0.9:
            x["cpas"], x["quality"] = rng.choice(cbes), str(rng.randrange(1, 10))
            if rng.random() < 0.24:
                x["alert"] = ("EMPLOYMENT_STARTED", "%032x" % rng.getrandbits(128))
        out.append(x)
    return out


def _row(x: dict, kind: str, cpas="\\N", quality="\\N", reason="\\N", alert_id="\\N") -> list[str]:
    return [x["at"], kind, x["ticket"], x["ssin"], x["flow"], "EVENT", "2026-11-01", cpas, quality, reason,
            x["at"], x["source"], alert_id]


def _rows(ns: list[dict]) -> list[str]:
    """COPY text rows (the sink's columns before 0019): one per journal entry."""
    out = []
    for x in ns:
        out.append("\t".join(_row(x, "accepted")))
        if "cpas" in x:
            out.append("\t".join(_row(x, "routed", x["cpas"], x["quality"])))
            if "alert" in x:
                out.append("\t".join(_row(x, "alert", x["cpas"], x["quality"], *x["alert"])))
        else:
            out.append("\t".join(_row(x, "dropped", reason="not_integrated")))
    return out


def _folded_rows(ns: list[dict]) -> list[str]:
    """COPY text rows (the sink's columns after 0019): one per routing outcome."""
    out = []
    for x in ns:
        if "cpas" in x:
            r = _row(x, "routed", x["cpas"], x["quality"])
            alerts = (f'{{"{x["alert"][1]}"}}', f'{{"{x["alert"][0]}"}}') if "alert" in x else ("\\N", "\\N")
        else:
            r, alerts = _row(x, "dropped", reason="not_integrated"), ("\\N", "\\N")
        out.append("\t".join(r + ["t", *alerts]))
    return out


COLS = ("at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, quality_code, reason, "
        "accepted_at, source, alert_id")
FOLDED_COLS = COLS + ", accepted, alert_ids, alert_types"


# The sink's filter after 0019 (journal_sink.cpp kNotFolded): a lone acceptance or alert that an
# outcome row already carries is skipped; a routed or dropped row passes on its first test.
NOT_FOLDED = ("WHERE i.kind NOT IN ('accepted', 'alert') OR NOT EXISTS (SELECT 1 FROM {t} j "
              "WHERE j.ticket = i.ticket AND j.kind IN ('routed', 'dropped') AND j.source = i.source "
              "AND CASE WHEN i.kind = 'accepted' THEN j.accepted "
              "ELSE j.cpas_cbe = i.cpas_cbe AND i.alert_id = ANY (j.alert_ids) END)")


def _copy_line(table: str, cols: str, f: Path) -> str:
    return f"\\copy {table} ({cols}) FROM '{f}'" + (" (FORMAT binary)" if f.suffix == ".bin" else "")


def _marks_transaction(table: str, cols: str, f: Path) -> list[str]:
    """One batch under exactly-once bookkeeping instead of a unique key: the partition's next
    offset read under a row lock, the rows copied straight into the table, the offset moved on."""
    return ["BEGIN;",
            f"INSERT INTO {table}_offsets SELECT 'relais.journal.v1', p, -1 FROM unnest('{{0}}'::integer[]) p "
            "ON CONFLICT DO NOTHING;",
            f"SELECT next_offset FROM {table}_offsets WHERE topic = 'relais.journal.v1' "
            "AND partition = 0 FOR UPDATE \\g /dev/null",
            _copy_line(table, cols, f),
            f"UPDATE {table}_offsets SET next_offset = next_offset + 5 "
            "WHERE topic = 'relais.journal.v1' AND partition = 0;",
            "COMMIT;"]


def _script(table: str, cols: str, files: list[Path], stat_before: Path, stat_after: Path,
            temp_like: str, where: str = "") -> str:
    lines = ["\\set ON_ERROR_STOP 1", "SELECT pg_backend_pid() AS pid \\gset", "\\setenv BPID :pid",
             f"\\! cat /proc/$BPID/stat > {stat_before}"]
    for f in files:
        if temp_like == OFFSETS:
            lines += _marks_transaction(table, cols, f)
            continue
        lines += ["BEGIN;",
                  f"{temp_like};",
                  f"\\copy j_in ({cols}) FROM '{f}'",
                  f"INSERT INTO {table} ({cols}) SELECT {cols} FROM j_in i {where.format(t=table)} "
                  "ON CONFLICT DO NOTHING;",
                  "COMMIT;"]
    lines.append(f"\\! cat /proc/$BPID/stat > {stat_after}")
    return "\n".join(lines) + "\n"


def _ticks(stat_line: str, sys_only: bool = False) -> int:
    """utime + stime (or stime alone) of one /proc/<pid>/stat line, in clock ticks."""
    f = stat_line.rsplit(")", 1)[1].split()
    return int(f[12]) if sys_only else int(f[11]) + int(f[12])


def _stat_ticks(p: Path, sys_only: bool = False) -> int:
    return _ticks(p.read_text(), sys_only)


def _psql(dsn: str, sql: str) -> str:
    return subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-Atqc", sql], check=True,
                          capture_output=True, text=True).stdout


def _cpas_then_time(row: str) -> tuple[str, str]:
    f = row.split("\t", 8)
    return f[7], f[0]


PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def _binary_copy(rows: list[str]) -> bytes:
    """Folded COPY text rows (FOLDED_COLS) in COPY's binary format, as the sink sends them since
    7 December 2026 (pg::CopyBinary): text fields as their bytes, the times as microseconds since
    2000-01-01, the quality as int4, `accepted` as a byte, the alert arrays as text[]."""
    out = [b"PGCOPY\n\xff\r\n\x00", struct.pack(">ii", 0, 0)]
    null = struct.pack(">i", -1)

    def text(v: str) -> bytes:
        b = v.encode()
        return struct.pack(">i", len(b)) + b

    def time_(v: str) -> bytes:
        t = dt.datetime.strptime(v, "%Y-%m-%d %H:%M:%S.%f+00").replace(tzinfo=dt.timezone.utc)
        d = t - PG_EPOCH
        return struct.pack(">iq", 8, (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds)

    def array(v: str) -> bytes:  # '{"a","b"}' of the bench's rows (no quote or comma inside)
        els = [e.strip('"').encode() for e in v[1:-1].split(",")]
        body = struct.pack(">iiiii", 1, 0, 25, len(els), 1) + b"".join(struct.pack(">i", len(e)) + e for e in els)
        return struct.pack(">i", len(body)) + body

    for r in rows:
        f = r.split("\t")
        out.append(struct.pack(">h", len(f)))
        for k, v in enumerate(f):
            if v == "\\N":
                out.append(null)
            elif k in (0, 10):
                out.append(time_(v))
            elif k == 8:
                out.append(struct.pack(">ii", 4, int(v)))
            elif k == 13:
                out.append(struct.pack(">ib", 1, v == "t"))
            elif k in (14, 15):
                out.append(array(v))
            else:
                out.append(text(v))
    out.append(struct.pack(">h", -1))
    return b"".join(out)


def _write_batches(tmp: Path, name: str, rows: list[str], folded: bool = False,
                   by_cpas: bool = False, binary: bool = False) -> list[Path]:
    """Batches of BATCH entries (a folded row stands for 2.22 entries on average); by_cpas: each
    batch's rows in (CPAS, time) order, as the sink copies them since 7 December 2026; binary: in
    COPY's binary format (folded rows only), as the sink sends them since 7 December 2026."""
    files = []
    step = round(BATCH / 2.22) if folded else BATCH
    for i in range(0, len(rows), step):
        batch = sorted(rows[i:i + step], key=_cpas_then_time) if by_cpas else rows[i:i + step]
        if binary:
            p = tmp / f"{name}-{i // step:05d}.bin"
            p.write_bytes(_binary_copy(batch))
        else:
            p = tmp / f"{name}-{i // step:05d}.tsv"
            p.write_text("\n".join(batch) + "\n")
        files.append(p)
    return files


# The journal table as migrations 0002, 0003 and 0017 left it (one row per entry).
OLD_TABLE = """CREATE TABLE {t} (
  id bigserial PRIMARY KEY, at timestamptz NOT NULL,
  kind text NOT NULL CHECK (kind IN ('accepted', 'routed', 'dropped', 'duplicate', 'dead_letter', 'alert')),
  ticket text NOT NULL, ssin char(11), flow text, event text, effective_date date, cpas_cbe char(10),
  quality_code integer, reason text, accepted_at timestamptz, source text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(), alert_id text,
  UNIQUE NULLS NOT DISTINCT (ticket, kind, cpas_cbe, source, alert_id));
CREATE INDEX ON {t} (ssin); CREATE INDEX ON {t} (cpas_cbe, at); CREATE INDEX ON {t} (kind, at);"""
# The sink before 0019: its temporary table LIKE journal INCLUDING DEFAULTS (nextval per row).
OLD_TEMP = "CREATE TEMP TABLE IF NOT EXISTS j_in (LIKE {t} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
ONE_ROW_TABLE = "CREATE TABLE {t} (LIKE journal_rows INCLUDING ALL)"
ONE_ROW_BARE = "CREATE TABLE {t} (LIKE journal_rows INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
RARE_KIND = "CREATE INDEX ON {t} (kind, at) WHERE kind IN ('duplicate', 'dead_letter')"
ONE_ROW_UNIQUE = "CREATE UNIQUE INDEX ON {t} (ticket, kind, cpas_cbe, source, alert_id) NULLS NOT DISTINCT"
# The sink after 0019: the columns only (no default, no nextval per row in the temporary table).
ONE_ROW_TEMP = ("CREATE TEMP TABLE IF NOT EXISTS j_in ON COMMIT DELETE ROWS AS SELECT " + FOLDED_COLS
                + " FROM {t} WITH NO DATA")
# No temporary table: the rows go straight into the journal table, under offset bookkeeping.
OFFSETS = "offsets"
OFFSETS_TABLE = ("CREATE TABLE {t}_offsets (topic text, partition integer, next_offset bigint NOT NULL, "
                 "PRIMARY KEY (topic, partition)); INSERT INTO {t}_offsets VALUES ('relais.journal.v1', 0, 0)")
# The journal view's unfolding (migration 0019), as a count of entries.
ENTRIES = {"old": "SELECT count(*) FROM {t}",
           "folded": "SELECT count(*) + count(*) FILTER (WHERE accepted) "
                     "+ coalesce(sum(cardinality(alert_ids)), 0) FROM {t}"}

VARIANTS = {
    # name: (table DDL, extra changes, temporary table, folded rows?)
    "before": (OLD_TABLE, ["CREATE INDEX ON {t} (ticket)"], OLD_TEMP, False),  # before 0017: journal_ticket
    "now": (OLD_TABLE, [], OLD_TEMP, False),
    # The floor of the one-row-per-entry design: the primary key and the unique key only.
    "keys_only": (OLD_TABLE, ["DROP INDEX IF EXISTS {t}_ssin_idx", "DROP INDEX IF EXISTS {t}_cpas_cbe_at_idx",
                              "DROP INDEX IF EXISTS {t}_kind_at_idx"], OLD_TEMP, False),
    # Migration 0019's table: the unique key (idempotence), SSIN and (CPAS, time) B-trees, the rare
    # kinds' partial index; the sink's COPY into a temporary table and INSERT ... ON CONFLICT.
    "one_row": (ONE_ROW_BARE, [ONE_ROW_UNIQUE, "CREATE INDEX ON {t} (ssin)", "CREATE INDEX ON {t} (cpas_cbe, at)",
                               RARE_KIND], ONE_ROW_TEMP, True),
    # What each index costs in the one-row design (the cost model): the unique key alone, then
    # no index at all (heap, WAL, COPY and INSERT ... SELECT only).
    "one_row_unique_only": (ONE_ROW_BARE, [ONE_ROW_UNIQUE], ONE_ROW_TEMP, True),
    "one_row_no_index": (ONE_ROW_BARE, [], ONE_ROW_TEMP, True),
    # Migration 0020, the current schema (`journal_rows` as migrations/ leave it): idempotence by
    # exactly-once offset bookkeeping instead of the unique key, COPY straight into the table, hash
    # indexes on the ticket and the SSIN (equality lookups of random keys).
    "marks": (ONE_ROW_TABLE, [OFFSETS_TABLE], OFFSETS, True),
    # The same with B-trees on the ticket and the SSIN, or only the ticket's as a hash, or no
    # index on the ticket (the cost model of 0020).
    "marks_btree": (ONE_ROW_BARE, [OFFSETS_TABLE, "CREATE INDEX ON {t} (ticket)", "CREATE INDEX ON {t} (ssin)",
                                   "CREATE INDEX ON {t} (cpas_cbe, at)", RARE_KIND], OFFSETS, True),
    "marks_hash_ticket": (ONE_ROW_BARE, [OFFSETS_TABLE, "CREATE INDEX ON {t} USING hash (ticket)",
                                         "CREATE INDEX ON {t} (ssin)", "CREATE INDEX ON {t} (cpas_cbe, at)",
                                         RARE_KIND], OFFSETS, True),
    # The same with the row's id drawn from a sequence that caches 1,000 values per session
    # (no shared sequence page touched per row).
    "marks_seq_cache": (ONE_ROW_TABLE, [OFFSETS_TABLE, "CREATE SEQUENCE {t}_seq CACHE 1000",
                                        "ALTER TABLE {t} ALTER id SET DEFAULT nextval('{t}_seq')"], OFFSETS, True),
    "marks_no_ticket": (ONE_ROW_BARE, [OFFSETS_TABLE, "CREATE INDEX ON {t} USING hash (ssin)",
                                       "CREATE INDEX ON {t} (cpas_cbe, at)", RARE_KIND], OFFSETS, True),
    # Exploratory (7 December 2026): the bookkeeping with no index at all (the floor), without
    # the SSIN's index, without the CHECK constraints, and with the ticket as a uuid column.
    "marks_heap_only": (ONE_ROW_BARE, [OFFSETS_TABLE], OFFSETS, True),
    "marks_no_ssin": (ONE_ROW_BARE, [OFFSETS_TABLE, "CREATE INDEX ON {t} USING hash (ticket)",
                                     "CREATE INDEX ON {t} (cpas_cbe, at)", RARE_KIND], OFFSETS, True),
    "marks_no_check": (ONE_ROW_TABLE, [OFFSETS_TABLE, "ALTER TABLE {t} DROP CONSTRAINT journal_effective_date_shape",
                                       "ALTER TABLE {t} DROP CONSTRAINT journal_kind_check",
                                       "ALTER TABLE {t} DROP CONSTRAINT journal_rows_folded_check"], OFFSETS, True),
    # `marks` with each batch's rows copied in (CPAS, time) order.
    "marks_sorted": (ONE_ROW_TABLE, [OFFSETS_TABLE], OFFSETS, True),
    # `marks_sorted` with the rows in COPY's binary format (the sink since 7 December 2026).
    "marks_binary": (ONE_ROW_TABLE, [OFFSETS_TABLE], OFFSETS, True),
    "marks_uuid": (ONE_ROW_TABLE, [OFFSETS_TABLE, "ALTER TABLE {t} ALTER ticket TYPE uuid USING ticket::uuid"],
                   OFFSETS, True),
}


BY_CPAS = {"marks_sorted", "marks_binary"}
BINARY = {"marks_binary"}
# The WAL's position (before the writes), then the WAL written since it (after), with the
# checkpoints begun so far.
CHECKPOINTS = "checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
WAL_BEFORE = "SELECT pg_current_wal_lsn(), " + CHECKPOINTS
WAL_AFTER = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn}')::bigint, " + CHECKPOINTS
PG_SETTINGS_SHOWN = ("shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression")


CBES = ["%010d" % (200000000 + i) for i in range(565)]  # the 565 CPAS


def _create_table(dsn: str, name: str, table: str) -> None:
    ddl, changes, _, _ = VARIANTS[name]
    _psql(dsn, f"DROP TABLE IF EXISTS {table}; DROP TABLE IF EXISTS {table}_offsets; "
          f"DROP SEQUENCE IF EXISTS {table}_seq; " + ddl.format(t=table))
    for c in changes:
        _psql(dsn, c.format(t=table))


def _drop_table(dsn: str, table: str) -> None:
    _psql(dsn, f"DROP TABLE {table}; DROP TABLE IF EXISTS {table}_offsets; DROP SEQUENCE IF EXISTS {table}_seq")


def _paired_script(tables: dict[str, str], files: dict[str, list[Path]], stats: dict[str, Path]) -> str:
    """Batch i of each variant one after the other, A then B for even i, B then A for odd i, each
    in its transaction under the offset bookkeeping; the backend's /proc stat appended to the
    variant's file before BEGIN and after COMMIT."""
    names = list(tables)
    lines = ["\\set ON_ERROR_STOP 1", "SELECT pg_backend_pid() AS pid \\gset", "\\setenv BPID :pid"]
    for i in range(len(files[names[0]])):
        for v in (names if i % 2 == 0 else names[::-1]):
            t, f = tables[v], files[v][i]
            lines += [f"\\! cat /proc/$BPID/stat >> {stats[v]}", *_marks_transaction(t, FOLDED_COLS, f),
                      f"\\! cat /proc/$BPID/stat >> {stats[v]}"]
    return "\n".join(lines) + "\n"


def run_paired(dsn: str, n: int, prefill: int, pair: list[str], seed: int = 19) -> dict:
    """Two variants of the offset-marks design measured against each other in one session: the
    same notifications for both (each its own table, filled first with `prefill`), their batches
    interleaved (A B, B A, ...) so that whatever else the machine does weighs on both alike. This
    machine's spread between separate runs of one variant (12.6 to 19.0 us at 1M in one run) is
    larger than some differences worth measuring; the ratio of a paired run is not. Only the
    backend's CPU is counted (the background processes' cannot be told apart per variant); the
    two tables together hold twice the rows, so absolute figures are above a single variant's."""
    if len(pair) != 2 or any(VARIANTS[v][2] != OFFSETS for v in pair):
        raise ValueError("BENCH_JOURNAL_PAIRED: two variants of the offset-marks design")
    rng = random.Random(seed)
    tck = os.sysconf("SC_CLK_TCK")
    pre_rows = _folded_rows(_notifications(rng, prefill, CBES))
    timed_rows = _folded_rows(_notifications(rng, n, CBES, first=prefill))
    res: dict = {"notifications": n, "prefill_notifications": prefill, "pair": pair}
    with tempfile.TemporaryDirectory(prefix="relais-journal-paired-") as d:
        tmp = Path(d)
        tables, files, stats = {}, {}, {}
        for v in pair:
            t = tables[v] = f"bench_journal_paired_{v}"
            _create_table(dsn, v, t)
            by_cpas, binary = v in BY_CPAS, v in BINARY
            subprocess.run(["psql", dsn, "-q", "-f", "-"], check=True, capture_output=True, text=True,
                           input=_script(t, FOLDED_COLS, _write_batches(tmp, v + "-pre", pre_rows, True, by_cpas, binary),
                                         tmp / f"{v}.pre0", tmp / f"{v}.pre1", OFFSETS))
            files[v] = _write_batches(tmp, v, timed_rows, True, by_cpas, binary)
            stats[v] = tmp / f"{v}.stats"
        _psql(dsn, "CHECKPOINT")
        t0 = time.monotonic()
        subprocess.run(["psql", dsn, "-q", "-f", "-"], check=True, capture_output=True, text=True,
                       input=_paired_script(tables, files, stats))
        res["wall_s"] = round(time.monotonic() - t0, 2)
        res["variants"] = {}
        for v in pair:
            ticks = [_ticks(r) for r in stats[v].read_text().splitlines()]
            per_batch = [b - a for a, b in zip(ticks[0::2], ticks[1::2])]
            half = len(per_batch) // 2
            us = lambda k, m: round(k / tck * 1e6 / m, 2)  # noqa: E731
            rows = int(_psql(dsn, f"SELECT count(*) FROM {tables[v]}").strip())
            res["variants"][v] = {
                "backend_us_per_notification": us(sum(per_batch), n),
                "halves_us_per_notification": [us(sum(per_batch[:half]), n / 2), us(sum(per_batch[half:]), n / 2)],
                "batches": len(per_batch), "rows": rows,
                "nothing_lost": rows == len(pre_rows) + len(timed_rows),
            }
            _drop_table(dsn, tables[v])
    a, b = (res["variants"][v]["backend_us_per_notification"] for v in pair)
    res["ratio"] = round(b / a, 3) if a else None
    return res


def run(dsn: str, pg_snapshot, n: int, prefill: int, seed: int = 19, only: list[str] | None = None) -> dict:
    """pg_snapshot() -> {pid: CPU ticks} of every PostgreSQL process (run.py's)."""
    rng = random.Random(seed)
    tck = os.sysconf("SC_CLK_TCK")
    res: dict = {"notifications": n, "prefill_notifications": prefill, "batch_entries": BATCH, "variants": {}}
    # the server's sizing: what a row's cost depends on beyond the schema (docs/operations.md,
    # "PostgreSQL for the journal"; the bench stack takes RELAIS_PG_SETTINGS)
    res["pg_settings"] = {k: _psql(dsn, f"SHOW {k}").strip() for k in PG_SETTINGS_SHOWN}
    with tempfile.TemporaryDirectory(prefix="relais-journal-bench-") as d:
        tmp = Path(d)
        pre_n, timed_n = _notifications(rng, prefill, CBES), _notifications(rng, n, CBES, first=prefill)
        pre, timed = _rows(pre_n), _rows(timed_n)
        pre_f, timed_f = _folded_rows(pre_n), _folded_rows(timed_n)
        res["entries_per_notification"] = round(len(timed) / n, 3)
        res["rows_per_notification_folded"] = round(len(timed_f) / n, 3)
        for name in (only or VARIANTS):  # in the order asked (BENCH_JOURNAL_VARIANTS)
            _, _, temp, folded = VARIANTS[name]
            by_cpas, binary = name in BY_CPAS, name in BINARY
            # a variant asked for again is measured again: "marks", "marks#2", ...
            again = sum(k.split("#")[0] == name for k in res["variants"])
            key = f"{name}#{again + 1}" if again else name
            table = f"bench_journal_{name}"
            _create_table(dsn, name, table)
            indexes = _psql(dsn, f"SELECT count(*) FROM pg_indexes WHERE tablename = '{table}'").strip()  # not _offsets
            sb, sa = tmp / f"{name}.before", tmp / f"{name}.after"
            cols, p_rows, t_rows = (FOLDED_COLS, pre_f, timed_f) if folded else (COLS, pre, timed)
            temp_like = temp.format(t=table)
            # Not without the unique key: its NOT EXISTS would be a hashed subplan over the table.
            where = NOT_FOLDED if folded and name != "one_row_no_index" and temp != OFFSETS else ""
            subprocess.run(["psql", dsn, "-q", "-f", "-"], check=True, capture_output=True, text=True,
                           input=_script(table, cols, _write_batches(tmp, name + "-pre", p_rows, folded, by_cpas, binary),
                                         sb, sa,
                                         temp_like, where))
            files = _write_batches(tmp, name, t_rows, folded, by_cpas, binary)
            lsn0, ckpt0 = _psql(dsn, WAL_BEFORE).strip().split("|")
            others = pg_snapshot()
            t0 = time.monotonic()
            subprocess.run(["psql", dsn, "-q", "-f", "-"], check=True, capture_output=True, text=True,
                           input=_script(table, cols, files, sb, sa, temp_like, where))
            wall = time.monotonic() - t0
            wal_bytes, ckpt1 = map(int, _psql(dsn, WAL_AFTER.format(lsn=lsn0)).strip().split("|"))
            backend = _stat_ticks(sa) - _stat_ticks(sb)
            backend_sys = _stat_ticks(sa, sys_only=True) - _stat_ticks(sb, sys_only=True)
            now = pg_snapshot()  # the psql session's backend has exited: counted from its own /proc reads
            background = sum(now[p] - t for p, t in others.items() if p in now and now[p] >= t)
            rows = int(_psql(dsn, f"SELECT count(*) FROM {table}").strip())
            entries = int(_psql(dsn, ENTRIES["folded" if folded else "old"].format(t=table)).strip())
            expect = len(pre) + len(timed)
            cpu_s = (backend + background) / tck
            res["variants"][key] = {
                "indexes": int(indexes), "rows": rows, "entries": entries, "entries_expected": expect,
                "nothing_lost": entries == expect,
                "rows_per_notification": round(rows / (n + prefill), 3),
                "wall_s": round(wall, 2), "backend_cpu_s": round(backend / tck, 2),
                "background_cpu_s": round(background / tck, 2),
                "backend_kernel_cpu_s": round(backend_sys / tck, 2),
                # WAL written and checkpoints begun during the timed writes: after a checkpoint,
                # the first change to each page writes the whole page to the WAL
                "wal_bytes_per_notification": round(wal_bytes / n),
                "checkpoints": ckpt1 - int(ckpt0),
                "pg_cpu_us_per_notification": round(cpu_s * 1e6 / n, 1),
                "pg_cpu_us_per_entry": round(cpu_s * 1e6 / len(timed), 1),
            }
            _drop_table(dsn, table)
    base = res["variants"].get("before", res["variants"].get("now", {})).get("pg_cpu_us_per_notification")
    for v in res["variants"].values():
        v["ratio_to_before"] = round(v["pg_cpu_us_per_notification"] / base, 2) if base else None
    return res


def summary_rows(r: dict) -> list[tuple[str, str, str]]:
    if not r or "variants" not in r:
        return []
    rows = []
    p = r.get("paired")
    if p:
        a, b = p["pair"]
        rows.append((f"journal, paired: {b} / {a} (backend CPU, batches interleaved)", f"{p['ratio']}x",
                     f"{p['variants'][a]['backend_us_per_notification']} against "
                     f"{p['variants'][b]['backend_us_per_notification']} us; "
                     f"{'nothing lost' if all(v['nothing_lost'] for v in p['variants'].values()) else 'ROWS MISSING'}"))
    for name, v in r["variants"].items():
        rows.append((f"journal in PostgreSQL, {name} ({v['indexes']} indexes), CPU/notification",
                     f"{v['pg_cpu_us_per_notification']:.1f} us",
                     (f"{v['ratio_to_before']}x of before; " if v.get("ratio_to_before") is not None else "")
                     + f"target <= 10 us: {'met' if v['pg_cpu_us_per_notification'] <= 10 else 'MISSED'}"
                     f"; {'nothing lost' if v['nothing_lost'] else 'ROWS MISSING'}"))
    return rows
