#!/usr/bin/env bash
# Compile and run the librdkafka <-> broker compatibility check against a running
# local stack: admin CreateTopics, idempotent producer (acks=all, headers),
# transactional consume-transform-produce with send_offsets_to_transaction,
# read_committed read-back, aborted transaction invisibility.
# usage: deploy/local/compat/run.sh [BROKERS] [librdkafka debug contexts, e.g. protocol,broker,feature]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BROKERS="${1:-${RELAIS_KAFKA_BROKERS:-127.0.0.1:${RELAIS_KAFKA_PORT:-59092}}}"
OUT="${TMPDIR:-/tmp}/relais-kcompat"
mkdir -p "$OUT"
if [[ ! -x "$OUT/kcompat" || "$HERE/kcompat.cpp" -nt "$OUT/kcompat" ]]; then
  g++ -std=c++17 -O0 "$HERE/kcompat.cpp" -o "$OUT/kcompat" -lrdkafka++ -lrdkafka
fi
exec "$OUT/kcompat" "$BROKERS" ${2:+"$2"}
