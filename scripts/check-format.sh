#!/usr/bin/env bash
# Fails if a C++ file of the project is not formatted as .clang-format says.
# With --fix, formats them instead.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/onceflow-format.$$; then
  grep -E '^[^ ].*: (error|warning):' /tmp/onceflow-format.$$ \
    | cut -d: -f1 | sort -u | sed 's/^/unformatted: /'
  rm -f /tmp/onceflow-format.$$
  echo "format: run scripts/check-format.sh --fix" >&2
  exit 1
fi
rm -f /tmp/onceflow-format.$$
echo "format: ${#files[@]} files formatted"
