#!/usr/bin/env python3
"""Relais Kafka access with the Admin API (confluent-kafka): the same commands and the same
deploy/kafka/acls.txt as acls.sh, in one process and one round trip per step instead of one JVM
per ACL. acls.sh runs this when a Python with confluent_kafka is at hand (the repository's
var/venv); see acls.sh for the commands.

The administrator's credentials come from the environment, like every Relais client:
RELAIS_KAFKA_BROKERS, RELAIS_KAFKA_SECURITY_PROTOCOL, RELAIS_KAFKA_SASL_MECHANISM,
RELAIS_KAFKA_SASL_USERNAME, RELAIS_KAFKA_SASL_PASSWORD_FILE (and RELAIS_KAFKA_SSL_CA_FILE for
SASL_SSL); over SSL (mTLS), RELAIS_KAFKA_SSL_CA_FILE, RELAIS_KAFKA_SSL_CERT_FILE and
RELAIS_KAFKA_SSL_KEY_FILE. Passwords are only read from files.
"""
from __future__ import annotations

import os
import re
import secrets
import string
import sys
from pathlib import Path

from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   AdminClient, NewTopic, ResourcePatternType, ResourceType, ScramCredentialInfo,
                                   ScramMechanism, UserScramCredentialDeletion,
                                   UserScramCredentialUpsertion)

HERE = Path(__file__).resolve().parent
ACLS_FILE = HERE / "acls.txt"
TIMEOUT = 30
RESOURCES = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP,
             "transactional-id": ResourceType.TRANSACTIONAL_ID, "cluster": ResourceType.BROKER}
PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}
OPERATIONS = {"read": AclOperation.READ, "write": AclOperation.WRITE, "create": AclOperation.CREATE,
              "describe": AclOperation.DESCRIBE, "idempotentwrite": AclOperation.IDEMPOTENT_WRITE,
              "delete": AclOperation.DELETE, "alter": AclOperation.ALTER,
              "describeconfigs": AclOperation.DESCRIBE_CONFIGS}
PASSWORD_RE = re.compile(r"^[A-Za-z0-9._~+/=-]{12,}$")
APP_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# The topics Relais writes for a CPAS and its applications read (created at onboarding).
CPAS_TOPICS = ("notifications.v1", "alerts.v1")
# The replay topic (docs/subscribers.md section 6): one partition, so that a replay is read in
# routing order; relais-api publishes to it (and creates it too, when a replay comes first).
REPLAY_TOPIC = "replay.v1"


def die(msg: str) -> None:
    print(f"acls.py: {msg}", file=sys.stderr)
    sys.exit(1)


def read_password(path: str) -> str:
    try:
        pw = Path(path).read_text().splitlines()[0].strip() if Path(path).stat().st_size else ""
    except OSError as e:
        die(f"cannot read password file {path}: {e.strerror}")
    if not PASSWORD_RE.match(pw):
        die(f"{path}: the password must be at least 12 characters of [A-Za-z0-9._~+/=-]")
    return pw


def admin() -> AdminClient:
    conf = {"bootstrap.servers": os.environ.get("RELAIS_KAFKA_BROKERS", "127.0.0.1:59092"), "log_level": 3}
    proto = os.environ.get("RELAIS_KAFKA_SECURITY_PROTOCOL", "plaintext")
    conf["security.protocol"] = proto
    if proto.lower().startswith("sasl"):
        pwfile = os.environ.get("RELAIS_KAFKA_SASL_PASSWORD_FILE", "")
        if not pwfile:
            die("RELAIS_KAFKA_SASL_PASSWORD_FILE is not set")
        conf.update({"sasl.mechanism": os.environ.get("RELAIS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
                     "sasl.username": os.environ.get("RELAIS_KAFKA_SASL_USERNAME", ""),
                     "sasl.password": read_password(pwfile)})
    if os.environ.get("RELAIS_KAFKA_SSL_CA_FILE"):
        conf["ssl.ca.location"] = os.environ["RELAIS_KAFKA_SSL_CA_FILE"]
    # mTLS (the TLS stack): the administrator's client certificate is its principal
    cert, key = os.environ.get("RELAIS_KAFKA_SSL_CERT_FILE", ""), os.environ.get("RELAIS_KAFKA_SSL_KEY_FILE", "")
    if proto.lower() == "ssl" and not (cert and key):
        die("RELAIS_KAFKA_SECURITY_PROTOCOL is SSL: RELAIS_KAFKA_SSL_CERT_FILE and RELAIS_KAFKA_SSL_KEY_FILE are needed")
    if cert or key:
        for f in (cert, key):
            if not os.access(f, os.R_OK):
                die(f"cannot read {f}")
        conf.update({"ssl.certificate.location": cert, "ssl.key.location": key})
    return AdminClient(conf)


def bindings(file: Path, cbe: str | None, principal_of: str | None = None) -> list[AclBinding]:
    """The ACLs of `file`: the service lines (cbe None) or the {cbe} template lines for `cbe`
    (granted to `principal_of` instead of cpas-<cbe> when given: an application's principal)."""
    out = []
    for n, line in enumerate(file.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 5:
            die(f"{file}:{n}: malformed line: {line}")
        principal, resource, pattern, name, ops = parts
        templ = "{cbe}" in principal + name
        if templ != (cbe is not None):
            continue
        if templ:
            principal, name = principal_of or principal.replace("{cbe}", cbe), name.replace("{cbe}", cbe)
        if resource not in RESOURCES or pattern not in PATTERNS:
            die(f"{file}:{n}: unknown resource type or pattern: {line}")
        for op in ops.split(","):
            if op.lower() not in OPERATIONS:
                die(f"{file}:{n}: unknown operation {op}")
            out.append(AclBinding(RESOURCES[resource], name, PATTERNS[pattern], f"User:{principal}", "*",
                                  OPERATIONS[op.lower()], AclPermissionType.ALLOW))
    return out


def wait_all(futures: dict, what: str) -> None:
    errors = []
    for key, f in futures.items():
        try:
            f.result(timeout=TIMEOUT)
        except Exception as e:  # noqa: BLE001 - reported, then exit 1
            errors.append(f"{key}: {e}")
    if errors:
        die(f"{what} failed:\n  " + "\n  ".join(errors))


def add_acls(a: AdminClient, acls: list[AclBinding]) -> None:
    if acls:
        wait_all(a.create_acls(acls, request_timeout=TIMEOUT), "create ACLs")
    print(f"acls.py: {len(acls)} ACLs present", file=sys.stderr)


def remove_acls(a: AdminClient, acls: list[AclBinding]) -> None:
    filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
                                b.permission_type) for b in acls]
    if filters:
        wait_all(a.delete_acls(filters, request_timeout=TIMEOUT), "delete ACLs")


def set_password(a: AdminClient, principal: str, pwfile: str) -> None:
    pw = read_password(pwfile)
    mech = ScramMechanism[os.environ.get("RELAIS_SCRAM_MECHANISM", "SCRAM-SHA-512").replace("-", "_")]
    up = UserScramCredentialUpsertion(principal, ScramCredentialInfo(mech, 8192), pw.encode())
    wait_all(a.alter_user_scram_credentials([up], request_timeout=TIMEOUT), f"SCRAM user {principal}")
    print(f"acls.py: SCRAM user {principal} ({mech.name})", file=sys.stderr)


def ensure_password_file(pwfile: Path, principal: str) -> None:
    """Generates a password into `pwfile` (mode 0600) when it is missing or empty."""
    if not pwfile.exists() or pwfile.stat().st_size == 0:
        alphabet = string.ascii_letters + string.digits
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(secrets.choice(alphabet) for _ in range(32)))
        print(f"acls.py: generated a password for {principal} in {pwfile} "
              "(hand it to the CPAS over a secure channel)", file=sys.stderr)


def delete_scram_user(a: AdminClient, principal: str) -> None:
    mech = ScramMechanism[os.environ.get("RELAIS_SCRAM_MECHANISM", "SCRAM-SHA-512").replace("-", "_")]
    futures = a.alter_user_scram_credentials([UserScramCredentialDeletion(principal, mech)], request_timeout=TIMEOUT)
    for f in futures.values():
        try:
            f.result(timeout=TIMEOUT)
        except Exception as e:  # noqa: BLE001 - an absent user is what we want
            if "RESOURCE_NOT_FOUND" not in str(e) and "does not exist" not in str(e):
                die(f"delete SCRAM user {principal} failed: {e}")


def ensure_cpas_topics(a: AdminClient, cbe: str) -> None:
    """cpas.<cbe>.notifications.v1 and .alerts.v1 (RELAIS_CPAS_TOPIC_PARTITIONS, default 6;
    RELAIS_REPLICATION_FACTOR, default 1) and .replay.v1 (one partition, 7 days), left as they
    are when they exist."""
    parts = int(os.environ.get("RELAIS_CPAS_TOPIC_PARTITIONS", "6"))
    rf = int(os.environ.get("RELAIS_REPLICATION_FACTOR", "1"))
    topics = [NewTopic(f"cpas.{cbe}.{t}", parts, rf) for t in CPAS_TOPICS]
    topics.append(NewTopic(f"cpas.{cbe}.{REPLAY_TOPIC}", 1, rf, config={"retention.ms": "604800000"}))
    errors = []
    for name, f in a.create_topics(topics, request_timeout=TIMEOUT).items():
        try:
            f.result(timeout=TIMEOUT)
        except Exception as e:  # noqa: BLE001
            if "TOPIC_ALREADY_EXISTS" not in str(e) and "already exists" not in str(e):
                errors.append(f"{name}: {e}")
    if errors:
        die("create topics failed:\n  " + "\n  ".join(errors))
    print(f"acls.py: topics {', '.join(t.topic for t in topics)} present", file=sys.stderr)


def valid_app(app: str) -> str:
    if not APP_RE.fullmatch(app):
        die(f"'{app}' is not an application name (1-40 of a-z, 0-9, '-', starting with a letter or digit)")
    return app


def valid_cbe(cbe: str) -> str:
    if not re.fullmatch(r"[0-9]{10}", cbe):
        die(f"'{cbe}' is not a CBE number (10 digits)")
    return cbe


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, args = argv[0], argv[1:]
    a = admin()
    if cmd == "apply":
        add_acls(a, bindings(Path(args[0]) if args else ACLS_FILE, None))
    elif cmd == "cpas-add" and len(args) in (1, 2):
        cbe = valid_cbe(args[0])
        if len(args) < 2:
            die("cpas-add needs the password file to read (or create) as second argument")
        pwfile = Path(args[1])
        ensure_password_file(pwfile, f"cpas-{cbe}")
        set_password(a, f"cpas-{cbe}", str(pwfile))
        add_acls(a, bindings(ACLS_FILE, cbe))
    elif cmd == "cpas-remove" and len(args) == 1:
        cbe = valid_cbe(args[0])
        remove_acls(a, bindings(ACLS_FILE, cbe))
        mech = ScramMechanism[os.environ.get("RELAIS_SCRAM_MECHANISM", "SCRAM-SHA-512").replace("-", "_")]
        wait_all(a.alter_user_scram_credentials([UserScramCredentialDeletion(f"cpas-{cbe}", mech)],
                                                request_timeout=TIMEOUT), f"delete SCRAM user cpas-{cbe}")
    elif cmd == "app-add" and len(args) == 3:
        cbe, app = valid_cbe(args[0]), valid_app(args[1])
        principal = f"cpas-{cbe}-{app}"
        ensure_cpas_topics(a, cbe)
        ensure_password_file(Path(args[2]), principal)
        set_password(a, principal, args[2])
        add_acls(a, bindings(ACLS_FILE, cbe, principal))
    elif cmd == "app-remove" and len(args) == 2:
        cbe, app = valid_cbe(args[0]), valid_app(args[1])
        principal = f"cpas-{cbe}-{app}"
        remove_acls(a, bindings(ACLS_FILE, cbe, principal))
        delete_scram_user(a, principal)
        print(f"acls.py: {principal} removed (ACLs and SCRAM user)", file=sys.stderr)
    elif cmd == "set-password" and len(args) == 2:
        set_password(a, args[0], args[1])
    elif cmd == "list" and len(args) <= 1:
        principal = f"User:{args[0]}" if args else None
        f = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, principal, None, AclOperation.ANY,
                             AclPermissionType.ANY)
        for b in sorted(a.describe_acls(f, request_timeout=TIMEOUT).result(),
                        key=lambda b: (b.principal, b.restype.name, b.name, b.operation.name)):
            print(f"{b.principal:24} {b.restype.name.lower():16} {b.resource_pattern_type.name.lower():9} "
                  f"{b.name:22} {b.operation.name}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
