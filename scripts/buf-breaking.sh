#!/usr/bin/env bash
# Checks the protobuf schemas (proto/) for breaking changes against the previous release: the
# descriptor image kept in the repository, proto/releases/relais-v1.binpb (see
# proto/releases/README.md: a clone may have no tags), or, given a tag, that tag's proto/. buf
# comes from npm (@bufbuild/buf, installed under var/node by scripts/install-deps.sh); the rules
# are in proto/buf.yaml (breaking: FILE). Run by make test (CTest proto_buf_breaking).
#   scripts/buf-breaking.sh         # against proto/releases/relais-v1.binpb
#   scripts/buf-breaking.sh TAG     # against the proto/ of git tag TAG
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUF="$REPO/var/node/node_modules/.bin/buf"
[[ -x "$BUF" ]] || { echo "buf-breaking: $BUF missing (run scripts/install-deps.sh)" >&2; exit 1; }
cd "$REPO/proto"
if [[ $# -ge 1 ]]; then
  echo "buf-breaking: comparing proto/ with release $1"
  "$BUF" breaking --against "$REPO/.git#tag=$1,subdir=proto"
  echo "buf-breaking: no breaking change since $1"
  exit 0
fi
image="$REPO/proto/releases/relais-v1.binpb"
[[ -f "$image" ]] || { echo "buf-breaking: $image missing" >&2; exit 1; }
echo "buf-breaking: comparing proto/ with the released image proto/releases/relais-v1.binpb"
"$BUF" breaking --against "$image"
echo "buf-breaking: no breaking change since relais-v1"
