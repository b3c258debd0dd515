"""relais-ingest's spool directory (ingest.spool.dir; issue 15, batch files; docs/operations.md).

A relais-ingest of its own watches a spool directory:
1. an XML batch of 20,000 records (1% bad) dropped by the protocol (written as *.tmp, renamed);
   relais-ingest is killed (SIGKILL) once about half of it is recorded, restarted, and resumes:
   the file ends in done/ with one result per record, the bad ones with their reason code;
2. the same file dropped again: done/ again (a numbered name), same tickets;
3. an NDJSON file named <flow>.<name>.ndjson goes to done/; a file with a DOCTYPE and an NDJSON
   file without a known flow go to failed/ with the reason beside them;
4. every good record is on the CPAS topic exactly once (read_committed), no bad one; the spool's
   metrics count the files.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time
from pathlib import Path

from e2e_util import cpas_topic, cpas_with_persons, headers_of, read_topic, wait_for, wait_tickets_once
from relais_harness import new_ticket, notification
from test_ingest_xml_batch import write_batch

RECORDS = 20000


def drop(src: Path, spool: Path, name: str) -> None:
    """The drop protocol: a *.tmp name first, then an atomic rename."""
    tmp = spool / (name + ".tmp")
    shutil.copyfile(src, tmp)
    os.rename(tmp, spool / name)


def results_of(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_spool_directory(relais, stack, db, brokers, tmp_path):
    rng = random.Random()
    cbe, persons = cpas_with_persons(relais, db, rng, "CPAS e2e spool", 20)
    spool = tmp_path / "spool"
    spool.mkdir()
    ing = relais.add("ingest", instance="spool")
    ing.env.update({"RELAIS_INGEST_SPOOL_DIR": str(spool), "RELAIS_INGEST_SPOOL_CHUNK": "500",
                    "RELAIS_INGEST_SPOOL_POLL_MS": "100"})
    ing.start()
    ing.wait_ready()

    # 1. Killed halfway, resumed after the restart.
    src = tmp_path / "batch.xml"
    own, bad = write_batch(src, persons, rng, RECORDS)
    drop(src, spool, "batch.xml")
    progress = spool / "batch.xml.progress"
    recorded = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and recorded < RECORDS // 2:
        try:
            recorded = json.loads(progress.read_text())["next_line"] - 1
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    assert RECORDS // 2 <= recorded < RECORDS, f"not killed halfway: {recorded} recorded"
    ing.kill(signal.SIGKILL)
    assert (spool / "batch.xml").exists(), "the file left the spool before it was delivered"
    ing.restart()
    ing.wait_ready()
    done = spool / "done"
    wait_for(lambda: (done / "batch.xml").exists(), 180, interval=0.2, what="the batch in done/")
    assert "resumed=yes" in ing.log_path.read_text(errors="replace") or "\"resumed\":\"yes\"" in \
        ing.log_path.read_text(errors="replace")
    rows = results_of(done / "batch.xml.results.ndjson")
    assert [r["record"] for r in rows] == list(range(1, RECORDS + 1)), "a record without exactly one result"
    assert {r["record"]: r["code"] for r in rows if r["status"] == "rejected"} == bad
    good = {r["ticket"] for r in rows if r["status"] == "accepted"}
    assert len(good) == RECORDS - len(bad)
    assert not (spool / "batch.xml.progress").exists()

    # 2. The same file dropped again.
    drop(src, spool, "batch.xml")
    wait_for(lambda: (done / "batch.xml.1").exists(), 180, interval=0.2, what="the second delivery in done/")
    again = results_of(done / "batch.xml.1.results.ndjson")
    assert {r["ticket"] for r in again if r["status"] == "accepted"} == good

    # 3. NDJSON by name, and refused files.
    nd = tmp_path / "lines.ndjson"
    nd_tickets = set()
    with nd.open("w") as f:
        for i in range(50):
            n = notification("notify-person", new_ticket(), rng.choice(persons), "2026-11-01", rng, event="NAME_CHANGE")
            nd_tickets.add(n["ticket"])
            f.write(json.dumps(n) + "\n")
    drop(nd, spool, "notify-person.lines.ndjson")
    hostile = tmp_path / "hostile.xml"
    hostile.write_text('<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaa">]><b>&a;</b>')
    drop(hostile, spool, "hostile.xml")
    drop(nd, spool, "no-flow.ndjson")
    wait_for(lambda: (done / "notify-person.lines.ndjson").exists(), 60, interval=0.2, what="the NDJSON file in done/")
    assert all(r["status"] == "accepted" for r in results_of(done / "notify-person.lines.ndjson.results.ndjson"))
    failed = spool / "failed"
    wait_for(lambda: (failed / "hostile.xml.error").exists() and (failed / "no-flow.ndjson.error").exists(), 60,
             interval=0.2, what="the refused files in failed/")
    assert "XML_DTD_FORBIDDEN" in (failed / "hostile.xml.error").read_text()
    assert "UNKNOWN_FLOW" in (failed / "no-flow.ndjson.error").read_text()

    # 4. Exactly once on the CPAS topic; the metrics.
    topic = cpas_topic(cbe)
    wanted = good | nd_tickets

    wait_tickets_once(brokers, topic, wanted)
    bad_tickets = {r["ticket"] for r in rows if r["status"] == "rejected" and r.get("ticket")}
    assert not {headers_of(m).get("ticket") for m in read_topic(brokers, topic)} & bad_tickets
    m = ing.metrics()
    assert m.get('relais_ingest_spool_files_total{outcome="done"}', 0) >= 2, m
    assert m.get('relais_ingest_spool_files_total{outcome="failed"}', 0) >= 2, m
    ing.stop()
