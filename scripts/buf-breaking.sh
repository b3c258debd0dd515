#!/usr/bin/env bash
# Checks the protobuf schemas (proto/) for breaking changes against the previous release: the
# latest git tag matching v* (by version order). Without such a tag there is nothing to compare
# with: it says so and succeeds. buf comes from npm (@bufbuild/buf, installed under var/node by
# scripts/install-deps.sh); the rules are in proto/buf.yaml (breaking: FILE).
#   scripts/buf-breaking.sh [TAG]   # compare with TAG instead of the latest v* tag
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUF="$REPO/var/node/node_modules/.bin/buf"
[[ -x "$BUF" ]] || { echo "buf-breaking: $BUF missing (run scripts/install-deps.sh)" >&2; exit 1; }
tag="${1:-$(git -C "$REPO" tag --list 'v*' --sort=-version:refname | head -n 1)}"
if [[ -z "$tag" ]]; then
  echo "buf-breaking: no release tag v* yet: nothing to compare with (the check runs once v* exists)"
  exit 0
fi
echo "buf-breaking: comparing proto/ with release $tag"
cd "$REPO/proto"
"$BUF" breaking --against "$REPO/.git#tag=$tag,subdir=proto"
echo "buf-breaking: no breaking change since $tag"
