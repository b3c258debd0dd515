#!/usr/bin/env bash
# clang-format (Debian's, with the committed .clang-format) over the project's C++ files.
#   scripts/format.sh          rewrite the files in place
#   scripts/format.sh --check  change nothing; list the files that are not formatted and fail
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CLANG_FORMAT="${CLANG_FORMAT:-clang-format}"
command -v "$CLANG_FORMAT" >/dev/null || { echo "format: $CLANG_FORMAT not found (make deps installs it)" >&2; exit 2; }
mapfile -t files < <(scripts/cxx-files.sh)
if [[ "${1:-}" == "--check" ]]; then
  bad=()
  for f in "${files[@]}"; do
    "$CLANG_FORMAT" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if ((${#bad[@]})); then
    printf 'format-check: not formatted (run `make format`):\n' >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "format-check: ${#files[@]} files formatted"
else
  printf '%s\0' "${files[@]}" | xargs -0 -r "$CLANG_FORMAT" -i
  echo "format: ${#files[@]} files"
fi
