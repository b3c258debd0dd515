"""Test and demo harness for Relais: the local stack's coordinates, the three
real service binaries started as processes (killable, restartable), and small
clients for ingest, the API and the CPAS topics. Shares no code with Relais:
what it checks, it computes itself."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("RELAIS_BUILD_DIR", REPO / "build"))

FLOWS = [
    "notify-person",
    "notify-family-composition",
    "pension-register-mutation",
    "personnel-file",
    "self-employed-career",
    "ecarmed-calculation",
]


# ---------------------------------------------------------------- identifiers
def ssin_check(nine: str, born_2000: bool) -> int:
    n = int(("2" + nine) if born_2000 else nine)
    return 97 - (n % 97)


def make_ssin(rng: random.Random, bis: bool = False, year: int | None = None) -> str:
    """A valid SSIN (National Register number, or BIS number when bis=True)."""
    y = year if year is not None else rng.randint(1935, 2015)
    month = rng.randint(1, 12)
    if bis:
        month += rng.choice([20, 40])
    day = rng.randint(1, 28)
    serial = rng.randint(1, 998)
    nine = f"{y % 100:02d}{month:02d}{day:02d}{serial:03d}"
    return nine + f"{ssin_check(nine, y >= 2000):02d}"


def make_cbe(rng: random.Random) -> str:
    """A valid CBE enterprise number (first digit 0 or 1, mod-97 check)."""
    first8 = f"{rng.choice('01')}{rng.randint(0, 9999999):07d}"
    return first8 + f"{97 - int(first8) % 97:02d}"


def new_ticket() -> str:
    return str(uuid.uuid4())


# ---------------------------------------------------------------- Kafka access
# The local broker authenticates every client (SASL) and authorizes with ACLs; the stack's
# credentials come from the environment `deploy/local/stack.sh env` prints.
SERVICE_PRINCIPALS = {"ingest": "relais-ingest", "router": "relais-router", "api": "relais-api"}


def kafka_password_file(principal: str, env: dict | None = None) -> str:
    """The password file of one of the stack's Kafka principals (relais-ingest, relais-operator…)."""
    return str(Path((env or os.environ).get("RELAIS_KAFKA_SECRETS_DIR", "")) / f"{principal}.password")


def kafka_conf(principal: str | None = None, password_file: str | None = None,
               env: dict | None = None, mechanism: str | None = None) -> dict[str, str]:
    """confluent-kafka settings that authenticate like Relais's own clients: the stack's
    administrator by default (RELAIS_KAFKA_SASL_* of `env`, default os.environ), or `principal`
    with its password file (`mechanism`: SCRAM-SHA-512 for CPAS principals). Empty on a broker
    without authentication."""
    env = env or os.environ
    proto = env.get("RELAIS_KAFKA_SECURITY_PROTOCOL", "plaintext")
    if proto.lower() == "ssl":
        return kafka_tls_conf(principal, env)
    if not proto.lower().startswith("sasl"):
        return {}
    user = principal or env.get("RELAIS_KAFKA_SASL_USERNAME", "")
    pw_file = password_file or (kafka_password_file(principal, env) if principal
                                else env.get("RELAIS_KAFKA_SASL_PASSWORD_FILE", ""))
    return {"security.protocol": proto,
            "sasl.mechanism": mechanism or env.get("RELAIS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            "sasl.username": user,
            "sasl.password": Path(pw_file).read_text().strip()}


def kafka_client_cert(principal: str, env: dict | None = None) -> tuple[str, str]:
    """The client certificate and key of a principal of the TLS stack (deploy/local/pki.sh)."""
    base = Path((env or os.environ).get("RELAIS_KAFKA_PKI_DIR", "")) / "clients" / principal
    return f"{base}.pem", f"{base}.key"


def kafka_tls_conf(principal: str | None = None, env: dict | None = None) -> dict[str, str]:
    """confluent-kafka settings of an mTLS client of the TLS stack (RELAIS_KAFKA_TLS=1): the
    administrator's certificate by default, else `principal`'s (its CN is the principal)."""
    env = env or os.environ
    cert, key = (kafka_client_cert(principal, env) if principal
                 else (env["RELAIS_KAFKA_SSL_CERT_FILE"], env["RELAIS_KAFKA_SSL_KEY_FILE"]))
    return {"security.protocol": "ssl", "ssl.ca.location": env["RELAIS_KAFKA_SSL_CA_FILE"],
            "ssl.certificate.location": cert, "ssl.key.location": key}


def service_kafka_env(name: str, env: dict | None = None) -> dict[str, str]:
    """RELAIS_KAFKA_SASL_USERNAME/PASSWORD_FILE (or, on the TLS stack, RELAIS_KAFKA_SSL_CERT_FILE/
    KEY_FILE) for service `name` (ingest, router, api, relaisctl): each runs as its own principal,
    with exactly the ACLs of deploy/kafka/acls.txt."""
    env = env or os.environ
    proto = env.get("RELAIS_KAFKA_SECURITY_PROTOCOL", "plaintext")
    if proto.lower() == "ssl" and env.get("RELAIS_KAFKA_PKI_DIR"):
        cert, key = kafka_client_cert(SERVICE_PRINCIPALS.get(name, "relais-operator"), env)
        return {"RELAIS_KAFKA_SSL_CERT_FILE": cert, "RELAIS_KAFKA_SSL_KEY_FILE": key}
    if not proto.lower().startswith("sasl") or not env.get("RELAIS_KAFKA_SECRETS_DIR"):
        return {}
    principal = SERVICE_PRINCIPALS.get(name, "relais-operator")
    return {"RELAIS_KAFKA_SASL_USERNAME": principal,
            "RELAIS_KAFKA_SASL_PASSWORD_FILE": kafka_password_file(principal, env)}


# ---------------------------------------------------------------------- stack
def stack_env(stack_dir: str | None = None) -> dict[str, str]:
    """Coordinates of the local stack, as printed by deploy/local/stack.sh env."""
    env = dict(os.environ)
    if stack_dir:
        env["RELAIS_STACK_DIR"] = stack_dir
    out = subprocess.run([str(REPO / "deploy/local/stack.sh"), "env"], env=env, check=True,
                         capture_output=True, text=True).stdout
    result = {}
    for line in out.splitlines():
        if line.startswith("export "):
            k, _, v = line[len("export "):].partition("=")
            result[k] = v.strip("'\"")
    return result


# Ports this process has handed out. A port from bind(0) is free only until someone binds it, and
# services bind theirs a moment after they start: without this set, two services started one after
# the other could be given the same port (the kernel may hand a just-closed port out again).
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port that is free now and that this process has never handed out before."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


# ------------------------------------------------------------------- services
# The logs of every service started by this process (Service.start), scanned at the end of a
# pytest session for sanitizer reports (tests/e2e/conftest.py; make test-asan).
STARTED_LOGS: list[Path] = []
# The first line of an AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer report.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", ": runtime error: ",
                   "SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_reports(paths: list[Path], context: int = 30) -> list[str]:
    """Each log among `paths` holding a sanitizer report: its name and the report's first lines."""
    found = []
    for p in dict.fromkeys(paths):
        try:
            lines = Path(p).read_text(errors="replace").splitlines()
        except FileNotFoundError:
            continue
        at = next((i for i, line in enumerate(lines) if any(m in line for m in SANITIZER_MARKS)), None)
        if at is not None:
            found.append(f"{p}:{at + 1}:\n" + "\n".join(lines[at:at + context]))
    return found


@dataclass
class Service:
    name: str               # ingest | router | api
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None
    instance: str = "0"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def http_kwargs(self) -> dict:
        """Extra `requests` arguments of the harness's own calls to the service (readiness,
        metrics): a TLS listener's CA and client certificate (tests/e2e/test_tls.py)."""
        return {}

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        STARTED_LOGS.append(self.log_path)
        # From the repository root, as `make run` does: default paths of rule and
        # code files (deploy/rules/...) are relative to it, whatever the caller's cwd.
        self.proc = subprocess.Popen([str(BUILD / "services" / f"relais-{self.name}")], env=self.env, cwd=str(REPO),
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"relais-{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                r = requests.get(self.url + "/readyz", timeout=3, **self.http_kwargs())
                if r.status_code == 200:
                    return
                last = r.text
            except requests.RequestException as e:
                last = str(e)
            time.sleep(0.1)
        raise TimeoutError(f"relais-{self.name} not ready after {timeout}s: {last}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)

    def stop(self) -> int | None:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode if self.proc else None

    def restart(self) -> None:
        self.start()
        self.wait_ready()

    def metrics(self) -> dict[str, float]:
        """Prometheus text → {'name{labels}': value}."""
        text = requests.get(self.url + "/metrics", timeout=5, **self.http_kwargs()).text
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out


@dataclass
class Relais:
    """The three services, started against a stack, each on its own free port."""
    stack: dict[str, str]
    run_dir: Path
    group_id: str = "relais-router"
    services: dict[str, Service] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

    def _env(self, port: int, **kw: str) -> dict[str, str]:
        env = dict(os.environ)
        # the stack's Kafka security settings, when the stack dict carries them (stack_env()), and
        # on a Kafka cluster the replication factor of the topics the services create
        env.update({k: v for k, v in self.stack.items()
                    if k.startswith(("RELAIS_KAFKA_S", "RELAIS_KAFKA_PKI")) or k.endswith("_REPLICATION_FACTOR")})
        env.update({
            "RELAIS_HTTP_LISTEN": f"127.0.0.1:{port}",
            "RELAIS_KAFKA_BROKERS": self.stack["RELAIS_KAFKA_BROKERS"],
            "RELAIS_PG_DSN": self.stack["RELAIS_PG_DSN"],
            "RELAIS_ROUTER_GROUP_ID": self.group_id,
            "RELAIS_ROUTER_RULES_FILE": str(REPO / "deploy/rules/clignotants.yaml"),
            "RELAIS_API_REACTION_CODES_FILE": str(REPO / "deploy/rules/reaction-codes.yaml"),
            # POST /v1/soap with the public BCSS Common XSD (var/bcss) and Relais's own XSDs.
            "RELAIS_INGEST_SOAP_ENABLED": "true",
        })
        # The PCSAAAlertReaction endpoint: tests start tests/harness/upstream_standin.py and pass
        # RELAIS_UPSTREAM_URL (and RELAIS_UPSTREAM_* tuning) in extra_env.
        env.update(self.extra_env)
        env.update(kw)
        return env

    def add(self, name: str, instance: str = "0") -> Service:
        port = free_port()
        key = name if instance == "0" else f"{name}-{instance}"
        env = self._env(port, RELAIS_ROUTER_INSTANCE_ID=instance)
        kenv = service_kafka_env(name, env)
        if "RELAIS_KAFKA_SSL_CERT_FILE" in kenv:
            # mTLS: the certificate is the principal; SASL settings inherited from the caller's
            # environment (a SASL stack's `stack.sh env`) would make the service refuse to start
            for k in ("RELAIS_KAFKA_SASL_USERNAME", "RELAIS_KAFKA_SASL_PASSWORD_FILE"):
                env.pop(k, None)
        env.update(kenv)
        svc = Service(name, port, env, self.run_dir / f"{key}.log", instance=instance)
        self.services[key] = svc
        return svc

    def start_all(self) -> "Relais":
        ensure_operator_token(self.stack["RELAIS_PG_DSN"])
        for name in ("api", "ingest", "router"):
            self.add(name).start()
        for svc in self.services.values():
            svc.wait_ready()
        return self

    def stop_all(self) -> None:
        for svc in self.services.values():
            svc.stop()

    @property
    def ingest(self) -> Service:
        return self.services["ingest"]

    @property
    def api(self) -> Service:
        return self.services["api"]

    @property
    def router(self) -> Service:
        return self.services["router"]


# -------------------------------------------------------------------- clients
def post_batch(ingest_url: str, flow: str, lines: list[str], timeout: float = 120) -> requests.Response:
    body = "\n".join(lines) + "\n"
    return requests.post(f"{ingest_url}/v1/notifications/{flow}:batch", data=body.encode(),
                         headers={"Content-Type": "application/x-ndjson"}, timeout=timeout)


def post_batch_until_accepted(ingest_url: str, flow: str, lines: list[str], deadline_s: float = 180) -> dict:
    """Posts a batch, re-posting on 429/503/connection errors (as a BCSS sender
    would: tickets make it safe) until it gets its 200 report."""
    deadline = time.time() + deadline_s
    while True:
        try:
            r = post_batch(ingest_url, flow, lines)
            if r.status_code == 200:
                return r.json()
            if r.status_code not in (429, 503):
                raise AssertionError(f"batch refused: {r.status_code} {r.text[:500]}")
            wait = float(r.headers.get("Retry-After", "1"))
        except requests.ConnectionError:
            wait = 0.5
        if time.time() > deadline:
            raise TimeoutError("batch never accepted")
        time.sleep(min(wait, 2.0))


# ------------------------------------------------------------- API credentials
# relais-api authenticates every call with a bearer token (docs/security.md). The harness issues
# them with relaisctl, as an operator would; the operator token of a run is RELAIS_API_TOKEN.
def issue_token(pg_dsn: str, name: str, scopes: list[str], expires_in: str = "1d") -> dict:
    """A new credential: scopes are "operator" and/or CBE numbers. Returns relaisctl's JSON
    (id, name, scopes, expires_at, token)."""
    args = [str(BUILD / "services" / "relaisctl"), "credentials", "create", "--name", name,
            "--expires-in", expires_in, "--json"]
    for sc in scopes:
        args += ["--operator"] if sc == "operator" else ["--cpas", sc]
    env = dict(os.environ, RELAIS_PG_DSN=pg_dsn)
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"relaisctl credentials create failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def ensure_operator_token(pg_dsn: str) -> str:
    """The run's operator token, issued once and exported as RELAIS_API_TOKEN (read by
    api_headers() and by relaisctl)."""
    if not os.environ.get("RELAIS_API_TOKEN"):
        os.environ["RELAIS_API_TOKEN"] = issue_token(pg_dsn, f"harness-operator-{os.getpid()}", ["operator"])["token"]
    return os.environ["RELAIS_API_TOKEN"]


def api_headers(token: str | None = None, **extra: str) -> dict[str, str]:
    """Authorization (default: the run's operator token) plus `extra` headers."""
    return {"Authorization": f"Bearer {token or os.environ['RELAIS_API_TOKEN']}", **extra}


def api_put_cpas(api_url: str, cbe: str, name: str, municipalities: list[str]) -> dict:
    r = requests.put(f"{api_url}/v1/cpas/{cbe}", json={"name": name, "municipalities": municipalities},
                     headers=api_headers(), timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()


def api_import(api_url: str, cbe: str, rows: list[tuple], fmt: str = "csv") -> requests.Response:
    """rows: (ssin, quality_code, start_date, end_date|None)."""
    if fmt == "csv":
        body = "ssin,quality_code,start_date,end_date\n" + "".join(
            f"{s},{q},{a},{b or ''}\n" for s, q, a, b in rows)
        ct = "text/csv"
    else:
        body = "".join(json.dumps({"ssin": s, "quality_code": q, "start_date": a, "end_date": b}) + "\n"
                       for s, q, a, b in rows)
        ct = "application/x-ndjson"
    return requests.post(f"{api_url}/v1/cpas/{cbe}/integrations:import", data=body.encode(),
                         headers=api_headers(**{"Content-Type": ct}), timeout=300)


def consume_topic(brokers: str, topic: str, idle_s: float = 3.0, max_s: float = 120.0,
                  expect: int | None = None) -> list:
    """Reads a whole topic as a read_committed consumer (no group commits);
    returns the messages once `expect` are seen (if given) and nothing new
    arrived for idle_s, or max_s passed."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({
        **kafka_conf(),
        "bootstrap.servers": brokers,
        "group.id": f"relais-test-{uuid.uuid4()}",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    try:
        md = c.list_topics(topic, timeout=10)
        if topic not in md.topics or md.topics[topic].error is not None:
            return []
        parts = [TopicPartition(topic, p, 0) for p in md.topics[topic].partitions]
        c.assign(parts)
        out = []
        start = last = time.time()
        while True:
            m = c.poll(0.2)
            now = time.time()
            if m is not None and m.error() is None:
                out.append(m)
                last = now
            done_count = expect is None or len(out) >= expect
            if done_count and now - last >= idle_s:
                break
            if now - start > max_s:
                break
        return out
    finally:
        c.close()


def headers_of(msg) -> dict[str, str]:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (msg.headers() or [])}


# ------------------------------------------------------------ notifications
NIS_CODES = ["21004", "21015", "62063", "44021", "11002", "92094", "52011", "25072"]
# Codes the 2019 and 2025 mergers ended (Borsbeek -> Antwerpen 11002, Sint-Amands -> Puurs-Sint-Amands
# 12041): the National Register may still send them; Relais derives today's municipality.
MERGED_NIS_CODES = ["11007", "12034"]


def other_ssin(rng: random.Random, ssin: str) -> str:
    """A valid SSIN other than `ssin` (a partner, a household head, a member)."""
    while True:
        other = make_ssin(rng)
        if other != ssin:
            return other


def notification(flow: str, ticket: str, ssin: str, effective_date: str, rng: random.Random,
                 event: str | None = None, **extra) -> dict:
    """A realistic, valid notification of `flow` in the JSON mapping."""
    n = {"ticket": ticket, "ssin": ssin, "effective_date": effective_date,
         "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if flow == "notify-person":
        # The National Register's own codes (docs/domain-model.md); Relais derives the deprecated
        # relais.v1 fields (country_code, civil_status, nationality_code) from them.
        ev = event or rng.choice(["ADDRESS_CHANGE", "CIVIL_STATUS_CHANGE", "NAME_CHANGE", "DEATH",
                                  "NATIONALITY_CHANGE", "ADDRESS_ABROAD", "REFERENCE_ADDRESS",
                                  "LEGAL_COHABITATION_START", "LEGAL_COHABITATION_END",
                                  "HOUSEHOLD_HEAD_CHANGE", "REGISTER_CHANGE", "TEMPORARY_ABSENCE"])
        n["event"] = ev
        n["gender_code"] = rng.choice([1, 2])
        n["birth_date"] = f"{rng.randint(1940, 2005)}-{rng.randint(1, 12):02d}-00"
        if ev in ("ADDRESS_CHANGE", "REFERENCE_ADDRESS"):
            nis = rng.choice(NIS_CODES + MERGED_NIS_CODES)
            n["address"] = {"street": "Rue de la Loi", "house_number": str(rng.randint(1, 200)),
                            "postal_code": "1000", "municipality": "Bruxelles",
                            "municipality_nis_code": nis, "country_nr_code": 150}
            n["nr_raw_value"] = f"<Address><Municipality><Code>{nis}</Code></Municipality></Address>"
        elif ev == "ADDRESS_ABROAD":
            n["address"] = {"street": "Theaterstrasse", "house_number": "5", "postal_code": "52062",
                            "municipality": "Aachen", "country_nr_code": 103}
            n["nr_information_type"] = "IT022"
        elif ev == "CIVIL_STATUS_CHANGE":
            n["civil_status_code"] = rng.choice([20, 40, 30, 60, 51])
        elif ev == "NAME_CHANGE":
            n["last_name"], n["first_names"] = "Janssens", "Marie Louise"
        elif ev == "NATIONALITY_CHANGE":
            n["nationality_nr_code"] = 150
        elif ev == "DEATH":
            n["date_of_death"] = effective_date
        elif ev in ("LEGAL_COHABITATION_START", "LEGAL_COHABITATION_END"):
            n["partner_ssin"] = other_ssin(rng, ssin)
        elif ev == "HOUSEHOLD_HEAD_CHANGE":
            n["household_head_ssin"] = other_ssin(rng, ssin)
        elif ev == "REGISTER_CHANGE":
            n["register_code"], n["previous_register_code"] = 1, 7
        elif ev == "TEMPORARY_ABSENCE":
            n["absence_end_date"] = f"{int(effective_date[:4]) + 1}-00-00"
        elif ev == "SSIN_REPLACED":
            pass  # replaces_ssin given in extra
    elif flow == "notify-family-composition":
        n["event"] = event or rng.choice(["MEMBER_ADDED", "MEMBER_REMOVED", "COMPOSITION_CHANGED"])
        n["reference_person_ssin"] = ssin
        # Tx25 FamilyRole codes: 01 head of household, 02 spouse, 03 child.
        n["members"] = [{"ssin": ssin, "role_code": 1},
                        {"ssin": other_ssin(rng, ssin), "role_code": rng.choice([2, 3]),
                         "since": f"{effective_date[:7]}-00"}]
        n["municipality_nis_code"] = rng.choice(NIS_CODES)
    elif flow == "pension-register-mutation":
        ev = event or rng.choice(["RIGHT_GRANTED", "RIGHT_CHANGED", "RIGHT_ENDED"])
        n["event"] = ev
        n["regime"] = rng.choice(["EMPLOYEE", "SELF_EMPLOYED", "CIVIL_SERVANT", "INCOME_GUARANTEE_ELDERLY"])
        n["pension_type"] = rng.choice(["RETIREMENT", "SURVIVOR"])
        n["right_start_date"] = effective_date
        if ev == "RIGHT_ENDED":
            n["right_end_date"] = effective_date
        n["monthly_gross_amount_cents"] = rng.randint(80000, 250000)
        n["paying_institution"] = "SFP"
    elif flow == "personnel-file":
        ev = event or rng.choice(["DIMONA_IN", "DIMONA_OUT", "DIMONA_UPDATE"])
        n["event"] = ev
        # An employer by CBE number or NSSO registration number; DIMONA's own worker-type codes,
        # article 60 as the CPAS's own flag (docs/domain-model.md).
        if rng.random() < 0.5:
            n["employer_cbe"] = "0403170701"
        else:
            n["employer_nsso_number"] = "123456749"
        n["employer_name"] = "Exemple SA"
        n["dimona_worker_type"] = rng.choice(["OTH", "STU", "FLX", "OTH"])
        if n["dimona_worker_type"] == "OTH" and rng.random() < 0.5:
            n["cpas_article_60"] = True
        n["joint_committee"] = "200"
        n["period_start_date"] = effective_date
        if ev == "DIMONA_OUT":
            n["period_end_date"] = effective_date
        n["dimona_period_id"] = str(rng.randint(10**9, 10**10))
    elif flow == "self-employed-career":
        ev = event or rng.choice(["CAREER_STARTED", "CAREER_ENDED", "CAREER_CHANGED"])
        n["event"] = ev
        n["category"] = rng.choice(["MAIN_ACTIVITY", "SECONDARY_ACTIVITY", "HELPER"])
        n["period_start_date"] = effective_date
        if ev == "CAREER_ENDED":
            n["period_end_date"] = effective_date
        n["social_insurance_fund"] = "Liantis"
    elif flow == "ecarmed-calculation":
        n["event"] = event or rng.choice(["CALCULATION_CREATED", "CALCULATION_UPDATED"])
        n["decision_number"] = f"MP-{rng.randint(100000, 999999)}"
        n["decision_cpas_cbe"] = "0212344876"
        n["calculation_id"] = str(uuid.uuid4())
        n["care_period_start"] = effective_date
        n["care_period_end"] = effective_date
        claimed = rng.randint(1000, 500000)
        covered = rng.randint(0, claimed)
        n["amount_claimed_cents"] = claimed
        n["amount_covered_cents"] = covered
        n["amount_cpas_cents"] = claimed - covered
        n["care_provider_id"] = "71000000"
    else:
        raise ValueError(flow)
    n.update(extra)
    return n


def sppis_clignotant(ticket: str, ssin: str, cbe: str, sppis_id: str, issued_date: str,
                     period: tuple[str, str] = ("2024-01-01", "2024-01-31"), type_code: str = "WORK_INCOME",
                     **extra) -> dict:
    """An SPP IS clignotant in the JSON mapping of the sppis-clignotant flow (docs/clignotants.md):
    deadline 60 days after `issued_date`."""
    import datetime as _dt
    deadline = _dt.date.fromisoformat(issued_date) + _dt.timedelta(days=60)
    n = {"ticket": ticket, "ssin": ssin, "effective_date": period[0], "event": "ISSUED", "sppis_id": sppis_id,
         "type_code": type_code, "cpas_cbe": cbe, "period_end": period[1], "amount_declared_cents": 0,
         "amount_observed_cents": 182500, "sources": [{"source": "DIMONA", "reference": f"DMN-{sppis_id}"}],
         "issued_date": issued_date, "deadline_date": deadline.isoformat()}
    n.update(extra)
    return n
