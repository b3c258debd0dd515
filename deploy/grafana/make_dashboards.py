#!/usr/bin/env python3
"""Writes the Relais Grafana dashboards (JSON, schemaVersion 38) next to this file.

The JSON files are the deliverable (import them in Grafana, or provision them);
this script is their source: edit it, run it, commit both. The unit test
tests/prometheus/check_dashboards.py fails when they differ, and the e2e test
tests/e2e/test_prometheus.py checks that every metric they query exists.

Dashboards: relais-overview (is anything flowing, where is it stuck),
relais-cpas (one CPAS, variable `cpas`), relais-clignotants (alerts open and
overdue, reactions and their delivery upstream)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}


class Board:
    def __init__(self, uid: str, title: str, description: str, variables: list[dict] | None = None):
        self.uid, self.title, self.description = uid, title, description
        self.variables = variables or []
        self.panels: list[dict] = []
        self.x = self.y = self.row_h = 0

    def _place(self, w: int, h: int) -> dict:
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        pos = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append({"id": len(self.panels) + 1, "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def panel(self, kind: str, title: str, targets: list[tuple[str, str]], unit: str = "short", w: int = 8,
              h: int = 8, description: str = "", **options) -> None:
        p = {"id": len(self.panels) + 1, "type": kind, "title": title, "description": description,
             "datasource": DS, "gridPos": self._place(w, h),
             "targets": [{"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend,
                          "range": True, "instant": False}
                         for i, (expr, legend) in enumerate(targets)],
             "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
             "options": options}
        if kind == "stat":
            p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": "value", "graphMode": "area", **options}
        self.panels.append(p)

    def ts(self, title, targets, unit="short", w=8, h=8, description=""):
        self.panel("timeseries", title, targets, unit, w, h, description,
                   legend={"displayMode": "list", "placement": "bottom", "showLegend": True},
                   tooltip={"mode": "multi", "sort": "desc"})

    def stat(self, title, expr, unit="short", w=4, h=4, description=""):
        self.panel("stat", title, [(expr, "")], unit, w, h, description)

    def json(self) -> dict:
        ds_var = {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
                  "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}
        return {"uid": self.uid, "title": self.title, "description": self.description,
                "tags": ["relais"], "timezone": "browser", "editable": True, "graphTooltip": 1,
                "schemaVersion": 38, "version": 1, "refresh": "30s",
                "time": {"from": "now-6h", "to": "now"}, "timepicker": {},
                "annotations": {"list": []},
                "links": [{"title": "Relais dashboards", "type": "dashboards", "tags": ["relais"], "asDropdown": True}],
                "templating": {"list": [ds_var, *self.variables]},
                "panels": self.panels}


def query_var(name: str, label: str, query: str, multi: bool = False) -> dict:
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "definition": query, "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": False, "current": {}, "hide": 0,
            "regex": "", "options": []}


def quantiles(metric: str, by: str = "") -> list[tuple[str, str]]:
    grp = f"le{', ' + by if by else ''}"
    pre = f"{{{{{by}}}}} " if by else ""
    return [(f"histogram_quantile({q}, sum by ({grp}) (rate({metric}_bucket[5m])))", f"{pre}p{int(q * 100)}")
            for q in (0.5, 0.99)]


def overview() -> Board:
    b = Board("relais-overview", "Relais — overview",
              "Is anything flowing, and where is it stuck: ingest → Kafka → router → CPAS topics, the journal, "
              "the reactions outbox. See docs/monitoring.md.")
    b.row("At a glance")
    b.stat("Services up", 'sum(up{job=~"relais-.*"})', description="Relais processes Prometheus can scrape")
    b.stat("Accepted /s", "sum(rate(relais_ingest_accepted_total[5m]))", "reqps")
    b.stat("Routed /s", "sum(rate(relais_router_routed_total[5m]))", "reqps")
    b.stat("Router lag", "sum(relais_router_consumer_lag)", description="Inbound records not yet routed")
    b.stat("Dead letters (1h)", "sum(increase(relais_router_dlq_total[1h]))")
    b.stat("Directory age", "max(relais_directory_refresh_age_seconds)", "s")
    b.row("Ingest")
    b.ts("Requests by status", [("sum by (status) (rate(relais_ingest_requests_total[5m]))", "{{status}}")], "reqps")
    b.ts("Accepted by flow", [("sum by (flow) (rate(relais_ingest_accepted_total[5m]))", "{{flow}}")], "reqps")
    b.ts("Rejected by code", [("sum by (code) (rate(relais_ingest_rejected_total[5m]))", "{{code}}")], "reqps")
    b.ts("Backpressure (429/503) by reason",
         [("sum by (reason) (rate(relais_ingest_backpressure_total[5m]))", "{{reason}}")], "reqps")
    b.ts("In flight (waiting for Kafka)", [("sum by (instance) (relais_ingest_in_flight)", "{{instance}}")])
    b.ts("Kafka acknowledgement latency", quantiles("relais_ingest_ack_duration_seconds"), "s")
    b.row("Router")
    b.ts("Consumed, routed, dropped", [
        ("sum(rate(relais_router_records_consumed_total[5m]))", "consumed"),
        ("sum(rate(relais_router_routed_total[5m]))", "routed (per CPAS)"),
        ("sum by (reason) (rate(relais_router_dropped_total[5m]))", "dropped: {{reason}}"),
        ("sum(rate(relais_router_duplicates_total[5m]))", "duplicates")], "reqps")
    b.ts("Consumer lag by partition", [("sum by (partition) (relais_router_consumer_lag)", "p{{partition}}")])
    b.ts("Dead letters by reason", [("sum by (reason) (increase(relais_router_dlq_total[5m]))", "{{reason}}")])
    b.ts("Transactions by result", [("sum by (result) (rate(relais_router_transactions_total[5m]))", "{{result}}")],
         "ops")
    b.ts("Transaction commit latency", quantiles("relais_router_transaction_duration_seconds"), "s")
    b.ts("End to end (accepted → committed by the router)", quantiles("relais_router_end_to_end_seconds"), "s")
    b.ts("Directory", [("sum(relais_directory_integrations)", "integrations"),
                       ("max(relais_directory_refresh_age_seconds)", "refresh age (s)")])
    b.ts("Journal rows written", [("sum(rate(relais_journal_rows_written_total[5m]))", "rows/s"),
                                  ("sum(rate(relais_journal_write_failures_total[5m]))", "failed batches/s"),
                                  ("sum(rate(relais_journal_records_skipped_total[5m]))",
                                   "records already held, skipped/s")])
    b.ts("Journal batch latency", quantiles("relais_journal_batch_duration_seconds"), "s")
    b.row("Kafka clients (librdkafka statistics)")
    b.ts("Broker connections up", [("relais_kafka_broker_up", "{{job}} {{client}} → {{broker}}")])
    b.ts("Broker round trip p99", [("relais_kafka_broker_rtt_p99_seconds", "{{client}} → {{broker}}")], "s")
    b.ts("Requests waiting", [
        ("sum by (client) (relais_kafka_broker_outbuf_requests)", "{{client}} to send"),
        ("sum by (client) (relais_kafka_broker_waitresp_requests)", "{{client}} awaiting response")])
    b.ts("Client queue", [("relais_kafka_queue_messages", "{{client}}")])
    b.ts("Broker errors", [
        ("sum by (client) (rate(relais_kafka_broker_tx_errors_total[5m]))", "{{client}} tx"),
        ("sum by (client) (rate(relais_kafka_broker_rx_errors_total[5m]))", "{{client}} rx"),
        ("sum by (client) (rate(relais_kafka_broker_request_timeouts_total[5m]))", "{{client}} timeouts")], "ops")
    b.ts("Messages sent", [("sum by (client) (rate(relais_kafka_messages_sent_total[5m]))", "{{client}}")], "reqps")
    b.row("Reactions and PostgreSQL")
    b.ts("Outbox depth", [("sum by (destination) (relais_outbox_depth)", "{{destination}}")])
    b.ts("Oldest pending reaction", [("max by (destination) (relais_outbox_oldest_pending_seconds)",
                                      "{{destination}}")], "s")
    b.ts("Upstream attempts by outcome",
         [("sum by (outcome) (rate(relais_outbox_attempts_total[5m]))", "{{outcome}}")], "ops")
    b.ts("PostgreSQL pool in use", [("relais_pg_pool_connections_in_use", "{{job}} {{instance}}")])
    b.ts("Uptime", [("relais_uptime_seconds", "{{job}} {{instance}}")], "s")
    return b


def cpas() -> Board:
    sel = 'cpas=~"$cpas"'
    b = Board("relais-cpas", "Relais — per CPAS",
              "What one CPAS receives: notifications routed to it, its directory, its clignotants.",
              [query_var("cpas", "CPAS (CBE)", "label_values(relais_router_routed_total, cpas)", multi=True)])
    b.row("$cpas")
    b.stat("Routed (24h)", f"sum(increase(relais_router_routed_total{{{sel}}}[24h]))", w=6)
    b.stat("Integrations in the directory", f"sum(relais_directory_integrations{{{sel}}})", w=6)
    b.stat("Open clignotants", f"sum(relais_alerts_open{{{sel}}})", w=6)
    b.stat("Overdue clignotants", f"sum(relais_alerts_overdue{{{sel}}})", w=6)
    b.ts("Routed by flow", [(f"sum by (flow) (rate(relais_router_routed_total{{{sel}}}[5m]))", "{{flow}}")],
         "reqps", w=12)
    b.ts("Routed by CPAS", [(f"sum by (cpas) (rate(relais_router_routed_total{{{sel}}}[5m]))", "{{cpas}}")],
         "reqps", w=12)
    b.ts("Clignotants raised by type",
         [(f"sum by (type) (increase(relais_router_alerts_raised_total{{{sel}}}[1h]))", "{{type}}")], w=12)
    b.ts("Open and overdue", [(f"sum by (cpas) (relais_alerts_open{{{sel}}})", "open {{cpas}}"),
                              (f"sum by (cpas) (relais_alerts_overdue{{{sel}}})", "overdue {{cpas}}")], w=12)
    b.ts("Directory size", [(f"sum by (cpas) (relais_directory_integrations{{{sel}}})", "{{cpas}}")], w=12)
    b.row("Applications of $cpas (subscriber health, relais-api)")
    app = "{{cpas}} {{application}}"
    b.ts("Lag (records not committed)", [(f"max by (cpas, application) (relais_subscriber_lag_records{{{sel}}})", app)],
         w=12, description="Records of the CPAS's topics each application (consumer group cpas.<cbe>.<app>) "
                           "has not committed yet.")
    b.ts("Oldest unread record age", [(f"max by (cpas, application) "
                                       f"(relais_subscriber_oldest_unread_age_seconds{{{sel}}})", app)], "s", w=12)
    b.ts("Retention left before the oldest unread record is deleted",
         [(f"min by (cpas, application) (relais_subscriber_retention_left_seconds{{{sel}}} < +Inf)", app)], "s",
         w=12, description="Alert RelaisSubscriberRecordsExpiring under 24 h; no line: nothing waits.")
    b.ts("Time since the last commit", [(f"max by (cpas, application) "
                                         f"(relais_subscriber_last_commit_age_seconds{{{sel}}})", app)], "s", w=12,
         description="As observed by relais-api's passes (every 30 s by default).")
    return b


def clignotants() -> Board:
    b = Board("relais-clignotants", "Relais — clignotants follow-up",
              "Alerts raised by the router, those still open or overdue per CPAS, the CPAS' reactions and their "
              "delivery to PCSAAAlertReaction.")
    b.row("Alerts")
    b.stat("Open", "sum(relais_alerts_open)", w=6)
    b.stat("Overdue", "sum(relais_alerts_overdue)", w=6)
    b.stat("Raised (24h)", "sum(increase(relais_router_alerts_raised_total[24h]))", w=6)
    b.stat("Reactions failing", "sum(relais_reactions_failing)", w=6)
    b.ts("Raised by type", [("sum by (type) (rate(relais_router_alerts_raised_total[5m]))", "{{type}}")], "ops")
    b.ts("Overdue, top 10 CPAS", [("topk(10, sum by (cpas) (relais_alerts_overdue))", "{{cpas}}")])
    b.ts("Open, top 10 CPAS", [("topk(10, sum by (cpas) (relais_alerts_open))", "{{cpas}}")])
    b.ts("Stored by relais-api", [
        ("sum by (type) (rate(relais_api_alerts_stored_total[5m]))", "{{type}}"),
        ("sum(rate(relais_api_alert_store_failures_total[5m]))", "failed batches")], "ops")
    b.ts("Reactions received by result", [("sum by (result) (rate(relais_api_reactions_total[5m]))", "{{result}}")],
         "ops")
    b.row("Delivery upstream (PCSAAAlertReaction)")
    b.ts("Attempts by outcome", [("sum by (outcome) (rate(relais_outbox_attempts_total[5m]))", "{{outcome}}")], "ops")
    b.ts("Delivered", [("sum by (destination) (rate(relais_outbox_delivered_total[5m]))", "{{destination}}")], "ops")
    b.ts("Attempt latency", quantiles("relais_outbox_attempt_duration_seconds"), "s")
    b.ts("Outbox depth and age", [("sum by (destination) (relais_outbox_depth)", "depth {{destination}}"),
                                  ("max by (destination) (relais_outbox_oldest_pending_seconds)",
                                   "oldest (s) {{destination}}")])
    b.ts("Circuit breaker (0 closed, 1 open, 2 half-open)", [("max(relais_upstream_breaker_state)", "state")])
    b.ts("Outbox PostgreSQL errors", [("sum(rate(relais_outbox_db_errors_total[5m]))", "errors/s")], "ops")
    return b


BOARDS = {"relais-overview.json": overview, "relais-cpas.json": cpas, "relais-clignotants.json": clignotants}


def render() -> dict[str, str]:
    return {name: json.dumps(make().json(), indent=2, ensure_ascii=False) + "\n" for name, make in BOARDS.items()}


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for name, text in render().items():
        (out / name).write_text(text)
        print(f"wrote {out / name}")
