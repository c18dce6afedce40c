#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy's checks, warnings as errors) over the
# product's sources; fails if it finds anything.
# Usage: scripts/tidy.sh <build dir with compile_commands.json> [files...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/tidy.sh <build dir> [files...]}
shift
if [ $# -eq 0 ]; then
  mapfile -t files < <(git ls-files 'actors/*.cpp' 'adapters/*.cpp' \
                                    'config/*.cpp' 'runtime/*.cpp')
else
  files=("$@")
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
printf '%s\n' "${files[@]}" \
  | xargs -P "$(nproc)" -n 1 clang-tidy -p "$build" --quiet >"$log" 2>&1 \
  || status=1
grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$log" || true
if [ $status -ne 0 ]; then
  echo "tidy: clang-tidy found problems (see above)" >&2
else
  echo "tidy: ${#files[@]} files clean"
fi
exit $status
