"""relaisctl ingest-file against the real services (issue 15, batch files).

A BCSS batch file of 2,000 notify-person lines (no ticket, file id or sequence number of its own:
relaisctl derives them) with 1% bad lines, delivered in chunks of 100:
1. a run that "crashes" after relais-ingest acknowledged its 7th chunk but before recording it
   (--stop-after-chunks 7) exits 1 with 6 chunks recorded;
2. the same command resumes there (the 7th chunk is sent again, under the same tickets) and
   completes: every line has exactly one result, the bad ones with their code;
3. the same command again does nothing ("already delivered"); with --again it delivers the whole
   file once more;
4. a read_committed consumer of the CPAS topic finds every good line's ticket exactly once, and
   none of the bad ones.
"""

from __future__ import annotations

import json
import random

from e2e_util import cpas_topic, cpas_with_persons, wait_tickets_once
from relais_harness import notification
from test_relaisctl import ctl

LINES, CHUNK, BAD_EVERY = 2000, 100, 100


def test_batch_file_crash_resume_redeliver(relais, stack, db, brokers, tmp_path):
    rng = random.Random()
    cbe, persons = cpas_with_persons(relais, db, rng, "CPAS e2e ingest-file", 20)

    path = tmp_path / "bcss-batch.ndjson"
    bad_lines = set()
    with path.open("w") as f:
        for line in range(1, LINES + 1):
            if line % BAD_EVERY == 0:
                bad_lines.add(line)
                # Alternately a broken line and a wrong SSIN check digit.
                f.write("{not json\n" if line % (2 * BAD_EVERY) == 0 else
                        json.dumps({"ssin": persons[0][:9] + f"{(int(persons[0][9:]) + 1) % 100:02d}",
                                    "effective_date": "2026-11-01", "event": "DEATH",
                                    "date_of_death": "2026-11-01"}) + "\n")
                continue
            n = notification("notify-person", "x", rng.choice(persons), "2026-11-01", rng, event="NAME_CHANGE")
            del n["ticket"]
            f.write(json.dumps(n) + "\n")
    results = tmp_path / "bcss-batch.ndjson.results.ndjson"

    rc, out, err = ctl(relais, stack, "ingest-file", "notify-person", str(path), "--chunk", str(CHUNK),
                       "--stop-after-chunks", "7")
    assert rc == 1, (out, err)
    assert "run the same command again to resume" in err
    assert len(results.read_text().splitlines()) == 6 * CHUNK

    rc, out, err = ctl(relais, stack, "ingest-file", "notify-person", str(path), "--chunk", str(CHUNK))
    assert rc == 0, (out, err)
    assert "resumed at line 601" in out, out
    rows = [json.loads(x) for x in results.read_text().splitlines()]
    assert [r["line"] for r in rows] == [n for n in range(1, LINES + 1)]
    rejected = {r["line"]: r for r in rows if r["status"] == "rejected"}
    assert set(rejected) == bad_lines
    assert {r["code"] for r in rejected.values()} == {"MALFORMED_JSON", "INVALID_SSIN_CHECKSUM"}
    good_tickets = {r["ticket"] for r in rows if r["status"] == "accepted"}
    assert len(good_tickets) == LINES - len(bad_lines)

    rc, out, err = ctl(relais, stack, "ingest-file", "notify-person", str(path), "--chunk", str(CHUNK))
    assert rc == 0 and "already delivered" in out, (out, err)
    rc, out, err = ctl(relais, stack, "ingest-file", "notify-person", str(path), "--chunk", str(CHUNK), "--again")
    assert rc == 0 and "delivered" in out, (out, err)
    again = [json.loads(x) for x in results.read_text().splitlines()]
    assert {r["ticket"] for r in again if r["status"] == "accepted"} == good_tickets

    topic = cpas_topic(cbe)

    wait_tickets_once(brokers, topic, good_tickets)
