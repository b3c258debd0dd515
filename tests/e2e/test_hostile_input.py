"""Bad input must never stop a pipeline or blind the journal (issue 21), on the real services, the
real PostgreSQL and the real Kafka.

- Finding 1: a `{cbe}` path segment that is not text (eleven euro signs cut inside a character, a
  NUL, invalid UTF-8), sent without credentials, used to poison the access journal for ever.
- Finding 2: a NUL in a free-text field of a notification used to stop the alert store for every
  CPAS (and the status pages showed fragments of the notification).
- Finding 3: a junk `Authorization` header lifted the unauthenticated body limit.
- Finding 6: a NUL in a reaction comment was cut by libpq while the full text went on.
- The class: a hostile-text corpus through every string field of every flow and every relais-api
  route; afterwards good notifications for every CPAS are delivered, every expected alert is
  stored, the access journal has every call and no service restarted.
- Journal flood: after any sequence of bad requests a refused cross-CPAS call is journaled within
  5 s, and /readyz turns not ready while the journal cannot keep up.
"""
from __future__ import annotations

import json
import random
import socket
import subprocess
import time
import urllib.parse
import uuid

import pytest
import requests

from e2e_util import cpas_topic, end_offsets, fresh_cbes, fresh_ssins, ndjson, read_until, wait_for
from relais_harness import (api_headers, api_import, api_put_cpas, issue_token, new_ticket, notification,
                            post_batch_until_accepted, sppis_clignotant)

FLOWS = ["notify-person", "notify-family-composition", "pension-register-mutation", "personnel-file",
         "self-employed-career", "ecarmed-calculation"]
# Strings a JSON text can carry (escapes), then raw bytes put inside a JSON string.
HOSTILE_JSON = {
    "nul": "a\u0000b",
    "lone_surrogate": "a\ud800b",
    "c0": "a\u0001b",
    "escape_sequence": "\u001b[2J\u001b]0;pwned\u0007",
    "c1": "a\u0085b",
    "bidi_override": "abc\u202edef",
    "bidi_isolate": "abc\u2066def\u2069",
    "newline": "a\nb",
}
HOSTILE_RAW = {
    "invalid_utf8": b"a\xffb",
    "overlong": b"a\xc0\xafb",
    "truncated": b"a\xe2\x82",
    "cesu_surrogate": b"a\xed\xa0\x80b",
}
ONE_MB = "x" * (1 << 20)


def json_body(obj: dict, raw: dict[tuple, bytes] | None = None) -> bytes:
    """JSON bytes of obj; a string value equal to a marker is replaced by raw (invalid UTF-8) bytes."""
    text = json.dumps(obj).encode()
    for marker, value in (raw or {}).items():
        text = text.replace(json.dumps(marker).encode(), b'"' + value + b'"')
    return text


def string_paths(obj, prefix=()):
    """Every path to a string value of a notification, nested ones included (not ticket/ssin-only
    identifiers: every string field)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from string_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from string_paths(v, prefix + (i,))
    elif isinstance(obj, str):
        yield prefix


def set_path(obj, path, value):
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value


def pct(v: str) -> str:
    """Percent-encoding of any Python string, lone surrogates included (as their 3-byte form)."""
    return urllib.parse.quote(v.encode("utf-8", "surrogatepass"), safe="")


def journal_count(db, prefix: str) -> int:
    return int(db.query(f"SELECT count(*) FROM access_journal WHERE request_id LIKE '{prefix}%'")[0][0])


@pytest.fixture(scope="module")
def world(relais, db, stack):
    rng = random.Random()
    a, b = fresh_cbes(rng, 2)
    ssin_a, ssin_b = fresh_ssins(db, rng, 2)
    api_put_cpas(relais.api.url, a, "CPAS e2e hostile A", ["21004"])
    api_put_cpas(relais.api.url, b, "CPAS e2e hostile B", ["44021"])
    assert api_import(relais.api.url, a, [(ssin_a, 1, "2020-01-01", None)]).status_code == 200
    assert api_import(relais.api.url, b, [(ssin_b, 1, "2020-01-01", None)]).status_code == 200
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{b}"}}') == 1, 30,
             what="router directory")
    tag = uuid.uuid4().hex[:8]
    pids = {k: s.proc.pid for k, s in relais.services.items()}
    return {"rng": rng, "a": a, "b": b, "ssin_a": ssin_a, "ssin_b": ssin_b, "tag": tag, "pids": pids,
            "tok_a": issue_token(stack["RELAIS_PG_DSN"], f"e2e-hostile-a-{tag}", [a])["token"],
            "tok_b": issue_token(stack["RELAIS_PG_DSN"], f"e2e-hostile-b-{tag}", [b])["token"]}


def alerts_of(relais, cbe: str, ssin: str) -> list:
    r = requests.get(f"{relais.api.url}/v1/cpas/{cbe}/alerts", params={"type": "PERSON_DECEASED"},
                     headers=api_headers(), timeout=10)
    assert r.status_code == 200, r.text
    return [x for x in r.json()["alerts"] if x.get("ssin") == ssin]


def raise_death(relais, rng, ssin: str) -> str:
    t = new_ticket()
    line = ndjson([notification("notify-person", t, ssin, "2024-05-01", rng, event="DEATH")])
    assert post_batch_until_accepted(relais.ingest.url, "notify-person", line)["rejected"] == 0
    return t


def cross_cpas_call_journaled_within(relais, db, w, seconds: float) -> float:
    rid = f"e2e-cross-{uuid.uuid4().hex[:12]}"
    r = requests.get(f"{relais.api.url}/v1/cpas/{w['b']}/integrations",
                     headers={"Authorization": f"Bearer {w['tok_a']}", "X-Request-Id": rid}, timeout=10)
    assert r.status_code == 403, r.text
    t0 = time.monotonic()
    wait_for(lambda: journal_count(db, rid) == 1, seconds, interval=0.1,
             what=f"the refused cross-CPAS call {rid} in the access journal")
    return time.monotonic() - t0


# ------------------------------------------------------------------------------------ finding 1
def test_path_segments_that_are_not_text_never_poison_the_access_journal(relais, db, world):
    before = relais.api.metrics().get("relais_api_access_journal_write_failures_total", 0)
    segments = [urllib.parse.quote("€" * 11), "%00", "0212%0034", "%FF%FE", "%C0%AF", "%ED%A0%80",
                urllib.parse.quote("\u202e0212344876"), "x" * 4000]
    for seg in segments:
        r = requests.get(f"{relais.api.url}/v1/cpas/{seg}/integrations", timeout=10)
        assert r.status_code in (400, 401, 404, 414, 431), (seg[:40], r.status_code, r.text[:200])
        # the same with a CPAS credential and with the operator's
        for tok in (world["tok_a"], None):
            r = requests.get(f"{relais.api.url}/v1/cpas/{seg}/integrations", headers=api_headers(tok), timeout=10)
            assert r.status_code in (400, 403, 404, 414, 431), (seg[:40], r.status_code, r.text[:200])
    took = cross_cpas_call_journaled_within(relais, db, world, 5)
    print(f"refused cross-CPAS call journaled {took:.2f} s after the answer")
    assert relais.api.metrics().get("relais_api_access_journal_write_failures_total", 0) == before
    # what was journaled for those segments is storable text, at most 40 bytes
    rows = db.query("SELECT max(octet_length(cpas_cbe)) FROM access_journal WHERE at > now() - interval '5 minutes'")
    assert int(rows[0][0] or 0) <= 40


# ------------------------------------------------------------------------------------ finding 2
def test_a_nul_in_a_notification_is_refused_and_alerts_keep_flowing(relais, db, world):
    rng, tag = world["rng"], world["tag"]
    secret_name = f"Zyxwvut{tag}"
    n = notification("notify-person", new_ticket(), world["ssin_a"], "2024-05-01", rng, event="DEATH",
                     last_name=secret_name + "\u0000X")
    r = requests.post(f"{relais.ingest.url}/v1/notifications/notify-person", data=json.dumps(n),
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_TEXT" and r.json()["field"] == "last_name", r.text
    assert secret_name not in r.text
    # A good death for each CPAS: each alert is stored.
    raise_death(relais, rng, world["ssin_a"])
    raise_death(relais, rng, world["ssin_b"])
    wait_for(lambda: alerts_of(relais, world["a"], world["ssin_a"]), 120, interval=0.5, what="A's alert stored")
    wait_for(lambda: alerts_of(relais, world["b"], world["ssin_b"]), 120, interval=0.5, what="B's alert stored")
    # No status page shows personal data.
    for svc in (relais.ingest, relais.api, relais.router):
        for path in ("/", "/status.json"):
            page = requests.get(svc.url + path, timeout=10).text
            assert secret_name not in page, f"{svc.name}{path} shows the refused name"


# ------------------------------------------------------------------------------------ finding 3
def raw_request(port: int, head: str, read_s: float = 5.0) -> bytes:
    s = socket.create_connection(("127.0.0.1", port), timeout=read_s)
    try:
        s.sendall(head.encode())
        data = b""
        deadline = time.monotonic() + read_s
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        s.close()


def test_a_junk_authorization_header_keeps_the_small_body_limit(relais, world):
    path = f"/v1/cpas/{world['a']}/integrations:import"
    head = ("POST {path} HTTP/1.1\r\nHost: relais\r\nAuthorization: {auth}\r\nContent-Type: text/csv\r\n"
            "Content-Length: 60000000\r\nExpect: 100-continue\r\n\r\n")
    for junk in ("x", "Bearer rls_0000000000000000_notasecret", "Bearer " + "A" * 300):
        answer = raw_request(relais.api.port, head.format(path=path, auth=junk))
        assert answer.startswith(b"HTTP/1.1 413"), (junk[:30], answer[:200])
        assert b"100 Continue" not in answer
    # A verified token gets the import limit: the server asks for the body.
    answer = raw_request(relais.api.port, head.format(path=path, auth=f"Bearer {world['tok_a']}"))
    assert answer.startswith(b"HTTP/1.1 100"), answer[:200]


def sppis_alerts_of(relais, cbe: str, ssin: str) -> list:
    r = requests.get(f"{relais.api.url}/v1/cpas/{cbe}/alerts", params={"type": "WORK_INCOME"},
                     headers=api_headers(), timeout=10)
    assert r.status_code == 200, r.text
    return [x for x in r.json()["alerts"] if x.get("ssin") == ssin and x.get("kind") == "SPPIS_CLIGNOTANT"]


# ------------------------------------------------------------------------------------ finding 6
def test_a_nul_in_a_reaction_comment_is_refused_and_changes_nothing(relais, db, world):
    # Reactions go to SPP IS clignotants only (an early signal's is refused): one for B's person.
    if not sppis_alerts_of(relais, world["b"], world["ssin_b"]):
        body = sppis_clignotant(new_ticket(), world["ssin_b"], world["b"], f"CLG-HOSTILE-{world['tag'].upper()}",
                                "2024-06-01")
        assert post_batch_until_accepted(relais.ingest.url, "sppis-clignotant", ndjson([body]))["rejected"] == 0
    wait_for(lambda: sppis_alerts_of(relais, world["b"], world["ssin_b"]), 120, interval=0.5,
             what="an SPP IS clignotant of B")
    alert = sppis_alerts_of(relais, world["b"], world["ssin_b"])[0]["alert_id"]
    count = lambda: db.query(f"SELECT count(*) FROM reactions WHERE alert_id = '{alert}'")[0][0]  # noqa: E731
    before = count()
    for comment in ("checked\u0000 then deleted", "ok\u001b[2J", "x\u202e", "y" * 5000):
        r = requests.post(f"{relais.api.url}/v1/cpas/{world['b']}/alerts/{alert}/reaction",
                          json={"code": "NO_IMPACT", "comment": comment}, headers=api_headers(world["tok_b"]),
                          timeout=10)
        assert r.status_code == 400, (comment[:20], r.status_code, r.text)
        assert r.json()["field"] == "comment", r.text
    assert count() == before
    # Line breaks are allowed in a comment (a documented free-text field).
    r = requests.post(f"{relais.api.url}/v1/cpas/{world['b']}/alerts/{alert}/reaction",
                      json={"code": "NO_IMPACT", "comment": "line one\nline two"}, headers=api_headers(world["tok_b"]),
                      timeout=10)
    assert r.status_code in (200, 201), r.text
    stored = db.query(f"SELECT comment FROM reactions WHERE alert_id = '{alert}' ORDER BY seq DESC LIMIT 1")
    assert stored and stored[0][0].startswith("line one"), stored


# ------------------------------------------------------------------------ the hostile corpus
def test_hostile_corpus_through_every_flow_and_route(relais, db, brokers, world):
    rng, tag = world["rng"], world["tag"]
    statuses: dict[int, int] = {}
    api_calls = 0

    def note(r: requests.Response, where: str):
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code < 500, (where, r.status_code, r.text[:300])
        assert r.status_code != 200 and r.status_code != 202, (where, r.status_code, r.text[:300])

    inbound_before = end_offsets(brokers, "relais.inbound.v1")
    # Ingest: every string field of every flow, every hostile value, JSON; then the whole set as one
    # NDJSON batch (each line reported, none accepted).
    batch_lines = []
    for flow in FLOWS:
        sample = notification(flow, new_ticket(), world["ssin_a"], "2024-05-01", rng)
        for path in string_paths(sample):
            if path == ("ticket",):
                continue  # a bad ticket is INVALID_TICKET, covered by test_bad_input
            for name, value in list(HOSTILE_JSON.items()) + [("one_mb", ONE_MB)]:
                if name == "newline" and path[-1] == "nr_raw_value":
                    continue  # the register's raw text keeps its line breaks (libs/validation)
                n = json.loads(json.dumps(sample))
                n["ticket"] = new_ticket()
                set_path(n, path, value)
                body = json_body(n)
                r = requests.post(f"{relais.ingest.url}/v1/notifications/{flow}", data=body,
                                  headers={"Content-Type": "application/json"}, timeout=30)
                note(r, f"{flow} {path} {name}")
                if name != "one_mb":
                    batch_lines.append(body)
            for name, raw in HOSTILE_RAW.items():
                n = json.loads(json.dumps(sample))
                n["ticket"] = new_ticket()
                marker = f"@@{name}@@"
                set_path(n, path, marker)
                body = json_body(n, {marker: raw})
                r = requests.post(f"{relais.ingest.url}/v1/notifications/{flow}", data=body,
                                  headers={"Content-Type": "application/json"}, timeout=30)
                note(r, f"{flow} {path} {name}")
    r = requests.post(f"{relais.ingest.url}/v1/notifications/notify-person:batch",
                      data=b"\n".join(batch_lines[:500]) + b"\n", headers={"Content-Type": "application/x-ndjson"},
                      timeout=60)
    assert r.status_code in (200, 400), r.text[:300]
    if r.status_code == 200:
        assert r.json()["accepted"] == 0, r.text[:500]
    # Nothing of all that reached Kafka.
    assert end_offsets(brokers, "relais.inbound.v1") == inbound_before

    # relais-api: bodies, paths, query values, imports, comments; each call with a request id.
    calls: list[tuple[int, str]] = []

    def api(method: str, path: str, token: str | None = None, **kw):
        nonlocal api_calls
        api_calls += 1
        headers = api_headers(token, **{"X-Request-Id": f"e2e-hostile-{tag}-{api_calls}"})
        headers.update(kw.pop("headers", {}))
        r = requests.request(method, f"{relais.api.url}{path}", headers=headers, timeout=30, **kw)
        note(r, f"{method} {path[:60]}")
        calls.append((api_calls, f"{method} {path[:50]} -> {r.status_code}"))
        return r

    a = world["a"]
    values = list(HOSTILE_JSON.values()) + [ONE_MB[:70000]]
    for v in values:
        api("PUT", f"/v1/cpas/{a}", json={"name": v, "municipalities": ["21004"]})
        api("PUT", f"/v1/cpas/{a}", json={"name": "ok", "municipalities": [v]})
        api("PUT", f"/v1/cpas/{a}/integrations", world["tok_a"],
            json={"ssin": v, "quality_code": 2, "start_date": "2024-01-01"})
        api("PUT", f"/v1/cpas/{a}/integrations", world["tok_a"],
            json={"ssin": world["ssin_a"], "quality_code": 2, "start_date": v})
        api("PUT", f"/v1/cpas/{a}/integrations", world["tok_a"],
            json={"ssin": world["ssin_a"], "quality_code": 2, "start_date": "2024-01-01", v[:50]: 1})
        api("GET", f"/v1/cpas/{a}/integrations?ssin={pct(v[:300])}", world["tok_a"])
        api("GET", f"/v1/cpas/{a}/alerts?status={pct(v[:300])}", world["tok_a"])
        api("GET", f"/v1/access-journal?credential={pct(v[:300])}&{pct(v[:20])}=1")
        api("DELETE", f"/v1/cpas/{a}/integrations/{pct(v[:300])}", world["tok_a"])
        api("POST", f"/v1/cpas/{a}/integrations:import", world["tok_a"],
            data=f"ssin,quality_code,start_date,end_date\n{v},2,2024-01-01,\n".encode("utf-8", "surrogatepass"),
            headers={"Content-Type": "text/csv"})
        api("POST", f"/v1/cpas/{a}/integrations:import", world["tok_a"],
            data=(json.dumps({"ssin": v, "quality_code": 2, "start_date": "2024-01-01"}) + "\n").encode(),
            headers={"Content-Type": "application/x-ndjson"})
    for raw in HOSTILE_RAW.values():
        api("PUT", f"/v1/cpas/{a}", data=b'{"name": "' + raw + b'"}', headers={"Content-Type": "application/json"})
        api("POST", f"/v1/cpas/{a}/integrations:import", world["tok_a"],
            data=b"ssin,quality_code,start_date,end_date\n" + raw + b",2,2024-01-01,\n",
            headers={"Content-Type": "text/csv"})
    print(f"hostile corpus: answers by status {sorted(statuses.items())}")

    # Afterwards: good notifications for every CPAS are delivered and their alerts stored ...
    starts = {c: end_offsets(brokers, cpas_topic(c)) for c in (world["a"], world["b"])}
    tickets = {world["a"]: raise_death(relais, rng, world["ssin_a"]), world["b"]: raise_death(relais, rng, world["ssin_b"])}
    for cbe, t in tickets.items():
        recs = read_until(brokers, cpas_topic(cbe), lambda rs, t=t: any(t.encode() in (m.value() or b"") for m in rs),
                          timeout=120, start=starts[cbe])
        assert any(t.encode() in (m.value() or b"") for m in recs), f"the notification {t} did not reach {cbe}"
        wait_for(lambda t=t: db.query(f"SELECT count(*) FROM alerts WHERE ticket = '{t}'")[0][0] == "1", 120,
                 interval=0.5, what=f"the alert of ticket {t} stored")
    # ... the access journal has every call ...
    try:
        wait_for(lambda: journal_count(db, f"e2e-hostile-{tag}-") == api_calls, 10, interval=0.2,
                 what=f"{api_calls} hostile calls in the access journal")
    except AssertionError:
        have = {r[0] for r in db.query(f"SELECT request_id FROM access_journal WHERE request_id LIKE 'e2e-hostile-{tag}-%'")}
        missing = [(i, w) for i, w in calls if f"e2e-hostile-{tag}-{i}" not in have]
        raise AssertionError(f"{len(missing)} of {api_calls} calls not journaled: {missing[:20]}")
    # ... and no service restarted.
    for k, s in relais.services.items():
        assert s.proc.poll() is None, f"relais-{k} exited"
        assert s.proc.pid == world["pids"][k], f"relais-{k} was restarted"
    m = relais.api.metrics()
    assert m.get("relais_api_access_journal_write_failures_total", 0) == 0
    assert relais.router.metrics().get("relais_journal_write_failures_total", 0) == 0


# ------------------------------------------------------------------------------ journal flood
def test_journal_flood_then_readyz_when_the_journal_cannot_keep_up(relais, db, world, stack):
    # A flood of unauthenticated bad requests: the journal keeps up, and a refused cross-CPAS call
    # made right after is journaled within 5 s.
    session = requests.Session()
    for i in range(2000):
        r = session.get(f"{relais.api.url}/v1/cpas/{urllib.parse.quote('€' * 11)}{i}/integrations", timeout=10)
        assert r.status_code == 401
    cross_cpas_call_journaled_within(relais, db, world, 5)
    assert requests.get(relais.api.url + "/readyz", timeout=5).status_code == 200

    # A second relais-api whose journal cannot write (the table locked by an operator's session):
    # within readyz.sink_stall_s it reports not ready, and ready again once the lock is gone.
    api2 = relais.add("api", instance="hostile2")
    api2.env.update(RELAIS_READYZ_SINK_STALL_S="2", RELAIS_AUTH_ACCESS_JOURNAL_FLUSH_MS="50")
    api2.start()
    api2.wait_ready()
    locker = subprocess.Popen(["psql", stack["RELAIS_PG_DSN"], "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        locker.stdin.write("BEGIN; LOCK TABLE access_journal IN EXCLUSIVE MODE; SELECT 'locked';\n")
        locker.stdin.flush()
        assert locker.stdout.readline().strip() == "locked"
        for _ in range(20):
            requests.get(f"{api2.url}/v1/cpas/0212344876/integrations", timeout=10)
        # (a Response is falsy when not 2xx: wait for its text)
        text = wait_for(lambda: (lambda x: x.text if x.status_code == 503 else None)(
            requests.get(api2.url + "/readyz", timeout=5)), 20, interval=0.2, what="/readyz not ready")
        assert "access_journal" in text, text
    finally:
        locker.stdin.write("ROLLBACK;\n")
        locker.stdin.close()
        locker.wait(timeout=30)
    wait_for(lambda: requests.get(api2.url + "/readyz", timeout=5).status_code == 200, 30, interval=0.2,
             what="/readyz ready again")
    api2.stop()
