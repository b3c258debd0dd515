"""relais-ingest accepts only the BCSS sender: TLS with a client certificate from the configured
CA (docs/security.md, "Ingest and TLS"), and its HTTP limits ("HTTP limits"). The real binary is
started with TLS on certificates made by openssl at test time (tests/tls/make-certs.sh); every
refusal is checked on the wire, in the journal of the listener (relais_http_* counters and the
"TLS handshake refused" log line) and in relais.inbound.v1, where nothing refused may appear."""

from __future__ import annotations

import json
import random
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from e2e_util import end_offsets, read_topic, read_until, ticket_counts, wait_for
from relais_harness import BUILD, REPO, Relais, Service, free_port, make_ssin, new_ticket, notification, \
    service_kafka_env

INBOUND = "relais.inbound.v1"
RATE = 20  # requests/s per client of the TLS ingest (burst 40)


@dataclass
class TlsIngest(Service):
    """relais-ingest over TLS; the harness's own checks (readiness, metrics) present the BCSS
    sender's certificate."""
    certs: Path = Path()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def tls(self, client: str | None = "client") -> dict:
        kw = {"verify": str(self.certs / "ca.pem")}
        if client:
            kw["cert"] = (str(self.certs / f"{client}.pem"), str(self.certs / f"{client}.key"))
        return kw

    def http_kwargs(self) -> dict:
        return self.tls()

    def journal(self) -> list[dict]:
        """The log lines (JSON) of the listener's refusals."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg") in ("TLS handshake refused", "request refused"):
                out.append(rec)
        return out


@pytest.fixture(scope="module")
def certs(run_dir) -> Path:
    d = run_dir / "tls"
    subprocess.run(["sh", str(REPO / "tests/tls/make-certs.sh"), str(d)], check=True)
    return d


@pytest.fixture(scope="module")
def ingest(stack, run_dir, certs):
    r = Relais(stack=stack, run_dir=run_dir)
    port = free_port()
    env = r._env(port)
    env.update(service_kafka_env("ingest", env))
    env.update({
        "RELAIS_LOG_FORMAT": "json",
        "RELAIS_HTTP_TLS_CERT_FILE": str(certs / "server.pem"),
        "RELAIS_HTTP_TLS_KEY_FILE": str(certs / "server.key"),
        "RELAIS_HTTP_TLS_CLIENT_CA_FILE": str(certs / "ca.pem"),
        "RELAIS_HTTP_TLS_REQUIRE_CLIENT_CERT": "true",
        "RELAIS_HTTP_TLS_ALLOWED_CLIENT_NAMES": "bcss-sender",
        "RELAIS_HTTP_HEADER_TIMEOUT_MS": "1500",
        "RELAIS_HTTP_MAX_HEADER_BYTES": "8192",
        "RELAIS_HTTP_MAX_HEADER_COUNT": "50",
        "RELAIS_HTTP_RATE_LIMIT_PER_CLIENT": str(RATE),
        "RELAIS_HTTP_RATE_LIMIT_BURST": str(2 * RATE),
    })
    svc = TlsIngest("ingest", port, env, run_dir / "ingest-tls.log", certs=certs)
    svc.start()
    try:
        svc.wait_ready()
    except Exception:
        svc.stop()
        print(svc.log_path.read_text(errors="replace")[-5000:])
        raise
    yield svc
    assert svc.stop() == 0


def one(rng: random.Random) -> tuple[str, dict]:
    t = new_ticket()
    return t, notification("notify-person", t, make_ssin(rng), "2026-11-01", rng, event="DEATH")


def post(ingest: TlsIngest, body: dict, client: str | None = "client", **kw) -> requests.Response:
    return requests.post(f"{ingest.url}/v1/notifications/notify-person", json=body, timeout=30,
                         **ingest.tls(client), **kw)


def test_plain_http_off_loopback_refuses_to_start(stack, run_dir):
    r = Relais(stack=stack, run_dir=run_dir)
    env = r._env(0)
    env["RELAIS_HTTP_LISTEN"] = f"0.0.0.0:{free_port()}"
    p = subprocess.run([str(BUILD / "services/relais-ingest")], env=env, cwd=str(REPO), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "not a loopback address" in p.stdout + p.stderr


def test_only_the_bcss_certificate_gets_through(ingest, brokers):
    rng = random.Random()
    start = end_offsets(brokers, INBOUND)
    before = ingest.metrics()
    refused = []
    # No client certificate, one from another CA, one from the right CA with another name, plain
    # HTTP: each is refused before any request is read.
    for client, reason in ((None, "no_client_cert"), ("other-client", "untrusted_client_cert"),
                           ("stranger", "client_name_not_allowed")):
        t, n = one(rng)
        refused.append(t)
        with pytest.raises(requests.exceptions.ConnectionError):  # SSLError is one
            post(ingest, n, client=client)
        key = f'relais_http_tls_handshake_failures_total{{reason="{reason}"}}'
        wait_for(lambda: ingest.metrics().get(key, 0) >= before.get(key, 0) + 1, 10, what=key)
        assert any(j.get("reason") == reason for j in ingest.journal()), ingest.journal()
    t, n = one(rng)
    refused.append(t)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"http://127.0.0.1:{ingest.port}/v1/notifications/notify-person", json=n, timeout=10)

    # The BCSS sender's certificate: 202, and the notification is in relais.inbound.v1.
    good, n = one(rng)
    r = post(ingest, n)
    assert r.status_code == 202, r.text
    recs = read_until(brokers, INBOUND, lambda rs: good in ticket_counts(rs), timeout=60, start=start)
    counts = ticket_counts(recs)
    assert counts.get(good) == 1
    assert not [t for t in refused if t in counts], "a refused notification reached relais.inbound.v1"
    # Its identity is logged with the connection.
    assert any(json.loads(line).get("client") == "CN=bcss-sender,O=BCSS"
               for line in ingest.log_path.read_text().splitlines()
               if line.startswith("{") and "TLS client verified" in line)
    key = 'relais_ingest_accepted_total{flow="notify-person"}'
    assert ingest.metrics().get(key, 0) - before.get(key, 0) == 1  # only the good one was handled


def test_header_limits(ingest, brokers):
    rng = random.Random()
    start = end_offsets(brokers, INBOUND)
    tickets = []
    t, n = one(rng)
    tickets.append(t)
    r = post(ingest, n, headers={"X-Big": "x" * 10000})
    assert r.status_code == 431 and r.json()["code"] == "HEADER_TOO_LARGE", r.text
    t, n = one(rng)
    tickets.append(t)
    r = post(ingest, n, headers={f"X-H{i}": "v" for i in range(60)})
    assert r.status_code == 431 and r.json()["code"] == "HEADER_TOO_LARGE", r.text
    assert r.json()["message"] == "too many header fields"
    t, n = one(rng)
    tickets.append(t)
    n["padding"] = "p" * 70000
    r = post(ingest, n)
    assert r.status_code == 413 and r.json()["code"] == "BODY_TOO_LARGE", r.text
    m = ingest.metrics()
    assert m.get('relais_http_refused_total{reason="header_too_large"}', 0) >= 1
    assert m.get('relais_http_refused_total{reason="too_many_headers"}', 0) >= 1
    assert m.get('relais_http_refused_total{reason="body_too_large"}', 0) >= 1
    assert not [t for t in tickets if t in ticket_counts(read_topic(brokers, INBOUND, start))]


def test_slow_client_is_cut_off(ingest):
    """A client that sends its header a few bytes at a time (slow loris) is disconnected once
    http.header_timeout_ms has passed since it connected, whatever it still sends."""
    before = ingest.metrics().get('relais_http_refused_total{reason="header_timeout"}', 0)
    ctx = ssl.create_default_context(cafile=str(ingest.certs / "ca.pem"))
    ctx.load_cert_chain(str(ingest.certs / "client.pem"), str(ingest.certs / "client.key"))
    request = (b"POST /v1/notifications/notify-person HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\n" + b"X-Slow: " + b"s" * 200 + b"\r\n\r\n")
    t0 = time.monotonic()
    cut = False
    with socket.create_connection(("127.0.0.1", ingest.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.settimeout(0.25)
            for i in range(0, len(request), 4):
                try:
                    s.sendall(request[i:i + 4])
                    if s.recv(1024) == b"":
                        cut = True
                        break
                except socket.timeout:
                    continue
                except (ConnectionError, ssl.SSLError, OSError):
                    cut = True
                    break
    elapsed = time.monotonic() - t0
    assert cut, "the slow client was never disconnected"
    assert 1.0 <= elapsed < 6.0, elapsed
    key = 'relais_http_refused_total{reason="header_timeout"}'
    wait_for(lambda: ingest.metrics().get(key, 0) >= before + 1, 10, what=key)


def test_rate_limit_gives_429_with_retry_after(ingest):
    """Runs last: it spends the client's whole bucket."""
    s = requests.Session()
    kw = ingest.tls()
    limited = None
    for _ in range(10 * RATE):
        r = s.get(ingest.url + "/healthz", timeout=10, **kw)
        if r.status_code == 429:
            limited = r
            break
        assert r.status_code == 200, r.text
    assert limited is not None, "never rate limited"
    assert limited.json()["code"] == "RATE_LIMITED"
    wait = int(limited.headers["Retry-After"])
    assert 1 <= wait <= 2
    time.sleep(wait)  # then the client may go on
    assert s.get(ingest.url + "/healthz", timeout=10, **kw).status_code == 200
    assert ingest.metrics().get('relais_http_refused_total{reason="rate_limited"}', 0) >= 1
