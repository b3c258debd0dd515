"""Re-posting 1,000 already accepted tickets (same content, as batches and as
single requests) is answered like the first time, produces no new record on
any CPAS topic, and the journal records them as duplicates."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict

import requests

from e2e_util import (cpas_topic, end_offsets, fresh_cbes, fresh_ssins, headers_of, ndjson, read_topic, read_until,
                      wait_for)
from relais_harness import (api_import, api_put_cpas, new_ticket, notification, post_batch,
                            post_batch_until_accepted)


def test_reposted_tickets_produce_nothing_new(relais, db, brokers):
    rng = random.Random()
    cbes = fresh_cbes(rng, 2)
    ssins = fresh_ssins(db, rng, 1000)
    integrated, nowhere = ssins[:800], ssins[800:]
    rows = defaultdict(list)
    where: dict[str, set[str]] = defaultdict(set)
    for i, s in enumerate(integrated):
        for cbe in (cbes if i % 5 == 0 else [rng.choice(cbes)]):
            rows[cbe].append((s, rng.choice([2, 3, 5]), "2019-01-01", None))
            where[s].add(cbe)
    for i, cbe in enumerate(cbes):
        api_put_cpas(relais.api.url, cbe, f"CPAS e2e idempotency {i}", ["62063"])
        assert api_import(relais.api.url, cbe, rows[cbe]).status_code == 200

    flows = ["personnel-file", "pension-register-mutation"]
    by_flow: dict[str, list[dict]] = {f: [] for f in flows}
    expected: dict[str, set[str]] = {}
    for i in range(1000):
        s = integrated[i] if i < 800 else nowhere[i - 800]
        t = new_ticket()
        by_flow[flows[i % 2]].append(notification(flows[i % 2], t, s, "2023-03-15", rng))
        expected[t] = where.get(s, set())
    lines = {f: ndjson(ns) for f, ns in by_flow.items()}

    def routed_complete(cbe):
        want = {t for t, c in expected.items() if cbe in c}
        return lambda rs: {headers_of(m)["ticket"] for m in rs} >= want

    # wait_for the directory: the latency test measures it; here it is a precondition.
    wait_for(lambda: all(relais.router.metrics().get(f'relais_directory_integrations{{cpas="{c}"}}') == len(rows[c])
                         for c in cbes), 10, what="router directory")
    for f in flows:
        rep = post_batch_until_accepted(relais.ingest.url, f, lines[f])
        assert rep["accepted"] == 500 and rep["rejected"] == 0
    for cbe in cbes:
        recs = read_until(brokers, cpas_topic(cbe), routed_complete(cbe), timeout=120, settle=0)
        assert Counter(headers_of(m)["ticket"] for m in recs).most_common(1)[0][1] == 1
    # Every ticket fully processed once (journal: accepted + routed/dropped) before re-posting.
    wait_for(lambda: len({r["ticket"] for r in db.journal(expected) if r["kind"] == "accepted"}) == 1000, 60,
             interval=0.5, what="accepted journal rows")
    marks = {cbe: end_offsets(brokers, cpas_topic(cbe)) for cbe in cbes}

    # --- re-post everything, same content: batches, and 100 of them as single requests too
    for f in flows:
        r = post_batch(relais.ingest.url, f, lines[f])
        assert r.status_code == 200, r.text[:300]
        rep = r.json()
        assert rep["accepted"] == 500 and rep["rejected"] == 0 and all(it["status"] == 202 for it in rep["items"])
    singles = by_flow[flows[0]][:100]
    for n in singles:
        r = requests.post(f"{relais.ingest.url}/v1/notifications/{flows[0]}", data=json.dumps(n),
                          headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 202 and r.json()["ticket"] == n["ticket"], r.text

    # --- the same ticket twice in one batch: one record, reported as a duplicate
    t = new_ticket()
    twice = ndjson([notification(flows[0], t, integrated[1], "2023-03-15", rng)] * 2)
    rep = post_batch_until_accepted(relais.ingest.url, flows[0], twice)
    assert rep["accepted"] == 1 and rep["duplicates"] == 1, rep
    assert [it.get("duplicate", False) for it in rep["items"]] == [False, True], rep

    # The router has handled every re-post once the journal holds its duplicate rows.
    def dup_rows():
        rows_ = db.journal(expected)
        dups = Counter(r["ticket"] for r in rows_ if r["kind"] == "duplicate")
        return dups if len(dups) == 1000 and all(dups[n["ticket"]] >= 2 for n in singles) else None
    dups = wait_for(dup_rows, 60, interval=0.5, what="duplicate journal rows for the 1,000 re-posted tickets")
    print(f"duplicate journal rows: {sum(dups.values())} for {len(dups)} tickets")
    # The twice-in-a-batch ticket is routed (so the router is past the re-posts on its partition too).
    wait_for(lambda: t in {headers_of(m)["ticket"] for m in read_topic(brokers, cpas_topic(where[integrated[1]].copy().pop()))},
             30, what="the last ticket routed")

    for cbe in cbes:
        new = [m for m in read_topic(brokers, cpas_topic(cbe), start=marks[cbe]) if headers_of(m)["ticket"] != t]
        assert not new, f"{cpas_topic(cbe)}: {len(new)} new records after re-posting, e.g. {headers_of(new[0])}"
        counts = Counter(headers_of(m)["ticket"] for m in read_topic(brokers, cpas_topic(cbe)))
        assert all(v == 1 for v in counts.values())
        assert {x for x in counts if x in expected} == {x for x, c in expected.items() if cbe in c}
    # Exactly one accepted and one decision per ticket in the journal.
    rows_ = db.journal(expected)
    assert Counter(r["ticket"] for r in rows_ if r["kind"] == "accepted") == Counter({x: 1 for x in expected})
    assert Counter(r["ticket"] for r in rows_ if r["kind"] == "dropped") == \
        Counter({x: 1 for x, c in expected.items() if not c})
    assert all(r["reason"] == "not_integrated" for r in rows_ if r["kind"] == "dropped")
