"""Clignotants end to end: for each default rule, the triggering notification
raises exactly one alert in the CPAS whose integration matches (found on
cpas.<cbe>.alerts.v1 and through GET /v1/cpas/{cbe}/alerts) and none in a CPAS
whose integration does not; replaying the tickets raises nothing new.

The expectations are written here from the rule file's meaning, not computed
with Relais's code."""

from __future__ import annotations

import random
from collections import Counter

import requests

from e2e_util import fresh_cbes, fresh_ssins, headers_of, read_until, wait_for
from relais_harness import api_headers, api_import, api_put_cpas, new_ticket, notification

# CPAS A: territory 21004, holds the person with quality 2 (integration income).
# CPAS B: territory 44021, holds the same person with quality 7 (debt mediation).
CASES = [
    # (rule, flow, event, extra fields, expected alert type, CPAS that get it)
    ("employment-started", "personnel-file", "DIMONA_IN", {"dimona_worker_type": "OTH", "cpas_article_60": False},
     "EMPLOYMENT_STARTED", {"A"}),
    ("pension-right-changed", "pension-register-mutation", "RIGHT_GRANTED", {}, "PENSION_RIGHT_CHANGED", {"A"}),
    ("self-employment-started", "self-employed-career", "CAREER_STARTED", {}, "SELF_EMPLOYMENT_STARTED", {"A"}),
    ("household-changed", "notify-family-composition", "MEMBER_ADDED", {}, "HOUSEHOLD_CHANGED", {"A"}),
    ("person-deceased", "notify-person", "DEATH", {}, "PERSON_DECEASED", {"A", "B"}),
    ("moved-out-of-territory", "notify-person", "ADDRESS_CHANGE",
     {"address": {"street": "Korenmarkt", "house_number": "1", "postal_code": "9000", "municipality": "Gent",
                  "municipality_nis_code": "44021", "country_nr_code": 150}},
     "MOVED_OUT_OF_TERRITORY", {"A"}),
    ("moved-abroad", "notify-person", "ADDRESS_ABROAD", {}, "MOVED_OUT_OF_TERRITORY", {"A", "B"}),
    ("mediprima-check", "ecarmed-calculation", "CALCULATION_CREATED", {}, "MEDIPRIMA_CHECK", {"B"}),
]
# Notifications that must raise nothing anywhere (the rule's event or condition does not match).
QUIET = [
    # Article 60 (the CPAS's own flag beside DIMONA's OTH): the CPAS arranged the job itself.
    ("personnel-file", "DIMONA_IN", {"dimona_worker_type": "OTH", "cpas_article_60": True}),
    ("personnel-file", "DIMONA_OUT", {}),
    ("pension-register-mutation", "RIGHT_ENDED", {}),
    ("ecarmed-calculation", "CALCULATION_CANCELLED", {}),
]


def post(relais, flow, body):
    r = requests.post(f"{relais.ingest.url}/v1/notifications/{flow}", json=body, timeout=30)
    assert r.status_code == 202, r.text


def alerts_api(relais, cbe, **params):
    out, after = [], None
    while True:
        q = dict(params, limit=500)
        if after:
            q["after"] = after
        r = requests.get(f"{relais.api.url}/v1/cpas/{cbe}/alerts", params=q, headers=api_headers(), timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["alerts"]
        after = body.get("next_after")
        if not after:
            return out


def test_each_default_rule_raises_one_alert_in_the_right_cpas(relais, db, brokers):
    rng = random.Random()
    a, b = fresh_cbes(rng, 2)
    cbe = {"A": a, "B": b}
    api_put_cpas(relais.api.url, a, "CPAS e2e clignotants A", ["21004"])
    api_put_cpas(relais.api.url, b, "CPAS e2e clignotants B", ["44021"])
    (person,) = fresh_ssins(db, rng, 1)
    assert api_import(relais.api.url, a, [(person, 2, "2020-01-01", None)]).status_code == 200
    assert api_import(relais.api.url, b, [(person, 7, "2020-01-01", None)]).status_code == 200
    wait_for(lambda: all(relais.router.metrics().get(f'relais_directory_integrations{{cpas="{c}"}}') == 1
                         for c in (a, b)), 10, what="router directory")

    sent = []  # (ticket, flow, body)
    expected = Counter()  # (cbe, ticket, type) -> 1
    for rule, flow, event, extra, atype, where in CASES:
        t = new_ticket()
        body = notification(flow, t, person, "2026-06-01", rng, event=event, **extra)
        post(relais, flow, body)
        sent.append((t, flow, body))
        for w in where:
            expected[(cbe[w], t, atype)] += 1
    for flow, event, extra in QUIET:
        t = new_ticket()
        body = notification(flow, t, person, "2026-06-01", rng, event=event, **extra)
        post(relais, flow, body)
        sent.append((t, flow, body))

    def topic_alerts(c):
        want = sum(1 for k in expected if k[0] == c)
        recs = read_until(brokers, f"cpas.{c}.alerts.v1", lambda rs: len(rs) >= want, timeout=60, settle=2.0)
        return Counter((c, headers_of(m)["ticket"], headers_of(m)["alert-type"]) for m in recs)

    got = topic_alerts(a) + topic_alerts(b)
    assert got == expected, f"topic alerts differ: missing {expected - got}, extra {got - expected}"

    # The API stores them (consuming the topics): exactly the same, once each.
    def api_view():
        rows = alerts_api(relais, a) + alerts_api(relais, b)
        c = Counter((x["cpas_cbe"], x["ticket"], x["type"]) for x in rows)
        return c if c == expected else None
    api = wait_for(api_view, 30, what="alerts stored by relais-api")
    assert api == expected
    for x in alerts_api(relais, a) + alerts_api(relais, b):
        assert x["status"] == "OPEN" and x["ssin"] == person and not x["overdue"]
    # Filters: by type, and another CPAS's alerts are not listed under this one.
    deaths = alerts_api(relais, b, type="PERSON_DECEASED")
    assert [x["type"] for x in deaths] == ["PERSON_DECEASED"]
    assert not [x for x in alerts_api(relais, b) if x["type"] == "EMPLOYMENT_STARTED"]

    # One alert read whole: the notification that caused it is attached.
    one = next(x for x in alerts_api(relais, a) if x["type"] == "EMPLOYMENT_STARTED")
    r = requests.get(f"{relais.api.url}/v1/cpas/{a}/alerts/{one['alert_id']}", headers=api_headers(), timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["notification"]["notification"]["envelope"]["ticket"] == one["ticket"]
    assert requests.get(f"{relais.api.url}/v1/cpas/{b}/alerts/{one['alert_id']}", headers=api_headers(), timeout=30).status_code == 404

    # Replaying every ticket raises nothing new: not on the topics, not in the API.
    for t, flow, body in sent:
        post(relais, flow, body)
    wait_for(lambda: len([r for r in db.journal([t for t, _, _ in sent]) if r["kind"] == "duplicate"]) >= len(sent),
             60, what="replays processed")
    assert topic_alerts(a) + topic_alerts(b) == expected
    assert Counter((x["cpas_cbe"], x["ticket"], x["type"])
                   for x in alerts_api(relais, a) + alerts_api(relais, b)) == expected
    rows = db.query("SELECT count(*) FROM journal WHERE kind = 'alert' AND cpas_cbe IN "
                    f"('{a}', '{b}')")
    assert int(rows[0][0]) == sum(expected.values())
