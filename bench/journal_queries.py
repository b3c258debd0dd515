#!/usr/bin/env python3
"""The auditors' questions on a large journal, before and after migration 0019 (issue 19).

    var/venv/bin/python bench/journal_queries.py --dsn DSN [--notifications 2000000] [--out FILE]

Fills two tables in the given database with the same notifications (the end-to-end mix: 90%
routed to one of 565 CPAS, an alert for 24% of those, 10% dropped; one notification a second
or so over 100 days, in time order as the sink writes them):
- `aud_old`: the journal as migration 0017 left it, one row per entry (2.22 per notification),
  its five indexes;
- `aud_rows` + view `aud_view`: journal_rows and the `journal` view as migration 0019 leaves
  them (one row per routing outcome, the view unfolding the acceptance and the alerts).
Then asks each the auditors' three questions (what happened to ticket T, to SSIN S, what did
CPAS C receive in a week) with EXPLAIN (ANALYZE, BUFFERS), best of three, and checks both give
the same answer. The tables are dropped at the end unless --keep.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import time

OLD = """DROP TABLE IF EXISTS aud_old; CREATE TABLE aud_old (
  id bigserial PRIMARY KEY, at timestamptz NOT NULL, kind text NOT NULL, ticket text NOT NULL,
  ssin char(11), flow text, event text, effective_date text, cpas_cbe char(10),
  quality_code integer, reason text, accepted_at timestamptz, source text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(), alert_id text,
  UNIQUE NULLS NOT DISTINCT (ticket, kind, cpas_cbe, source, alert_id));
CREATE INDEX ON aud_old (ssin); CREATE INDEX ON aud_old (cpas_cbe, at); CREATE INDEX ON aud_old (kind, at);"""

NEW = """DROP VIEW IF EXISTS aud_view; DROP TABLE IF EXISTS aud_rows;
CREATE TABLE aud_rows (LIKE journal_rows INCLUDING ALL);"""
# The view: the `journal` view of migration 0019 as the database holds it, over aud_rows.
VIEW = "SELECT 'CREATE VIEW aud_view AS ' || replace(pg_get_viewdef('journal'::regclass), 'journal_rows', 'aud_rows')"

# The notifications, generated in PostgreSQL (deterministic: hashes of the number).
NOTIFS = """DROP TABLE IF EXISTS aud_n; CREATE UNLOGGED TABLE aud_n AS
SELECT g, '2026-08-01'::timestamptz + g * ({span} / {n}) * interval '1 second' AS at,
       md5('t' || g)::uuid::text AS ticket,
       (10000000000 + abs(hashtext('s' || (g % {persons}))) % 89999999999)::text AS ssin,
       (abs(hashtext('r' || g)) % 1000) < 900 AS routed,
       (abs(hashtext('a' || g)) % 1000) < 240 AS alerted,
       '02' || lpad((abs(hashtext('c' || g)) % 565)::text, 8, '0') AS cpas,
       'relais.inbound.v1/' || (g % 6) || '/' || g AS source
  FROM generate_series(1, {n}) g;"""

FILL_OLD = """INSERT INTO aud_old (at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, quality_code,
                     reason, accepted_at, source, alert_id)
SELECT at, kind, ticket, ssin, 'notify-person', 'ADDRESS_CHANGED', '2026-07-01', cpas, q, reason, at, source, aid
  FROM (SELECT n.g, e.o, n.at, e.kind, n.ticket, n.ssin, e.cpas, e.q, e.reason, n.source, e.aid FROM aud_n n
        CROSS JOIN LATERAL (VALUES
          (0, 'accepted', NULL, NULL::int, NULL, NULL),
          (1, CASE WHEN n.routed THEN 'routed' ELSE 'dropped' END, CASE WHEN n.routed THEN n.cpas END,
              CASE WHEN n.routed THEN 1 END, CASE WHEN NOT n.routed THEN 'not_integrated' END, NULL),
          (2, CASE WHEN n.routed AND n.alerted THEN 'alert' END, n.cpas, 1, 'EMPLOYMENT_STARTED',
              md5('a' || n.g))) AS e(o, kind, cpas, q, reason, aid)
        WHERE e.kind IS NOT NULL ORDER BY n.g, e.o) x;"""

FILL_NEW = """INSERT INTO aud_rows (at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, quality_code,
                      reason, accepted_at, source, accepted, alert_ids, alert_types)
SELECT at, CASE WHEN routed THEN 'routed' ELSE 'dropped' END, ticket, ssin, 'notify-person',
       'ADDRESS_CHANGED', '2026-07-01', CASE WHEN routed THEN cpas END, CASE WHEN routed THEN 1 END,
       CASE WHEN NOT routed THEN 'not_integrated' END, at, source, true,
       CASE WHEN routed AND alerted THEN ARRAY[md5('a' || g)] END,
       CASE WHEN routed AND alerted THEN ARRAY['EMPLOYMENT_STARTED'] END
  FROM aud_n ORDER BY g;"""

COLS = ("at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, quality_code, reason, "
        "accepted_at, source, alert_id")
QUESTIONS = {
    "by_ticket": "SELECT {c} FROM {t} WHERE ticket = '{ticket}' ORDER BY at, kind",
    "by_ssin": "SELECT {c} FROM {t} WHERE ssin = '{ssin}' ORDER BY at, kind",
    "by_cpas_week": "SELECT {c} FROM {t} WHERE cpas_cbe = '{cpas}' AND at >= '{since}' AND at < '{until}' "
                    "ORDER BY at, kind",
    # relaisctl journal --cpas C --since … --until … (newest first, the default limit)
    "relaisctl_cpas_week_limit_100": "SELECT {c} FROM {t} WHERE cpas_cbe = '{cpas}' AND at >= '{since}' "
                                     "AND at < '{until}' ORDER BY at DESC, id DESC LIMIT 100",
}


def psql(dsn: str, sql: str) -> str:
    return subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-Atqc", sql], check=True,
                          capture_output=True, text=True).stdout


def explain_ms(dsn: str, sql: str) -> tuple[float, str]:
    best, plan = None, ""
    for _ in range(3):
        out = psql(dsn, "EXPLAIN (ANALYZE, BUFFERS) " + sql)
        ms = float(re.search(r"Execution Time: ([0-9.]+) ms", out).group(1))
        if best is None or ms < best:
            best, plan = ms, out
    return best, plan


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--notifications", type=int, default=2_000_000)
    ap.add_argument("--out")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--skip-old", action="store_true", help="only the one-row table (e.g. at 10M)")
    a = ap.parse_args()
    n, res = a.notifications, {"notifications": a.notifications}
    span = 100 * 86400
    t0 = time.monotonic()
    psql(a.dsn, NOTIFS.format(n=n, span=float(span), persons=max(1, n // 4)))
    tables = {"new": "aud_view"} if a.skip_old else {"old": "aud_old", "new": "aud_view"}
    if not a.skip_old:
        psql(a.dsn, OLD)
        psql(a.dsn, FILL_OLD)
    psql(a.dsn, NEW)
    psql(a.dsn, psql(a.dsn, VIEW))
    psql(a.dsn, FILL_NEW)
    psql(a.dsn, "ANALYZE aud_rows" + ("" if a.skip_old else "; ANALYZE aud_old"))
    res["fill_s"] = round(time.monotonic() - t0, 1)
    for name, t in (("old", "aud_old"), ("new", "aud_rows")):
        if name in tables:
            res[f"{name}_rows"] = int(psql(a.dsn, f"SELECT count(*) FROM {t}"))
            res[f"{name}_mib"] = round(int(psql(a.dsn, f"SELECT pg_total_relation_size('{t}')")) / 2**20, 1)
    mid = n // 2
    ticket = psql(a.dsn, f"SELECT ticket FROM aud_n WHERE g = {mid} AND routed AND alerted "
                         f"UNION ALL SELECT ticket FROM aud_n WHERE routed AND alerted AND g > {mid} LIMIT 1").split()[0]
    ssin, cpas = psql(a.dsn, f"SELECT ssin, cpas FROM aud_n WHERE ticket = '{ticket}'").strip().split("|")
    since = psql(a.dsn, f"SELECT (at - interval '3 days')::text FROM aud_n WHERE ticket = '{ticket}'").strip()
    until = psql(a.dsn, f"SELECT (at + interval '4 days')::text FROM aud_n WHERE ticket = '{ticket}'").strip()
    res["questions"] = {}
    for q, tmpl in QUESTIONS.items():
        r = {}
        answers = {}
        for name, t in tables.items():
            sql = tmpl.format(c=COLS, t=t, ticket=ticket, ssin=ssin, cpas=cpas, since=since, until=until)
            ms, plan = explain_ms(a.dsn, sql)
            out = psql(a.dsn, sql)
            answers[name] = sorted(out.splitlines()) if "LIMIT" not in sql else len(out.splitlines())
            r[name] = {"ms": ms, "rows": len(out.splitlines()), "plan": plan}
        if len(answers) == 2:
            r["same_answer"] = answers["old"] == answers["new"]
        res["questions"][q] = r
        print(q, {k: (v["ms"], v["rows"]) if isinstance(v, dict) else v for k, v in r.items()}, flush=True)
    if not a.keep:
        psql(a.dsn, "DROP VIEW IF EXISTS aud_view; DROP TABLE IF EXISTS aud_rows, aud_old, aud_n")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "questions"}))


if __name__ == "__main__":
    main()
