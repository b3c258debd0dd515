#!/usr/bin/env bash
# The project's own C++ files (what `make format` / `make format-check` / `make lint` look at):
# tracked by git, under libs, services, tests, bench, fuzz and tools. Generated code (build*/) and
# var/ are never tracked. `--sources` lists only the .cpp files (clang-tidy's translation units);
# `--changed` only the files changed since the merge base with origin/main, plus uncommitted
# changes and new untracked files. Without origin/main (a local clone, a worktree) the base is the merge base with the
# local main branch; when that base is HEAD itself (on main) or neither exists, the previous
# commit (HEAD~1); in a repository with a single commit, only the uncommitted changes. Outside a
# git checkout there is nothing to compare: it says so on stderr and lists nothing.
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
if ! git rev-parse -q --verify HEAD >/dev/null 2>&1; then
  echo "cxx-files: not a git checkout with a commit: no file list" >&2
  exit 0
fi
if ((mode_changed)); then
  head="$(git rev-parse HEAD)"
  base="$(git merge-base HEAD origin/main 2>/dev/null || git merge-base HEAD main 2>/dev/null || true)"
  if [[ -z "$base" || "$base" == "$head" ]]; then base="$(git rev-parse -q --verify HEAD~1 || true)"; fi
  echo "cxx-files: changed since ${base:-(no base: uncommitted changes only)}" >&2
  { [[ -n "$base" ]] && git diff --name-only --diff-filter=d "$base"; git diff --name-only --diff-filter=d HEAD
    git ls-files --others --exclude-standard; } | sort -u
else
  git ls-files
fi | grep -E '^(libs|services|tests|bench|fuzz|tools)/' | grep -E "$pattern" | while read -r f; do
  [[ -f "$f" ]] && echo "$f"
done
exit 0
