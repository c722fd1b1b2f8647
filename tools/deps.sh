#!/bin/sh
# deps.sh — install the Debian packages sluice builds, tests and demos with, only those missing.
#
# Called by `make deps` (and so by `make test` and `make demo`). Needs root only when something
# is missing; prints what it installs.
set -eu

PACKAGES="make gcc clang clang-format llvm libbpf-dev libxdp-dev bpftool libelf-dev zlib1g-dev pkg-config
iproute2 iputils-ping util-linux ethtool libclang-rt-14-dev libnghttp2-dev libssl-dev libhttp-parser-dev libinih-dev nghttp2-client nghttp2-server h2o curl jq
nginx-light gnuplot-nox apache2-utils python3 linux-perf golang-go golang-google-grpc-dev golang-google-protobuf-dev
python3-grpcio protobuf-c-compiler libprotobuf-c-dev bpftrace systemtap-sdt-dev"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $pkg"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: error: missing Debian packages:$missing (run as root to install them)" >&2
    exit 3
fi
echo "deps.sh: installing$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
