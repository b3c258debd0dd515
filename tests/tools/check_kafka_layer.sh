#!/usr/bin/env bash
# Only libs/kafka talks to librdkafka (issue 14, docs/architecture.md "Layers"): fails when a
# C/C++ source outside it includes a librdkafka header or names RdKafka:: (or rd_kafka_).
# usage: check_kafka_layer.sh [ROOT]      checks the tree at ROOT (default: the repository)
#        check_kafka_layer.sh --self-test  shows that a violation is found and an allowed file is not
set -euo pipefail

# Allowed outside libs/kafka, each with its reason.
ALLOW=(
  # The benchmark's raw-producer baseline measures librdkafka itself, without Relais's layer:
  # going through libs/kafka would measure the layer, not the baseline (docs/performance.md).
  "bench/raw_producer.cpp"
  # The broker compatibility probe is a standalone program built by hand with g++ (its run.sh),
  # outside the CMake tree, to check a librdkafka/broker pair before Relais is built at all.
  "deploy/local/compat/kcompat.cpp"
)

check() {
  local root="$1" bad=0 f rel allowed a
  while IFS= read -r -d '' f; do
    rel="${f#"$root"/}"
    case "$rel" in libs/kafka/*) continue ;; esac
    allowed=0
    for a in "${ALLOW[@]}"; do [[ "$rel" == "$a" ]] && allowed=1; done
    ((allowed)) && continue
    if grep -nE '#[[:space:]]*include[[:space:]]*[<"]librdkafka|RdKafka::|\brd_kafka_[a-z_]+\(' "$f" >/dev/null; then
      grep -nE '#[[:space:]]*include[[:space:]]*[<"]librdkafka|RdKafka::|\brd_kafka_[a-z_]+\(' "$f" |
        sed "s|^|$rel:|" >&2
      bad=1
    fi
  done < <(find "$root" \( -path "$root/build*" -o -path "$root/var" -o -path "$root/.git" -o -path "$root/node_modules" \) -prune \
             -o -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.cc' -o -name '*.cxx' -o -name '*.hpp' -o -name '*.h' -o -name '*.ipp' \) -print0)
  if ((bad)); then
    echo "librdkafka used outside libs/kafka (lines above): use the types of libs/kafka instead" >&2
    return 1
  fi
  return 0
}

if [[ "${1:-}" == "--self-test" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/libs/kafka/src" "$tmp/libs/router/src" "$tmp/bench"
  echo '#include <librdkafka/rdkafkacpp.h>' >"$tmp/libs/kafka/src/ok.cpp"
  echo 'RdKafka::Producer* p;' >"$tmp/bench/raw_producer.cpp"
  echo 'int x;' >"$tmp/libs/router/src/clean.cpp"
  check "$tmp" 2>/dev/null || { echo "self-test: a clean tree was refused" >&2; exit 1; }
  for v in '#include <librdkafka/rdkafkacpp.h>' '#include "librdkafka/rdkafka.h"' 'std::unique_ptr<RdKafka::Message> m;' \
           'rd_kafka_poll(rk, 0);'; do
    echo "$v" >"$tmp/libs/router/src/bad.hpp"
    if check "$tmp" 2>/dev/null; then echo "self-test: not found: $v" >&2; exit 1; fi
  done
  echo "self-test passed"
  exit 0
fi

root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
check "$root"
echo "only libs/kafka includes librdkafka"
