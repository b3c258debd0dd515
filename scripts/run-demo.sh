#!/usr/bin/env bash
# `make run`: the local stack, the three Relais services on their default
# ports, and a demo (scripts/demo.py) that loads a directory, streams a day of
# notifications and shows what each CPAS received. Then the services keep
# running until Ctrl-C (DEMO_EXIT=1: stop right after the summary).
#
# Environment: DEMO_SEED, DEMO_NOTIFICATIONS, DEMO_BATCH (see scripts/demo.py),
# DEMO_EXIT=1, DEMO_INGEST_PORT / DEMO_API_PORT / DEMO_ROUTER_PORT (8080/8081/8082),
# and the stack's own RELAIS_STACK_DIR, RELAIS_PG_PORT, RELAIS_KAFKA_PORT...
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${RELAIS_BUILD_DIR:-$REPO/build}"
LOG_DIR="$REPO/var/demo"
PY="$REPO/var/venv/bin/python"
INGEST_PORT="${DEMO_INGEST_PORT:-8080}"
API_PORT="${DEMO_API_PORT:-8081}"
ROUTER_PORT="${DEMO_ROUTER_PORT:-8082}"
# The PCSAAAlertReaction upstream is not reachable from here: a local stand-in plays it.
UPSTREAM_PORT="${DEMO_UPSTREAM_PORT:-8099}"
UPSTREAM_CONTROL_PORT="${DEMO_UPSTREAM_CONTROL_PORT:-8098}"

if [[ -t 1 ]]; then B=$'\e[1m' R=$'\e[31m' G=$'\e[32m' D=$'\e[2m' N=$'\e[0m'; else B='' R='' G='' D='' N=''; fi
say()  { printf '%s==>%s %s\n' "$B" "$N" "$*"; }
fail() { printf '%srun-demo: %s%s\n' "$R" "$*" "$N" >&2; exit 1; }

# ------------------------------------------------------------ preconditions
for s in ingest router api; do
  [[ -x "$BUILD/services/relais-$s" ]] || fail "$BUILD/services/relais-$s is missing: run 'make build' first"
done
[[ -x "$PY" ]] || fail "$PY is missing: run 'make deps' (scripts/install-deps.sh) first"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for spec in "ingest:$INGEST_PORT" "api:$API_PORT" "router:$ROUTER_PORT" "upstream:$UPSTREAM_PORT" \
            "upstream_control:$UPSTREAM_CONTROL_PORT"; do
  name="${spec%%:*}" port="${spec##*:}"
  if port_busy "$port"; then
    who="$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*))' | head -1)"
    fail "port $port (relais-$name) is already in use${who:+ by $who}. Stop that process" \
         "(an earlier 'make run' still running?) or choose another port with DEMO_${name^^}_PORT."
  fi
done

mkdir -p "$LOG_DIR"

# ---------------------------------------------------------------- the stack
say "Local stack (PostgreSQL + Kafka): deploy/local/stack.sh up"
t0=$SECONDS
if ! "$REPO/deploy/local/stack.sh" up >"$LOG_DIR/stack.log" 2>&1; then
  tail -n 20 "$LOG_DIR/stack.log" | sed 's/^/    /' >&2
  fail "the local stack did not come up; full output in $LOG_DIR/stack.log"
fi
eval "$("$REPO/deploy/local/stack.sh" env)"
export RELAIS_PG_DSN RELAIS_KAFKA_BROKERS
printf '    PostgreSQL %s, Kafka %s, data in %s %s(%ds)%s\n' "127.0.0.1:$RELAIS_PG_PORT" "$RELAIS_KAFKA_BROKERS" \
  "${RELAIS_STACK_DIR#"$REPO/"}" "$D" $((SECONDS - t0)) "$N"
# The stack's own warning (plain-text listeners, or the TLS stack's line), shown, not only logged.
grep -E 'WARNING: PLAIN-TEXT|TLS stack:' "$LOG_DIR/stack.log" | tail -n 1 | sed 's/^\[[^]]*\] /    /' || true

# ------------------------------------------------------------- the services
declare -A PIDS=()
ORDER=(ingest router api)
stopping=0
stop_services() {
  (( stopping )) && return
  stopping=1
  if (( ${#PIDS[@]} == 0 )); then
    [[ -n "${UPSTREAM_PID:-}" ]] && kill -TERM "$UPSTREAM_PID" 2>/dev/null
    return 0
  fi
  echo
  say "Stopping the services (SIGTERM: drain, flush, commit)"
  local -A dead=()
  for s in "${ORDER[@]}"; do
    pid="${PIDS[$s]:-}"; [[ -n "$pid" ]] || continue
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null; else dead[$s]=1; fi
  done
  for s in "${ORDER[@]}"; do
    pid="${PIDS[$s]:-}"; [[ -n "$pid" ]] || continue
    if [[ -n "${dead[$s]:-}" ]]; then
      wait "$pid" 2>/dev/null; rc=$?
      printf '    relais-%-6s %shad already exited (status %d): see %s%s\n' "$s" "$R" "$rc" "$LOG_DIR/$s.log" "$N"
      continue
    fi
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
      printf '    relais-%-6s did not stop within 15 s: killed (see %s)\n' "$s" "$LOG_DIR/$s.log"
    else
      wait "$pid" 2>/dev/null; rc=$?
      printf '    relais-%-6s stopped (exit %d)\n' "$s" "$rc"
    fi
  done
  if [[ -n "${UPSTREAM_PID:-}" ]]; then kill -TERM "$UPSTREAM_PID" 2>/dev/null; wait "$UPSTREAM_PID" 2>/dev/null; fi
  echo "    The stack keeps running: 'make stack-down' stops it."
}
trap stop_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() {  # name port
  local name=$1 port=$2
  : >"$LOG_DIR/$name.log"
  # setsid: a Ctrl-C on the terminal reaches this script only; the services
  # are then stopped with SIGTERM, in order, by stop_services.
  # Each service authenticates to Kafka as its own principal (deploy/kafka/acls.txt).
  RELAIS_KAFKA_SASL_USERNAME="relais-$name" RELAIS_KAFKA_SASL_PASSWORD_FILE="$RELAIS_KAFKA_SECRETS_DIR/relais-$name.password" \
    RELAIS_HTTP_LISTEN="127.0.0.1:$port" RELAIS_ROUTER_RULES_FILE="$REPO/deploy/rules/clignotants.yaml" \
    RELAIS_API_REACTION_CODES_FILE="$REPO/deploy/rules/reaction-codes.yaml" RELAIS_INGEST_SOAP_ENABLED=true \
    RELAIS_UPSTREAM_URL="http://127.0.0.1:$UPSTREAM_PORT/pcsaa/alert-reactions" \
    setsid "$BUILD/services/relais-$name" >>"$LOG_DIR/$name.log" 2>&1 &
  PIDS[$name]=$!
}

say "Services: relais-ingest :$INGEST_PORT, relais-api :$API_PORT, relais-router :$ROUTER_PORT (logs in ${LOG_DIR#"$REPO/"}/)"
t0=$SECONDS
"$PY" "$REPO/tests/harness/upstream_standin.py" --port "$UPSTREAM_PORT" --control-port "$UPSTREAM_CONTROL_PORT" \
  >"$LOG_DIR/upstream.log" 2>&1 &
UPSTREAM_PID=$!
start ingest "$INGEST_PORT"
start api "$API_PORT"
start router "$ROUTER_PORT"
for spec in "ingest:$INGEST_PORT" "api:$API_PORT" "router:$ROUTER_PORT"; do
  name="${spec%%:*}" port="${spec##*:}"
  ready=0
  for _ in $(seq 1 600); do
    if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
      wait "${PIDS[$name]}"; rc=$?; unset "PIDS[$name]"
      tail -n 15 "$LOG_DIR/$name.log" | sed 's/^/    /' >&2
      fail "relais-$name exited with status $rc while starting; see $LOG_DIR/$name.log"
    fi
    if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz" 2>/dev/null; then ready=1; break; fi
    sleep 0.1
  done
  (( ready )) || fail "relais-$name is not ready after 60 s (GET /readyz on :$port); see $LOG_DIR/$name.log"
done
printf '    all three ready %s(%ds)%s\n\n' "$D" $((SECONDS - t0)) "$N"

# ------------------------------------------------------------------ the demo
DEMO_INGEST_URL="http://127.0.0.1:$INGEST_PORT" DEMO_API_URL="http://127.0.0.1:$API_PORT" \
DEMO_ROUTER_URL="http://127.0.0.1:$ROUTER_PORT" DEMO_LOG_DIR="$LOG_DIR" \
DEMO_UPSTREAM_CONTROL_URL="http://127.0.0.1:$UPSTREAM_CONTROL_PORT" \
  "$PY" "$REPO/scripts/demo.py"
demo_rc=$?
case $demo_rc in
  0|2) ;;
  130) exit 130 ;;
  *) fail "the demo failed (exit $demo_rc); service logs in $LOG_DIR/" ;;
esac

# ------------------------------------------------------------ keep running
EXAMPLE_SSIN=68060105329 EXAMPLE_CBE=0212345676 EXAMPLE_TOKEN='rls_…'
[[ -f "$LOG_DIR/example.env" ]] && source "$LOG_DIR/example.env"
cat <<EOF

${B}Relais is running${N}
    relais-ingest   http://127.0.0.1:$INGEST_PORT    POST /v1/notifications/{flow}[:batch], POST /v1/soap
    relais-api      http://127.0.0.1:$API_PORT    GET /v1/cpas, /v1/cpas/{cbe}/integrations, /v1/cpas/{cbe}/alerts
    relais-router   http://127.0.0.1:$ROUTER_PORT/metrics   http://127.0.0.1:$ROUTER_PORT/readyz
    logs            ${LOG_DIR#"$REPO/"}/{ingest,api,router}.log      journal: deploy/local/stack.sh psql

  Post a notification (a person integrated by CPAS de Bruxelles):
    curl -si -H 'Content-Type: application/json' http://127.0.0.1:$INGEST_PORT/v1/notifications/notify-person \\
      -d '{"ticket":"'\$(cat /proc/sys/kernel/random/uuid)'","ssin":"$EXAMPLE_SSIN","effective_date":"2026-01-15","event":"NATIONALITY_CHANGE","nationality_nr_code":150}'
  List the integrations of a person (with a credential of that CPAS only, see docs/security.md):
    curl -s -H 'Authorization: Bearer $EXAMPLE_TOKEN' \\
      'http://127.0.0.1:$API_PORT/v1/cpas/$EXAMPLE_CBE/integrations?ssin=$EXAMPLE_SSIN'
EOF

if [[ "${DEMO_EXIT:-0}" == 1 ]]; then
  [[ $demo_rc == 0 ]] && exit 0 || exit 1
fi
printf '\n%sPress Ctrl-C to stop the services.%s\n' "$B" "$N"
while :; do
  for s in "${ORDER[@]}"; do
    if ! kill -0 "${PIDS[$s]}" 2>/dev/null; then
      wait "${PIDS[$s]}"; rc=$?; unset "PIDS[$s]"
      fail "relais-$s exited unexpectedly (status $rc); see $LOG_DIR/$s.log"
    fi
  done
  sleep 1
done
