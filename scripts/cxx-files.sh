#!/usr/bin/env bash
# The project's own C++ files (what `make format` / `make format-check` / `make lint` look at):
# tracked by git, under libs, services, tests, bench, fuzz and tools. Generated code (build*/) and
# var/ are never tracked. `--sources` lists only the .cpp files (clang-tidy's translation units);
# `--changed` only the files changed since the merge base with origin/main (or, without that
# remote, since the previous commit), plus uncommitted changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pattern='\.(cpp|hpp|h|cc)$'
mode_sources=0 mode_changed=0
for a in "$@"; do
  case "$a" in
    --sources) mode_sources=1; pattern='\.(cpp|cc)$' ;;
    --changed) mode_changed=1 ;;
    *) echo "usage: $0 [--sources] [--changed]" >&2; exit 2 ;;
  esac
done
if ((mode_changed)); then
  base="$(git merge-base HEAD origin/main 2>/dev/null || git rev-parse -q --verify HEAD~1 || true)"
  { [[ -n "$base" ]] && git diff --name-only --diff-filter=d "$base"; git diff --name-only --diff-filter=d HEAD; } | sort -u
else
  git ls-files
fi | grep -E '^(libs|services|tests|bench|fuzz|tools)/' | grep -E "$pattern" | while read -r f; do
  [[ -f "$f" ]] && echo "$f"
done
exit 0
