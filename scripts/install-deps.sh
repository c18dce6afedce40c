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
  chromium chromium-driver # the dashboard's browser test (selenium, headless)
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
