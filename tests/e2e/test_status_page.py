"""The status page (GET /) of each service, rendered by headless Chromium while
notifications flow: the page's script has refreshed it from /status.json, it
shows every dependency check OK and live figures (accepted at ingest, routed at
the router, requests at the api). Screenshots go to the run's log directory."""

from __future__ import annotations

import html
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

from e2e_util import fresh_cbes, fresh_ssins, ndjson, wait_for, wait_router_live
from relais_harness import api_import, api_put_cpas, new_ticket, notification, post_batch_until_accepted

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1200,900"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if p := shutil.which(name):
            return p
    raise AssertionError("Debian's chromium is not installed (scripts/install-deps.sh installs it)")


def render(url: str, out_dir: Path, *, screenshot: Path | None = None) -> str:
    """Runs the page for 5 s of virtual time (its script refreshes it) and returns the DOM."""
    with tempfile.TemporaryDirectory(prefix="relais-chromium-") as profile:
        args = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
        if screenshot:
            args.append(f"--screenshot={screenshot}")
        else:
            args.append("--dump-dom")
        r = subprocess.run([*args, url], capture_output=True, text=True, timeout=90, cwd=out_dir)
        assert r.returncode == 0, f"chromium failed ({r.returncode}): {r.stderr[-2000:]}"
        return r.stdout


def figures(dom: str) -> dict[str, tuple[float, float | None]]:
    """figure label → (rate or value, total) from the rendered figures table."""
    body = re.search(r'<tbody id="figures">(.*?)</tbody>', dom, re.S)
    assert body, dom[:2000]
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        out[cells[0]] = (float(cells[1]), float(cells[2]) if cells[2] else None)
    return out


def checks(dom: str) -> dict[str, str]:
    body = re.search(r'<tbody id="checks">(.*?)</tbody>', dom, re.S)
    assert body, dom[:2000]
    return {html.unescape(a): b for a, b in re.findall(r"<tr><td>(.*?)</td><td[^>]*>(.*?)</td>", body.group(1))}


def test_status_pages_render_live_figures(relais, db, run_dir):
    rng = random.Random()
    wait_router_live(relais, db)
    (cbe,) = fresh_cbes(rng, 1)
    ssins = fresh_ssins(db, rng, 200)
    api_put_cpas(relais.api.url, cbe, "CPAS e2e status page", ["21004"])
    assert api_import(relais.api.url, cbe, [(s, 2, "2019-01-01", None) for s in ssins]).status_code == 200

    # Traffic flows during the whole test: a batch of 50 integrated notifications every 0.2 s.
    stop = threading.Event()
    sent = {"batches": 0}

    def traffic():
        while not stop.is_set():
            lines = ndjson([notification("notify-person", new_ticket(), rng.choice(ssins), "2024-06-01", rng)
                            for _ in range(50)])
            post_batch_until_accepted(relais.ingest.url, "notify-person", lines)
            sent["batches"] += 1
            stop.wait(0.2)

    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    shots = Path(os.environ.get("RELAIS_E2E_SCREENSHOT_DIR", run_dir)) / "status-pages"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        wait_for(lambda: sent["batches"] >= 3, 60, what="traffic")
        wait_for(lambda: relais.router.metrics().get("relais_router_routed_total{flow=\"notify-person\",cpas=\"" + cbe + "\"}", 0) > 0,
                 60, what="routed notifications")
        expect = {"ingest": ("accepted/s", "kafka"), "router": ("routed/s", "kafka"), "api": ("HTTP requests/s", "postgresql")}
        for name, (figure, dep) in expect.items():
            svc = getattr(relais, name)
            url = svc.url + "/"
            # the raw page: self-contained (no external asset), HTML
            raw = requests.get(url, timeout=10)
            assert raw.status_code == 200 and raw.headers["Content-Type"].startswith("text/html")
            assert not re.search(r'(src|href)="(https?:)?//', raw.text), "external asset on the status page"
            dom = render(url, shots)
            refreshes = re.search(r'id="refreshes">(\d+)<', dom)
            assert refreshes and int(refreshes.group(1)) >= 1, "the page's script did not refresh it"
            assert re.search(r'<span id="ready" class="ok">READY</span>', dom), dom[:3000]
            assert re.search(r'<span id="service">' + name + "</span>", dom)
            c = checks(dom)
            assert c.get(dep) == "OK", c
            assert all(v == "OK" for v in c.values()), c
            f = figures(dom)
            rate, total = f[figure]
            assert total and total > 0, f
            assert rate > 0, f
            shot = shots / f"status-{name}.png"
            render(url, shots, screenshot=shot)
            assert shot.exists() and shot.stat().st_size > 10_000, shot
            print(f"\nstatus page of {name}: {figure} rate={rate} total={total}; screenshot {shot}")
    finally:
        stop.set()
        t.join(timeout=60)
