"""Replays (docs/subscribers.md section 6) on the real services and broker: two CPAS onboarded
with `relaisctl cpas onboard`, notifications routed to both in two waves, the records of CPAS A's
topic deleted (as Kafka's retention would); `relaisctl replay --cpas A --since <between the waves>`
with A's own token then publishes to cpas.A.replay.v1 exactly A's records routed since then
(compared with the journal), byte for byte as they were routed plus the `replay` header, in
routing order, readable with A's bundle (onboarding granted it), nothing of B; the same command
again publishes nothing twice; a replay whose worker died after publishing a record without
recording it continues after that record; the API refuses another CPAS's token and bad input."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from e2e_util import end_offsets, fresh_cbes, fresh_ssins, headers_of, read_topic, wait_for
from relais_harness import BUILD, REPO, api_headers, api_import, kafka_conf, notification, post_batch_until_accepted

CTL = BUILD / "services" / "relaisctl"
EXAMPLE = REPO / "examples" / "python" / "consumer.py"


API_URL: dict[str, str] = {}


def ctl(stack, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, RELAIS_PG_DSN=stack["RELAIS_PG_DSN"], RELAIS_KAFKA_BROKERS=stack["RELAIS_KAFKA_BROKERS"],
               RELAIS_CTL_ACTOR="e2e-replay", RELAIS_CTL_ACLS_TOOL=str(REPO / "deploy/kafka/acls.sh"), **API_URL)
    if token:
        env["RELAIS_API_TOKEN"] = token
    return subprocess.run([str(CTL), *args], env=env, capture_output=True, text=True, timeout=180)


def routed(db, cbe: str, since: str | None = None, until: str | None = None) -> list[str]:
    """The journal's tickets routed to `cbe` in [since, until), in routing order."""
    where = f"kind = 'routed' AND cpas_cbe = '{cbe}'"
    if since:
        where += f" AND at >= '{since}'"
    if until:
        where += f" AND at < '{until}'"
    return [r[0] for r in db.query(f"SELECT ticket FROM journal WHERE {where} ORDER BY at, id")]


def route_wave(relais, db, rng, ssins: dict[str, str], per_cpas: int) -> dict[str, list[str]]:
    tickets: dict[str, list[str]] = {c: [] for c in ssins}
    lines = []
    for cbe, ssin in ssins.items():
        for _ in range(per_cpas):
            t = str(uuid.uuid4())
            tickets[cbe].append(t)
            lines.append(json.dumps(notification("notify-person", t, ssin, "2026-11-01", rng, event="NAME_CHANGE")))
    rep = post_batch_until_accepted(relais.ingest.url, "notify-person", lines)
    assert rep["accepted"] == len(lines), rep
    every = [t for ts in tickets.values() for t in ts]
    wait_for(lambda: sum(1 for j in db.journal(every) if j["kind"] == "routed") == len(every), 120, what="routed")
    return tickets


def replay_records(brokers: str, cbe: str, replay_id: str | None = None) -> list:
    recs = read_topic(brokers, f"cpas.{cbe}.replay.v1")
    return [m for m in recs if replay_id is None or headers_of(m).get("replay") == replay_id]


@pytest.fixture(scope="module")
def world(relais, db, stack, brokers, tmp_path_factory):
    API_URL["RELAIS_API_URL"] = relais.api.url
    rng = random.Random()
    a, b = fresh_cbes(rng, 2)
    tag = uuid.uuid4().hex[:6]
    out = tmp_path_factory.mktemp("replay-bundles")
    bundles = {}
    for cbe in (a, b):
        p = ctl(stack, "cpas", "onboard", cbe, "--app", f"replay-{tag}", "--name", f"CPAS e2e replay {cbe}",
                "--out", str(out / cbe))
        assert p.returncode == 0, p.stdout + p.stderr
        bundles[cbe] = out / cbe
    ssins = dict(zip((a, b), fresh_ssins(db, rng, 2)))
    for cbe, ssin in ssins.items():
        r = api_import(relais.api.url, cbe, [(ssin, 1, "2020-01-01", None)])
        assert r.status_code == 200, r.text
    for cbe in (a, b):
        wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{cbe}"}}') == 1, 30,
                 what=f"router directory of {cbe}")
    wave1 = route_wave(relais, db, rng, ssins, 2)
    # `since`: one microsecond after the last routing of the first wave (the journal's time).
    cut = db.query("SELECT to_char((max(at) + interval '1 microsecond') AT TIME ZONE 'UTC', "
                   "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM journal WHERE kind = 'routed' AND cpas_cbe IN "
                   f"('{a}', '{b}')")[0][0]
    time.sleep(0.05)
    wave2 = route_wave(relais, db, rng, ssins, 3)
    topic = f"cpas.{a}.notifications.v1"
    originals = {(m.partition(), m.offset()): m for m in read_topic(brokers, topic)}
    assert len(originals) == 5
    # the archive has them all before Kafka loses them
    wait_for(lambda: int(db.query(f"SELECT count(*) FROM notification_archive WHERE cpas_cbe = '{a}'")[0][0]) == 5,
             60, what="archived")
    # Kafka's retention, at once: every record of A's topic deleted
    admin = AdminClient({**kafka_conf(), "bootstrap.servers": brokers})
    ends = end_offsets(brokers, topic)
    futures = admin.delete_records([TopicPartition(topic, p, o) for p, o in ends.items() if o > 0])
    for f in futures.values():
        f.result(timeout=30)
    assert read_topic(brokers, topic) == []
    return {"a": a, "b": b, "ssins": ssins, "bundles": bundles, "wave1": wave1, "wave2": wave2, "cut": cut,
            "originals": originals, "token": {c: (bundles[c] / "api.token").read_text().strip() for c in (a, b)}}


def test_replay_since_a_date_publishes_exactly_that_cpas_records_as_routed(world, db, stack, brokers):
    a, b, cut = world["a"], world["b"], world["cut"]
    p = ctl(stack, "replay", "--cpas", a, "--since", cut, token=world["token"][a])
    assert p.returncode == 0, p.stdout + p.stderr
    assert " done: 3 of 3 record(s) on cpas." + a + ".replay.v1" in p.stdout, p.stdout
    replay_id = p.stdout.split()[1]
    got = replay_records(brokers, a, replay_id)
    expected = routed(db, a, since=cut)
    assert expected == world["wave2"][a]  # the journal's view: the second wave only
    assert [headers_of(m)["ticket"] for m in got] == expected  # exactly those, once each, in routing order
    positions = [tuple(int(x) for x in headers_of(m)["replay-position"].split(":")) for m in got]
    assert positions == sorted(positions)
    for m, (_, part, off) in zip(got, positions):
        orig = world["originals"][(part, off)]  # gone from Kafka, kept by the archive
        assert m.key() == orig.key() and m.value() == orig.value()
        assert [h for h in m.headers() if h[0] not in ("replay", "replay-position")] == list(orig.headers() or [])
        assert m.partition() == 0
    # nothing of CPAS B: not in A's replay, nothing in B's replay topic
    assert all(world["ssins"][b].encode() != m.key() for m in got)
    assert sum(end_offsets(brokers, f"cpas.{b}.replay.v1").values()) == 0
    # A's application reads its replay topic with its own bundle (onboarding granted it)
    ex = subprocess.run([sys.executable, str(EXAMPLE), "--bundle", str(world["bundles"][a]), "--replay", "--json",
                         "--idle", "8"], capture_output=True, text=True, timeout=120)
    assert ex.returncode == 0, ex.stderr
    seen = [json.loads(x) for x in ex.stdout.splitlines()]
    assert [s["ticket"] for s in seen] == expected and {s["replay"] for s in seen} == {replay_id}
    assert {s["cpas"] for s in seen} == {a}
    # ... and is refused on B's
    ex_b = subprocess.run([sys.executable, str(EXAMPLE), "--bundle", str(world["bundles"][a]), "--topic",
                           f"cpas.{b}.replay.v1", "--idle", "20"], capture_output=True, text=True, timeout=120)
    assert ex_b.returncode == 1 and "authorization failed" in ex_b.stderr.lower(), ex_b.stderr


def test_the_same_replay_again_publishes_nothing_twice(world, db, stack, brokers):
    a, cut = world["a"], world["cut"]
    before = sum(end_offsets(brokers, f"cpas.{a}.replay.v1").values())
    p = ctl(stack, "replay", "--cpas", a, "--since", cut, token=world["token"][a])
    assert p.returncode == 0 and "(already done)" in p.stderr, p.stdout + p.stderr
    time.sleep(2)
    assert sum(end_offsets(brokers, f"cpas.{a}.replay.v1").values()) == before


def test_until_bounds_the_replay_and_the_operator_may_ask(world, db, stack, brokers):
    a, cut = world["a"], world["cut"]
    p = ctl(stack, "replay", "--cpas", a, "--since", "2020-01-01", "--until", cut, "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout)
    assert r["state"] == "done" and r["total"] == r["published"] == 2
    got = replay_records(brokers, a, r["id"])
    assert [headers_of(m)["ticket"] for m in got] == routed(db, a, until=cut) == world["wave1"][a]


def test_a_replay_whose_worker_died_continues_after_its_last_published_record(world, db, brokers):
    """The worst moment of a crash: the worker published a record and died before recording it.
    The replay (lease of a dead worker, expiring) is taken up again and continues after the
    record the replay topic holds: each record once."""
    a, cut = world["a"], world["cut"]
    rid = db.query(
        "INSERT INTO cpas_replays (cpas_cbe, since, topic, total, requested_by, lease_owner, lease_until) "
        f"VALUES ('{a}', '{cut}', 'cpas.{a}.replay.v1', 3, 'e2e', 'dead-worker', now() + interval '4 seconds') "
        "RETURNING id::text")[0][0]
    first = db.query(
        "SELECT (extract(epoch FROM routed_at) * 1000000)::bigint, kafka_partition, kafka_offset FROM "
        f"notification_archive WHERE cpas_cbe = '{a}' AND routed_at >= '{cut}' "
        "ORDER BY routed_at, kafka_partition, kafka_offset LIMIT 1")[0]
    orig = world["originals"][(int(first[1]), int(first[2]))]
    prod = Producer({**kafka_conf(), "bootstrap.servers": brokers, "enable.idempotence": True})
    prod.produce(f"cpas.{a}.replay.v1", key=orig.key(), value=orig.value(), partition=0,
                 headers=list(orig.headers() or []) + [("replay", rid), ("replay-position", ":".join(first))])
    assert prod.flush(30) == 0
    wait_for(lambda: db.query(f"SELECT state FROM cpas_replays WHERE id = '{rid}'")[0][0] == "done", 60,
             what="the replay taken up again and done")
    got = replay_records(brokers, a, rid)
    assert [headers_of(m)["ticket"] for m in got] == routed(db, a, since=cut)
    assert len({headers_of(m)["replay-position"] for m in got}) == 3
    assert db.query(f"SELECT published, total FROM cpas_replays WHERE id = '{rid}'")[0] == ["3", "3"]


def test_the_api_takes_the_cpas_own_token_only_and_refuses_bad_input(world, relais):
    a, b = world["a"], world["b"]
    url = f"{relais.api.url}/v1/cpas/{a}/replays"
    h_b = {"Authorization": f"Bearer {world['token'][b]}"}
    assert requests.post(url, json={"since": "2026-01-01"}, headers=h_b, timeout=10).status_code == 403
    h_a = {"Authorization": f"Bearer {world['token'][a]}"}
    for body, code in (({}, "MISSING_FIELD"), ({"since": "yesterday"}, "INVALID_DATE"),
                       ({"since": "2026-01-01", "x": 1}, "UNKNOWN_FIELD"),
                       ({"since": "2026-02-01", "until": "2026-01-01"}, "DATE_ORDER")):
        r = requests.post(url, json=body, headers=h_a, timeout=10)
        assert r.status_code == 400 and r.json()["code"] == code, (body, r.text)
    r = requests.get(f"{url}/{uuid.uuid4()}", headers=h_a, timeout=10)
    assert r.status_code == 404 and r.json()["code"] == "REPLAY_NOT_FOUND"
    # progress of a replay, by its CPAS only
    r = requests.post(url, json={"since": "2026-01-01", "until": "2026-01-02"}, headers=h_a, timeout=10)
    assert r.status_code in (200, 202), r.text
    rid = r.json()["replay"]["id"]
    wait_for(lambda: requests.get(f"{url}/{rid}", headers=h_a, timeout=10).json()["replay"]["state"] == "done", 30,
             what="empty replay done")
    assert requests.get(f"{url}/{rid}", headers=h_b, timeout=10).status_code == 403
    assert requests.get(f"{relais.api.url}/v1/cpas/{b}/replays/{rid}", headers=api_headers(),
                        timeout=10).status_code == 404
    unknown = fresh_cbes(random.Random(), 1)[0]  # a valid CBE no CPAS has
    assert requests.post(f"{relais.api.url}/v1/cpas/{unknown}/replays", json={"since": "2026-01-01"},
                         headers=api_headers(), timeout=10).json()["code"] == "CPAS_NOT_FOUND"
