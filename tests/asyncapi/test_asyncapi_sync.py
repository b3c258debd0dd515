"""docs/asyncapi/relais.yaml and proto/ agree (scripts/asyncapi.py --check), and the check fails,
naming the field, when a proto field is added without regenerating the document."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
GEN = REPO / "scripts" / "asyncapi.py"


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GEN), "--check", *args], capture_output=True, text=True, timeout=120)


def test_document_matches_proto():
    r = check()
    assert r.returncode == 0, r.stderr


def test_every_proto_field_is_in_the_document():
    doc = yaml.safe_load((REPO / "docs/asyncapi/relais.yaml").read_text())
    schemas = doc["components"]["schemas"]
    for proto in (REPO / "proto").rglob("*.proto"):
        # top-level messages and their scalar fields, read from the .proto text itself
        for m in re.finditer(r"^message (\w+) \{(.*?)^\}", proto.read_text(), re.S | re.M):
            props = schemas[f"relais.v1.{m.group(1)}"]["properties"]
            for f in re.finditer(r"^  (?:repeated |optional )?[\w.]+ (\w+) = (\d+);", m.group(2), re.M):
                assert f.group(1) in props, f"{m.group(1)}.{f.group(1)}"
                assert props[f.group(1)]["x-protobuf-field-number"] == int(f.group(2))


def test_a_field_added_to_a_proto_fails_the_check(tmp_path):
    proto = tmp_path / "proto"
    shutil.copytree(REPO / "proto", proto)
    records = proto / "relais/v1/records.proto"
    text = records.read_text()
    marker = "  int64 routed_at_us = 4;"
    assert marker in text
    records.write_text(text.replace(marker, marker + "\n  string routing_note = 99;"))
    r = check("--proto", str(proto))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "relais.v1.RoutedNotification.routing_note" in r.stderr, r.stderr
