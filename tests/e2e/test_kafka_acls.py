"""Kafka isolation on the real broker: SASL/SCRAM authentication, the StandardAuthorizer and the
ACLs shipped in deploy/kafka (a CPAS onboarded with `deploy/kafka/acls.sh cpas-add`).

CPAS A's principal reads its own cpas.<A>.notifications.v1 in a cpas.<A>.* group, and is refused
B's topic, a group outside its prefix, the internal topics and any write. A client without
credentials, or with a wrong password, gets nothing at all. Fails (never skips) on an open broker."""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from relais_harness import REPO, kafka_conf, make_cbe

ACLS = REPO / "deploy/kafka/acls.sh"


def topic_of(cbe: str) -> str:
    return f"cpas.{cbe}.notifications.v1"


@pytest.fixture(scope="module")
def brokers(stack) -> str:
    proto = os.environ.get("RELAIS_KAFKA_SECURITY_PROTOCOL", "")
    assert proto.upper().startswith("SASL"), (
        "the broker must authenticate clients: RELAIS_KAFKA_SECURITY_PROTOCOL is "
        f"{proto!r} (export the environment of `deploy/local/stack.sh env`)")
    return stack["RELAIS_KAFKA_BROKERS"]


def run_acls(*args: str) -> None:
    p = subprocess.run([str(ACLS), *args], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, f"acls.sh {' '.join(args)} failed: {p.stdout}\n{p.stderr}"


@pytest.fixture(scope="module")
def two_cpas(brokers):
    """Two onboarded CPAS, A and B, each with one record on its notifications topic."""
    rng = random.Random()
    a, b = make_cbe(rng), make_cbe(rng)
    while b == a:
        b = make_cbe(rng)
    admin = AdminClient({**kafka_conf(), "bootstrap.servers": brokers})
    for t, f in admin.create_topics([NewTopic(topic_of(c), 1, 1) for c in (a, b)]).items():
        f.result(30)
    p = Producer({**kafka_conf(), "bootstrap.servers": brokers, "acks": "all"})
    for c in (a, b):
        p.produce(topic_of(c), key=b"k", value=f"for {c}".encode())
    assert p.flush(30) == 0
    tmp = Path(tempfile.mkdtemp(prefix="relais-acl-"))
    pw = {c: tmp / f"cpas-{c}.password" for c in (a, b)}
    for c in (a, b):
        run_acls("cpas-add", c, str(pw[c]))  # generates the password file (mode 0600)
        assert pw[c].stat().st_mode & 0o077 == 0
    yield a, b, pw
    for c in (a, b):
        run_acls("cpas-remove", c)
    admin.delete_topics([topic_of(a), topic_of(b)])


def scram(principal: str, pwfile: str) -> dict:
    """A CPAS principal's settings: SCRAM users, created at onboarding."""
    return kafka_conf(principal, pwfile, mechanism="SCRAM-SHA-512")


def cpas_conf(brokers: str, cbe: str, pwfile: Path, **extra) -> dict:
    return {**scram(f"cpas-{cbe}", str(pwfile)), "bootstrap.servers": brokers,
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "isolation.level": "read_committed", **extra}


def poll_until(c: Consumer, seconds: float = 20):
    """First record or first error of the consumer."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        return m
    return None


def test_cpas_reads_its_own_topic(brokers, two_cpas):
    a, _, pw = two_cpas
    c = Consumer(cpas_conf(brokers, a, pw[a], **{"group.id": f"cpas.{a}.app-{uuid.uuid4()}"}))
    try:
        c.subscribe([topic_of(a)])
        m = poll_until(c)
        assert m is not None, "no record from the CPAS's own topic"
        assert m.error() is None, f"own topic refused: {m.error()}"
        assert m.value() == f"for {a}".encode()
        c.commit(m, asynchronous=False)  # offsets in its own group: allowed
    finally:
        c.close()


def test_cpas_cannot_consume_another_cpas_topic(brokers, two_cpas):
    a, b, pw = two_cpas
    # subscribed in its own group: the other CPAS's topic is refused
    c = Consumer(cpas_conf(brokers, a, pw[a], **{"group.id": f"cpas.{a}.app-{uuid.uuid4()}"}))
    try:
        c.subscribe([topic_of(b)])
        m = poll_until(c)
        assert m is not None and m.error() is not None, f"A read B's topic: {m and m.value()}"
        assert m.error().code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, m.error()
    finally:
        c.close()
    # assigned directly, without a group: no record ever arrives, the metadata says why
    c = Consumer(cpas_conf(brokers, a, pw[a], **{"group.id": f"cpas.{a}.assign"}))
    try:
        c.assign([TopicPartition(topic_of(b), 0, 0)])
        m = poll_until(c, 8)
        assert m is None or m.error() is not None, f"A read B's topic: {m.value()}"
        err = c.list_topics(topic_of(b), timeout=10).topics[topic_of(b)].error
        assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
        # and B's topic is not even visible in A's metadata
        topics = c.list_topics(timeout=10).topics
        assert topic_of(a) in topics
        assert not any(t.startswith(f"cpas.{b}.") for t in topics if topics[t].error is None)
        assert not any(t.startswith("relais.") for t in topics if topics[t].error is None)
    finally:
        c.close()


def test_cpas_cannot_use_a_group_outside_its_prefix(brokers, two_cpas):
    a, b, pw = two_cpas
    for group in (f"cpas.{b}.app", f"relais-router", f"app-{uuid.uuid4()}"):
        c = Consumer(cpas_conf(brokers, a, pw[a], **{"group.id": group}))
        try:
            c.subscribe([topic_of(a)])
            m = poll_until(c)
            assert m is not None and m.error() is not None, f"A consumed in group {group}"
            assert m.error().code() == KafkaError.GROUP_AUTHORIZATION_FAILED, (group, m.error())
        finally:
            c.close()


def test_cpas_cannot_write_or_read_internal_topics(brokers, two_cpas):
    a, _, pw = two_cpas
    errors = []
    p = Producer({**scram(f"cpas-{a}", str(pw[a])), "bootstrap.servers": brokers, "acks": "all",
                  "enable.idempotence": False, "message.timeout.ms": 10000})
    for topic in ("relais.inbound.v1", topic_of(a)):
        p.produce(topic, value=b"forged", on_delivery=lambda err, msg: errors.append((msg.topic(), err)))
    p.flush(20)
    assert len(errors) == 2 and all(e is not None for _, e in errors), f"a CPAS could write: {errors}"
    assert {e.code() for _, e in errors} == {KafkaError.TOPIC_AUTHORIZATION_FAILED}, errors

    c = Consumer(cpas_conf(brokers, a, pw[a], **{"group.id": f"cpas.{a}.x"}))
    try:
        c.assign([TopicPartition("relais.inbound.v1", p, 0) for p in range(6)])
        m = poll_until(c, 8)
        assert m is None or m.error() is not None, f"A read the inbound topic: {m.value()}"
        err = c.list_topics("relais.inbound.v1", timeout=10).topics["relais.inbound.v1"].error
        assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    finally:
        c.close()


def _refused(conf: dict) -> list[KafkaError]:
    """Errors a client with `conf` gets trying to list the topics; asserts it gets no metadata."""
    errs: list[KafkaError] = []
    a = AdminClient({**conf, "error_cb": errs.append, "socket.timeout.ms": 5000, "log_level": 0})
    with pytest.raises(KafkaException):
        a.list_topics(timeout=8)
    a.poll(1)  # serves error_cb
    return errs


def test_client_without_credentials_is_refused(brokers):
    errs = _refused({"bootstrap.servers": brokers, "security.protocol": "plaintext"})
    assert errs, "no error reported"


def test_wrong_password_is_refused(brokers, two_cpas, tmp_path):
    a, _, _ = two_cpas
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password-of-this-user")
    errs = _refused({**scram(f"cpas-{a}", str(wrong)), "bootstrap.servers": brokers})
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errs), errs
    # an unknown user likewise
    errs = _refused({**scram("cpas-0000000000", str(wrong)), "bootstrap.servers": brokers})
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errs), errs
    # and a service principal (SASL/PLAIN) with a wrong password
    errs = _refused({**kafka_conf("relais-ingest", str(wrong), mechanism="PLAIN"), "bootstrap.servers": brokers})
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errs), errs
    # a CPAS principal exists only as a SCRAM user: PLAIN with its right password is refused
    errs = _refused({**kafka_conf(f"cpas-{a}", str(two_cpas[2][a]), mechanism="PLAIN"), "bootstrap.servers": brokers})
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errs), errs


def test_service_principals_are_least_privilege(brokers):
    """relais-ingest may write the inbound topic but not read it; relais-api may not write it."""
    ingest = Consumer({**kafka_conf("relais-ingest"), "bootstrap.servers": brokers,
                       "group.id": "relais-router", "auto.offset.reset": "earliest"})
    try:
        ingest.subscribe(["relais.inbound.v1"])
        m = poll_until(ingest)
        assert m is not None and m.error() is not None
        assert m.error().code() in (KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError.TOPIC_AUTHORIZATION_FAILED)
    finally:
        ingest.close()
    errors = []
    p = Producer({**kafka_conf("relais-api"), "bootstrap.servers": brokers, "enable.idempotence": False,
                  "message.timeout.ms": 10000})
    p.produce("relais.inbound.v1", value=b"x", on_delivery=lambda err, msg: errors.append(err))
    p.flush(20)
    assert errors and errors[0] is not None and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors
