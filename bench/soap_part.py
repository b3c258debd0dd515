"""SOAP ingest against JSON ingest as a part of `make bench` (run.py --only soap; issue 15: SOAP
ingest >= 0.5x JSON ingest throughput, measured in the same run).

One relais-ingest (SOAP enabled: the public BCSS Common XSD from var/bcss and Relais's own
notification XSD) takes the same notify-person NAME_CHANGE notifications, one per request, first
as JSON (POST /v1/notifications/notify-person), then as SOAP 1.1 (POST /v1/soap), from the same
client (`concurrency` keep-alive connections), after a warm-up of 500 of each. Every answer is checked (202; ResultSummary
ok="YES"). Reported per form: requests/s, and relais-ingest's CPU time per notification (the
client shares the machine's cores, so the CPU figure is the ratio that does not depend on it)."""
from __future__ import annotations

import http.client
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse


def _cpu_s(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / 100.0  # utime + stime, in clock ticks of 1/100 s


def _json_body(ticket: str, ssin: str) -> bytes:
    return ('{"ticket":"%s","ssin":"%s","effective_date":"2026-11-01","sent_at":"2026-11-02T10:00:00Z",'
            '"event":"NAME_CHANGE","last_name":"Janssens","first_names":"Marie Louise"}' % (ticket, ssin)).encode()


def _soap_body(ticket: str, ssin: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
            '<s:Body><NotifyPerson xmlns="urn:be:relais:bcss:notifications:v1"><Context><Ticket>%s</Ticket>'
            '<SentAt>2026-11-02T10:00:00Z</SentAt></Context><Person><SSIN>%s</SSIN></Person>'
            '<EffectiveDate>2026-11-01</EffectiveDate><Event>NAME_CHANGE</Event><LastName>Janssens</LastName>'
            '<FirstNames>Marie Louise</FirstNames></NotifyPerson></s:Body></s:Envelope>' % (ticket, ssin)).encode()


def _post_all(url: str, path: str, ctype: str, bodies: list[bytes], ok, concurrency: int) -> dict:
    u = urlparse(url)
    lock = threading.Lock()
    state = {"next": 0, "errors": 0, "retries": 0, "first_error": None}

    def worker():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= len(bodies):
                break
            for _attempt in range(100):
                try:
                    conn.request("POST", path, body=bodies[i], headers={"Content-Type": ctype})
                    r = conn.getresponse()
                    data = r.read()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
                    continue
                if r.status in (429, 503):
                    with lock:
                        state["retries"] += 1
                    time.sleep(0.05)
                    continue
                if not ok(r.status, data):
                    with lock:
                        state["errors"] += 1
                        state["first_error"] = state["first_error"] or f"{r.status} {data[:300]!r}"
                break
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"seconds": time.time() - t0, **state}


def run(ingest_url: str, ingest_pid: int, ssins: list[str], n: int, concurrency: int) -> dict:
    out: dict = {"notifications": n, "concurrency": concurrency}
    forms = {
        "json": ("/v1/notifications/notify-person", "application/json", _json_body,
                 lambda status, data: status == 202),
        "soap": ("/v1/soap", "text/xml; charset=utf-8", _soap_body,
                 lambda status, data: status == 200 and b'ok="YES"' in data),
    }
    for name, (path, ctype, make, ok) in forms.items():  # warm-up: connections, producer, metadata
        _post_all(ingest_url, path, ctype, [make(str(uuid.uuid4()), ssins[i % len(ssins)]) for i in range(500)], ok,
                  concurrency)
    for name, (path, ctype, make, ok) in forms.items():
        bodies = [make(str(uuid.uuid4()), ssins[i % len(ssins)]) for i in range(n)]
        cpu0 = _cpu_s(ingest_pid)
        st = _post_all(ingest_url, path, ctype, bodies, ok, concurrency)
        cpu = _cpu_s(ingest_pid) - cpu0
        if st["errors"]:
            raise RuntimeError(f"{name}: {st['errors']} refused, first: {st['first_error']}")
        out[name] = {"per_s": round(n / st["seconds"], 1), "seconds": round(st["seconds"], 2),
                     "ingest_cpu_us_per_notification": round(1e6 * cpu / n, 1), "retries": st["retries"],
                     "body_bytes": len(bodies[0])}
    out["throughput_ratio"] = round(out["soap"]["per_s"] / out["json"]["per_s"], 3)
    out["ingest_cpu_ratio"] = round(out["json"]["ingest_cpu_us_per_notification"] /
                                    max(out["soap"]["ingest_cpu_us_per_notification"], 0.1), 3)
    return out


def summary_rows(r: dict) -> list[tuple[str, str, str]]:
    s = r.get("soap_vs_json")
    rows = []
    if s:
        ok = "met" if s["throughput_ratio"] >= 0.5 else "MISSED"
        rows.append(("JSON ingest, one per request (notif/s)", f"{s['json']['per_s']:,.0f}",
                     f"ingest CPU {s['json']['ingest_cpu_us_per_notification']:.0f} us/notif"))
        rows.append(("SOAP ingest, one per request (notif/s)", f"{s['soap']['per_s']:,.0f}",
                     f"ingest CPU {s['soap']['ingest_cpu_us_per_notification']:.0f} us/notif"))
        rows.append(("  SOAP / JSON throughput", f"{s['throughput_ratio']:.2f}x", f"target >= 0.5x: {ok}"))
        rows.append(("  SOAP / JSON ingest CPU efficiency", f"{s['ingest_cpu_ratio']:.2f}x", ""))
    m = r.get("micro", {}).get("soap_decode_validate_map")
    if m:
        ok = "met" if m["p50_us"] <= 20 else "MISSED"
        rows.append(("SOAP decode+validate+map p50 (us)", f"{m['p50_us']:.1f}", f"target <= 20: {ok}"))
        rows.append(("  p99 (us)", f"{m['p99_us']:.1f}", ""))
    return rows
