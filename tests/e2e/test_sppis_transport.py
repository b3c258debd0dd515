"""Reactions travelling to SPP IS (issue 16, item 3; docs/clignotants.md "Transport"): the real
relais-api sends them over HTTPS with its client certificate to the fake SPP IS
(tests/harness/fake_sppis.py), which runs TLS with a certificate from the test CA, requires and
checks the client certificate, is slow, fails a share of its calls, answers a key it already
has with 409 "already received" and counts what it received per idempotency key.

- The fake really checks the certificate: no certificate or another CA's is refused at the
  handshake, a certificate of the right CA with another name gets 403, nothing is recorded.
- relais-api refuses to start on an unusable client certificate, naming the file.
- SPP IS unreachable for a window, then back by itself; relais-api (the outbox sender) killed
  with SIGKILL during the outage and restarted: every reaction ends SENT and the fake received
  every reaction's key exactly once. The window is RELAIS_SPPIS_OUTAGE_S seconds: 20 in
  `make test`, 600 (the issue's 10 minutes, same code path) in `make test-faults`.

Certificates are made by openssl at test time (tests/tls/make-certs.sh) under the test stack
directory, never committed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import e2e_util
from e2e_util import wait_for
from relais_harness import BUILD, REPO, Relais
from test_reactions import FAST_RETRIES, StandIn, make_alerts, react

OUTAGE_S = float(os.environ.get("RELAIS_SPPIS_OUTAGE_S", "20"))
N = int(os.environ.get("RELAIS_SPPIS_REACTIONS", "200"))


@pytest.fixture(scope="module")
def certs(run_dir) -> Path:
    return e2e_util.make_test_certs(run_dir, "sppis-certs")


class FakeSppIs(StandIn):
    """fake_sppis.py: the stand-in's control API (plain HTTP), the reaction port over mutual TLS."""

    def __init__(self, certs: Path, log_path: Path):
        super().__init__(log_path, "fake_sppis.py",
                         ("--cert", str(certs / "server.pem"), "--key", str(certs / "server.key"),
                          "--client-ca", str(certs / "ca.pem"), "--allowed-clients", "relais-api"))

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/pcsaa/alert-reactions"

    def get(self, what: str) -> dict:
        return requests.get(f"http://127.0.0.1:{self.control_port}/_{what}", timeout=30).json()


@pytest.fixture(scope="module")
def sppis(certs, run_dir):
    f = FakeSppIs(certs, run_dir / "fake-sppis.log")
    yield f
    f.stop()


def api_env(sppis: FakeSppIs, certs: Path, client: str = "relais-api") -> dict[str, str]:
    return {
        "RELAIS_UPSTREAM_URL": sppis.url,
        "RELAIS_UPSTREAM_TLS_CA_FILE": str(certs / "ca.pem"),
        "RELAIS_UPSTREAM_TLS_CERT_FILE": str(certs / f"{client}.pem"),
        "RELAIS_UPSTREAM_TLS_KEY_FILE": str(certs / f"{client}.key"),
        **FAST_RETRIES,
    }


@pytest.fixture(scope="module")
def relais_s(stack, run_dir, sppis, certs):
    env = {"RELAIS_LOG_LEVEL": os.environ.get("RELAIS_E2E_LOG_LEVEL", "info")}
    env.update(api_env(sppis, certs))
    with e2e_util.running_relais(stack, run_dir, env) as r:
        yield r


def post_to_fake(sppis: FakeSppIs, certs: Path, client: str | None, key: str) -> requests.Response:
    kw = {"verify": str(certs / "ca.pem"), "timeout": 10}
    if client:
        kw["cert"] = (str(certs / f"{client}.pem"), str(certs / f"{client}.key"))
    return requests.post(sppis.url, json={"reaction_id": key}, headers={"Idempotency-Key": key}, **kw)


def test_the_fake_requires_the_right_client_certificate(sppis, certs):
    sppis.control(mode="ok", fail_rate=0.0, delay_ms=0)
    before = sppis.get("stats")
    key = str(uuid.uuid4())
    for client in (None, "relais-api-other"):  # no certificate; the right name from another CA
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            post_to_fake(sppis, certs, client, key)
    r = post_to_fake(sppis, certs, "stranger", key)  # the test CA, another name
    assert r.status_code == 403 and r.json()["code"] == "CLIENT_NOT_ALLOWED", r.text
    assert key not in sppis.get("counts")["counts"], "nothing refused is recorded"
    after = sppis.get("stats")
    assert after.get("handshake_failures", 0) - before.get("handshake_failures", 0) == 2, after
    assert after.get("refused_client", 0) - before.get("refused_client", 0) == 1, after
    # relais-api's certificate: received once, then "already received" (409) for the same key.
    r = post_to_fake(sppis, certs, "relais-api", key)
    assert r.status_code == 201, r.text
    r = post_to_fake(sppis, certs, "relais-api", key)
    assert r.status_code == 409 and r.json()["code"] == "ALREADY_RECEIVED", r.text
    assert sppis.get("counts")["counts"][key] == 2
    # Plain HTTP on the TLS port gets nowhere either.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"http://127.0.0.1:{sppis.port}/pcsaa/alert-reactions", json={},
                      headers={"Idempotency-Key": key}, timeout=5)


def test_relais_api_refuses_an_unusable_client_certificate(stack, run_dir, sppis, certs):
    r = Relais(stack=stack, run_dir=run_dir)
    env = r._env(0)
    env.update(api_env(sppis, certs))
    env["RELAIS_UPSTREAM_TLS_KEY_FILE"] = str(certs / "client.key")  # another certificate's key
    p = subprocess.run([str(BUILD / "services/relais-api")], env=env, cwd=str(REPO), capture_output=True,
                       text=True, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "upstream.tls" in out and "client.key" in out, out


def test_outage_window_and_sigkill_every_reaction_received_exactly_once(relais_s, db, sppis):
    cbe, ids = make_alerts(relais_s, db, N, "sppis")
    # Slow and failing a share of its calls, as the real one may.
    sppis.control(mode="ok", fail_rate=0.2, status=503, delay_ms=150)
    t0 = time.monotonic()
    reaction_ids: dict[str, str] = {}
    lock = threading.Lock()
    posted = [0]
    events: dict[str, float] = {}

    def one(alert_id: str):
        rid = react(lambda: relais_s.api.url, cbe, alert_id, "NO_IMPACT")
        with lock:
            reaction_ids[alert_id] = rid
            posted[0] += 1
        # Pace: a quarter of the reactions before the outage, the rest spread over it.
        time.sleep(OUTAGE_S * 4 / N if "down_at" in events else 0.05)

    def chaos():
        wait_for(lambda: posted[0] >= N // 4, 300, interval=0.05, what="first reactions posted")
        sppis.control(down_for_s=OUTAGE_S)  # unreachable (connection refused), back by itself
        events["down_at"] = time.monotonic() - t0
        time.sleep(OUTAGE_S / 2)
        relais_s.api.kill(signal.SIGKILL)
        events["killed_at"] = time.monotonic() - t0
        relais_s.api.restart()
        events["restarted_at"] = time.monotonic() - t0

    ch = threading.Thread(target=chaos)
    ch.start()
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(one, ids))
    ch.join(OUTAGE_S + 300)
    assert not ch.is_alive()
    assert len(reaction_ids) == N
    outage_end = events["down_at"] + OUTAGE_S

    def all_sent():
        rows = db.query(f"SELECT count(*) FILTER (WHERE delivery_status = 'SENT'), count(*) FROM reactions "
                        f"WHERE cpas_cbe = '{cbe}'")
        return int(rows[0][0]) if int(rows[0][0]) == N else None
    try:
        wait_for(all_sent, OUTAGE_S + 240, interval=1.0, what="all reactions SENT")
    finally:
        print(f"\nevents: {events}; stats {sppis.get('stats')}")
    drained_s = time.monotonic() - t0 - outage_end
    assert db.query(f"SELECT count(*) FROM alerts WHERE cpas_cbe = '{cbe}' AND status = 'SENT'") == [[str(N)]]

    counts = sppis.get("counts")["counts"]
    want = set(reaction_ids.values())
    missing = want - set(counts)
    assert not missing, f"{len(missing)} reactions never reached SPP IS, e.g. {sorted(missing)[:3]}"
    twice = {k: counts[k] for k in want if counts[k] != 1}
    assert not twice, f"{len(twice)} reactions received more than once: {list(twice.items())[:3]}"

    outcomes = dict((a, int(b)) for a, b in db.query(
        "SELECT outcome, count(*) FROM reaction_attempts WHERE reaction_id IN "
        f"(SELECT id FROM reactions WHERE cpas_cbe = '{cbe}') AND destination = 'upstream' GROUP BY outcome"))
    assert outcomes.get("sent", 0) == N, outcomes
    assert outcomes.get("connect_error", 0) > 0 and outcomes.get("http_5xx", 0) > 0, outcomes
    instances = int(db.query("SELECT count(DISTINCT instance) FROM reaction_attempts WHERE reaction_id IN "
                             f"(SELECT id FROM reactions WHERE cpas_cbe = '{cbe}')")[0][0])
    assert instances >= 2, "the killed relais-api and its successor both delivered"
    print(f"{N} reactions, SPP IS down {OUTAGE_S:.0f}s with a SIGKILL of relais-api: all SENT "
          f"{drained_s:.1f}s after SPP IS came back; attempts by outcome {outcomes}; "
          f"each key received once by the fake")
