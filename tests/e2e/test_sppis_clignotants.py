"""SPP IS clignotants end to end (issue 16), with the three real binaries, the real PostgreSQL
and Kafka and the PCSAAAlertReaction stand-in (tests/harness/upstream_standin.py):

- a DIMONA mutation raises an early signal (EMPLOYMENT_STARTED) at arrival; a reaction on it is
  refused (409 EARLY_SIGNAL_NOT_REACTABLE); the social worker's notes go on it;
- the SPP IS clignotant for the same person and fact arrives later through relais-ingest
  (flow sppis-clignotant) and is linked to it: lead_days > 0 (the clignotant's issue day minus
  the early signal's day), the notes carried over, the lead-time histogram counted;
- the same clignotant sent again under another ticket is stored once; one naming a CPAS without
  a covering integration is dropped and journaled, never delivered to the CPAS that has one;
- the CPAS reacts once (with its own token); the stand-in receives exactly one reaction, which
  carries the SPP IS identifier;
- another CPAS's token can neither see nor react to it, nor read its backlog; its Kafka
  principal cannot read cpas.<cbe>.alerts.v1 (ACLs of deploy/kafka, as test_kafka_acls.py);
- the backlog report (API and relaisctl) counts the clignotant open before the reaction day and
  closed on it;
- over SOAP (Relais's own XSD, deploy/xsd/relais/sppis-clignotants.xsd): a clignotant posted to
  POST /v1/soap is accepted (ResultSummary ok="YES"), its JSON copy under another ticket too, and
  it is stored once; both alerts on the CPAS's alerts topic carry the same canonical clignotant;
  relaisctl's backlog shows its type's label in the language of --lang or RELAIS_CTL_LANG; an
  unknown type code and an oversized document get the reason code in the ResultSummary and
  reach nothing.

The expectations are written here from docs/clignotants.md, not computed with Relais's code."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import requests
from confluent_kafka import Consumer, KafkaError

from e2e_util import end_offsets, fresh_cbes, fresh_ssins, headers_of, read_topic, read_until, wait_for
from relais_harness import (BUILD, REPO, api_headers, api_import, api_put_cpas, issue_token, kafka_conf,
                            new_ticket, notification, sppis_clignotant)
from test_reactions import relais_r, standin  # noqa: F401 (fixtures: Relais pointed at the stand-in)

ACLS = REPO / "deploy/kafka/acls.sh"


def ingest(relais, flow: str, body: dict) -> None:
    r = requests.post(f"{relais.ingest.url}/v1/notifications/{flow}", json=body, timeout=30)
    assert r.status_code == 202, r.text


def alerts_of(relais, cbe: str, token: str | None = None) -> list[dict]:
    r = requests.get(f"{relais.api.url}/v1/cpas/{cbe}/alerts", params={"limit": 1000},
                     headers=api_headers(token), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["alerts"]


def clignotant(ticket: str, ssin: str, cbe: str, sppis_id: str, issued: dt.date) -> dict:
    return sppis_clignotant(ticket, ssin, cbe, sppis_id, issued.isoformat(), period=("2026-01-01", "2026-01-31"))


def test_early_signal_linked_to_the_sppis_clignotant_reacted_once(relais_r, db, stack, standin, brokers):
    relais = relais_r
    rng = random.Random()
    a, b = fresh_cbes(rng, 2)
    api_put_cpas(relais.api.url, a, "CPAS e2e SPP IS A", ["21004"])
    api_put_cpas(relais.api.url, b, "CPAS e2e SPP IS B", ["44021"])
    person, other = fresh_ssins(db, rng, 2)
    assert api_import(relais.api.url, a, [(person, 2, "2020-01-01", None)]).status_code == 200
    assert api_import(relais.api.url, b, [(other, 2, "2020-01-01", None)]).status_code == 200
    wait_for(lambda: all(relais.router.metrics().get(f'relais_directory_integrations{{cpas="{c}"}}') == 1
                         for c in (a, b)), 20, what="router directory")
    dsn = stack["RELAIS_PG_DSN"]
    tok_a = issue_token(dsn, f"e2e-sppis-a-{uuid.uuid4().hex[:6]}", [a])["token"]
    tok_b = issue_token(dsn, f"e2e-sppis-b-{uuid.uuid4().hex[:6]}", [b])["token"]

    # 1. A DIMONA mutation: an early signal at arrival.
    ingest(relais, "personnel-file", notification("personnel-file", new_ticket(), person, "2026-01-12", rng,
                                                  event="DIMONA_IN", dimona_worker_type="OTH", cpas_article_60=False))
    early = wait_for(lambda: next((x for x in alerts_of(relais, a) if x["type"] == "EMPLOYMENT_STARTED"), None), 60,
                     what="the early signal")
    assert early["kind"] == "EARLY_SIGNAL" and early["sppis_id"] is None and early["linked_alert_id"] is None
    raised_day = dt.date.fromisoformat(early["raised_at"][:10])

    # A reaction on it is refused, clearly; nothing is recorded.
    r = requests.post(f"{relais.api.url}/v1/cpas/{a}/alerts/{early['alert_id']}/reaction", json={"code": "NO_IMPACT"},
                      headers=api_headers(tok_a), timeout=30)
    assert r.status_code == 409, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    p = r.json()
    assert p["code"] == "EARLY_SIGNAL_NOT_REACTABLE" and p["kind"] == "EARLY_SIGNAL", p
    assert p["type"] == "urn:relais:problem:conflict" and "SPP IS" in p["detail"], p
    assert db.query(f"SELECT count(*) FROM reactions WHERE alert_id = '{early['alert_id']}'") == [["0"]]
    # The social worker's notes on the early signal.
    r = requests.put(f"{relais.api.url}/v1/cpas/{a}/alerts/{early['alert_id']}/notes",
                     json={"notes": "called the employer"}, headers=api_headers(tok_a), timeout=30)
    assert r.status_code == 200 and r.json()["notes"] == "called the employer", r.text
    # ... and its follow-up: done the day it arrived, with the reaction the worker intends.
    r = requests.put(f"{relais.api.url}/v1/cpas/{a}/alerts/{early['alert_id']}/follow-up",
                     json={"follow_up": "DONE", "proposed_code": "AID_REVISED"}, headers=api_headers(tok_a), timeout=30)
    assert r.status_code == 200 and r.json()["follow_up"] == "DONE" and r.json()["status"] == "OPEN", r.text

    # 2. The SPP IS clignotant for the same person and fact, issued 45 days after Relais warned.
    sppis_id = f"CLG-E2E-{uuid.uuid4().hex[:10].upper()}"
    issued = raised_day + dt.timedelta(days=45)
    ingest(relais, "sppis-clignotant", clignotant(new_ticket(), person, a, sppis_id, issued))
    # sent again under another ticket: the same clignotant (dedupe by SPP IS identifier)
    ingest(relais, "sppis-clignotant", clignotant(new_ticket(), person, a, sppis_id, issued))
    # naming B, which does not hold this person: dropped, journaled, delivered nowhere
    dropped_ticket = new_ticket()
    ingest(relais, "sppis-clignotant", clignotant(dropped_ticket, person, b, f"{sppis_id}-B", issued))
    # a bad one: a clear validation error
    bad = requests.post(f"{relais.ingest.url}/v1/notifications/sppis-clignotant",
                        json=clignotant(new_ticket(), person, a, "bad id", issued), timeout=30)
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_SPPIS_ID", bad.text

    def linked():
        rows = [x for x in alerts_of(relais, a) if x["kind"] == "SPPIS_CLIGNOTANT"]
        return rows if rows and rows[0]["linked_alert_id"] else None
    rows = wait_for(linked, 60, what="the SPP IS clignotant, stored and linked")
    assert len(rows) == 1, rows  # stored once
    clg = rows[0]
    assert clg["sppis_id"] == sppis_id and clg["type"] == "WORK_INCOME" and clg["status"] == "OPEN"
    assert clg["linked_alert_id"] == early["alert_id"]
    assert clg["lead_days"] == 45 and clg["lead_days"] > 0
    assert clg["notes"] == "called the employer"
    assert clg["follow_up"] == "DONE" and clg["proposed_code"] == "AID_REVISED", clg  # carried over
    assert clg["issued_date"] == issued.isoformat() and clg["period_end"] == "2026-01-31"
    one = requests.get(f"{relais.api.url}/v1/cpas/{a}/alerts/{clg['alert_id']}", headers=api_headers(tok_a), timeout=30)
    assert one.status_code == 200 and one.json()["linked_alert"]["alert_id"] == early["alert_id"], one.text
    early_now = next(x for x in alerts_of(relais, a) if x["alert_id"] == early["alert_id"])
    assert early_now["linked_alert_id"] == clg["alert_id"]
    m = relais.api.metrics()
    assert m.get("relais_api_clignotant_lead_seconds_count", 0) >= 1, m

    wait_for(lambda: db.query(f"SELECT kind, reason, cpas_cbe FROM journal WHERE ticket = '{dropped_ticket}' "
                              f"AND kind = 'dropped'") or None, 30, what="the dropped clignotant journaled")
    assert db.query(f"SELECT reason, cpas_cbe FROM journal WHERE ticket = '{dropped_ticket}' AND kind = 'dropped'") \
        == [["named_cpas_not_covering", b]]
    assert not [x for x in alerts_of(relais, b) if x["kind"] == "SPPIS_CLIGNOTANT"]
    assert db.query(f"SELECT count(*) FROM alerts WHERE sppis_id LIKE '{sppis_id}%'") == [["1"]]

    # 3. Another CPAS's token: cannot see it, react to it or read A's backlog.
    for method, path, body in (("get", f"/v1/cpas/{a}/alerts/{clg['alert_id']}", None),
                               ("get", f"/v1/cpas/{a}/alerts", None),
                               ("post", f"/v1/cpas/{a}/alerts/{clg['alert_id']}/reaction", {"code": "NO_IMPACT"}),
                               ("get", f"/v1/cpas/{a}/clignotants/backlog?as_of={issued}", None)):
        r = requests.request(method, relais.api.url + path, json=body, headers=api_headers(tok_b), timeout=30)
        assert r.status_code == 403, (path, r.status_code, r.text)
    # ... nor under its own CPAS's path
    r = requests.post(f"{relais.api.url}/v1/cpas/{b}/alerts/{clg['alert_id']}/reaction", json={"code": "NO_IMPACT"},
                      headers=api_headers(tok_b), timeout=30)
    assert r.status_code == 404 and r.json()["code"] == "ALERT_NOT_FOUND", r.text

    # 4. The backlog before the reaction: open, not yet six months old.
    r = requests.get(f"{relais.api.url}/v1/cpas/{a}/clignotants/backlog", params={"as_of": issued.isoformat()},
                     headers=api_headers(tok_a), timeout=30)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["open"] == 1 and rep["by_type"] == {"WORK_INCOME": 1} and rep["reminder"]["count"] == 0, rep
    later = issued + dt.timedelta(days=200)
    r = requests.get(f"{relais.api.url}/v1/cpas/{a}/clignotants/backlog",
                     params={"as_of": later.isoformat(), "format": "csv"}, headers=api_headers(tok_a), timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv"), r.text
    lines = r.text.strip().split("\r\n")
    assert len(lines) == 2 and lines[1].startswith(f"{sppis_id},{clg['alert_id']},WORK_INCOME,{person},"), lines
    assert lines[1].endswith(",200,180-364,true"), lines

    # 5. The CPAS reacts once: the stand-in receives exactly one reaction carrying the SPP IS identifier.
    r = requests.post(f"{relais.api.url}/v1/cpas/{a}/alerts/{clg['alert_id']}/reaction",
                      json={"code": "AID_REVISED", "comment": "income taken into account"},
                      headers=api_headers(tok_a), timeout=30)
    assert r.status_code == 201, r.text
    assert r.json()["sppis_clignotant_id"] == sppis_id
    reaction_id = r.json()["reaction_id"]
    r = requests.post(f"{relais.api.url}/v1/cpas/{a}/alerts/{clg['alert_id']}/reaction", json={"code": "NO_IMPACT"},
                      headers=api_headers(tok_a), timeout=30)
    assert r.status_code == 409 and r.json()["code"] == "REACTION_EXISTS", r.text

    def received():
        got = [x for x in standin.received() if json.loads(x["body"]).get("alert_id") == clg["alert_id"]]
        return got or None
    got = wait_for(received, 60, what="the reaction at the stand-in")
    time.sleep(3)  # nothing more comes
    got = received()
    assert len(got) == 1, got
    body = json.loads(got[0]["body"])
    assert body["sppis_clignotant_id"] == sppis_id and body["code"] == "AID_REVISED", body
    assert body["reaction_id"] == reaction_id and got[0]["key"] == reaction_id
    early_ids = {json.loads(x["body"]).get("alert_id") for x in standin.received()}
    assert early["alert_id"] not in early_ids  # an early signal never goes upstream

    # 6. The backlog on the reaction day: closed (API and relaisctl agree).
    today = dt.datetime.now(dt.timezone.utc).date()
    r = requests.get(f"{relais.api.url}/v1/cpas/{a}/clignotants/backlog",
                     params={"as_of": max(today, issued).isoformat()}, headers=api_headers(tok_a), timeout=30)
    assert r.status_code == 200 and r.json()["open"] == 0, r.text
    ctl = subprocess.run([str(BUILD / "services" / "relaisctl"), "alerts", "backlog", "--cpas", a,
                          "--as-of", later.isoformat(), "--format", "json"],
                         env=dict(os.environ, RELAIS_PG_DSN=dsn), capture_output=True, text=True, timeout=60)
    assert ctl.returncode == 0, ctl.stderr
    assert json.loads(ctl.stdout)["open"] == 0  # reacted before `later`

    # 7. Kafka: B's principal cannot read A's alerts topic.
    tmp = Path(tempfile.mkdtemp(prefix="relais-sppis-acl-"))
    pw_b = tmp / f"cpas-{b}.password"
    p = subprocess.run([str(ACLS), "cpas-add", b, str(pw_b)], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    try:
        conf = {**kafka_conf(f"cpas-{b}", str(pw_b), mechanism="SCRAM-SHA-512"), "bootstrap.servers": brokers,
                "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": "read_committed",
                "group.id": f"cpas.{b}.app-{uuid.uuid4()}"}
        c = Consumer(conf)
        try:
            c.subscribe([f"cpas.{a}.alerts.v1"])
            deadline, m = time.time() + 20, None
            while time.time() < deadline and m is None:
                m = c.poll(0.5)
            assert m is not None and m.error() is not None, f"B read A's alerts: {m and m.value()}"
            assert m.error().code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, m.error()
        finally:
            c.close()
    finally:
        subprocess.run([str(ACLS), "cpas-remove", b], capture_output=True, text=True, timeout=180)


SPPIS_NS = "urn:be:relais:sppis:clignotants:v1"
COMMON = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Common"


def clignotant_soap(n: dict, sources: list[dict] | None = None) -> str:
    """The SOAP 1.1 request carrying the clignotant `n` (the JSON form) in Relais's own XSD."""
    src = "".join(f"<Source><Name>{x['source']}</Name><Reference>{x['reference']}</Reference></Source>"
                  for x in (sources or n["sources"]))
    body = (f'<SppIsClignotant xmlns="{SPPIS_NS}"><Context><Ticket>{n["ticket"]}</Ticket></Context>'
            f'<SppIsId>{n["sppis_id"]}</SppIsId><TypeCode>{n["type_code"]}</TypeCode>'
            f'<Person><SSIN>{n["ssin"]}</SSIN></Person><CpasCbe>{n["cpas_cbe"]}</CpasCbe>'
            f'<Period><StartDate>{n["effective_date"]}</StartDate><EndDate>{n["period_end"]}</EndDate></Period>'
            f'<Amounts><DeclaredCents>{n["amount_declared_cents"]}</DeclaredCents>'
            f'<ObservedCents>{n["amount_observed_cents"]}</ObservedCents></Amounts>'
            f'<Sources>{src}</Sources><IssuedDate>{n["issued_date"]}</IssuedDate>'
            f'<DeadlineDate>{n["deadline_date"]}</DeadlineDate><Event>{n["event"]}</Event></SppIsClignotant>')
    return ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
            f"<s:Body>{body}</s:Body></s:Envelope>")


def post_soap(relais, text: str) -> tuple[int, str | None, str | None, str]:
    r = requests.post(f"{relais.ingest.url}/v1/soap", data=text.encode("utf-8"),
                      headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
    rs = ET.fromstring(r.content).find(f".//{{{COMMON}}}ResultSummary")
    assert rs is not None, r.text
    return r.status_code, rs.get("ok"), rs.findtext(f".//{{{COMMON}}}ReasonCode"), r.text


def test_sppis_clignotant_over_soap_stored_once_with_its_json_copy(relais_r, db, brokers, pb):
    relais = relais_r
    rng = random.Random()
    (cbe,) = fresh_cbes(rng, 1)
    api_put_cpas(relais.api.url, cbe, "CPAS e2e SPP IS SOAP", ["21004"])
    (person,) = fresh_ssins(db, rng, 1)
    assert api_import(relais.api.url, cbe, [(person, 2, "2020-01-01", None)]).status_code == 200
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{cbe}"}}') == 1, 20,
             what="router directory")
    alerts_topic = f"cpas.{cbe}.alerts.v1"
    inbound_start = end_offsets(brokers, "relais.inbound.v1")

    sppis_id = f"CLG-SOAP-{uuid.uuid4().hex[:10].upper()}"
    t_soap, t_json = new_ticket(), new_ticket()
    as_json = clignotant(t_json, person, cbe, sppis_id, dt.date(2026, 3, 2))
    as_json["sources"].append({"source": "DMFA", "reference": "2026/Q1/77"})
    # 1. SOAP first, then the same clignotant as JSON under another ticket.
    status, ok, code, text = post_soap(relais, clignotant_soap({**as_json, "ticket": t_soap}))
    assert (status, ok, code) == (200, "YES", "ACCEPTED"), text
    assert t_soap in text
    ingest(relais, "sppis-clignotant", as_json)

    # 2. Stored once (dedupe by SPP IS identifier), whatever the form.
    stored = wait_for(lambda: [x for x in alerts_of(relais, cbe) if x["sppis_id"] == sppis_id] or None, 60,
                      what="the SOAP clignotant stored")
    # a new CPAS: its alerts topic holds these two only (no early signal was raised)
    recs = read_until(brokers, alerts_topic, lambda rs: len(rs) >= 2, timeout=60)
    time.sleep(2)  # the store has seen both by now: still one row
    assert len([x for x in alerts_of(relais, cbe) if x["sppis_id"] == sppis_id]) == 1, stored
    assert db.query(f"SELECT count(*) FROM alerts WHERE sppis_id = '{sppis_id}'") == [["1"]]
    assert stored[0]["kind"] == "SPPIS_CLIGNOTANT" and stored[0]["type"] == "WORK_INCOME"
    assert stored[0]["issued_date"] == "2026-03-02" and stored[0]["period_end"] == "2026-01-31"

    # 3. Both alerts on the CPAS's topic: one alert id, the same canonical clignotant.
    canon, ids = {}, set()
    for m in recs:
        a = pb.Alert()
        a.ParseFromString(m.value())
        n = a.notification.notification
        if n.sppis_clignotant.sppis_id != sppis_id:
            continue
        ids.add(a.alert_id)
        t = n.envelope.ticket
        n.ClearField("accepted_at_us")
        for part in (n.envelope, n.sppis_clignotant):
            part.ticket = ""
        canon[t] = n.SerializeToString(deterministic=True)
    assert set(canon) == {t_soap, t_json}, canon.keys()
    assert canon[t_soap] == canon[t_json], "SOAP and JSON gave different canonical clignotants"
    assert len(ids) == 1, ids

    # relaisctl's backlog in the language asked for (--lang, else RELAIS_CTL_LANG): labels next to the codes.
    def backlog(*args, lang_env=None):
        env = dict(os.environ, RELAIS_PG_DSN=db.dsn)
        if lang_env:
            env["RELAIS_CTL_LANG"] = lang_env
        p = subprocess.run([str(BUILD / "services" / "relaisctl"), "alerts", "backlog", "--cpas", cbe,
                            "--as-of", "2026-12-01", *args], env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout
    csv_fr = backlog("--format", "csv", "--lang", "fr").splitlines()  # text mode: CRLF read as lines
    assert csv_fr[0].endswith(",six_month_list,type_label") and len(csv_fr) == 2, csv_fr
    assert csv_fr[1].startswith(f"{sppis_id},") and csv_fr[1].endswith(
        ",true,Revenus du travail (DIMONA / DmfA) non déclarés ou non pris en compte"), csv_fr
    nl = json.loads(backlog(lang_env="nl"))
    assert nl["lang"] == "nl" and nl["open"] == 1, nl
    assert nl["type_labels"]["WORK_INCOME"].startswith("Inkomsten uit arbeid"), nl
    assert nl["reminder"]["clignotants"][0]["type_label"] == nl["type_labels"]["WORK_INCOME"], nl

    # 4. Refusals: the reason code in the ResultSummary, nothing on Kafka.
    refused = [new_ticket() for _ in range(3)]
    status, ok, code, text = post_soap(relais, clignotant_soap(
        {**as_json, "ticket": refused[0], "sppis_id": sppis_id + "-X", "type_code": "NOT_A_TYPE"}))
    assert (status, ok, code) == (200, "NO", "INVALID_CODE") and "type_code" in text, text
    status, ok, code, text = post_soap(relais, clignotant_soap({**as_json, "ticket": refused[1], "sppis_id": ""}))
    assert (status, ok, code) == (200, "NO", "XML_SCHEMA_INVALID") and "SppIsId" in text, text
    big = [{"source": "DMFA", "reference": "R" * 60}] * 1200  # about 100 KB: over ingest.max_body_bytes
    status, ok, code, text = post_soap(relais, clignotant_soap({**as_json, "ticket": refused[2]}, sources=big))
    assert (status, ok, code) == (400, "NO", "XML_TOO_LARGE"), text[:2000]
    seen = {headers_of(m).get("ticket") for m in read_topic(brokers, "relais.inbound.v1", inbound_start)}
    assert {t_soap, t_json} <= seen and not seen & set(refused), seen & set(refused)
