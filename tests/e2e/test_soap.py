"""SOAP ingest through the real services (issue 15): relais-ingest's POST /v1/soap.

- The same notification posted as JSON and as SOAP (1.1 and 1.2) yields the same canonical
  record on the CPAS topic (ticket and reception time aside), read with a read_committed consumer;
  the SOAP record on relais.inbound.v1 keeps the request body byte for byte (header "raw"), and
  the router forwards it with the record on the CPAS topic.
- Answers: a ResultSummary ok="YES" with the ticket; a schema-invalid body, a schema-valid body
  with a wrong SSIN check digit, an unknown body: a reply with ok="NO", the reason code and the
  failing path; a DOCTYPE, a non-envelope, two body elements: a SOAP Fault; every answer is
  well-formed XML, and nothing refused reaches Kafka. A Fault the sender caused is HTTP 400 in
  both SOAP versions (docs/bcss.md).
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import requests

from e2e_util import cpas_topic, cpas_with_persons, end_offsets, headers_of, read_topic, read_until
from relais_harness import new_ticket

NS = "urn:be:relais:bcss:notifications:v1"
COMMON = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Common"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def name_change_xml(ticket, ssin, last="Janssens", first="Marie Louise"):
    return (f'<NotifyPerson xmlns="{NS}"><Context><Ticket>{ticket}</Ticket><SentAt>2026-11-02T10:00:00Z</SentAt></Context>'
            f"<Person><SSIN>{ssin}</SSIN></Person><EffectiveDate>2026-11-01</EffectiveDate><Event>NAME_CHANGE</Event>"
            f"<LastName>{last}</LastName><FirstNames>{first}</FirstNames></NotifyPerson>")


def envelope(body, version=SOAP11):
    return f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{version}"><s:Body>{body}</s:Body></s:Envelope>'


def post_soap(relais, text, version=SOAP11, content_type=None):
    ct = content_type or ("text/xml; charset=utf-8" if version == SOAP11 else "application/soap+xml; charset=utf-8")
    return requests.post(f"{relais.ingest.url}/v1/soap", data=text.encode("utf-8"), headers={"Content-Type": ct},
                         timeout=30)


def summary(resp):
    root = ET.fromstring(resp.content)
    rs = root.find(f".//{{{COMMON}}}ResultSummary")
    assert rs is not None, resp.text
    info = {i.findtext(f"{{{COMMON}}}FieldName"): i.findtext(f"{{{COMMON}}}FieldValue")
            for i in rs.iter(f"{{{COMMON}}}Information")}
    return rs.get("ok"), rs.findtext(f".//{{{COMMON}}}ReasonCode"), info, root


def test_same_record_from_json_and_soap(relais, db, brokers, pb):
    rng = random.Random()
    cbe, (ssin,) = cpas_with_persons(relais, db, rng, "CPAS e2e soap", 1)
    inbound_start = end_offsets(brokers, "relais.inbound.v1")

    t_json, t_11, t_12 = new_ticket(), new_ticket(), new_ticket()
    body = {"ticket": t_json, "ssin": ssin, "effective_date": "2026-11-01", "sent_at": "2026-11-02T10:00:00Z",
            "event": "NAME_CHANGE", "last_name": "Janssens", "first_names": "Marie Louise"}
    r = requests.post(f"{relais.ingest.url}/v1/notifications/notify-person", json=body, timeout=30)
    assert r.status_code == 202, r.text
    soap11 = envelope(name_change_xml(t_11, ssin))
    r = post_soap(relais, soap11)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/xml")
    ok, code, info, _ = summary(r)
    assert (ok, code, info.get("ticket")) == ("YES", "ACCEPTED", t_11)
    r = post_soap(relais, envelope(name_change_xml(t_12, ssin), SOAP12), SOAP12)
    assert r.status_code == 200 and summary(r)[0] == "YES", r.text
    assert r.headers["Content-Type"].startswith("application/soap+xml")

    want = {t_json, t_11, t_12}
    recs = read_until(brokers, cpas_topic(cbe), lambda rs: {headers_of(m).get("ticket") for m in rs} >= want,
                      timeout=60)
    canon = {}
    for m in recs:
        t = headers_of(m).get("ticket")
        if t in want:
            rn = pb.RoutedNotification()
            rn.ParseFromString(m.value())
            n = rn.notification
            n.ClearField("accepted_at_us")
            for part in (n.envelope, n.notify_person):
                part.ticket = ""
            canon[t] = n.SerializeToString(deterministic=True)
    assert len(canon) == 3
    assert canon[t_json] == canon[t_11] == canon[t_12], "JSON and SOAP gave different canonical records"

    raw = [m for m in read_topic(brokers, "relais.inbound.v1", inbound_start) if headers_of(m).get("ticket") == t_11]
    assert len(raw) == 1
    assert dict((k, v) for k, v in (raw[0].headers() or []))["raw"] == soap11.encode("utf-8")
    # The CPAS record carries it too (the router forwards it); the JSON one has none.
    for m in recs:
        h = dict((k, v) for k, v in (m.headers() or []))
        t = h.get("ticket", b"").decode()
        if t == t_11:
            assert h["raw"] == soap11.encode("utf-8")
            assert h["source-content-type"] == b"application/soap+xml"
        elif t == t_json:
            assert "raw" not in h


def test_refusals_are_soap_answers_and_reach_nothing(relais, brokers):
    inbound_start = end_offsets(brokers, "relais.inbound.v1")
    ssin = "68060105329"
    bad_check = ssin[:9] + f"{(int(ssin[9:]) + 1) % 100:02d}"
    cases = [
        # (body, status, expected ok, expected code, expected path fragment)
        (envelope(name_change_xml(new_ticket(), "6806010532")), 200, "NO", "XML_SCHEMA_INVALID", "/NotifyPerson/Person/SSIN"),
        (envelope(name_change_xml(new_ticket(), bad_check)), 200, "NO", "INVALID_SSIN_CHECKSUM", "ssin"),
        (envelope('<Other xmlns="urn:x"/>'), 200, "NO", "UNKNOWN_BODY", "/Other"),
        (envelope(name_change_xml("not-a-ticket", ssin)), 200, "NO", "XML_SCHEMA_INVALID", "/NotifyPerson/Context/Ticket"),
    ]
    for text, status, want_ok, want_code, path in cases:
        r = post_soap(relais, text)
        assert r.status_code == status, r.text
        ok, code, info, _ = summary(r)
        assert (ok, code) == (want_ok, want_code), r.text
        assert path in (info.get(None) or "") + " ".join(k or "" for k in info), (path, info, r.text)

    faults = [
        ('<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + envelope("&x;")[21:],
         "XML_DTD_FORBIDDEN"),
        (f'<NotifyPerson xmlns="{NS}"/>', "SOAP_NOT_AN_ENVELOPE"),
        (envelope(name_change_xml(new_ticket(), ssin) * 2), "SOAP_SEVERAL_BODY_ELEMENTS"),
        ("<s:Envelope", "XML_MALFORMED"),
    ]
    for text, want_code in faults:
        r = post_soap(relais, text)
        assert r.status_code == 400, r.text
        ok, code, _, root = summary(r)
        assert (ok, code) == ("NO", want_code), r.text
        assert root.find(f".//{{{SOAP11}}}Fault") is not None
        assert "root:" not in r.text  # nothing of /etc/passwd
    r = post_soap(relais, envelope("<x/>", SOAP12)[:-5], SOAP12)  # SOAP 1.2, cut: Sender fault -> 400
    assert r.status_code == 400, r.text
    r = post_soap(relais, envelope(name_change_xml(new_ticket(), ssin)), content_type="application/json")
    assert r.status_code == 415
    assert read_topic(brokers, "relais.inbound.v1", inbound_start) == []
