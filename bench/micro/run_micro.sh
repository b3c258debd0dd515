#!/usr/bin/env bash
# Builds and runs the micro benchmarks; writes bench/results/<date>-micro-*.json:
#   micro-codec.json           Google Benchmark JSON (codec_bench)
#   micro-directory.json       Google Benchmark JSON (directory_bench)
#   micro-directory-load.json  directory_load_bench's JSON (needs PostgreSQL)
#   micro-plan.json            Google Benchmark JSON (plan_bench: router::plan per record)
# The loader runs against the stack whose DSN is in RELAIS_BENCH_PG_DSN, or
# RELAIS_PG_DSN (as printed by `deploy/local/stack.sh env`); skipped if neither.
# Environment:
#   MICRO_ONLY="codec directory load plan"   which ones to run (default all four)
#   MICRO_DIR_N=10000000                directory_bench size (integrations)
#   MICRO_LOAD_N=10000000               directory_load_bench size
#   MICRO_LOAD_ARGS="..."               extra loader flags (--rate, --seconds, --poll-ms, --reload)
#   MICRO_MIN_TIME=0.5                  Google Benchmark min time per benchmark (s)
#   MICRO_REPETITIONS=3                 repetitions (JSON keeps each run plus mean/median/stddev;
#                                       the directory build and upsert run once)
#   MICRO_BUILD=0                       skip the build
#   MICRO_TAG=quick                     file names <date>-micro-quick-*.json
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${RELAIS_BUILD_DIR:-$REPO/build}"
BIN="$BUILD/bench/micro"
OUT="$REPO/bench/results"
DATE="$(date -u +%F)"
TAG="${MICRO_TAG:+-$MICRO_TAG}"   # MICRO_TAG=quick: <date>-micro-quick-*.json (make bench in quick mode)
ONLY="${MICRO_ONLY:-codec directory load plan}"
MIN_TIME="${MICRO_MIN_TIME:-0.5}"
GB_ARGS=(--benchmark_min_time="$MIN_TIME" --benchmark_repetitions="${MICRO_REPETITIONS:-3}"
  --benchmark_display_aggregates_only=true --benchmark_format=console --benchmark_out_format=json)
mkdir -p "$OUT"
log() { echo "[micro $(date +%H:%M:%S)] $*" >&2; }

if [[ "${MICRO_BUILD:-1}" != 0 ]]; then
  [[ -f "$BUILD/CMakeCache.txt" ]] || flock /tmp/relais-build.lock cmake -S "$REPO" -B "$BUILD"
  flock /tmp/relais-build.lock cmake --build "$BUILD" -j2 \
    --target relais_codec_bench relais_directory_bench relais_directory_load_bench relais_plan_bench
fi

if [[ " $ONLY " == *" codec "* ]]; then
  log "codec_bench"
  "$BIN/relais_codec_bench" "${GB_ARGS[@]}" --benchmark_out="$OUT/$DATE-micro$TAG-codec.json" >&2
  log "wrote $OUT/$DATE-micro$TAG-codec.json"
fi

if [[ " $ONLY " == *" plan "* ]]; then
  log "plan_bench (router::plan, 565 CPAS)"
  "$BIN/relais_plan_bench" "${GB_ARGS[@]}" --benchmark_out="$OUT/$DATE-micro$TAG-plan.json" >&2
  log "wrote $OUT/$DATE-micro$TAG-plan.json"
fi

if [[ " $ONLY " == *" directory "* ]]; then
  log "directory_bench (${MICRO_DIR_N:-10000000} integrations)"
  RELAIS_BENCH_DIR_N="${MICRO_DIR_N:-10000000}" "$BIN/relais_directory_bench" "${GB_ARGS[@]}" \
    --benchmark_out="$OUT/$DATE-micro$TAG-directory.json" >&2
  log "wrote $OUT/$DATE-micro$TAG-directory.json"
fi

if [[ " $ONLY " == *" load "* ]]; then
  DSN="${RELAIS_BENCH_PG_DSN:-${RELAIS_PG_DSN:-}}"
  if [[ -z "$DSN" ]]; then
    log "no RELAIS_BENCH_PG_DSN / RELAIS_PG_DSN: directory_load_bench skipped"
  else
    log "directory_load_bench (${MICRO_LOAD_N:-10000000} integrations)"
    # shellcheck disable=SC2086
    RELAIS_BENCH_PG_DSN="$DSN" "$BIN/relais_directory_load_bench" --n "${MICRO_LOAD_N:-10000000}" \
      ${MICRO_LOAD_ARGS:-} > "$OUT/$DATE-micro$TAG-directory-load.json.tmp"
    mv "$OUT/$DATE-micro$TAG-directory-load.json.tmp" "$OUT/$DATE-micro$TAG-directory-load.json"
    log "wrote $OUT/$DATE-micro$TAG-directory-load.json"
  fi
fi
