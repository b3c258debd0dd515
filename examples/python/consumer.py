#!/usr/bin/env python3
"""Relais reference consumer (Python, confluent-kafka): reads a CPAS's notifications with the
connection bundle `relaisctl cpas onboard` wrote. See docs/subscribers.md.

  python3 consumer.py --bundle DIR [--topic T] [--max N] [--idle S] [--seen FILE] [--json]

- the bundle's client.properties as is, without its java-only keys (read_committed, no
  auto-commit, the group id of the application);
- each record is decoded as relais.v1.RoutedNotification (Python classes generated from proto/
  by protoc: --proto-dir, generated into a temporary directory when not importable);
- processed, then its offset committed (synchronously): a crash between the two re-delivers
  the record, never loses it;
- de-duplicated on the `ticket` header (+ the key, the SSIN): Relais publishes a notification
  once, but a consumer re-reads records after a crash before its commit, a rebalance or a
  replay; `--seen FILE` keeps the tickets already processed (your application keeps them in its
  own database, in the same transaction as the processing).

Exit codes: 0 done (--max records, or --idle seconds without a record when no --max is given),
1 Kafka refused or failed (authentication, authorization), 2 usage error, 3 --idle seconds
passed before --max records came.
"""
from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException

HERE = Path(__file__).resolve().parent
PROTO_DIR = HERE.parents[1] / "proto"


def load_bundle(bundle: Path) -> dict:
    """client.properties as librdkafka settings: the keys listed on the '# java-only:' line are
    skipped, relative file paths (ca.pem) are made relative to the bundle."""
    conf, java_only = {}, set()
    for line in (bundle / "client.properties").read_text().splitlines():
        line = line.strip()
        if line.startswith("# java-only:"):
            java_only.update(line.split(":", 1)[1].split())
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        if k.strip() in java_only:
            continue
        conf[k.strip()] = v.strip()
    if "ssl.ca.location" in conf and not Path(conf["ssl.ca.location"]).is_absolute():
        conf["ssl.ca.location"] = str(bundle / conf["ssl.ca.location"])
    return conf


def records_pb2(proto_dir: Path):
    """relais.v1.records_pb2, generated with protoc when it is not importable."""
    try:
        return importlib.import_module("relais.v1.records_pb2")
    except ImportError:
        out = Path(tempfile.mkdtemp(prefix="relais-pb-"))
        protos = sorted(str(p.relative_to(proto_dir)) for p in proto_dir.rglob("*.proto"))
        subprocess.run(["protoc", f"-I{proto_dir}", f"--python_out={out}", *protos], check=True)
        sys.path.insert(0, str(out))
        return importlib.import_module("relais.v1.records_pb2")


def headers_of(msg) -> dict[str, str]:
    return {k: (v.decode("utf-8", "replace") if v is not None else "") for k, v in (msg.headers() or [])}


class Seen:
    """Tickets already processed (a file, one `ticket ssin` per line)."""

    def __init__(self, path: Path | None):
        self.path, self.keys = path, set()
        if path and path.exists():
            self.keys = set(path.read_text().splitlines())

    def add(self, key: str) -> bool:
        if key in self.keys:
            return False
        self.keys.add(key)
        if self.path:
            with self.path.open("a") as f:
                f.write(key + "\n")
        return True


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, required=True, help="the onboarding bundle directory")
    ap.add_argument("--topic", help="default cpas.<cbe>.notifications.v1 (the bundle's CPAS)")
    ap.add_argument("--replay", action="store_true",
                    help="read cpas.<cbe>.replay.v1, where replays asked for after a restore arrive")
    ap.add_argument("--group", help="default the bundle's group.id")
    ap.add_argument("--max", type=int, default=0, help="stop after N records processed (0: no limit)")
    ap.add_argument("--idle", type=float, default=0.0, help="stop after S seconds without a record (0: never)")
    ap.add_argument("--seen", type=Path, help="file of the tickets already processed (de-duplication)")
    ap.add_argument("--json", action="store_true", help="one JSON object per processed record")
    ap.add_argument("--proto-dir", type=Path, default=PROTO_DIR)
    a = ap.parse_args(argv)
    try:
        conf = load_bundle(a.bundle)
    except OSError as e:
        print(f"consumer: cannot read the bundle: {e}", file=sys.stderr)
        return 2
    cbe = conf["group.id"].split(".")[1]
    topic = a.topic or f"cpas.{cbe}.{'replay' if a.replay else 'notifications'}.v1"
    if a.group:
        conf["group.id"] = a.group
    pb = records_pb2(a.proto_dir)
    errors: list[KafkaError] = []
    conf["error_cb"] = errors.append
    c = Consumer(conf)
    c.subscribe([topic])
    seen, done, last = Seen(a.seen), 0, time.monotonic()
    try:
        while not (a.max and done >= a.max) and not (a.idle and time.monotonic() - last > a.idle):
            fatal = [e for e in errors if e.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED)]
            if fatal:
                print(f"consumer: refused: {fatal[0].str()}", file=sys.stderr)
                return 1
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                print(f"consumer: refused: {msg.error().str()}", file=sys.stderr)
                return 1
            last = time.monotonic()
            h = headers_of(msg)
            key = msg.key().decode() if msg.key() else ""
            if seen.add(f"{h.get('ticket', '')} {key}"):
                r = pb.RoutedNotification()
                r.ParseFromString(msg.value())
                process(r, h, msg, a.json)
            c.commit(message=msg, asynchronous=False)  # after processing
            done += 1
    except KafkaException as e:
        print(f"consumer: refused: {e}", file=sys.stderr)
        return 1
    finally:
        c.close()
    if a.max and done < a.max:
        print(f"consumer: {done} record(s) in {a.idle:g} s without a new one, fewer than --max {a.max}", file=sys.stderr)
        return 3
    return 0


def process(r, h: dict, msg, as_json: bool) -> None:
    """What an application does with a record: here, print it."""
    n = r.notification
    out = {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(), "key": msg.key().decode(),
           "ticket": h.get("ticket"), "flow": h.get("flow"), "replay": h.get("replay"),
           "replay_position": h.get("replay-position"), "cpas": r.cpas_cbe,
           "ssin": n.envelope.ssin, "body": n.WhichOneof("body"), "quality_code": r.integration.quality_code}
    print(json.dumps(out) if as_json else
          f"{out['ticket']} {out['flow']} ssin {out['ssin']} (cpas {out['cpas']}, quality {out['quality_code']})",
          flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
