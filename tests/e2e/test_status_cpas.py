"""The operator's view of the CPAS applications (docs/operations.md, "The morning round") on the
real services and broker: two applications of two CPAS onboarded with `relaisctl cpas onboard` and
read by the reference consumer (the `world` of test_subscribers.py); one stops consuming. Within
one subscriber health interval its waiting records and oldest-unread age rise in relais-api's
table (GET /v1/ops/cpas), its metrics and `relaisctl status --cpas`; with a short retention set on
its topic, RelaisSubscriberRecordsExpiring fires in a real Prometheus for that CPAS only. Also:
the page GET /ops/cpas with 565 generated CPAS renders in headless Chromium (script time under one
second, screenshot kept in the run directory) and its charts have data after two refreshes."""

from __future__ import annotations

import http.server
import json
import os
import random
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from e2e_util import wait_for
from relais_harness import BUILD, Relais, api_headers, kafka_conf, notification, post_batch_until_accepted
from test_prometheus import Prometheus
from test_status_page import chromium, CHROMIUM_FLAGS
from test_subscribers import ctl, run_example, world  # noqa: F401  (the module fixture)

INTERVAL_MS = 2000


@pytest.fixture(scope="module")
def health_api(stack, run_dir):
    """A relais-api of its own whose subscriber health pass runs every 2 s."""
    r = Relais(stack=stack, run_dir=run_dir)
    svc = r.add("api", f"health-{uuid.uuid4().hex[:4]}")
    svc.env.update(RELAIS_SUBSCRIBERS_INTERVAL_MS=str(INTERVAL_MS),
                   RELAIS_API_ALERTS_GROUP_ID=f"relais-api-alerts-e2e-health-{uuid.uuid4().hex[:6]}")
    svc.start()
    svc.wait_ready()
    yield svc
    r.stop_all()


def table(url: str) -> dict:
    r = requests.get(f"{url}/v1/ops/cpas", headers=api_headers(), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def app_row(doc: dict, cbe: str, app: str) -> dict | None:
    for c in doc["cpas"]:
        if c["cbe"] == cbe:
            for a in c["applications"]:
                if a["application"] == app:
                    return {**a, "cpas_severity": c["severity"], "name": c["name"], "persons": c["persons"]}
    return None


def gauge(url: str, name: str, cbe: str, app: str) -> float | None:
    text = requests.get(f"{url}/metrics", timeout=10).text
    m = re.search(rf'^{name}\{{cpas="{cbe}",application="{re.escape(app)}"\}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


def send(relais, world, cbe: str, n: int) -> list[str]:
    rng = random.Random()
    tickets = [str(uuid.uuid4()) for _ in range(n)]
    lines = [json.dumps(notification("notify-person", t, world["ssins"][cbe], "2026-11-02", rng, event="NAME_CHANGE"))
             for t in tickets]
    rep = post_batch_until_accepted(relais.ingest.url, "notify-person", lines)
    assert rep["accepted"] == n, rep
    return tickets


def set_retention(stack, topic: str, ms: int) -> None:
    admin = AdminClient({"bootstrap.servers": stack["RELAIS_KAFKA_BROKERS"], **kafka_conf()})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic,
                         incremental_configs=[ConfigEntry("retention.ms", str(ms),
                                                          incremental_operation=AlterConfigOpType.SET)])
    for f in admin.incremental_alter_configs([res]).values():
        f.result(timeout=30)


def test_a_stopped_application_shows_on_the_table_the_metrics_relaisctl_and_prometheus(
        relais, world, health_api, db, stack, run_dir):
    a, b = world["a"], world["b"]
    app_a, app_b = world["apps"][a], world["apps"][b]
    # Both applications read everything there is: nothing waits.
    for cbe in (a, b):
        p = run_example(world["bundles"][cbe], "--idle", "5", "--seen", str(world["out"] / f"h-seen-{cbe}"))
        assert p.returncode == 0, p.stderr
    url = health_api.url

    def caught_up():
        doc = table(url)
        rows = [app_row(doc, a, app_a), app_row(doc, b, app_b)]
        return doc if all(r and r["lag_records"] == 0 for r in rows) else None
    wait_for(caught_up, 30, what="both applications caught up on the table")

    # A stops consuming; B goes on. New records for both.
    tickets = {a: send(relais, world, a, 4), b: send(relais, world, b, 2)}
    every = tickets[a] + tickets[b]
    wait_for(lambda: sum(1 for j in db.journal(every) if j["kind"] == "routed") == len(every), 120, what="routed")
    routed_at = time.time()
    p = run_example(world["bundles"][b], "--idle", "5", "--seen", str(world["out"] / f"h-seen-{b}"))
    assert p.returncode == 0, p.stderr

    seen = {}

    def a_waits():
        doc = table(url)
        ra, rb = app_row(doc, a, app_a), app_row(doc, b, app_b)
        seen.update(a=ra, b=rb)
        # waiting counts offsets: the 4 records and the commit markers of the router's transactions
        # between them (at most one per record)
        ok = ra and rb and 4 <= ra["lag_records"] <= 8 and ra["oldest_unread_age_s"] is not None \
            and rb["lag_records"] == 0
        return (ra, rb, doc) if ok else None
    try:
        ra, rb, doc = wait_for(a_waits, 3 * INTERVAL_MS / 1000 + 10, what="A's records waiting on the table")
    except AssertionError as e:
        raise AssertionError(f"{e}; last rows: {seen}") from None
    assert ra["oldest_unread_age_s"] is not None and ra["oldest_unread_age_s"] >= 0
    assert ra["oldest_unread_age_s"] <= time.time() - routed_at + 120
    assert ra["retention_left_s"] > 6 * 86400  # the stack's topics keep 168 h
    assert ra["has_members"] is False and ra["state"] == "Empty"
    assert rb["oldest_unread_age_s"] is None and rb["retention_left_s"] is None
    assert ra["name"].startswith("CPAS e2e subscribers") and ra["persons"] == 1
    assert "ssin" not in json.dumps(doc).lower()  # CPAS-level figures only
    # The age rises from one pass to the next.
    age0 = ra["oldest_unread_age_s"]
    wait_for(lambda: (app_row(table(url), a, app_a)["oldest_unread_age_s"] or 0) >= age0 + 2, 15,
             what="oldest unread age rising")

    assert gauge(url, "relais_subscriber_lag_records", a, app_a) == ra["lag_records"]
    assert gauge(url, "relais_subscriber_lag_records", b, app_b) == 0
    assert gauge(url, "relais_subscriber_oldest_unread_age_seconds", a, app_a) > 0
    assert gauge(url, "relais_subscriber_retention_left_seconds", b, app_b) == float("inf")

    env = dict(os.environ, RELAIS_API_URL=url)
    out = subprocess.run([str(BUILD / "services" / "relaisctl"), "status", "--cpas"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    line_a = next(l for l in out.stdout.splitlines() if a in l)
    assert f"{app_a}: {ra['lag_records']} / 6d" in line_a and "(no member)" in line_a, line_a
    line_b = next(l for l in out.stdout.splitlines() if b in l)
    assert f"{app_b}: 0" in line_b, line_b
    js = subprocess.run([str(BUILD / "services" / "relaisctl"), "status", "--cpas", "--json"], env=env,
                        capture_output=True, text=True, timeout=60)
    assert app_row(json.loads(js.stdout), a, app_a)["lag_records"] == ra["lag_records"]

    # A short retention on A's topic: its records will be deleted unread within 24 h.
    set_retention(stack, f"cpas.{a}.notifications.v1", 20 * 3600 * 1000)
    wait_for(lambda: (app_row(table(url), a, app_a)["retention_left_s"] or 1e9) < 86400, 30,
             what="retention left under 24 h")
    row = app_row(table(url), a, app_a)
    assert row["severity"] == "critical" and row["cpas_severity"] == "critical"
    doc = table(url)
    assert doc["cpas"][0]["severity"] == "critical"  # worst first
    out = subprocess.run([str(BUILD / "services" / "relaisctl"), "status", "--cpas"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stdout  # a critical CPAS

    prom = Prometheus(run_dir / "subscriber-health", {"api": url.removeprefix("http://")})
    try:
        wait_for(prom.ready, 30, what="prometheus ready")
        q = 'ALERTS{alertname="RelaisSubscriberRecordsExpiring",alertstate="firing"}'
        firing = wait_for(lambda: prom.query(q) or None, 150, interval=2, what="RelaisSubscriberRecordsExpiring firing")
        cpas = {f["metric"]["cpas"] for f in firing}
        assert a in cpas and b not in cpas, firing
        assert {f["metric"]["application"] for f in firing if f["metric"]["cpas"] == a} == {app_a}
        assert not prom.query(f'ALERTS{{cpas="{b}"}}'), "the healthy CPAS raises nothing"
        # the pass's own figures are there too
        assert prom.scalar("relais_subscriber_health_pass_requests") > 0
    finally:
        prom.stop()
        set_retention(stack, f"cpas.{a}.notifications.v1", 168 * 3600 * 1000)


def browse(url: str, screenshot: Path, seconds: float, first: str) -> tuple[str, dict, dict]:
    """Opens `url` in headless Chromium driven over the DevTools protocol (--remote-debugging-pipe:
    fds 3 and 4, NUL-separated JSON), in real time for `seconds`; returns the DOM and the page's
    Performance metrics (ScriptDuration: seconds of script run) when the expression `first` turned
    true and at the end, and writes a screenshot."""
    import base64
    import fcntl
    import tempfile
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    hi_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
    hi_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)

    def child_fds():
        os.dup2(hi_r, 3)
        os.dup2(hi_w, 4)
    with tempfile.TemporaryDirectory(prefix="relais-chromium-") as profile:
        proc = subprocess.Popen([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                                 "about:blank"], close_fds=False, preexec_fn=child_fds,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (to_chrome_r, from_chrome_w, hi_r, hi_w):
            os.close(fd)
        out = os.fdopen(to_chrome_w, "wb", buffering=0)
        inp = os.fdopen(from_chrome_r, "rb", buffering=0)
        buf = b""
        ids = iter(range(1, 1000))

        def call(method: str, params: dict | None = None, session: str | None = None) -> dict:
            nonlocal buf
            i = next(ids)
            msg = {"id": i, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            out.write(json.dumps(msg).encode() + b"\0")
            while True:
                while b"\0" not in buf:
                    chunk = inp.read(1 << 16)
                    assert chunk, f"chromium closed the pipe during {method}"
                    buf += chunk
                raw, _, buf = buf.partition(b"\0")
                m = json.loads(raw)
                if m.get("id") == i:
                    assert "error" not in m, (method, m)
                    return m["result"]
        try:
            target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            call("Performance.enable", {}, session)
            call("Page.enable", {}, session)
            call("Emulation.setDeviceMetricsOverride",
                 {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
            call("Page.navigate", {"url": url}, session)
            t0 = time.monotonic()
            first_metrics = {}
            while time.monotonic() - t0 < seconds:
                if not first_metrics and call("Runtime.evaluate", {"expression": first, "returnByValue": True},
                                              session)["result"].get("value"):
                    first_metrics = {m["name"]: m["value"]
                                     for m in call("Performance.getMetrics", {}, session)["metrics"]}
                time.sleep(0.05)
            metrics = {m["name"]: m["value"] for m in call("Performance.getMetrics", {}, session)["metrics"]}
            dom = call("Runtime.evaluate", {"expression": "document.documentElement.outerHTML",
                                            "returnByValue": True}, session)["result"]["value"]
            png = call("Page.captureScreenshot", {"format": "png"}, session)["data"]
            screenshot.write_bytes(base64.b64decode(png))
            try:
                call("Browser.close")
            except AssertionError:
                pass
        finally:
            out.close()
            inp.close()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return dom, first_metrics, metrics


def generated_table(n: int, apps_per_cpas: int = 3) -> dict:
    rng = random.Random(565)
    cpas = []
    for i in range(n):
        cbe = f"0{2000000 + i:07d}"
        cbe += f"{97 - int(cbe[:8]) % 97:02d}"
        apps = []
        for k in range(apps_per_cpas):
            lag = rng.choice([0, 0, 0, rng.randint(1, 5000)])
            apps.append({"application": f"app-{k}", "severity": "ok", "state": "Stable" if lag < 100 else "Empty",
                         "has_members": lag < 100, "lag_records": lag, "lost_records": 0,
                         "oldest_unread_age_s": rng.randint(1, 600000) if lag else None,
                         "retention_left_s": rng.randint(-100, 604800) if lag else None,
                         "last_commit_age_s": rng.randint(0, 90000), "incomplete": False})
        lefts = [x["retention_left_s"] for x in apps if x["retention_left_s"] is not None]
        sev = "critical" if lefts and min(lefts) < 86400 else "ok"
        cpas.append({"cbe": cbe, "name": f"CPAS {i}", "severity": sev, "persons": rng.randint(0, 40000),
                     "routed_1h": rng.randint(0, 500), "routed_24h": rng.randint(0, 9000),
                     "last_delivery_age_s": rng.randint(1, 7200), "dead_letters_24h": 0,
                     "open_alerts": rng.randint(0, 30), "lag_records": sum(x["lag_records"] for x in apps),
                     "lost_records": 0, "oldest_unread_age_s": None, "retention_left_s": min(lefts) if lefts else None,
                     "applications": apps})
    cpas.sort(key=lambda c: (c["severity"] != "critical", c["retention_left_s"] or 1e12))
    crit = sum(1 for c in cpas if c["severity"] == "critical")
    return {"generated_at_ms": int(time.time() * 1000), "summary": {"cpas": n, "critical": crit, "warning": 0},
            "subscriber_health": {"finished_age_s": 3, "seconds": 0.4, "requests": 12, "fetched": 40, "error": ""},
            "cpas": cpas}


def test_the_page_with_565_cpas_renders_in_chromium_under_a_second(health_api, run_dir):
    """The page as relais-api serves it, its document generated (565 CPAS x 3 applications) and
    served next to it by a local server, so that the browser needs no token."""
    page = requests.get(f"{health_api.url}/ops/cpas", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    doc = json.dumps(generated_table(565)).encode()
    html = page.text.encode()
    served = {"n": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path.startswith("/ops/cpas"):
                body, ctype = html, "text/html; charset=utf-8"
            elif self.path == "/v1/ops/cpas" and self.headers.get("Authorization") == "Bearer t0k":
                served["n"] += 1
                body, ctype = doc, "application/json"
            else:
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    out_dir = run_dir / "cpas-page"
    out_dir.mkdir(exist_ok=True)
    shot = out_dir / "cpas-page-565.png"
    url = f"http://127.0.0.1:{srv.server_address[1]}/ops/cpas?refresh=1#token=t0k"
    try:
        dom, first, metrics = browse(url, shot, seconds=5,
                                     first="+(document.getElementById('refreshes')||{}).textContent >= 1")
    finally:
        srv.shutdown()
    (out_dir / "cpas-page-565.html").write_text(dom)
    assert shot.stat().st_size > 10000
    assert served["n"] >= 2, served
    refreshes = int(re.search(r'id="refreshes">(\d+)<', dom).group(1))
    assert refreshes >= 2, refreshes
    render_ms = float(re.search(r'data-render-ms="([0-9.]+)"', dom).group(1))
    assert first, "the page never rendered its table"
    script_s = first["ScriptDuration"]
    print(f"565 CPAS: script time until the first table {script_s:.3f} s (one render {render_ms} ms); "
          f"{metrics['ScriptDuration']:.3f} s over {refreshes} refreshes; screenshot {shot}")
    assert script_s < 1.0, first
    assert 0 < render_ms < 1000, render_ms
    rows = re.search(r'<tbody id="rows">(.*?)</tbody>', dom, re.S).group(1)
    assert rows.count("<tr>") == 565
    assert rows.index("CRITICAL") < rows.index(">OK<")  # worst first
    points = [int(x) for x in re.findall(r'id="chart-(?:lag|sev|routed)"[^>]*data-points="(\d+)"', dom)]
    assert len(points) == 3 and all(p >= 2 for p in points), points
    assert "<path" in dom
