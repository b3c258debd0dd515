#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ (built in build-fuzz, see docs/fuzzing.md), each for a
# bounded time, and writes a summary of executions and coverage per target.
#
#   scripts/fuzz.sh [--build DIR] [--work DIR] [--seconds N] [TARGET...]
#
# TARGET is a name of fuzz/ (json, protobuf, ndjson, import, url, config, rules,
# reaction_codes, text, xml); all by default. Each target starts from its working corpus
# (WORK/corpus/TARGET, kept between runs), the seed corpus fuzz/corpus/TARGET and the
# regression inputs fuzz/regressions/TARGET (all replayed first), with its dictionary when
# there is one. A crash, leak, timeout, out-of-memory or sanitizer report leaves its input under
# WORK/artifacts/TARGET/ and fails the run (copy it to fuzz/regressions/TARGET/ once fixed).
# WORK/summary gets one line per target: runs, seconds, executions, cov, ft, corpus, result.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$REPO/build-fuzz"
WORK="$REPO/var/fuzz"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
RSS_MB="${FUZZ_RSS_MB:-2048}"
ALL=(json protobuf ndjson import url config rules reaction_codes text)

targets=()
while (($#)); do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${ALL[@]}")

dict_of() {
  case "$1" in
    json|ndjson) echo "$REPO/fuzz/dict/json.dict" ;;
    config|rules|reaction_codes) echo "$REPO/fuzz/dict/yaml.dict" ;;
    *) [[ -f "$REPO/fuzz/dict/$1.dict" ]] && echo "$REPO/fuzz/dict/$1.dict" ;;
  esac
}

mkdir -p "$WORK/logs"
SUMMARY="$WORK/summary"
[[ -f "$SUMMARY" ]] || printf '%-15s %-20s %8s %12s %7s %7s %7s %s\n' \
  target date seconds executions cov ft corpus result > "$SUMMARY"

failed=0
for t in "${targets[@]}"; do
  bin="$BUILD/fuzz/fuzz_$t"
  [[ -x "$bin" ]] || { echo "fuzz: $bin missing (make fuzz-build)" >&2; exit 2; }
  corpus="$WORK/corpus/$t"
  artifacts="$WORK/artifacts/$t"
  log="$WORK/logs/$t.log"
  mkdir -p "$corpus" "$artifacts"
  dirs=("$corpus" "$REPO/fuzz/corpus/$t")
  [[ -d "$REPO/fuzz/regressions/$t" ]] && dirs+=("$REPO/fuzz/regressions/$t")
  args=(-max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_MB" -timeout=25 -max_len=65536
        -print_final_stats=1 -artifact_prefix="$artifacts/")
  dict="$(dict_of "$t" || true)"
  [[ -n "$dict" ]] && args+=(-dict="$dict")
  echo "== fuzz_$t: ${SECONDS_EACH}s" >&2
  start=$(date +%s)
  rc=0
  "$bin" "${args[@]}" "${dirs[@]}" > "$log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  # Final figures: libFuzzer's last status line and its final stats.
  status_line="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$status_line")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$status_line")"
  execs="$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' "$log" | tail -1)"
  [[ -n "$execs" ]] || execs="$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$status_line")"
  files="$(find "$corpus" -type f | wc -l)"
  result=ok
  if ((rc != 0)); then
    result="FAILED(rc=$rc)"
    failed=1
    echo "fuzz_$t failed: see $log and $artifacts/" >&2
    grep -E 'ERROR: |SUMMARY: |runtime error|invariant violated|Test unit written' "$log" | head -20 >&2 || true
  fi
  line="$(printf '%-15s %-20s %8s %12s %7s %7s %7s %s' "$t" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$took" \
    "${execs:-?}" "${cov:-?}" "${ft:-?}" "$files" "$result")"
  echo "$line" >> "$SUMMARY"
  echo "$line" >&2
done
exit "$failed"
