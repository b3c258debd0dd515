#!/usr/bin/env python3
"""Generates docs/asyncapi/relais.yaml, the AsyncAPI 3 contract of the topics Relais writes for
the CPAS (cpas.<cbe>.notifications.v1, cpas.<cbe>.alerts.v1) and its dead-letter topic
(relais.dlq.v1): the channels, keys and headers below, and the payload schemas GENERATED from
proto/ (protoc --descriptor_set_out, then one JSON Schema per message and enum, with the proto
comments as descriptions and each field's number as x-protobuf-field-number).

  scripts/asyncapi.py            writes docs/asyncapi/relais.yaml
  scripts/asyncapi.py --check    regenerates it in memory and fails (exit 1, naming the proto
                                 fields and messages missing or stale) when the file differs
  --proto DIR                    read the .proto files from DIR instead of proto/ (tests)

Needs protoc and the Python packages protobuf and PyYAML (var/venv).
"""
from __future__ import annotations

import difflib
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from google.protobuf import descriptor_pb2

REPO = Path(__file__).resolve().parents[1]
PROTO = REPO / "proto"
OUT = REPO / "docs" / "asyncapi" / "relais.yaml"
FD = descriptor_pb2.FieldDescriptorProto

SCALARS = {
    FD.TYPE_DOUBLE: {"type": "number"}, FD.TYPE_FLOAT: {"type": "number"},
    FD.TYPE_INT64: {"type": "integer", "format": "int64"}, FD.TYPE_UINT64: {"type": "integer", "format": "int64"},
    FD.TYPE_SINT64: {"type": "integer", "format": "int64"}, FD.TYPE_FIXED64: {"type": "integer", "format": "int64"},
    FD.TYPE_SFIXED64: {"type": "integer", "format": "int64"},
    FD.TYPE_INT32: {"type": "integer", "format": "int32"}, FD.TYPE_UINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SINT32: {"type": "integer", "format": "int32"}, FD.TYPE_FIXED32: {"type": "integer", "format": "int32"},
    FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FD.TYPE_BOOL: {"type": "boolean"}, FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}


def descriptors(proto: Path) -> descriptor_pb2.FileDescriptorSet:
    protos = sorted(str(p.relative_to(proto)) for p in proto.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "relais.pb"
        subprocess.run(["protoc", f"-I{proto}", "--include_source_info", f"--descriptor_set_out={out}", *protos],
                       check=True, cwd=proto)
        fds = descriptor_pb2.FileDescriptorSet()
        fds.ParseFromString(out.read_bytes())
    return fds


def comments(f: descriptor_pb2.FileDescriptorProto) -> dict[tuple, str]:
    out = {}
    for loc in f.source_code_info.location:
        text = " ".join(x.strip() for x in (loc.leading_comments + " " + loc.trailing_comments).split("\n") if x.strip())
        if text:
            out[tuple(loc.path)] = text
    return out


def schemas(fds: descriptor_pb2.FileDescriptorSet) -> dict:
    out: dict = {}

    def ref(type_name: str) -> dict:
        return {"$ref": f"#/components/schemas/{type_name.lstrip('.')}"}

    def enum(e, full: str, doc: dict, path: tuple) -> None:
        s = {"type": "string", "enum": [v.name for v in e.value], "x-protobuf-enum": full,
             "x-protobuf-values": {v.name: v.number for v in e.value}}
        if path in doc:
            s["description"] = doc[path]
        out[full] = s

    def message(m, full: str, doc: dict, path: tuple, maps: dict) -> None:
        for i, e in enumerate(m.enum_type):
            enum(e, f"{full}.{e.name}", doc, path + (4, i))
        for i, n in enumerate(m.nested_type):
            if n.options.map_entry:
                maps[f".{full}.{n.name}"] = n
                continue
            message(n, f"{full}.{n.name}", doc, path + (3, i), maps)
        props = {}
        for i, f in enumerate(m.field):
            if f.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP) and f.type_name in maps:
                entry = maps[f.type_name]
                v = entry.field[1]
                vs = ref(v.type_name) if v.type_name else dict(SCALARS[v.type])
                s = {"type": "object", "additionalProperties": vs}
            else:
                s = ref(f.type_name) if f.type_name else dict(SCALARS[f.type])
                if f.label == FD.LABEL_REPEATED:
                    s = {"type": "array", "items": s}
            if "$ref" in s:  # siblings of $ref are ignored by JSON Schema draft-07: wrap
                s = {"allOf": [s]}
            s["x-protobuf-field-number"] = f.number
            if f.HasField("oneof_index") and not f.proto3_optional:
                s["x-protobuf-oneof"] = m.oneof_decl[f.oneof_index].name
            if path + (2, i) in doc:
                s["description"] = doc[path + (2, i)]
            props[f.name] = s
        s = {"type": "object", "x-protobuf-message": full, "properties": props}
        if path in doc:
            s["description"] = doc[path]
        out[full] = s

    for f in fds.file:
        doc, maps = comments(f), {}
        for i, e in enumerate(f.enum_type):
            enum(e, f"{f.package}.{e.name}", doc, (5, i))
        for i, m in enumerate(f.message_type):
            message(m, f"{f.package}.{m.name}", doc, (4, i), maps)
    return dict(sorted(out.items()))


def header(desc: str, **kw) -> dict:
    return {"type": "string", "description": desc, **kw}


def kafka_message(name: str, title: str, key_binding: dict, headers: dict, required: list[str]) -> dict:
    """A message whose value is the protobuf message relais.v1.<name>."""
    return {"name": name, "title": title, "contentType": "application/x-protobuf",
            "headers": {"type": "object", "required": required, "properties": headers},
            "payload": {"$ref": f"#/components/schemas/relais.v1.{name}"},
            "bindings": {"kafka": key_binding}}


def document(fds: descriptor_pb2.FileDescriptorSet) -> dict:
    cbe = {"description": "the CPAS's CBE number (10 digits, check digits valid), e.g. 0212344876",
           "examples": ["0212344876"]}
    ssin_key = {"key": {"type": "string", "pattern": "^[0-9]{11}$", "description": "the SSIN (partitioning key)"},
                "bindingVersion": "0.5.0"}
    ticket = header("the BCSS ticket (UUID), unique per notification: the consumer's idempotency key "
                    "(with the key)", format="uuid")
    proto_ct = header("always application/x-protobuf; the value's type is fixed by the channel",
                      enum=["application/x-protobuf"])
    replay = header("present only on records re-published for a CPAS from the notification archive "
                    "(replays, on cpas.<cbe>.replay.v1); its value is the replay's id", format="uuid")
    replay_position = header("with replay: the record's place in the archive, "
                             "<routed_at_us>:<partition>:<offset> on cpas.<cbe>.notifications.v1")
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Relais events",
            "version": "1.0.0",
            "description": (
                "The Kafka topics Relais writes for the CPAS and its operators. Generated by "
                "scripts/asyncapi.py (payload schemas from proto/; do not edit by hand). "
                "Payloads are protobuf (proto3) messages; the schemas here describe their fields "
                "(proto field names, x-protobuf-field-number) for readers without the .proto files.\n\n"
                "Delivery: the router writes in Kafka transactions; consumers read with "
                "isolation.level=read_committed and see each routed notification once per CPAS; a "
                "consumer may still re-read records (after a crash before its commit, a rebalance, a "
                "replay) and de-duplicates on the ticket header. Ordering: records of one SSIN (the key) "
                "are in one partition, in routing order; no order across keys. Retention: the "
                "cluster's (7 days by default); older records come from a replay (POST /v1/cpas/{cbe}/replays, "
                "relaisctl replay) out of the notification archive, to cpas.<cbe>.replay.v1.\n\n"
                "Compatibility: fields are only added (never renumbered, retyped or removed: buf "
                "breaking in make test); topic names carry a major version (.v1). "
                "Access: docs/subscribers.md (relaisctl cpas onboard)."),
        },
        "defaultContentType": "application/x-protobuf",
        "servers": {
            "relais": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "the data centre's brokers (SASL_SSL; SASL_PLAINTEXT on the local stack)",
                "variables": {"bootstrap": {"default": "127.0.0.1:59092",
                                            "description": "bootstrap.servers of the onboarding bundle"}},
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
            }
        },
        "channels": {
            "cpasNotifications": {
                "address": "cpas.{cbe}.notifications.v1",
                "title": "A CPAS's notifications",
                "description": "Each BCSS notification about a person the CPAS integrated over a period "
                               "covering the event, as routed (value relais.v1.RoutedNotification).",
                "parameters": {"cbe": cbe},
                "messages": {"routedNotification": {"$ref": "#/components/messages/RoutedNotification"}},
            },
            "cpasReplays": {
                "address": "cpas.{cbe}.replay.v1",
                "title": "A CPAS's replays",
                "description": "The CPAS's notifications re-published on its request (after restoring a "
                               "backup): each record exactly as it was routed, plus the replay and "
                               "replay-position headers. One partition: a replay is in routing order. "
                               "Retention 7 days (docs/subscribers.md section 6).",
                "parameters": {"cbe": cbe},
                "messages": {"replayedNotification": {"$ref": "#/components/messages/ReplayedNotification"}},
            },
            "cpasAlerts": {
                "address": "cpas.{cbe}.alerts.v1",
                "title": "A CPAS's alerts (clignotants)",
                "description": "An alert raised by a notification for the CPAS (docs/clignotants.md).",
                "parameters": {"cbe": cbe},
                "messages": {"alert": {"$ref": "#/components/messages/Alert"}},
            },
            "deadLetters": {
                "address": "relais.dlq.v1",
                "title": "Dead letters (operators only)",
                "description": "Inbound records the router could not decode or validate; read by "
                               "relaisctl dlq (docs/relaisctl.md). No CPAS principal may read it.",
                "messages": {"deadLetter": {"$ref": "#/components/messages/DeadLetter"}},
            },
        },
        "operations": {
            "receiveNotifications": {
                "action": "receive", "channel": {"$ref": "#/channels/cpasNotifications"},
                "summary": "a CPAS application reads its notifications (group cpas.<cbe>.<app>)",
                "messages": [{"$ref": "#/channels/cpasNotifications/messages/routedNotification"}],
            },
            "receiveReplays": {
                "action": "receive", "channel": {"$ref": "#/channels/cpasReplays"},
                "summary": "a CPAS application reads the replays it asked for",
                "messages": [{"$ref": "#/channels/cpasReplays/messages/replayedNotification"}],
            },
            "receiveAlerts": {
                "action": "receive", "channel": {"$ref": "#/channels/cpasAlerts"},
                "summary": "a CPAS application reads its alerts",
                "messages": [{"$ref": "#/channels/cpasAlerts/messages/alert"}],
            },
            "receiveDeadLetters": {
                "action": "receive", "channel": {"$ref": "#/channels/deadLetters"},
                "summary": "the operator inspects and replays dead letters",
                "messages": [{"$ref": "#/channels/deadLetters/messages/deadLetter"}],
            },
        },
        "components": {
            "securitySchemes": {"scram": {"type": "scramSha512",
                                          "description": "the principal of the onboarding bundle"}},
            "messages": {
                "RoutedNotification": kafka_message("RoutedNotification", "a routed notification", ssin_key, {
                    "flow": header("the flow id", enum=["notify-person", "notify-family-composition",
                                                       "pension-register-mutation", "personnel-file",
                                                       "self-employed-career", "ecarmed-calculation"]),
                    "ticket": ticket,
                    "content-type": proto_ct,
                    "raw": header("only for a notification received as SOAP: the bytes its sender sent"),
                    "source-content-type": header("with raw: the media type of those bytes"),
                    "replay": replay,
                    "replay-position": replay_position,
                }, ["flow", "ticket", "content-type"]),
                "ReplayedNotification": {
                    **kafka_message("RoutedNotification", "a replayed notification", ssin_key, {
                        "flow": header("as on the notifications topic"),
                        "ticket": ticket,
                        "content-type": proto_ct,
                        "raw": header("as on the notifications topic"),
                        "source-content-type": header("as on the notifications topic"),
                        "replay": replay,
                        "replay-position": replay_position,
                    }, ["flow", "ticket", "content-type", "replay", "replay-position"]),
                    "name": "ReplayedNotification"},
                "Alert": kafka_message("Alert", "an alert", ssin_key, {
                    "ticket": ticket,
                    "alert-id": header("the alert's id, stable for the same notification and rule", format="uuid"),
                    "alert-type": header("the rule's type (e.g. EMPLOYMENT_STARTED), or SPP IS's clignotant type"),
                    "alert-kind": header("EARLY_SIGNAL (raised by Relais) or SPPIS_CLIGNOTANT (issued by SPP IS); "
                                         "absent from records of older routers (= EARLY_SIGNAL)",
                                         enum=["EARLY_SIGNAL", "SPPIS_CLIGNOTANT"]),
                    "content-type": proto_ct,
                }, ["ticket", "alert-id", "alert-type", "content-type"]),
                "DeadLetter": kafka_message("DeadLetter", "a dead letter", {
                    "key": {"type": "string", "description": "the source record's key"}, "bindingVersion": "0.5.0"}, {
                    "reason": header("why the router refused the record (e.g. INVALID: INVALID_SSIN_CHECKSUM ssin)"),
                    "content-type": proto_ct,
                }, ["reason", "content-type"]),
            },
            "schemas": schemas(fds),
        },
    }


class Dumper(yaml.SafeDumper):
    """No anchors/aliases; strings a YAML 1.2 reader would take for numbers are quoted."""

    def ignore_aliases(self, data):
        return True


Dumper.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style="'" if v.isdigit() else None))


def render(proto: Path = PROTO) -> str:
    head = ("# Relais events: AsyncAPI 3. GENERATED by scripts/asyncapi.py from proto/ and the channel\n"
            "# description in that script; regenerate with `scripts/asyncapi.py`, never edit by hand\n"
            "# (make test fails when this file and proto/ disagree).\n")
    return head + yaml.dump(document(descriptors(proto)), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)


def proto_fields(doc: dict) -> set[str]:
    return {f"{name}.{field}" for name, s in doc["components"]["schemas"].items() for field in s.get("properties", {})}


def main(argv: list[str]) -> int:
    args, proto = argv[1:], PROTO
    if "--proto" in args:
        i = args.index("--proto")
        if i + 1 >= len(args):
            print(__doc__, file=sys.stderr)
            return 2
        proto = Path(args[i + 1]).resolve()
        args = args[:i] + args[i + 2:]
    text = render(proto)
    if args == ["--check"]:
        current = OUT.read_text() if OUT.exists() else ""
        if current == text:
            print(f"asyncapi: {OUT.relative_to(REPO)} matches proto/")
            return 0
        want, have = yaml.safe_load(text), (yaml.safe_load(current) or {"components": {"schemas": {}}})
        missing = sorted(proto_fields(want) - proto_fields(have))
        stale = sorted(proto_fields(have) - proto_fields(want))
        print(f"asyncapi: {OUT.relative_to(REPO)} is out of date with proto/ (run scripts/asyncapi.py)", file=sys.stderr)
        if missing:
            print("  proto fields missing from the document: " + ", ".join(missing), file=sys.stderr)
        if stale:
            print("  fields in the document but not in proto/: " + ", ".join(stale), file=sys.stderr)
        sys.stderr.writelines(list(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                        "docs/asyncapi/relais.yaml", "generated"))[:60])
        return 1
    if args:
        print(__doc__, file=sys.stderr)
        return 2
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"asyncapi: wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
