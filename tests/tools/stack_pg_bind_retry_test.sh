#!/usr/bin/env bash
# deploy/local/stack.sh starts PostgreSQL again when a client connection holds its port at bind
# time ("Address already in use"), and only then. The collision is forced: a client socket is
# bound to the port (without SO_REUSEADDR, so PostgreSQL's bind fails) and connected to a listener
# of this test, for HOLD_S seconds; RELAIS_PORT_WAIT_S=1 makes the start try while it is held.
#   case 1: held 4 s, 4 attempts allowed -> up, and the log says it started again;
#   case 2: held for good, 2 attempts -> fails with PostgreSQL's own error, after exactly 2.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK="$REPO/deploy/local/stack.sh"
[[ -x /usr/lib/postgresql/15/bin/pg_ctl ]] || { echo "SKIP: no PostgreSQL 15 binaries"; exit 77; }
t="$(mktemp -d /tmp/relais-bindtest.XXXXXX)"
chmod 755 "$t"
holder=""
cleanup() {
  [[ -n "$holder" ]] && kill "$holder" 2>/dev/null || true
  RELAIS_STACK_DIR="$t/stack" RELAIS_PG_PORT="$port" "$STACK" down >/dev/null 2>&1 || true
  rm -rf "$t"
}
# A free port of the ephemeral range, as the default 55432 is (one per case).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
trap cleanup EXIT

hold() { # seconds (0: until killed), then released; prints "held" once the port is taken
  python3 -u - "$port" "$1" <<'PY' &
import socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.socket()               # no SO_REUSEADDR: a server's bind on this port fails
c.bind(("127.0.0.1", port)); c.connect(srv.getsockname())
a, _ = srv.accept()
print("held", flush=True)
time.sleep(secs if secs > 0 else 10**6)
a.close()                         # the peer closes first: the TIME-WAIT lands on its port, not ours
time.sleep(0.5)
c.close()
time.sleep(10**6)
PY
  holder=$!
}

fail=0
run() { # name attempts hold_s -> output in $t/<name>.out, rc in $rc
  local name=$1
  rm -rf "$t/stack"
  hold "$3" >"$t/$name.hold"
  for _ in $(seq 50); do grep -q held "$t/$name.hold" 2>/dev/null && break; sleep 0.1; done
  grep -q held "$t/$name.hold" || { echo "FAIL $name: could not take port $port"; exit 1; }
  rc=0
  RELAIS_STACK_DIR="$t/stack" RELAIS_PG_PORT="$port" RELAIS_PORT_WAIT_S=1 RELAIS_PG_BIND_ATTEMPTS="$2" \
    "$STACK" pg-restart >"$t/$name.out" 2>&1 || rc=$?
  kill "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
  holder=""
}

run released 4 4
if [[ $rc != 0 ]] || ! grep -q "was taken at bind time; starting again" "$t/released.out" ||
  ! RELAIS_STACK_DIR="$t/stack" RELAIS_PG_PORT="$port" "$STACK" psql -tAc 'select 1' 2>/dev/null | grep -qx 1; then
  echo "FAIL released: rc $rc, PostgreSQL not up after the port was freed, or no retry logged"
  cat "$t/released.out"
  fail=1
else
  echo "ok released: $(grep -c 'starting again' "$t/released.out") retry(ies), then up"
fi
RELAIS_STACK_DIR="$t/stack" RELAIS_PG_PORT="$port" "$STACK" down >/dev/null 2>&1 || true

port="$(free_port)"
run held 2 0
retries="$(grep -c 'starting again' "$t/held.out" || true)"
if [[ $rc == 0 ]] || [[ $retries != 1 ]] || ! grep -q "Address already in use" "$t/held.out" ||
  ! grep -q "postgres did not start" "$t/held.out"; then
  echo "FAIL held: rc $rc, $retries retries (want a failure after exactly 1 retry, with PostgreSQL's error)"
  cat "$t/held.out"
  fail=1
else
  echo "ok held: failed after 2 attempts with PostgreSQL's own error"
fi
exit $fail
