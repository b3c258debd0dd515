#!/bin/sh
# Test certificates for the TLS tests, made with openssl at test time (never committed):
#   DIR/ca.pem                          the CA relais-ingest trusts for client certificates
#   DIR/server.pem, server.key          the listener's certificate (CN/SAN localhost, IP 127.0.0.1), by ca
#   DIR/client.pem, client.key          the BCSS sender (CN and SAN bcss-sender), by ca
#   DIR/stranger.pem, stranger.key      a client certificate by ca, but with another name (CN stranger)
#   DIR/other-ca.pem                    another CA
#   DIR/other-client.pem, other-client.key  a client certificate named bcss-sender, by other-ca
#   DIR/relais-api.pem, relais-api.key  relais-api's client certificate for SPP IS (CN relais-api), by ca
#   DIR/relais-api-other.pem, .key      the same name by other-ca (fake_sppis.py must refuse it)
#   DIR/other-server.pem, .key          a listener's certificate (localhost, 127.0.0.1) by other-ca:
#                                       an impostor server a client trusting ca must refuse
# Usage: make-certs.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() {  # name, subject
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

leaf() {  # name, ca, subject, extensions
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "$3"
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" -days 2 \
    -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

ca ca "/O=Relais test/CN=Relais test CA"
ca other-ca "/O=Somebody else/CN=Other CA"
leaf server ca "/O=Relais test/CN=localhost" \
  "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client ca "/O=BCSS/CN=bcss-sender" \
  "subjectAltName=DNS:bcss-sender
extendedKeyUsage=clientAuth"
leaf stranger ca "/O=Relais test/CN=stranger" \
  "subjectAltName=DNS:stranger
extendedKeyUsage=clientAuth"
leaf other-client other-ca "/O=BCSS/CN=bcss-sender" \
  "subjectAltName=DNS:bcss-sender
extendedKeyUsage=clientAuth"
leaf relais-api ca "/O=Relais test/CN=relais-api" \
  "subjectAltName=DNS:relais-api
extendedKeyUsage=clientAuth"
leaf relais-api-other other-ca "/O=Relais test/CN=relais-api" \
  "subjectAltName=DNS:relais-api
extendedKeyUsage=clientAuth"
leaf other-server other-ca "/O=Somebody else/CN=localhost" \
  "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
chmod 644 ./*.pem
