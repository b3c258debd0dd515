"""The subscriber's side (docs/subscribers.md) on the real services and broker: `relaisctl cpas
onboard` gives two applications of two CPAS their access (topics, SCRAM principal, ACLs, API
token, connection bundle), idempotently; the reference consumers (examples/python/consumer.py,
and examples/java with Maven) run on the bundles receives exactly its CPAS's records (compared with the journal), decoded,
de-duplicated on the ticket, offsets committed; each bundle is refused on the other CPAS's topic
and group; `relaisctl cpas offboard` revokes the principal and the token (refused within 5 s);
both are journaled in directory_journal."""

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
from confluent_kafka import Consumer, KafkaError, TopicPartition

from e2e_util import fresh_cbes, fresh_ssins, wait_for
from relais_harness import BUILD, REPO, api_import, notification, post_batch_until_accepted

CTL = BUILD / "services" / "relaisctl"
EXAMPLE = REPO / "examples" / "python" / "consumer.py"
sys.path.insert(0, str(EXAMPLE.parent))
import consumer as example  # noqa: E402


def ctl(stack, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, RELAIS_PG_DSN=stack["RELAIS_PG_DSN"], RELAIS_KAFKA_BROKERS=stack["RELAIS_KAFKA_BROKERS"],
               RELAIS_CTL_ACTOR="e2e-subscribers", RELAIS_CTL_ACLS_TOOL=str(REPO / "deploy/kafka/acls.sh"))
    return subprocess.run([str(CTL), *args], env=env, capture_output=True, text=True, timeout=180, cwd=cwd)


def run_example(bundle: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLE), "--bundle", str(bundle), *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def world(relais, db, stack, tmp_path_factory):
    rng = random.Random()
    a, b = fresh_cbes(rng, 2)
    tag = uuid.uuid4().hex[:6]
    apps = {a: f"social-{tag}", b: f"energie-{tag}"}
    out = tmp_path_factory.mktemp("bundles")
    bundles = {}
    for cbe, app in apps.items():
        p = ctl(stack, "cpas", "onboard", cbe, "--app", app, "--name", f"CPAS e2e subscribers {cbe}",
                "--out", str(out / cbe))
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"cpas-{cbe}-{app} onboarded for CPAS {cbe} (CPAS created)" in p.stdout, p.stdout
        assert p.stdout.count("\n  ") >= 3 and "next:" in p.stdout, p.stdout  # the next three commands
        bundles[cbe] = out / cbe
    ssins = fresh_ssins(db, rng, 2)
    for cbe, ssin in zip((a, b), ssins):
        r = api_import(relais.api.url, cbe, [(ssin, 1, "2020-01-01", None)])
        assert r.status_code == 200, r.text
    for cbe in (a, b):  # the routers have the integrations before the notifications come
        wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{cbe}"}}') == 1, 30,
                 what=f"router directory of {cbe}")
    # three notifications per CPAS, and one re-post of a ticket (published once by Relais)
    tickets = {a: [], b: []}
    lines = []
    for cbe, ssin in zip((a, b), ssins):
        for _ in range(3):
            t = str(uuid.uuid4())
            tickets[cbe].append(t)
            lines.append(json.dumps(notification("notify-person", t, ssin, "2026-11-01", rng, event="NAME_CHANGE")))
    rep = post_batch_until_accepted(relais.ingest.url, "notify-person", lines)
    assert rep["accepted"] == len(lines), rep
    post_batch_until_accepted(relais.ingest.url, "notify-person", lines[:1])
    every = tickets[a] + tickets[b]
    wait_for(lambda: len(db.journal(every)) and
             sum(1 for j in db.journal(every) if j["kind"] == "routed") == len(every), 120, what="routed")
    return {"a": a, "b": b, "apps": apps, "bundles": bundles, "tickets": tickets, "ssins": dict(zip((a, b), ssins)),
            "out": out}


def test_bundle_contents(world):
    a, app = world["a"], world["apps"][world["a"]]
    bundle = world["bundles"][a]
    assert oct(bundle.stat().st_mode & 0o777) == "0o700"
    for f in ("client.properties", "kafka.password", "api.token"):
        assert (bundle / f).stat().st_mode & 0o077 == 0, f
    props = (bundle / "client.properties").read_text()
    for line in ("isolation.level=read_committed", "enable.auto.commit=false", f"group.id=cpas.{a}.{app}",
                 f"sasl.username=cpas-{a}-{app}", "sasl.mechanism=SCRAM-SHA-512"):
        assert line + "\n" in props, line
    assert "ScramLoginModule required" in props  # the Java client's form
    conf = example.load_bundle(bundle)
    assert "sasl.jaas.config" not in conf and conf["isolation.level"] == "read_committed"


def test_each_consumer_gets_exactly_its_cpas_records(world, db):
    for cbe in (world["a"], world["b"]):
        seen = world["out"] / f"seen-{cbe}"
        p = run_example(world["bundles"][cbe], "--json", "--idle", "8", "--seen", str(seen))
        assert p.returncode == 0, p.stderr
        got = [json.loads(x) for x in p.stdout.splitlines()]
        routed = {r[0] for r in db.query(f"SELECT ticket FROM journal WHERE kind = 'routed' AND cpas_cbe = '{cbe}'")}
        assert routed == set(world["tickets"][cbe])  # the journal's view of this CPAS (fresh CBE)
        assert sorted(g["ticket"] for g in got) == sorted(routed), (got, routed)  # exactly once each
        assert {g["cpas"] for g in got} == {cbe} and {g["ssin"] for g in got} == {world["ssins"][cbe]}
        assert {g["flow"] for g in got} == {"notify-person"} and {g["body"] for g in got} == {"notify_person"}
        # offsets were committed after processing: the same group reads nothing new
        again = run_example(world["bundles"][cbe], "--json", "--idle", "5", "--seen", str(seen))
        assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr


def test_duplicates_are_skipped_on_the_ticket(world):
    a = world["a"]
    seen = world["out"] / "seen-dup"
    # another group of the application's prefix re-reads everything: a replay of the same records
    p1 = run_example(world["bundles"][a], "--json", "--idle", "6", "--seen", str(seen), "--group",
                     f"cpas.{a}.{world['apps'][a]}-dup1")
    p2 = run_example(world["bundles"][a], "--json", "--idle", "6", "--seen", str(seen), "--group",
                     f"cpas.{a}.{world['apps'][a]}-dup2")
    assert p1.returncode == 0 and p2.returncode == 0, p1.stderr + p2.stderr
    assert len(p1.stdout.splitlines()) == 3 and p2.stdout == "", (p1.stdout, p2.stdout)


def refused(conf: dict, topic: str) -> str:
    errors = []
    c = Consumer({**conf, "error_cb": errors.append})
    try:
        c.subscribe([topic])
        deadline = time.time() + 20
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() and m.error().code() != KafkaError._PARTITION_EOF:
                return m.error().name()
            if m is not None and not m.error():
                return ""
            for e in errors:
                if e.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
                    return e.name()
        return ""
    finally:
        c.close()


def test_refused_on_the_other_cpas_topic_and_group(world):
    a, b = world["a"], world["b"]
    conf = example.load_bundle(world["bundles"][a])
    assert refused(conf, f"cpas.{b}.notifications.v1") == "TOPIC_AUTHORIZATION_FAILED"
    assert refused({**conf, "group.id": f"cpas.{b}.{world['apps'][b]}"},
                   f"cpas.{a}.notifications.v1") == "GROUP_AUTHORIZATION_FAILED"
    p = run_example(world["bundles"][a], "--topic", f"cpas.{b}.notifications.v1", "--idle", "20")
    assert p.returncode == 1 and "authorization failed" in p.stderr.lower(), p.stderr


def test_api_token_scoped_to_its_cpas(world, relais):
    a, b = world["a"], world["b"]
    tok = (world["bundles"][a] / "api.token").read_text().strip()
    h = {"Authorization": f"Bearer {tok}"}
    assert requests.get(f"{relais.api.url}/v1/cpas/{a}/integrations", headers=h, timeout=10).status_code == 200
    assert requests.get(f"{relais.api.url}/v1/cpas/{b}/integrations", headers=h, timeout=10).status_code == 403


def test_onboard_again_is_idempotent(world, stack):
    a, app = world["a"], world["apps"][world["a"]]
    before = {f: (world["bundles"][a] / f).read_text() for f in ("kafka.password", "api.token")}
    p = ctl(stack, "cpas", "onboard", a, "--app", app, "--out", str(world["bundles"][a]))
    assert p.returncode == 0, p.stderr
    assert "(CPAS created)" not in p.stdout and "(kept)" in p.stdout, p.stdout
    assert {f: (world["bundles"][a] / f).read_text() for f in before} == before


def test_usage_errors(stack, tmp_path):
    assert ctl(stack, "cpas", "onboard", "0212344875", "--app", "x").returncode == 2  # CBE check digits
    assert ctl(stack, "cpas", "onboard", "0212344876", "--app", "Bad_Name").returncode == 2
    assert ctl(stack, "cpas", "onboard", "0212344876").returncode == 2


JAVA = REPO / "examples" / "java"


@pytest.fixture(scope="module")
def java_consumer():
    """examples/java built with Maven (kafka-clients and protobuf-java from Maven Central or
    ~/.m2). Skipped, saying so, only when Maven cannot resolve them (exit 3 of build.sh)."""
    p = subprocess.run([str(JAVA / "build.sh")], capture_output=True, text=True, timeout=600)
    if p.returncode == 3:
        pytest.skip(f"Java reference consumer not built: Maven could not resolve its dependencies: {p.stderr[-500:]}")
    assert p.returncode == 0, p.stdout + p.stderr
    return JAVA / "run.sh"


def test_java_consumer_gets_exactly_its_cpas_records_and_is_refused_elsewhere(world, db, java_consumer):
    a, b, app = world["a"], world["b"], world["apps"][world["a"]]
    bundle = world["bundles"][a]
    p = subprocess.run([str(java_consumer), "--bundle", str(bundle), "--group", f"cpas.{a}.{app}-java", "--json",
                        "--idle", "10"], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    got = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    routed = {r[0] for r in db.query(f"SELECT ticket FROM journal WHERE kind = 'routed' AND cpas_cbe = '{a}'")}
    assert sorted(g["ticket"] for g in got) == sorted(routed) and routed == set(world["tickets"][a]), (got, routed)
    assert {g["cpas"] for g in got} == {a} and {g["body"] for g in got} == {"notify_person"}
    # committed after processing: the same group reads nothing new
    again = subprocess.run([str(java_consumer), "--bundle", str(bundle), "--group", f"cpas.{a}.{app}-java",
                            "--json", "--idle", "6"], capture_output=True, text=True, timeout=180)
    assert again.returncode == 0 and not [x for x in again.stdout.splitlines() if x.startswith("{")], again.stdout
    refused_p = subprocess.run([str(java_consumer), "--bundle", str(bundle), "--topic", f"cpas.{b}.notifications.v1",
                                "--idle", "20"], capture_output=True, text=True, timeout=180)
    assert refused_p.returncode == 1 and "TopicAuthorizationException" in refused_p.stderr, refused_p.stderr[-2000:]
    refused_g = subprocess.run([str(java_consumer), "--bundle", str(bundle), "--group", f"cpas.{b}.x",
                                "--idle", "20"], capture_output=True, text=True, timeout=180)
    assert refused_g.returncode == 1 and "GroupAuthorizationException" in refused_g.stderr, refused_g.stderr[-2000:]


def test_offboard_refused_within_5s_and_journaled(world, stack, relais, db):
    b, app = world["b"], world["apps"][world["b"]]
    bundle = world["bundles"][b]
    tok = (bundle / "api.token").read_text().strip()
    conf = example.load_bundle(bundle)
    p = ctl(stack, "cpas", "offboard", b, "--app", app, "--reason", "e2e: application retired")
    assert p.returncode == 0, p.stdout + p.stderr
    t0 = time.monotonic()
    # Kafka: the principal is refused at once (SCRAM user deleted, ACLs removed)
    assert refused(conf, f"cpas.{b}.notifications.v1") in ("SASL_AUTHENTICATION_FAILED", "_AUTHENTICATION",
                                                              "TOPIC_AUTHORIZATION_FAILED")
    assert time.monotonic() - t0 < 5
    # relais-api: the token within auth.cache_ttl_ms (5 s) of the revocation
    h = {"Authorization": f"Bearer {tok}"}
    wait_for(lambda: requests.get(f"{relais.api.url}/v1/cpas/{b}/integrations", headers=h, timeout=5).status_code
             == 401, max(0.1, 5.5 - (time.monotonic() - t0)), what="token refused within 5 s")
    rows = db.query("SELECT action, detail->>'app', actor FROM directory_journal "
                    f"WHERE cbe = '{b}' AND action IN ('cpas-create', 'app-onboard', 'app-offboard') ORDER BY id")
    assert [r[0] for r in rows] == ["cpas-create", "app-onboard", "app-offboard"], rows
    assert rows[1][1:] == [app, "e2e-subscribers"] and rows[2][1:] == [app, "e2e-subscribers"]
    # offboarding again is harmless
    assert ctl(stack, "cpas", "offboard", b, "--app", app).returncode == 0
