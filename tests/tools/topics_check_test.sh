#!/usr/bin/env bash
# deploy/kafka/topics.sh's verdict (the `check` without Kafka) on real outputs of Kafka's tools
# (tests/data/kafka-topics): a cluster that meets the policy passes; each way a Relais topic can fall
# below it is reported, and only for Relais topics (relais.*, cpas.*).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA="$REPO/tests/data/kafka-topics"
TOPICS="$REPO/deploy/kafka/topics.sh"
t="$(mktemp -d)"
trap 'rm -rf "$t"' EXIT
cp "$DATA/cluster-describe.txt" "$t/describe"
cp "$DATA/cluster-configs.txt" "$t/configs"

# Faulty variants of the real outputs, one defect each.
sed 's/^\(Topic: relais\.dedupe\.v1\t.*ReplicationFactor: \)3/\11/' "$t/describe" >"$t/describe-rf1"
sed 's/^\(Topic: __consumer_offsets\t.*ReplicationFactor: \)3/\11/' "$t/describe" >"$t/describe-other-rf1"
sed 's/^\(\tTopic: relais\.inbound\.v1\tPartition: 4\t.*Isr: \)[0-9,]*/\13/' "$t/describe" >"$t/describe-isr1"
awk '/^All configs for topic /{cpas = ($5 ~ /^cpas\./)} cpas && /min\.insync/{sub(/=2 /, "=1 ")} 1' "$t/configs" >"$t/configs-misr1"
awk '/^All configs for topic /{inb = ($5 == "relais.inbound.v1")} inb && /unclean/{sub(/=false /, "=true ")} 1' "$t/configs" >"$t/configs-unclean"
awk '/^All configs for topic /{skip = ($5 == "relais.dedupe.v1")} !skip' "$t/configs" >"$t/configs-missing"

fail=0
# case | policy rf | policy min isr | describe | configs | exit | pattern of the output (empty: none)
while IFS='|' read -r name rf misr desc cfg want pattern; do
  rc=0
  out="$(RELAIS_TOPIC_REPLICATION_FACTOR="$rf" RELAIS_TOPIC_MIN_INSYNC_REPLICAS="$misr" \
    "$TOPICS" verdict "$t/$desc" "$t/$cfg" 2>/dev/null)" || rc=$?
  if [[ "$rc" != "$want" ]] || { [[ -z "$pattern" ]] && [[ -n "$out" ]]; } ||
    { [[ -n "$pattern" ]] && ! grep -qE -- "$pattern" <<<"$out"; }; then
    echo "FAIL $name: exit $rc (want $want), output: ${out:-<none>} (want ${pattern:-<none>})"
    fail=1
  else
    echo "ok   $name"
  fi
done <<'CASES'
the cluster meets replication factor 3, min ISR 2|3|2|describe|configs|0|
and the single broker's policy|1|1|describe|configs|0|
a Relais topic with one replica|3|2|describe-rf1|configs|1|^BELOW POLICY relais\.dedupe\.v1: replication factor 1 < 3$
a CPAS topic made with min.insync.replicas 1|3|2|describe|configs-misr1|1|^BELOW POLICY cpas\.0406332109\.notifications\.v1: min\.insync\.replicas 1 < 2$
unclean leader election on|3|2|describe|configs-unclean|1|^BELOW POLICY relais\.inbound\.v1: unclean\.leader\.election\.enable=true$
a partition with one replica in sync|3|2|describe-isr1|configs|1|^UNDER MIN ISR relais\.inbound\.v1/4: 1 in-sync replica\(s\) < min\.insync\.replicas 2$
a topic whose configuration is not reported|3|2|describe|configs-missing|1|^BELOW POLICY relais\.dedupe\.v1: min\.insync\.replicas not reported$
a topic that is not Relais's is not judged|3|2|describe-other-rf1|configs|0|
a stricter policy reports every Relais topic|3|3|describe|configs|1|relais\.inbound\.v1: min\.insync\.replicas 2 < 3
CASES
exit $fail
