#!/usr/bin/env bash
# Resolve the Kafka broker/tools jars (+ log4j2 binding) described by
# deploy/local/kafka/pom.xml into a folder (default <repo>/var/kafka-libs).
# Re-resolves only when the folder is missing or the pom changed (sha256 stamp).
# Usage: deploy/local/kafka-libs.sh [--force] [OUTPUT_DIR]
# RELAIS_KAFKA_VERSION=x.y.z overrides the pom's kafka.version (for trying other
# versions; the default output dir then becomes <repo>/var/kafka-libs-x.y.z).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
POM="$HERE/kafka/pom.xml"

force=0
if [[ "${1:-}" == "--force" ]]; then force=1; shift; fi
KVER="${RELAIS_KAFKA_VERSION:-}"
OUT="${1:-${RELAIS_KAFKA_LIBS:-$REPO/var/kafka-libs${KVER:+-$KVER}}}"
STAMP="$OUT/.pom.sha256"

want="$(sha256sum "$POM" | cut -d' ' -f1)${KVER:+ kafka.version=$KVER}"
is_fresh() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && compgen -G "$OUT/kafka_2.13-*.jar" >/dev/null
}

if [[ $force -eq 0 ]] && is_fresh; then
  exit 0
fi

mkdir -p "$(dirname "$OUT")"
# Several stacks/scripts may race to resolve: serialise, then re-check.
exec 9>"$OUT.lock"
flock 9
if [[ $force -eq 0 ]] && is_fresh; then
  exit 0
fi

command -v mvn >/dev/null || { echo "kafka-libs: mvn not found (run scripts/install-deps.sh)" >&2; exit 1; }
tmp="$OUT.tmp.$$"
rm -rf "$tmp"
echo "kafka-libs: resolving Kafka jars with Maven into $OUT ..." >&2
if ! mvn -q -B -Dstyle.color=never ${KVER:+-Dkafka.version=$KVER} -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2; then
  rm -rf "$tmp"
  echo "kafka-libs: Maven resolution failed" >&2
  exit 1
fi
echo "$want" >"$tmp/.pom.sha256"
rm -rf "$OUT.old"
[[ -e "$OUT" ]] && mv "$OUT" "$OUT.old"
mv "$tmp" "$OUT"
rm -rf "$OUT.old"
echo "kafka-libs: $(ls "$OUT"/*.jar | wc -l) jars in $OUT" >&2
