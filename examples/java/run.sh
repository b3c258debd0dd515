#!/usr/bin/env bash
# Runs the Java reference consumer built by build.sh: ./run.sh --bundle DIR [options] (see Consumer.java).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ -f "$HERE/target/classpath.txt" ]] || { echo "run.sh: build it first (./build.sh)" >&2; exit 2; }
exec java -cp "$HERE/target/classes:$(cat "$HERE/target/classpath.txt")" be.relais.example.Consumer "$@"
