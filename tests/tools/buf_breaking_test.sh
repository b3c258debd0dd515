#!/usr/bin/env bash
# Proves that `buf breaking` against the released image (proto/releases/relais-v1.binpb) can
# fail: a copy of proto/ unchanged passes, the same copy with a field removed from
# RoutedNotification is reported breaking, naming the field. CTest proto_buf_breaking_detects.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUF="$REPO/var/node/node_modules/.bin/buf"
[[ -x "$BUF" ]] || { echo "buf_breaking_test: $BUF missing (run scripts/install-deps.sh)" >&2; exit 1; }
IMAGE="$REPO/proto/releases/relais-v1.binpb"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp -r "$REPO/proto/buf.yaml" "$REPO/proto/relais" "$tmp/"
cd "$tmp"
"$BUF" breaking --against "$IMAGE" || { echo "buf_breaking_test: the unchanged copy is reported breaking" >&2; exit 1; }
grep -q '  int64 routed_at_us = 4;' relais/v1/records.proto ||
  { echo "buf_breaking_test: RoutedNotification.routed_at_us not found where expected" >&2; exit 1; }
sed -i '/  int64 routed_at_us = 4;/d' relais/v1/records.proto
if out="$("$BUF" breaking --against "$IMAGE" 2>&1)"; then
  echo "buf_breaking_test: a removed field was NOT reported breaking" >&2
  exit 1
fi
echo "$out"
grep -q 'routed_at_us' <<<"$out" || { echo "buf_breaking_test: the report does not name the field" >&2; exit 1; }
echo "buf_breaking_test: a removed field is reported breaking"
