"""The PromQL expressions of deploy/prometheus/relais-alerts.yml and the
deploy/grafana dashboards, and the Relais metric names they reference.
Shared by check_dashboards.py (unit) and tests/e2e/test_prometheus.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy/prometheus/relais-alerts.yml"
GRAFANA = REPO / "deploy/grafana"
# Every Relais metric is relais_*; `up` is Prometheus's own.
METRIC_RE = re.compile(r"\b(relais_[a-zA-Z0-9_]+)\b")


def rule_exprs() -> dict[str, str]:
    import yaml
    doc = yaml.safe_load(RULES.read_text())
    return {f"rule {r['alert']}": r["expr"] for g in doc["groups"] for r in g["rules"]}


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(GRAFANA.glob("*.json"))}


def panels(board: dict):
    for p in board["panels"]:
        yield p
        yield from p.get("panels", [])


def dashboard_exprs() -> dict[str, str]:
    out = {}
    for name, board in dashboards().items():
        for p in panels(board):
            for t in p.get("targets", []):
                out[f"{name} panel {p['id']} {p['title']!r} {t['refId']}"] = t["expr"]
        for v in board["templating"]["list"]:
            if v.get("type") == "query":
                out[f"{name} variable {v['name']}"] = v["definition"]
    return out


def referenced_metrics(exprs: dict[str, str]) -> dict[str, list[str]]:
    """metric name (histogram series mapped to the family name) -> where it is used."""
    out: dict[str, list[str]] = {}
    for where, expr in exprs.items():
        for m in METRIC_RE.findall(expr):
            out.setdefault(m, []).append(where)
    return out


def exposed_names(metrics_text: str) -> set[str]:
    """Names a /metrics page exposes, from its TYPE lines (families without samples included)."""
    names = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind.strip() == "histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names
