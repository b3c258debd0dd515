"""SSIN replacements come only from the authentic source (docs/security.md §7), on the real
services. Two CPAS: B integrated person Y; A integrated nobody relevant. A's credential tries to
declare "X replaces Y" (quality code 999) so that B's topic receives the notifications about X
(and A those about Y): refused (403 REPLACEMENT_OPERATOR_ONLY, in the access journal), and a
read_committed consumer of B's topic proves nothing about X reached B, not even a
NATIONALITY_CHANGE for X that carries replaces_ssin = Y. Then the National Register's own
notify-person SSIN_REPLACED, posted to relais-ingest, does move B's routing to X; a later
SSIN_REPLACED that contradicts it is not applied but flagged, listed by `relaisctl directory
audit-replacements` and confirmed there; a row recorded through the former CPAS path is dropped
there and the routers stop following it. Last, the OpenAPI document's examples for these routes
are posted as they are and accepted."""

from __future__ import annotations

import json
import os
import random
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
import yaml

from e2e_util import cpas_topic, fresh_cbes, fresh_ssins, headers_of, ndjson, read_topic, wait_for
from relais_harness import (BUILD, api_headers, api_import, api_put_cpas, issue_token, new_ticket, notification,
                            post_batch_until_accepted)

CTL = BUILD / "services" / "relaisctl"
DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "api.yaml"


def ctl(stack, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RELAIS_PG_DSN=stack["RELAIS_PG_DSN"], RELAIS_CTL_ACTOR="e2e-replacements")
    return subprocess.run([str(CTL), *args], env=env, capture_output=True, text=True, timeout=60)


def post(relais, rng, ssin: str, event: str, **extra) -> str:
    t = new_ticket()
    line = ndjson([notification("notify-person", t, ssin, "2024-06-01", rng, event=event, **extra)])
    assert post_batch_until_accepted(relais.ingest.url, "notify-person", line)["rejected"] == 0
    return t


def routed_to(db, ticket: str, timeout: float = 60) -> set[str]:
    """The CPAS the router sent `ticket` to, once its decision is journaled (the journal and the
    CPAS topics are written in the same Kafka transaction: once journaled, the topics have it)."""
    def done():
        rows = db.journal([ticket])
        return rows if any(r["kind"] in ("routed", "dropped") for r in rows) else None
    rows = wait_for(done, timeout, interval=0.3, what=f"the router's decision on {ticket}")
    return {r["cpas"] for r in rows if r["kind"] == "routed"}


def about(brokers, cbe: str, ssins: set[str], tickets: set[str]) -> list:
    """Every committed record of the CPAS's topic about these numbers or with these tickets."""
    return [m for m in read_topic(brokers, cpas_topic(cbe))
            if (m.key() or b"").decode() in ssins or headers_of(m).get("ticket") in tickets]


@pytest.fixture(scope="module")
def world(relais, db, stack):
    rng = random.Random()
    a, b = fresh_cbes(rng, 2)
    y, x, z, x_a = fresh_ssins(db, rng, 4)
    api_put_cpas(relais.api.url, a, "CPAS e2e replacements A", ["21004"])
    api_put_cpas(relais.api.url, b, "CPAS e2e replacements B", ["44021"])
    assert api_import(relais.api.url, b, [(y, 2, "2020-01-01", None)]).status_code == 200
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{b}"}}') == 1, 30,
             what="router directory")
    tag = uuid.uuid4().hex[:8]
    return {"rng": rng, "a": a, "b": b, "y": y, "x": x, "z": z, "x_a": x_a,
            "tok_a": issue_token(stack["RELAIS_PG_DSN"], f"e2e-repl-a-{tag}", [a]),
            "tok_b": issue_token(stack["RELAIS_PG_DSN"], f"e2e-repl-b-{tag}", [b])}


def test_a_cpas_cannot_make_another_cpas_receive_a_person(relais, db, brokers, world):
    w, url = world, relais.api.url
    a, b, y, x = w["a"], w["b"], w["y"], w["x"]
    tok_a = w["tok_a"]["token"]
    since = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")

    # 1. A's credential declares "X replaces Y" on its own integrations route: refused.
    rid = f"e2e-{uuid.uuid4().hex}"
    r = requests.put(f"{url}/v1/cpas/{a}/integrations", json={"ssin": x, "quality_code": 999, "replaces_ssin": y},
                     headers=api_headers(tok_a, **{"X-Request-Id": rid}), timeout=10)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "REPLACEMENT_OPERATOR_ONLY" and r.json()["field"] == "quality_code", r.text
    assert r.json()["message"]
    # 2. ... and on the operator's route.
    rid2 = f"e2e-{uuid.uuid4().hex}"
    r = requests.put(f"{url}/v1/ssin-replacements/{y}", json={"replaced_by": x, "reason": "trust me"},
                     headers=api_headers(tok_a, **{"X-Request-Id": rid2}), timeout=10)
    assert (r.status_code, r.json()["code"]) == (403, "OPERATOR_ONLY"), r.text
    # B's credential cannot either (a CPAS never records a replacement, even for its own person).
    r = requests.put(f"{url}/v1/cpas/{b}/integrations", json={"ssin": x, "quality_code": 999, "replaces_ssin": y},
                     headers=api_headers(w["tok_b"]["token"]), timeout=10)
    assert (r.status_code, r.json()["code"]) == (403, "REPLACEMENT_OPERATOR_ONLY"), r.text
    assert db.query(f"SELECT count(*) FROM ssin_replacements WHERE '{y}' IN (old_ssin, new_ssin) "
                    f"OR '{x}' IN (old_ssin, new_ssin)") == [["0"]]

    # The refusals are in the access journal, with their reason, the credential and the SSIN.
    def journaled():
        r = requests.get(f"{url}/v1/access-journal", params={"since": since, "status": "refused", "limit": 10000},
                         headers=api_headers(), timeout=10)
        assert r.status_code == 200, r.text
        got = {e["request_id"]: e for e in r.json()["entries"] if e["request_id"] in (rid, rid2)}
        return got if len(got) == 2 else None
    rows = wait_for(journaled, 15, what="the refusals in the access journal")
    assert (rows[rid]["status"], rows[rid]["refusal"]) == (403, "replacement_operator_only"), rows[rid]
    assert rows[rid]["credential_id"] == w["tok_a"]["id"] and rows[rid]["ssin"] == x, rows[rid]
    # The operator route's journal names both numbers: the new one and the one it would replace.
    assert (rows[rid2]["status"], rows[rid2]["refusal"], rows[rid2]["ssin"], rows[rid2]["replaces_ssin"]) == \
        (403, "operator_only", x, y), rows[rid2]
    assert rows[rid]["replaces_ssin"] == y, rows[rid]

    # 3. A still integrates persons with ordinary quality codes: it integrates X.
    r = requests.put(f"{url}/v1/cpas/{a}/integrations", json={"ssin": x, "quality_code": 2, "start_date": "2020-01-01"},
                     headers=api_headers(tok_a), timeout=10)
    assert r.status_code == 201, r.text
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{a}"}}') == 1, 30,
             what="router directory")

    # 4. Notifications about X: an address change, and a NATIONALITY_CHANGE claiming replaces_ssin = Y
    # (honoured on every event before: it reached B). Both reach A only.
    t1 = post(relais, w["rng"], x, "ADDRESS_CHANGE")
    t2 = post(relais, w["rng"], x, "NATIONALITY_CHANGE", replaces_ssin=y)
    assert routed_to(db, t1) == {a}
    assert routed_to(db, t2) == {a}
    # A read_committed consumer of B's topic: nothing about X, none of these tickets.
    leaked = about(brokers, b, {x}, {t1, t2})
    assert leaked == [], f"B received {len(leaked)} records about X: {[headers_of(m) for m in leaked]}"


def test_the_registers_ssin_replaced_moves_routing_and_is_never_silently_overwritten(relais, db, brokers, stack,
                                                                                      world):
    w = world
    a, b, y, x, z = w["a"], w["b"], w["y"], w["x"], w["z"]
    # The National Register announces "X replaces Y" through relais-ingest: B (Y's CPAS) is told,
    # and A too (it integrated X).
    t = post(relais, w["rng"], x, "SSIN_REPLACED", replaces_ssin=y)
    assert routed_to(db, t) == {a, b}
    rec = wait_for(lambda: db.query(f"SELECT new_ssin, source, recorded_by, needs_review::text FROM ssin_replacements "
                                    f"WHERE old_ssin = '{y}'") or None, 30, what="the register's replacement")
    assert rec == [[x, "register", f"notify-person:{t}", "false"]]
    assert db.query(f"SELECT count(*) FROM directory_journal WHERE ssin = '{y}' AND action = 'replacement-record' "
                    f"AND actor = 'notify-person:{t}'") == [["1"]]

    # B's routing follows the person to X: a later notification about X alone reaches B.
    def reaches_b():
        tick = post(relais, w["rng"], x, "ADDRESS_CHANGE")
        return tick if b in routed_to(db, tick) else None
    tick = wait_for(reaches_b, 30, interval=0.5, what="B's routing to follow Y's replacement")
    assert any(headers_of(m).get("ticket") == tick for m in about(brokers, b, {x}, {tick}))

    # A contradicting SSIN_REPLACED ("Z replaces Y") is not applied: the row is flagged, journaled.
    t_conflict = post(relais, w["rng"], z, "SSIN_REPLACED", replaces_ssin=y)
    routed_to(db, t_conflict)
    flagged = wait_for(lambda: db.query(f"SELECT new_ssin, needs_review::text, conflicting_ssin FROM ssin_replacements "
                                        f"WHERE old_ssin = '{y}' AND conflicting_ssin IS NOT NULL") or None, 30,
                       what="the conflict to be flagged")
    assert flagged == [[x, "true", z]]
    assert db.query(f"SELECT count(*) FROM directory_journal WHERE ssin = '{y}' AND action = 'replacement-conflict' "
                    f"AND detail->>'conflicting_ssin' = '{z}'") == [["1"]]
    # The operator's audit lists it, with the CPAS of each number; confirming it keeps Y -> X.
    r = ctl(stack, "directory", "audit-replacements", "--json")
    assert r.returncode == 0, r.stderr
    row = next(e for e in json.loads(r.stdout) if e["old_ssin"] == y)
    assert (row["new_ssin"], row["source"], row["register_says"], row["cpas_old"]) == (x, "register", z, b), row
    r = ctl(stack, "directory", "audit-replacements", "--confirm", y)
    assert r.returncode == 2 and "--reason" in r.stderr, (r.returncode, r.stderr)
    r = ctl(stack, "directory", "audit-replacements", "--confirm", y, "--reason", "checked with the RN: X is right")
    assert r.returncode == 0, r.stderr
    assert db.query(f"SELECT new_ssin, needs_review::text, coalesce(conflicting_ssin, '') FROM ssin_replacements "
                    f"WHERE old_ssin = '{y}'") == [[x, "false", ""]]
    assert db.query(f"SELECT actor, detail->>'reason' FROM directory_journal WHERE ssin = '{y}' "
                    "AND action = 'replacement-confirm'") == [["e2e-replacements", "checked with the RN: X is right"]]
    # A loop is refused on the ingest path too ("Y replaces X" while "X replaces Y").
    t_loop = post(relais, w["rng"], y, "SSIN_REPLACED", replaces_ssin=x)
    routed_to(db, t_loop)
    wait_for(lambda: db.query(f"SELECT 1 FROM directory_journal WHERE action = 'replacement-refused' "
                              f"AND actor = 'notify-person:{t_loop}'") or None, 30, what="the loop to be refused")
    assert db.query(f"SELECT count(*) FROM ssin_replacements WHERE old_ssin = '{x}'") == [["0"]]


def test_a_legacy_cpas_replacement_is_listed_and_dropped(relais, db, brokers, stack, world):
    """A row recorded through the former CPAS path (what migration 0008 marks legacy_cpas)."""
    w = world
    b = w["b"]
    old, new = fresh_ssins(db, w["rng"], 2)
    assert api_import(relais.api.url, b, [(old, 2, "2020-01-01", None)]).status_code == 200
    db.query("INSERT INTO ssin_replacements (old_ssin, new_ssin, source, recorded_by, updated_by, needs_review) "
             f"VALUES ('{old}', '{new}', 'legacy_cpas', 'api:cpas-a#0000000000000000', 'e2e', true)")

    def reaches_b(expect: bool):
        def once():
            tick = post(relais, w["rng"], new, "ADDRESS_CHANGE")
            return tick if (b in routed_to(db, tick)) == expect else None
        return once
    wait_for(reaches_b(True), 30, interval=0.5, what="the legacy replacement in the router's directory")
    r = ctl(stack, "directory", "audit-replacements")
    assert r.returncode == 0 and old in r.stdout and "legacy_cpas" in r.stdout, r.stdout
    r = ctl(stack, "directory", "audit-replacements", "--drop", old, "--reason", "recorded by CPAS A for B's person")
    assert r.returncode == 0, r.stderr
    wait_for(reaches_b(False), 30, interval=0.5, what="the routers to stop following the dropped replacement")
    assert db.query(f"SELECT active::text FROM ssin_replacements WHERE old_ssin = '{old}'") == [["false"]]
    assert db.query(f"SELECT count(*) FROM directory_journal WHERE ssin = '{old}' AND action = 'replacement-drop' "
                    "AND actor = 'e2e-replacements'") == [["1"]]
    r = ctl(stack, "directory", "audit-replacements", "--drop", old, "--reason", "again")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)


def test_the_openapi_examples_are_accepted(relais, stack):
    """The document's examples for the integration and replacement routes, posted as they are."""
    doc = yaml.safe_load(DOC.read_text())
    integ = doc["paths"]["/v1/cpas/{cbe}/integrations"]["put"]
    desc = doc["components"]["schemas"]["IntegrationInput"]["properties"]["quality_code"]["description"]
    assert "999" in desc and " 99 " not in f" {desc} ", desc
    cbe = doc["components"]["schemas"]["Cbe"]["example"]
    api_put_cpas(relais.api.url, cbe, "CPAS of the OpenAPI examples", ["21004"])
    body = integ["requestBody"]["content"]["application/json"]["example"]
    r = requests.put(f"{relais.api.url}/v1/cpas/{cbe}/integrations", json=body, headers=api_headers(), timeout=10)
    assert r.status_code in (200, 201), r.text
    repl = doc["paths"]["/v1/ssin-replacements/{old_ssin}"]
    old = repl["parameters"][0]["example"]
    body = repl["put"]["requestBody"]["content"]["application/json"]["example"]
    # A run on the same stack before (or schemathesis) may have recorded another number: start clean.
    known = requests.get(f"{relais.api.url}/v1/ssin-replacements/{old}", headers=api_headers(), timeout=10)
    if known.status_code == 200 and known.json()["replacement"]["active"] and \
            known.json()["replacement"]["replaced_by"] != body["replaced_by"]:
        assert ctl(stack, "directory", "audit-replacements", "--drop", old, "--reason", "e2e reset").returncode == 0
    r = requests.put(f"{relais.api.url}/v1/ssin-replacements/{old}", json=body, headers=api_headers(), timeout=10)
    assert r.status_code in (200, 201), r.text
    assert r.json()["replacement"]["replaced_by"] == body["replaced_by"]
    assert r.json()["replacement"]["source"] == "operator"
    r = requests.get(f"{relais.api.url}/v1/ssin-replacements/{old}", headers=api_headers(), timeout=10)
    assert r.status_code == 200 and r.json()["replacement"]["chain"][:2] == [old, body["replaced_by"]], r.text
