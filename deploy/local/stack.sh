#!/usr/bin/env bash
# Relais local stack: a PostgreSQL 15 cluster and Apache Kafka (KRaft, combined
# broker+controller nodes: one by default, three with RELAIS_KAFKA_NODES=3), all living
# entirely under $RELAIS_STACK_DIR and listening on loopback only (127.0.0.1; a cluster's
# nodes on 127.0.0.11-13). Kafka authenticates every client (SASL: SCRAM-SHA-512, and
# PLAIN for Relais's own services) and authorizes with the KRaft StandardAuthorizer and the
# ACLs of deploy/kafka/acls.txt; the passwords are generated at the first 'up' under
# $RELAIS_STACK_DIR/secrets/kafka. PostgreSQL authenticates with SCRAM-SHA-256 (no trust, not
# even on loopback: any local user could otherwise mint an operator token); the password is
# generated at the first 'up' under $RELAIS_STACK_DIR/secrets/pg, with a libpq passfile that
# the DSN names (passfile=...), so the password is never in the DSN, a log or a command line.
# See deploy/local/README.md.
#
#   stack.sh up        start (idempotent), wait until ready, create and check topics, migrate
#   stack.sh down      stop both (every Kafka node)
#   stack.sh status    show state (exit 0 when all are up, 3 otherwise)
#   stack.sh psql ...  psql on the local database (extra args passed through)
#   stack.sh migrate   apply pending migrations/NNNN_name.sql
#   stack.sh env       print `export` lines (RELAIS_PG_DSN, RELAIS_KAFKA_BROKERS, Kafka credentials...)
#   stack.sh logs      print where the logs are
#   stack.sh kafka-restart | kafka-kill | kafka-start    the broker alone (kafka-kill: SIGKILL,
#                                                         left down); for the fault suite
#   stack.sh pg-restart                                   PostgreSQL alone (fast shutdown, start)
#   stack.sh pg-crash                                     PostgreSQL alone (immediate stop: a crash, recovery at the start)
#   stack.sh pg-kill | pg-pids                            SIGKILL of every PostgreSQL process, then start / their pids
#   stack.sh kafka-kill-node N | kafka-start-node N       one node of a cluster (SIGKILL, left down / start)
#   stack.sh kafka-reload-certs                           the TLS stack: every broker reads its keystore again
#                                                         (kafka-broker.p12, e.g. re-issued by pki.sh), no restart
#   stack.sh topics-check                                 every Relais topic against the replication policy
#   stack.sh pg-clock OFFSET                              PostgreSQL's clock set OFFSET seconds off (+300, -120,
#                                                         +0); needs RELAIS_PG_FAKETIME=1
#   stack.sh kafka-disk-fill N | kafka-disk-free N        fill node N's data filesystem (a ballast file) / empty it
#                                                         again; needs RELAIS_KAFKA_DISK_MB
#
# RELAIS_KAFKA_NODES=3: three combined broker+controller nodes (a static quorum of three voters),
# node N on the loopback address 127.0.0.(10+N), ports RELAIS_KAFKA_PORT / RELAIS_KAFKA_CONTROLLER_PORT
# + 10*(N-1) (or the comma-separated lists RELAIS_KAFKA_HOSTS, RELAIS_KAFKA_PORTS,
# RELAIS_KAFKA_CONTROLLER_PORTS); replication factor 3, min.insync.replicas 2, unclean leader
# election off for every topic (docs/operations.md).
#
# RELAIS_KAFKA_DISK_MB=N (the cluster fault suite): each node's data directory is a filesystem of
# its own, N MiB (ext4 in a sparse image file, kafka-N/data.img, loop-mounted; root only), so that
# one node's disk can be filled while the others' are not (kafka-disk-fill); 'down' unmounts it.
#
# RELAIS_PG_FAKETIME=1 (the cluster fault suite): PostgreSQL runs under libfaketime (Debian's
# faketime), its wall clock offset by what pg-clock last wrote (pg/clock, re-read every second):
# the database host's clock off from the services' while everything runs.
#
# RELAIS_KAFKA_TLS=1 (make stack-up TLS=1): the TLS stack. deploy/local/pki.sh makes a local CA and
# the certificates under $RELAIS_PKI_DIR (default $RELAIS_STACK_DIR/pki); every Kafka listener is
# SSL (clients: mTLS, ssl.client.auth=required, the certificate's CN is the principal, so the ACLs
# of deploy/kafka/acls.txt apply unchanged; the controller and inter-broker links: the brokers'
# own certificate, principal relais-broker); PostgreSQL takes TLS connections only (hostssl) and
# the DSN says sslmode=verify-full. Without it the listeners are plain text: for `make run` on one
# machine only, and 'up' says so loudly.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

STACK_DIR="${RELAIS_STACK_DIR:-$REPO/var/stack}"
PG_PORT="${RELAIS_PG_PORT:-55432}"
KAFKA_PORT="${RELAIS_KAFKA_PORT:-59092}"
KAFKA_CONTROLLER_PORT="${RELAIS_KAFKA_CONTROLLER_PORT:-59093}"
INBOUND_PARTITIONS="${RELAIS_INBOUND_PARTITIONS:-6}"
KAFKA_LIBS="${RELAIS_KAFKA_LIBS:-$REPO/var/kafka-libs${RELAIS_KAFKA_VERSION:+-$RELAIS_KAFKA_VERSION}}"
KAFKA_NODES="${RELAIS_KAFKA_NODES:-1}"
[[ "$KAFKA_NODES" =~ ^[1-5]$ ]] || { echo "[stack] ERROR: RELAIS_KAFKA_NODES must be 1 to 5 (got '$KAFKA_NODES')" >&2; exit 1; }
# The replication policy follows the cluster: 3 replicas (fewer nodes: one per node) and
# min.insync.replicas = replicas - 1, so a write survives one node lost and is refused (not
# acknowledged) when two are.
if ((KAFKA_NODES >= 3)); then TOPIC_RF=3; TOPIC_MIN_ISR=2; else TOPIC_RF=$KAFKA_NODES; TOPIC_MIN_ISR=1; fi
if ((KAFKA_NODES > 1)); then KAFKA_HEAP="${RELAIS_KAFKA_HEAP:-512m}"; else KAFKA_HEAP="${RELAIS_KAFKA_HEAP:-1g}"; fi
# The TLS mode a stack was brought up in is kept in its dir, so that 'env', 'status' and the
# single-component commands need not be told again.
KAFKA_TLS="${RELAIS_KAFKA_TLS:-$(cat "$STACK_DIR/tls.mode" 2>/dev/null || echo 0)}"
[[ "$KAFKA_TLS" =~ ^[01]$ ]] || { echo "[stack] ERROR: RELAIS_KAFKA_TLS must be 0 or 1 (got '$KAFKA_TLS')" >&2; exit 1; }
MIGRATIONS_DIR="${RELAIS_MIGRATIONS_DIR:-$REPO/migrations}"
PG_BIN="${RELAIS_PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_OS_USER="${RELAIS_PG_OS_USER:-postgres}" # only used when running as root
PG_WAIT_S="${RELAIS_PG_WAIT_S:-60}"
PG_BIND_ATTEMPTS="${RELAIS_PG_BIND_ATTEMPTS:-4}"
[[ "$PG_BIND_ATTEMPTS" =~ ^[1-9]$ ]] || { echo "[stack] ERROR: RELAIS_PG_BIND_ATTEMPTS must be 1 to 9 (got '$PG_BIND_ATTEMPTS')" >&2; exit 1; }
# Extra postgresql.conf settings for this stack, one "name = value" per line (or separated by ';'),
# e.g. a server's sizing to measure against the defaults (docs/operations.md, "PostgreSQL for the journal").
PG_SETTINGS="$(tr ';' '\n' <<<"${RELAIS_PG_SETTINGS:-}" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | grep -v '^$' || true)"
while IFS= read -r l; do
  [[ -z "$l" || "$l" =~ ^[a-z_]+[[:space:]]*=[[:space:]]*[A-Za-z0-9_.]+$ ]] ||
    { echo "[stack] ERROR: RELAIS_PG_SETTINGS: each setting must be 'name = value' (got '$l')" >&2; exit 1; }
  # what the stack itself sets (where it listens, TLS, authentication) is not for this
  [[ ! "${l%%[[:space:]=]*}" =~ ^(listen_addresses|port|unix_socket_.*|ssl.*|hba_file|ident_file|password_encryption|include.*)$ ]] ||
    { echo "[stack] ERROR: RELAIS_PG_SETTINGS: '${l%%[[:space:]=]*}' is set by the stack itself" >&2; exit 1; }
done <<<"$PG_SETTINGS"
PORT_WAIT_S="${RELAIS_PORT_WAIT_S:-90}"
[[ "$PORT_WAIT_S" =~ ^[0-9]+$ ]] || { echo "[stack] ERROR: RELAIS_PORT_WAIT_S must be a number of seconds (got '$PORT_WAIT_S')" >&2; exit 1; }
KAFKA_WAIT_S="${RELAIS_KAFKA_WAIT_S:-120}"
KAFKA_STOP_WAIT_S=30
KAFKA_DISK_MB="${RELAIS_KAFKA_DISK_MB:-}"
[[ -z "$KAFKA_DISK_MB" || "$KAFKA_DISK_MB" =~ ^[1-9][0-9]{2,6}$ ]] || { echo "[stack] ERROR: RELAIS_KAFKA_DISK_MB must be a size in MiB, 100 or more (got '$KAFKA_DISK_MB')" >&2; exit 1; }

DB_NAME=relais
DB_USER=relais

PG_DIR="$STACK_DIR/pg"
PG_DATA="$PG_DIR/data"
PG_SOCK="$PG_DIR/run"
PG_LOG="$PG_DIR/log/postgresql.log"
PG_CLOCK="$PG_DIR/clock" # RELAIS_PG_FAKETIME=1: the server's clock offset (libfaketime)

# Kafka node 1 lives in $STACK_DIR/kafka (the single broker's place) and holds what the nodes
# share (the administrator's and the tools' settings, the stamps, the cluster id); node N > 1 in
# $STACK_DIR/kafka-N. use_node N points the K_* variables below at node N.
K1_DIR="$STACK_DIR/kafka"
K_TOOLS_LOG4J="$K1_DIR/config/tools-log4j2.properties"
K_TOPICS_STAMP="$K1_DIR/topics.stamp"
K_ACLS_STAMP="$K1_DIR/acls.stamp"
K_ADMIN_CONF="$K1_DIR/config/admin.properties"
K_CLUSTER_ID="$K1_DIR/cluster.id"
K_NODES_STAMP="$K1_DIR/nodes.stamp"
K_TOOLS_LOG="$K1_DIR/logs/tools.log"
TOPICS_FILE="$REPO/deploy/kafka/topics.txt"
K_DIRS=() K_PORTS=() K_CPORTS=() K_HOSTS=()
IFS=, read -r -a _hosts <<<"${RELAIS_KAFKA_HOSTS:-}"
IFS=, read -r -a _ports <<<"${RELAIS_KAFKA_PORTS:-}"
IFS=, read -r -a _cports <<<"${RELAIS_KAFKA_CONTROLLER_PORTS:-}"
for ((n = 1; n <= KAFKA_NODES; n++)); do
  if ((n == 1)); then K_DIRS[n]="$K1_DIR"; else K_DIRS[n]="$STACK_DIR/kafka-$n"; fi
  # A cluster's node N listens on a loopback address of its own, 127.0.0.(10+N): clients connect
  # from 127.0.0.1, so that no client retrying a stopped node's port (in Linux's ephemeral range)
  # can take that very address and port as its own local end (a TCP self-connection), nor can
  # any outgoing connection's local port: either made the node's bind fail at its restart.
  if ((KAFKA_NODES == 1)); then K_HOSTS[n]="${_hosts[0]:-127.0.0.1}"; else K_HOSTS[n]="${_hosts[n - 1]:-127.0.0.$((10 + n))}"; fi
  K_PORTS[n]="${_ports[n - 1]:-$((KAFKA_PORT + 10 * (n - 1)))}"
  K_CPORTS[n]="${_cports[n - 1]:-$((KAFKA_CONTROLLER_PORT + 10 * (n - 1)))}"
done
unset _hosts _ports _cports n
# A stack brought up with more nodes than RELAIS_KAFKA_NODES says now: 'down' stops those too.
ALL_NODES=()
for ((n = 1; n <= KAFKA_NODES; n++)); do ALL_NODES+=("$n"); done
for d in "$STACK_DIR"/kafka-[2-9]; do
  n="${d##*-}"
  [[ -d "$d" ]] && ((n > KAFKA_NODES)) && K_DIRS[n]="$d" && ALL_NODES+=("$n")
done
unset d n
use_node() { # N: the K_* variables of node N
  K_NODE="$1"
  K_DIR="${K_DIRS[$1]}"
  K_DATA="$K_DIR/data"
  K_CONF="$K_DIR/config"
  K_LOGDIR="$K_DIR/logs"
  K_PROPS="$K_CONF/server.properties"
  K_LOG4J="$K_CONF/log4j2.properties"
  K_PID="$K_DIR/kafka.pid"
  K_OUT="$K_LOGDIR/kafka.out"
  K_NODE_PORT="${K_PORTS[$1]}"
  K_NODE_CPORT="${K_CPORTS[$1]}"
  K_NODE_HOST="${K_HOSTS[$1]:-127.0.0.1}"
}
use_node 1
SECRETS_DIR="$STACK_DIR/secrets/kafka"
PG_SECRETS_DIR="$STACK_DIR/secrets/pg"
PG_PASSWORD_FILE="$PG_SECRETS_DIR/relais.password"
PG_PASSFILE="$PG_SECRETS_DIR/pgpass" # libpq passfile (mode 0600), named by the DSN
ACLS_FILE="$REPO/deploy/kafka/acls.txt"
# Kafka principals of the stack (each a SCRAM user and a PLAIN user): the broker itself (inter-broker and controller links), the
# administrator (this script, the tests' own clients), one per service and the operator (relaisctl).
# All but relais-broker/relais-admin get exactly the ACLs of deploy/kafka/acls.txt.
KAFKA_PRINCIPALS=(relais-broker relais-admin relais-ingest relais-router relais-api relais-operator)
KAFKA_SUPER_USERS="User:relais-broker;User:relais-admin"
SASL_MECHANISM=SCRAM-SHA-512

PKI_DIR="${RELAIS_PKI_DIR:-$STACK_DIR/pki}"
PG_TLS_DIR="$PG_DIR/tls" # the server's certificate and key, owned by the cluster's OS user

PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=$DB_NAME user=$DB_USER passfile=$PG_PASSFILE"
# TLS stack: the server's certificate must be from the local CA and name the host connected to
if ((KAFKA_TLS)); then PG_DSN+=" sslmode=verify-full sslrootcert=$PKI_DIR/ca.pem"; fi
export PGPASSFILE="$PG_PASSFILE" # this script's own psql calls
KAFKA_BROKERS="${K_HOSTS[1]}:${K_PORTS[1]}"
for ((n = 2; n <= KAFKA_NODES; n++)); do KAFKA_BROKERS+=",${K_HOSTS[n]}:${K_PORTS[n]}"; done

log() { printf '[stack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers ---

as_pg() { # run a PostgreSQL server binary; postgres refuses to run as root
  local clock=()
  if [[ "${RELAIS_PG_FAKETIME:-0}" == 1 ]]; then # the server inherits it from pg_ctl
    local lib
    lib="$(compgen -G '/usr/lib/*/faketime/libfaketime.so.1' | head -1)"
    [[ -n "$lib" ]] || die "RELAIS_PG_FAKETIME=1 needs libfaketime (Debian package faketime: scripts/install-deps.sh)"
    mkdir -p "$PG_DIR"
    [[ -f "$PG_CLOCK" ]] || echo "+0" >"$PG_CLOCK"
    chmod 644 "$PG_CLOCK"
    # the offset file re-read every second; monotonic clocks (timeouts, latches) left alone
    clock=(env "LD_PRELOAD=$lib" "FAKETIME_TIMESTAMP_FILE=$PG_CLOCK" FAKETIME_CACHE_DURATION=1 FAKETIME_DONT_FAKE_MONOTONIC=1)
  fi
  if [[ $EUID -eq 0 ]]; then
    runuser -u "$PG_OS_USER" -- "${clock[@]}" "$@"
  else
    "${clock[@]}" "$@"
  fi
}

cmd_pg_clock() { # OFFSET: +N / -N seconds; the server's processes read it within a second
  [[ "${RELAIS_PG_FAKETIME:-0}" == 1 ]] || die "pg-clock needs a stack brought up with RELAIS_PG_FAKETIME=1"
  [[ "${1:-}" =~ ^[+-][0-9]{1,6}$ ]] || die "pg-clock: an offset in seconds expected, like +300 or -120 (got '${1:-}')"
  echo "$1" >"$PG_CLOCK.tmp" && chmod 644 "$PG_CLOCK.tmp" && mv "$PG_CLOCK.tmp" "$PG_CLOCK"
  log "postgres: clock offset $1 s"
}

port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; } # port [host]

# A listening socket on port $1, seen without connecting to it: a connect to a port of the
# ephemeral range where nobody listens yet may take that very port as its own local end (a TCP
# self-connection), which holds it and makes the broker's bind fail.
port_listening() { # port [host]
  if command -v ss >/dev/null; then [[ -n "$(ss -ltnH "( src ${2:-127.0.0.1}:$1 )" 2>/dev/null)" ]]; else port_open "$@"; fi
}

# Our ports lie in Linux's ephemeral range (32768-60999): an outgoing connection of any process
# may hold one as its local port for a while, and a server then fails to bind it ("Address
# already in use"). Waits (up to RELAIS_PORT_WAIT_S, 90 s) until no socket uses port $1 as its local port. With $2 =
# lenient, sockets in TIME-WAIT are not waited for: after the broker itself closed its
# connections (a restart), they hold its port for up to 60 s, and the JVM's listening socket
# (SO_REUSEADDR) binds past them; a bind failure is retried strictly (kafka_up).
wait_port_unused() { # port [lenient|strict] [host]
  command -v ss >/dev/null || return 0
  local deadline=$((SECONDS + PORT_WAIT_S)) said="" filter=() sel="( sport = :$1 )"
  [[ "${2:-}" == lenient ]] && filter=(exclude time-wait)
  [[ -n "${3:-}" && "$3" != 127.0.0.1 ]] && sel="( src $3:$1 )"
  while [[ -n "$(ss -tanH "${filter[@]}" "$sel" 2>/dev/null | grep -v LISTEN)" ]]; do
    [[ -n "$said" ]] || { log "port $1 is held by a client connection's local end; waiting for it to close"; said=1; }
    ((SECONDS < deadline)) || { log "port $1 still held after $PORT_WAIT_S s; trying anyway"; return 0; }
    sleep 0.5
  done
}

pg_running() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d "$DB_NAME" -U "$DB_USER" -t 2; }

kafka_pid() { # prints the pid if our Kafka process is alive
  [[ -f "$K_PID" ]] || return 1
  local pid
  pid="$(cat "$K_PID" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # guard against pid reuse: must be a java running kafka.Kafka with our config
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $K_PROPS" || return 1
  echo "$pid"
}

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then echo "$JAVA_HOME/bin/java"; else command -v java || die "java not found (run scripts/install-deps.sh)"; fi
}

secret() { cat "$SECRETS_DIR/$1.password"; }

plain_users() { # the static SASL/PLAIN users of the client listener: every stack principal
  local p
  for p in "${KAFKA_PRINCIPALS[@]}"; do printf 'user_%s="%s" ' "$p" "$(secret "$p")"; done
}

kafka_secrets() { # one random password per principal, generated once, mode 0600
  (umask 077 && mkdir -p "$SECRETS_DIR")
  chmod 700 "$STACK_DIR/secrets" "$SECRETS_DIR"
  local p f
  for p in "${KAFKA_PRINCIPALS[@]}"; do
    f="$SECRETS_DIR/$p.password"
    [[ -s "$f" ]] && continue
    (umask 077 && random_password >"$f.tmp" && mv "$f.tmp" "$f")
  done
}

random_password() { local pw; pw="$(head -c 48 /dev/urandom | base64 | LC_ALL=C tr -dc 'A-Za-z0-9')"; printf '%s' "${pw:0:32}"; }

pg_secrets() { # the database password and its passfile, generated once, mode 0600
  if [[ -f "$PG_DATA/PG_VERSION" && ! -s "$PG_PASSWORD_FILE" ]] && ! pg_trusting; then
    die "the password of $PG_DATA is gone ($PG_PASSWORD_FILE): run 'RELAIS_STACK_RESET=1 $0 up' once"
  fi
  (umask 077 && mkdir -p "$PG_SECRETS_DIR")
  chmod 700 "$STACK_DIR/secrets" "$PG_SECRETS_DIR"
  if [[ ! -s "$PG_PASSWORD_FILE" ]]; then
    (umask 077 && random_password >"$PG_PASSWORD_FILE.tmp" && mv "$PG_PASSWORD_FILE.tmp" "$PG_PASSWORD_FILE")
  fi
  # any host and port: the fault suite and the e2e outage test reach the database through a relay
  (umask 077 && printf '*:*:*:%s:%s\n' "$DB_USER" "$(cat "$PG_PASSWORD_FILE")" >"$PG_PASSFILE.tmp" &&
    mv "$PG_PASSFILE.tmp" "$PG_PASSFILE")
}

pg_hba_scram() { # pg_hba.conf of the stack: SCRAM-SHA-256 for everyone, loopback + own socket only
  local host=host
  if ((KAFKA_TLS)); then host=hostssl; fi # the TLS stack: no TCP connection without TLS
  cat >"$PG_DATA/pg_hba.conf.tmp" <<EOF
# Relais local stack: password (SCRAM-SHA-256) for every connection, loopback + the stack's own
# unix socket only. The password: $PG_PASSWORD_FILE (passfile $PG_PASSFILE).
local   all   all                  scram-sha-256
$host    all   all   127.0.0.1/32   scram-sha-256
EOF
  if [[ $EUID -eq 0 ]]; then chown "$PG_OS_USER": "$PG_DATA/pg_hba.conf.tmp"; fi
  mv "$PG_DATA/pg_hba.conf.tmp" "$PG_DATA/pg_hba.conf"
}

kafka_tool() { # run a Kafka CLI class with a quiet, fast-starting JVM
  "$(java_bin)" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto \
    -Dlog4j2.configurationFile="$K_TOOLS_LOG4J" -cp "$KAFKA_LIBS/*" "$@"
}

tail_log() { # file, label
  [[ -f "$1" ]] || return 0
  printf -- '----- last lines of %s (%s) -----\n' "$2" "$1" >&2
  tail -n "${3:-40}" "$1" >&2 || true
  printf -- '-----\n' >&2
}

check_ports_differ() {
  local all
  all="$(printf '%s\n' "$PG_PORT" "${K_PORTS[@]}" "${K_CPORTS[@]}")"
  [[ "$(sort -u <<<"$all" | wc -l)" == "$(wc -l <<<"$all")" ]] ||
    die "RELAIS_PG_PORT, RELAIS_KAFKA_PORT and RELAIS_KAFKA_CONTROLLER_PORT (and each Kafka node's ports: $(tr '\n' ' ' <<<"$all")) must differ"
}

# ------------------------------------------------------------- PostgreSQL ---

pg_init() {
  [[ -x "$PG_BIN/initdb" ]] || die "$PG_BIN/initdb not found (run scripts/install-deps.sh)"
  mkdir -p "$PG_DIR"
  pg_secrets
  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    log "postgres: initdb in $PG_DATA"
    rm -rf "$PG_DATA"
    mkdir -p "$PG_DATA" "$PG_SOCK" "$(dirname "$PG_LOG")"
    if [[ $EUID -eq 0 ]]; then
      chown -R "$PG_OS_USER": "$PG_DIR"
      runuser -u "$PG_OS_USER" -- test -w "$PG_DATA" ||
        die "user '$PG_OS_USER' cannot write $PG_DATA: every parent of RELAIS_STACK_DIR must be traversable (o+x), e.g. chmod 755 on a mktemp -d dir"
    fi
    chmod 700 "$PG_DATA"
    # initdb reads the password from a file the cluster's OS user can read, removed at once
    local pwfile="$PG_DIR/initdb.pw"
    (umask 077 && cp "$PG_PASSWORD_FILE" "$pwfile")
    if [[ $EUID -eq 0 ]]; then chown "$PG_OS_USER": "$pwfile"; fi
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$DB_USER" --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 \
      --locale=C.UTF-8 >"$PG_DIR/log/initdb.log" 2>&1 ||
      { rm -f "$pwfile"; tail_log "$PG_DIR/log/initdb.log" initdb; die "initdb failed"; }
    rm -f "$pwfile"
    pg_hba_scram
    echo "include_if_exists = 'relais.conf'" >>"$PG_DATA/postgresql.conf"
  fi
  pg_trusting || pg_hba_scram # TCP with or without TLS (RELAIS_KAFKA_TLS), as this 'up' says
  # regenerated on every start so that port changes are honoured
  local tmp="$PG_DATA/relais.conf.tmp"
  cat >"$tmp" <<EOF
# generated by deploy/local/stack.sh -- do not edit
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 200
shared_buffers = 128MB
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  [[ -z "$PG_SETTINGS" ]] || printf '# RELAIS_PG_SETTINGS\n%s\n' "$PG_SETTINGS" >>"$tmp"
  if ((KAFKA_TLS)); then # the server certificate of the local CA; the key readable by the server only
    (umask 077 && mkdir -p "$PG_TLS_DIR" && cp "$PKI_DIR/pg-server.pem" "$PKI_DIR/pg-server.key" "$PG_TLS_DIR/")
    if [[ $EUID -eq 0 ]]; then chown -R "$PG_OS_USER": "$PG_TLS_DIR"; fi
    printf "ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\nssl_min_protocol_version = 'TLSv1.2'\n" \
      "$PG_TLS_DIR/pg-server.pem" "$PG_TLS_DIR/pg-server.key" >>"$tmp"
  fi
  if [[ $EUID -eq 0 ]]; then chown "$PG_OS_USER": "$tmp"; fi
  mv "$tmp" "$PG_DATA/relais.conf"
}

pg_trusting() { grep -Eq '^[^#]*[[:space:]]trust[[:space:]]*$' "$PG_DATA/pg_hba.conf"; }

pg_require_password() { # a cluster made when the stack trusted loopback: switch it to SCRAM
  pg_trusting || return 0
  log "postgres: switching from trust to SCRAM-SHA-256 password authentication"
  # the password on psql's stdin, not on a command line
  printf "SET password_encryption = 'scram-sha-256';\nALTER ROLE \"%s\" PASSWORD '%s';\n" \
    "$DB_USER" "$(cat "$PG_PASSWORD_FILE")" | psql_q -d postgres -f - >/dev/null
  pg_hba_scram
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" reload >/dev/null
}

# pg_ctl start; started again when the port was taken at bind time: a client connection may take
# it as its local end between wait_port_unused and the bind (Kafka's start does the same,
# kafka_node_retry). Only a bind failure is retried, and at most PG_BIND_ATTEMPTS times in all.
pg_start() {
  local attempt=1 size
  while :; do
    size="$(stat -c %s "$PG_LOG" 2>/dev/null || echo 0)"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$PG_WAIT_S" start >/dev/null && return 0
    if ((attempt < PG_BIND_ATTEMPTS)) && tail -c "+$((size + 1))" "$PG_LOG" 2>/dev/null | grep -q "Address already in use"; then
      attempt=$((attempt + 1))
      log "postgres: port $PG_PORT was taken at bind time; starting again (attempt $attempt of $PG_BIND_ATTEMPTS)"
      wait_port_unused "$PG_PORT" strict
      sleep 1
      continue
    fi
    tail_log "$PG_LOG" postgres
    die "postgres did not start"
  done
}

pg_up() {
  if pg_running; then
    pg_ready || die "postgres is running (pid file in $PG_DATA) but not answering on 127.0.0.1:$PG_PORT -- was the port changed? run '$0 down' first"
    log "postgres: already running on 127.0.0.1:$PG_PORT"
    pg_secrets
    pg_require_password
    return 0
  fi
  if port_open "$PG_PORT"; then die "port 127.0.0.1:$PG_PORT is already in use by something else (set RELAIS_PG_PORT)"; fi
  pg_init
  if [[ ${#PG_SOCK} -gt 90 ]]; then die "unix socket dir path too long (${#PG_SOCK} chars): $PG_SOCK -- use a shorter RELAIS_STACK_DIR"; fi
  log "postgres: starting on 127.0.0.1:$PG_PORT"
  wait_port_unused "$PG_PORT" lenient   # postgres binds with SO_REUSEADDR
  pg_start
  local deadline=$((SECONDS + PG_WAIT_S))
  until pg_ready; do
    ((SECONDS < deadline)) || { tail_log "$PG_LOG" postgres; die "postgres not ready after ${PG_WAIT_S}s"; }
    sleep 0.2
  done
  pg_require_password
  if ! psql_q -d postgres -tAc "select 1 from pg_database where datname='$DB_NAME'" | grep -q 1; then
    log "postgres: creating database $DB_NAME"
    psql_q -d postgres -c "create database $DB_NAME" >/dev/null
  fi
}

pg_down() {
  if pg_running; then
    log "postgres: stopping"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
  else
    log "postgres: not running"
  fi
}

pg_crash() { # what a crash of the primary does: no checkpoint, crash recovery at the next start
  if pg_running; then
    log "postgres: immediate stop (crash)"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 60 stop >/dev/null
  fi
}

pg_pids() { # the postmaster and every process it started
  local pm
  pm="$(head -1 "$PG_DATA/postmaster.pid" 2>/dev/null)" || return 0
  [[ "$pm" =~ ^[0-9]+$ ]] && kill -0 "$pm" 2>/dev/null || return 0
  echo "$pm"
  pgrep -P "$pm" || true
}

pg_kill() { # the primary's host losing it: SIGKILL of every PostgreSQL process at once
  local pids
  mapfile -t pids < <(pg_pids)
  ((${#pids[@]})) || { log "postgres: not running"; return 0; }
  log "postgres: SIGKILL of ${#pids[@]} processes"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  local p
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
}

psql_q() { # quiet psql against the local cluster; later -d overrides the dbname
  PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" PGCONNECT_TIMEOUT=5 psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d "$DB_NAME" "$@"
}

# ------------------------------------------------------------ migrations ---

cmd_migrate() {
  pg_ready || die "postgres is not running on 127.0.0.1:$PG_PORT (run '$0 up')"
  mkdir -p "$MIGRATIONS_DIR"
  psql_q -c "create table if not exists schema_migrations(version text primary key, applied_at timestamptz not null default now())"
  local applied f name n=0
  applied="$(psql_q -tAc "select version from schema_migrations")"
  local files=()
  while IFS= read -r f; do files+=("$f"); done < <(LC_ALL=C find "$MIGRATIONS_DIR" -maxdepth 1 -type f -name '[0-9]*.sql' | LC_ALL=C sort)
  for f in "${files[@]}"; do
    name="$(basename "$f" .sql)"
    [[ "$name" =~ ^[0-9A-Za-z_.-]+$ ]] || die "bad migration file name: $f"
    if grep -qxF "$name" <<<"$applied"; then continue; fi
    log "migrate: applying $name"
    psql_q --single-transaction -f "$f" \
      -c "insert into schema_migrations(version) values ('$name')" ||
      die "migration $name failed (rolled back)"
    n=$((n + 1))
  done
  log "migrate: $n applied, $(($(grep -c . <<<"$applied") + n)) total"
}

# ------------------------------------------------------------------ Kafka ---

kafka_quorum() { # the controller quorum: one node finds itself; a cluster has three static voters
  if ((KAFKA_NODES == 1)); then echo "controller.quorum.bootstrap.servers=${K_HOSTS[1]}:${K_CPORTS[1]}"; return; fi
  local n voters=""
  for ((n = 1; n <= KAFKA_NODES; n++)); do voters+="${voters:+,}$n@${K_HOSTS[n]}:${K_CPORTS[n]}"; done
  echo "controller.quorum.voters=$voters"
}

kafka_sasl_listeners() { # the plain-text stack's listeners (server.properties lines)
  cat <<EOF
# Clients: SASL over a loopback listener (no TLS here: RELAIS_KAFKA_TLS=1 for the TLS stack;
# production uses mTLS or SASL_SSL, see docs/operations.md). SCRAM-SHA-512 for dynamic users (CPAS
# principals, the administrator); PLAIN for Relais's own services, static users below: Debian's
# librdkafka 2.0.2 cannot do SCRAM with Kafka 4 (a client nonce bug fixed in librdkafka 2.6.1).
# The controller link is authenticated too (SASL/PLAIN: KRaft controllers cannot use SCRAM), as
# the broker itself.
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
listener.name.client.sasl.enabled.mechanisms=$SASL_MECHANISM,PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=$SASL_MECHANISM
sasl.mechanism.controller.protocol=PLAIN
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="relais-broker" password="$(secret relais-broker)";
listener.name.client.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required $(plain_users);
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="relais-broker" password="$(secret relais-broker)" user_relais-broker="$(secret relais-broker)";
EOF
}

# The TLS stack's listeners: SSL everywhere, a client certificate required on every connection.
# The principal is the certificate's CN when the subject is exactly CN=<name>,O=Relais (what
# deploy/local/pki.sh issues), so the principal names (relais-router, cpas-<cbe>...) and the
# ACLs are those of the SASL stack; any other subject keeps its full DN, which no ACL names.
# The brokers present their own certificate (CN=relais-broker, a super user) to each other.
kafka_tls_listeners() {
  cat <<EOF
listener.security.protocol.map=CLIENT:SSL,CONTROLLER:SSL
ssl.client.auth=required
ssl.keystore.type=PKCS12
ssl.keystore.location=$PKI_DIR/kafka-broker.p12
ssl.keystore.password=$(cat "$PKI_DIR/kafka-broker.p12.password")
ssl.truststore.type=PEM
ssl.truststore.location=$PKI_DIR/ca.pem
ssl.endpoint.identification.algorithm=https
ssl.enabled.protocols=TLSv1.3,TLSv1.2
ssl.principal.mapping.rules=RULE:^CN=([a-z0-9][a-z0-9.-]*),O=Relais\$/\$1/,DEFAULT
EOF
}

kafka_admin_conf() { # the administrator's client settings (Kafka CLI tools)
  echo "# generated by deploy/local/stack.sh: the administrator's client settings (Kafka CLI tools)"
  if ((KAFKA_TLS)); then
    cat <<EOF
security.protocol=SSL
ssl.truststore.type=PEM
ssl.truststore.location=$PKI_DIR/ca.pem
ssl.keystore.type=PKCS12
ssl.keystore.location=$PKI_DIR/clients/relais-admin.p12
ssl.keystore.password=$(cat "$PKI_DIR/clients/relais-admin.p12.password")
EOF
  else
    cat <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=$SASL_MECHANISM
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="relais-admin" password="$(secret relais-admin)";
EOF
  fi
}

kafka_write_config() { # of node $K_NODE (use_node), and the shared files of node 1's dir
  mkdir -p "$K_DATA" "$K_CONF" "$K_LOGDIR" "$K1_DIR/config" "$K1_DIR/logs"
  chmod 700 "$K_CONF" "$K1_DIR/config" # server.properties and admin.properties hold credentials
  kafka_secrets
  (umask 077 && kafka_admin_conf >"$K_ADMIN_CONF")
  (umask 077 && cat >"$K_PROPS.tmp" <<EOF
# generated by deploy/local/stack.sh -- do not edit (regenerated on every 'up')
process.roles=broker,controller
node.id=$K_NODE
$(kafka_quorum)
listeners=CLIENT://$K_NODE_HOST:$K_NODE_PORT,CONTROLLER://$K_NODE_HOST:$K_NODE_CPORT
advertised.listeners=CLIENT://$K_NODE_HOST:$K_NODE_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLIENT
$(if ((KAFKA_TLS)); then kafka_tls_listeners; else kafka_sasl_listeners; fi)
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=$KAFKA_SUPER_USERS
log.dirs=$K_DATA

# The replication policy ($KAFKA_NODES node(s)): deploy/kafka/topics.sh check holds every Relais topic to it.
num.partitions=6
default.replication.factor=$TOPIC_RF
min.insync.replicas=$TOPIC_MIN_ISR
unclean.leader.election.enable=false
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0

offsets.topic.replication.factor=$TOPIC_RF
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=$TOPIC_RF
transaction.state.log.min.isr=$TOPIC_MIN_ISR
transaction.state.log.num.partitions=12
share.coordinator.state.topic.replication.factor=$TOPIC_RF
share.coordinator.state.topic.min.isr=$TOPIC_MIN_ISR

num.network.threads=2
num.io.threads=4
log.retention.hours=168
log.segment.bytes=268435456
# Each segment's offset and time indexes are files preallocated sparse at this size and mapped in
# memory: the first write into one makes the kernel read ahead up to the disk's read_ahead_kb of
# zeros (on the benchmark machine 8 MB of page cache and 5-13 ms of kernel CPU per index file, two
# per partition; docs/performance.md "Index files"). 1 MiB holds the entries of a full 256 MiB segment
# (65,536 offset entries of 8 bytes, time entries of 12); a full index rolls the segment anyway.
log.index.size.max.bytes=1048576
EOF
  )
  mv "$K_PROPS.tmp" "$K_PROPS"

  cat >"$K_LOG4J" <<EOF
# generated by deploy/local/stack.sh: broker log to a file under the stack dir
status = warn
name = relais-kafka
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $K_LOGDIR/server.log
appender.file.filePattern = $K_LOGDIR/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.reqchan.name = kafka.network.RequestChannel\$
logger.reqchan.level = WARN
logger.zk.name = org.apache.zookeeper
logger.zk.level = WARN
EOF
  cat >"$K_TOOLS_LOG4J" <<EOF
# generated by deploy/local/stack.sh: CLI tools log warnings to stderr only
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
EOF
}

# RELAIS_KAFKA_DISK_MB: node $K_NODE's data directory on a filesystem of its own (an ext4 image,
# sparse, loop-mounted), made at the first 'up' and mounted again at each start of the node.
kafka_disk_mount() {
  [[ -n "$KAFKA_DISK_MB" ]] || return 0
  mountpoint -q "$K_DATA" && return 0
  [[ $EUID -eq 0 ]] || die "RELAIS_KAFKA_DISK_MB needs root (a loop mount of $K_DIR/data.img)"
  local img="$K_DIR/data.img"
  if [[ ! -f "$img" ]]; then
    [[ -d "$K_DATA" && -n "$(ls -A "$K_DATA" 2>/dev/null)" ]] &&
      die "$K_DATA holds data on the host's disk: RELAIS_KAFKA_DISK_MB needs a new stack ('RELAIS_STACK_RESET=1 $0 up')"
    mkdir -p "$K_DIR"
    truncate -s "${KAFKA_DISK_MB}M" "$img"
    # -m 0: no blocks reserved for root (the broker runs as root here: it would see them)
    mkfs.ext4 -q -F -m 0 -E lazy_itable_init=1 "$img" || die "mkfs.ext4 $img failed"
  fi
  mkdir -p "$K_DATA"
  mount -o loop,noatime "$img" "$K_DATA" || die "cannot loop-mount $img on $K_DATA (RELAIS_KAFKA_DISK_MB needs loop devices)"
  # Kafka reads every directory of a log dir as a topic partition: no lost+found in it
  rmdir "$K_DATA/lost+found" 2>/dev/null || true
  log "kafka: $(node_label)data on its own ${KAFKA_DISK_MB} MiB filesystem ($img)"
}

kafka_disk_umount() { # every node's data filesystem (the nodes are down)
  local n
  for n in "${ALL_NODES[@]}"; do
    use_node "$n"
    mountpoint -q "$K_DATA" 2>/dev/null || continue
    umount "$K_DATA" 2>/dev/null || umount -l "$K_DATA" || log "kafka: could not unmount $K_DATA"
  done
}

# The disk-full fault: a ballast file takes every free block of node N's data filesystem, so the
# node's next write fails with ENOSPC; kafka-disk-free deletes it (the operator freeing space).
cmd_kafka_disk() { # fill|free N
  use_node "$2"
  mountpoint -q "$K_DATA" || die "$K_DATA is not a filesystem of its own: bring the stack up with RELAIS_KAFKA_DISK_MB"
  local ballast="$K_DATA/.relais-ballast" free
  if [[ "$1" == fill ]]; then
    free="$(df -B1 --output=avail "$K_DATA" | tail -1 | tr -d ' ')"
    if ((free > 0)); then fallocate -l "$free" "$ballast" 2>/dev/null || fallocate -l $((free - 1048576)) "$ballast" || die "fallocate $ballast failed"; fi
    # whatever fallocate left (metadata rounding): taken by plain writes until ENOSPC
    dd if=/dev/zero of="$ballast.tail" bs=64k status=none 2>/dev/null || true
    log "kafka: $(node_label)data filesystem full ($(df -h --output=used,size "$K_DATA" | tail -1 | xargs))"
  else
    rm -f "$ballast" "$ballast.tail"
    log "kafka: $(node_label)data filesystem freed ($(df -h --output=used,size "$K_DATA" | tail -1 | xargs))"
  fi
}

kafka_format() { # node $K_NODE; every node of a cluster gets the same cluster id and SCRAM users
  if [[ -f "$K_DATA/meta.properties" ]]; then
    [[ -f "$K_DIR/sasl.stamp" ]] ||
      die "$K_DATA was formatted before Kafka authentication existed (no SCRAM users): run 'RELAIS_STACK_RESET=1 $0 up' once"
    return 0
  fi
  local cid
  if [[ -s "$K_CLUSTER_ID" ]]; then
    cid="$(cat "$K_CLUSTER_ID")"
  else
    # A URL-safe base64 UUID may start with '-', which the tool would take for an option:
    # draw again until it does not (1 in 64 ids would fail the format otherwise).
    cid="-"
    while [[ "$cid" == -* ]]; do
      cid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    done
    echo "$cid" >"$K_CLUSTER_ID"
  fi
  log "kafka: formatting storage of node $K_NODE (cluster id $cid)"
  # The SCRAM users are part of the bootstrap metadata, so the broker can authenticate its
  # own inter-broker link and the administrator from the first start.
  local scram=() p quorum=(--standalone)
  for p in "${KAFKA_PRINCIPALS[@]}"; do
    scram+=(--add-scram "$SASL_MECHANISM=[name=$p,password=$(secret "$p")]")
  done
  ((KAFKA_NODES == 1)) || quorum=() # a static quorum: controller.quorum.voters
  kafka_tool kafka.tools.StorageTool format --cluster-id "$cid" -c "$K_PROPS" "${quorum[@]}" "${scram[@]}" >"$K_LOGDIR/format.log" 2>&1 ||
    { tail_log "$K_LOGDIR/format.log" "kafka format"; die "kafka storage format failed"; }
  touch "$K_DIR/sasl.stamp"
  echo "$KAFKA_NODES" >"$K_NODES_STAMP"
}

kafka_metadata_ok() { # a real Admin metadata round trip
  timeout 20 "$(java_bin)" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto \
    -Dlog4j2.configurationFile="$K_TOOLS_LOG4J" -cp "$KAFKA_LIBS/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" --list \
    --command-config <(cat "$K_ADMIN_CONF"; printf 'request.timeout.ms=5000\ndefault.api.timeout.ms=8000\n') >"$K1_DIR/topics.list" 2>>"$K_TOOLS_LOG"
}

kafka_check_nodes() { # a stack formatted for another number of nodes cannot just be restarted
  [[ -f "$K1_DIR/data/meta.properties" ]] || return 0
  local had=1
  [[ -s "$K_NODES_STAMP" ]] && had="$(cat "$K_NODES_STAMP")"
  [[ "$had" == "$KAFKA_NODES" ]] ||
    die "$STACK_DIR holds a Kafka of $had node(s), RELAIS_KAFKA_NODES=$KAFKA_NODES: run 'RELAIS_STACK_RESET=1 RELAIS_KAFKA_NODES=$KAFKA_NODES $0 up' (wipes the stack) or use the same RELAIS_KAFKA_NODES"
}

kafka_node_retry() { # node N is not up yet: dead by a bind failure -> launched again, else fatal
  local pid
  pid="$(cat "$K_PID" 2>/dev/null)" || pid=""
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && return 0
  if ((attempts[$1] < 3)) && grep -q "Address already in use" "$K_LOGDIR/server.log" 2>/dev/null; then
    log "kafka: a port of $(node_label)was taken at bind time; starting again (attempt $((attempts[$1] + 1)))"
    mv "$K_LOGDIR/server.log" "$K_LOGDIR/server.log.bind-failed-${attempts[$1]}" 2>/dev/null || true
    attempts[$1]=$((attempts[$1] + 1))
    kafka_node_launch strict
    return 0
  fi
  tail_log "$K_LOGDIR/server.log" "kafka server.log"; tail_log "$K_OUT" "kafka stdout"; die "kafka $(node_label)exited during startup"
}

kafka_node_launch() { # node $K_NODE: config, storage, then the JVM (not waited for)
  wait_port_unused "$K_NODE_PORT" "$1" "$K_NODE_HOST"
  wait_port_unused "$K_NODE_CPORT" "$1" "$K_NODE_HOST"
  # setsid: own session, so Ctrl-C in the calling shell does not hit the broker.
  # The pid is written by the process itself (setsid may fork), then it execs java.
  rm -f "$K_PID"
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$K_PID" "$(java_bin)" -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true -Dkafka.logs.dir="$K_LOGDIR" \
    -Dlog4j2.configurationFile="$K_LOG4J" \
    -Xlog:gc*:file="$K_LOGDIR/gc.log":time,tags:filecount=2,filesize=10M \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$K_PROPS" >"$K_OUT" 2>&1 </dev/null &
  local i
  for i in $(seq 50); do [[ -s "$K_PID" ]] && break; sleep 0.1; done
  [[ -s "$K_PID" ]] || die "kafka launcher did not write $K_PID"
}

# Starts the nodes given (all by default) and waits until each client port is open, then for a
# metadata round trip. The nodes of a cluster are launched together: a node opens its client
# port only once the controller quorum (two of three voters) has formed. A bind failure (a client
# connection holding the port, see wait_port_unused) is retried, up to three attempts a node.
kafka_up() {
  local nodes=("$@") n pid todo=() attempts=()
  ((${#nodes[@]})) || for ((n = 1; n <= KAFKA_NODES; n++)); do nodes+=("$n"); done
  for n in "${nodes[@]}"; do
    use_node "$n"
    if pid="$(kafka_pid)"; then
      port_open "$K_NODE_PORT" "$K_NODE_HOST" || die "kafka $(node_label)(pid $pid) is running but $K_NODE_HOST:$K_NODE_PORT is closed -- was the port changed? run '$0 down' first"
      log "kafka: $(node_label)already running (pid $pid) on $K_NODE_HOST:$K_NODE_PORT"
      continue
    fi
    for p in "$K_NODE_PORT" "$K_NODE_CPORT"; do
      if port_open "$p" "$K_NODE_HOST"; then die "port $K_NODE_HOST:$p is already in use by something else (set RELAIS_KAFKA_PORT / RELAIS_KAFKA_CONTROLLER_PORT)"; fi
    done
    todo+=("$n")
  done
  ((${#todo[@]})) || return 0
  "$HERE/kafka-libs.sh" "$KAFKA_LIBS"
  for n in "${todo[@]}"; do
    use_node "$n"
    kafka_disk_mount
    kafka_write_config
    kafka_format
    log "kafka: starting $(node_label)on $K_NODE_HOST:$K_NODE_PORT (controller $K_NODE_HOST:$K_NODE_CPORT)"
    kafka_node_launch lenient
    attempts[n]=1
  done
  local deadline=$((SECONDS + KAFKA_WAIT_S)) waiting=("${todo[@]}") still
  while ((${#waiting[@]})); do
    still=()
    for n in "${waiting[@]}"; do
      use_node "$n"
      if kafka_pid >/dev/null && port_listening "$K_NODE_PORT" "$K_NODE_HOST"; then continue; fi
      kafka_node_retry "$n"
      ((SECONDS < deadline)) || { tail_log "$K_LOGDIR/server.log" "kafka server.log"; die "kafka port $K_NODE_PORT (node $n) not open after ${KAFKA_WAIT_S}s"; }
      still+=("$n")
    done
    waiting=("${still[@]}")
    if ((${#waiting[@]})); then sleep 0.3; continue; fi
    until kafka_metadata_ok; do
      ((SECONDS < deadline)) || { tail_log "$K_LOGDIR/server.log" "kafka server.log"; tail_log "$K_TOOLS_LOG" "admin check" 10; die "kafka not answering metadata requests after ${KAFKA_WAIT_S}s"; }
      sleep 1
    done
    # A node binds its client port only after the quorum formed, when the others may already
    # be connecting to it: it can still fail then. Every node must be alive at the end.
    for n in "${todo[@]}"; do
      use_node "$n"
      kafka_pid >/dev/null && continue
      kafka_node_retry "$n"
      waiting+=("$n")
    done
  done
  log "kafka: ready"
}

# Stops the nodes given (all by default): SIGTERM to all of them at once, so that the controller
# quorum lives while each broker shuts down (one after the other, the last ones would wait for a
# quorum that is gone), then SIGKILL for any still alive after KAFKA_STOP_WAIT_S.
kafka_down() {
  local nodes=("$@") n pid pids=() labels=()
  ((${#nodes[@]})) || nodes=("${ALL_NODES[@]}")
  for n in "${nodes[@]}"; do
    use_node "$n"
    if ! pid="$(kafka_pid)"; then
      log "kafka: $(node_label)not running"
      rm -f "$K_PID"
      continue
    fi
    log "kafka: $(node_label)stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
    labels+=("$(node_label)")
  done
  local deadline=$((SECONDS + KAFKA_STOP_WAIT_S)) i
  for i in "${!pids[@]}"; do
    while kill -0 "${pids[i]}" 2>/dev/null; do
      if ((SECONDS >= deadline)); then
        log "kafka: ${labels[i]}still alive after ${KAFKA_STOP_WAIT_S}s, SIGKILL"
        kill -KILL "${pids[i]}" 2>/dev/null || true
        sleep 0.5
        break
      fi
      sleep 0.3
    done
  done
  for n in "${nodes[@]}"; do use_node "$n"; kafka_pid >/dev/null || rm -f "$K_PID"; done
}

node_label() { ((KAFKA_NODES == 1)) || printf 'node %s ' "$K_NODE"; }

kafka_topics() { # deploy/kafka/topics.sh: create what is missing, then check against the policy
  local spec
  spec="$(cat "$TOPICS_FILE") rf=$TOPIC_RF min.isr=$TOPIC_MIN_ISR inbound=$INBOUND_PARTITIONS"
  # warm path: topics were created and checked by this stack already with this spec
  if [[ -f "$K_TOPICS_STAMP" && "$(cat "$K_TOPICS_STAMP")" == "$spec" ]]; then return 0; fi
  topics_tool create "$TOPICS_FILE" 2> >(while IFS= read -r l; do log "kafka: ${l#topics.sh: }"; done) >>"$K_TOOLS_LOG" ||
    { tail_log "$K_TOOLS_LOG" "topic tool" 20; die "creating the topics failed"; }
  topics_tool check >>"$K_TOOLS_LOG" 2>&1 || { tail_log "$K_TOOLS_LOG" "topic check" 20; die "the topics do not meet the replication policy"; }
  echo "$spec" >"$K_TOPICS_STAMP"
}

topics_tool() { # deploy/kafka/topics.sh with the stack's administrator and policy
  RELAIS_KAFKA_BROKERS="$KAFKA_BROKERS" RELAIS_KAFKA_ADMIN_CONFIG="$K_ADMIN_CONF" RELAIS_KAFKA_LIBS="$KAFKA_LIBS" \
    RELAIS_KAFKA_TOOLS_LOG4J="$K_TOOLS_LOG4J" RELAIS_TOPIC_REPLICATION_FACTOR="$TOPIC_RF" \
    RELAIS_TOPIC_MIN_INSYNC_REPLICAS="$TOPIC_MIN_ISR" RELAIS_INBOUND_PARTITIONS="$INBOUND_PARTITIONS" \
    "$REPO/deploy/kafka/topics.sh" "$@"
}

kafka_acls() { # the services' ACLs (deploy/kafka/acls.txt), applied again when the file changes
  local sum
  sum="$(sha256sum "$ACLS_FILE" | cut -d' ' -f1)"
  if [[ -f "$K_ACLS_STAMP" && "$(cat "$K_ACLS_STAMP")" == "$sum" ]]; then return 0; fi
  log "kafka: applying the ACLs of ${ACLS_FILE#"$REPO/"}"
  # shellcheck disable=SC2046 # admin_env: NAME=value words without spaces
  env $(admin_env) RELAIS_KAFKA_ADMIN_CONFIG="$K_ADMIN_CONF" RELAIS_KAFKA_LIBS="$KAFKA_LIBS" RELAIS_KAFKA_TOOLS_LOG4J="$K_TOOLS_LOG4J" \
    "$REPO/deploy/kafka/acls.sh" apply "$ACLS_FILE" >>"$K_TOOLS_LOG" 2>&1 ||
    { tail_log "$K_TOOLS_LOG" "acl tool" 20; die "applying the Kafka ACLs failed"; }
  echo "$sum" >"$K_ACLS_STAMP"
}

# The administrator's credentials as RELAIS_KAFKA_* variables (NAME=value words, no spaces in the
# values): SASL on the plain-text stack, its client certificate on the TLS stack.
admin_env() {
  echo "RELAIS_KAFKA_BROKERS=$KAFKA_BROKERS"
  if ((KAFKA_TLS)); then
    echo "RELAIS_KAFKA_SECURITY_PROTOCOL=SSL RELAIS_KAFKA_SSL_CA_FILE=$PKI_DIR/ca.pem"
    echo "RELAIS_KAFKA_SSL_CERT_FILE=$PKI_DIR/clients/relais-admin.pem RELAIS_KAFKA_SSL_KEY_FILE=$PKI_DIR/clients/relais-admin.key"
  else
    echo "RELAIS_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT RELAIS_KAFKA_SASL_MECHANISM=$SASL_MECHANISM"
    echo "RELAIS_KAFKA_SASL_USERNAME=relais-admin RELAIS_KAFKA_SASL_PASSWORD_FILE=$SECRETS_DIR/relais-admin.password"
  fi
}

# --------------------------------------------------------------- commands ---

# As root, PostgreSQL runs as $PG_OS_USER, which must traverse every parent of STACK_DIR. A clone
# in a `mktemp -d` directory (mode 0700) is the usual case where it cannot: such a parent gets
# o+x (traverse only, no listing of its entries), from the top down, and the log says which.
pg_reach_stack_dir() {
  local dirs=() d
  d="$(cd "$STACK_DIR" && pwd -P)"
  while [[ "$d" != / ]]; do dirs=("$d" "${dirs[@]}"); d="$(dirname "$d")"; done
  for d in "${dirs[@]}"; do
    runuser -u "$PG_OS_USER" -- test -x "$d" 2>/dev/null && continue
    log "postgres: $d is not traversable by user '$PG_OS_USER': chmod o+x (traverse only)"
    chmod o+x "$d"
  done
}

cmd_up() {
  check_ports_differ
  local t0=$SECONDS
  if [[ "${RELAIS_STACK_RESET:-0}" == 1 ]]; then
    log "RELAIS_STACK_RESET=1: wiping $STACK_DIR"
    kafka_down "${ALL_NODES[@]}"
    kafka_disk_umount
    pg_down
    rm -rf "$PG_DIR" "$K1_DIR" "$STACK_DIR"/kafka-[2-9] "$STACK_DIR/secrets" "$STACK_DIR/tls.mode" "$STACK_DIR/pki"
  fi
  kafka_check_nodes
  # fail fast on port clashes, before starting anything
  if ! pg_running && port_open "$PG_PORT"; then die "port 127.0.0.1:$PG_PORT is already in use by something else (set RELAIS_PG_PORT)"; fi
  local n
  for ((n = 1; n <= KAFKA_NODES; n++)); do
    use_node "$n"
    kafka_pid >/dev/null && continue
    for p in "$K_NODE_PORT" "$K_NODE_CPORT"; do
      if port_open "$p" "$K_NODE_HOST"; then die "port $K_NODE_HOST:$p is already in use by something else (set RELAIS_KAFKA_PORT / RELAIS_KAFKA_CONTROLLER_PORT)"; fi
    done
  done
  mkdir -p "$STACK_DIR"
  # PostgreSQL (runs as a non-root user when we are root) must be able to reach its dir
  if [[ $EUID -eq 0 ]]; then
    chmod 755 "$STACK_DIR"
    pg_reach_stack_dir
  fi
  echo "$KAFKA_TLS" >"$STACK_DIR/tls.mode"
  if ((KAFKA_TLS)); then
    "$HERE/pki.sh" init "$PKI_DIR" 2>&1 | while IFS= read -r l; do log "${l#\[pki\] }"; done
    [[ -s "$PKI_DIR/clients/relais-admin.p12" ]] || die "deploy/local/pki.sh init $PKI_DIR failed"
  fi
  pg_up
  kafka_up
  kafka_topics
  kafka_acls
  cmd_migrate
  log "up in $((SECONDS - t0))s: postgres 127.0.0.1:$PG_PORT, kafka $KAFKA_BROKERS, dir $STACK_DIR"
  if ((KAFKA_TLS)); then
    log "TLS stack: Kafka mTLS (client certificates in $PKI_DIR/clients), PostgreSQL sslmode=verify-full"
  else
    log "WARNING: PLAIN-TEXT LISTENERS (Kafka SASL_PLAINTEXT, PostgreSQL without TLS): for local development on one machine ONLY, never for real data; the TLS stack: RELAIS_KAFKA_TLS=1 (make stack-up TLS=1)"
  fi
  ((KAFKA_NODES == 1)) ||
    log "kafka: $KAFKA_NODES nodes, topics with replication factor $TOPIC_RF and min.insync.replicas $TOPIC_MIN_ISR; services: eval \"\$($0 env)\" (RELAIS_*_REPLICATION_FACTOR=$TOPIC_RF)"
}

cmd_down() {
  kafka_down "${ALL_NODES[@]}"
  kafka_disk_umount
  pg_down
}

cmd_status() {
  local rc=0 pid
  if pg_running; then
    if pg_ready; then echo "postgres: up     127.0.0.1:$PG_PORT  ($PG_DSN)"; else echo "postgres: running but not ready on 127.0.0.1:$PG_PORT"; rc=3; fi
  else
    echo "postgres: down"; rc=3
  fi
  local n label logs=""
  for ((n = 1; n <= KAFKA_NODES; n++)); do
    use_node "$n"
    label="kafka:   "
    ((KAFKA_NODES == 1)) || label="kafka $n: "
    logs+=" $K_LOGDIR/server.log"
    if pid="$(kafka_pid)"; then
      if port_open "$K_NODE_PORT" "$K_NODE_HOST"; then echo "$label up     $K_NODE_HOST:$K_NODE_PORT  (pid $pid)"; else echo "$label starting (pid $pid), port $K_NODE_PORT closed"; rc=3; fi
    else
      echo "$label down"; rc=3
    fi
  done
  ((KAFKA_NODES == 1)) || echo "kafka:    $KAFKA_NODES nodes ($KAFKA_BROKERS), policy: replication factor $TOPIC_RF, min.insync.replicas $TOPIC_MIN_ISR"
  echo "stack dir: $STACK_DIR"
  echo "kafka credentials: $SECRETS_DIR/<principal>.password (SASL_PLAINTEXT, PLAIN or $SASL_MECHANISM)"
  echo "logs:      $PG_LOG $logs"
  return $rc
}

cmd_env() {
  cat <<EOF
export RELAIS_STACK_DIR='$STACK_DIR'
export RELAIS_PG_PORT='$PG_PORT'
export RELAIS_KAFKA_PORT='$KAFKA_PORT'
export RELAIS_KAFKA_CONTROLLER_PORT='$KAFKA_CONTROLLER_PORT'
export RELAIS_PG_DSN='$PG_DSN'
export PGPASSFILE='$PG_PASSFILE'
export RELAIS_KAFKA_BROKERS='$KAFKA_BROKERS'
EOF
  # the administrator's credentials: its client certificate (TLS stack) or its SASL password
  if ((KAFKA_TLS)); then
    printf "export %s='%s'\n" RELAIS_KAFKA_TLS 1 RELAIS_KAFKA_SECURITY_PROTOCOL SSL \
      RELAIS_KAFKA_SSL_CA_FILE "$PKI_DIR/ca.pem" RELAIS_KAFKA_SSL_CERT_FILE "$PKI_DIR/clients/relais-admin.pem" \
      RELAIS_KAFKA_SSL_KEY_FILE "$PKI_DIR/clients/relais-admin.key" RELAIS_KAFKA_PKI_DIR "$PKI_DIR"
  else
    printf "export %s='%s'\n" RELAIS_KAFKA_SECURITY_PROTOCOL SASL_PLAINTEXT RELAIS_KAFKA_SASL_MECHANISM PLAIN \
      RELAIS_KAFKA_SASL_USERNAME relais-admin RELAIS_KAFKA_SASL_PASSWORD_FILE "$SECRETS_DIR/relais-admin.password"
  fi
  cat <<EOF
export RELAIS_KAFKA_SECRETS_DIR='$SECRETS_DIR'
export RELAIS_KAFKA_ADMIN_CONFIG='$K_ADMIN_CONF'
export RELAIS_KAFKA_NODES='$KAFKA_NODES'
export RELAIS_TOPIC_REPLICATION_FACTOR='$TOPIC_RF'
export RELAIS_TOPIC_MIN_INSYNC_REPLICAS='$TOPIC_MIN_ISR'
EOF
  # The services create cpas.<cbe>.* topics (and the DLQ) themselves: on a cluster they must use
  # its replication factor (router.replication_factor, api.replication_factor; acls.sh app-add).
  ((KAFKA_NODES == 1)) || cat <<EOF
export RELAIS_ROUTER_REPLICATION_FACTOR='$TOPIC_RF'
export RELAIS_API_REPLICATION_FACTOR='$TOPIC_RF'
export RELAIS_REPLICATION_FACTOR='$TOPIC_RF'
EOF
}

# Single components, for the fault suite (tests/faults): the broker or the database fails
# while the rest of the stack keeps running.
# Kafka's dynamic update of a listener's keystore: ConfigCommand sets the client listener's
# ssl.keystore.location (the same path) on each broker, which then reads the file again for new
# connections (the password is the static one; the new certificate must keep the subject and SANs).
cmd_kafka_reload_certs() {
  ((KAFKA_TLS)) || die "kafka-reload-certs: only the TLS stack (RELAIS_KAFKA_TLS=1) has broker certificates"
  local n
  for n in "${ALL_NODES[@]}"; do
    use_node "$n"
    kafka_tool org.apache.kafka.tools.ConfigCommand --bootstrap-server "$KAFKA_BROKERS" \
      --command-config "$K_ADMIN_CONF" --entity-type brokers --entity-name "$n" --alter \
      --add-config "listener.name.client.ssl.keystore.location=$PKI_DIR/kafka-broker.p12" \
      >>"$K_TOOLS_LOG" 2>&1 || die "kafka-reload-certs: $(node_label)refused (see $K_TOOLS_LOG)"
    log "kafka: $(node_label)keystore read again ($PKI_DIR/kafka-broker.p12)"
  done
}

cmd_kafka_kill() { # the nodes given (all by default)
  local nodes=("$@") n pid
  ((${#nodes[@]})) || nodes=("${ALL_NODES[@]}")
  for n in "${nodes[@]}"; do
    use_node "$n"
    if pid="$(kafka_pid)"; then
      log "kafka: $(node_label)SIGKILL (pid $pid)"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$K_PID"
  done
}

node_arg() { # a node number of this stack
  [[ "${1:-}" =~ ^[1-9]$ ]] && (($1 <= KAFKA_NODES)) || die "$cmd: a node number from 1 to $KAFKA_NODES expected (got '${1:-}')"
  echo "$1"
}

cmd_psql() {
  exec psql -X -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d "$DB_NAME" "$@"
}

cmd_logs() {
  echo "$PG_LOG"
  local n
  for ((n = 1; n <= KAFKA_NODES; n++)); do
    use_node "$n"
    echo "$K_LOGDIR/server.log"
    echo "$K_OUT"
  done
  echo "$K_TOOLS_LOG"
}

usage() {
  sed -n '2,54p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  psql) cmd_psql "$@" ;;
  migrate) cmd_migrate ;;
  env) cmd_env ;;
  logs) cmd_logs ;;
  kafka-restart) kafka_down; kafka_up ;;
  kafka-kill) cmd_kafka_kill ;;
  kafka-start) kafka_up ;;
  kafka-kill-node) node="$(node_arg "${1:-}")" || exit 1; cmd_kafka_kill "$node" ;;
  kafka-start-node) node="$(node_arg "${1:-}")" || exit 1; kafka_up "$node" ;;
  kafka-reload-certs) cmd_kafka_reload_certs ;;
  topics-check) topics_tool check ;;
  pg-restart) pg_down; pg_up ;;
  pg-crash) pg_crash; pg_up ;;
  pg-kill) pg_kill; pg_up ;;
  pg-pids) pg_pids ;;
  pg-clock) cmd_pg_clock "${1:-}" ;;
  kafka-disk-fill) node="$(node_arg "${1:-}")" || exit 1; cmd_kafka_disk fill "$node" ;;
  kafka-disk-free) node="$(node_arg "${1:-}")" || exit 1; cmd_kafka_disk free "$node" ;;
  -h | --help | help) usage 0 ;;
  *) usage 2 ;;
esac
