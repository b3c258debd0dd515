#!/usr/bin/env python3
"""Relais fault suite (docs/reliability.md): a steady load of notifications, reactions and
directory changes against the real services, while a scheduler injects faults at random
moments; then an independent checker (checker.py) verifies the guarantees of
../shared/docs/architecture-brief.md.

    var/venv/bin/python tests/faults/run_faults.py [--seed N] [--faults 200] [--short]
                                                   [--report FILE] [--keep-stack]
                                                   [--cluster | --rolling] [--kinds a,b]

`make test-faults` runs the full suite (at least 200 faults); the short variant (--short: each
fault type once) is a CTest test inside `make test`. It starts its own stack under
var/faults-stack (ports FAULTS_PG_PORT 58432, FAULTS_KAFKA_PORT 58992, FAULTS_KAFKA_CONTROLLER_PORT
58993, the broker on FAULTS_KAFKA_HOST 127.0.0.11), its own services (relais-api, relais-ingest, two relais-router replicas, the
PCSAAAlertReaction stand-in) and a TCP relay in front of PostgreSQL (tcpproxy.py).

--cluster (`make test-faults-cluster`): the same load, services and checker on a three-node Kafka
cluster (RELAIS_KAFKA_NODES=3: replication factor 3, min.insync.replicas 2) of its own stack
(var/faults-cluster-stack, FAULTS_CLUSTER_PG_PORT 59850, FAULTS_CLUSTER_KAFKA_PORT 59860 and
FAULTS_CLUSTER_KAFKA_CONTROLLER_PORT 59861 for node 1, +10 and +20 for nodes 2 and 3), with the
cluster's faults only: kill -9 (leader_kill) or SIGSTOP (leader_stop) of the node leading
relais.inbound.v1 partition 0, the load going on, then the node back; kill -9 or SIGSTOP of the
active controller (controller_kill, controller_stop); a router killed during a rebalance
(router_rebalance) or stopped past its session (stop_router); PostgreSQL crashed (pg_crash: an
immediate stop), SIGKILLed (pg_kill) or SIGSTOPped (pg_stop); the leader's data filesystem filled until its writes fail (disk_full: each
node's data on a loop-mounted filesystem of its own, root only; FAULTS_DISK_FULL=0 leaves it out);
PostgreSQL's clock stepped minutes ahead or behind, then back (pg_clock_skew: libfaketime).
Each fault reports the
failover (from the fault until a new notification is delivered, the node still down) and the time
until every partition of the Relais topics has all its replicas in sync again; at the end every
Relais topic, the services' cpas.* ones included, must meet the replication policy
(deploy/kafka/topics.sh check).

--rolling (`make test-faults-rolling`): the production shape of the services (two relais-ingest,
two relais-router and two relais-api instances, ingest and api behind HAProxy: loadbalancer.py)
under the same steady load, and rolling restarts only: each instance of one service after the
other, SIGTERM, clean exit, start, ready, then the next (roll_ingest, roll_router, roll_api). A
latency sampler posts one notification a second through the balancer and times it from the 2xx
to a read_committed consumer of its CPAS topic: the report compares its percentiles outside and
during the restarts (the latency bump), and its tickets are checked like the load's.

The seed is printed first: `--seed N` replays the same schedule (fault order, gaps, targets;
the timing of a real system still varies)."""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "harness"))
sys.path.insert(0, str(HERE))

import relais_harness as H  # noqa: E402
from checker import Change, Db, RunLog, Ticket, check  # noqa: E402
from tcpproxy import TcpProxy  # noqa: E402
from loadbalancer import LoadBalancer  # noqa: E402

STACK = {
    "RELAIS_STACK_DIR": os.environ.get("FAULTS_STACK_DIR", str(REPO / "var" / "faults-stack")),
    "RELAIS_PG_PORT": os.environ.get("FAULTS_PG_PORT", "58432"),
    "RELAIS_KAFKA_PORT": os.environ.get("FAULTS_KAFKA_PORT", "58992"),
    "RELAIS_KAFKA_CONTROLLER_PORT": os.environ.get("FAULTS_KAFKA_CONTROLLER_PORT", "58993"),
    # The broker on a loopback address of its own (clients connect from 127.0.0.1): a client
    # retrying the stopped broker's port, which is in Linux's ephemeral range, can otherwise take
    # 127.0.0.1:58992 as its own local end (a TCP self-connection) and the broker's restart fails
    # to bind, three times in a row in one run (deploy/local/stack.sh, wait_port_unused).
    "RELAIS_KAFKA_HOSTS": os.environ.get("FAULTS_KAFKA_HOST", "127.0.0.11"),
}
# --cluster: a stack of its own (ports in 59800-59899), three Kafka nodes
CLUSTER_STACK = {
    "RELAIS_STACK_DIR": os.environ.get("FAULTS_CLUSTER_STACK_DIR", str(REPO / "var" / "faults-cluster-stack")),
    "RELAIS_PG_PORT": os.environ.get("FAULTS_CLUSTER_PG_PORT", "59850"),
    "RELAIS_KAFKA_PORT": os.environ.get("FAULTS_CLUSTER_KAFKA_PORT", "59860"),
    "RELAIS_KAFKA_CONTROLLER_PORT": os.environ.get("FAULTS_CLUSTER_KAFKA_CONTROLLER_PORT", "59861"),
    "RELAIS_KAFKA_NODES": "3",
}
# The disk-full fault needs each node's data on a filesystem of its own (a loop-mounted image,
# deploy/local/stack.sh RELAIS_KAFKA_DISK_MB): root only. 16 GiB, sparse: a 100-fault run writes
# a few GiB per node.
DISK_FULL_OK = os.geteuid() == 0 and os.environ.get("FAULTS_DISK_FULL", "1") != "0"
if DISK_FULL_OK:
    CLUSTER_STACK["RELAIS_KAFKA_DISK_MB"] = os.environ.get("FAULTS_CLUSTER_DISK_MB", "16384")
# The clock-skew fault steps PostgreSQL's wall clock (libfaketime, deploy/local/stack.sh
# RELAIS_PG_FAKETIME): the database host's clock off from the services' and the brokers'.
CLOCK_SKEW_OK = bool(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
if CLOCK_SKEW_OK:
    CLUSTER_STACK["RELAIS_PG_FAKETIME"] = "1"
BROKER_SESSION_S = 9.0       # Kafka's broker.session.timeout.ms: a stopped node is fenced after it
RECOVERY_BOUND_S = 180.0     # after a fault heals, the pipeline answers a probe within this
DRAIN_BOUND_S = 300.0        # after the faults stop, everything is delivered within this
SESSION_TIMEOUT_S = 10.0     # relais-router's consumer session.timeout.ms
CLIGNOTANT_PERIOD = ("2024-05-01", "2024-05-31")   # SPP IS clignotants of the run: their period
CLIGNOTANT_TYPE = "WORK_INCOME"
RACE_DAY = "2024-05-01"      # notifications of race persons: after the unregistration's end date


def log(msg: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def stack_cmd(*args: str, reset: bool = False) -> None:
    env = dict(os.environ, **STACK)
    if reset:
        env["RELAIS_STACK_RESET"] = "1"
    subprocess.run([str(REPO / "deploy/local/stack.sh"), *args], env=env, check=True,
                   stdout=subprocess.DEVNULL if not reset else None)


# ====================================================================== the run
class Run:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.rng = random.Random(self.seed)
        self.stop_load = threading.Event()
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.faults: list[dict] = []
        self.http: Counter = Counter()           # ingest answers by status
        self.api_http: Counter = Counter()
        self.down_on_purpose: set[str] = set()   # services the scheduler has stopped
        self.pg_sensitive = threading.Lock()     # PostgreSQL faults and directory races do not overlap
        self.lane_a, self.lane_b = ((self.CLUSTER_LANE, []) if args.cluster else (self.ROLLING_LANE, [])
                                    if args.rolling else (self.LANE_A, self.LANE_B))
        if args.kinds:   # --kinds: only these fault types, in their lanes
            self.lane_a = [k for k in self.lane_a if k in args.kinds]
            self.lane_b = [k for k in self.lane_b if k in args.kinds]
        self.lb: LoadBalancer | None = None      # --rolling: HAProxy in front of ingest and api
        self.latency: list[tuple[float, float]] = []   # --rolling: (accepted at, seconds to visible)
        self.fault_extra: dict = {}              # figures of the fault being injected (cluster faults)
        self.run_dir = Path(args.run_dir or (REPO / "var" / "faults" / time.strftime("%Y%m%d-%H%M%S")))
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def fail(self, msg: str) -> None:
        log("FAILURE: " + msg)
        with self.lock:
            self.failures.append(msg)

    # ------------------------------------------------------------------ set-up
    def setup(self) -> None:
        # The run uses a copy of the binaries: a rebuild during a long run cannot swap them
        # under the scheduler's restarts.
        bin_dir = self.run_dir / "bin" / "services"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in ("relais-api", "relais-ingest", "relais-router", "relaisctl"):
            shutil.copy2(H.BUILD / "services" / name, bin_dir / name)
        H.BUILD = bin_dir.parent
        log(f"binaries copied to {bin_dir}")
        log(f"stack in {STACK['RELAIS_STACK_DIR']}")
        if not self.args.reuse_stack:
            stack_cmd("up", reset=True)
        os.environ.update(STACK)
        self.stack = H.stack_env(STACK["RELAIS_STACK_DIR"])
        os.environ.update({k: v for k, v in self.stack.items() if k.startswith("RELAIS_KAFKA_S")})
        self.kconf = {**H.kafka_conf(env=self.stack), "bootstrap.servers": self.stack["RELAIS_KAFKA_BROKERS"]}
        self.db = Db(self.stack["RELAIS_PG_DSN"])
        pg_port = int(self.stack["RELAIS_PG_PORT"])
        self.proxy = TcpProxy(("127.0.0.1", pg_port)).start()
        # the stack's DSN (its passfile: password authentication) with the relay's port
        proxied = dict(self.stack, RELAIS_PG_DSN=self.stack["RELAIS_PG_DSN"].replace(f"port={pg_port}",
                                                                                     f"port={self.proxy.port}")
                       + " connect_timeout=5")
        # the upstream stand-in
        self.standin_log = open(self.run_dir / "standin.log", "ab")
        self.standin = subprocess.Popen([sys.executable, str(REPO / "tests/harness/upstream_standin.py"),
                                         "--port", "0", "--control-port", "0"],
                                        stdout=subprocess.PIPE, stderr=self.standin_log, start_new_session=True)
        first = self.standin.stdout.readline().decode().split()
        assert first[:1] == ["PORT"], f"stand-in did not start: {first}"
        self.up_port, self.up_control = int(first[1]), int(first[3])
        H.ensure_operator_token(self.stack["RELAIS_PG_DSN"])
        self.relais = H.Relais(stack=proxied, run_dir=self.run_dir, extra_env={
            "RELAIS_LOG_LEVEL": "info",
            "RELAIS_UPSTREAM_URL": f"http://127.0.0.1:{self.up_port}/pcsaa/alert-reactions",
            "RELAIS_UPSTREAM_TIMEOUT_MS": "2000",
            "RELAIS_UPSTREAM_BASE_BACKOFF_MS": "200",
            "RELAIS_UPSTREAM_MAX_BACKOFF_MS": "3000",
            "RELAIS_UPSTREAM_BREAKER_OPEN_MS": "2000",
            "RELAIS_UPSTREAM_CONCURRENCY": "4",
        })
        self.relais.start_all()
        self.relais.add("router", instance="1").start()
        self.relais.services["router-1"].wait_ready()
        if self.args.rolling:
            for name in ("ingest", "api"):
                self.relais.add(name, instance="1").start()
            for key in ("ingest-1", "api-1"):
                self.relais.services[key].wait_ready()
            self.lb = LoadBalancer(self.run_dir, {
                name: [self.relais.services[name].port, self.relais.services[f"{name}-1"].port]
                for name in ("ingest", "api")}, {"ingest": H.free_port(), "api": H.free_port()}).start()
            log(f"haproxy: ingest {self.lb.url('ingest')}, api {self.lb.url('api')}")
        self.api = self.api_url()
        self.build_world()

    def ingest_url(self) -> str:
        """Where clients post: the balancer (--rolling) or the one relais-ingest."""
        return self.lb.url("ingest") if self.lb else self.relais.ingest.url

    def api_url(self) -> str:
        return self.lb.url("api") if self.lb else self.relais.api.url

    def control(self, **kw) -> None:
        requests.post(f"http://127.0.0.1:{self.up_control}/_control", json=kw, timeout=10).raise_for_status()

    def upstream_received(self) -> list[dict]:
        return requests.get(f"http://127.0.0.1:{self.up_control}/_received", timeout=60).json()["received"]

    # ------------------------------------------------------------------- world
    def build_world(self) -> None:
        rng = self.rng
        n_stable = 1500 if self.args.short or self.args.cluster else 4000
        # --cluster has no dir_race faults during the run: its race persons all change at the end
        n_race = 20 if self.args.cluster else 60 if self.args.short else 150
        self.cbes = [H.make_cbe(rng) for _ in range(4)]
        self.race_cbe, self.probe_cbe = H.make_cbe(rng), H.make_cbe(rng)
        all_cbes = self.cbes + [self.race_cbe, self.probe_cbe]
        assert len(set(all_cbes)) == len(all_cbes)
        seen: set[str] = set()

        def person() -> str:
            while True:
                s = H.make_ssin(rng, bis=rng.random() < 0.2)
                if s not in seen:
                    seen.add(s)
                    return s
        lines: dict[str, list[tuple]] = {}
        rows: dict[str, list[tuple]] = defaultdict(list)
        self.stable = [person() for _ in range(n_stable)]
        for i, s in enumerate(self.stable):
            if i % 7 == 6:
                continue  # integrated nowhere: dropped
            ls = []
            for cbe in rng.sample(self.cbes, 2 if i % 5 == 0 else 1):
                q = rng.choice([1, 2, 3, 4])
                end = "2023-12-31" if rng.random() < 0.2 else None   # closed: later events drop
                ls.append((cbe, q, "2020-01-01", end))
                rows[cbe].append((s, q, "2020-01-01", end))
            lines[s] = ls
        self.probe_ssin = person()
        lines[self.probe_ssin] = [(self.probe_cbe, 1, "2020-01-01", None)]
        rows[self.probe_cbe].append((self.probe_ssin, 1, "2020-01-01", None))
        self.reg_pool = [person() for _ in range(n_race)]       # registered at the race CPAS during the run
        self.unreg_pool = [person() for _ in range(n_race)]     # integrated there, closed during the run
        for s in self.unreg_pool:
            rows[self.race_cbe].append((s, 2, "2020-01-01", None))
        for i, cbe in enumerate(all_cbes):
            H.api_put_cpas(self.api, cbe, f"CPAS faults {i}", ["21004"])
            if rows[cbe]:
                r = H.api_import(self.api, cbe, rows[cbe])
                assert r.status_code == 200, r.text
        self.log = RunLog(cpas=all_cbes, lines=lines, race_cpas=self.race_cbe,
                          race_initial={**{s: False for s in self.reg_pool}, **{s: True for s in self.unreg_pool}})
        self.race_persons = self.reg_pool + self.unreg_pool
        self.race_todo = list(self.race_persons)
        rng.shuffle(self.race_todo)
        for key in ("router", "router-1"):
            svc = self.relais.services[key]
            want = {c: len(rows[c]) for c in all_cbes}
            deadline = time.time() + 60
            while time.time() < deadline:
                m = svc.metrics()
                if all(m.get(f'relais_directory_integrations{{cpas="{c}"}}') == n for c, n in want.items()):
                    break
                time.sleep(0.3)
            else:
                raise TimeoutError(f"{key}: directory not loaded")
        log(f"world: {len(all_cbes)} CPAS, {len(self.stable)} persons, {2 * n_race} race persons")

    # -------------------------------------------------------------------- load
    def notif(self, rng: random.Random, flow: str) -> dict:
        if rng.random() < 0.2:
            ssin, day = rng.choice(self.race_persons), RACE_DAY
        else:
            ssin = rng.choice(self.stable)
            day = rng.choice(["2023-06-01", "2023-11-15", "2024-02-01", "2024-05-01"])
        event = "DEATH" if flow == "notify-person" and rng.random() < 0.25 else None
        return H.notification(flow, H.new_ticket(), ssin, day, rng, event=event)

    def poster(self, idx: int) -> None:
        rng = random.Random(f"{self.seed}-poster-{idx}")
        url = self.ingest_url
        size = 40
        while not self.stop_load.is_set():
            flow = rng.choice(H.FLOWS)
            batch = [self.notif(rng, flow) for _ in range(size)]
            body = ("\n".join(json.dumps(n, separators=(",", ":")) for n in batch) + "\n").encode()
            deadline = time.time() + 900
            while True:
                try:
                    r = requests.post(f"{url()}/v1/notifications/{flow}:batch", data=body,
                                      headers={"Content-Type": "application/x-ndjson"}, timeout=60)
                    with self.lock:
                        self.http[r.status_code] += 1
                    if r.status_code == 200:
                        rep = r.json()
                        now = time.time()
                        by_ticket = {n["ticket"]: n for n in batch}
                        with self.lock:
                            for it in rep["items"]:
                                if it["status"] == 202:
                                    n = by_ticket[it["ticket"]]
                                    self.log.tickets[it["ticket"]] = Ticket(it["ticket"], flow, n["ssin"],
                                                                            n["effective_date"], n.get("event", ""), now)
                                else:
                                    self.failures.append(f"valid line refused: {it}")
                        break
                    if r.status_code in (429, 503):
                        if "Retry-After" not in r.headers:
                            self.fail(f"ingest answered {r.status_code} without Retry-After: {r.text[:200]}")
                        wait = min(float(r.headers.get("Retry-After", "1")), 2.0)
                    else:
                        self.fail(f"ingest answered {r.status_code}: {r.text[:300]}")
                        wait = 1.0
                except requests.RequestException:
                    with self.lock:
                        self.http["connection error"] += 1
                    wait = 0.3
                if time.time() > deadline:
                    self.fail("a batch was never accepted within 900 s")
                    break
                time.sleep(wait)
            time.sleep(self.args.pace)

    def api_call(self, method: str, path: str, ok: tuple[int, ...], **kw) -> requests.Response:
        """A CPAS application's call: retries connection errors and 5xx (503 with Retry-After)."""
        deadline = time.time() + 600
        while True:
            try:
                r = requests.request(method, f"{self.api_url()}{path}", headers=H.api_headers(), timeout=15, **kw)
                with self.lock:
                    self.api_http[r.status_code] += 1
                if r.status_code in ok:
                    return r
                if r.status_code < 500 and r.status_code != 429:
                    return r
                if r.status_code in (429, 503) and "Retry-After" not in r.headers:
                    self.fail(f"relais-api answered {r.status_code} without Retry-After")
                elif r.status_code >= 500 and r.status_code != 503:
                    # an outage is 503 + Retry-After; any other 5xx is a defect
                    self.fail(f"relais-api answered {r.status_code} to {method} {path}: {r.text[:200]}")
            except requests.RequestException:
                with self.lock:
                    self.api_http["connection error"] += 1
            if time.time() > deadline:
                raise TimeoutError(f"{method} {path} never succeeded")
            time.sleep(0.3)

    def clignotant_poster(self) -> None:
        """SPP IS sends clignotants (flow sppis-clignotant) for persons integrated in the first CPAS,
        about one a second; one in ten is sent twice under the same SPP IS identifier (with a new
        ticket), as SPP IS does when it re-issues one: Relais keeps it once."""
        rng = random.Random(f"{self.seed}-clignotants")
        cbe = self.cbes[0]
        persons = [s for s in self.stable
                   if any(c == cbe and st <= CLIGNOTANT_PERIOD[0] and e is None for c, q, st, e in self.log.lines.get(s, []))]
        n = 0
        last: tuple[str, str] | None = None
        while not self.stop_load.is_set():
            if last and rng.random() < 0.1:
                sppis_id, ssin = last
            else:
                n += 1
                sppis_id, ssin = f"CLG-F{self.seed}-{n:05d}", rng.choice(persons)
            body = H.sppis_clignotant(H.new_ticket(), ssin, cbe, sppis_id, "2024-07-01", period=CLIGNOTANT_PERIOD,
                                      type_code=CLIGNOTANT_TYPE)
            deadline = time.time() + 900
            while not self.stop_load.is_set():
                try:
                    r = requests.post(f"{self.ingest_url()}/v1/notifications/sppis-clignotant", json=body, timeout=30)
                    if r.status_code == 202:
                        with self.lock:
                            self.log.clignotants[sppis_id] = cbe
                        last = (sppis_id, ssin)
                        break
                    if r.status_code not in (429, 503):
                        self.fail(f"ingest answered {r.status_code} to a clignotant: {r.text[:300]}")
                        break
                except requests.RequestException:
                    pass
                if time.time() > deadline:
                    self.fail("a clignotant was never accepted within 900 s")
                    break
                time.sleep(0.5)
            time.sleep(1.0)

    def reactor(self) -> None:
        """Reacts to the SPP IS clignotants of the first CPAS, a few per second (only those carry a
        reaction upstream: an early signal of Relais's own is refused with 409)."""
        cbe = self.cbes[0]
        done: set[str] = set()
        while not self.stop_load.is_set():
            try:
                r = self.api_call("GET", f"/v1/cpas/{cbe}/alerts", (200,),
                                  params={"limit": 20, "type": CLIGNOTANT_TYPE, "status": "OPEN"})
                if r.status_code != 200:
                    self.fail(f"alert list: {r.status_code} {r.text[:200]}")
                    time.sleep(1)
                    continue
                for a in r.json()["alerts"]:
                    if a["alert_id"] in done or self.stop_load.is_set():
                        continue
                    if a.get("kind") != "SPPIS_CLIGNOTANT" or not a.get("sppis_id"):
                        self.fail(f"the alert list of type {CLIGNOTANT_TYPE} returned a {a.get('kind')} alert: {a}")
                        done.add(a["alert_id"])
                        continue
                    # 409 after a retried call: the earlier attempt was committed (its id is returned)
                    rr = self.api_call("POST", f"/v1/cpas/{cbe}/alerts/{a['alert_id']}/reaction", (201, 409),
                                       json={"code": "NO_IMPACT", "comment": "fault suite"})
                    rid = None
                    if rr.status_code == 201:
                        rid = rr.json()["reaction_id"]
                    elif rr.status_code == 409 and rr.json().get("code") == "REACTION_EXISTS":
                        rid = rr.json().get("existing_reaction_id") or rr.json().get("reaction_id")
                    if rid:
                        with self.lock:
                            self.log.reactions[rid] = a["alert_id"]
                    else:
                        self.fail(f"reaction refused: {rr.status_code} {rr.text[:200]}")
                    done.add(a["alert_id"])
                    time.sleep(0.2)
            except Exception as e:  # noqa: BLE001 - the load must go on; reported
                self.fail(f"reactor: {e!r}")
            time.sleep(0.5)

    def watchdog(self) -> None:
        """A service that exits by itself is a failure (nothing but the scheduler may stop one);
        it is started again, as its supervisor would, so the run goes on."""
        while not self.stop_load.is_set():
            for key, svc in list(self.relais.services.items()):
                if key in self.down_on_purpose or svc.proc is None:
                    continue
                rc = svc.proc.poll()
                if rc is not None:
                    self.fail(f"relais-{key} exited by itself with {rc} (see {svc.log_path})")
                    svc.start()
            time.sleep(0.5)

    # ------------------------------------------------------------------ probes
    def probe(self, heal_at: float, what: str = "notification") -> float:
        """Posts one notification for the probe person and waits until a read_committed
        consumer of the probe CPAS's topic sees it: the whole pipeline works again."""
        from confluent_kafka import Consumer, TopicPartition
        rng = random.Random()
        t = "probe-" + str(uuid.uuid4())[6:]
        ticket = str(uuid.uuid4())
        n = H.notification("notify-person", ticket, self.probe_ssin, "2024-05-01", rng, event="NAME_CHANGE")
        deadline = heal_at + RECOVERY_BOUND_S
        while True:
            try:
                r = requests.post(f"{self.ingest_url()}/v1/notifications/notify-person", data=json.dumps(n),
                                  headers={"Content-Type": "application/json"}, timeout=10)
                if r.status_code == 202:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline:
                raise TimeoutError("probe never accepted")
            time.sleep(0.2)
        c = Consumer({**self.kconf, "group.id": f"faults-probe-{t}", "isolation.level": "read_committed",
                      "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        try:
            c.assign([TopicPartition(f"cpas.{self.probe_cbe}.notifications.v1", 0, 0)])
            while time.time() < deadline:
                m = c.poll(0.2)
                if m is not None and not m.error() and dict(m.headers() or []).get("ticket", b"").decode() == ticket:
                    return time.time() - heal_at
            raise TimeoutError(f"probe {ticket} not delivered within {RECOVERY_BOUND_S:.0f}s of the heal")
        finally:
            c.close()

    def api_probe(self, heal_at: float) -> float:
        deadline = heal_at + RECOVERY_BOUND_S
        while time.time() < deadline:
            try:
                r = requests.get(f"{self.api_url()}/v1/cpas/{self.probe_cbe}/integrations",
                                 params={"ssin": self.probe_ssin}, headers=H.api_headers(), timeout=5)
                if r.status_code == 200:
                    return time.time() - heal_at
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError("relais-api not answering after the heal")

    # ------------------------------------------------------------------ faults
    def svc(self, key: str) -> H.Service:
        return self.relais.services[key]

    def kill_restart(self, keys: list[str], rng: random.Random) -> float:
        for k in keys:
            self.down_on_purpose.add(k)
            self.svc(k).kill(signal.SIGKILL)
        try:
            time.sleep(rng.uniform(0.0, 2.0))
            for k in keys:
                self.svc(k).start()
            for k in keys:
                self.svc(k).wait_ready(120)
        finally:
            # whatever happened, the watchdog looks after them again (and restarts a dead one)
            for k in keys:
                self.down_on_purpose.discard(k)
        return time.time()

    def f_kill_ingest(self, rng):
        return self.kill_restart(["ingest"], rng), "ingest"

    def f_kill_router_one(self, rng):
        k = rng.choice(["router", "router-1"])
        return self.kill_restart([k], rng), k

    def f_kill_router_both(self, rng):
        return self.kill_restart(["router", "router-1"], rng), "router+router-1"

    def f_kill_api(self, rng):
        return self.kill_restart(["api"], rng), "api"

    def f_stop_router(self, rng):
        """A zombie router: SIGSTOP past its consumer session, so the group gives its partitions to
        the other replica, which routes their records; then SIGCONT. Whatever the zombie had in
        flight must not commit (its transaction is fenced by the group's new generation, KIP-447):
        the checker's 0 duplicated is the proof; the zombie's log after the resume says which way
        it went (zombie_outcome: its transaction aborted, its clients fenced and made again, or,
        stopped between two transactions, its session expired and its partitions revoked)."""
        k = rng.choice(["router", "router-1"])
        pause = SESSION_TIMEOUT_S + rng.uniform(3.0, 8.0)
        svc = self.svc(k)
        self.down_on_purpose.add(k)
        svc.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(pause)
        finally:
            mark = svc.log_path.stat().st_size if svc.log_path.exists() else 0
            svc.proc.send_signal(signal.SIGCONT)
            self.down_on_purpose.discard(k)
        self.fault_extra = {"zombie": k, "zombie_log_from": mark}
        return time.time(), f"{k} stopped {pause:.1f}s"

    def after_stop_router(self, rec: dict) -> None:
        """Once the pipeline delivers again: what the zombie's log says since its SIGCONT."""
        with open(self.svc(rec["zombie"]).log_path, "rb") as f:
            f.seek(rec.pop("zombie_log_from"))
            after = f.read().decode(errors="replace")
        rec["zombie_outcome"] = ("fenced: clients made again" if "fatal" in after else
                                 "transaction aborted and retried" if "transaction failed" in after else
                                 "session expired: partitions revoked" if "partitions revoked" in after else
                                 "rejoined")
        rec["detail"] += f"; zombie: {rec['zombie_outcome']}"

    def f_broker_restart(self, rng):
        stack_cmd("kafka-restart")
        return time.time(), "SIGTERM + start"

    def f_broker_kill(self, rng):
        stack_cmd("kafka-kill")
        time.sleep(rng.uniform(0.0, 3.0))
        stack_cmd("kafka-start")
        return time.time(), "SIGKILL + start"

    def f_pg_restart(self, rng):
        with self.pg_sensitive:
            stack_cmd("pg-restart")
            return time.time(), "fast shutdown + start"

    def f_pg_unreachable(self, rng):
        with self.pg_sensitive:
            self.proxy.freeze()
            time.sleep(30.0)
            self.proxy.thaw()
            return time.time(), "30s"

    def f_upstream(self, rng, mode: str):
        seconds = rng.uniform(8.0, 20.0)
        if mode == "slow":
            self.control(delay_ms=3000)          # longer than relais-api's 2 s timeout
        elif mode == "failing":
            self.control(mode="fail", status=rng.choice([500, 503, 429]))
        else:
            self.control(down=True)
        time.sleep(seconds)
        self.control(mode="ok", delay_ms=0, down=False)
        return time.time(), f"{mode} {seconds:.0f}s"

    def f_poison(self, rng):
        from confluent_kafka import Producer
        p = Producer({**self.kconf, "enable.idempotence": True, "acks": "all"})
        got: list[tuple[int, int]] = []
        errs = []
        for i in range(3):
            key = rng.choice(self.stable).encode()
            value = [b"\x0f" + os.urandom(20), b"", b"\x0a\x03abc\x12\xff"][i]
            p.produce("relais.inbound.v1", key=key, value=value, headers=[("ticket", b"poison")],
                      on_delivery=lambda err, m: errs.append(err) if err else got.append((m.partition(), m.offset())))
        p.flush(60)
        if errs or len(got) != 3:
            raise RuntimeError(f"poison not written: {errs}")
        with self.lock:
            self.log.poison += got
        return time.time(), f"3 records at {got}"

    def f_dir_race(self, rng):
        k = min(len(self.race_todo), 6)
        if k == 0:
            return time.time(), "no race person left"
        with self.pg_sensitive:
            for _ in range(k):
                s = self.race_todo.pop()
                kind = "unregister" if self.log.race_initial[s] else "register"
                started = time.time()
                if kind == "register":
                    r = self.api_call("PUT", f"/v1/cpas/{self.race_cbe}/integrations", (201, 200),
                                      json={"ssin": s, "quality_code": 2, "start_date": "2020-01-01"})
                else:
                    r = self.api_call("DELETE", f"/v1/cpas/{self.race_cbe}/integrations/{s}", (200,),
                                      params={"end_date": "2023-12-31"})
                if r.status_code not in (200, 201):
                    self.fail(f"directory {kind} of {s}: {r.status_code} {r.text[:200]}")
                    continue
                with self.lock:
                    self.log.changes[s] = Change(s, kind, started, time.time())
                time.sleep(rng.uniform(0.0, 0.5))
        return time.time(), f"{k} changes"

    # ---------------------------------------------------------- cluster faults
    def admin(self):
        from confluent_kafka.admin import AdminClient
        return AdminClient({**self.kconf, "socket.connection.setup.timeout.ms": 3000})

    def leader_of(self, topic: str, partition: int, not_node: int | None = None, wait_s: float = 60.0) -> int:
        """The node leading topic/partition (metadata from any live node); with not_node, waits
        until the leadership has moved away from that node."""
        deadline = time.time() + wait_s
        while True:
            try:
                md = self.admin().list_topics(topic, timeout=5)
                leader = md.topics[topic].partitions[partition].leader
                if leader > 0 and leader != not_node:
                    return leader
            except Exception:  # noqa: BLE001 - a node is down on purpose: ask again
                pass
            if time.time() > deadline:
                raise TimeoutError(f"no leader for {topic}/{partition} other than {not_node} within {wait_s:.0f}s")
            time.sleep(0.2)

    def isr_full(self, since: float) -> float:
        """Seconds from `since` until every partition of the Relais topics (relais.*, cpas.*) has
        all its replicas in sync again."""
        deadline = since + RECOVERY_BOUND_S
        while time.time() < deadline:
            try:
                md = self.admin().list_topics(timeout=5)
                short = [f"{t}/{p}" for t, tm in md.topics.items() if t.startswith(("relais.", "cpas."))
                         for p, pm in tm.partitions.items() if len(pm.isrs) < len(pm.replicas)]
                if not short:
                    return time.time() - since
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.5)
        raise TimeoutError(f"partitions not fully in sync {RECOVERY_BOUND_S:.0f}s after the node came back")

    def node_pid(self, node: int) -> int:
        d = Path(STACK["RELAIS_STACK_DIR"]) / ("kafka" if node == 1 else f"kafka-{node}")
        return int((d / "kafka.pid").read_text().strip())

    def active_controller(self, not_node: int | None = None, wait_s: float = 60.0) -> int:
        """The KRaft quorum's leader (the active controller), as a live node's quorum-state file says;
        with not_node, waits until another node leads the quorum."""
        deadline = time.time() + wait_s
        nodes = int(STACK.get("RELAIS_KAFKA_NODES", "1"))
        while True:
            for n in range(1, nodes + 1):
                if n == not_node:
                    continue
                d = Path(STACK["RELAIS_STACK_DIR"]) / ("kafka" if n == 1 else f"kafka-{n}")
                try:
                    leader = int(json.loads((d / "data" / "__cluster_metadata-0" / "quorum-state").read_text())["leaderId"])
                except (OSError, ValueError, KeyError):
                    continue
                if leader > 0 and leader != not_node:
                    return leader
            if time.time() > deadline:
                raise TimeoutError(f"no active controller other than {not_node} within {wait_s:.0f}s")
            time.sleep(0.2)

    def node_fault(self, rng, how: str, role: str):
        """kill -9 (how "kill") or SIGSTOP ("stop") of one node: the leader of relais.inbound.v1
        partition 0 (role "leader") or the active controller ("controller"; the nodes are combined,
        so it may lead partitions too), the load going on, then the node back."""
        def find(not_node=None):
            return (self.leader_of("relais.inbound.v1", 0, not_node) if role == "leader"
                    else self.active_controller(not_node))
        node = find()
        t0 = time.time()
        if how == "kill":
            stack_cmd("kafka-kill-node", str(node))
        else:
            os.kill(self.node_pid(node), signal.SIGSTOP)
        try:
            new = find(not_node=node)
            elected = time.time() - t0
            # the pipeline delivers again with the node still down (or stopped)
            failover = self.probe(t0)
            if how == "stop":  # stopped past its session: the controller has fenced it
                time.sleep(max(0.0, BROKER_SESSION_S + rng.uniform(1.0, 4.0) - (time.time() - t0)))
            else:
                time.sleep(rng.uniform(1.0, 4.0))
        finally:
            back = time.time()
            if how == "kill":
                stack_cmd("kafka-start-node", str(node))   # returns once the node serves again
            else:
                os.kill(self.node_pid(node), signal.SIGCONT)
        heal = time.time()
        in_sync = self.isr_full(heal)
        self.fault_extra = {"node": node, "new_leader": new, "down_s": round(back - t0, 2),
                            "restart_s": round(heal - back, 2), "leader_elected_s": round(elected, 2),
                            "failover_s": round(failover, 2), "isr_full_s": round(in_sync, 2)}
        return heal, (f"{role} {node} {how} {back - t0:.0f}s (+{heal - back:.0f}s restart), {role} {new} in "
                      f"{elected:.1f}s, delivering in {failover:.1f}s, in sync {in_sync:.1f}s after")

    def f_leader_kill(self, rng):
        return self.node_fault(rng, "kill", "leader")

    def f_leader_stop(self, rng):
        return self.node_fault(rng, "stop", "leader")

    def f_controller_kill(self, rng):
        return self.node_fault(rng, "kill", "controller")

    def f_disk_full(self, rng):
        """The data filesystem of the leader of relais.inbound.v1 partition 0 fills up (a ballast
        file takes every free block) under load: its next write fails with ENOSPC, the node takes
        its log directory offline and, that being its only one (the metadata log's too), halts.
        Then the operator's repair: the ballast deleted, the node started again."""
        node = self.leader_of("relais.inbound.v1", 0)
        pid = self.node_pid(node)
        t0 = time.time()
        stack_cmd("kafka-disk-fill", str(node))
        halted = None
        try:
            deadline = t0 + 120
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    halted = time.time() - t0
                    break
                time.sleep(0.2)
            if halted is None:   # still alive with its only log directory failed: stopped as a dead node
                log(f"node {node} still running 120 s after its disk filled: killed")
                stack_cmd("kafka-kill-node", str(node))
            new = self.leader_of("relais.inbound.v1", 0, not_node=node)
            elected = time.time() - t0
            failover = self.probe(t0)
            time.sleep(rng.uniform(1.0, 4.0))
        finally:
            back = time.time()
            stack_cmd("kafka-disk-free", str(node))
            stack_cmd("kafka-start-node", str(node))
        heal = time.time()
        in_sync = self.isr_full(heal)
        self.fault_extra = {"node": node, "new_leader": new, "halted_s": None if halted is None else round(halted, 2),
                            "down_s": round(back - t0, 2), "restart_s": round(heal - back, 2),
                            "leader_elected_s": round(elected, 2), "failover_s": round(failover, 2),
                            "isr_full_s": round(in_sync, 2)}
        how = f"halted after {halted:.1f}s" if halted is not None else "did not halt (killed)"
        return heal, (f"leader {node} disk full, {how}, leader {new} in {elected:.1f}s, delivering in "
                      f"{failover:.1f}s, freed and restarted, in sync {in_sync:.1f}s after")

    def f_pg_clock_skew(self, rng):
        """PostgreSQL's host clock steps 2 to 15 minutes ahead or behind the services' and the
        brokers' under load (the database's now(): outbox schedules and leases, credentials'
        expiry, alerts' and journal times), stays off for 10 to 30 s, then steps back."""
        offset = rng.choice([1, -1]) * rng.randint(120, 900)
        with self.pg_sensitive:
            stack_cmd("pg-clock", f"{offset:+d}")
            try:
                time.sleep(1.5)   # each server process re-reads the offset within a second
                off = float(self.db.rows("SELECT extract(epoch FROM clock_timestamp())")[0][0]) - time.time()
                if abs(off - offset) > 30:
                    self.fail(f"pg_clock_skew: PostgreSQL's clock is {off:+.0f}s off, {offset:+d}s asked")
                time.sleep(rng.uniform(10.0, 30.0))
            finally:
                stack_cmd("pg-clock", "+0")
        self.fault_extra = {"offset_s": offset, "measured_offset_s": round(off, 1)}
        return time.time(), f"clock {offset:+d}s ({off:+.0f}s measured), back to +0"

    def f_controller_stop(self, rng):
        return self.node_fault(rng, "stop", "controller")

    def pg_pids(self) -> list[int]:
        r = subprocess.run([str(REPO / "deploy/local/stack.sh"), "pg-pids"], env=dict(os.environ, **STACK),
                           capture_output=True, text=True, check=True)
        return [int(x) for x in r.stdout.split()]

    def f_pg_kill(self, rng):
        """The primary's host loses PostgreSQL: SIGKILL of the postmaster and every backend at once
        (no shutdown of any kind), then a start: crash recovery."""
        with self.pg_sensitive:
            stack_cmd("pg-kill")
            return time.time(), "SIGKILL of every process + start, crash recovery"

    def f_pg_stop(self, rng):
        """A hung primary: every PostgreSQL process SIGSTOPped for 10-30 s (connections open,
        nothing answers, new connections wait), then SIGCONT."""
        pause = rng.uniform(10.0, 30.0)
        with self.pg_sensitive:
            pids = self.pg_pids()
            for p in pids:
                os.kill(p, signal.SIGSTOP)
            try:
                time.sleep(pause)
            finally:
                for p in pids:
                    try:
                        os.kill(p, signal.SIGCONT)
                    except ProcessLookupError:
                        pass
            return time.time(), f"{len(pids)} processes stopped {pause:.1f}s"

    def f_router_rebalance(self, rng):
        """A third router joins the group (a rebalance starts); during the rebalance one of the two
        others is killed (kill -9) and started again; then the third leaves (SIGTERM): three
        rebalances back to back, records in flight through each."""
        extra = self.relais.services.get("router-2") or self.relais.add("router", instance="2")
        victim = rng.choice(["router", "router-1"])
        t0 = time.time()
        self.down_on_purpose.update({"router-2", victim})
        try:
            extra.start()
            time.sleep(rng.uniform(0.5, 3.0))   # the group is rebalancing: the newcomer's JoinGroup
            self.svc(victim).kill(signal.SIGKILL)
            time.sleep(rng.uniform(0.0, 2.0))
            self.svc(victim).start()
            self.svc(victim).wait_ready(120)
            extra.wait_ready(120)
            joined = time.time() - t0
            time.sleep(rng.uniform(1.0, 4.0))
            rc = extra.stop()
            if rc != 0:
                self.fail(f"relais-router-2 exited with {rc} on SIGTERM (see {extra.log_path})")
        finally:
            self.down_on_purpose.discard(victim)
        self.fault_extra = {"victim": victim, "rebalanced_s": round(joined, 2)}
        return time.time(), f"router-2 joined, {victim} killed mid-rebalance, router-2 left"

    def f_pg_crash(self, rng):
        with self.pg_sensitive:
            stack_cmd("pg-crash")
            return time.time(), "immediate stop (crash) + start, crash recovery"

    def topics_check(self) -> list[str]:
        """deploy/kafka/topics.sh check: every Relais topic, the ones the services made included."""
        r = subprocess.run([str(REPO / "deploy/local/stack.sh"), "topics-check"], env=dict(os.environ, **STACK),
                           capture_output=True, text=True, timeout=180)
        log("topics check: " + (r.stderr.strip().splitlines() or ["?"])[-1])
        return [] if r.returncode == 0 else [f"topics below the replication policy: {ln}" for ln in
                                             (r.stdout.strip().splitlines() or [r.stderr.strip()[-300:]])]

    # ------------------------------------------------------- rolling restarts
    def roll(self, name: str) -> tuple[float, str]:
        """Each instance of one service in turn, as an operator's rolling restart (docs/deployment.md):
        SIGTERM, a clean exit (0), start, ready, a pause for the balancer to see it back, the next."""
        parts = []
        for key in sorted(k for k in self.relais.services if k == name or k.startswith(name + "-")):
            svc = self.svc(key)
            self.down_on_purpose.add(key)
            try:
                t0 = time.time()
                rc = svc.stop()
                if rc != 0:
                    self.fail(f"relais-{key} exited with {rc} on SIGTERM (see {svc.log_path})")
                stopped = time.time()
                svc.start()
                svc.wait_ready(120)
                parts.append(f"{key} {stopped - t0:.1f}+{time.time() - stopped:.1f}s")
            finally:
                self.down_on_purpose.discard(key)
            time.sleep(2.0)   # the balancer's checks (rise 2 x 500 ms) take it back before the next stops
        return time.time(), ", ".join(parts)

    def f_roll_ingest(self, rng):
        return self.roll("ingest")

    def f_roll_router(self, rng):
        return self.roll("router")

    def f_roll_api(self, rng):
        return self.roll("api")

    def latency_sampler(self) -> None:
        """One notification a second for the probe person through the balancer, timed from its 2xx to
        a read_committed consumer of the probe CPAS's topic (accepted -> visible). Its tickets join
        the run's: the checker holds them to the same guarantees."""
        from confluent_kafka import Consumer, TopicPartition
        self.probe(time.time())   # the probe CPAS's topic exists from here on
        rng = random.Random(f"{self.seed}-latency")
        c = Consumer({**self.kconf, "group.id": f"faults-latency-{uuid.uuid4()}", "isolation.level": "read_committed",
                      "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        c.assign([TopicPartition(f"cpas.{self.probe_cbe}.notifications.v1", 0, 0)])
        pending: dict[str, float] = {}
        next_post = time.time()
        try:
            while not self.stop_load.is_set():
                if time.time() >= next_post:
                    next_post = time.time() + 1.0
                    ticket = str(uuid.uuid4())
                    n = H.notification("notify-person", ticket, self.probe_ssin, "2024-05-01", rng, event="NAME_CHANGE")
                    try:
                        r = requests.post(f"{self.ingest_url()}/v1/notifications/notify-person", data=json.dumps(n),
                                          headers={"Content-Type": "application/json"}, timeout=10)
                        if r.status_code == 202:
                            now = time.time()
                            pending[ticket] = now
                            with self.lock:
                                self.log.tickets[ticket] = Ticket(ticket, "notify-person", self.probe_ssin,
                                                                  "2024-05-01", "NAME_CHANGE", now)
                    except requests.RequestException:
                        pass   # not acknowledged: the checker allows it once if it arrives
                m = c.poll(0.1)
                if m is not None and not m.error():
                    t = dict(m.headers() or []).get("ticket", b"").decode()
                    if t in pending:
                        acc = pending.pop(t)
                        with self.lock:
                            self.latency.append((acc, time.time() - acc))
        finally:
            c.close()

    def latency_report(self) -> dict:
        """Percentiles of the sampler's latencies outside every fault and during each fault type
        (from its start to the end of its recovery)."""
        def pct(xs: list[float]) -> dict:
            xs = sorted(xs)
            if not xs:
                return {"n": 0}
            at = lambda q: round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000)  # noqa: E731
            return {"n": len(xs), "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": round(xs[-1] * 1000)}
        windows = [(f["type"], f["started"], f.get("healed", f["started"]) + f.get("recovery_s", 0)) for f in self.faults]
        steady, during = [], defaultdict(list)
        for acc, lat in self.latency:
            hit = [name for name, a, b in windows if a <= acc <= b]
            if not hit:
                steady.append(lat)
            for name in hit:
                during[name].append(lat)
        out = {"steady": pct(steady), **{name: pct(xs) for name, xs in sorted(during.items())}}
        print("\nlatency accepted -> visible (sampler, 1/s): " + "; ".join(
            f"{k} n={v['n']}" + (f" p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms, max {v['max_ms']} ms" if v["n"] else "")
            for k, v in out.items()))
        return out

    ROLLING_LANE = ["roll_ingest", "roll_router", "roll_api"]
    CLUSTER_LANE = ["leader_kill", "leader_stop", "controller_kill", "controller_stop", "router_rebalance",
                    "stop_router", "pg_crash", "pg_kill", "pg_stop"] + (
        ["disk_full"] if DISK_FULL_OK else []) + (["pg_clock_skew"] if CLOCK_SKEW_OK else [])
    LANE_A = ["kill_ingest", "kill_router_one", "kill_router_both", "kill_api", "stop_router",
              "broker_restart", "broker_kill", "pg_restart", "pg_unreachable"]
    LANE_B = ["upstream_slow", "upstream_failing", "upstream_down", "poison", "dir_race"]

    def inject(self, name: str, rng: random.Random) -> dict:
        fn = {"upstream_slow": lambda r: self.f_upstream(r, "slow"),
              "upstream_failing": lambda r: self.f_upstream(r, "failing"),
              "upstream_down": lambda r: self.f_upstream(r, "down")}.get(name) or getattr(self, "f_" + name)
        with self.lock:
            accepted_before = len(self.log.tickets)
        t0 = time.time()
        rec = {"type": name, "started": t0}
        try:
            self.fault_extra = {}
            heal, detail = fn(rng)
            rec.update(healed=heal, detail=detail, **self.fault_extra)
            if name.startswith("upstream"):
                rec["recovery_s"] = self.reactions_drained(heal)
            elif name == "kill_api":
                rec["recovery_s"] = self.api_probe(heal)
            elif name.startswith("pg"):   # pg_restart, pg_unreachable, pg_crash, pg_kill, pg_stop, pg_clock_skew
                rec["recovery_s"] = max(self.probe(heal), self.api_probe(heal))
            else:
                rec["recovery_s"] = self.probe(heal)
            if hasattr(self, "after_" + name):
                getattr(self, "after_" + name)(rec)
            rec["ok"] = True
        except Exception as e:  # noqa: BLE001 - recorded as a failed fault
            rec.update(ok=False, error=repr(e))
            self.fail(f"fault {name}: {e!r}\n{traceback.format_exc()}")
        with self.lock:
            rec["accepted_during"] = len(self.log.tickets) - accepted_before
            self.faults.append(rec)
        log(f"fault {len(self.faults):3d} {name:17s} {rec.get('detail', '')!s:28s} "
            f"recovered in {rec.get('recovery_s', float('nan')):.1f}s")
        return rec

    def reactions_drained(self, heal: float) -> float:
        """Every reaction created before the heal is SENT."""
        deadline = heal + RECOVERY_BOUND_S
        ts = dt.datetime.fromtimestamp(heal, dt.timezone.utc).isoformat()
        while time.time() < deadline:
            n = self.db.rows(f"SELECT count(*) FROM reactions WHERE delivery_status <> 'SENT' AND created_at < '{ts}'",
                             retry_s=RECOVERY_BOUND_S)
            if n[0][0] == "0":
                return time.time() - heal
            time.sleep(0.5)
        raise TimeoutError("reactions made before the heal not all SENT")

    def lane(self, names: list[str], rng: random.Random, quota: int, once: bool) -> None:
        """Faults of one lane one after the other, in shuffled rounds (every type repeated),
        at random moments: a gap of 1-4 s after the previous one has recovered."""
        while not self.stop_load.is_set() and names and quota > 0:
            order = list(names)
            rng.shuffle(order)
            for name in order:
                if quota <= 0:
                    return
                quota -= 1
                time.sleep(rng.uniform(1.0, 4.0))
                self.inject(name, rng)
            if once:
                return

    # -------------------------------------------------------------------- main
    def main(self) -> int:
        log(f"seed {self.seed} (replay: --seed {self.seed}{' --short' if self.args.short else ''})")
        t_start = time.time()
        self.setup()
        threads = [threading.Thread(target=self.poster, args=(i,), daemon=True) for i in range(2)]
        threads += [threading.Thread(target=t, daemon=True) for t in (self.clignotant_poster, self.reactor, self.watchdog)]
        if self.args.rolling:
            threads.append(threading.Thread(target=self.latency_sampler, daemon=True))
        for t in threads:
            t.start()
        # --rolling: half a minute of steady load first, the latency's baseline
        time.sleep(30 if self.args.rolling else 5)
        # Two lanes at once: processes, broker and database in one; the upstream, poison records
        # and directory races in the other. Each gets half of the faults.
        # (--cluster: the cluster's faults in one lane, nothing in the other)
        qa = len(self.lane_a) if self.args.short else (self.args.faults + 1) // 2 if self.lane_b else self.args.faults
        ra, rb = random.Random(f"{self.seed}-a"), random.Random(f"{self.seed}-b")
        la = threading.Thread(target=self.lane, args=(self.lane_a, ra, qa, self.args.short), daemon=True)
        lb = threading.Thread(target=self.lane, args=(self.lane_b, rb, len(self.lane_b) if self.args.short else self.args.faults - qa, self.args.short),
                              daemon=True)
        la.start()
        lb.start()
        la.join()
        lb.join()
        # the rest of the race persons change now, so every one of them raced
        while self.race_todo:
            self.f_dir_race(rb)
        time.sleep(5)
        load_stop = time.time()
        self.stop_load.set()
        for t in threads:
            t.join(960)
        log(f"load stopped: {len(self.log.tickets)} tickets accepted, {len(self.log.reactions)} reactions; "
            f"ingest answers {dict(self.http)}")
        # Drain: every accepted ticket decided in the journal, every reaction SENT.
        drained = self.wait_drained(load_stop)
        outcome = check(self.log, self.kconf, self.db, self.upstream_received())
        if self.args.cluster:
            for v in self.topics_check():
                outcome.fail(v)
        for key, svc in self.relais.services.items():
            if key not in self.down_on_purpose and svc.proc.poll() is not None:   # router-2 comes and goes
                outcome.fail(f"relais-{key} is not running at the end (exit {svc.proc.returncode})")
        # the ASan+UBSan build (make test-asan): a sanitizer report in any service log fails the run
        for rep in H.sanitizer_reports(H.STARTED_LOGS):
            outcome.fail("sanitizer report: " + rep)
        self.report(outcome, drained, time.time() - t_start)
        blind = self.self_check(outcome)
        return 0 if not (outcome.violations or self.failures or blind) else 1

    def self_check(self, real) -> list[str]:
        """The checker must be able to fail: after the real check, the run's record is tampered
        with in three ways (a ticket "acknowledged" that was never sent, one delivered record
        written a second time into its CPAS topic, a reaction that was never made) and the
        checker is run again; it must report each."""
        import copy
        from confluent_kafka import Producer
        logc = copy.deepcopy(self.log)
        ghost = str(uuid.uuid4())
        ssin = next(s for s, ls in logc.lines.items() if any(e is None and c in self.cbes for c, q, st, e in ls))
        logc.tickets[ghost] = Ticket(ghost, "notify-person", ssin, "2024-05-01", "NAME_CHANGE", time.time())
        victim = next(t for t, tk in logc.tickets.items() if tk.ssin in logc.lines and tk.effective_date == "2024-05-01"
                      and t != ghost and any(e is None for c, q, st, e in logc.lines[tk.ssin]))
        cbe = next(c for c, q, st, e in logc.lines[logc.tickets[victim].ssin] if e is None)
        p = Producer({**self.kconf, "enable.idempotence": True, "acks": "all"})
        p.produce(f"cpas.{cbe}.notifications.v1", key=logc.tickets[victim].ssin.encode(), value=b"self-check copy",
                  headers=[("ticket", victim.encode())])
        assert p.flush(30) == 0
        logc.reactions[str(uuid.uuid4())] = str(uuid.uuid4())
        out = check(logc, self.kconf, self.db, self.upstream_received(), journal_wait_s=5)
        text = "\n".join(out.violations)
        expect = {"ghost ticket reported lost": ghost in text and "LOST" in text,
                  "ghost ticket reported missing from relais.inbound.v1": "not in relais.inbound.v1" in text,
                  "second copy reported as a duplicate": victim in text and "DUPLICATE" in text,
                  "unmade reaction reported": "reactions: 1 not SENT" in text and "never reached" in text}
        blind = [k for k, ok in expect.items() if not ok]
        extra = [v for v in out.violations if v not in real.violations and ghost not in v and victim not in v
                 and "reactions:" not in v and "journal" not in v]
        log("checker self-check: " + ("each tampering detected" if not blind else f"BLIND to {blind}")
            + (f"; unexpected: {extra[:3]}" if extra else ""))
        for b in blind:
            print("VIOLATION: checker self-check: not detected: " + b)
        return blind

    def wait_drained(self, since: float) -> float | None:
        tl = list(self.log.tickets)
        deadline = since + DRAIN_BOUND_S
        while time.time() < deadline:
            n = 0
            for i in range(0, len(tl), 20000):
                arr = ",".join(f"'{t}'" for t in tl[i:i + 20000])
                n += int(self.db.rows("SELECT count(DISTINCT ticket) FROM journal WHERE kind IN ('routed','dropped') "
                                      f"AND ticket = ANY(ARRAY[{arr}]::text[])")[0][0])
            pending = int(self.db.rows("SELECT count(*) FROM reactions WHERE delivery_status <> 'SENT'")[0][0])
            ids = ",".join(f"'{c}'" for c in self.log.clignotants) or "''"
            stored = int(self.db.rows(f"SELECT count(DISTINCT sppis_id) FROM alerts WHERE sppis_id IN ({ids})")[0][0])
            if n == len(tl) and pending == 0 and stored == len(self.log.clignotants):
                d = time.time() - since
                log(f"drained {d:.1f}s after the load stopped")
                return d
            time.sleep(2)
        self.fail(f"not drained within {DRAIN_BOUND_S:.0f}s after the load stopped")
        return None

    def report(self, outcome, drained, elapsed) -> None:
        by: dict[str, list[dict]] = defaultdict(list)
        for f in self.faults:
            by[f["type"]].append(f)
        rows = []
        hdr = f"{'fault':18s} {'runs':>4s} {'ok':>4s} {'accepted':>9s} {'lost':>5s} {'dup':>4s} {'recover p50':>11s} {'max':>7s}"
        print("\n" + hdr + "\n" + "-" * len(hdr))
        # A lost or duplicated ticket is charged to the fault(s) active when its sender got the 2xx
        # (from the fault's start to the end of its recovery), or to "none".
        acked = {t: self.log.tickets[t].acked_at for t in set(outcome.lost) | set(outcome.duplicated)}
        charged: dict[str, Counter] = defaultdict(Counter)
        for kind, ts in (("lost", set(outcome.lost)), ("duplicated", set(outcome.duplicated))):
            for t in ts:
                hit = [f["type"] for f in self.faults
                       if f["started"] <= acked[t] <= f.get("healed", f["started"]) + f.get("recovery_s", 0) + 5]
                for name in hit or ["none"]:
                    charged[name][kind] += 1
        for name in self.lane_a + self.lane_b + (["none"] if "none" in charged else []):
            fs = by.get(name, [])
            rec = [f["recovery_s"] for f in fs if "recovery_s" in f]
            row = {"fault": name, "runs": len(fs), "passed": sum(1 for f in fs if f.get("ok")),
                   "accepted": sum(f.get("accepted_during", 0) for f in fs),
                   "lost": charged[name]["lost"], "duplicated": charged[name]["duplicated"],
                   "recovery_p50_s": round(statistics.median(rec), 2) if rec else None,
                   "recovery_max_s": round(max(rec), 2) if rec else None}
            for fig in ("leader_elected_s", "failover_s", "restart_s", "isr_full_s", "halted_s"):   # cluster faults
                xs = [f[fig] for f in fs if fig in f]
                if xs:
                    xs = [x for x in xs if x is not None]
                    if not xs:
                        continue
                    row[fig.removesuffix("_s") + "_p50_s"] = round(statistics.median(xs), 2)
                    row[fig.removesuffix("_s") + "_max_s"] = round(max(xs), 2)
            zombies = Counter(f["zombie_outcome"] for f in fs if "zombie_outcome" in f)   # stop_router
            if zombies:
                row["zombie_outcomes"] = dict(zombies)
            rows.append(row)
            p50 = f"{row['recovery_p50_s']:.1f}s" if rec else "-"
            mx = f"{row['recovery_max_s']:.1f}s" if rec else "-"
            print(f"{name:18s} {row['runs']:4d} {row['passed']:4d} {row['accepted']:9d} {row['lost']:5d} "
                  f"{row['duplicated']:4d} {p50:>11s} {mx:>7s}")
        for row in rows:
            if "failover_p50_s" in row:
                print(f"  {row['fault']}: leader elected p50 {row['leader_elected_p50_s']}s max {row['leader_elected_max_s']}s; "
                      f"delivering again p50 {row['failover_p50_s']}s max {row['failover_max_s']}s (node down); "
                      f"restart p50 {row['restart_p50_s']}s max {row['restart_max_s']}s; "
                      f"all replicas in sync p50 {row['isr_full_p50_s']}s max {row['isr_full_max_s']}s after it is back")
        for row in rows:
            if "zombie_outcomes" in row:
                print(f"  {row['fault']}: the zombie router after its SIGCONT: "
                      + ", ".join(f"{k} x{v}" for k, v in row["zombie_outcomes"].items()))
        total = len(self.faults)
        print(f"\nseed {self.seed}: {total} faults, {sum(1 for f in self.faults if f.get('ok'))} recovered; "
              f"{len(self.log.tickets)} tickets accepted; figures {outcome.figures}; "
              f"drained in {drained if drained is None else round(drained, 1)}s; run {elapsed:.0f}s")
        problems = self.failures + outcome.violations
        for p in problems:
            print("VIOLATION: " + p.splitlines()[0])
        print("RESULT: " + ("PASS" if not problems else f"FAIL ({len(problems)} problems)"))
        rep = {"seed": self.seed, "short": self.args.short, "cluster": self.args.cluster, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "faults": self.faults, "table": rows, "figures": outcome.figures, "drained_s": drained,
               "elapsed_s": elapsed, "tickets": len(self.log.tickets), "reactions": len(self.log.reactions),
               "ingest_answers": {str(k): v for k, v in self.http.items()},
               "api_answers": {str(k): v for k, v in self.api_http.items()},
               "violations": problems, "pass": not problems,
               "rolling": self.args.rolling, "kinds": self.args.kinds, "latency": self.latency_report() if self.args.rolling else None}
        path = Path(self.args.report or (self.run_dir / "report.json"))
        path.write_text(json.dumps(rep, indent=1, default=str))
        log(f"report: {path}; service logs in {self.run_dir}")

    def teardown(self) -> None:
        self.stop_load.set()
        try:
            self.relais.stop_all()
        except Exception:  # noqa: BLE001
            pass
        if self.lb:
            self.lb.stop()
        if getattr(self, "standin", None):
            self.standin.kill()
        if getattr(self, "proxy", None):
            self.proxy.stop()
        if not self.args.keep_stack:
            subprocess.run([str(REPO / "deploy/local/stack.sh"), "down"], env=dict(os.environ, **STACK),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FAULTS_SEED", "0")) or random.randrange(1, 10**9))
    ap.add_argument("--faults", type=int, default=int(os.environ.get("FAULTS_COUNT", "200")),
                    help="stop after this many injected faults (both lanes together)")
    ap.add_argument("--short", action="store_true", help="each fault type once (the variant inside make test)")
    ap.add_argument("--pace", type=float, default=0.15, help="seconds between two batches of a sender")
    ap.add_argument("--report", help="where to write the JSON report (default: the run directory)")
    ap.add_argument("--run-dir", help="service logs and report (default var/faults/<time>)")
    ap.add_argument("--keep-stack", action="store_true")
    ap.add_argument("--reuse-stack", action="store_true", help="do not reset the stack first")
    ap.add_argument("--cluster", action="store_true",
                    help="a three-node Kafka cluster of its own and its faults only (make test-faults-cluster)")
    ap.add_argument("--rolling", action="store_true",
                    help="two instances of each service, ingest and api behind HAProxy, rolling restarts only "
                         "(make test-faults-rolling)")
    ap.add_argument("--kinds", type=lambda v: [k for k in v.split(",") if k],
                    help="only these fault types (comma-separated), e.g. --cluster --kinds disk_full,pg_crash")
    args = ap.parse_args()
    if args.kinds:
        lanes = (Run.CLUSTER_LANE if args.cluster else Run.ROLLING_LANE if args.rolling else Run.LANE_A + Run.LANE_B)
        unknown = [k for k in args.kinds if k not in lanes]
        if unknown:
            ap.error(f"--kinds: {unknown} not among this suite's fault types {lanes}"
                     + ("" if DISK_FULL_OK or "disk_full" not in unknown else " (disk_full needs root)"))
    if args.rolling and (args.short or args.cluster):
        ap.error("--rolling goes with neither --short nor --cluster: --faults N")
    if args.cluster:
        if args.short:
            ap.error("--cluster and --short do not go together: --faults N")
        STACK.clear()
        STACK.update(CLUSTER_STACK)
    if args.short:
        args.faults = len(Run.LANE_A) + len(Run.LANE_B)
    run = Run(args)
    try:
        return run.main()
    except BaseException:
        traceback.print_exc()
        return 2
    finally:
        run.teardown()


if __name__ == "__main__":
    sys.exit(main())
