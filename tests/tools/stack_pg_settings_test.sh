#!/usr/bin/env bash
# deploy/local/stack.sh's RELAIS_PG_SETTINGS: extra postgresql.conf settings, "name = value" each.
#   1. a malformed setting, or one the stack sets itself (listening, TLS, authentication), is
#      refused with a clear error, before anything is started;
#   2. valid settings (';'-separated) are what the started server says (SHOW);
#   3. a start without them gives the server's defaults back (relais.conf is made on each start).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK="$REPO/deploy/local/stack.sh"
[[ -x /usr/lib/postgresql/15/bin/pg_ctl ]] || { echo "SKIP: no PostgreSQL 15 binaries"; exit 77; }
t="$(mktemp -d /tmp/relais-pgsettings.XXXXXX)"
chmod 755 "$t"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
st() { RELAIS_STACK_DIR="$t/stack" RELAIS_PG_PORT="$port" "$STACK" "$@"; }
cleanup() { st down >/dev/null 2>&1 || true; rm -rf "$t"; }
trap cleanup EXIT
fail=0

for bad in "work_mem" "work_mem = '5MB'" "work_mem = 5MB; x = a b" "Work_Mem = 5MB" "ssl = off" "port=5" \
  "work_mem = 5MB; listen_addresses = localhost" "unix_socket_permissions = 0777"; do
  rc=0
  RELAIS_PG_SETTINGS="$bad" st pg-restart >"$t/bad.out" 2>&1 || rc=$?
  if [[ $rc == 0 ]] || ! grep -Eq "RELAIS_PG_SETTINGS: (each setting must be 'name = value'|'[a-z_]+' is set by the stack itself)" "$t/bad.out" ||
    [[ -e "$t/stack/pg/data/PG_VERSION" ]]; then
    echo "FAIL bad setting '$bad': rc $rc, or no clear error, or a cluster was made"; cat "$t/bad.out"; fail=1
  else
    echo "ok refused: $bad"
  fi
done

RELAIS_PG_SETTINGS="work_mem = 5MB;  temp_buffers=16MB ;" st pg-restart >"$t/good.out" 2>&1 ||
  { echo "FAIL: start with valid settings"; cat "$t/good.out"; exit 1; }
got="$(st psql -tAc 'show work_mem' 2>/dev/null)|$(st psql -tAc 'show temp_buffers' 2>/dev/null)"
if [[ "$got" != "5MB|16MB" ]]; then echo "FAIL valid settings: server says $got"; fail=1; else echo "ok applied: $got"; fi

st pg-restart >"$t/plain.out" 2>&1 || { echo "FAIL: start without settings"; cat "$t/plain.out"; exit 1; }
got="$(st psql -tAc 'show work_mem' 2>/dev/null)"
if [[ "$got" != "4MB" ]]; then echo "FAIL without settings: work_mem $got (want the default, 4MB)"; fail=1; else echo "ok defaults back"; fi
exit $fail
