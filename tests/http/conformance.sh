#!/usr/bin/env bash
# conformance.sh — the HTTP/2 conformance suite (tests/http/h2_conformance.c) against a
# sluice-server of its own on loopback, kernel-socket datapath, without root: the quick loop while
# working on server/h2. (tests/http/http_test.sh runs the same suite on both datapaths in the test
# topology; that is the copy tests/run.sh counts.)
#
#   tests/http/conformance.sh BUILD_DIR [--h2 native|nghttp2] [--tls] [-- SUITE OPTIONS...]
#
# Starts `BUILD_DIR/bin/sluice-server --datapath socket --http PORT` (PORT: H2_CONFORMANCE_PORT,
# default 20580) with a config file of one key, [http] h2 = the --h2 implementation (default native,
# sluice's own codec; nghttp2 is the reference session), waits for its "ready" line, runs
# BUILD_DIR/tests/h2_conformance against it on 127.0.0.1 (its /healthz, /echo and /bytes/N routes
# are the suite's defaults), then stops it by PID with SIGTERM (a trap does it on any exit) and checks
# that it stopped cleanly. Prints the suite's TAP lines plus one for the server's stop; exit status 0
# only when everything passed.
#
# With native the suite also runs its defence cases (--defences: the native codec's flood limits, at
# the defaults this server runs with); those that end in a flood connect from 127.0.0.10-29, one
# address each, so that the server's per-address flood budget (flood_source_strikes) refuses none of
# the cases after them. The nghttp2 session has none of these limits: it runs the RFC cases only.
#
# --tls runs the suite over TLS instead (h2_conformance --tls: TLS 1.3, ALPN h2, every case): the
# server also gets `--https TLS_PORT --cert --key` (TLS_PORT: H2_CONFORMANCE_TLS_PORT, default 20581)
# with a self-signed P-256 certificate for CN=localhost, made here by openssl in a temporary
# directory that the trap removes.
set -u

usage() {
    echo "usage: $0 BUILD_DIR [--h2 native|nghttp2] [--tls] [-- SUITE OPTIONS...]" >&2
    exit 2
}

BUILD=${1:-}
[ -n "$BUILD" ] || usage
shift
H2=native
TLS=0
while [ $# -gt 0 ]; do
    case "$1" in
    --h2)
        [ $# -ge 2 ] && [[ $2 =~ ^(native|nghttp2)$ ]] || usage
        H2=$2
        shift 2
        ;;
    --tls)
        TLS=1
        shift
        ;;
    --)
        shift
        break
        ;;
    *) usage ;;
    esac
done

cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
SERVER=$BUILD/bin/sluice-server
SUITE=$BUILD/tests/h2_conformance
PORT=${H2_CONFORMANCE_PORT:-20580}
TLS_PORT=${H2_CONFORMANCE_TLS_PORT:-20581}
LOG=$(mktemp /tmp/h2conf.XXXXXX)
CONF=$(mktemp /tmp/h2conf-cfg.XXXXXX)
CERT_DIR=""
SERVER_PID=""
SERVER_ARGS=(--http "$PORT")
SUITE_ARGS=()
SUITE_PORT=$PORT
LABEL=$H2
if [ "$H2" = native ]; then
    SUITE_ARGS+=(--defences --flood-sources "$(seq -s, -f '127.0.0.%g' 10 29)")
fi
printf '[http]\nh2 = %s\n' "$H2" >"$CONF"

stop_server() { # SIGTERM, then at most 10 s for the drain; sets SERVER_STATUS
    SERVER_STATUS=""
    [ -n "$SERVER_PID" ] || return
    stop_pid "$SERVER_PID" 10
    SERVER_STATUS=$STOP_STATUS
    SERVER_PID=""
}
trap 'stop_server; rm -f "$LOG" "$CONF"; [ -z "$CERT_DIR" ] || rm -rf "$CERT_DIR"' EXIT
trap 'exit 130' INT TERM

if [ "$TLS" = 1 ]; then
    CERT_DIR=$(mktemp -d /tmp/h2conf-tls.XXXXXX)
    if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -keyout "$CERT_DIR/key.pem" -out "$CERT_DIR/cert.pem" >"$CERT_DIR/openssl.log" 2>&1; then
        echo "not ok - h2 conformance ($H2, TLS): openssl could not make a certificate: $(head -n 3 "$CERT_DIR/openssl.log" | tr '\n' '|')"
        exit 1
    fi
    SERVER_ARGS+=(--https "$TLS_PORT" --cert "$CERT_DIR/cert.pem" --key "$CERT_DIR/key.pem")
    SUITE_PORT=$TLS_PORT
    SUITE_ARGS+=(--tls)
    LABEL="$H2, TLS"
fi

for f in "$SERVER" "$SUITE"; do
    if [ ! -x "$f" ]; then
        echo "not ok - h2 conformance: $f is missing (make BUILD=$BUILD all)"
        exit 1
    fi
done

"$SERVER" --datapath socket --workers 2 "${SERVER_ARGS[@]}" --config "$CONF" >"$LOG" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do # 10 s at most
    grep -q ready "$LOG" && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q ready "$LOG"; then
    echo "not ok - h2 conformance ($LABEL): sluice-server did not get ready (${SERVER_ARGS[*]}): $(head -n 3 "$LOG" | tr '\n' '|')"
    exit 1
fi

"$SUITE" --host 127.0.0.1 --port "$SUITE_PORT" "${SUITE_ARGS[@]}" "$@"
status=$?

stop_server
if [ "$SERVER_STATUS" = 0 ]; then
    echo "ok - h2 conformance ($LABEL): sluice-server stopped cleanly after the suite"
else
    echo "not ok - h2 conformance ($LABEL): sluice-server stopped with status $SERVER_STATUS: $(grep -i -m 2 -E 'error|fail' "$LOG" | tr '\n' '|')"
    status=1
fi
exit $status
