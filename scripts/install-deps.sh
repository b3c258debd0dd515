#!/usr/bin/env bash
# Install everything Relais needs to build, test and run its local stack on Debian 12.
# Idempotent and fast when everything is present: dpkg-query first, apt only when
# something is missing; Kafka jars re-resolved only when missing or the pom changed.
# Runs as root (or via sudo when available), without interaction.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  librdkafka-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  libpq-dev libyaml-cpp-dev libssl-dev
  libxml2-dev libxml2-utils   # libs/xml; xmllint is the reference in the XSD differential test
  clang-format clang-tidy   # make format-check and make lint (Debian 12: version 14)
  clang libclang-rt-14-dev   # the fuzz targets (libFuzzer and the sanitizers come with clang 14's runtime)
  postgresql-15 postgresql-client-15
  openjdk-17-jre-headless maven
  python3 python3-venv python3-yaml curl   # python3-yaml: scripts/asyncapi_html.py at build time
  chromium npm
  prometheus
  haproxy   # the load balancer of the rolling restarts (make test-faults-rolling)
  faketime   # libfaketime: PostgreSQL's clock stepped in the cluster fault suite (pg_clock_skew)
)

# Packages whose command may come from outside Debian (a Node.js with its own npm,
# a Python or a JDK installed by other means): the command is enough.
declare -A PROVIDES=([npm]=npm [python3]=python3 [maven]=mvn [openjdk-17-jre-headless]=java)

missing=()
for p in "${PACKAGES[@]}"; do
  if [[ -n "${PROVIDES[$p]:-}" ]] && command -v "${PROVIDES[$p]}" >/dev/null 2>&1; then continue; fi
  status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
  [[ "$status" == "installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=()
  if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: not root and no sudo" >&2; exit 1; }
    SUDO=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Debian's prometheus package would start a system Prometheus on :9090: forbid
  # service starts during the install (tests run their own Prometheus on a free port).
  policy_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
    trap '"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  if ((policy_added)); then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    "${SUDO[@]}" systemctl disable --now prometheus prometheus-node-exporter 2>/dev/null || true
  fi
else
  echo "install-deps: all ${#PACKAGES[@]} packages present" >&2
fi

# Kafka broker + tools jars for the local stack (deploy/local/stack.sh)
"$REPO/deploy/local/kafka-libs.sh"

# Python tools for the test suite and the demo (test/bench tooling only, never
# the product): a virtualenv under var/, refreshed when requirements change.
VENV="$REPO/var/venv"
REQ="$REPO/tests/requirements.txt"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
  echo "install-deps: preparing $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  echo "$want" > "$STAMP"
fi

# buf (protobuf lint / breaking-change checks, npm @bufbuild/buf) under var/node, pinned.
BUF_VERSION=1.75.0
if [[ "$("$REPO/var/node/node_modules/.bin/buf" --version 2>/dev/null)" != "$BUF_VERSION" ]]; then
  echo "install-deps: installing @bufbuild/buf@$BUF_VERSION under var/node" >&2
  mkdir -p "$REPO/var/node"
  npm install --prefix "$REPO/var/node" --no-audit --no-fund --silent "@bufbuild/buf@$BUF_VERSION"
fi

# The AsyncAPI CLI (validates docs/asyncapi/relais.yaml in make test), npm @asyncapi/cli under
# var/asyncapi, pinned; its install scripts are not run (nothing is downloaded besides the packages).
ASYNCAPI_VERSION=4.1.1
if [[ "$(node -p "require('$REPO/var/asyncapi/node_modules/@asyncapi/cli/package.json').version" 2>/dev/null)" != "$ASYNCAPI_VERSION" ]]; then
  echo "install-deps: installing @asyncapi/cli@$ASYNCAPI_VERSION under var/asyncapi" >&2
  mkdir -p "$REPO/var/asyncapi"
  npm install --prefix "$REPO/var/asyncapi" --no-audit --no-fund --silent --ignore-scripts "@asyncapi/cli@$ASYNCAPI_VERSION"
fi

# The public BCSS XSDs for the XML tests (var/bcss, checksum pinned, never committed).
"$REPO/scripts/fetch-bcss-xsd.sh"
