#!/usr/bin/env bash
# h2_reference.sh — calibrates the HTTP/2 conformance suite against reference servers: nghttpd
# (nghttp2) and h2o 2.2.5, on loopback, serving what sluice-server serves (/healthz, /echo, /bytes/N).
#
#   tests/http/h2_reference.sh BUILD_DIR [nghttpd|h2o|all] [-- SUITE OPTIONS...]
#
# Each server runs in a throw-away directory (document tree, h2o config, logs), on 127.0.0.1 only,
# started here and stopped by its PID (trap). The suite's own output is shown; then one line per
# server: "ok" when the cases it fails are exactly its known deviations from RFC 9113/7541 (listed
# below and explained at the top of tests/http/h2_conformance.c), "not ok" naming the unexpected
# failures and passes otherwise. A new failure means a server or the suite changed: look at which.
#
# Ports: H2REF_NGHTTPD_PORT (default 20480) and H2REF_H2O_PORT (default 20481).
set -u

BUILD=${1:-build}
shift || true
WHICH=all
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    WHICH=$1
    shift
fi
[ "${1:-}" = "--" ] && shift
SUITE_ARGS=("$@")

cd "$(dirname "$0")/../.." || exit 1
SUITE=$BUILD/tests/h2_conformance
NGHTTPD_PORT=${H2REF_NGHTTPD_PORT:-20480}
H2O_PORT=${H2REF_H2O_PORT:-20481}

# Case identifiers (section/number) each server fails, with the reason in h2_conformance.c's header.
KNOWN_NGHTTPD="4.2/6 5.1.1/2 5.1.1/5 6.9.2/3"
KNOWN_H2O="3.4/3 5.1.1/2 6.2/8 6.5.2/7 6.9.2/3 8.1.1/4 8.2.1/1 8.2.1/2 8.2.1/3 8.2.1/4 8.2.1/5
8.2.1/6 8.2.1/7 8.2.2/2 8.2.2/3 8.3.1/1 8.5/1 hpack-4.2/3"

if [ ! -x "$SUITE" ]; then
    echo "h2_reference.sh: error: $SUITE is missing (make BUILD=$BUILD $SUITE)" >&2
    exit 2
fi

WORK=$(mktemp -d /tmp/h2ref.XXXXXX)
SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
    fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# The document tree: what the suite asks for, as files (nghttpd serves them; h2o runs handlers).
mkdir -p "$WORK/htdocs/bytes"
printf 'ok\n' >"$WORK/htdocs/healthz"
head -c 100 /dev/zero | tr '\0' x >"$WORK/htdocs/bytes/100"
head -c 100000 /dev/zero | tr '\0' x >"$WORK/htdocs/bytes/100000"
: >"$WORK/htdocs/echo"

wait_port() { # port: true once something accepts on 127.0.0.1:port (5 s at most)
    for _ in $(seq 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

status=0
# check NAME KNOWN-IDS OUTPUT-FILE: compare the failed case ids with the known ones.
check() {
    local name=$1 known out=$3 failed unexpected="" fixed=""
    known=$(printf '%s' "$2" | tr '\n' ' ')
    failed=$(sed -n 's/^not ok - \([^ ]*\) .*/\1/p' "$out" | sort -V | tr '\n' ' ')
    for id in $failed; do
        case " $known " in *" $id "*) ;; *) unexpected="$unexpected $id" ;; esac
    done
    for id in $known; do
        case " $failed " in *" $id "*) ;; *) fixed="$fixed $id" ;; esac
    done
    local summary
    summary="$(grep -c '^ok - ' "$out") passed, $(grep -c '^not ok - ' "$out") failed"
    if [ -z "$unexpected" ] && [ -z "$fixed" ]; then
        echo "ok - h2 reference $name: $summary, the known deviations exactly"
    else
        echo "not ok - h2 reference $name: $summary; unexpected failures:${unexpected:- none}; unexpected passes:${fixed:- none}"
        status=1
    fi
}

run_nghttpd() {
    command -v nghttpd >/dev/null || { echo "skip - h2 reference nghttpd: nghttpd not installed (apt-get install nghttp2-server)"; return; }
    nghttpd --no-tls --echo-upload -a 127.0.0.1 -d "$WORK/htdocs" "$NGHTTPD_PORT" >"$WORK/nghttpd.log" 2>&1 &
    SERVER_PID=$!
    if ! wait_port "$NGHTTPD_PORT"; then
        echo "not ok - h2 reference nghttpd: did not start on port $NGHTTPD_PORT: $(tail -n 3 "$WORK/nghttpd.log" | tr '\n' '|')"
        status=1
        stop_server
        return
    fi
    echo "# nghttpd $(nghttpd --version | awk '{print $2}') on 127.0.0.1:$NGHTTPD_PORT (pid $SERVER_PID)"
    "$SUITE" --host 127.0.0.1 --port "$NGHTTPD_PORT" "${SUITE_ARGS[@]}" | tee "$WORK/nghttpd.out"
    stop_server
    check nghttpd "$KNOWN_NGHTTPD" "$WORK/nghttpd.out"
}

run_h2o() {
    command -v h2o >/dev/null || { echo "skip - h2 reference h2o: h2o not installed (apt-get install h2o)"; return; }
    local user=""
    [ "$(id -u)" -eq 0 ] && user="user: nobody" # h2o refuses to run as root without one
    cat >"$WORK/h2o.conf" <<EOF
$user
error-log: $WORK/h2o-error.log
listen:
  host: 127.0.0.1
  port: $H2O_PORT
hosts:
  default:
    paths:
      /healthz:
        mruby.handler: |
          Proc.new do |env|
            [200, {"content-type" => "text/plain"}, ["ok\n"]]
          end
      /echo:
        mruby.handler: |
          Proc.new do |env|
            input = env["rack.input"]
            [200, {"content-type" => "application/octet-stream"}, [input ? input.read : ""]]
          end
      /bytes:
        mruby.handler: |
          Proc.new do |env|
            [200, {"content-type" => "application/octet-stream"}, ["x" * env["PATH_INFO"][1..-1].to_i]]
          end
EOF
    h2o -c "$WORK/h2o.conf" >"$WORK/h2o.log" 2>&1 &
    SERVER_PID=$!
    if ! wait_port "$H2O_PORT"; then
        echo "not ok - h2 reference h2o: did not start on port $H2O_PORT: $(tail -n 3 "$WORK/h2o.log" "$WORK/h2o-error.log" 2>/dev/null | tr '\n' '|')"
        status=1
        stop_server
        return
    fi
    echo "# h2o $(h2o --version | awk 'NR==1{print $3}') on 127.0.0.1:$H2O_PORT (pid $SERVER_PID)"
    "$SUITE" --host 127.0.0.1 --port "$H2O_PORT" "${SUITE_ARGS[@]}" | tee "$WORK/h2o.out"
    stop_server
    check h2o "$KNOWN_H2O" "$WORK/h2o.out"
}

case $WHICH in
nghttpd) run_nghttpd ;;
h2o) run_h2o ;;
all) run_nghttpd; run_h2o ;;
*) echo "usage: $0 BUILD_DIR [nghttpd|h2o|all] [-- SUITE OPTIONS...]" >&2; exit 2 ;;
esac
exit $status
