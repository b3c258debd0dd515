"""An XML batch file (deploy/xsd/relais/batch.xsd) through relaisctl ingest-file (issue 15, batch
files; the "Batch" acceptance line).

A batch of 100,000 NotifyPerson records (the acceptance's size; about 40 s here;
RELAIS_BATCH_RECORDS=N for another size) with 1% bad records: a schema-invalid SSIN (rejected by
relaisctl's per-record XSD validation), a wrong SSIN check digit (schema-valid, rejected by
relais-ingest) and an element no mapping knows. Most records carry no Ticket (relaisctl derives it
from the FileId and the record's sequence number), some carry their own.
1. relaisctl is killed (SIGKILL) once its progress file shows about half of the records delivered;
2. the same command resumes at the first record not recorded and completes: every record has
   exactly one result, the bad ones with their reason code;
3. the file is delivered once more (--again);
4. a read_committed consumer of the CPAS topic finds every good record's ticket exactly once and
   none of the bad ones.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path

from e2e_util import cpas_topic, cpas_with_persons, headers_of, read_topic, wait_tickets_once
from test_relaisctl import CTL, ctl, ctl_env

REPO = Path(__file__).resolve().parents[2]
RECORDS = int(os.environ.get("RELAIS_BATCH_RECORDS", "100000"))
CHUNK, BAD_EVERY = 500, 100
NS = "urn:be:relais:bcss:notifications:v1"
XSD_ARGS = ["--xsd-files", f"{REPO}/var/bcss/cbss/XSD/SSDN/Common/NamespaceRoot.xsd,"
                           f"{REPO}/deploy/xsd/relais/notifications.xsd",
            "--xsd-roots", f"{REPO}/var/bcss/cbss/XSD,{REPO}/deploy/xsd/relais",
            "--mappings", f"{REPO}/deploy/mappings"]


def write_batch(path: Path, persons: list[str], rng: random.Random,
                records: int = RECORDS) -> tuple[dict[int, str], dict[int, str]]:
    """The batch; returns {record: own ticket} and {bad record: expected code}."""
    own, bad = {}, {}
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<b:NotificationBatch xmlns:b="urn:be:relais:bcss:batch:v1" xmlns="{NS}">\n'
                f"<b:FileId>BCSS-E2E-{uuid.uuid4()}</b:FileId><b:Sender>BCSS</b:Sender>"
                "<b:CreatedAt>2026-12-05T01:00:00Z</b:CreatedAt>\n")
        for n in range(1, records + 1):
            ssin = rng.choice(persons)
            ticket = ""
            if n % 7 == 0:
                own[n] = str(uuid.uuid4())
                ticket = f"<Ticket>{own[n]}</Ticket>"
            if n % BAD_EVERY == 0:
                kind = (n // BAD_EVERY) % 3
                if kind == 0:
                    bad[n], ssin = "XML_SCHEMA_INVALID", ssin[:10]
                elif kind == 1:
                    bad[n], ssin = "INVALID_SSIN_CHECKSUM", ssin[:9] + f"{(int(ssin[9:]) + 1) % 100:02d}"
                else:
                    bad[n] = "UNKNOWN_BODY"
                    f.write(f'<x:Other xmlns:x="urn:other"><x:V>{n}</x:V></x:Other>\n')
                    continue
            f.write(f"<NotifyPerson><Context>{ticket}<SentAt>2026-11-02T10:00:00Z</SentAt></Context>"
                    f"<Person><SSIN>{ssin}</SSIN></Person><EffectiveDate>2026-11-01</EffectiveDate>"
                    f"<Event>NAME_CHANGE</Event><LastName>Name{n}</LastName></NotifyPerson>\n")
        f.write("</b:NotificationBatch>\n")
    return own, bad


def test_xml_batch_killed_resumed_redelivered(relais, stack, db, brokers, tmp_path):
    rng = random.Random()
    cbe, persons = cpas_with_persons(relais, db, rng, "CPAS e2e xml batch", 20)
    path = tmp_path / "bcss-batch.xml"
    own, bad = write_batch(path, persons, rng)
    results = Path(str(path) + ".results.ndjson")
    progress = Path(str(path) + ".progress")
    args = [str(CTL), "ingest-file", str(path), "--chunk", str(CHUNK), *XSD_ARGS]

    # 1. A real crash: SIGKILL once about half of the records are recorded.
    p = subprocess.Popen(args, env=ctl_env(relais, stack), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    recorded = 0
    while time.monotonic() < deadline and p.poll() is None:
        try:
            recorded = json.loads(progress.read_text())["next_line"] - 1
        except (OSError, ValueError, KeyError):
            recorded = 0
        if recorded >= RECORDS // 2:
            break
        time.sleep(0.05)
    assert p.poll() is None, ("relaisctl ended before it could be killed", p.communicate())
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert 0 < recorded < RECORDS

    # 2. Resumed where the progress file says.
    rc, out, err = ctl(relais, stack, "ingest-file", str(path), "--chunk", str(CHUNK), *XSD_ARGS)
    assert rc == 0, (out, err)
    assert "resumed at line" in out, out
    rows = [json.loads(x) for x in results.read_text().splitlines()]
    assert [r["record"] for r in rows] == list(range(1, RECORDS + 1)), "a record without exactly one result"
    rejected = {r["record"]: r["code"] for r in rows if r["status"] == "rejected"}
    assert rejected == bad
    assert all(r.get("message") for r in rows if r["status"] == "rejected")
    accepted = {r["record"]: r["ticket"] for r in rows if r["status"] == "accepted"}
    assert len(accepted) == RECORDS - len(bad)
    for n, t in own.items():
        if n not in bad:
            assert accepted[n] == t, "a record's own ticket was not kept"
    good_tickets = set(accepted.values())
    assert len(good_tickets) == len(accepted)

    # 3. The same file delivered once more: same tickets.
    rc, out, err = ctl(relais, stack, "ingest-file", str(path), "--chunk", str(CHUNK), *XSD_ARGS)
    assert rc == 0 and "already delivered" in out, (out, err)
    rc, out, err = ctl(relais, stack, "ingest-file", str(path), "--chunk", str(CHUNK), "--again", *XSD_ARGS)
    assert rc == 0 and "delivered" in out, (out, err)
    again = [json.loads(x) for x in results.read_text().splitlines()]
    assert {r["ticket"] for r in again if r["status"] == "accepted"} == good_tickets

    # 4. Every good record on the CPAS topic exactly once, no bad one.
    topic = cpas_topic(cbe)

    wait_tickets_once(brokers, topic, good_tickets)
    everything = {headers_of(m).get("ticket") for m in read_topic(brokers, topic)}
    bad_tickets = {r["ticket"] for r in rows if r["status"] == "rejected" and r.get("ticket")}
    assert not everything & bad_tickets, "a rejected record reached the CPAS topic"
