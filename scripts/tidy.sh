#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy's checks, warnings as errors) over the
# product's sources; fails if it finds anything.
# Usage: scripts/tidy.sh <build dir with compile_commands.json> [files...]
#
# With no files it checks every product source, one translation unit per
# build target that includes all of the target's sources: the checks then walk
# CAF's and the standard library's headers once per target instead of once
# per file (about a fourth of the time). Named files are checked one by one.
# It runs niced: the test command runs it beside the other tests.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/tidy.sh <build dir> [files...]}
shift
units=()
if [ $# -eq 0 ]; then
  unity_dir="$build/tidy-unity"
  mapfile -t units < <(python3 scripts/tidy_units.py "$build" "$unity_dir" \
    $(git ls-files 'actors/*.cpp' 'adapters/*.cpp' 'config/*.cpp' \
                   'runtime/*.cpp'))
  db="$unity_dir"
  checked="$(git ls-files 'actors/*.cpp' 'adapters/*.cpp' 'config/*.cpp' \
                          'runtime/*.cpp' | wc -l) files in ${#units[@]} units"
else
  units=("$@")
  db="$build"
  checked="$# files"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
printf '%s\n' "${units[@]}" \
  | xargs -P "$(nproc)" -n 1 nice -n 19 clang-tidy -p "$db" \
      --config-file=.clang-tidy \
      --quiet >"$log" 2>&1 \
  || status=1
grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$log" || true
if [ $status -ne 0 ]; then
  echo "tidy: clang-tidy found problems (see above)" >&2
else
  echo "tidy: $checked clean"
fi
exit $status
