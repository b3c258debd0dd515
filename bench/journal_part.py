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
- `now`: the journal table as migrations/ leave it (0017 dropped `journal_ticket`);
- `keys_only`: the floor of this one-row-per-entry design: the primary key and the unique key
  (idempotence) only, no index for the auditors' queries by SSIN, CPAS or kind.
"""
from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

BATCH = 5000
FLOWS = ["notify-person", "personnel-file", "notify-family-composition", "pension-register-mutation",
         "ecarmed-calculation", "self-employed-career"]


def _rows(rng: random.Random, n: int, cbes: list[str]) -> list[str]:
    """COPY text rows (the sink's columns) for n notifications."""
    out = []
    at = "2026-12-05 10:00:00+00"
    for _ in range(n):
        ticket = str(uuid.UUID(int=rng.getrandbits(128)))
        ssin = "%011d" % rng.randrange(10**10, 10**11)
        flow = rng.choice(FLOWS)
        base = [at, "", ticket, ssin, flow, "EVENT", "2026-11-01", "\\N", "\\N", "\\N", at, "relais-router", "\\N"]
        acc = list(base)
        acc[1], acc[11] = "accepted", "relais-ingest"
        out.append("\t".join(acc))
        r = list(base)
        if rng.random() < 0.9:
            r[1], r[7], r[8] = "routed", rng.choice(cbes), str(rng.randrange(1, 10))
            out.append("\t".join(r))
            if rng.random() < 0.24:
                a = list(r)
                a[1], a[9], a[12] = "alert", "EMPLOYMENT_STARTED", str(uuid.UUID(int=rng.getrandbits(128)))
                out.append("\t".join(a))
        else:
            r[1], r[9] = "dropped", "not_integrated"
            out.append("\t".join(r))
    return out


def _script(table: str, files: list[Path], stat_before: Path, stat_after: Path) -> str:
    cols = ("at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, quality_code, reason, "
            "accepted_at, source, alert_id")
    lines = ["\\set ON_ERROR_STOP 1", "SELECT pg_backend_pid() AS pid \\gset", "\\setenv BPID :pid",
             f"\\! cat /proc/$BPID/stat > {stat_before}"]
    for f in files:
        lines += ["BEGIN;",
                  f"CREATE TEMP TABLE IF NOT EXISTS j_in (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;",
                  f"\\copy j_in ({cols}) FROM '{f}'",
                  f"INSERT INTO {table} ({cols}) SELECT {cols} FROM j_in ON CONFLICT DO NOTHING;",
                  "COMMIT;"]
    lines.append(f"\\! cat /proc/$BPID/stat > {stat_after}")
    return "\n".join(lines) + "\n"


def _stat_ticks(p: Path) -> int:
    f = p.read_text().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def _psql(dsn: str, sql: str) -> str:
    return subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-Atqc", sql], check=True,
                          capture_output=True, text=True).stdout


def _write_batches(tmp: Path, name: str, rows: list[str]) -> list[Path]:
    files = []
    for i in range(0, len(rows), BATCH):
        p = tmp / f"{name}-{i // BATCH:05d}.tsv"
        p.write_text("\n".join(rows[i:i + BATCH]) + "\n")
        files.append(p)
    return files


VARIANTS = {
    "before": ["CREATE INDEX ON {t} (ticket)"],  # migrations before 0017: journal_ticket too
    "now": [],
    # The floor of this row design: the primary key and the unique key (idempotence) only.
    "keys_only": ["DROP INDEX IF EXISTS {t}_ssin_idx", "DROP INDEX IF EXISTS {t}_cpas_cbe_at_idx",
                  "DROP INDEX IF EXISTS {t}_kind_at_idx"],
}


def run(dsn: str, pg_snapshot, n: int, prefill: int, seed: int = 19) -> dict:
    """pg_snapshot() -> {pid: CPU ticks} of every PostgreSQL process (run.py's)."""
    rng = random.Random(seed)
    cbes = ["%010d" % (200000000 + i) for i in range(565)]
    tck = os.sysconf("SC_CLK_TCK")
    res: dict = {"notifications": n, "prefill_notifications": prefill, "batch_entries": BATCH, "variants": {}}
    with tempfile.TemporaryDirectory(prefix="relais-journal-bench-") as d:
        tmp = Path(d)
        pre = _rows(rng, prefill, cbes)
        timed = _rows(rng, n, cbes)
        res["entries_per_notification"] = round(len(timed) / n, 3)
        for name, changes in VARIANTS.items():
            table = f"bench_journal_{name}"
            _psql(dsn, f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (LIKE journal INCLUDING ALL);")
            for c in changes:
                _psql(dsn, c.format(t=table))
            indexes = _psql(dsn, f"SELECT count(*) FROM pg_indexes WHERE tablename = '{table}'").strip()
            sb, sa = tmp / f"{name}.before", tmp / f"{name}.after"
            subprocess.run(["psql", dsn, "-q", "-f", "-"], check=True, capture_output=True, text=True,
                           input=_script(table, _write_batches(tmp, name + "-pre", pre), sb, sa))
            files = _write_batches(tmp, name, timed)
            others = pg_snapshot()
            t0 = time.monotonic()
            subprocess.run(["psql", dsn, "-q", "-f", "-"], check=True, capture_output=True, text=True,
                           input=_script(table, files, sb, sa))
            wall = time.monotonic() - t0
            backend = _stat_ticks(sa) - _stat_ticks(sb)
            now = pg_snapshot()  # the psql session's backend has exited: counted from its own /proc reads
            background = sum(now[p] - t for p, t in others.items() if p in now and now[p] >= t)
            rows = int(_psql(dsn, f"SELECT count(*) FROM {table}").strip())
            expect = len(pre) + len(timed)
            cpu_s = (backend + background) / tck
            res["variants"][name] = {
                "indexes": int(indexes), "rows": rows, "rows_expected": expect, "nothing_lost": rows == expect,
                "wall_s": round(wall, 2), "backend_cpu_s": round(backend / tck, 2),
                "background_cpu_s": round(background / tck, 2),
                "pg_cpu_us_per_notification": round(cpu_s * 1e6 / n, 1),
                "pg_cpu_us_per_entry": round(cpu_s * 1e6 / len(timed), 1),
            }
            _psql(dsn, f"DROP TABLE {table}")
    base = res["variants"]["before"]["pg_cpu_us_per_notification"]
    for v in res["variants"].values():
        v["ratio_to_before"] = round(v["pg_cpu_us_per_notification"] / base, 2) if base else None
    return res


def summary_rows(r: dict) -> list[tuple[str, str, str]]:
    if not r or "variants" not in r:
        return []
    rows = []
    for name, v in r["variants"].items():
        rows.append((f"journal in PostgreSQL, {name} ({v['indexes']} indexes), CPU/notification",
                     f"{v['pg_cpu_us_per_notification']:.1f} us",
                     f"{v['ratio_to_before']}x of before; target <= 10 us: {'met' if v['pg_cpu_us_per_notification'] <= 10 else 'MISSED'}"
                     f"; {'nothing lost' if v['nothing_lost'] else 'ROWS MISSING'}"))
    return rows
