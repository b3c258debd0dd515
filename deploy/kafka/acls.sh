#!/usr/bin/env bash
# Relais Kafka access: SCRAM users and ACLs, with the Kafka CLI tools (AclCommand, ConfigCommand).
#
#   acls.sh apply [FILE]                   add the service ACLs of FILE (default deploy/kafka/acls.txt;
#                                          lines with {cbe} are skipped); adding an existing ACL is a no-op
#   acls.sh cpas-add CBE [PASSWORD_FILE]   onboard a CPAS: SCRAM user cpas-CBE (password read from
#                                          PASSWORD_FILE, generated into it when missing or empty)
#                                          and the {cbe} lines of acls.txt (its own cpas.CBE. prefix)
#   acls.sh cpas-remove CBE                remove the CPAS's ACLs and SCRAM user
#   acls.sh app-add CBE APP PASSWORD_FILE  onboard one application of a CPAS (`relaisctl cpas onboard`):
#                                          topics cpas.CBE.notifications.v1, .alerts.v1, .replay.v1, SCRAM user
#                                          cpas-CBE-APP (password as for cpas-add), the {cbe} lines for it
#   acls.sh app-remove CBE APP             remove that application's ACLs and SCRAM user
#   acls.sh set-password PRINCIPAL FILE    create a SCRAM user or change its password (rotation)
#   acls.sh list [PRINCIPAL]               show the ACLs (of one principal)
#
# Environment:
#   RELAIS_KAFKA_BROKERS        bootstrap servers (default 127.0.0.1:59092)
#   RELAIS_KAFKA_SECURITY_PROTOCOL, RELAIS_KAFKA_SASL_MECHANISM, RELAIS_KAFKA_SASL_USERNAME,
#   RELAIS_KAFKA_SASL_PASSWORD_FILE, RELAIS_KAFKA_SSL_CA_FILE
#                               a super user's credentials, as for any Relais client (the fast path:
#                               deploy/kafka/acls.py, used when RELAIS_PYTHON or <repo>/var/venv has
#                               confluent_kafka and KAFKA_BIN is not set)
#   RELAIS_KAFKA_ADMIN_CONFIG   otherwise: the super user's Java client properties (security.protocol,
#                               sasl.mechanism, sasl.jaas.config, ssl.truststore.*) for Kafka's own tools
#   KAFKA_BIN                   a Kafka distribution's bin/ (kafka-acls.sh, kafka-configs.sh); without
#                               it the classes run from RELAIS_KAFKA_LIBS (default <repo>/var/kafka-libs)
#   RELAIS_SCRAM_MECHANISM      SCRAM-SHA-512 (default) or SCRAM-SHA-256
# `deploy/local/stack.sh env` exports all of these for the local stack's administrator.
# Passwords are only ever read from files (mode 0600); acls.py never puts one on a command line
# (Kafka's own kafka-configs, the fallback, needs it there: see set_password).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BROKERS="${RELAIS_KAFKA_BROKERS:-127.0.0.1:59092}"
ADMIN_CONFIG="${RELAIS_KAFKA_ADMIN_CONFIG:-}"
KAFKA_LIBS="${RELAIS_KAFKA_LIBS:-$REPO/var/kafka-libs}"
MECHANISM="${RELAIS_SCRAM_MECHANISM:-SCRAM-SHA-512}"
ACLS_FILE_DEFAULT="$HERE/acls.txt"

die() { printf 'acls.sh: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

case "${1:-}" in -h | --help | help | "") usage 0 ;; esac
PY="${RELAIS_PYTHON:-$REPO/var/venv/bin/python}"
if [[ -z "${KAFKA_BIN:-}" && -x "$PY" ]] && "$PY" -c 'import confluent_kafka.admin' 2>/dev/null; then
  exec "$PY" "$HERE/acls.py" "$@"
fi
[[ -n "$ADMIN_CONFIG" ]] || die "RELAIS_KAFKA_ADMIN_CONFIG is not set (eval \"\$(deploy/local/stack.sh env)\" for the local stack)"
[[ -r "$ADMIN_CONFIG" ]] || die "cannot read RELAIS_KAFKA_ADMIN_CONFIG=$ADMIN_CONFIG"

run_tool() { # AclCommand|ConfigCommand args...
  local cls="$1"
  shift
  if [[ -n "${KAFKA_BIN:-}" ]]; then
    case "$cls" in
      AclCommand) "$KAFKA_BIN/kafka-acls.sh" "$@" ;;
      ConfigCommand) "$KAFKA_BIN/kafka-configs.sh" "$@" ;;
    esac
  else
    local log4j=()
    [[ -n "${RELAIS_KAFKA_TOOLS_LOG4J:-}" ]] && log4j=(-Dlog4j2.configurationFile="$RELAIS_KAFKA_TOOLS_LOG4J")
    java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto "${log4j[@]}" \
      -cp "$KAFKA_LIBS/*" "org.apache.kafka.tools.$cls" "$@"
  fi
}

acl() { # add|remove principal resource pattern name operations
  local action="$1" principal="$2" resource="$3" pattern="$4" name="$5" ops="$6"
  local args=(--bootstrap-server "$BROKERS" --command-config "$ADMIN_CONFIG" "--$action" --allow-principal "User:$principal")
  [[ "$action" == remove ]] && args+=(--force)
  case "$resource" in
    topic) args+=(--topic "$name") ;;
    group) args+=(--group "$name") ;;
    transactional-id) args+=(--transactional-id "$name") ;;
    cluster) args+=(--cluster) ;;
    *) die "unknown resource type '$resource'" ;;
  esac
  [[ "$resource" == cluster ]] || args+=(--resource-pattern-type "$pattern")
  local op
  IFS=, read -ra opl <<<"$ops"
  for op in "${opl[@]}"; do args+=(--operation "$op"); done
  printf 'acls.sh: %s %-16s %-16s %-8s %-20s %s\n' "$action" "$principal" "$resource" "$pattern" "$name" "$ops" >&2
  run_tool AclCommand "${args[@]}" >/dev/null
}

each_line() { # file filter(template|services) cbe callback...
  local file="$1" filter="$2" cbe="$3"
  shift 3
  local principal resource pattern name ops rest
  while read -r principal resource pattern name ops rest; do
    [[ -z "$principal" || "$principal" == \#* ]] && continue
    [[ -n "$ops" && -z "$rest" ]] || die "$file: malformed line: $principal $resource $pattern $name $ops $rest"
    if [[ "$principal$name" == *"{cbe}"* ]]; then
      [[ "$filter" == template ]] || continue
      principal="${principal//\{cbe\}/$cbe}" name="${name//\{cbe\}/$cbe}"
    else
      [[ "$filter" == services ]] || continue
    fi
    "$@" "$principal" "$resource" "$pattern" "$name" "$ops"
  done <"$file"
}

valid_cbe() { [[ "$1" =~ ^[0-9]{10}$ ]] || die "'$1' is not a CBE number (10 digits)"; }

set_password() { # principal password-file
  local principal="$1" pwfile="$2"
  [[ -s "$pwfile" ]] || die "password file $pwfile is missing or empty"
  local pw
  pw="$(head -n1 "$pwfile" | tr -d '\r\n')"
  [[ "$pw" =~ ^[A-Za-z0-9._~+/=-]{12,}$ ]] || die "$pwfile: the password must be at least 12 characters of [A-Za-z0-9._~+/=-]"
  printf 'acls.sh: SCRAM user %s (%s)\n' "$principal" "$MECHANISM" >&2
  # kafka-configs takes a SCRAM password only as an argument (its --add-config-file does not
  # accept SCRAM credentials), so on this path the password is briefly visible in the process
  # list of this host: run it from an administrator's host, or use the acls.py path.
  run_tool ConfigCommand --bootstrap-server "$BROKERS" --command-config "$ADMIN_CONFIG" --alter \
    --entity-type users --entity-name "$principal" --add-config "$MECHANISM=[password=$pw]" >/dev/null 2>&1 ||
    die "kafka-configs could not set the password of $principal"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  apply)
    file="${1:-$ACLS_FILE_DEFAULT}"
    each_line "$file" services "" acl add
    ;;
  cpas-add)
    [[ $# -ge 1 ]] || usage 2
    cbe="$1"
    valid_cbe "$cbe"
    pwfile="${2:-}"
    [[ -n "$pwfile" ]] || die "cpas-add needs the password file to read (or create) as second argument"
    if [[ ! -s "$pwfile" ]]; then
      pw="$(head -c 48 /dev/urandom | base64 | LC_ALL=C tr -dc 'A-Za-z0-9')"
      (umask 077 && printf '%s' "${pw:0:32}" >"$pwfile")
      printf 'acls.sh: generated a password for cpas-%s in %s (hand it to the CPAS over a secure channel)\n' "$cbe" "$pwfile" >&2
    fi
    set_password "cpas-$cbe" "$pwfile"
    each_line "$ACLS_FILE_DEFAULT" template "$cbe" acl add
    ;;
  cpas-remove)
    [[ $# -eq 1 ]] || usage 2
    valid_cbe "$1"
    each_line "$ACLS_FILE_DEFAULT" template "$1" acl remove
    run_tool ConfigCommand --bootstrap-server "$BROKERS" --command-config "$ADMIN_CONFIG" --alter \
      --entity-type users --entity-name "cpas-$1" --delete-config "$MECHANISM" >/dev/null
    ;;
  app-add | app-remove)
    die "$cmd needs the Admin API path: a Python with confluent_kafka (RELAIS_PYTHON or $REPO/var/venv), KAFKA_BIN unset"
    ;;
  set-password)
    [[ $# -eq 2 ]] || usage 2
    set_password "$1" "$2"
    ;;
  list)
    if [[ $# -ge 1 ]]; then
      run_tool AclCommand --bootstrap-server "$BROKERS" --command-config "$ADMIN_CONFIG" --list --principal "User:$1"
    else
      run_tool AclCommand --bootstrap-server "$BROKERS" --command-config "$ADMIN_CONFIG" --list
    fi
    ;;
  -h | --help | help) usage 0 ;;
  *) usage 2 ;;
esac
