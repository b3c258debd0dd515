"""Reactions end to end (issue 3, acceptance): the three real binaries, the
real PostgreSQL and Kafka, and the PCSAAAlertReaction stand-in
(tests/harness/upstream_standin.py) as a subprocess.

- 1,000 reactions posted while the upstream fails half of its requests and is
  fully down (connection refused) for 30 seconds in the middle, with a SIGKILL
  of relais-api during the run: every reaction ends SENT, every alert SENT, the
  upstream received every idempotency key at least once, and
  cpas.<cbe>.alert-reactions.v1 holds every reaction.
- A reaction with an unknown code, to an unknown alert or to another CPAS's
  alert is refused with a clear error; a second reaction is 409 unless it is an
  amendment.

This file starts its own Relais (module fixture) so that relais-api points at
this stand-in with short retry settings."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import e2e_util
from e2e_util import fresh_cbes, fresh_ssins, ndjson, read_topic, wait_for
from relais_harness import (REPO, Relais, api_headers, api_import, api_put_cpas, new_ticket,
                            post_batch_until_accepted, sppis_clignotant)


class StandIn:
    """The upstream stand-in on ephemeral ports; the control port stays up while "down".
    `script` and `args`: another stand-in of the same control API (fake_sppis.py)."""

    def __init__(self, log_path: Path, script: str = "upstream_standin.py", args: tuple[str, ...] = ()):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([str(REPO / "var/venv/bin/python"), str(REPO / "tests/harness" / script),
                                      "--port", "0", "--control-port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        first = self.proc.stdout.readline().decode().split()
        assert first[:1] == ["PORT"], f"{script} did not start: {first}"
        self.port, self.control_port = int(first[1]), int(first[3])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/pcsaa/alert-reactions"

    def control(self, **kw) -> dict:
        r = requests.post(f"http://127.0.0.1:{self.control_port}/_control", json=kw, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def received(self) -> list[dict]:
        return requests.get(f"http://127.0.0.1:{self.control_port}/_received", timeout=30).json()["received"]

    def stats(self) -> dict:
        return requests.get(f"http://127.0.0.1:{self.control_port}/_stats", timeout=10).json()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()


# relais-api's delivery settings for these tests: short timeouts, backoff and breaker periods.
FAST_RETRIES = {
    "RELAIS_UPSTREAM_TIMEOUT_MS": "2000",
    "RELAIS_UPSTREAM_BASE_BACKOFF_MS": "200",
    "RELAIS_UPSTREAM_MAX_BACKOFF_MS": "3000",
    "RELAIS_UPSTREAM_BREAKER_OPEN_MS": "2000",
    "RELAIS_UPSTREAM_CONCURRENCY": "8",
    "RELAIS_OUTBOX_GAUGES_INTERVAL_MS": "1000",
}


@pytest.fixture(scope="module")
def standin(run_dir):
    s = StandIn(run_dir / "standin.log")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def relais_r(stack, run_dir, standin):
    r = Relais(stack=stack, run_dir=run_dir, extra_env={
        "RELAIS_LOG_LEVEL": os.environ.get("RELAIS_E2E_LOG_LEVEL", "info"),
        "RELAIS_UPSTREAM_URL": standin.url, **FAST_RETRIES})
    try:
        r.start_all()
    except Exception:
        r.stop_all()
        e2e_util.dump_logs(run_dir)
        raise
    yield r
    codes = {k: s.stop() for k, s in r.services.items()}
    print(f"\nrelais services stopped: {codes}; logs in {run_dir}")


def make_alerts(relais, db, n: int, label: str):
    """One CPAS, n persons integrated (quality 1), an SPP IS clignotant for each (flow
    sppis-clignotant: only those take a reaction; docs/clignotants.md). Returns (cbe, alert ids)."""
    rng = random.Random()
    cbe = fresh_cbes(rng, 1)[0]
    ssins = fresh_ssins(db, rng, n)
    api_put_cpas(relais.api.url, cbe, f"CPAS e2e reactions {label}", ["21004"])
    assert api_import(relais.api.url, cbe, [(s, 1, "2020-01-01", None) for s in ssins]).status_code == 200
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{cbe}"}}') == n, 30,
             what="router directory")
    tag = uuid.uuid4().hex[:8].upper()
    lines = ndjson([sppis_clignotant(new_ticket(), s, cbe, f"CLG-{tag}-{i}", "2024-05-01")
                    for i, s in enumerate(ssins)])
    for i in range(0, n, 500):
        rep = post_batch_until_accepted(relais.ingest.url, "sppis-clignotant", lines[i:i + 500])
        assert rep["rejected"] == 0, rep

    def listed():
        out, after = [], None
        while True:
            q = {"limit": 1000, "type": "WORK_INCOME"}
            if after:
                q["after"] = after
            r = requests.get(f"{relais.api.url}/v1/cpas/{cbe}/alerts", params=q, headers=api_headers(), timeout=30)
            assert r.status_code == 200, r.text
            out += r.json()["alerts"]
            after = r.json().get("next_after")
            if not after:
                return out
    alerts = wait_for(lambda: (lambda a: a if len(a) >= n else None)(listed()), 120, interval=0.5,
                      what=f"{n} alerts stored by relais-api")
    assert len(alerts) == n
    assert all(a["status"] == "OPEN" for a in alerts)
    return cbe, [a["alert_id"] for a in alerts]


def react(api_url_of, cbe: str, alert_id: str, code: str, deadline_s: float = 120) -> str:
    """Posts a reaction like a CPAS application: retries connection errors and
    5xx; a 409 after a retry means the earlier attempt was committed.
    Returns the reaction id."""
    deadline = time.monotonic() + deadline_s
    retried = False
    while True:
        try:
            r = requests.post(f"{api_url_of()}/v1/cpas/{cbe}/alerts/{alert_id}/reaction",
                              json={"code": code, "comment": "e2e"}, headers=api_headers(), timeout=10)
            if r.status_code == 201:
                return r.json()["reaction_id"]
            if r.status_code == 409 and retried:
                return r.json()["reaction_id"]
            if r.status_code < 500:
                raise AssertionError(f"reaction refused: {r.status_code} {r.text}")
        except requests.RequestException:
            pass
        retried = True
        if time.monotonic() > deadline:
            raise TimeoutError(f"reaction to {alert_id} never accepted")
        time.sleep(0.2)


def test_refusals_and_amendment(relais_r, db, standin):
    standin.control(mode="ok", fail_rate=0.0, down=False)
    cbe, ids = make_alerts(relais_r, db, 2, "refusals")
    other = fresh_cbes(random.Random(), 1)[0]
    api_put_cpas(relais_r.api.url, other, "CPAS e2e other", ["44021"])
    base = f"{relais_r.api.url}/v1/cpas/{cbe}/alerts"

    r = requests.post(f"{base}/{ids[0]}/reaction", json={"code": "SOMETHING_ELSE"}, headers=api_headers(), timeout=10)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_REACTION_CODE" and r.json()["field"] == "code", r.text
    r = requests.post(f"{base}/{new_ticket()}/reaction", json={"code": "NO_IMPACT"}, headers=api_headers(), timeout=10)
    assert r.status_code == 404 and r.json()["code"] == "ALERT_NOT_FOUND", r.text
    r = requests.post(f"{relais_r.api.url}/v1/cpas/{other}/alerts/{ids[0]}/reaction", json={"code": "NO_IMPACT"},
                      headers=api_headers(), timeout=10)
    assert r.status_code == 404 and r.json()["code"] == "ALERT_NOT_FOUND", r.text
    r = requests.get(f"{relais_r.api.url}/v1/cpas/{other}/alerts/{ids[0]}", headers=api_headers(), timeout=10)
    assert r.status_code == 404, "another CPAS's alert is never revealed"
    r = requests.post(f"{base}/{ids[0]}/reaction", json={"code": "NO_IMPACT", "colour": "red"}, headers=api_headers(), timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "colour"
    assert db.query(f"SELECT count(*) FROM reactions WHERE alert_id = '{ids[0]}'") == [["0"]]

    first = requests.post(f"{base}/{ids[0]}/reaction", json={"code": "UNDER_INVESTIGATION"}, headers=api_headers(), timeout=10)
    assert first.status_code == 201, first.text
    r = requests.post(f"{base}/{ids[0]}/reaction", json={"code": "AID_REVISED"}, headers=api_headers(), timeout=10)
    assert r.status_code == 409 and r.json()["code"] == "REACTION_EXISTS"
    amend = requests.post(f"{base}/{ids[0]}/reaction", json={"code": "AID_REVISED", "amendment": True}, headers=api_headers(), timeout=10)
    assert amend.status_code == 201 and amend.json()["sequence"] == 2, amend.text

    def sent():
        a = requests.get(f"{base}/{ids[0]}", headers=api_headers(), timeout=10).json()
        return a if a["status"] == "SENT" and all(x["delivery_status"] == "SENT" for x in a["reactions"]) else None
    a = wait_for(sent, 30, what="reaction and amendment SENT")
    assert [x["code"] for x in a["reactions"]] == ["UNDER_INVESTIGATION", "AID_REVISED"]
    assert a["notification"]["notification"]["envelope"]["ssin"], "the alert carries its notification"
    keys = {x["key"] for x in standin.received()}
    assert {first.json()["reaction_id"], amend.json()["reaction_id"]} <= keys


def test_thousand_reactions_through_failures_outage_and_sigkill(relais_r, db, brokers, standin):
    n = 1000
    cbe, ids = make_alerts(relais_r, db, n, "1000")
    standin.control(mode="ok", fail_rate=0.5, down=False)
    t0 = time.monotonic()
    reaction_ids: dict[str, str] = {}
    lock = threading.Lock()
    posted = [0]

    def one(alert_id: str):
        rid = react(lambda: relais_r.api.url, cbe, alert_id, "NO_IMPACT")
        with lock:
            reaction_ids[alert_id] = rid
            posted[0] += 1
        time.sleep(0.1)  # pace: 8 clients at ~10 reactions/s each, so the run spans the outage

    events = {}

    def chaos():
        wait_for(lambda: posted[0] >= 150, 120, interval=0.05, what="first reactions posted")
        standin.control(down=True)
        events["down_at"] = time.monotonic() - t0
        wait_for(lambda: posted[0] >= 300, 120, interval=0.05, what="more reactions posted")
        relais_r.api.kill(signal.SIGKILL)
        events["killed_at"] = time.monotonic() - t0
        events["posted_at_kill"] = posted[0]
        relais_r.api.restart()
        events["restarted_at"] = time.monotonic() - t0
        time.sleep(max(0.0, events["down_at"] + 30 - (time.monotonic() - t0)))  # the 30 s outage itself
        standin.control(down=False)
        events["up_at"] = time.monotonic() - t0

    ch = threading.Thread(target=chaos)
    ch.start()
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(one, ids))
    posted_s = time.monotonic() - t0
    ch.join(180)
    assert not ch.is_alive()
    assert len(reaction_ids) == n

    def all_sent():
        rows = db.query(f"SELECT count(*) FILTER (WHERE delivery_status = 'SENT'), count(*) FROM reactions "
                        f"WHERE cpas_cbe = '{cbe}'")
        s, total = int(rows[0][0]), int(rows[0][1])
        return (s, total) if s == n else None
    try:
        wait_for(all_sent, 240, interval=1.0, what="all reactions SENT")
    finally:
        print(f"\nevents: {events}; posting took {posted_s:.1f}s")
    all_sent_s = time.monotonic() - t0
    assert db.query(f"SELECT count(*) FROM reactions WHERE cpas_cbe = '{cbe}'") == [[str(n)]], "one reaction per alert"
    assert db.query(f"SELECT count(*) FROM alerts WHERE cpas_cbe = '{cbe}' AND status = 'SENT'") == [[str(n)]]
    r = requests.get(f"{relais_r.api.url}/v1/cpas/{cbe}/alerts", params={"status": "SENT", "limit": 1000}, headers=api_headers(), timeout=30)
    assert len(r.json()["alerts"]) == n

    # The upstream got every idempotency key at least once (it drops the duplicates itself).
    got: dict[str, int] = {}
    for x in standin.received():
        got[x["key"]] = got.get(x["key"], 0) + 1
    want = set(reaction_ids.values())
    missing = want - set(got)
    assert not missing, f"{len(missing)} reactions never reached the upstream, e.g. {sorted(missing)[:3]}"
    dup_keys = sum(1 for k in want if got[k] > 1)

    # ... and the CPAS's own topic has every reaction (at least once).
    recs = read_topic(brokers, f"cpas.{cbe}.alert-reactions.v1")
    on_topic = {e2e_util.headers_of(m).get("reaction-id") for m in recs}
    assert want <= on_topic, f"{len(want - on_topic)} reactions missing on the topic"

    outcomes = dict((a, int(b)) for a, b in db.query(
        "SELECT outcome, count(*) FROM reaction_attempts WHERE reaction_id IN "
        f"(SELECT id FROM reactions WHERE cpas_cbe = '{cbe}') AND destination = 'upstream' GROUP BY outcome"))
    assert outcomes.get("sent", 0) >= n
    assert outcomes.get("http_5xx", 0) > 0 and outcomes.get("connect_error", 0) > 0, outcomes
    instances = db.query("SELECT count(DISTINCT instance) FROM reaction_attempts WHERE reaction_id IN "
                         f"(SELECT id FROM reactions WHERE cpas_cbe = '{cbe}')")[0][0]
    stats = standin.stats()
    print(f"1000 reactions: all SENT {all_sent_s:.1f}s after the first post (posting {posted_s:.1f}s); "
          f"upstream attempts by outcome {outcomes}; keys received {len(want & set(got))}/{n}, "
          f"received more than once {dup_keys}; relais-api instances that delivered {instances}; "
          f"stand-in {stats}; topic records {len(recs)}")
