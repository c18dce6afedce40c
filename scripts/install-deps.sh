#!/usr/bin/env bash
# Installs every Debian 12 package onceflow needs to build, test and run.
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config
  libcaf-dev              # CAF 0.17.6: core + io + openssl (cluster TLS)
  libspdlog-dev libfmt-dev
  libboost-test-dev
  libsqlite3-dev          # embedded store
  nlohmann-json3-dev      # JSON validation and encoding
  libhiredis-dev libmongoc-dev
  libboost-dev            # Boost.Beast/Asio: the HTTP API server
  libcurl4-openssl-dev    # webhook deliveries (curl multi interface)
  libssl-dev              # HMAC-SHA256 webhook signatures, rediss:// and cluster TLS
  libedit-dev             # the console's shell: history, tab completion
  redis-server
  openssl                 # test certificates for rediss:// and cluster TLS
  wrk                     # HTTP ingest benchmark (bench/http)
  uuid-runtime
  iproute2 nftables       # the cluster's network-cut test (netns, veth, a drop rule)
  clang-format clang-tidy # the format and tidy checks of scripts/test.sh
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The tests' MongoDB-compatible server: FerretDB 1.24 on SQLite, our Go main
# on its embeddable package (tests/support/ferretdb/; Debian packages no
# MongoDB server). Built with the machine's Go from the Go module proxy;
# rebuilt only when its sources change.
here="$(cd "$(dirname "$0")/.." && pwd)"
ferret="$here/tests/support/ferretdb"
if [ ! -x "$ferret/bin/ferretdb-test" ] \
   || [ -n "$(find "$ferret" -maxdepth 1 -newer "$ferret/bin/ferretdb-test" \
               \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \))" ]; then
  command -v go >/dev/null || { echo "install-deps: Go is needed to build" \
    "FerretDB for the MongoDB tests (https://go.dev/doc/install)" >&2; exit 1; }
  echo "install-deps: building FerretDB (tests/support/ferretdb)"
  (cd "$ferret" && go build -o bin/ferretdb-test .)
fi

# The tests' independent MongoDB client.
if ! python3 -c "import pymongo" 2>/dev/null; then
  echo "install-deps: installing pymongo"
  python3 -m pip install -q --disable-pip-version-check "pymongo==4.20.1"
fi
