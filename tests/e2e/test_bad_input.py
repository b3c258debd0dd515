"""Bad input gets its documented status and a JSON error {code, message, field}
with a stable code, and changes nothing: none of its tickets reaches
relais.inbound.v1. A batch mixing valid and invalid lines gets a 200 report:
the valid lines are accepted and routed, the invalid ones reported per line."""

from __future__ import annotations

import json
import random

import pytest
import requests

from e2e_util import cpas_topic, end_offsets, fresh_cbes, fresh_ssins, headers_of, read_topic, read_until
from relais_harness import api_import, api_put_cpas, new_ticket, notification, post_batch

INBOUND = "relais.inbound.v1"


def corrupt_check(ssin: str) -> str:
    cc = (int(ssin[9:]) + 1) % 100
    return ssin[:9] + f"{cc:02d}"


def post_raw(url: str, flow: str, body: bytes | str, ct: str | None = "application/json") -> requests.Response:
    headers = {"Content-Type": ct} if ct else {}
    return requests.post(f"{url}/v1/notifications/{flow}", data=body if isinstance(body, bytes) else body.encode(),
                         headers=headers, timeout=30)


def check_error(r: requests.Response, status: int, code: str, field: str | None):
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    e = r.json()
    assert isinstance(e, dict) and e.get("code") == code, e
    assert isinstance(e.get("message"), str) and e["message"], e
    if field is not None:
        assert e.get("field") == field, e
    else:
        # Errors about the whole request name no field (or an empty one).
        assert not e.get("field"), e


@pytest.fixture(scope="module")
def person(relais, db):
    rng = random.Random()
    cbe = fresh_cbes(rng, 1)[0]
    ssin = fresh_ssins(db, rng, 1)[0]
    api_put_cpas(relais.api.url, cbe, "CPAS e2e bad input", ["21004"])
    assert api_import(relais.api.url, cbe, [(ssin, 2, "2020-01-01", None)]).status_code == 200
    return rng, cbe, ssin


def test_bad_single_requests(relais, brokers, person):
    rng, cbe, ssin = person
    url = relais.ingest.url
    start = end_offsets(brokers, INBOUND)
    cases = []  # (name, ticket, response, status, code, field)

    def case(name, status, code, field, flow="notify-person", body=None, ct="application/json", **changes):
        t = new_ticket()
        n = notification(flow if flow in ("notify-person", "personnel-file") else "notify-person", t, ssin,
                         "2021-06-01", rng, event="ADDRESS_CHANGE" if flow != "personnel-file" else "DIMONA_IN")
        for k, v in changes.items():
            if v is None:
                n.pop(k, None)
            else:
                n[k] = v
        payload = body if body is not None else json.dumps(n)
        if isinstance(payload, str):
            payload = payload.replace("@TICKET@", t)
        cases.append((name, t, post_raw(url, flow, payload, ct), status, code, field))

    case("ssin format", 400, "INVALID_SSIN", "ssin", ssin="1234567890")
    case("ssin letters", 400, "INVALID_SSIN", "ssin", ssin="8501011234X")
    case("ssin bad month", 400, "INVALID_SSIN", "ssin", ssin="85130112345")
    case("ssin check digit", 400, "INVALID_SSIN_CHECKSUM", "ssin", ssin=corrupt_check(ssin))
    case("unknown flow", 404, "UNKNOWN_FLOW", "flow", flow="notify-persons")
    case("malformed json", 400, "MALFORMED_JSON", None,
         body='{"ticket": "@TICKET@", "ssin": "' + ssin + '", "effective_date": "2021-06-01", "event": "DEATH"')
    case("trailing garbage", 400, "MALFORMED_JSON", None,
         body='{"ticket": "@TICKET@", "ssin": "' + ssin + '", "effective_date": "2021-06-01", "event": "DEATH"} x')
    case("not an object", 400, "WRONG_TYPE", None, body='["@TICKET@"]')
    case("unknown enum", 400, "INVALID_ENUM", "event", event="ADDRESS_CHANGED")
    case("unknown nested enum", 400, "INVALID_ENUM", "worker_type", flow="personnel-file", worker_type="INTERN")
    case("bad date", 400, "INVALID_DATE", "effective_date", effective_date="2021-02-30")
    case("bad date format", 400, "INVALID_DATE", "effective_date", effective_date="01/06/2021")
    case("bad timestamp", 400, "INVALID_TIMESTAMP", "sent_at", sent_at="yesterday")
    case("bad ticket", 400, "INVALID_TICKET", "ticket", body=json.dumps(
        notification("notify-person", "not-a-uuid-@TICKET@", ssin, "2021-06-01", rng, event="DEATH")))
    case("unknown field", 400, "UNKNOWN_FIELD", "favourite_colour", favourite_colour="blue")
    case("missing event", 400, "MISSING_FIELD", "event", event=None, address=None)
    case("missing ssin", 400, "MISSING_FIELD", "ssin", ssin=None)
    case("wrong type", 400, "WRONG_TYPE", "address", address="Rue de la Loi 16")
    case("oversized body", 413, "BODY_TOO_LARGE", None, last_name="x" * 70_000, event="NAME_CHANGE")
    case("wrong media type", 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type", ct="text/plain")
    case("no media type", 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type", ct=None)
    case("garbage protobuf", 400, "MALFORMED_PROTOBUF", None, body=b"\xff\xff\xff\xff\x0f\x01garbage",
         ct="application/x-protobuf")

    failures = []
    for name, t, r, status, code, field in cases:
        try:
            check_error(r, status, code, field)
        except AssertionError as e:
            failures.append(f"{name}: {e}")
    assert not failures, "\n".join(failures)

    # A valid notification after them, to know the inbound topic is written at all.
    ok = notification("notify-person", new_ticket(), ssin, "2021-06-01", rng, event="DEATH")
    r = post_raw(url, "notify-person", json.dumps(ok))
    assert r.status_code == 202, r.text
    recs = read_topic(brokers, INBOUND, start)
    tickets = {headers_of(m).get("ticket") for m in recs}
    assert ok["ticket"] in tickets
    leaked = [name for name, t, *_ in cases if t in tickets or any(t in (m.value() or b"").decode("latin-1")
                                                                   for m in recs)]
    assert not leaked, f"refused notifications reached {INBOUND}: {leaked}"


def test_bad_batch_requests(relais, person):
    rng, cbe, ssin = person
    url = relais.ingest.url
    line = json.dumps(notification("notify-person", new_ticket(), ssin, "2021-06-01", rng))
    r = requests.post(f"{url}/v1/notifications/no-such-flow:batch", data=line,
                      headers={"Content-Type": "application/x-ndjson"}, timeout=30)
    check_error(r, 404, "UNKNOWN_FLOW", "flow")
    r = requests.post(f"{url}/v1/notifications/notify-person:batch", data=line,
                      headers={"Content-Type": "application/json"}, timeout=30)
    check_error(r, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type")


def test_mixed_batch(relais, brokers, person):
    rng, cbe, ssin = person
    start = end_offsets(brokers, INBOUND)
    good, bad = [], []
    lines = []
    for i in range(40):
        t = new_ticket()
        n = notification("notify-person", t, ssin, "2021-06-01", rng)
        kind = i % 4
        if kind == 1:
            n["ssin"] = corrupt_check(ssin)
            bad.append((i + 1, t, "INVALID_SSIN_CHECKSUM", "ssin"))
        elif kind == 3 and i % 8 == 3:
            n["event"] = "NO_SUCH_EVENT"
            bad.append((i + 1, t, "INVALID_ENUM", "event"))
        elif kind == 3:
            lines.append('{"ticket": "' + t + '", "ssin": ')
            bad.append((i + 1, t, "MALFORMED_JSON", None))
            continue
        else:
            good.append(t)
        lines.append(json.dumps(n))
    r = post_batch(relais.ingest.url, "notify-person", lines)
    assert r.status_code == 200, r.text[:500]
    rep = r.json()
    assert rep["accepted"] == len(good) and rep["rejected"] == len(bad) and rep["duplicates"] == 0, rep
    items = {it["line"]: it for it in rep["items"]}
    assert len(items) == len(lines)
    for ln, t, code, field in bad:
        it = items[ln]
        assert it["status"] == 400 and it["error"]["code"] == code, it
        assert it["error"].get("message")
        if field:
            assert it["error"].get("field") == field, it
            assert it.get("ticket") == t, it
    for ln, it in items.items():
        if it["status"] == 202:
            assert it["ticket"] in good
    assert sorted(it["ticket"] for it in items.values() if it["status"] == 202) == sorted(good)

    # The valid lines are routed to the CPAS, the invalid ones nowhere.
    recs = read_until(brokers, cpas_topic(cbe), lambda rs: {headers_of(m)["ticket"] for m in rs} >= set(good),
                      timeout=60, settle=1.0)
    got = [headers_of(m)["ticket"] for m in recs]
    assert set(good) <= set(got)
    assert all(got.count(t) == 1 for t in good)
    inbound = {headers_of(m).get("ticket") for m in read_topic(brokers, INBOUND, start)}
    assert set(good) <= inbound
    assert not {t for _, t, _, _ in bad} & (inbound | set(got))
