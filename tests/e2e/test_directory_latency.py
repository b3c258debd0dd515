"""A directory change made through the API is seen by routing within one
second: a registration starts routing, an unregistration stops it, and an
SSIN replacement (recorded by the operator, PUT /v1/ssin-replacements) makes the new number follow the person
to the CPAS that integrated the old one.

Method: a sender posts a notification for the person every 100 ms (new
ticket each time, same person so same partition: processed in order) around
the change. The journal says, for every ticket, what the router decided and
when (`at`, the router's clock, same machine). The switch time is the `at` of
the first ticket decided the new way; the latency is that minus the moment
the API answered 2xx. It over-estimates the real delay by up to the 100 ms
sending period plus the ingest-to-router transit, never under-estimates it."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time

import requests

from e2e_util import (cpas_topic, fresh_cbes, fresh_ssins, headers_of, read_topic, read_until, wait_for,
                      wait_router_live)
from relais_harness import api_headers, api_put_cpas, new_ticket, notification

LIMIT_S = 1.0


class Ticker(threading.Thread):
    """Posts one notification for `ssin` every 100 ms until stopped."""

    def __init__(self, url: str, ssin: str, day: str, rng: random.Random):
        super().__init__(daemon=True)
        self.url, self.ssin, self.day, self.rng = url, ssin, day, rng
        self.sent: list[tuple[float, str]] = []   # (time.time() after the 202, ticket)
        self.stop = threading.Event()
        self.error: str | None = None

    def run(self):
        s = requests.Session()
        while not self.stop.is_set():
            t = new_ticket()
            n = notification("notify-person", t, self.ssin, self.day, self.rng, event="CIVIL_STATUS_CHANGE")
            r = s.post(f"{self.url}/v1/notifications/notify-person", data=json.dumps(n),
                       headers={"Content-Type": "application/json"}, timeout=10)
            if r.status_code != 202:
                self.error = f"{r.status_code} {r.text}"
                return
            self.sent.append((time.time(), t))
            self.stop.wait(0.1)


def decisions(db, tickets: list[str], cbe: str) -> dict[str, tuple[str, float]]:
    """ticket -> ('routed'|'dropped', router time of the decision)."""
    arr = ",".join(f"'{t}'" for t in tickets)
    rows = db.query("SELECT ticket, kind, coalesce(cpas_cbe, ''), extract(epoch from at) FROM journal "
                    f"WHERE ticket IN ({arr}) AND kind IN ('routed', 'dropped')")
    out = {}
    for t, kind, c, at in rows:
        if kind == "dropped" or c == cbe:
            out[t] = (kind, float(at))
    return out


def run_switch(relais, db, ssin, cbe, day, change, before_kind, after_kind, rng, label):
    """Starts the ticker, applies `change` (returns the time of its 2xx), keeps
    ticking 2 s, then measures when decisions switched from before_kind to after_kind."""
    wait_router_live(relais, db)   # a router still joining its group would decide late, after the change
    tk = Ticker(relais.ingest.url, ssin, day, rng)
    tk.start()
    wait_for(lambda: len(tk.sent) >= 5 or tk.error, 10, interval=0.05, what="ticker running")
    t_change = change()
    wait_for(lambda: tk.sent and tk.sent[-1][0] > t_change + 2.0 or tk.error, 10, interval=0.05,
             what="2 s of notifications after the change")
    tk.stop.set()
    tk.join(10)
    assert tk.error is None, tk.error
    tickets = [t for _, t in tk.sent]
    dec = wait_for(lambda: (d := decisions(db, tickets, cbe)) and len(d) == len(tickets) and d, 30, interval=0.3,
                   what="journal decisions of the ticker's notifications")
    kinds = [dec[t][0] for t in tickets]
    # Before the change: the old decision; one switch; after it: the new decision only.
    first_new = kinds.index(after_kind) if after_kind in kinds else None
    assert first_new is not None, f"{label}: routing never changed after the API's 2xx ({kinds})"
    assert all(k == before_kind for k in kinds[:first_new]), f"{label}: {kinds}"
    assert all(k == after_kind for k in kinds[first_new:]), f"{label}: flip-flop after the switch: {kinds}"
    sent_before = sum(1 for ts, _ in tk.sent if ts < t_change)
    assert first_new >= 1 and sent_before >= 1, f"{label}: no notification decided the old way ({kinds})"
    switch_at = dec[tickets[first_new]][1]
    latency = switch_at - t_change
    print(f"{label}: routing changed {latency * 1000:.0f} ms after the API's 2xx "
          f"({first_new} of {len(tickets)} notifications decided the old way)")
    assert latency < LIMIT_S, f"{label}: directory change seen by routing after {latency:.3f}s (limit {LIMIT_S}s)"
    return latency, [t for t, k in zip(tickets, kinds) if k == "routed"]


def test_register_then_unregister_within_one_second(relais, db, brokers):
    rng = random.Random()
    cbe = fresh_cbes(rng, 1)[0]
    ssin = fresh_ssins(db, rng, 1)[0]
    api_put_cpas(relais.api.url, cbe, "CPAS e2e latency", ["25072"])
    today = dt.date.today()
    day = today.isoformat()

    def register():
        r = requests.put(f"{relais.api.url}/v1/cpas/{cbe}/integrations",
                         json={"ssin": ssin, "quality_code": 2, "start_date": (today - dt.timedelta(days=30)).isoformat()},
                         headers=api_headers(), timeout=10)
        t = time.time()
        assert r.status_code == 201, r.text
        assert r.json()["overlapping"] == []
        return t

    lat_reg, routed = run_switch(relais, db, ssin, cbe, day, register, "dropped", "routed", rng, "register")
    recs = read_until(brokers, cpas_topic(cbe), lambda rs: {headers_of(m)["ticket"] for m in rs} >= set(routed),
                      timeout=30, settle=0.5)
    assert sorted(headers_of(m)["ticket"] for m in recs) == sorted(routed)

    def unregister():
        r = requests.delete(f"{relais.api.url}/v1/cpas/{cbe}/integrations/{ssin}",
                            params={"quality_code": "2", "end_date": (today - dt.timedelta(days=1)).isoformat()},
                            headers=api_headers(), timeout=10)
        t = time.time()
        assert r.status_code == 200, r.text
        assert r.json()["closed"][0]["end_date"] == (today - dt.timedelta(days=1)).isoformat()
        return t

    lat_unreg, routed2 = run_switch(relais, db, ssin, cbe, day, unregister, "routed", "dropped", rng, "unregister")
    recs = read_until(brokers, cpas_topic(cbe), lambda rs: {headers_of(m)["ticket"] for m in rs} >= set(routed2),
                      timeout=30, settle=0.5)
    got = [headers_of(m)["ticket"] for m in recs]
    assert sorted(got) == sorted(routed + routed2), "nothing reaches the CPAS after the unregistration"
    rows = db.query("SELECT DISTINCT reason FROM journal WHERE kind = 'dropped' AND ssin = '" + ssin + "' AND at > "
                    "(SELECT max(at) FROM journal WHERE kind = 'routed' AND ssin = '" + ssin + "')")
    assert rows == [["outside_period"]], rows


def test_ssin_replacement_follows_the_person(relais, db, brokers, pb):
    rng = random.Random()
    cbe, other = fresh_cbes(rng, 2)
    old = fresh_ssins(db, rng, 1, bis_ratio=1.0)[0]   # a BIS number...
    new = fresh_ssins(db, rng, 1, bis_ratio=0.0, exclude={old})[0]   # ...replaced by a National Register one
    api_put_cpas(relais.api.url, cbe, "CPAS e2e replacement", ["11002"])
    api_put_cpas(relais.api.url, other, "CPAS e2e replacement (other)", ["11002"])
    today = dt.date.today()
    r = requests.put(f"{relais.api.url}/v1/cpas/{cbe}/integrations",
                     json={"ssin": old, "quality_code": 3, "start_date": "2022-01-01"}, headers=api_headers(), timeout=10)
    assert r.status_code == 201, r.text

    def replace():
        r = requests.put(f"{relais.api.url}/v1/ssin-replacements/{old}",
                         json={"replaced_by": new, "reason": "e2e directory latency"}, headers=api_headers(), timeout=10)
        t = time.time()
        assert r.status_code in (200, 201), r.text
        return t

    lat, routed = run_switch(relais, db, new, cbe, today.isoformat(), replace, "dropped", "routed", rng,
                             "SSIN replacement")
    recs = read_until(brokers, cpas_topic(cbe), lambda rs: {headers_of(m)["ticket"] for m in rs} >= set(routed),
                      timeout=30, settle=0.5)
    got = {headers_of(m)["ticket"]: m for m in recs}
    assert set(got) == set(routed)
    # The record names the person by the new number, the integration by the old one.
    for m in got.values():
        r = pb.RoutedNotification()
        r.ParseFromString(m.value())
        assert m.key().decode() == new and r.notification.envelope.ssin == new
        assert r.integration.ssin == old and r.integration.quality_code == 3 and r.cpas_cbe == cbe
    assert read_topic(brokers, cpas_topic(other)) == []
