"""Poison records written straight into relais.inbound.v1 (garbage bytes, and
well-formed protobuf Notifications that fail validation) land in
relais.dlq.v1 with their source coordinates and bytes, are journaled as
dead letters, and never block their partition: valid records after them with
the same key (same partition) are still routed."""

from __future__ import annotations

import json
import random

import requests

from e2e_util import (cpas_topic, end_offsets, fresh_cbes, fresh_ssins, headers_of, produce_raw, read_topic,
                      read_until, wait_for)
from relais_harness import api_import, api_put_cpas, new_ticket, notification

INBOUND, DLQ = "relais.inbound.v1", "relais.dlq.v1"


def test_poison_records_go_to_dlq_and_do_not_block(relais, db, brokers, pb):
    rng = random.Random()
    cbe = fresh_cbes(rng, 1)[0]
    ssin = fresh_ssins(db, rng, 1)[0]
    api_put_cpas(relais.api.url, cbe, "CPAS e2e dlq", ["92094"])
    assert api_import(relais.api.url, cbe, [(ssin, 4, "2018-01-01", None)]).status_code == 200
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{cbe}"}}') == 1, 10,
             what="router directory")

    # Poison, keyed by the person like any inbound record.
    t_invalid, t_nobody = new_ticket(), new_ticket()
    bad_ssin = ssin[:9] + f"{(int(ssin[9:]) + 1) % 100:02d}"
    invalid = pb.Notification(flow=1, accepted_at_us=1)
    for m in (invalid.envelope, invalid.notify_person):
        m.ticket, m.ssin, m.effective_date = t_invalid, bad_ssin, "2024-01-01"
    invalid.notify_person.event = \
        invalid.notify_person.DESCRIPTOR.enum_types_by_name["Event"].values_by_name["DEATH"].number
    nobody = pb.Notification(flow=1, accepted_at_us=1)
    nobody.envelope.ticket, nobody.envelope.ssin, nobody.envelope.effective_date = t_nobody, ssin, "2024-01-01"
    garbage = b"\x07this is not a protobuf \xff\xfe"
    poison = [garbage, invalid.SerializeToString(), nobody.SerializeToString(), b"\xff" * 40]
    start_in, start_dlq = end_offsets(brokers, INBOUND), end_offsets(brokers, DLQ)
    produce_raw(brokers, INBOUND, [(ssin.encode(), v, [("ticket", b"poison")]) for v in poison])

    # Then valid notifications of the same person, through ingest (same key).
    good = []
    for _ in range(3):
        n = notification("notify-person", new_ticket(), ssin, "2024-02-01", rng)
        r = requests.post(f"{relais.ingest.url}/v1/notifications/notify-person", data=json.dumps(n),
                          headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 202, r.text
        good.append(n["ticket"])

    inbound = read_topic(brokers, INBOUND, start_in)
    mine = [m for m in inbound if m.key() == ssin.encode()]
    assert [m.value() for m in mine[:4]] == poison
    assert [headers_of(m).get("ticket") for m in mine[4:]] == good
    assert len({m.partition() for m in mine}) == 1, "same key, same partition: the valid ones queue behind the poison"
    part = mine[0].partition()
    poison_offsets = [m.offset() for m in mine[:4]]

    # The valid records are routed in spite of the poison ahead of them.
    recs = read_until(brokers, cpas_topic(cbe), lambda rs: {headers_of(m)["ticket"] for m in rs} >= set(good),
                      timeout=60, settle=0.5)
    assert sorted(headers_of(m)["ticket"] for m in recs) == sorted(good)

    # Each poison record is in the DLQ once, with its coordinates, key and bytes.
    dl = [m for m in read_topic(brokers, DLQ, start_dlq)]
    letters = []
    for m in dl:
        d = pb.DeadLetter()
        d.ParseFromString(m.value())
        if d.source_topic == INBOUND and d.source_partition == part and d.source_offset in poison_offsets:
            letters.append(d)
    assert sorted(d.source_offset for d in letters) == poison_offsets, letters
    by_off = {d.source_offset: d for d in letters}
    for off, value in zip(poison_offsets, poison):
        d = by_off[off]
        assert d.value == value and d.key == ssin.encode() and d.reason and d.failed_at_us > 0
    assert by_off[poison_offsets[0]].reason.startswith("UNDECODABLE")
    assert by_off[poison_offsets[1]].reason.startswith("INVALID") and "INVALID_SSIN_CHECKSUM" in \
        by_off[poison_offsets[1]].reason
    assert by_off[poison_offsets[2]].reason.startswith("INVALID")

    # Journaled as dead letters (the ticket when readable, else the source coordinates).
    src = [f"{INBOUND}/{part}/{o}" for o in poison_offsets]
    def dead_rows():
        rows = db.query("SELECT ticket, source, reason FROM journal WHERE kind = 'dead_letter' AND source IN ("
                        + ",".join(f"'{s}'" for s in src) + ")")
        return rows if len(rows) == 4 else None
    rows = wait_for(dead_rows, 30, interval=0.5, what="dead_letter journal rows")
    tickets = {r[1]: r[0] for r in rows}
    assert tickets[src[1]] == t_invalid and tickets[src[2]] == t_nobody
    m = relais.router.metrics()
    assert m.get('relais_router_dlq_total{reason="UNDECODABLE"}', 0) >= 2
    assert m.get('relais_router_dlq_total{reason="INVALID"}', 0) >= 2
