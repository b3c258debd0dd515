"""The National Register's, BCSS's and the NSSO's own codes through the real stack
(docs/domain-model.md): notify-person bodies with the new events, their Tx25 IT code and the
register's raw value, posted to relais-ingest and read back from the CPAS topic as a CPAS
application reads it (read_committed), with what Relais derives beside the source codes; the
producers that still send only the deprecated relais.v1 fields get the source codes mapped; and
the refusals (400 with the documented code and field) reach nothing.

Expectations are written here from the public code lists, not computed with Relais's code."""

from __future__ import annotations

import random

import requests

from e2e_util import cpas_topic, fresh_cbes, fresh_ssins, headers_of, read_until, wait_for
from relais_harness import api_import, api_put_cpas, new_ticket

RAW = "<AddressReference Type=\"024\">\n\t<Date><Century>20</Century><Year>26</Year></Date>\n</AddressReference> Liège"


def post(relais, flow: str, body: dict) -> requests.Response:
    return requests.post(f"{relais.ingest.url}/v1/notifications/{flow}", json=body, timeout=30)


def test_source_codes_reach_the_cpas_intact(relais, db, brokers, pb):
    rng = random.Random()
    (cbe,) = fresh_cbes(rng, 1)
    api_put_cpas(relais.api.url, cbe, "CPAS e2e source codes", ["21004"])
    person, partner, head = fresh_ssins(db, rng, 3, bis_ratio=0)
    assert api_import(relais.api.url, cbe, [(person, 2, "2020-01-01", None)]).status_code == 200
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{cbe}"}}') == 1, 10,
             what="router directory")

    def body(event: str, **fields) -> dict:
        return {"ticket": new_ticket(), "ssin": person, "effective_date": "2026-03-14", "event": event,
                "gender_code": 2, "birth_date": "1968-06-00", **fields}

    accepted = {  # ticket -> (flow, body)
    }
    bodies = [
        ("notify-person", body("REFERENCE_ADDRESS", nr_information_type="IT024", nr_raw_value=RAW,
                               address={"municipality_nis_code": "21004", "country_nr_code": 150})),
        ("notify-person", body("LEGAL_COHABITATION_START", partner_ssin=partner, nr_raw_value="declaration")),
        ("notify-person", body("LEGAL_COHABITATION_END", partner_ssin=partner)),
        ("notify-person", body("HOUSEHOLD_HEAD_CHANGE", household_head_ssin=head, nr_information_type="IT141")),
        ("notify-person", body("REGISTER_CHANGE", register_code=1, previous_register_code=7)),
        ("notify-person", body("TEMPORARY_ABSENCE", absence_end_date="2027-00-00")),
        ("notify-person", body("ADDRESS_ABROAD", address={"municipality": "Aachen", "country_nr_code": 103})),
        ("notify-person", body("CIVIL_STATUS_CHANGE", civil_status_code=51)),
        # A producer still on the deprecated relais.v1 fields only.
        ("notify-person", body("CIVIL_STATUS_CHANGE", civil_status="MARRIED")),
        ("notify-person", body("NATIONALITY_CHANGE", nationality_code="BE")),
        # Borsbeek (11007) merged into Antwerpen (11002) on 2025-01-01; ISO country only.
        ("notify-person", body("ADDRESS_CHANGE", address={"municipality_nis_code": "11007", "country_code": "BE"})),
        ("personnel-file", {"ticket": new_ticket(), "ssin": person, "effective_date": "2026-03-14",
                            "event": "DIMONA_IN", "employer_nsso_number": "123456749", "worker_type": "ARTICLE_60",
                            "period_start_date": "2026-03-14"}),
        ("personnel-file", {"ticket": new_ticket(), "ssin": person, "effective_date": "2026-03-14",
                            "event": "DIMONA_IN", "employer_cbe": "0851234584", "dimona_worker_type": "STU",
                            "period_start_date": "2026-03-14"}),
    ]
    for flow, b in bodies:
        r = post(relais, flow, b)
        assert r.status_code == 202, (b["event"], r.text)
        accepted[b["ticket"]] = (flow, b)

    refused = [
        ("notify-person", body("ADDRESS_ABROAD", address={"country_nr_code": 150}), "INCONSISTENT",
         "address.country_nr_code"),
        ("notify-person", body("CIVIL_STATUS_CHANGE", civil_status_code=11), "INVALID_CODE", "civil_status_code"),
        ("notify-person", body("CIVIL_STATUS_CHANGE", civil_status_code=20, civil_status="DIVORCED"),
         "INCONSISTENT", "civil_status"),
        ("notify-person", body("LEGAL_COHABITATION_START", partner_ssin=person), "INCONSISTENT", "partner_ssin"),
        ("notify-person", body("REFERENCE_ADDRESS", nr_information_type="IT020",
                               address={"municipality_nis_code": "21004"}), "INCONSISTENT", "nr_information_type"),
        ("notify-person", body("NAME_CHANGE", last_name="Peeters", nr_raw_value="x" * 4097), "FIELD_TOO_LONG",
         "nr_raw_value"),
        ("personnel-file", {"ticket": new_ticket(), "ssin": person, "effective_date": "2026-03-14",
                            "event": "DIMONA_IN", "employer_cbe": "0851234584", "worker_type": "APPRENTICE",
                            "period_start_date": "2026-03-14"}, "NOT_MAPPABLE", "worker_type"),
        ("personnel-file", {"ticket": new_ticket(), "ssin": person, "effective_date": "2026-03-14",
                            "event": "DIMONA_IN", "employer_nsso_number": "123456794", "dimona_worker_type": "OTH",
                            "period_start_date": "2026-03-14"}, "INVALID_NSSO_NUMBER", "employer_nsso_number"),
    ]
    refused_tickets = set()
    for flow, b, code, field in refused:
        r = post(relais, flow, b)
        assert r.status_code == 400, (code, r.text)
        assert (r.json()["code"], r.json()["field"]) == (code, field), r.text
        refused_tickets.add(b["ticket"])

    topic = cpas_topic(cbe)
    recs = read_until(brokers, topic, lambda rs: accepted.keys() <= {headers_of(m).get("ticket") for m in rs}, 60)
    got = {}
    for m in recs:
        t = headers_of(m).get("ticket")
        assert t not in refused_tickets, "a refused notification reached the CPAS"
        if t in accepted:
            assert t not in got, f"ticket {t} delivered twice"
            r = pb.RoutedNotification()
            r.ParseFromString(m.value())
            got[t] = r.notification
    assert got.keys() == accepted.keys()

    by_event = {}
    for t, (flow, b) in accepted.items():
        n = got[t]
        body_pb = n.notify_person if flow == "notify-person" else n.personnel_file
        by_event.setdefault(b["event"], []).append((b, body_pb))

    # Reference address: IT code and raw value intact, Belgium's NR code with its ISO code derived.
    ((b, p),) = by_event["REFERENCE_ADDRESS"]
    assert p.nr_information_type == "IT024"
    assert p.nr_raw_value == RAW
    assert (p.address.country_nr_code, p.address.country_code) == (150, "BE")
    assert p.address.current_municipality_nis_code == "21004"
    assert (p.birth_date, p.gender_code) == ("1968-06-00", 2)

    # The IT code Relais fills in when the producer sends none, the one it keeps when sent.
    expected_it = {"LEGAL_COHABITATION_START": "IT123", "LEGAL_COHABITATION_END": "IT123",
                   "HOUSEHOLD_HEAD_CHANGE": "IT141", "REGISTER_CHANGE": "IT210", "TEMPORARY_ABSENCE": "IT026",
                   "ADDRESS_ABROAD": "IT022", "NATIONALITY_CHANGE": "IT031"}
    for event, it in expected_it.items():
        for _, p in by_event[event]:
            assert p.nr_information_type == it, event
    ((_, p),) = by_event["LEGAL_COHABITATION_START"]
    assert (p.partner_ssin, p.nr_raw_value) == (partner, "declaration")
    ((_, p),) = by_event["HOUSEHOLD_HEAD_CHANGE"]
    assert p.household_head_ssin == head
    ((_, p),) = by_event["REGISTER_CHANGE"]
    assert (p.register_code, p.previous_register_code) == (1, 7)
    ((_, p),) = by_event["TEMPORARY_ABSENCE"]
    assert p.absence_end_date == "2027-00-00"
    ((_, p),) = by_event["ADDRESS_ABROAD"]
    assert (p.address.country_nr_code, p.address.country_code) == (103, "DE")

    ((_, p),) = by_event["ADDRESS_CHANGE"]
    assert (p.address.municipality_nis_code, p.address.current_municipality_nis_code) == ("11007", "11002")
    assert (p.address.country_nr_code, p.address.country_code, p.nr_information_type) == (150, "BE", "IT020")

    from relais.v1 import flows_pb2  # compiled by the pb fixture, next to records_pb2
    # Civil status: 51 has no relais.v1 enum value; MARRIED alone maps to 20 (t_CivilStateCode).
    status = sorted((p.civil_status_code, p.civil_status) for _, p in by_event["CIVIL_STATUS_CHANGE"])
    assert status == [(20, flows_pb2.NotifyPerson.MARRIED), (51, flows_pb2.NotifyPerson.CIVIL_STATUS_UNSPECIFIED)]
    ((_, p),) = by_event["NATIONALITY_CHANGE"]
    assert (p.nationality_nr_code, p.nationality_code) == (150, "BE")

    # DIMONA: ARTICLE_60 alone is OTH + the CPAS's flag; STU derives STUDENT; employer by NSSO number.
    dimona = sorted(((p.dimona_worker_type, p.cpas_article_60, p.worker_type, p.employer_nsso_number)
                     for _, p in by_event["DIMONA_IN"]))
    assert dimona == [("OTH", True, flows_pb2.PersonnelFile.ARTICLE_60, "123456749"),
                      ("STU", False, flows_pb2.PersonnelFile.STUDENT, "")]
