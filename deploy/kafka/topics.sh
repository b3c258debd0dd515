#!/usr/bin/env bash
# Relais's Kafka topics, in one place: the local stack (deploy/local/stack.sh up), the tests and the
# Kubernetes Job (deploy/k8s/topics-job.yaml) all create and check them with this script.
#
#   topics.sh create [SPEC]   create the topics of SPEC (default deploy/kafka/topics.txt) that are
#                             missing, with the policy's replication factor and min.insync.replicas
#                             (existing topics are left as they are: `check` reports them)
#   topics.sh check           every relais.* and cpas.* topic against the policy: replication factor,
#                             effective min.insync.replicas, unclean.leader.election.enable=false, and
#                             partitions whose in-sync replicas are fewer than min.insync.replicas.
#                             Prints one line per problem ("BELOW POLICY ..."), exit 1 when any
#   topics.sh describe        the Relais topics as Kafka describes them
#   topics.sh verdict DESCRIBE CONFIGS
#                             the check on saved outputs of `kafka-topics --describe` and
#                             `kafka-configs --describe --all --entity-type topics` (no Kafka needed)
#
# Environment:
#   RELAIS_KAFKA_BROKERS               bootstrap servers (default 127.0.0.1:59092)
#   RELAIS_KAFKA_ADMIN_CONFIG          a super user's Java client properties (security.protocol, sasl.*,
#                                      ssl.truststore.*): `deploy/local/stack.sh env` exports it
#   RELAIS_TOPIC_REPLICATION_FACTOR    the policy's replication factor (default 1; 3 on a cluster)
#   RELAIS_TOPIC_MIN_INSYNC_REPLICAS   the policy's min.insync.replicas (default 1; 2 on a cluster)
#   RELAIS_INBOUND_PARTITIONS          partitions of relais.inbound.v1 and relais.dedupe.v1 (default 6)
#   KAFKA_BIN                          a Kafka distribution's bin/ (kafka-topics.sh, kafka-configs.sh);
#                                      without it the classes run from RELAIS_KAFKA_LIBS (<repo>/var/kafka-libs)
#   RELAIS_KAFKA_TOOLS_LOG4J           log4j2 configuration of the tools (optional)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BROKERS="${RELAIS_KAFKA_BROKERS:-127.0.0.1:59092}"
ADMIN_CONFIG="${RELAIS_KAFKA_ADMIN_CONFIG:-/dev/null}"
KAFKA_LIBS="${RELAIS_KAFKA_LIBS:-$REPO/var/kafka-libs}"
RF="${RELAIS_TOPIC_REPLICATION_FACTOR:-1}"
MIN_ISR="${RELAIS_TOPIC_MIN_INSYNC_REPLICAS:-1}"
INBOUND="${RELAIS_INBOUND_PARTITIONS:-6}"
TOPIC_RE='(relais|cpas)\..*'

die() { printf 'topics.sh: %s\n' "$*" >&2; exit 2; }
usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

[[ "$RF" =~ ^[1-9]$ && "$MIN_ISR" =~ ^[1-9]$ && "$INBOUND" =~ ^[1-9][0-9]*$ ]] ||
  die "RELAIS_TOPIC_REPLICATION_FACTOR, RELAIS_TOPIC_MIN_INSYNC_REPLICAS and RELAIS_INBOUND_PARTITIONS must be positive integers"
((MIN_ISR <= RF)) || die "min.insync.replicas ($MIN_ISR) above the replication factor ($RF): no write could succeed"
[[ "$ADMIN_CONFIG" == /dev/null || -r "$ADMIN_CONFIG" ]] || die "cannot read RELAIS_KAFKA_ADMIN_CONFIG=$ADMIN_CONFIG"

tool() { # TopicCommand|ConfigCommand args...
  local cls="$1"
  shift
  if [[ -n "${KAFKA_BIN:-}" ]]; then
    case "$cls" in
      TopicCommand) "$KAFKA_BIN/kafka-topics.sh" "$@" ;;
      ConfigCommand) "$KAFKA_BIN/kafka-configs.sh" "$@" ;;
    esac
  else
    local log4j=()
    [[ -n "${RELAIS_KAFKA_TOOLS_LOG4J:-}" ]] && log4j=(-Dlog4j2.configurationFile="$RELAIS_KAFKA_TOOLS_LOG4J")
    java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto "${log4j[@]}" \
      -cp "$KAFKA_LIBS/*" "org.apache.kafka.tools.$cls" "$@"
  fi
}

common=(--bootstrap-server "$BROKERS" --command-config "$ADMIN_CONFIG")

spec() { # the spec's lines, "name partitions configs...", @inbound resolved
  local file="$1" name parts rest
  while read -r name parts rest; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    [[ "$parts" == @inbound ]] && parts="$INBOUND"
    [[ "$parts" =~ ^[1-9][0-9]*$ ]] || die "$file: bad partition count '$parts' for $name"
    echo "$name $parts $rest"
  done <"$file"
}

cmd_create() {
  local file="${1:-$HERE/topics.txt}" existing name parts cfgs c args
  [[ -r "$file" ]] || die "cannot read $file"
  local lines
  lines="$(spec "$file")"
  existing="$(tool TopicCommand "${common[@]}" --list)" || die "listing the topics on $BROKERS failed"
  # one JVM a topic (the tool creates one at a time): all at once, then every outcome
  local pids=() names=() i failed=0
  while read -r name parts cfgs; do
    if grep -qxF "$name" <<<"$existing"; then continue; fi
    args=("${common[@]}" --create --if-not-exists --topic "$name" --partitions "$parts"
      --replication-factor "$RF" --config "min.insync.replicas=$MIN_ISR" --config unclean.leader.election.enable=false)
    for c in $cfgs; do args+=(--config "${c//[\[\]]/}"); done
    echo "topics.sh: creating $name ($parts partitions, replication factor $RF, min.insync.replicas $MIN_ISR${cfgs:+, $cfgs})" >&2
    tool TopicCommand "${args[@]}" >/dev/null </dev/null &
    pids+=($!)
    names+=("$name")
  done <<<"$lines"
  for i in "${!pids[@]}"; do
    wait "${pids[i]}" || { echo "topics.sh: creating topic ${names[i]} failed" >&2; failed=1; }
  done
  ((failed == 0)) || exit 1
}

cmd_describe() {
  tool TopicCommand "${common[@]}" --describe --topic "$TOPIC_RE"
}

# The check reads two outputs of Kafka's own tools: `kafka-topics --describe` (replication factor,
# each partition's in-sync replicas) and `kafka-configs --describe --all` (each topic's effective
# configuration: a topic without an override inherits the broker's min.insync.replicas, which is
# what matters). The verdict is check_verdict (pure: text in, problems out).
check_verdict() { # rf min_isr describe_file configs_file -> problem lines
  awk -v rf="$1" -v misr="$2" -v re="^$TOPIC_RE\$" '
    FNR == 1 { file++ }
    file == 1 && /Topic: / {             # tab-separated "Key: value" fields
      n = split($0, f, "\t"); delete kv
      for (i = 1; i <= n; i++) { k = f[i]; sub(/:.*/, "", k); v = f[i]; sub(/^[^:]*: ?/, "", v); if (k != "") kv[k] = v }
      t = kv["Topic"]; if (t !~ re) next
      if ("ReplicationFactor" in kv) { seen[t] = 1; r[t] = kv["ReplicationFactor"] }
      else if ("Partition" in kv) nisr[t "/" kv["Partition"]] = (kv["Isr"] == "") ? 0 : split(kv["Isr"], a, ",")
      next
    }
    file == 2 && /^All configs for topic / { t = $5; sub(/:$/, "", t); cur = (t ~ re) ? t : ""; next }
    file == 2 && cur != "" && /^ +min\.insync\.replicas=/ { split($1, kv, "="); m[cur] = kv[2]; next }
    file == 2 && cur != "" && /^ +unclean\.leader\.election\.enable=/ { split($1, kv, "="); u[cur] = kv[2]; next }
    END {
      for (t in seen) {
        if (r[t] + 0 < rf) printf "BELOW POLICY %s: replication factor %s < %s\n", t, r[t], rf
        if (!(t in m)) printf "BELOW POLICY %s: min.insync.replicas not reported\n", t
        else if (m[t] + 0 < misr) printf "BELOW POLICY %s: min.insync.replicas %s < %s\n", t, m[t], misr
        if (u[t] == "true") printf "BELOW POLICY %s: unclean.leader.election.enable=true\n", t
      }
      for (tp in nisr) {
        split(tp, x, "/")
        if (x[1] in m && nisr[tp] < m[x[1]] + 0) printf "UNDER MIN ISR %s: %d in-sync replica(s) < min.insync.replicas %s\n", tp, nisr[tp], m[x[1]]
      }
      n = 0; for (t in seen) n++
      printf "checked %d topic(s)\n", n > "/dev/stderr"
    }' "$3" "$4" | LC_ALL=C sort
}

cmd_check() {
  CHECK_TMP="$(mktemp -d)"
  trap 'rm -rf "$CHECK_TMP"' EXIT
  # the two tools at once (each is a JVM start)
  tool TopicCommand "${common[@]}" --describe --topic "$TOPIC_RE" >"$CHECK_TMP/describe" &
  local describe=$!
  tool ConfigCommand "${common[@]}" --describe --all --entity-type topics >"$CHECK_TMP/configs" ||
    die "describing the topic configurations on $BROKERS failed"
  wait "$describe" || die "describing the topics on $BROKERS failed"
  local problems
  problems="$(check_verdict "$RF" "$MIN_ISR" "$CHECK_TMP/describe" "$CHECK_TMP/configs")"
  if [[ -n "$problems" ]]; then
    printf '%s\n' "$problems"
    echo "topics.sh: Relais topics below the policy (replication factor $RF, min.insync.replicas $MIN_ISR) on $BROKERS" >&2
    return 1
  fi
  echo "topics.sh: every Relais topic meets the policy (replication factor >= $RF, min.insync.replicas >= $MIN_ISR, no unclean leader election)" >&2
}

case "${1:-}" in
  create) shift; cmd_create "$@" ;;
  check) cmd_check ;;
  describe) cmd_describe ;;
  verdict)
    [[ $# -eq 3 && -r "$2" && -r "$3" ]] || die "verdict DESCRIBE_FILE CONFIGS_FILE"
    problems="$(check_verdict "$RF" "$MIN_ISR" "$2" "$3")"
    [[ -z "$problems" ]] || { printf '%s\n' "$problems"; exit 1; }
    ;;
  -h | --help | help) usage 0 ;;
  *) usage 2 ;;
esac
