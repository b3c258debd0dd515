"""The TLS stack (RELAIS_KAFKA_TLS=1, docs/operations.md "The TLS stack"): Kafka over mTLS with one
principal per service and per CPAS, PostgreSQL with sslmode=verify-full.

A stack of its own (its own dir and ports, RESET at the start, stopped at the end): the local CA and
the certificates of deploy/local/pki.sh, every Kafka listener SSL with a client certificate required,
the certificate's CN mapped to the principal names of deploy/kafka/acls.txt. CPAS A's certificate
reads A's topic and is refused B's topic (read and write) and the inbound topic (write); a client
without a certificate, or with one from another CA, is refused at the handshake; the three Relais
services run over mTLS (and over TLS to PostgreSQL) and route a notification that CPAS A's
certificate then reads; relais-ingest's client certificate replaced and SIGHUP sent: a key of another
certificate is refused (clients kept), one of another CA is read and refused by the broker, a re-issued
one makes deliveries work again, the process never restarted; the broker's certificate re-issued and read
again by `stack.sh kafka-reload-certs` (Kafka's dynamic keystore update), twice. PostgreSQL refuses a connection without TLS and one whose host name is not
in its certificate.

Ports: RELAIS_TEST_TLS_PG_PORT, RELAIS_TEST_TLS_KAFKA_PORT, RELAIS_TEST_TLS_KAFKA_CONTROLLER_PORT
(defaults: the test stack's ports + 1, + 8, + 9); dir RELAIS_TEST_TLS_STACK_DIR (default the test
stack's dir + "-tls")."""

from __future__ import annotations

import logging
import os
import random
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from e2e_util import Db, cpas_with_persons, dump_logs, ndjson, read_until, ticket_counts, wait_for
from relais_harness import (REPO, Relais, Service, ensure_operator_token, kafka_client_cert, kafka_tls_conf, make_cbe,
                            new_ticket, notification, post_batch, post_batch_until_accepted)

STACK = REPO / "deploy/local/stack.sh"
PKI = REPO / "deploy/local/pki.sh"
ACLS = REPO / "deploy/kafka/acls.sh"
INBOUND = "relais.inbound.v1"


def topic_of(cbe: str) -> str:
    return f"cpas.{cbe}.notifications.v1"


def tls_stack_env() -> dict[str, str]:
    """The environment of this module's own TLS stack (deploy/local/stack.sh)."""
    # nothing of the plain test stack's coordinates or credentials (scripts/run-tests.sh exports them)
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("RELAIS_KAFKA_", "RELAIS_PG_DSN", "RELAIS_API_TOKEN")) and k != "PGPASSFILE"}
    pg = int(e.get("RELAIS_TEST_PG_PORT", "56432"))
    kafka = int(e.get("RELAIS_TEST_KAFKA_PORT", "59192"))
    base_dir = e.get("RELAIS_TEST_STACK_DIR", str(REPO / "var/test-stack"))
    e.update({
        "RELAIS_STACK_DIR": e.get("RELAIS_TEST_TLS_STACK_DIR", base_dir + "-tls"),
        "RELAIS_PG_PORT": e.get("RELAIS_TEST_TLS_PG_PORT", str(pg + 1)),
        "RELAIS_KAFKA_PORT": e.get("RELAIS_TEST_TLS_KAFKA_PORT", str(kafka + 8)),
        "RELAIS_KAFKA_CONTROLLER_PORT": e.get("RELAIS_TEST_TLS_KAFKA_CONTROLLER_PORT", str(kafka + 9)),
        "RELAIS_KAFKA_TLS": "1",
        "RELAIS_KAFKA_NODES": "1",
    })
    e.pop("RELAIS_PKI_DIR", None)
    return e


@pytest.fixture(scope="module")
def tls():
    """The TLS stack, up (wiped first), and its `stack.sh env` (the administrator's mTLS settings)."""
    env = tls_stack_env()
    up = subprocess.run([str(STACK), "up"], env={**env, "RELAIS_STACK_RESET": "1"}, capture_output=True,
                        text=True, timeout=600)
    try:
        assert up.returncode == 0, f"TLS stack did not come up:\n{up.stderr[-4000:]}"
        assert "TLS stack: Kafka mTLS" in up.stderr and "PLAIN-TEXT" not in up.stderr, up.stderr[-2000:]
        out = subprocess.run([str(STACK), "env"], env=env, check=True, capture_output=True, text=True).stdout
        senv = dict(env)
        for line in out.splitlines():
            if line.startswith("export "):
                k, _, v = line[len("export "):].partition("=")
                senv[k] = v.strip("'")
        assert senv["RELAIS_KAFKA_SECURITY_PROTOCOL"] == "SSL"
        assert "sslmode=verify-full" in senv["RELAIS_PG_DSN"]
        # the helpers of e2e_util (read_topic...) take the administrator's settings from os.environ
        mp = pytest.MonkeyPatch()
        for k in [k for k in senv if k.startswith("RELAIS_KAFKA_S") or k == "RELAIS_KAFKA_PKI_DIR"]:
            mp.setenv(k, senv[k])
        for k in ("RELAIS_KAFKA_SASL_USERNAME", "RELAIS_KAFKA_SASL_PASSWORD_FILE", "RELAIS_KAFKA_SASL_MECHANISM",
                  "RELAIS_API_TOKEN"):
            mp.delenv(k, raising=False)
        yield senv
        mp.undo()
    finally:
        subprocess.run([str(STACK), "down"], env=env, capture_output=True, timeout=180)


def run(cmd: list[str], env: dict) -> None:
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, f"{' '.join(cmd)} failed: {p.stdout}\n{p.stderr}"


def onboard(tls: dict, cbe: str, tmp: Path) -> None:
    """A CPAS onboarded for mTLS: its client certificate (CN=cpas-<cbe>) and the {cbe} ACLs."""
    run([str(PKI), "cpas", tls["RELAIS_KAFKA_PKI_DIR"], cbe], tls)
    run([str(ACLS), "cpas-add", cbe, str(tmp / f"cpas-{cbe}.password")], tls)


def cpas_conf(tls: dict, cbe: str, **extra) -> dict:
    return {**kafka_tls_conf(f"cpas-{cbe}", tls), "bootstrap.servers": tls["RELAIS_KAFKA_BROKERS"],
            "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": "read_committed",
            **extra}


def admin_conf(tls: dict) -> dict:
    return {**kafka_tls_conf(None, tls), "bootstrap.servers": tls["RELAIS_KAFKA_BROKERS"]}


def first_message(tls: dict, cbe: str, topic: str, seconds: float = 20):
    """The first record (or error) CPAS `cbe`'s certificate gets from `topic`, subscribed in a new
    group of its own prefix (cpas.<cbe>.*), offsets committed when it is a record."""
    c = Consumer(cpas_conf(tls, cbe, **{"group.id": f"cpas.{cbe}.app-{uuid.uuid4()}"}))
    try:
        c.subscribe([topic])
        deadline = time.time() + seconds
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is not None:
                if m.error() is None:
                    c.commit(m, asynchronous=False)  # offsets in its own group: allowed
                return m
        return None
    finally:
        c.close()


@pytest.fixture(scope="module")
def two_cpas(tls, tmp_path_factory):
    """CPAS A and B onboarded (certificate, ACLs), one record on each one's topic."""
    rng = random.Random()
    a, b = make_cbe(rng), make_cbe(rng)
    while b == a:
        b = make_cbe(rng)
    tmp = tmp_path_factory.mktemp("mtls")
    admin = AdminClient(admin_conf(tls))
    for f in admin.create_topics([NewTopic(topic_of(c), 1, 1) for c in (a, b)]).values():
        f.result(30)
    p = Producer({**admin_conf(tls), "acks": "all"})
    for c in (a, b):
        p.produce(topic_of(c), key=b"k", value=f"for {c}".encode())
    assert p.flush(30) == 0
    for c in (a, b):
        onboard(tls, c, tmp)
    return a, b


def test_service_principals_are_the_certificates_cns(tls):
    """The principals of acls.txt are the CNs of the services' certificates (relais-router...)."""
    for principal in ("relais-ingest", "relais-router", "relais-api", "relais-operator", "relais-admin"):
        cert, key = kafka_client_cert(principal, tls)
        subject = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        assert subject == f"subject=CN={principal},O=Relais", subject
        assert Path(key).stat().st_mode & 0o077 == 0, f"{key} readable by others"


def test_cpas_reads_its_own_topic(tls, two_cpas):
    a, _ = two_cpas
    m = first_message(tls, a, topic_of(a))
    assert m is not None, "no record from the CPAS's own topic"
    assert m.error() is None, f"own topic refused over mTLS: {m.error()}"
    assert m.value() == f"for {a}".encode()


def test_cpas_cannot_read_another_cpas_topic(tls, two_cpas):
    a, b = two_cpas
    m = first_message(tls, a, topic_of(b))
    assert m is not None and m.error() is not None, f"A read B's topic: {m and m.value()}"
    assert m.error().code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, m.error()


def produce_error(conf: dict, topic: str) -> KafkaError | None:
    """The delivery error of one record to `topic` (None: delivered)."""
    errors: list = []
    p = Producer({**conf, "acks": "all", "message.timeout.ms": 15000})
    p.produce(topic, key=b"k", value=b"intruder", on_delivery=lambda err, _msg: errors.append(err))
    p.flush(30)
    assert len(errors) == 1, "no delivery report"
    return errors[0]


@pytest.mark.parametrize("whose", ["other", "own", "inbound"])
def test_cpas_cannot_write(tls, two_cpas, whose):
    a, b = two_cpas
    topic = {"other": topic_of(b), "own": topic_of(a), "inbound": INBOUND}[whose]
    err = produce_error({**kafka_tls_conf(f"cpas-{a}", tls), "bootstrap.servers": tls["RELAIS_KAFKA_BROKERS"]}, topic)
    assert err is not None, f"CPAS {a} wrote to {topic}"
    assert err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err


def handshake_refused(conf: dict) -> str:
    """What the client says of connections that must fail (no metadata ever comes): its errors and
    its log lines, collected until one names the TLS alert (or 20 s)."""
    said: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            said.append(record.getMessage())
    logger = logging.getLogger(f"relais-mtls-{uuid.uuid4()}")
    logger.propagate = False
    logger.addHandler(Collect())
    p = Producer({**conf, "error_cb": lambda e: said.append(str(e)), "logger": logger,
                  "socket.timeout.ms": 5000})
    with pytest.raises(KafkaException):
        p.list_topics(timeout=8)
    deadline = time.time() + 20
    while time.time() < deadline and not any("alert" in s for s in said):
        p.poll(0.5)
    return "\n".join(said)


def assert_tls_alert(said: str) -> None:
    """The broker ended the TLS handshake with an alert about the client's certificate (none, or
    not from its CA): refused before any Kafka request, not by an ACL."""
    assert "SSL" in said and "alert" in said and "certificate" in said, said[-2000:]
    assert "AUTHORIZATION" not in said, said[-2000:]


def test_client_without_certificate_is_refused(tls):
    conf = {"bootstrap.servers": tls["RELAIS_KAFKA_BROKERS"], "security.protocol": "ssl",
            "ssl.ca.location": tls["RELAIS_KAFKA_SSL_CA_FILE"]}
    assert_tls_alert(handshake_refused(conf))


def test_certificate_of_another_ca_is_refused(tls, two_cpas):
    a, _ = two_cpas
    pki = tls["RELAIS_KAFKA_PKI_DIR"]
    run([str(PKI), "foreign", pki, f"cpas-{a}"], tls)  # the very same name, by another CA
    conf = {"bootstrap.servers": tls["RELAIS_KAFKA_BROKERS"], "security.protocol": "ssl",
            "ssl.ca.location": tls["RELAIS_KAFKA_SSL_CA_FILE"],
            "ssl.certificate.location": f"{pki}/foreign/cpas-{a}.pem",
            "ssl.key.location": f"{pki}/foreign/cpas-{a}.key"}
    assert_tls_alert(handshake_refused(conf))


def test_sasl_over_plain_text_is_refused(tls):
    """The plain-text stack's way in (SASL_PLAINTEXT with the administrator's password) is gone."""
    pw = Path(tls["RELAIS_KAFKA_SECRETS_DIR"]) / "relais-admin.password"
    conf = {"bootstrap.servers": tls["RELAIS_KAFKA_BROKERS"], "security.protocol": "sasl_plaintext",
            "sasl.mechanism": "PLAIN", "sasl.username": "relais-admin", "sasl.password": pw.read_text().strip()}
    handshake_refused(conf)


def test_postgres_verify_full(tls):
    """The services' DSN (sslmode=verify-full) works over TLS; without TLS, or under a host name the
    server certificate does not carry, the connection is refused."""
    dsn = tls["RELAIS_PG_DSN"]
    assert Db(dsn).query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [["t"]]
    plain = dsn.replace("sslmode=verify-full", "sslmode=disable")
    p = subprocess.run(["psql", plain, "-X", "-Atc", "SELECT 1"], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "no encryption" in p.stderr, p.stderr
    wrong = dsn.replace("host=127.0.0.1", "hostaddr=127.0.0.1 host=relais-db.invalid")
    p = subprocess.run(["psql", wrong, "-X", "-Atc", "SELECT 1"], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "does not match host name" in p.stderr, p.stderr


@dataclass
class HttpsService(Service):
    """A Relais service whose HTTP listener is HTTPS with the local CA's server certificate."""
    ca: str = ""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def http_kwargs(self) -> dict:
        return {"verify": self.ca}


@pytest.fixture(scope="module")
def relais_tls(tls, tmp_path_factory):
    """relais-api (over HTTPS), relais-ingest and relais-router, each with its own client
    certificate for Kafka and the DSN with sslmode=verify-full."""
    run_dir = tmp_path_factory.mktemp("relais-mtls")
    pki = tls["RELAIS_KAFKA_PKI_DIR"]
    mp = pytest.MonkeyPatch()
    mp.setenv("REQUESTS_CA_BUNDLE", f"{pki}/ca.pem")  # the harness's own API calls (api_put_cpas...)
    r = Relais(stack=tls, run_dir=run_dir, extra_env={"RELAIS_LOG_LEVEL": "info"})
    try:
        ensure_operator_token(tls["RELAIS_PG_DSN"])
        for name in ("api", "ingest", "router"):
            svc = r.add(name)
            if name == "ingest":
                # its own copies of its client certificate, replaced by the SIGHUP test
                own = run_dir / "clients"
                own.mkdir(mode=0o700, exist_ok=True)
                for key in ("RELAIS_KAFKA_SSL_CERT_FILE", "RELAIS_KAFKA_SSL_KEY_FILE"):
                    svc.env[key] = str(shutil.copy2(svc.env[key], own / Path(svc.env[key]).name))
                svc.env["RELAIS_INGEST_DELIVERY_TIMEOUT_MS"] = "10000"  # a refused delivery: 503 sooner
            if name == "api":
                svc.env.update({"RELAIS_HTTP_TLS_CERT_FILE": f"{pki}/relais-api-server.pem",
                                "RELAIS_HTTP_TLS_KEY_FILE": f"{pki}/relais-api-server.key"})
                svc = r.services["api"] = HttpsService(svc.name, svc.port, svc.env, svc.log_path, ca=f"{pki}/ca.pem")
            svc.start()
        for svc in r.services.values():
            svc.wait_ready()
        yield r
    except Exception:
        dump_logs(run_dir)
        raise
    finally:
        r.stop_all()
        mp.undo()


def test_api_over_https(relais_tls, tls):
    """relais-api serves HTTPS with the local CA's certificate (http.tls.*), and nothing else."""
    api = relais_tls.api
    r = requests.get(api.url + "/healthz", verify=f"{tls['RELAIS_KAFKA_PKI_DIR']}/ca.pem", timeout=10)
    assert r.status_code == 200, r.text
    with pytest.raises(requests.exceptions.SSLError):  # a server the client does not trust
        requests.get(api.url + "/healthz", verify=requests.certs.where(), timeout=10)
    with pytest.raises(requests.ConnectionError):  # plain HTTP on the HTTPS port: no answer
        requests.get(f"http://127.0.0.1:{api.port}/healthz", timeout=10)


def test_relais_routes_over_mtls(relais_tls, tls):
    """The three services, each its own principal over mTLS, route a notification to a CPAS, whose
    certificate reads it."""
    r = relais_tls
    for name, svc in r.services.items():
        assert svc.env["RELAIS_KAFKA_SECURITY_PROTOCOL"] == "SSL"
        assert svc.env["RELAIS_KAFKA_SSL_CERT_FILE"].endswith(f"/clients/relais-{name}.pem"), name
    rng = random.Random()
    cbe, persons = cpas_with_persons(r, Db(tls["RELAIS_PG_DSN"]), rng, "CPAS e2e mTLS", 1)
    onboard(tls, cbe, r.run_dir)
    ticket = new_ticket()
    rep = post_batch_until_accepted(r.ingest.url, "personnel-file",
                                    ndjson([notification("personnel-file", ticket, persons[0], "2023-03-15", rng)]))
    assert rep["accepted"] == 1, rep
    m = wait_for(lambda: first_message(tls, cbe, topic_of(cbe), seconds=5), 120, interval=0,
                 what="the routed notification on the CPAS topic")
    assert m.error() is None, m.error()
    assert dict(m.headers() or [])["ticket"].decode() == ticket


def replace_file(src: str | Path, dst: str) -> None:
    """`dst` replaced by a copy of `src` in one rename, as a certificate renewal does."""
    tmp = f"{dst}.new"
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def serial_of(cert: str) -> str:
    return subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-serial"], capture_output=True, text=True,
                          check=True).stdout.strip()


def reloads(svc: Service) -> tuple[float, float]:
    """relais_kafka_client_reloads_total for result ok and refused."""
    m = svc.metrics()
    return (m.get('relais_kafka_client_reloads_total{result="ok"}', 0.0),
            m.get('relais_kafka_client_reloads_total{result="refused"}', 0.0))


def test_kafka_client_certificate_reloads_on_sighup(relais_tls, tls, tmp_path):
    """relais-ingest's Kafka client certificate replaced on disk, then SIGHUP, the process never
    restarted: a key that is not the certificate's is refused (clients kept, deliveries go on); a
    certificate of another CA is read (the reload counted ok) and the broker refuses the new client
    (the notification is refused with 503); a re-issued certificate of the same principal (another
    serial) makes the notification, posted again, reach the CPAS topic, once."""
    r = relais_tls
    ingest = r.ingest
    pid = ingest.proc.pid
    cert, key = ingest.env["RELAIS_KAFKA_SSL_CERT_FILE"], ingest.env["RELAIS_KAFKA_SSL_KEY_FILE"]
    assert Path(cert).parent == r.run_dir / "clients", cert
    pki = tls["RELAIS_KAFKA_PKI_DIR"]
    run([str(PKI), "foreign", pki, "relais-ingest"], tls)
    foreign_cert, foreign_key = f"{pki}/foreign/relais-ingest.pem", f"{pki}/foreign/relais-ingest.key"
    rng = random.Random()
    cbe, persons = cpas_with_persons(r, Db(tls["RELAIS_PG_DSN"]), rng, "CPAS e2e mTLS reload", 3)
    onboard(tls, cbe, r.run_dir)
    brokers = tls["RELAIS_KAFKA_BROKERS"]

    def post(i: int) -> tuple[str, list[str]]:
        ticket = new_ticket()
        return ticket, ndjson([notification("personnel-file", ticket, persons[i], "2023-03-15", rng)])

    def routed(ticket: str) -> int:
        recs = read_until(brokers, topic_of(cbe), lambda rs: ticket in ticket_counts(rs), 120)
        return ticket_counts(recs).get(ticket, 0)

    def hup_and_wait(ok: float, refused: float) -> None:
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: reloads(ingest) == (ok, refused), 20, what=f"reloads ok={ok} refused={refused}")

    ok0, refused0 = reloads(ingest)
    # 1. A key that is not the certificate's: refused, the clients in use kept.
    good_key = tmp_path / "good.key"
    shutil.copy2(key, good_key)
    replace_file(foreign_key, key)
    hup_and_wait(ok0, refused0 + 1)
    ticket, lines = post(0)
    assert post_batch_until_accepted(ingest.url, "personnel-file", lines)["accepted"] == 1
    assert routed(ticket) == 1, "not delivered with the clients kept after a refused reload"
    replace_file(good_key, key)

    # 2. A certificate (and its key) of another CA: usable files, read; the broker refuses them.
    replace_file(foreign_cert, cert)
    replace_file(foreign_key, key)
    hup_and_wait(ok0 + 1, refused0 + 1)

    def refused_delivery():
        # the counter moves on the signal; the producer's poll thread swaps its client just after
        # (a notification posted in between still goes through the old client, and is delivered)
        ticket, lines = post(1)
        rep = post_batch(ingest.url, "personnel-file", lines, timeout=60)
        assert rep.status_code in (200, 503), f"{rep.status_code} {rep.text}"
        return (ticket, lines) if rep.status_code == 503 else None
    ticket, lines = wait_for(refused_delivery, 60, interval=0.5,
                             what="a notification refused (503) with a certificate of another CA")

    # 3. A certificate of the same principal re-issued by the stack's CA (another serial).
    scratch = tmp_path / "pki"
    scratch.mkdir(mode=0o700)
    for f in ("ca.pem", "ca.key"):
        shutil.copy2(Path(pki) / f, scratch / f)
    run([str(PKI), "client", str(scratch), "relais-ingest"], tls)
    new_cert = scratch / "clients" / "relais-ingest.pem"
    assert serial_of(str(new_cert)) != serial_of(f"{pki}/clients/relais-ingest.pem")
    replace_file(new_cert, cert)
    replace_file(scratch / "clients" / "relais-ingest.key", key)
    hup_and_wait(ok0 + 2, refused0 + 1)
    rep = post_batch_until_accepted(ingest.url, "personnel-file", lines)  # the sender re-posts
    assert rep["accepted"] == 1, rep
    assert routed(ticket) == 1, "the re-posted notification did not reach the CPAS topic exactly once"
    assert ingest.proc.poll() is None and ingest.proc.pid == pid, "relais-ingest restarted"


def presented_serial(tls: dict) -> str:
    """The serial of the certificate the broker presents to a new connection (openssl s_client,
    with the administrator's client certificate)."""
    cert, key = kafka_client_cert("relais-admin", tls)
    p = subprocess.run(["openssl", "s_client", "-connect", tls["RELAIS_KAFKA_BROKERS"].split(",")[0], "-cert", cert,
                        "-key", key, "-CAfile", tls["RELAIS_KAFKA_SSL_CA_FILE"]],
                       input="", capture_output=True, text=True, timeout=30)
    begin, end = p.stdout.find("-----BEGIN CERTIFICATE-----"), p.stdout.find("-----END CERTIFICATE-----")
    assert begin >= 0 and end > begin, f"no certificate presented: {p.stdout[-1000:]}\n{p.stderr[-1000:]}"
    pem = p.stdout[begin:end + len("-----END CERTIFICATE-----")] + "\n"
    return subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_broker_certificate_reloads_without_restart(tls, relais_tls):
    """The broker's certificate re-issued (pki.sh: another serial, same subject and SANs), then
    `stack.sh kafka-reload-certs` (Kafka's dynamic keystore update): new connections get the new
    certificate, twice in a row (the same keystore path each time), and not before the command;
    the services keep routing."""
    pki = Path(tls["RELAIS_KAFKA_PKI_DIR"])
    for _ in range(2):
        before = presented_serial(tls)
        assert before == serial_of(str(pki / "kafka-broker.pem"))
        for f in ("kafka-broker.pem", "kafka-broker.p12"):
            (pki / f).unlink()
        run([str(PKI), "init", str(pki)], tls)  # remakes what is missing
        new = serial_of(str(pki / "kafka-broker.pem"))
        assert new != before
        assert presented_serial(tls) == before, "the broker read its keystore before being asked"
        run([str(STACK), "kafka-reload-certs"], tls)
        wait_for(lambda: presented_serial(tls) == new, 30, interval=1, what="the re-issued broker certificate")
    test_relais_routes_over_mtls(relais_tls, tls)
