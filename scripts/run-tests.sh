#!/usr/bin/env bash
# Runs every test tier (unit, integration, e2e) against a fresh local stack of
# its own (var/test-stack, ports apart from the demo's), then stops it.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$(cd "$REPO/${1:-build}" && pwd)"

export RELAIS_STACK_DIR="${RELAIS_TEST_STACK_DIR:-$REPO/var/test-stack}"
export RELAIS_PG_PORT="${RELAIS_TEST_PG_PORT:-56432}"
export RELAIS_KAFKA_PORT="${RELAIS_TEST_KAFKA_PORT:-59192}"
export RELAIS_KAFKA_CONTROLLER_PORT="${RELAIS_TEST_KAFKA_CONTROLLER_PORT:-59193}"

echo "== local test stack in $RELAIS_STACK_DIR"
RELAIS_STACK_RESET=1 "$REPO/deploy/local/stack.sh" up
trap '"$REPO/deploy/local/stack.sh" down >/dev/null 2>&1 || true' EXIT
eval "$("$REPO/deploy/local/stack.sh" env)"
export RELAIS_TEST_PG_DSN="$RELAIS_PG_DSN"
export RELAIS_TEST_KAFKA="$RELAIS_KAFKA_BROKERS"
export RELAIS_BUILD_DIR="$BUILD"
# The ASan+UBSan build (make test-asan): sanitizer options and suppressions for every process.
if grep -q '^RELAIS_SANITIZE:BOOL=ON$' "$BUILD/CMakeCache.txt" 2>/dev/null; then
  source "$REPO/tests/sanitizers/env.sh"
  echo "== ASan+UBSan build: ASAN_OPTIONS=$ASAN_OPTIONS"
fi
# The ThreadSanitizer build (make test-tsan): a data race fails the test (exitcode 66).
if grep -q '^RELAIS_TSAN:BOOL=ON$' "$BUILD/CMakeCache.txt" 2>/dev/null; then
  export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$REPO/tests/sanitizers/tsan.supp"
  echo "== ThreadSanitizer build: TSAN_OPTIONS=$TSAN_OPTIONS"
fi

cd "$BUILD"
echo "== ctest: unit, integration and e2e tiers"
ctest --output-on-failure --timeout 1800 ${CTEST_ARGS:-}
