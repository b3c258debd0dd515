"""relais-api while PostgreSQL is gone (found by the fault suite, tests/faults): a CPAS
application gets 503 with Retry-After, never 500, and the same call works once the database is
back. relais-api reaches PostgreSQL through a TCP relay (tests/faults/tcpproxy.py) that this
test takes down: every connection closed, new ones refused, as when the database stops."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

import e2e_util  # noqa: E402
from e2e_util import fresh_cbes, fresh_ssins, wait_for  # noqa: E402
from relais_harness import Relais, api_headers, api_put_cpas, ensure_operator_token  # noqa: E402
from tcpproxy import TcpProxy  # noqa: E402


@pytest.fixture(scope="module")
def proxied_api(stack, run_dir):
    host_port = dict(kv.split("=", 1) for kv in stack["RELAIS_PG_DSN"].split())
    proxy = TcpProxy(("127.0.0.1", int(host_port["port"]))).start()
    dsn = f"host=127.0.0.1 port={proxy.port} dbname={host_port['dbname']} user={host_port['user']} connect_timeout=3"
    if "passfile" in host_port:  # the stack's password (SCRAM authentication)
        dsn += f" passfile={host_port['passfile']}"
    r = Relais(stack=dict(stack, RELAIS_PG_DSN=dsn), run_dir=run_dir / "db-outage")
    r.add("api").start()
    try:
        r.api.wait_ready()
    except Exception:
        r.stop_all()
        e2e_util.dump_logs(run_dir / "db-outage")
        raise
    yield r, proxy
    r.stop_all()
    proxy.stop()


def test_database_down_gives_503_with_retry_after(proxied_api, stack, db):
    relais, proxy = proxied_api
    ensure_operator_token(stack["RELAIS_PG_DSN"])
    rng = random.Random()
    cbe = fresh_cbes(rng, 1)[0]
    api_put_cpas(relais.api.url, cbe, "CPAS e2e db outage", ["21004"])
    url = f"{relais.api.url}/v1/cpas/{cbe}/integrations"
    body = {"ssin": fresh_ssins(db, rng, 1)[0], "quality_code": 2, "start_date": "2024-01-01"}
    assert requests.get(url, headers=api_headers(), timeout=10).status_code == 200   # credential cached

    proxy.down()
    try:
        seen = []
        for attempt in range(6):     # within and after the credential cache's lifetime (5 s)
            for call in (lambda: requests.get(url, headers=api_headers(), timeout=20),
                         lambda: requests.put(url, json=body, headers=api_headers(), timeout=20)):
                r = call()
                seen.append(r.status_code)
                assert r.status_code == 503, f"database down: expected 503, got {r.status_code} {r.text}"
                assert int(r.headers["Retry-After"]) >= 1, r.headers
                assert r.json()["code"] in ("DATABASE_UNAVAILABLE", "AUTH_UNAVAILABLE"), r.text
            time.sleep(1.5)
        print(f"answers while the database was down: {seen}")
    finally:
        proxy.up()
    # back: the same call succeeds (the pool reconnects) and nothing was written meanwhile
    r = wait_for(lambda: (lambda x: x if x.status_code == 200 else None)(
        requests.get(url, headers=api_headers(), timeout=10)), 60, what="relais-api answering again")
    assert r.json()["integrations"] == []
    r = requests.put(url, json=body, headers=api_headers(), timeout=10)
    assert r.status_code == 201, r.text
