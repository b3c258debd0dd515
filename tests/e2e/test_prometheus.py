"""Monitoring end to end: a real Prometheus (Debian's package, its own port and
data directory) scrapes the three services of the session while notifications
flow, with the alert rules of deploy/prometheus loaded; PromQL through its HTTP
API returns the counts this test knows (accepted, rejected, routed to the test's
CPAS, dropped). Also: `promtool check metrics` passes on each /metrics page, and
every metric that the alert rules and the Grafana dashboards query exists in the
services' output."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from e2e_util import fresh_cbes, fresh_ssins, ndjson, wait_for
from relais_harness import (REPO, api_import, api_put_cpas, free_port, new_ticket, notification,
                            post_batch_until_accepted)

sys.path.insert(0, str(REPO / "tests" / "prometheus"))
import promql_refs as refs  # noqa: E402

SERVICES = ("ingest", "api", "router")


def metrics_text(relais, name: str) -> str:
    r = requests.get(relais.services[name].url + "/metrics", timeout=10)
    assert r.status_code == 200
    return r.text


def test_promtool_check_metrics(relais):
    for name in SERVICES:
        text = metrics_text(relais, name)
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert r.returncode == 0, f"relais-{name}: promtool check metrics:\n{r.stdout}{r.stderr}"
        print(f"relais-{name}: promtool check metrics OK ({len(text.splitlines())} lines)")


def test_rules_and_dashboards_use_existing_metrics(relais):
    exposed = set().union(*(refs.exposed_names(metrics_text(relais, n)) for n in SERVICES))
    used = refs.referenced_metrics({**refs.rule_exprs(), **refs.dashboard_exprs()})
    missing = {m: where[:2] for m, where in used.items() if m not in exposed}
    assert not missing, f"metrics queried but exposed by no service: {missing}"
    print(f"{len(used)} metrics used by rules and dashboards, all exposed")


class Prometheus:
    def __init__(self, run_dir: Path, targets: dict[str, str]):
        self.dir = run_dir / "prometheus"
        shutil.rmtree(self.dir, ignore_errors=True)
        (self.dir / "data").mkdir(parents=True)
        jobs = "".join(f"  - job_name: relais-{n}\n    static_configs:\n      - targets: ['{t}']\n"
                       for n, t in targets.items())
        cfg = self.dir / "prometheus.yml"
        cfg.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                       f"rule_files:\n  - {REPO / 'deploy/prometheus/relais-alerts.yml'}\n"
                       f"scrape_configs:\n{jobs}")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(self.dir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"prometheus exited; see {self.dir / 'prometheus.log'}"
        try:
            return requests.get(self.url + "/-/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        r = requests.get(self.url + "/api/v1/query", params=params, timeout=10)
        body = r.json()
        assert r.status_code == 200 and body["status"] == "success", f"{expr}: {r.text[:500]}"
        return body["data"]["result"]

    def scalar(self, expr: str) -> float | None:
        res = self.query(expr)
        return float(res[0]["value"][1]) if res else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def test_prometheus_counts_what_flowed(relais, db, run_dir):
    prom = Prometheus(run_dir, {n: relais.services[n].url.removeprefix("http://") for n in SERVICES})
    try:
        wait_for(prom.ready, 30, what="prometheus ready")
        wait_for(lambda: prom.scalar('count(up{job=~"relais-.*"} == 1)') == 3, 30, what="three targets up")

        rng = random.Random()
        (cbe,) = fresh_cbes(rng, 1)
        persons = fresh_ssins(db, rng, 40)
        integrated, elsewhere = persons[:25], persons[25:]
        api_put_cpas(relais.api.url, cbe, "CPAS e2e prometheus", ["44021"])
        assert api_import(relais.api.url, cbe, [(s, 2, "2020-01-01", None) for s in integrated]).status_code == 200
        wait_for(lambda: prom.scalar(f'sum(relais_directory_integrations{{cpas="{cbe}"}})') == len(integrated), 20,
                 what="the directory size of the test CPAS, through Prometheus")

        t0 = time.time()
        time.sleep(0.1)  # every counter sample at or before t0 predates the traffic below
        lines = [notification("personnel-file", new_ticket(), s, "2024-05-01", rng) for s in integrated + elsewhere]
        rep = post_batch_until_accepted(relais.ingest.url, "personnel-file", ndjson(lines))
        accepted = sum(1 for it in rep["items"] if it["status"] == 202)
        assert accepted == len(lines), rep
        rejected = 0
        for s in integrated[:5]:
            bad = notification("personnel-file", new_ticket(), s, "2024-05-01", rng)
            bad["ssin"] = s[:9] + f"{(int(s[9:]) + 1) % 100:02d}"  # wrong check digits
            r = requests.post(f"{relais.ingest.url}/v1/notifications/personnel-file", json=bad, timeout=30)
            assert 400 <= r.status_code < 500, r.text
            rejected += 1

        def since_t0(metric: str, sel: str = "") -> str:
            return f"sum({metric}{sel}) - (sum({metric}{sel} @ {t0:.3f}) or vector(0))"

        expected = {
            since_t0("relais_ingest_accepted_total"): accepted,
            since_t0("relais_ingest_accepted_total", '{flow="personnel-file"}'): accepted,
            since_t0("relais_ingest_rejected_total"): rejected,
            since_t0("relais_router_records_consumed_total"): accepted,
            f'sum(relais_router_routed_total{{cpas="{cbe}"}})': len(integrated),
            since_t0("relais_router_dropped_total"): len(elsewhere),
        }

        def all_match():
            got = {q: prom.scalar(q) for q in expected}
            return got if all(got[q] == v for q, v in expected.items()) else None
        try:
            got = wait_for(all_match, 30, interval=0.5, what="Prometheus counts")
        except AssertionError:
            got = {q: prom.scalar(q) for q in expected}
            raise AssertionError("PromQL results differ:\n" + "\n".join(
                f"  {q} = {got[q]} (expected {v})" for q, v in expected.items()))
        for q, v in got.items():
            print(f"PromQL {q} = {v:g}")

        # librdkafka statistics reach Prometheus for the ingest producer and the router's clients.
        for client in ("ingest", "router-producer", "router-consumer"):
            wait_for(lambda: prom.scalar(f'max(relais_kafka_broker_up{{client="{client}"}})') == 1, 20,
                     what=f"relais_kafka_broker_up for {client}")
        # Statistics come every statistics.interval.ms (5 s), then the next scrape: poll.
        wait_for(lambda: (prom.scalar('sum(relais_kafka_messages_sent_total{client="ingest"})') or 0) > 0, 20,
                 what="relais_kafka_messages_sent_total for ingest")

        # The alert rules load and evaluate in this Prometheus; the healthy system fires none of
        # the "down" or "stuck" alerts.
        rules = requests.get(prom.url + "/api/v1/rules", timeout=10).json()["data"]["groups"]
        loaded = [r for g in rules for r in g["rules"]]
        assert len(loaded) == len(refs.rule_exprs()) and all(r["health"] in ("ok", "unknown") for r in loaded), loaded
        wait_for(lambda: all(r.get("lastEvaluation", "").startswith("20") for g in
                             requests.get(prom.url + "/api/v1/rules", timeout=10).json()["data"]["groups"]
                             for r in g["rules"]), 10, what="rules evaluated")
        firing = {a["labels"]["alertname"] for a in
                  requests.get(prom.url + "/api/v1/alerts", timeout=10).json()["data"]["alerts"]}
        assert not firing & {"RelaisServiceDown", "RelaisRouterStuck", "RelaisDirectoryStale",
                             "RelaisKafkaBrokerDown"}, firing
    finally:
        prom.stop()
