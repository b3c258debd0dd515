"""relaisctl against the real services, broker and database.

- DLQ: a notification whose SSIN was mistyped by its sender (bad checksum) is dead-lettered
  by the router. `dlq list` and `dlq show` expose it (reason, source coordinates, the decoded
  original); the cause is fixed by the operator supplying the corrected body
  (`dlq replay P:O --edit fixed.json`), which relaisctl decodes and validates like ingest,
  keeps the original ticket, and re-produces; the router then routes it to the CPAS. The
  replay is recorded in dlq_replays and a second replay of the same record is refused.
- Directory import: 100,000 integrations from a CSV file under a pseudo-terminal (`script`)
  show a progress bar and a summary; relais-api then reports 100,000 active integrations.
  A file with a bad line stops at that line's chunk and names the file's line number.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time

import requests

from e2e_util import cpas_topic, end_offsets, fresh_cbes, fresh_ssins, headers_of, produce_raw, read_topic, \
    read_until, wait_for
from relais_harness import api_headers, BUILD, api_import, api_put_cpas, make_ssin, new_ticket, service_kafka_env

INBOUND, DLQ = "relais.inbound.v1", "relais.dlq.v1"
CTL = BUILD / "services" / "relaisctl"


def ctl_env(relais, stack):
    env = dict(os.environ)
    env.update({"RELAIS_KAFKA_BROKERS": stack["RELAIS_KAFKA_BROKERS"], "RELAIS_PG_DSN": stack["RELAIS_PG_DSN"],
                "RELAIS_INGEST_URL": relais.ingest.url, "RELAIS_API_URL": relais.api.url,
                "RELAIS_ROUTER_URL": relais.router.url, "RELAIS_CTL_ACTOR": "e2e"})
    env.update(service_kafka_env("relaisctl"))  # the operator's principal (relais-operator)
    return env


def ctl(relais, stack, *args, timeout=600):
    p = subprocess.run([str(CTL), *args], env=ctl_env(relais, stack), capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def test_dlq_replay_after_fix(relais, stack, db, brokers, pb, tmp_path):
    rng = random.Random()
    cbe = fresh_cbes(rng, 1)[0]
    ssin = fresh_ssins(db, rng, 1)[0]
    api_put_cpas(relais.api.url, cbe, "CPAS e2e relaisctl dlq", ["92094"])
    assert api_import(relais.api.url, cbe, [(ssin, 4, "2018-01-01", None)]).status_code == 200
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{cbe}"}}') == 1, 10,
             what="router directory")

    # The sender mistyped the SSIN's check digits: the record cannot be routed.
    ticket = new_ticket()
    typo = ssin[:9] + f"{(int(ssin[9:]) + 1) % 100:02d}"
    bad = pb.Notification(flow=1, accepted_at_us=int(time.time() * 1e6))
    for m in (bad.envelope, bad.notify_person):
        m.ticket, m.ssin, m.effective_date = ticket, typo, "2024-03-01"
    bad.notify_person.event = bad.notify_person.DESCRIPTOR.enum_types_by_name["Event"].values_by_name["DEATH"].number
    bad.notify_person.date_of_death = "2024-03-01"
    start_in, start_dlq = end_offsets(brokers, INBOUND), end_offsets(brokers, DLQ)
    produce_raw(brokers, INBOUND, [(typo.encode(), bad.SerializeToString(),
                                    [("flow", b"notify-person"), ("ticket", ticket.encode())])])
    src = [m for m in read_topic(brokers, INBOUND, start_in) if headers_of(m).get("ticket") == ticket][0]

    def my_letter():
        for m in read_topic(brokers, DLQ, start_dlq, timeout=5):
            d = pb.DeadLetter()
            d.ParseFromString(m.value())
            if d.source_partition == src.partition() and d.source_offset == src.offset():
                return m
        return None
    letter = wait_for(my_letter, 60, what="the dead letter")
    coord = f"{letter.partition()}:{letter.offset()}"

    rc, out, err = ctl(relais, stack, "dlq", "list", "--limit", "1000")
    assert rc == 0, err
    line = [ln for ln in out.splitlines() if ln.startswith(coord + " ")]
    assert line and "INVALID" in line[0] and ticket in line[0] and line[0].rstrip().endswith("no"), out

    rc, out, err = ctl(relais, stack, "dlq", "show", coord)
    assert rc == 0, err
    shown = json.loads(out)
    assert shown["reason"].startswith("INVALID: INVALID_SSIN_CHECKSUM"), shown
    assert shown["source"] == {"topic": INBOUND, "partition": src.partition(), "offset": src.offset()}
    assert shown["key"] == typo
    assert shown["notification"]["envelope"]["ticket"] == ticket
    assert shown["validation_error"]["code"] == "INVALID_SSIN_CHECKSUM"
    print(f"\n$ relaisctl dlq show {coord}\n{out}")

    # Input errors are usage errors (exit 2) and touch nothing.
    assert ctl(relais, stack, "dlq", "show", "x:1")[0] == 2
    assert ctl(relais, stack, "dlq", "replay")[0] == 2
    # A correction that is still invalid, or that changes the ticket, is refused.
    still_bad = {"ticket": ticket, "ssin": typo, "effective_date": "2024-03-01", "event": "DEATH",
                 "date_of_death": "2024-03-01"}
    (tmp_path / "still_bad.json").write_text(json.dumps(still_bad))
    rc, out, _ = ctl(relais, stack, "dlq", "replay", coord, "--edit", str(tmp_path / "still_bad.json"))
    assert rc == 1 and "INVALID_SSIN_CHECKSUM" in out, out
    other = dict(still_bad, ssin=ssin, ticket=new_ticket())
    (tmp_path / "other.json").write_text(json.dumps(other))
    rc, out, _ = ctl(relais, stack, "dlq", "replay", coord, "--edit", str(tmp_path / "other.json"))
    assert rc == 1 and "original ticket" in out, out

    # The cause fixed: the right SSIN, confirmed with the sender.
    fixed = dict(still_bad, ssin=ssin)
    (tmp_path / "fixed.json").write_text(json.dumps(fixed))
    start_cpas = end_offsets(brokers, cpas_topic(cbe))
    rc, out, err = ctl(relais, stack, "dlq", "replay", coord, "--edit", str(tmp_path / "fixed.json"))
    assert rc == 0, out + err
    assert f"{coord} replayed" in out and "replayed 1, skipped 0, failed 0" in out, out
    print(f"$ relaisctl dlq replay {coord} --edit fixed.json\n{out}")

    recs = read_until(brokers, cpas_topic(cbe), lambda rs: any(headers_of(m).get("ticket") == ticket for m in rs),
                      timeout=60, settle=1.0)
    assert [headers_of(m)["ticket"] for m in recs] == [ticket]
    assert start_cpas is not None
    routed = pb.RoutedNotification()
    routed.ParseFromString(recs[0].value())
    assert routed.notification.envelope.ssin == ssin

    rows = db.query(f"SELECT ticket, corrected, forced, actor, reason FROM dlq_replays "
                    f"WHERE dlq_topic = '{DLQ}' AND dlq_partition = {letter.partition()} "
                    f"AND dlq_offset = {letter.offset()}")
    assert rows == [[ticket, "t", "f", "e2e", shown["reason"]]], rows
    wait_for(lambda: db.query(f"SELECT count(*) FROM journal WHERE ticket = '{ticket}' AND kind = 'routed' "
                              f"AND cpas_cbe = '{cbe}'") == [["1"]], 30, what="journal routed")

    # Not twice: the same record is skipped; --force replays it again, the router dedupes the ticket.
    rc, out, _ = ctl(relais, stack, "dlq", "replay", coord, "--edit", str(tmp_path / "fixed.json"))
    assert rc == 0 and "skipped" in out and "replayed 0, skipped 1" in out, out
    rc, out, _ = ctl(relais, stack, "dlq", "replay", coord, "--edit", str(tmp_path / "fixed.json"), "--force")
    assert rc == 0 and "replayed 1" in out, out
    wait_for(lambda: db.query(f"SELECT count(*) FROM journal WHERE ticket = '{ticket}' AND kind = 'duplicate'")
             == [["1"]], 30, what="duplicate journaled")
    assert [headers_of(m)["ticket"] for m in read_topic(brokers, cpas_topic(cbe), start_cpas)] == [ticket]
    rc, out, _ = ctl(relais, stack, "dlq", "list", "--limit", "1000")
    assert [ln for ln in out.splitlines() if ln.startswith(coord + " ")][0].rstrip().endswith("yes")

    # The journal subcommand tells the story of the ticket.
    rc, out, err = ctl(relais, stack, "journal", "--ticket", ticket, "--json")
    assert rc == 0, err
    kinds = sorted(r["kind"] for r in json.loads(out))
    assert "dead_letter" in kinds and "routed" in kinds and "duplicate" in kinds, kinds
    assert ctl(relais, stack, "journal", "--ssin", "12345678901")[0] == 2
    assert ctl(relais, stack, "journal", "--since", "yesterday")[0] == 2


def test_directory_import_100k_with_progress(relais, stack, tmp_path):
    rng = random.Random()
    cbe = fresh_cbes(rng, 1)[0]
    api_put_cpas(relais.api.url, cbe, "CPAS e2e relaisctl import", ["92094"])
    ssins: set[str] = set()
    while len(ssins) < 100_000:
        ssins.add(make_ssin(rng, bis=rng.random() < 0.2))
    path = tmp_path / "integrations.csv"
    with path.open("w") as f:
        f.write("ssin,quality_code,start_date,end_date\n")
        for s in sorted(ssins):
            f.write(f"{s},{rng.choice([1, 2, 3, 4, 5])},2020-01-01,\n")

    # Under a pseudo-terminal (script): the bar, redrawn in place.
    cmd = f"{CTL} directory import {cbe} {path} --chunk 10000"
    p = subprocess.run(["script", "-q", "-e", "-c", cmd, "/dev/null"], env=ctl_env(relais, stack),
                       capture_output=True, timeout=600)  # bytes: keep the carriage returns
    tty_out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, tty_out + p.stderr.decode(errors="replace")
    assert "\r[" in tty_out and "100%" in tty_out and "lines/s" in tty_out and "ETA" in tty_out, tty_out[-2000:]
    assert "imported lines 100000, written 100000, unchanged 0" in tty_out, tty_out[-500:]
    print("\n" + tty_out.replace("\r", "\n")[-1200:])

    r = requests.get(f"{relais.api.url}/v1/cpas", headers=api_headers(), timeout=30)
    mine = [c for c in r.json()["cpas"] if c["cbe"] == cbe]
    assert mine and mine[0]["active_integrations"] == 100_000, mine

    # Without a terminal: plain lines; re-importing changes nothing.
    rc, out, err = ctl(relais, stack, "directory", "import", cbe, str(path), "--chunk", "25000")
    assert rc == 0, err
    assert "progress: " in err and "\r" not in err
    assert "imported lines 100000, written 0, unchanged 100000" in out, out

    # A bad line stops the import at its chunk and is reported with the file's line number.
    bad = tmp_path / "bad.ndjson"
    extra = [make_ssin(rng) for _ in range(30)]
    with bad.open("w") as f:
        for i, s in enumerate(extra):
            if i == 24:
                f.write("\n")  # blank lines are skipped but counted
            q = 77 if i == 25 else 2
            f.write(json.dumps({"ssin": s, "quality_code": q, "start_date": "2021-01-01"}) + "\n")
    rc, out, err = ctl(relais, stack, "directory", "import", cbe, str(bad), "--chunk", "10")
    assert rc == 1, out + err
    assert "line 27: INVALID_QUALITY_CODE" in out and "chunk starting at line 21" in out, out
    assert "lines 20, written 20" in out, out
    # Usage errors.
    assert ctl(relais, stack, "directory", "import", "0123456789", str(path))[0] == 2
    assert ctl(relais, stack, "directory", "import", cbe, str(tmp_path / "x.txt"))[0] == 2


def test_status_and_reactions(relais, stack):
    rc, out, err = ctl(relais, stack, "status")
    assert rc == 0, out + err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["service", "url", "ready"]
    assert {ln.split()[0] for ln in lines[1:]} == {"relais-ingest", "relais-router", "relais-api"}
    assert all(ln.split()[2] == "yes" for ln in lines[1:]), out
    rc, out, err = ctl(relais, stack, "reactions", "--status", "FAILING", "--json")
    assert rc == 0, err
    assert isinstance(json.loads(out), list)
    assert ctl(relais, stack, "reactions", "--status", "LOST")[0] == 2
    assert ctl(relais, stack, "reactions", "retry", "not-a-uuid")[0] == 2
    assert ctl(relais, stack, "reactions", "retry", "--failing")[0] == 0
    for sub in (["--help"], ["dlq", "--help"], ["directory", "import", "--help"], ["journal", "--help"],
                ["reactions", "--help"], ["status", "--help"]):
        assert ctl(relais, stack, *sub)[0] == 0, sub
