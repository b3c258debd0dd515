#!/bin/sh
# systemd-analyze verify on deploy/systemd/*.service, strict: any diagnostic fails the test
# (verify itself only warns about unknown keys). The units name /usr/local/bin/relais-*, which
# verify requires to exist: the copies checked here point at this build's binaries instead.
# Then `systemd-analyze security --offline` must rate each unit's exposure at most 2.5 ("OK").
# usage: check_systemd_units.sh <source dir> <build dir>
set -eu
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for s in ingest router api; do
  sed "s#/usr/local/bin/relais-$s#$build/services/relais-$s#" "$src/deploy/systemd/relais-$s.service" \
    >"$tmp/relais-$s.service"
done
if ! SYSTEMD_LOG_LEVEL=info systemd-analyze verify "$tmp"/relais-*.service >"$tmp/out" 2>&1 || [ -s "$tmp/out" ]; then
  echo "systemd-analyze verify failed:" >&2
  cat "$tmp/out" >&2
  exit 1
fi
echo "systemd-analyze verify: relais-ingest, relais-router, relais-api OK"
for s in ingest router api; do
  systemd-analyze security --offline=yes --threshold=25 "$tmp/relais-$s.service" >"$tmp/sec" 2>&1 || {
    cat "$tmp/sec" >&2
    echo "relais-$s.service: exposure above 2.5" >&2
    exit 1
  }
  tail -n 1 "$tmp/sec"
done
# relais.env is world-readable: no secret in it.
if grep -Eiv '^\s*#' "$src/deploy/systemd/relais.env" | grep -Eiq 'password|secret|token'; then
  echo "deploy/systemd/relais.env must not hold secrets" >&2
  exit 1
fi
