"""relais-router started again right after it stopped (SIGTERM) or was killed (SIGKILL) is back
at work at once: routing and its journal. Issue 21: a second `make run` shortly after the first
waited about five minutes for a stale consumer-group member: the journal sink's consumer was a
dynamic member with librdkafka's defaults (45 s session, 300 s rebalance timeout), so a member
that did not leave (killed, or stopped while its JoinGroup was in flight) held the next one's
join. Now it is a static member, like the engine's consumer: the restarted replica replaces it."""

from __future__ import annotations

import json
import random
import signal
import time

import requests

from e2e_util import fresh_cbes, fresh_ssins, wait_for
from relais_harness import api_import, api_put_cpas, new_ticket, notification

BOUND_S = 20.0  # before the fix, about 45 s after a kill (the stale member's session), or up to 300 s


def test_router_restart_does_not_wait_for_a_stale_member(relais, db):
    rng = random.Random()
    (cbe,) = fresh_cbes(rng, 1)
    (ssin,) = fresh_ssins(db, rng, 1)
    api_put_cpas(relais.api.url, cbe, "CPAS e2e router restart", ["21004"])
    assert api_import(relais.api.url, cbe, [(ssin, 2, "2020-01-01", None)]).status_code == 200
    wait_for(lambda: relais.router.metrics().get(f'relais_directory_integrations{{cpas="{cbe}"}}') == 1, 10,
             what="router directory")

    def routed_and_journaled(t0: float) -> float:
        t = new_ticket()
        r = requests.post(f"{relais.ingest.url}/v1/notifications/personnel-file",
                          data=json.dumps(notification("personnel-file", t, ssin, "2024-01-01", rng)),
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 202, r.text
        wait_for(lambda: db.query(f"SELECT 1 FROM journal WHERE ticket = '{t}' AND kind = 'routed'"),
                 BOUND_S, interval=0.2, what=f"the routed journal row of {t} within {BOUND_S} s of the restart")
        return time.time() - t0

    routed_and_journaled(time.time())
    for how in ("SIGKILL", "SIGTERM", "SIGKILL", "SIGTERM"):
        if how == "SIGKILL":
            relais.router.kill(signal.SIGKILL)
        else:
            assert relais.router.stop() == 0
        t0 = time.time()
        relais.router.restart()
        print(f"after {how}: routed and journaled {routed_and_journaled(t0):.1f} s after the restart")
