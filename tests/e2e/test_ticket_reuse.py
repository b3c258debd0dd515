"""A reused ticket never loses data (issue 21, finding 5), through the real services.

- Two DEATH notices for two persons integrated by the same CPAS, under the same ticket: both are
  routed to the CPAS topic and both PERSON_DECEASED alerts are stored (GET /v1/cpas/{cbe}/alerts).
  Before the fix, the alert ids (ticket, CPAS, rule) collided and the store kept only the first.
- The same ticket for the same person with other content: refused to relais.dlq.v1 with reason
  TICKET_REUSED and a dead_letter row in the journal, never delivered, never merged.
- An exact re-post (same content, new sent_at): one copy, a duplicate row in the journal."""

from __future__ import annotations

import random

import requests

from e2e_util import (cpas_topic, end_offsets, fresh_cbes, fresh_ssins, headers_of, ndjson, read_topic, read_until,
                      wait_for)
from relais_harness import (api_headers, api_import, api_put_cpas, new_ticket, notification,
                            post_batch_until_accepted)


def post(relais, body):
    r = requests.post(f"{relais.ingest.url}/v1/notifications/notify-person", json=body, timeout=30)
    assert r.status_code == 202, r.text


def two_persons_at_one_cpas(relais, db, rng, name: str) -> tuple[str, str, str]:
    """A new CPAS integrating two new persons (quality 2), known to the router."""
    (cbe,) = fresh_cbes(rng, 1)
    api_put_cpas(relais.api.url, cbe, name, ["21004"])
    p1, p2 = fresh_ssins(db, rng, 2, bis_ratio=0)
    assert api_import(relais.api.url, cbe, [(p1, 2, "2020-01-01", None), (p2, 2, "2020-01-01", None)]).status_code == 200
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{cbe}"}}') == 2, 10,
             what="router directory")
    return cbe, p1, p2


def test_reused_ticket_is_never_merged_nor_lost(relais, db, brokers, pb):
    rng = random.Random()
    cbe, p1, p2 = two_persons_at_one_cpas(relais, db, rng, "CPAS e2e ticket reuse")
    dlq_start = end_offsets(brokers, "relais.dlq.v1")

    t = new_ticket()
    first = notification("notify-person", t, p1, "2026-11-01", rng, event="DEATH")
    post(relais, first)
    post(relais, notification("notify-person", t, p2, "2026-11-01", rng, event="DEATH"))
    # The same ticket and person, another date of death: not the same notification.
    reused = dict(first, date_of_death="2026-10-30", effective_date="2026-10-30")
    post(relais, reused)
    # The first one again as it was, sent again later.
    post(relais, dict(first, sent_at="2026-11-03T09:00:00Z"))

    # Both persons' deaths delivered, each once, the first content for p1.
    recs = read_until(brokers, cpas_topic(cbe), lambda rs: {m.key() for m in rs} >= {p1.encode(), p2.encode()},
                      timeout=60)
    wait_for(lambda: len({r[0] for r in db.query(
        f"SELECT kind || ':' || coalesce(ssin, '') FROM journal WHERE ticket = '{t}'")}) >= 6, 60, interval=0.5,
             what="journal rows of the ticket")
    recs = read_topic(brokers, cpas_topic(cbe))
    mine = [m for m in recs if headers_of(m).get("ticket") == t]
    assert sorted(m.key().decode() for m in mine) == sorted([p1, p2]), [m.key() for m in mine]
    for m in mine:
        rn = pb.RoutedNotification()
        rn.ParseFromString(m.value())
        assert rn.notification.notify_person.date_of_death == "2026-11-01"

    # Both alerts stored, with two ids.
    def alerts():
        r = requests.get(f"{relais.api.url}/v1/cpas/{cbe}/alerts", params={"limit": 100}, headers=api_headers(),
                         timeout=30)
        assert r.status_code == 200, r.text
        got = [a for a in r.json()["alerts"] if a["ticket"] == t]
        return got if len(got) >= 2 else None
    got = wait_for(alerts, 60, interval=0.5, what="two alerts stored")
    assert sorted(a["ssin"] for a in got) == sorted([p1, p2])
    assert {a["type"] for a in got} == {"PERSON_DECEASED"}
    assert len({a["alert_id"] for a in got}) == 2

    # The reused one: in the DLQ with its reason, journaled as a dead letter.
    dead = [m for m in read_topic(brokers, "relais.dlq.v1", dlq_start) if m.key() == p1.encode()]
    assert len(dead) == 1, dead
    d = pb.DeadLetter()
    d.ParseFromString(dead[0].value())
    assert d.reason.startswith("TICKET_REUSED"), d.reason
    n = pb.Notification()
    n.ParseFromString(d.value)
    assert n.notify_person.date_of_death == "2026-10-30"
    rows = db.query(f"SELECT kind, coalesce(ssin, ''), coalesce(reason, '') FROM journal WHERE ticket = '{t}' "
                    "ORDER BY kind, ssin")
    kinds = sorted((k, s) for k, s, _ in rows)
    assert kinds == sorted([("accepted", p1), ("accepted", p2), ("routed", p1), ("routed", p2), ("alert", p1),
                            ("alert", p2), ("dead_letter", p1), ("duplicate", p1)]), rows
    assert [r for k, s, r in rows if k == "dead_letter"][0].startswith("TICKET_REUSED")
    assert relais.router.metrics().get('relais_router_dlq_total{reason="TICKET_REUSED"}', 0) >= 1


def test_reused_ticket_inside_one_batch(relais, db, brokers):
    """Inside one NDJSON batch: the same ticket for another person is another notification
    (accepted and delivered; before, reported as a duplicate and dropped), for the same person
    with other content a 400 TICKET_REUSED line, with the same content a duplicate."""
    rng = random.Random()
    cbe, p1, p2 = two_persons_at_one_cpas(relais, db, rng, "CPAS e2e ticket reuse in a batch")
    t = new_ticket()
    first = notification("notify-person", t, p1, "2026-11-01", rng, event="DEATH")
    lines = [first, notification("notify-person", t, p2, "2026-11-01", rng, event="DEATH"),
             dict(first, date_of_death="2026-10-30", effective_date="2026-10-30"), first]
    rep = post_batch_until_accepted(relais.ingest.url, "notify-person", ndjson(lines))
    assert (rep["accepted"], rep["duplicates"], rep["rejected"]) == (2, 1, 1), rep
    items = rep["items"]
    assert [it["status"] for it in items] == [202, 202, 400, 202], items
    assert items[2]["error"]["code"] == "TICKET_REUSED" and items[2]["error"]["field"] == "ticket", items
    assert items[3].get("duplicate") is True and not items[1].get("duplicate"), items
    recs = read_until(brokers, cpas_topic(cbe), lambda rs: {m.key() for m in rs} >= {p1.encode(), p2.encode()},
                      timeout=60)
    assert sorted(m.key().decode() for m in recs if headers_of(m).get("ticket") == t) == sorted([p1, p2])
