"""Operations surface: /healthz, /readyz and /metrics of every service (with
the counters operators alert on), and a clean SIGTERM: each service exits 0
within its grace period, the ingest one answering the batch it is receiving,
the router one committing what it routed (nothing lost or doubled after its
restart)."""

from __future__ import annotations

import json
import random
import signal
import threading
import time

import requests

from e2e_util import (Poster, check_exactly_once, cpas_topic, fresh_cbes, fresh_ssins, headers_of, make_batches,
                      make_world, produce_raw, read_until, wait_for)
from relais_harness import api_import, api_put_cpas, new_ticket, notification, post_batch

GRACE_S = 10.0  # shutdown.grace_ms default
STREAM_LINES = 200  # lines per batch of the stream that flows during the shutdowns


def test_health_ready_metrics(relais, db, brokers):
    rng = random.Random()
    cbe = fresh_cbes(rng, 1)[0]
    ssin, stranger = fresh_ssins(db, rng, 2)
    api_put_cpas(relais.api.url, cbe, "CPAS e2e ops", ["52011"])
    assert api_import(relais.api.url, cbe, [(ssin, 2, "2020-01-01", None)]).status_code == 200
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{cbe}"}}') == 1, 10,
             what="router directory")
    # Traffic of every kind: routed, dropped (not integrated, outside period), dead letter.
    routed_t = new_ticket()
    for n in (notification("personnel-file", routed_t, ssin, "2024-01-01", rng),
              notification("personnel-file", new_ticket(), stranger, "2024-01-01", rng),
              notification("personnel-file", new_ticket(), ssin, "2019-01-01", rng)):
        r = requests.post(f"{relais.ingest.url}/v1/notifications/personnel-file", data=json.dumps(n),
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 202, r.text
    produce_raw(brokers, "relais.inbound.v1", [(ssin.encode(), b"\x07garbage", None)])

    for name, svc in relais.services.items():
        h = requests.get(svc.url + "/healthz", timeout=5)
        assert h.status_code == 200 and h.json()["status"] == "ok", (name, h.text)
        rz = requests.get(svc.url + "/readyz", timeout=5)
        assert rz.status_code == 200 and rz.json()["ready"] is True, (name, rz.text)
        m = requests.get(svc.url + "/metrics", timeout=5)
        assert m.status_code == 200 and m.headers["Content-Type"].startswith("text/plain"), name
        assert f'relais_up{{service="{name}"}} 1' in m.text, name

    def router_counted():
        m = relais.router.metrics()
        return (m.get(f'relais_router_routed_total{{flow="personnel-file",cpas="{cbe}"}}', 0) >= 1
                and m.get('relais_router_dropped_total{flow="personnel-file",reason="not_integrated"}', 0) >= 1
                and m.get('relais_router_dropped_total{flow="personnel-file",reason="outside_period"}', 0) >= 1
                and m.get('relais_router_dlq_total{reason="UNDECODABLE"}', 0) >= 1) and m
    wait_for(router_counted, 30, what="router counters: routed, dropped by reason, dead letters")
    mi = relais.ingest.metrics()
    assert mi.get('relais_ingest_accepted_total{flow="personnel-file"}', 0) >= 3
    text = requests.get(relais.router.url + "/metrics", timeout=5).text
    for family in ("relais_router_routed_total", "relais_router_dropped_total", "relais_router_dlq_total"):
        assert f"# TYPE {family} counter" in text
    assert "# TYPE relais_ingest_accepted_total counter" in requests.get(relais.ingest.url + "/metrics").text
    recs = read_until(brokers, cpas_topic(cbe), lambda rs: len(rs) >= 1, timeout=30, settle=0)
    assert [headers_of(m)["ticket"] for m in recs] == [routed_t]


def sigterm(svc) -> tuple[int, float]:
    t0 = time.monotonic()
    svc.proc.send_signal(signal.SIGTERM)
    try:
        rc = svc.proc.wait(timeout=GRACE_S + 20)
    except Exception:  # noqa: BLE001
        svc.proc.kill()
        svc.proc.wait()
        raise AssertionError(f"relais-{svc.name} still running {GRACE_S + 20}s after SIGTERM")
    return rc, time.monotonic() - t0


def test_sigterm_under_load(relais, db, brokers):
    rng, cbes, ssins, where = make_world(relais, db, 2000, "shutdown")
    batches, expected = make_batches(rng, ssins, where, 20, STREAM_LINES)
    poster = Poster(lambda: relais.ingest.url, batches, pace_s=0.2)
    poster.start()
    timings = {}
    # The router, while the stream flows.
    wait_for(lambda: poster.done_batches >= 4, 60, interval=0.02, what="stream started")
    rc, took = sigterm(relais.router)
    timings["router"] = took
    assert rc == 0 and took < GRACE_S, f"router: exit {rc} after {took:.1f}s"
    relais.router.restart()
    # The ingest service, while a large batch waits for the broker's acknowledgement:
    # it must drain (answer that batch 200) before it exits. The stream's sender
    # re-posts whatever is cut off.
    wait_for(lambda: poster.done_batches >= 10, 60, interval=0.02, what="stream continued")
    big, big_expected = make_batches(rng, ssins, where, 1, 20_000)
    expected.update(big_expected)
    big_result = {}

    def post_big():
        try:
            big_result["r"] = post_batch(relais.ingest.url, big[0][0], big[0][1])
        except Exception as e:  # noqa: BLE001
            big_result["e"] = e
    th = threading.Thread(target=post_big, daemon=True)
    th.start()
    # The gauge counts notifications: the stream has at most one batch of 200 in flight, so more
    # than 200 means the large batch is in (above 0 could be the stream's alone, and the large
    # batch, not yet connected, would then meet a closed listener).
    wait_for(lambda: relais.ingest.metrics().get("relais_ingest_in_flight", 0) > STREAM_LINES or not th.is_alive(), 30,
             interval=0.002, what="the large batch in flight")
    assert th.is_alive(), "the large batch was answered before SIGTERM could be sent"
    rc, took = sigterm(relais.ingest)
    timings["ingest"] = took
    assert rc == 0 and took < GRACE_S, f"ingest: exit {rc} after {took:.1f}s"
    th.join(30)
    assert "r" in big_result, f"the batch in flight at SIGTERM got no answer: {big_result.get('e')}"
    r = big_result["r"]
    assert r.status_code == 200 and r.json()["accepted"] == 20_000, r.text[:300]
    acked_big = [it["ticket"] for it in r.json()["items"] if it["status"] == 202]
    relais.ingest.restart()
    poster.join(240)
    assert not poster.is_alive() and poster.error is None, poster.error
    check_exactly_once(brokers, db, cbes, expected, poster.acked + acked_big, check_journal_dupes=False)
    # The API, idle.
    rc, took = sigterm(relais.api)
    timings["api"] = took
    assert rc == 0 and took < GRACE_S, f"api: exit {rc} after {took:.1f}s"
    relais.api.restart()
    print("SIGTERM to exit: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    for svc in relais.services.values():
        assert requests.get(svc.url + "/readyz", timeout=5).status_code == 200
