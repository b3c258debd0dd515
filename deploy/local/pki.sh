#!/usr/bin/env bash
# Relais local PKI: a CA and the certificates of the TLS stack (RELAIS_KAFKA_TLS=1), made with the
# openssl CLI under a directory of var/ (never in git). Idempotent: a certificate still valid for
# RELAIS_PKI_RENEW_DAYS (default 30) days and signed by this CA is kept; otherwise it is made again.
#
#   pki.sh init DIR                 the CA, the servers' and the services' certificates (below)
#   pki.sh client DIR NAME          one client certificate, CN=NAME (a Kafka principal), by the CA
#   pki.sh cpas DIR CBE             a CPAS subscriber's client certificate, CN=cpas-CBE (the principal
#                                   `acls.sh cpas-add CBE` grants the {cbe} lines of acls.txt)
#   pki.sh foreign DIR NAME         a client certificate CN=NAME by ANOTHER CA (DIR/foreign-ca.pem):
#                                   what a broker of this PKI must refuse (tests)
#   pki.sh show DIR                 subject, SAN and expiry of every certificate
#
# DIR holds (keys mode 0600, DIR and DIR/clients mode 0700):
#   ca.pem, ca.key                          the CA (10 years, RELAIS_PKI_CA_DAYS)
#   kafka-broker.pem/.key, kafka-broker.p12 the brokers' certificate (CN=relais-broker, SAN 127.0.0.1,
#                                           127.0.0.11-15, localhost) and its PKCS#12 keystore for the JVM,
#                                           whose password is kafka-broker.p12.password
#   pg-server.pem/.key                      PostgreSQL's (SAN 127.0.0.1, localhost)
#   relais-api-server.pem/.key, relais-ingest-server.pem/.key  the HTTPS listeners' (SAN 127.0.0.1, localhost)
#   clients/NAME.pem, clients/NAME.key      client certificates (CN=NAME, extendedKeyUsage clientAuth):
#                                           relais-admin, relais-ingest, relais-router, relais-api,
#                                           relais-operator by init; cpas-CBE by `cpas`; and
#                                           clients/relais-admin.p12 (+ .password) for Kafka's Java tools
# Leaf certificates live RELAIS_PKI_LEAF_DAYS days (default 397, the CA/Browser Forum's maximum).
set -euo pipefail

CA_DAYS="${RELAIS_PKI_CA_DAYS:-3650}"
LEAF_DAYS="${RELAIS_PKI_LEAF_DAYS:-397}"
RENEW_DAYS="${RELAIS_PKI_RENEW_DAYS:-30}"
# The stack's own Kafka principals (deploy/local/stack.sh KAFKA_PRINCIPALS, deploy/kafka/acls.txt).
# The brokers' own principal, relais-broker, is the CN of their server certificate (kafka-broker.pem),
# which they also present to each other (inter-broker and controller links).
SERVICE_PRINCIPALS=(relais-admin relais-ingest relais-router relais-api relais-operator)
SERVER_SAN="DNS:localhost,IP:127.0.0.1"
BROKER_SAN="DNS:localhost,IP:127.0.0.1,IP:127.0.0.11,IP:127.0.0.12,IP:127.0.0.13,IP:127.0.0.14,IP:127.0.0.15"

die() { printf 'pki.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '[pki] %s\n' "$*" >&2; }
usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

key() { (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.tmp" 2>/dev/null && mv "$1.tmp" "$1"); }

fresh() { # cert [ca]: exists, valid RENEW_DAYS more days, and (leaf) signed by ca
  [[ -s "$1" ]] || return 1
  openssl x509 -in "$1" -noout -checkend $((RENEW_DAYS * 86400)) >/dev/null 2>&1 || return 1
  [[ -z "${2:-}" ]] || openssl verify -CAfile "$2" "$1" >/dev/null 2>&1
}

make_ca() { # dir/name subject
  local base="$1"
  fresh "$base.pem" && return 0
  log "CA $2 ($CA_DAYS days): $base.pem"
  key "$base.key"
  openssl req -x509 -new -key "$base.key" -out "$base.pem.tmp" -days "$CA_DAYS" -subj "$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
  chmod 644 "$base.pem.tmp"
  mv "$base.pem.tmp" "$base.pem"
}

leaf() { # base ca-base subject extensions
  local base="$1" ca="$2"
  fresh "$base.pem" "$ca.pem" && return 0
  log "certificate $3 ($LEAF_DAYS days): $base.pem"
  key "$base.key"
  openssl req -new -key "$base.key" -out "$base.csr" -subj "$3"
  printf '%s\n' "$4" >"$base.ext"
  openssl x509 -req -in "$base.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -CAserial "$ca.srl" \
    -out "$base.pem.tmp" -days "$LEAF_DAYS" -extfile "$base.ext" 2>/dev/null
  rm -f "$base.csr" "$base.ext"
  chmod 644 "$base.pem.tmp"
  mv "$base.pem.tmp" "$base.pem"
  rm -f "$base.p12" # a keystore of the previous certificate
}

server() { # dir name san [cn]
  leaf "$1/$2" "$1/ca" "/O=Relais/CN=${4:-$2}" "subjectAltName=$3
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth"
}

client() { # dir ca-base name
  valid_name "$3"
  mkdir -p "$1/clients"
  chmod 700 "$1/clients"
  leaf "$1/clients/$3" "$2" "/O=Relais/CN=$3" "keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
}

valid_name() { [[ "$1" =~ ^[a-z0-9][a-z0-9.-]{0,62}$ ]] || die "bad principal name '$1' (lower case letters, digits, '.', '-')"; }

keystore() { # dir base: PKCS#12 keystore of base.pem/base.key (+ the CA) for the JVM, remade with it
  local d="$1" b="$2"
  [[ -s "$b.p12.password" ]] ||
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$b.p12.password")
  [[ -s "$b.p12" ]] && return 0
  (umask 077 && openssl pkcs12 -export -in "$b.pem" -inkey "$b.key" -certfile "$d/ca.pem" \
    -name "$(basename "$b")" -out "$b.p12.tmp" -passout "file:$b.p12.password" && mv "$b.p12.tmp" "$b.p12")
}

prepare() { # dir
  (umask 077 && mkdir -p "$1")
  chmod 700 "$1"
}

cmd_init() {
  local d="$1" p
  prepare "$d"
  make_ca "$d/ca" "/O=Relais/CN=Relais local CA"
  server "$d" kafka-broker "$BROKER_SAN" relais-broker
  keystore "$d" "$d/kafka-broker"
  server "$d" pg-server "$SERVER_SAN"
  server "$d" relais-api-server "$SERVER_SAN"
  server "$d" relais-ingest-server "$SERVER_SAN"
  for p in "${SERVICE_PRINCIPALS[@]}"; do client "$d" "$d/ca" "$p"; done
  keystore "$d" "$d/clients/relais-admin"
}

cmd_show() {
  local f
  for f in "$1"/*.pem "$1"/clients/*.pem; do
    [[ -s "$f" ]] || continue
    printf '%s\t%s\t%s\n' "${f#"$1"/}" "$(openssl x509 -in "$f" -noout -subject -nameopt compat | sed 's/^subject=//')" \
      "$(openssl x509 -in "$f" -noout -enddate | sed 's/^notAfter=//')"
  done
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  init) [[ $# -eq 1 ]] || usage 2; cmd_init "$1" ;;
  client) [[ $# -eq 2 ]] || usage 2; [[ -s "$1/ca.pem" ]] || die "no CA in $1 (pki.sh init $1)"; client "$1" "$1/ca" "$2" ;;
  cpas)
    [[ $# -eq 2 ]] || usage 2
    [[ "$2" =~ ^[01][0-9]{9}$ ]] || die "bad CBE number '$2' (ten digits, first 0 or 1)"
    [[ -s "$1/ca.pem" ]] || die "no CA in $1 (pki.sh init $1)"
    client "$1" "$1/ca" "cpas-$2"
    ;;
  foreign)
    [[ $# -eq 2 ]] || usage 2
    prepare "$1"
    make_ca "$1/foreign-ca" "/O=Somebody else/CN=Foreign CA"
    mkdir -p "$1/foreign"
    chmod 700 "$1/foreign"
    valid_name "$2"
    leaf "$1/foreign/$2" "$1/foreign-ca" "/O=Relais/CN=$2" "keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
    ;;
  show) cmd_show "$1" ;;
  -h | --help | help) usage 0 ;;
  *) usage 2 ;;
esac
