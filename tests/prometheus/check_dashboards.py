#!/usr/bin/env python3
"""Unit check of the Grafana dashboards: valid dashboard JSON (schemaVersion,
uid, unique panel ids, panels on the 24-column grid, every panel with PromQL
targets on the Prometheus datasource variable), the per-CPAS board templated on
`cpas`, the files equal to what deploy/grafana/make_dashboards.py generates,
and every PromQL expression (dashboards and alert rules) accepted by
`promtool check rules`. Metric names are checked against the running services
by tests/e2e/test_prometheus.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import promql_refs as refs  # noqa: E402

errors: list[str] = []


def check(cond: bool, msg: str) -> None:
    if not cond:
        errors.append(msg)


boards = refs.dashboards()
check(set(boards) == {"relais-overview.json", "relais-cpas.json", "relais-clignotants.json"}, f"boards: {set(boards)}")
uids = set()
for name, b in boards.items():
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "time"):
        check(key in b, f"{name}: no {key}")
    check(isinstance(b.get("schemaVersion"), int) and b["schemaVersion"] >= 36, f"{name}: schemaVersion")
    check(b["uid"] not in uids and len(b["uid"]) <= 40, f"{name}: uid {b['uid']}")
    uids.add(b["uid"])
    ids = [p["id"] for p in refs.panels(b)]
    check(len(ids) == len(set(ids)), f"{name}: duplicate panel ids")
    vars_ = {v["name"]: v for v in b["templating"]["list"]}
    check(vars_.get("datasource", {}).get("type") == "datasource", f"{name}: no datasource variable")
    for p in refs.panels(b):
        g = p["gridPos"]
        check(0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, f"{name} panel {p['id']}: gridPos {g}")
        if p["type"] == "row":
            continue
        check(p.get("datasource", {}).get("uid") == "${datasource}", f"{name} panel {p['id']}: datasource")
        check(bool(p.get("targets")), f"{name} panel {p['id']}: no targets")
        for t in p.get("targets", []):
            check(bool(t.get("expr")) and bool(t.get("refId")), f"{name} panel {p['id']}: target {t}")
cp = boards.get("relais-cpas.json")
if cp:
    v = {x["name"]: x for x in cp["templating"]["list"]}.get("cpas")
    check(v is not None and v["type"] == "query", "relais-cpas: no `cpas` query variable")
    exprs = [t["expr"] for p in refs.panels(cp) for t in p.get("targets", [])]
    check(exprs and all("$cpas" in e for e in exprs), "relais-cpas: every query filters on $cpas")

# The committed JSON is what the generator writes.
spec = importlib.util.spec_from_file_location("make_dashboards", refs.GRAFANA / "make_dashboards.py")
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)
for fname, text in gen.render().items():
    check((refs.GRAFANA / fname).read_text() == text, f"{fname} differs from make_dashboards.py output (run it)")

# Every expression parses: promtool checks them as recording rules.
exprs = {**refs.dashboard_exprs(), **refs.rule_exprs()}
with tempfile.TemporaryDirectory() as tmp:
    f = Path(tmp) / "exprs.yml"
    lines = ["groups:", "  - name: exprs", "    rules:"]
    for i, (where, e) in enumerate(sorted(exprs.items())):
        if e.startswith("label_values("):
            continue  # a Grafana variable query, not PromQL
        e = e.replace("$cpas", "x")
        lines += [f"      - record: relais:expr{i}", "        expr: |"] + [f"          {ln}" for ln in e.splitlines()]
    f.write_text("\n".join(lines) + "\n")
    r = subprocess.run(["promtool", "check", "rules", str(f)], capture_output=True, text=True)
    check(r.returncode == 0, f"promtool rejects an expression:\n{r.stdout}{r.stderr}")

refd = refs.referenced_metrics(exprs)
print(f"{len(boards)} dashboards, {len(exprs)} expressions, {len(refd)} relais metrics referenced")
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print("dashboards OK")
