#!/usr/bin/env bash
# Builds the Java reference consumer: protoc generates the relais.v1 classes from proto/, Maven
# compiles against kafka-clients and protobuf-java from Maven Central and writes the runtime
# classpath to target/classpath.txt. Exit 3 when Maven cannot resolve its dependencies (no
# Maven Central and not in ~/.m2), 1 on any other failure. Run: ./run.sh --bundle DIR ...
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROTO="$(cd "$HERE/../../proto" && pwd)"
command -v mvn >/dev/null || { echo "build.sh: mvn not found" >&2; exit 3; }
command -v protoc >/dev/null || { echo "build.sh: protoc not found" >&2; exit 1; }
GEN="$HERE/target/generated-sources/protobuf"
rm -rf "$GEN" && mkdir -p "$GEN"
(cd "$PROTO" && protoc -I. --java_out="$GEN" $(find relais -name '*.proto' | sort))
log="$HERE/target/mvn.log"
if ! mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" package dependency:build-classpath \
     -Dmdep.outputFile="$HERE/target/classpath.txt" >"$log" 2>&1; then
  cat "$log" >&2
  if grep -qE "Could not (resolve|transfer)|Unknown host|Connection refused|Network is unreachable" "$log"; then
    echo "build.sh: Maven could not resolve the dependencies (Maven Central unreachable?)" >&2
    exit 3
  fi
  exit 1
fi
