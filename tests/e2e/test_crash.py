"""kill -9 in the middle of a stream of batches: of relais-router (restarted:
every accepted ticket reaches exactly the expected CPAS, exactly once, for a
read_committed consumer, and the journal holds one decision per ticket), and
of relais-ingest (the client re-posts on connection errors and 503 as a real
sender does: every ticket answered 202 in a 200 report arrives exactly once)."""

from __future__ import annotations

import signal
import time

from e2e_util import Poster, check_exactly_once, make_batches, make_world, wait_for


def test_router_sigkill_mid_stream(relais, db, brokers):
    rng, cbes, ssins, where = make_world(relais, db, 3000, "router crash")
    batches, expected = make_batches(rng, ssins, where, 24, 250)
    poster = Poster(lambda: relais.ingest.url, batches, pace_s=0.25)
    consumed = lambda: relais.router.metrics().get("relais_router_records_consumed_total", 0)  # noqa: E731
    base = consumed()
    poster.start()
    # Kill while the router is busy with this stream (some of it routed, more coming).
    wait_for(lambda: poster.done_batches >= 6 and consumed() > base + 500, 60, interval=0.05,
             what="router busy with the stream")
    relais.router.kill(signal.SIGKILL)
    killed_at = poster.done_batches
    time.sleep(0.5)   # not an assertion: lets more batches pile up while no router runs
    relais.router.restart()
    poster.join(240)
    assert not poster.is_alive() and poster.error is None, poster.error
    assert killed_at < len(batches), "the router was not killed in the middle of the stream"
    rc = relais.router.proc.poll()
    assert rc is None, f"restarted router exited with {rc}"
    print(f"router killed after {killed_at}/24 batches")
    check_exactly_once(brokers, db, cbes, expected, poster.acked, check_journal_dupes=True)


def test_ingest_sigkill_mid_stream(relais, db, brokers):
    rng, cbes, ssins, where = make_world(relais, db, 3000, "ingest crash")
    batches, expected = make_batches(rng, ssins, where, 30, 200)
    poster = Poster(lambda: relais.ingest.url, batches)
    accepted = lambda: sum(v for k, v in relais.ingest.metrics().items()  # noqa: E731
                           if k.startswith("relais_ingest_accepted_total"))
    poster.start()
    kills = 0
    for target in (5, 15):
        wait_for(lambda: poster.done_batches >= target or poster.error or not poster.is_alive(), 120,
                 interval=0.01, what=f"{target} batches posted")
        # Kill while a batch is being received or delivered, not in between.
        before = accepted()
        wait_for(lambda: accepted() > before or not poster.is_alive(), 10, interval=0.005, what="a batch in flight")
        relais.ingest.kill(signal.SIGKILL)
        kills += 1
        relais.ingest.restart()
    poster.join(240)
    assert not poster.is_alive() and poster.error is None, poster.error
    print(f"ingest killed {kills} times")
    check_exactly_once(brokers, db, cbes, expected, poster.acked, check_journal_dupes=False)
