#!/usr/bin/env bash
# Builds and installs what only the tests need, beside the Debian packages
# of install-deps.sh:
# - FerretDB 1.24 (the MongoDB wire protocol on SQLite), our Go main on its
#   embeddable package in tests/support/ferretdb/ (Debian packages no
#   MongoDB server), built with the machine's Go from the Go module proxy
#   into tests/support/ferretdb/bin/; rebuilt only when its sources change;
# - pymongo, the independent client the MongoDB tests count documents with;
# - selenium, which drives Debian's Chromium (chromium-driver) in the
#   dashboard's browser test.
# scripts/test.sh runs it beside the C++ build.
set -euo pipefail
cd "$(dirname "$0")/.."
ferret=tests/support/ferretdb
if [ ! -x "$ferret/bin/ferretdb-test" ] \
   || [ -n "$(find "$ferret" -maxdepth 1 -newer "$ferret/bin/ferretdb-test" \
               \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \))" ]; then
  command -v go >/dev/null || { echo "test-servers: Go is needed to build" \
    "FerretDB for the MongoDB tests (https://go.dev/doc/install)" >&2; exit 1; }
  echo "test-servers: building FerretDB ($ferret)"
  (cd "$ferret" && go build -o bin/ferretdb-test .)
fi
if ! python3 -c "import pymongo" 2>/dev/null; then
  echo "test-servers: installing pymongo"
  python3 -m pip install -q --disable-pip-version-check "pymongo==4.20.1"
fi
if ! python3 -c "import selenium" 2>/dev/null; then
  echo "test-servers: installing selenium"
  python3 -m pip install -q --disable-pip-version-check "selenium==4.27.1"
fi
