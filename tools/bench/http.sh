#!/usr/bin/env bash
# http.sh — HTTP/2 servers side by side: sluice over AF_XDP and over kernel sockets, each with
# nghttp2's session ([http] h2 = nghttp2: sluice-xdp, sluice-socket) and with ours (h2 = native:
# sluice-xdp-native, sluice-socket-native), h2o, nghttpd and nginx, each serving the same bodies
# over cleartext HTTP/2 (prior knowledge) and over TLS 1.3 with one worker, in a topology of its own
# ("bnch", tools/topology.sh), and their connection rate over HTTP/1.1, at one or more link MTUs.
# Part of `make bench` (run.sh); `make bench-tls` runs only its TLS cases, `make bench-mtu` only the
# bulk cases at MTU 1500, 9000 and 65000.
#
#   tools/bench/http.sh BUILD_DIR OUT_DIR [--quick]
#
# Selection, from the environment (space-separated; unset: all):
#   BENCH_SERVERS  servers, of: sluice-xdp sluice-xdp-native sluice-xdp-spin sluice-xdp-log
#                  sluice-socket sluice-socket-native h2o nghttpd nginx (sluice-xdp-spin:
#                  sluice-xdp-native with [server] poll_spin_us = BENCH_SPIN_US, default 50: what
#                  spinning buys and costs; sluice-xdp-log: sluice-xdp-native with the access log on,
#                  combined format, to a file: what the log costs)
#   BENCH_CASES    case ids, of: small-16x32 small-4x1 16k-16x8 1m-4x1 echo64k-16x4 idle idle1,
#                  over TLS: tls-hs-full tls-hs-resumed tls-small-16x32 tls-1m-4x1, and the
#                  connection rate over cleartext HTTP/1.1: connrate
#   BENCH_MTU      link MTUs (default 1500), e.g. "1500 9000 65000": at each, both ends of the veth
#                  are set to it, sluice gets [tcp] mtu to match, every other server runs unchanged
#                  on that link
#   BENCH_MTU_CASES  the cases that run at every MTU of BENCH_MTU (default: every selected case);
#                  the others run at the first MTU of BENCH_MTU only
#   BENCH_ROUNDS   rounds (default 3, 1 with --quick)
#   BENCH_TRIES    throughput runs at most per case, server and round (default 3): a run during
#                  which other processes took more than BENCH_QUIET of the machine (default 0.1)
#                  is made again, and the quietest one is kept
# e.g. the native session against nghttp2's and h2o's (what `make bench-h2` runs):
#   BENCH_SERVERS="sluice-xdp sluice-xdp-native sluice-socket sluice-socket-native h2o" \
#   BENCH_CASES="small-16x32 idle1" BENCH_ROUNDS=5 tools/bench/http.sh build results/h2
# or TLS alone (what `make bench-tls` runs):
#   BENCH_SERVERS="sluice-xdp-native sluice-socket-native h2o nginx" \
#   BENCH_CASES="tls-hs-full tls-hs-resumed tls-small-16x32 tls-1m-4x1" tools/bench/http.sh build results/tls
# or the connection rate alone:
#   BENCH_SERVERS="sluice-xdp-native sluice-socket-native h2o nginx" BENCH_CASES=connrate \
#   tools/bench/http.sh build results/connrate
# or the bulk cases at three MTUs (what `make bench-mtu` runs):
#   BENCH_SERVERS="sluice-xdp-native sluice-socket-native h2o" BENCH_CASES="16k-16x8 1m-4x1 echo64k-16x4" \
#   BENCH_MTU="1500 9000 65000" tools/bench/http.sh build results/mtu
#
# MTUs: a case run at an MTU other than 1500 is labelled CASE@MTU (1m-4x1@9000) in the tables, the
# JSON (whose cases, results and runs also carry "mtu") and the plots, each MTU's rows next to each
# other. Each round runs every MTU, in an order rotating per round, and at each MTU every server
# (their order rotating too), each started afresh: servers and MTUs are interleaved, and one
# server's rows at two MTUs are minutes apart at most. The MTU changes only between servers (none
# running, no XDP program attached). What the link carries at a given MTU differs by server: over
# AF_XDP sluice sends segments of up to the MTU (above ~3.8 KB as chains of 4 KiB UMEM frames,
# multi-buffer: one skb each) and offers an MSS of up to 16 receive frames (~61 KB; tcp_mss_offered);
# the kernel servers send GSO packets of up to 64 KB through the veth at any MTU, and the client's
# segments are cut to the MTU (the topology turns the client's checksum offload off, and GSO through
# the veth with it; an XDP program on the server's end turns the client end's TSO off too).
# The packets through the veth per request, both ways (the server end's /proc/net/dev: skbs), are
# reported with each throughput run ("veth packets/req"), which with tools/bench/datapath.sh's fit
# (a ns per packet + b ns per byte, the copy-mode floor) splits a gap between servers into its
# per-packet and per-byte parts.
#
# Every server runs in the server namespace pinned to CPU 0 (taskset; sluice also --cpus 0), the
# load client (h2load) in the client namespace pinned to CPU 1. Cases: GET of a 13-byte file at
# 16 connections x 32 streams and at 4 x 1, a 16 KiB file at 16 x 8, a 1 MiB file at 4 x 1, a
# POST echo of 64 KiB at 16 x 4, idle HTTP/2 connections held open (tools/bench/idle_conns.c), and
# idle connections that each made one request first (GET /static/13b.bin; idle_conns -r).
# TLS cases (a second port per server, when one is selected; nghttpd serves one port, cleartext here):
# every server has the same ECDSA P-256 self-signed certificate, made per run, and TLS 1.3 with
# X25519 (sluice: [tls] min_version and groups; h2o: minimum-version, the private key in-process
# (neverbleed: OFF, as nginx and sluice sign), no OCSP fetch; nginx: ssl_protocols, ssl_ecdh_curve),
# and every client offers only TLS_AES_128_GCM_SHA256 and X25519, so all agree on the same
# parameters (checked once per server with openssl s_client, with a resumption, before the runs):
#   - tls-hs-full: full handshakes per second, one GET of 13 B over h2 each: h2load runs back to
#     back, each a burst of 200 new connections (-n 200 -c 200: every h2load client is a fresh TLS
#     object, so nothing resumes) that each make one request and close. Not h2load -D (a client
#     keeps its one connection), nor h2load reconnecting (it resumes, below), nor one run of
#     -n N -c N with a large N (one burst: it measures listen backlogs and SYN retransmissions, not
#     handshakes; 200 is below every server's backlog, nginx's 511 the least), nor openssl s_time
#     -new (one connection at a time per process, HTTP/1.0 without ALPN, and its client costs no
#     less per handshake than h2load's);
#   - tls-hs-resumed: resumed handshakes per second, one GET of 13 B over HTTP/1.1 each: h2load
#     --h1 -H 'Connection: close' -n 1600 -c 16, back to back: the server closes after each
#     response and h2load reconnects with the same TLS object (SSL_clear keeps its session), which
#     offers the ticket it was sent; all but the first handshake of each client per run resume
#     (sluice's counters: 99%). Not -D (h2load 1.52 hangs reconnecting at its end); h2load never
#     sets a session of its own (no SSL_set_session), so this is its only way to resume;
#   - in both, the measured window is whole h2load runs (hs_run), its handshakes the requests those
#     runs completed, so handshakes/s and CPU per handshake (the CPU columns' "req") come from the
#     same window; for sluice also the share of handshakes resumed (its /metrics). A full handshake
#     costs the client (h2load, OpenSSL 3) two to three times what it costs a server, so with one
#     core each the client's core sets the full handshakes/s (see CPU0 / CPU1 busy): server CPU
#     per handshake, not handshakes/s, is what ranks the servers there;
#   - tls-small-16x32 and tls-1m-4x1: the 13 B and 1 MiB cases above, over TLS (h2 by ALPN).
# Connection rate (connrate): new TCP connections per second, each making one request (GET of 13 B,
# cleartext HTTP/1.1 with Connection: close) that the SERVER closes, so that the server pays for the
# setup and the teardown and holds the TIME-WAIT (sluice over AF_XDP as compact entries, the kernel
# servers as the kernel's): h2load --h1 -H 'Connection: close' -n 8000 -c 64, back to back, as
# tls-hs-resumed (h2load closes once it has read a response saying close, and reconnects; not -D,
# which hangs reconnecting at its end). 64 connections: at 16 neither core was busy (each connection
# waits on round trips), at 64 h2load's core is, as in the handshake cases, so server CPU per
# connection is what ranks the servers when CPU1 is at 100%. Measured as the handshake cases are
# (hs_run: whole h2load runs, their CPU over the connections they made), except that connections/s
# are over the runs' own time (each run's req/s), leaving out the time between runs (h2load's exit
# and start, 0.05-0.25 s a run in the check runs on a busy VM; rps_window in http.json keeps the
# window's). Per run also, over the same window:
# connections per request (the client namespace's TCP ActiveOpens over the requests completed: 1
# when every connection made one request; well under 1 means the server kept them alive),
# connections per second per busy server core (over CPU0's busy share), and at its end the
# TIME-WAIT held by the server (the kernel's in the server namespace; over AF_XDP sluice's
# sluice_tcp_time_wait) and by the client (the side that closed first holds it); for sluice over
# AF_XDP also the share of SYNs that found their tuple still in TIME-WAIT (the client's ports come
# round within seconds) and the entries dropped early, for the kernel servers the TIME-WAITs the
# kernel did not keep (TCPTimeWaitOverflow). What a fair run needs, set here: sluice's [tcp]
# max_time_wait is the server namespace's net.ipv4.tcp_max_tw_buckets, so that it holds as many
# TIME-WAIT entries as the kernel servers may (its max_conns, 16384, and the socket datapath's
# listen backlog, 4096, are far above 64 connections); the kernel's TIME-WAIT is cleared in both
# namespaces (ss -K) before each run, as the server namespace's buckets are shared and would still
# hold the previous server's (sluice over AF_XDP starts each round with an empty table); the
# client namespace's ports are 1024-65000 with tcp_tw_reuse. nginx 1.22 speaks only HTTP/2 on a
# cleartext `http2` listener, so it gets a second, HTTP/1.1 listener (port 8085) when connrate
# runs; the others serve HTTP/1.1 on their cleartext port; nghttpd has no HTTP/1.1 (n/a). The
# kernel servers set connections up and tear them down largely in softirq, part of it on the
# client's core (veth receives on the sender's CPU), which is not their process's CPU, nor CPU0's:
# across datapaths compare machine or bench CPU per connection; server CPU, and connections per
# busy server core, within one.
# Per case and server:
#   - requests/s, bytes/s and errors from an h2load run with a duration (-D) after a warm-up;
#   - over the same run, read from /proc during the measured window only: the server's CPU
#     (utime+stime of its processes) and the whole machine's busy time (user, nice, system, irq,
#     softirq of every CPU: over veth the receive softirq runs on the sender's CPU, and AF_XDP's
#     copies land in softirq too, so this is the fair total), both per request, and each core's
#     busy share (when the client's core is saturated, requests/s cannot rank servers);
#   - p50/p99/p99.9 latency from h2load's per-request log, in a separate run (the log costs h2load
#     about half of what it can drive);
#   - the packets through the veth per request, in (client to server) and out (server to client);
#   - the benchmark's own CPU per request: the server's, h2load's (utime+stime) and every CPU's irq
#     and softirq time, which leaves out other processes on a shared machine (machine CPU does
#     not), and the share of the machine those other processes took (others);
#   - requests/s, server, machine and bench CPU per request over h2o's in the same round and case
#     (a ratio per round, then its median), when h2o runs;
#   - for sluice, from its /metrics before and after: system allocations per request and response
#     body bytes copied per byte served;
#   - idle connections, on a fresh server (before any load: later its allocator would reuse what
#     earlier connections freed; the server is started anew for the second idle case): the
#     server's resident memory (VmRSS of its processes) before and after, per connection, and over
#     h2o's; for sluice over AF_XDP also the UMEM frames held, derived from its counters as
#     (rx_packets - refilled) + (tx_packets - completions).
# Each case runs ROUNDS times, the servers interleaved (their order rotating per round), each
# server started afresh per round and MTU; the median is reported with min-max. A case a server cannot
# serve (nghttpd has no POST echo) is "n/a" with the reason. Writes OUT_DIR/http.md (tables),
# OUT_DIR/http.json (every figure, every run), OUT_DIR/http-throughput.png and
# OUT_DIR/http-latency.png (gnuplot), and prints the tables. Every process it starts is stopped
# by PID, and the topology is removed on every exit path. Needs root.
set -u

usage() {
    echo "usage: http.sh BUILD_DIR OUT_DIR [--quick]" >&2
    exit 2
}
[ $# -ge 2 ] && [ $# -le 3 ] || usage
BUILD=$1
OUT=$2
QUICK=0
if [ $# -eq 3 ]; then [ "$3" = --quick ] && QUICK=1 || usage; fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOPO=bnch
DEV=$TOPO-s
SRV4=10.77.0.1
TICK=$(getconf CLK_TCK)
for bin in bin/sluice-agent bin/sluice-server tools/idle_conns; do
    [ -x "$ROOT/$BUILD/$bin" ] || { echo "http.sh: error: $BUILD/$bin is missing: build first (make all)" >&2; exit 1; }
done
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
IDLE=$(realpath "$ROOT/$BUILD/tools/idle_conns")
NGINX_ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so

# ---- what runs, and for how long ----------------------------------------------------------------
if [ $QUICK = 1 ]; then
    ROUNDS=${BENCH_ROUNDS:-1} TP_MS=1500 TP_WARM_MS=500 LAT_MS=1000 LAT_WARM_MS=500 IDLE_N=2000
else
    ROUNDS=${BENCH_ROUNDS:-3} TP_MS=2500 TP_WARM_MS=500 LAT_MS=1500 LAT_WARM_MS=500 IDLE_N=10000
fi
TRIES=${BENCH_TRIES:-3} QUIET=${BENCH_QUIET:-0.1}
SPIN_US=${BENCH_SPIN_US:-50}
ALL_SERVERS="sluice-xdp sluice-xdp-native sluice-xdp-spin sluice-xdp-log sluice-socket sluice-socket-native h2o nghttpd nginx"
read -ra SERVERS <<<"${BENCH_SERVERS:-$ALL_SERVERS}"
# id|label|method|path|connections|streams per connection
ALL_CASES=(
    "small-16x32|13 B, 16 conns x 32 streams|GET|/static/13b.bin|16|32"
    "small-4x1|13 B, 4 conns x 1 stream (latency)|GET|/static/13b.bin|4|1"
    "16k-16x8|16 KiB, 16 x 8|GET|/static/16k.bin|16|8"
    "1m-4x1|1 MiB, 4 x 1|GET|/static/1m.bin|4|1"
    "echo64k-16x4|POST echo 64 KiB, 16 x 4|POST|/echo|16|4"
    # over TLS (ids tls-*; the handshake cases: connections per h2load run, see the top)
    "tls-hs-full|TLS: full handshakes, 1 GET of 13 B each (h2, bursts of 200 conns)|GET|/static/13b.bin|200|1"
    "tls-hs-resumed|TLS: resumed handshakes, 1 GET of 13 B each (HTTP/1.1, 16 conns)|GET|/static/13b.bin|16|1"
    "tls-small-16x32|TLS: 13 B, 16 conns x 32 streams|GET|/static/13b.bin|16|32"
    "tls-1m-4x1|TLS: 1 MiB, 4 x 1|GET|/static/1m.bin|4|1"
    # connections per second (HTTP/1.1, the server closing; connections per h2load run: see the top)
    "connrate|connection rate: 1 GET of 13 B per connection, server closing (HTTP/1.1, 64 conns)|GET|/static/13b.bin|64|1"
)
# id|label|the one request each connection makes before it goes quiet (empty: none)
ALL_IDLE_CASES=(
    "idle|$IDLE_N idle HTTP/2 connections|"
    "idle1|$IDLE_N idle HTTP/2 connections after one request (GET /static/13b.bin)|/static/13b.bin"
)
for s in "${SERVERS[@]}"; do
    case " $ALL_SERVERS " in *" $s "*) ;; *) echo "http.sh: error: BENCH_SERVERS: no server '$s' (servers: $ALL_SERVERS)" >&2; exit 2 ;; esac
done
CASES=()
IDLE_CASES=()
read -ra wanted <<<"${BENCH_CASES:-}"
for c in "${ALL_CASES[@]}"; do [ ${#wanted[@]} = 0 ] || [[ " ${wanted[*]} " == *" ${c%%|*} "* ]] && CASES+=("$c"); done
for c in "${ALL_IDLE_CASES[@]}"; do [ ${#wanted[@]} = 0 ] || [[ " ${wanted[*]} " == *" ${c%%|*} "* ]] && IDLE_CASES+=("$c"); done
for w in "${wanted[@]}"; do
    [[ " $(printf '%s ' "${ALL_CASES[@]%%|*}" "${ALL_IDLE_CASES[@]%%|*}")" == *" $w "* ]] ||
        { echo "http.sh: error: BENCH_CASES: no case '$w' (cases: $(printf '%s ' "${ALL_CASES[@]%%|*}" "${ALL_IDLE_CASES[@]%%|*}"))" >&2; exit 2; }
done
if [ ${#SERVERS[@]} = 0 ] || [ $(( ${#CASES[@]} + ${#IDLE_CASES[@]} )) = 0 ]; then
    echo "http.sh: error: nothing selected (BENCH_SERVERS, BENCH_CASES)" >&2
    exit 2
fi
# the MTUs: the first one given runs every case, the others BENCH_MTU_CASES'; shown in ascending order
read -ra MTUS <<<"${BENCH_MTU:-1500}"
[ ${#MTUS[@]} -gt 0 ] || { echo "http.sh: error: BENCH_MTU is empty" >&2; exit 2; }
for m in "${MTUS[@]}"; do
    case $m in *[!0-9]* | "") echo "http.sh: error: BENCH_MTU: '$m' is not a number" >&2; exit 2 ;; esac
    # sluice's [tcp] mtu takes 576-65535, the veth up to 65535
    if [ "$m" -lt 576 ] || [ "$m" -gt 65535 ]; then echo "http.sh: error: BENCH_MTU: $m is outside 576-65535" >&2; exit 2; fi
done
FIRST_MTU=${MTUS[0]}
mapfile -t MTUS < <(printf '%s\n' "${MTUS[@]}" | sort -nu)
read -ra MTU_CASES <<<"${BENCH_MTU_CASES:-}"
for w in "${MTU_CASES[@]}"; do
    [[ " $(printf '%s ' "${ALL_CASES[@]%%|*}" "${ALL_IDLE_CASES[@]%%|*}")" == *" $w "* ]] ||
        { echo "http.sh: error: BENCH_MTU_CASES: no case '$w'" >&2; exit 2; }
done
runs_at() { # runs_at CASE-ID MTU: whether the case runs at that MTU
    [ "$2" = "$FIRST_MTU" ] || [ ${#MTU_CASES[@]} = 0 ] || [[ " ${MTU_CASES[*]} " == *" $1 "* ]]
}
mtu_suffix() { [ "$1" = 1500 ] || echo "@$1"; } # the case id's label at an MTU: none at 1500

port_of() {
    case $1 in
    sluice-xdp) echo 80 ;;
    sluice-xdp-native) echo 81 ;;
    sluice-xdp-spin) echo 82 ;;
    sluice-xdp-log) echo 83 ;;
    sluice-socket) echo 8080 ;;
    sluice-socket-native) echo 8084 ;;
    h2o) echo 8081 ;;
    nghttpd) echo 8082 ;;
    nginx) echo 8083 ;;
    esac
}
tls_port_of() {
    case $1 in
    sluice-xdp) echo 443 ;;
    sluice-xdp-native) echo 444 ;;
    sluice-xdp-spin) echo 445 ;;
    sluice-xdp-log) echo 446 ;;
    sluice-socket) echo 8443 ;;
    sluice-socket-native) echo 8447 ;;
    h2o) echo 8444 ;;
    nginx) echo 8446 ;;
    esac
}
# the cleartext HTTP/1.1 port (connrate): nginx's cleartext http2 listener speaks HTTP/2 only
h1_port_of() { case $1 in nginx) echo 8085 ;; *) port_of "$1" ;; esac; }
is_tls_case() { case $1 in tls-*) true ;; *) false ;; esac; }
# cases measured per connection, with h2load runs back to back (hs_run): the TLS handshakes and connrate
is_conn_case() { case $1 in tls-hs-* | connrate) true ;; *) false ;; esac; }
# TLS is set up (certificate, second ports) only when a TLS case runs, connrate's settings only with it
TLS=0 CONNRATE=0
for c in "${CASES[@]}"; do
    is_tls_case "${c%%|*}" && TLS=1
    [ "${c%%|*}" = connrate ] && CONNRATE=1
done
# what every TLS client offers: one cipher suite and one group, so that all servers agree on the same
TLS_SUITE=TLS_AES_128_GCM_SHA256
TLS_GROUP=X25519
TLS_H2LOAD=("--tls13-ciphers=$TLS_SUITE" "--groups=$TLS_GROUP")

# the [http] h2 session a sluice server runs: named, so that a change of sluice's default does not
# change what a row measures
h2_of() { case $1 in *-native | *-spin | *-log) echo native ;; *) echo nghttp2 ;; esac; }
is_xdp() { case $1 in sluice-xdp*) true ;; *) false ;; esac; }

# The run time follows from the settings: each load case is two h2load runs (throughput, latency)
# plus ~0.3 s of setup, a handshake case or connrate one run of h2load runs (no latency run) plus
# ~0.8 s (the last h2load run ends after the deadline; sluice's counters); a server start and stop
# take ~2 s, an idle case ~1 s plus ~0.25 ms per idle connection (the second idle case starts the
# server anew); every server starts once per MTU that has a case.
EXPECTED_MS=0
for m in "${MTUS[@]}"; do
    nl=0 nh=0 ni=0
    for c in "${CASES[@]}"; do
        runs_at "${c%%|*}" "$m" || continue
        if is_conn_case "${c%%|*}"; then nh=$((nh + 1)); else nl=$((nl + 1)); fi
    done
    for c in "${IDLE_CASES[@]}"; do runs_at "${c%%|*}" "$m" && ni=$((ni + 1)); done
    [ $((nl + nh + ni)) = 0 ] && continue
    EXPECTED_MS=$(( EXPECTED_MS + nl * (TP_MS + TP_WARM_MS + LAT_MS + LAT_WARM_MS + 300) + nh * (TP_MS + TP_WARM_MS + 800) + 2000 * (ni > 1 ? ni : 1) + ni * (1000 + IDLE_N / 4) ))
done
EXPECTED_S=$(( ROUNDS * ${#SERVERS[@]} * EXPECTED_MS / 1000 + 10 ))

WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
ACCESS_LOG=$WORK/access.log # sluice-xdp-log's, removed as each server stops
RAW=$OUT/http-runs.jsonl
LOGS=$OUT/http-logs
SERVER_PID=""
SERVER_NAME=""
LOAD_PID=""
IDLE_PID=""
XDP_LOADED=0

BENCH_NAME=http.sh
. "$ROOT/tools/bench/bench_lib.sh" # SRV, CLI, note, die, stop_pid, sleep_until, topo.sh

cleanup() {
    local kids p
    if [ -n "$LOAD_PID" ]; then
        # a handshake case's loop, then the h2load run it was waiting for
        kids=$(cat /proc/"$LOAD_PID"/task/*/children 2>/dev/null)
        stop_pid "$LOAD_PID"
        for p in $kids; do stop_pid "$p"; done
    fi
    [ -n "$IDLE_PID" ] && stop_pid "$IDLE_PID"
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID"
    LOAD_PID="" IDLE_PID="" SERVER_PID=""
    topo_down $TOPO
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- fixtures: the bodies every server serves, and the servers' configurations --------------------
mkdir -p "$OUT" "$WORK/www/static" "$WORK/tmp"
OUT=$(cd "$OUT" && pwd) # the servers' configurations need absolute paths
RAW=$OUT/http-runs.jsonl
LOGS=$OUT/http-logs
mkdir -p "$LOGS"
: >"$RAW"
printf 'hello, world\n' >"$WORK/www/static/13b.bin"
head -c 16384 /dev/urandom >"$WORK/www/static/16k.bin"
head -c $((1 << 20)) /dev/urandom >"$WORK/www/static/1m.bin"
head -c 65536 /dev/urandom >"$WORK/post-64k.bin"
chmod -R a+rX "$WORK"

# sluice's configuration files, one per session and MTU (sluice_conf writes them: the [tcp] section
# waits for connrate's setting, read once the topology is up)
sluice_conf() { # sluice_conf H2 MTU [TCP-LINES]: writes $OUT/sluice-H2-mtuMTU.conf
    {
        printf '# sluice-server for tools/bench/http.sh: the HTTP/2 session and the link MTU (options on the command line)\n'
        printf '[http]\nh2 = %s\n' "$1"
        [ $TLS = 1 ] && printf '[tls]\nmin_version = TLSv1.3\ngroups = X25519\n'
        printf '[tcp]\n# the link MTU (both ends of the veth)\nmtu = %s\n' "$2"
        [ -n "${3:-}" ] && printf '%s\n' "$3"
    } >"$OUT/sluice-$1-mtu$2.conf"
}
# the one certificate every server presents over TLS: ECDSA P-256, self-signed, made per run
CERT=$WORK/cert.pem
KEY=$WORK/key.pem
if [ $TLS = 1 ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$KEY" -out "$CERT" -days 2 \
        -subj /CN=sluice.bench -addext "subjectAltName=DNS:sluice.bench,IP:$SRV4" >"$LOGS/openssl-req.log" 2>&1 ||
        die "could not make the TLS certificate: $(tail -n 2 "$LOGS/openssl-req.log")"
fi

h2o_tls_listen=""
[ $TLS = 1 ] && h2o_tls_listen="listen:
  host: $SRV4
  port: $(tls_port_of h2o)
  ssl:
    certificate-file: $CERT
    key-file: $KEY
    minimum-version: TLSv1.3
    neverbleed: OFF
    ocsp-update-interval: 0"
cat >"$OUT/h2o.conf" <<EOF
# h2o for tools/bench/http.sh: cleartext HTTP/2 on port $(port_of h2o)$([ $TLS = 1 ] && echo " and TLS on $(tls_port_of h2o)"), one thread, the bench's bodies
num-threads: 1
max-connections: 20000
http2-idle-timeout: 600
user: root
error-log: $LOGS/h2o-error.log
listen:
  host: $SRV4
  port: $(port_of h2o)
$h2o_tls_listen
hosts:
  default:
    paths:
      /static:
        file.dir: $WORK/www/static
      /echo:
        mruby.handler: |
          Proc.new do |env|
            [200, {"content-type" => "application/octet-stream"}, [env["rack.input"] ? env["rack.input"].read : ""]]
          end
EOF

{
    echo "# nginx for tools/bench/http.sh: cleartext HTTP/2 (prior knowledge) on port $(port_of nginx)$([ $TLS = 1 ] && echo " and TLS on $(tls_port_of nginx)")$([ $CONNRATE = 1 ] && echo ", HTTP/1.1 on $(h1_port_of nginx)"), one worker"
    echo "worker_processes 1;"
    echo "daemon off;"
    echo "user root;"
    echo "pid $WORK/nginx.pid;"
    echo "error_log $LOGS/nginx-error.log warn;"
    echo "worker_rlimit_nofile $(ulimit -Hn);"
    [ -e $NGINX_ECHO_MODULE ] && echo "load_module $NGINX_ECHO_MODULE;"
    echo "events { worker_connections 20000; }"
    echo "http {"
    echo "    access_log off;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $WORK/tmp;"; done
    echo "    keepalive_requests 1000000000;"
    echo "    keepalive_timeout 600s;"
    echo "    server {"
    echo "        listen $SRV4:$(port_of nginx) http2;"
    [ $CONNRATE = 1 ] && echo "        listen $SRV4:$(h1_port_of nginx);"
    if [ $TLS = 1 ]; then
        echo "        listen $SRV4:$(tls_port_of nginx) ssl http2;"
        echo "        ssl_certificate $CERT;"
        echo "        ssl_certificate_key $KEY;"
        echo "        ssl_protocols TLSv1.3;"
        echo "        ssl_ecdh_curve X25519;"
    fi
    echo "        root $WORK/www;"
    if [ -e $NGINX_ECHO_MODULE ]; then
        echo "        location /echo { client_max_body_size 2m; client_body_buffer_size 2m; echo_read_request_body; echo_request_body; }"
    fi
    echo "    }"
    echo "}"
} >"$OUT/nginx.conf"

# n/a SERVER CASE: why SERVER cannot serve CASE (empty when it can)
na_reason() {
    case "$1 $2" in
    "nghttpd tls-"*) echo "nghttpd serves one port, cleartext here" ;;
    "nghttpd connrate") echo "nghttpd speaks HTTP/2 only: no HTTP/1.1 request to close the connection after" ;;
    "nghttpd echo64k-16x4") echo "nghttpd serves files only: it has no request-body echo" ;;
    "h2o echo64k-16x4") h2o --version 2>/dev/null | grep -q 'mruby: YES' || echo "this h2o is built without mruby (the echo is an mruby handler)" ;;
    "nginx echo64k-16x4") [ -e $NGINX_ECHO_MODULE ] || echo "no echo module ($NGINX_ECHO_MODULE, package libnginx-mod-http-echo)" ;;
    esac
}

# ---- servers -------------------------------------------------------------------------------------
server_installed() {
    case $1 in
    h2o) command -v h2o >/dev/null ;;
    nghttpd) command -v nghttpd >/dev/null ;;
    nginx) command -v nginx >/dev/null ;;
    *) true ;;
    esac
}

start_server() { # start_server NAME: in the server namespace on CPU 0; returns 1 if it does not come up
    local name=$1 port log=$LOGS/$1.log i code tls=()
    port=$(port_of "$name")
    SERVER_NAME=$name
    [ $TLS = 1 ] && tls=(--https "$(tls_port_of "$name")" --cert "$CERT" --key "$KEY")
    case $name in
    sluice-xdp | sluice-xdp-native | sluice-xdp-spin | sluice-xdp-log)
        in_srv "$AGENT" load --dev "$DEV" >>"$log" 2>&1 || return 1
        XDP_LOADED=1
        in_srv "$AGENT" service add --dev "$DEV" --addr $SRV4 --port "$port" >>"$log" 2>&1 || return 1
        if [ $TLS = 1 ]; then
            in_srv "$AGENT" service add --dev "$DEV" --addr $SRV4 --port "$(tls_port_of "$name")" --tls >>"$log" 2>&1 || return 1
        fi
        "${SRV[@]}" taskset -c 0 "$SERVER" --config "$OUT/sluice-$(h2_of "$name")-mtu$MTU.conf" --dev "$DEV" --workers 1 \
            --cpus 0 --http "$port" "${tls[@]}" --static "$WORK/www/static" --drain-ms 1000 \
            --poll-spin-us "$([ "$name" = sluice-xdp-spin ] && echo "$SPIN_US" || echo 0)" \
            $([ "$name" = sluice-xdp-log ] && echo "--access-log $ACCESS_LOG") >>"$log" 2>&1 &
        ;;
    sluice-socket | sluice-socket-native)
        "${SRV[@]}" taskset -c 0 "$SERVER" --config "$OUT/sluice-$(h2_of "$name")-mtu$MTU.conf" --datapath socket --workers 1 \
            --cpus 0 --http "$port" "${tls[@]}" --static "$WORK/www/static" --drain-ms 1000 >>"$log" 2>&1 &
        ;;
    h2o) "${SRV[@]}" taskset -c 0 h2o -c "$OUT/h2o.conf" >>"$log" 2>&1 & ;;
    nghttpd) "${SRV[@]}" taskset -c 0 nghttpd --no-tls -n 1 -d "$WORK/www" -a $SRV4 "$port" >>"$log" 2>&1 & ;;
    nginx) "${SRV[@]}" taskset -c 0 nginx -c "$OUT/nginx.conf" -e "$LOGS/nginx-error.log" >>"$log" 2>&1 & ;;
    esac
    SERVER_PID=$!
    for i in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        code=$(in_cli curl -s -o /dev/null -m 1 -w '%{http_code}' --http2-prior-knowledge "http://$SRV4:$port/static/13b.bin")
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    note "$name did not come up: $(tail -n 3 "$log" | tr '\n' '|')"
    return 1
}

stop_server() {
    local kids p
    if [ -n "$SERVER_PID" ]; then
        # its children too (h2o's): one still holding the listening socket would answer the next
        # start's check, and that server could not bind
        kids=$(cat /proc/"$SERVER_PID"/task/*/children 2>/dev/null)
        stop_pid "$SERVER_PID"
        for p in $kids; do
            kill -TERM "$p" 2>/dev/null || continue
            timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
        done
    fi
    SERVER_PID=""
    rm -f "$ACCESS_LOG" # sluice-xdp-log's: written at up to ~50 MB/s
    if [ $XDP_LOADED = 1 ]; then
        in_srv "$AGENT" unload --dev "$DEV" >/dev/null 2>&1 || in_srv "$AGENT" unload --dev "$DEV" --force >/dev/null 2>&1
        XDP_LOADED=0
    fi
}

set_mtu() { # set_mtu MTU: both ends of the veth, between servers (none running, no XDP program attached)
    [ "$1" = "$MTU" ] && return 0
    ip -n "$TOPO-srv" link set "$DEV" mtu "$1" && ip -n "$TOPO-cli" link set "$TOPO-c" mtu "$1" || return 1
    MTU=$1
}

# check_case SERVER CASE-ID METHOD PATH: the server answers the case's request with the right body
# (and for connrate, says it closes); prints why not, empty when it does
check_case() {
    local url got want head=$WORK/check-head.txt proto=(--http2-prior-knowledge)
    url=http://$SRV4:$(port_of "$1")$4
    if is_tls_case "$2"; then
        url=https://$SRV4:$(tls_port_of "$1")$4
        proto=(-k --http2) # h2 by ALPN; the resumed handshakes' requests are HTTP/1.1
        [ "$2" = tls-hs-resumed ] && proto=(-k --http1.1)
    elif [ "$2" = connrate ]; then
        url=http://$SRV4:$(h1_port_of "$1")$4
        proto=(--http1.1 -H 'Connection: close' -D "$head")
    fi
    rm -f "$head"
    if [ "$3" = POST ]; then
        got=$(in_cli curl -s -m 10 "${proto[@]}" --data-binary "@$WORK/post-64k.bin" "$url" | sha256sum)
        want=$(sha256sum <"$WORK/post-64k.bin")
    else
        got=$(in_cli curl -s -m 10 "${proto[@]}" "$url" | sha256sum)
        want=$(sha256sum <"$WORK/www$4")
    fi
    if [ "$got" != "$want" ]; then
        echo "the response body did not match (checked with curl before the runs)"
    elif [ "$2" = connrate ] && ! grep -qi '^connection: *close' "$head"; then
        echo "the response to Connection: close did not say close (checked with curl before the runs)"
    fi
}

# check_tls SERVER: the TLS parameters the server agrees with a client offering what the bench's
# clients offer (openssl s_client), and that it resumes a session from its ticket; prints why not
# (empty when all is as expected) and logs what it saw to http-logs/SERVER-tls.txt
check_tls() {
    local addr log=$LOGS/$1-tls.txt sess=$WORK/tls.sess seen req=$'GET /static/13b.bin HTTP/1.1\r\nHost: sluice.bench\r\nConnection: close\r\n\r\n'
    addr=$SRV4:$(tls_port_of "$1")
    local sc=(timeout 10 openssl s_client -connect "$addr" -ciphersuites "$TLS_SUITE" -groups "$TLS_GROUP")
    in_cli "${sc[@]}" -alpn h2,http/1.1 </dev/null >"$log" 2>&1
    seen="$(sed -n 's/^New, \(TLSv1\.[0-9]\), Cipher is \(.*\)$/\1 \2/p' "$log" | head -1)"
    seen+=" $(sed -n 's/^Server Temp Key: \([^,]*\),.*/\1/p' "$log" | head -1)"
    seen+=" $(sed -n 's/^ALPN protocol: //p' "$log" | head -1)"
    rm -f "$sess"
    # a request, read to the end (-ign_eof), so that the session holds the ticket sent after the handshake
    printf '%s' "$req" | in_cli "${sc[@]}" -alpn http/1.1 -ign_eof -sess_out "$sess" >>"$log" 2>&1
    printf '%s' "$req" | in_cli "${sc[@]}" -alpn http/1.1 -ign_eof -sess_in "$sess" >"$log.resumed" 2>&1
    cat "$log.resumed" >>"$log"
    grep -q '^Reused, TLSv1\.3' "$log.resumed" && seen+=" resumed" || seen+=" not-resumed"
    rm -f "$log.resumed"
    echo "check_tls $1: $seen" >>"$log"
    [ "$seen" = "TLSv1.3 $TLS_SUITE $TLS_GROUP h2 resumed" ] ||
        echo "TLS: wanted TLSv1.3 $TLS_SUITE $TLS_GROUP h2 and a resumption, saw: $seen (see http-logs/$1-tls.txt)"
}

# ---- measuring -------------------------------------------------------------------------------------
server_pids() { # the server's process and its children (nginx's worker, h2o's helper)
    echo "$SERVER_PID"
    cat /proc/"$SERVER_PID"/task/*/children 2>/dev/null
}

# snapshot: "time busy total cpu0_busy cpu0_total cpu1_busy cpu1_total server_ticks load_ticks
# irq_softirq veth_rx veth_tx" (busy: user, nice, system, irq, softirq; total adds idle, iowait and steal;
# load_ticks: h2load's utime+stime, -1 once it has ended; for the handshake cases' loop of h2load
# runs, the loop's with its children's, ended (cutime+cstime) and running; irq_softirq: of every CPU;
# veth_rx, veth_tx: the packets the server's end of the veth received and sent, /proc/net/dev)
snapshot() {
    local t ticks=0 lticks=-1 p v kids
    t=$(date +%s.%N)
    for p in $(server_pids); do
        v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) && ticks=$((ticks + ${v:-0}))
    done
    if [ -n "$LOAD_PID" ]; then
        v=$(awk '{ sub(/^.*\) /, ""); print ($1 == "Z" ? -1 : $12 + $13 + $14 + $15) }' "/proc/$LOAD_PID/stat" 2>/dev/null) && lticks=${v:--1}
        if [ "$lticks" -ge 0 ]; then
            kids=$(cat /proc/"$LOAD_PID"/task/*/children 2>/dev/null)
            for p in $kids; do
                v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null) && lticks=$((lticks + ${v:-0}))
            done
        fi
    fi
    awk -v t="$t" -v ticks="$ticks" -v lticks="$lticks" '
        /^cpu[0-9]* / { b = $2 + $3 + $4 + $7 + $8; s[$1] = b; tot[$1] = b + $5 + $6 + $9; irq[$1] = $7 + $8 }
        END { printf "%s %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f ", t, s["cpu"], tot["cpu"], s["cpu0"], tot["cpu0"], s["cpu1"], tot["cpu1"], ticks, lticks, irq["cpu"] }' /proc/stat
    # shellcheck disable=SC2016 # an awk program; a long count may follow the name's colon unspaced
    "${SRV[@]}" awk -v dev="$DEV" '{ sub(/^ */, ""); i = index($0, ":") } i && substr($0, 1, i - 1) == dev { split(substr($0, i + 1), v, " "); r = v[2]; x = v[10] }
        END { printf "%.0f %.0f\n", r, x }' /proc/net/dev
}

server_rss_kb() {
    local p sum=0 v
    for p in $(server_pids); do
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) && sum=$((sum + ${v:-0}))
    done
    echo $sum
}

# sluice_metrics: "requests allocs body_out body_copied umem_frames_held tls_handshakes tls_resumed
# accepted time_wait_entered time_wait_dropped time_wait_reused time_wait_held syscalls" summed over
# workers (syscalls: the AF_XDP worker loop's)
# (accepted: by the TCP engine over AF_XDP, by accept() over sockets; TIME-WAIT: the engine's only)
sluice_metrics() {
    local m
    m=$(in_cli curl -s -m 5 --http2-prior-knowledge "http://$SRV4:$(port_of "$SERVER_NAME")/metrics" | awk '
        /^sluice_http_requests_total/ { r += $2 }
        /^sluice_http_system_allocs_total/ || /^sluice_sock_buffers_allocated_total/ { a += $2 }
        /^sluice_http_body_bytes_out_total/ { o += $2 }
        /^sluice_http_body_bytes_copied_total/ { c += $2 }
        /^sluice_afxdp_rx_packets_total/ { f += $2 } /^sluice_afxdp_refilled_total/ { f -= $2 }
        /^sluice_afxdp_tx_packets_total/ { f += $2 } /^sluice_afxdp_completions_total/ { f -= $2 }
        /^sluice_tls_handshakes_total/ { h += $2 } /^sluice_tls_resumed_total/ { u += $2 }
        /^sluice_tcp_conns_accepted_total/ || /^sluice_sock_accepted_total/ { ac += $2 }
        /^sluice_tcp_time_wait_entered_total/ { te += $2 } /^sluice_tcp_time_wait_dropped_total/ { td += $2 }
        /^sluice_tcp_time_wait_reused_total/ { tr += $2 } $1 ~ /^sluice_tcp_time_wait([{]|$)/ { th += $2 }
        /^sluice_afxdp_syscalls_total/ { sc += $2 }
        END { printf "%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f", r, a, o, c, f, h, u, ac, te, td, tr, th, sc }')
    echo "$m $(logger_cpu_ns)"
}

# the CPU time (ns, schedstat) of the server's access log thread so far; 0 without one
logger_cpu_ns() {
    local p t
    for p in $(server_pids); do
        for t in /proc/"$p"/task/*; do
            [ "$(cat "$t/comm" 2>/dev/null)" = access-log ] && awk '{ print $1 }' "$t/schedstat" && return
        done
    done
    echo 0
}


is_sluice() { case $SERVER_NAME in sluice-*) true ;; *) false ;; esac }

ms_to_s() { awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }'; }

# h2load_args CASE-ID and the case line's fields: sets H2LOAD_ARGS and URL
h2load_args() { # id method path conns streams
    URL=http://$SRV4:$(port_of "$SERVER_NAME")$3
    H2LOAD_ARGS=(-c "$4" -m "$5")
    if is_tls_case "$1"; then
        URL=https://$SRV4:$(tls_port_of "$SERVER_NAME")$3
        H2LOAD_ARGS+=("${TLS_H2LOAD[@]}")
    fi
    [ "$2" = POST ] && H2LOAD_ARGS+=(-d "$WORK/post-64k.bin")
}

# h2load's summary lines: "rps bytes_total requests_done succeeded errors"
parse_h2load() {
    awk '
        /^finished in/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^req\/s/) rps = $i; gsub(/,/, "", rps) }
        /^requests:/ { done = $6; ok = $8; err = $10 + $12 + $14 }
        /^traffic:/ { b = $3; gsub(/[()]/, "", b) }
        END { printf "%s %s %s %s %s\n", rps == "" ? -1 : rps, b == "" ? 0 : b, done == "" ? 0 : done, ok == "" ? 0 : ok, err == "" ? -1 : err }' "$1"
}

# measure_tp ROUND CASE-ID METHOD PATH CONNS STREAMS: one throughput run, one JSON line in RAW; on
# a shared machine, run again (up to BENCH_TRIES runs in all) while other processes took more than
# BENCH_QUIET of the machine, and keep the quietest run
measure_tp() {
    local try line other best="" best_other=2
    for try in $(seq "$TRIES"); do
        # not in a subshell: LOAD_PID is the cleanup's to stop
        if is_conn_case "$2"; then hs_run "$@" >"$WORK/tp.json"; else tp_run "$@" >"$WORK/tp.json"; fi
        line=$(jq -c --argjson n "$try" '. + {attempt: $n}' "$WORK/tp.json")
        other=$(jq -r '.other_busy // 1' <<<"$line")
        if awk -v o="$other" -v b="$best_other" 'BEGIN { exit !(o < b) }'; then
            best=$line best_other=$other
        fi
        awk -v o="$other" -v q="$QUIET" 'BEGIN { exit !(o <= q) }' && break
        [ "$try" -lt "$TRIES" ] && note "$SERVER_NAME $2$(mtu_suffix "$MTU") round $1: other processes took $other of the machine: again"
    done
    echo "$best" >>"$RAW"
    # connrate: a server that kept its connections alive made fewer connections than requests
    jq -e '(.conns_per_req // 1) < 0.99' <<<"$best" >/dev/null &&
        note "$SERVER_NAME $2 round $1: $(jq -r .conns_per_req <<<"$best") connections per request: the server did not close every connection"
    return 0
}

# tp_run ROUND CASE-ID METHOD PATH CONNS STREAMS: one throughput run, its JSON line on stdout
tp_run() {
    local round=$1 id=$2 out=$WORK/h2load.out m0="" m1="" s0 s1 fig t0
    shift 2
    h2load_args "$id" "$@"
    is_sluice && m0=$(sluice_metrics)
    t0=$(date +%s%N)
    "${CLI[@]}" taskset -c 1 h2load "${H2LOAD_ARGS[@]}" -D "${TP_MS}ms" --warm-up-time "${TP_WARM_MS}ms" "$URL" >"$out" 2>&1 &
    LOAD_PID=$!
    # deadlines from the start, not sleeps in a row: on a busy machine the snapshots themselves take
    # a while, and the window must close before h2load does
    sleep_until $((t0 + (TP_WARM_MS + 150) * 1000000))
    s0=$(snapshot)
    sleep_until $((t0 + (TP_WARM_MS + TP_MS - 400) * 1000000))
    s1=$(snapshot)
    wait "$LOAD_PID"
    LOAD_PID=""
    is_sluice && m1=$(sluice_metrics)
    fig=$(parse_h2load "$out")
    cp "$out" "$LOGS/h2load-$SERVER_NAME-$id$(mtu_suffix "$MTU")-r$round.txt"
    tp_record "$round" "$id" "$fig" "$s0" "$s1" "$m0" "$m1"
}

# net_snapshot: "active_opens client_time_wait server_time_wait server_tw_overflow": the client
# namespace's TCP ActiveOpens (connections it made) and TIME-WAIT sockets, the server namespace's
# TIME-WAIT sockets and TcpExt TCPTimeWaitOverflow (TIME-WAITs the kernel did not keep: its
# tcp_max_tw_buckets reached)
net_snapshot() {
    local prog ctw srv
    # shellcheck disable=SC2016 # an awk program
    prog='
        FILENAME ~ /snmp$/ && /^Tcp:/ { if (!th) { for (i = 2; i <= NF; i++) h[$i] = i; th = 1 } else ao = $h["ActiveOpens"] }
        FILENAME ~ /netstat$/ && /^TcpExt:/ { if (!eh) { for (i = 2; i <= NF; i++) e[$i] = i; eh = 1 } else ov = $e["TCPTimeWaitOverflow"] }
        FILENAME ~ /sockstat$/ && /^TCP:/ { for (i = 2; i < NF; i++) if ($i == "tw") tw = $(i + 1) }
        END { printf "%.0f %.0f %.0f\n", ao, tw, ov }'
    ctw=$("${CLI[@]}" awk "$prog" /proc/net/snmp /proc/net/netstat /proc/net/sockstat 2>/dev/null)
    srv=$("${SRV[@]}" awk "$prog" /proc/net/snmp /proc/net/netstat /proc/net/sockstat 2>/dev/null)
    # shellcheck disable=SC2086
    set -- ${ctw:-0 0 0} ${srv:-0 0 0}
    echo "$1 $2 $5 $6"
}

# hs_run ROUND CASE-ID METHOD PATH CONNS STREAMS: one run of a case measured per connection
# (tls-hs-full: h2load runs of CONNS new connections with one request each; tls-hs-resumed: h2load
# runs of CONNS connections that reconnect after each request, resuming; connrate: the same over
# cleartext HTTP/1.1, the server closing; see the top), its JSON line on stdout.
# h2load runs back to back; the measured window is whole runs (a run's connections all open at its
# start: a window that cut one would count it wrongly), from the first run that starts after the
# warm-up to the last that starts before the window would close, and its handshakes (connections)
# are the requests those runs completed (one per connection); the namespaces' TCP counters
# (net_snapshot) are read just outside the window's CPU snapshots, while no h2load runs
hs_run() {
    local round=$1 id=$2 path=$4 conns=$5 out=$WORK/hs.out m0="" m1="" s0 s1 n0 n1 fig t0 from_us to_us args tls=()
    URL=https://$SRV4:$(tls_port_of "$SERVER_NAME")$path
    tls=("${TLS_H2LOAD[@]}")
    case $id in
    tls-hs-full) args=(-n "$conns" -c "$conns" -m 1) ;;
    tls-hs-resumed) args=(--h1 -H 'Connection: close' -n $((conns * 100)) -c "$conns") ;;
    connrate)
        URL=http://$SRV4:$(h1_port_of "$SERVER_NAME")$path
        tls=()
        # runs of ~0.4 s at 20k connections/s; the time between runs is left out (see the top)
        args=(--h1 -H 'Connection: close' -n $((conns * 125)) -c "$conns")
        # the previous server's TIME-WAIT out of the namespaces' shared buckets (see the top)
        in_srv ss -K state time-wait >/dev/null 2>&1
        in_cli ss -K state time-wait >/dev/null 2>&1
        ;;
    esac
    is_sluice && m0=$(sluice_metrics)
    : >"$out"
    t0=$(date +%s%N)
    from_us=$((t0 / 1000 + TP_WARM_MS * 1000))
    to_us=$((t0 / 1000 + (TP_WARM_MS + TP_MS - 400) * 1000))
    # the loop pins itself to CPU 1, and its h2load runs inherit that; it snapshots itself as the
    # load (LOAD_PID: its ended runs are its cutime); -N: a connection quiet for 5 s fails, so that
    # every run ends
    (
        taskset -cp 1 "$BASHPID" >/dev/null
        LOAD_PID=$BASHPID
        inside=0
        while :; do
            now=${EPOCHREALTIME/./}
            if [ $inside = 0 ] && [ "$now" -ge $from_us ]; then
                echo "window-net-start $(net_snapshot)" >>"$out"
                echo "window-start $(snapshot)" >>"$out"
                inside=1
            elif [ $inside = 1 ] && [ "$now" -ge $to_us ]; then
                echo "window-end $(snapshot)" >>"$out"
                echo "window-net-end $(net_snapshot)" >>"$out"
                break
            fi
            echo "h2load run" >>"$out"
            "${CLI[@]}" h2load "${tls[@]}" -N 5s "${args[@]}" "$URL" >>"$out" 2>&1
        done
    ) &
    LOAD_PID=$!
    wait "$LOAD_PID"
    LOAD_PID=""
    is_sluice && m1=$(sluice_metrics)
    cp "$out" "$LOGS/h2load-$SERVER_NAME-$id$(mtu_suffix "$MTU")-r$round.txt"
    # over every run: "rps bytes requests_done succeeded errors" as parse_h2load's (rps and bytes
    # unused), a run without a summary (h2load failed outright) counting as an error; the requests
    # that the runs within the window completed; for connrate also those runs' own time (from each
    # run's req/s: succeeded over its duration), which leaves out the time between runs
    fig=$(awk -v runtime="$([ "$id" = connrate ] && echo 1)" '
               /^h2load run$/ { runs++; r = 0 }
               /^finished in/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^req\/s/) r = $i; gsub(/,/, "", r) }
               /^requests:/ { sums++; done += $6; ok += $8; err += $10 + $12 + $14; if (inside) { hs += $8; if (r > 0) t += $8 / r } }
               /^window-start / { inside = 1 } /^window-end / { inside = 0 }
               END { printf "-1 0 %d %d %d %d", done, ok, err + runs - sums, hs; if (runtime) printf " %.6f", t; printf "\n" }' "$out")
    # a window never closed (the loop was stopped) has no figures: as an h2load that ended early
    s0=$(sed -n 's/^window-start //p' "$out")
    s1=$(sed -n 's/^window-end //p' "$out")
    [ -n "$s0" ] && [ -n "$s1" ] || s0="0 0 0 0 0 0 0 0 -1 0 0 0" s1="0 0 0 0 0 0 0 0 -1 0 0 0"
    n0=$(sed -n 's/^window-net-start //p' "$out")
    n1=$(sed -n 's/^window-net-end //p' "$out")
    tp_record "$round" "$id" "$fig" "$s0" "$s1" "$m0" "$m1" "$n0" "$n1"
}

# tp_record ROUND CASE-ID "rps bytes done ok errors [handshakes]" SNAPSHOT0 SNAPSHOT1 METRICS0 METRICS1
# [NET0 NET1]: a throughput run's JSON line on stdout; with handshakes (the cases measured per
# connection: completed within the window), requests/s is handshakes per second of the window
# (connrate, with the runs' own time as a 7th figure: connections per second of those runs), and
# for sluice the share of handshakes resumed is added; with net_snapshot's NET0 and NET1,
# connections per request and the TIME-WAIT each side holds (and for sluice over AF_XDP its
# TIME-WAIT counters)
tp_record() {
    local round=$1 id=$2 s0=$4 s1=$5 m0=$6 m1=$7 n0=${8:-} n1=${9:-} unit=handshakes
    [ "$id" = connrate ] && unit=connections
    # shellcheck disable=SC2086
    set -- $3
    awk -v server="$SERVER_NAME" -v case_id="$id$(mtu_suffix "$MTU")" -v mtu="$MTU" -v round="$round" -v tick="$TICK" -v dur="$(ms_to_s "$TP_MS")" \
        -v rps="$1" -v bytes="$2" -v done="$3" -v ok="$4" -v err="$5" -v s0="$s0" -v s1="$s1" -v m0="$m0" -v m1="$m1" \
        -v hs="${6:-}" -v hs_time="${7:-}" -v unit="$unit" -v n0="$n0" -v n1="$n1" -v xdp="$(is_xdp "$SERVER_NAME" && echo 1)" '
    BEGIN {
        split(s0, a, " "); split(s1, b, " ")
        win = b[1] - a[1]
        busy = (b[2] - a[2]) / tick; srv = (b[8] - a[8]) / tick
        # what the benchmark itself used: server, h2load, and the softirq of the traffic between them
        # (not attributable to a process); the rest of the busy time is other work on the machine
        own = srv + (b[9] - a[9]) / tick + (b[10] - a[10]) / tick
        other = (b[3] - a[3]) ? ((b[2] - a[2]) / tick - own) / ((b[3] - a[3]) / tick) : 0
        c0 = (b[5] - a[5]) ? (b[4] - a[4]) / (b[5] - a[5]) : 0
        c1 = (b[7] - a[7]) ? (b[6] - a[6]) / (b[7] - a[7]) : 0
        errors = err + (done - ok)
        if (hs != "") rps = win > 0 ? hs / win : -1
        # connrate: per second of the runs themselves, the time between them left out (see the top)
        if (hs_time != "") { rps_window = rps; rps = hs_time > 0 ? hs / hs_time : -1 }
        # the requests (handshakes, connections) that the CPU of the window went to
        nreq = hs != "" ? hs : rps * win
        printf "{\"server\":\"%s\",\"case\":\"%s\",\"mtu\":%d,\"round\":%d,\"kind\":\"throughput\",\"rps\":%.2f,", server, case_id, mtu, round, rps
        if (hs != "") {
            printf "\"%s\":%d,", unit, hs
            if (hs_time != "") printf "\"runs_s\":%.3f,\"rps_window\":%.2f,", hs_time, rps_window
            # connections per second of CPU0 busy (the window counts both)
            if (hs_time != "" && win > 0 && c0 > 0) printf "\"rps_per_server_core\":%.2f,", hs / win / c0
        } else
            printf "\"bytes_per_s\":%.0f,", bytes / dur
        printf "\"requests\":%d,\"errors\":%d,\"window_s\":%.3f,", done, errors, win
        # h2load had ended before the window closed (a very busy machine): the window holds idle
        # time, its CPU figures would be too low and are left out
        if (a[9] < 0 || b[9] < 0)
            printf "\"window_late\":true,"
        else if (rps > 0 && win > 0)
            printf "\"server_cpu_us_per_req\":%.3f,\"machine_cpu_us_per_req\":%.3f,\"bench_cpu_us_per_req\":%.3f,", srv / nreq * 1e6, busy / nreq * 1e6, own / nreq * 1e6
        printf "\"cpu0_busy\":%.3f,\"cpu1_busy\":%.3f", c0, c1
        # the packets through the veth (skbs: a GSO packet or a multi-buffer chain is one)
        if (nreq > 0 && win > 0) printf ",\"veth_in_per_req\":%.3f,\"veth_out_per_req\":%.3f", (b[11] - a[11]) / nreq, (b[12] - a[12]) / nreq
        if (a[9] >= 0 && b[9] >= 0)
            printf ",\"other_busy\":%.3f", other
        if (m0 != "" && m1 != "") {
            split(m0, p, " "); split(m1, q, " ")
            if (q[1] > p[1]) printf ",\"allocs_per_req\":%.4f", (q[2] - p[2]) / (q[1] - p[1])
            if (xdp && q[1] > p[1]) printf ",\"syscalls_per_req\":%.4f", (q[13] - p[13]) / (q[1] - p[1])
            # the access log thread, over the requests of the whole load (warm-up too), and its share
            # of the server CPU per request
            if (q[14] > p[14] && q[1] > p[1]) {
                printf ",\"logger_cpu_ns_per_req\":%.1f", (q[14] - p[14]) / (q[1] - p[1])
                if (rps > 0 && win > 0 && srv > 0) printf ",\"logger_cpu_share\":%.4f", (q[14] - p[14]) / (q[1] - p[1]) / (srv / nreq * 1e9)
            }
            printf ",\"body_bytes_out\":%.0f,\"body_bytes_copied\":%.0f", q[3] - p[3], q[4] - p[4]
            if (q[3] > p[3]) printf ",\"copied_per_byte\":%.4f", (q[4] - p[4]) / (q[3] - p[3])
            if (hs != "" && q[6] > p[6]) printf ",\"tls_resumed_share\":%.4f", (q[7] - p[7]) / (q[6] - p[6])
            if (hs != "" && done > 0) printf ",\"server_accepted_per_req\":%.4f", (q[8] - p[8]) / done
            if (hs != "" && xdp) {
                printf ",\"time_wait_entered\":%.0f,\"time_wait_dropped\":%.0f", q[9] - p[9], q[10] - p[10]
                if (q[8] > p[8]) printf ",\"time_wait_reused_share\":%.4f", (q[11] - p[11]) / (q[8] - p[8])
            }
        }
        if (n0 != "" && n1 != "") {
            split(n0, x, " "); split(n1, y, " ")
            if (hs > 0) printf ",\"conns_per_req\":%.4f", (y[1] - x[1]) / hs
            # TIME-WAIT at the end of the window: over AF_XDP sluice holds it, not the kernel
            printf ",\"client_time_wait\":%d,\"server_time_wait\":%d", y[2], (xdp && m1 != "") ? q[12] : y[3]
            printf ",\"server_tw_overflow\":%d", y[4] - x[4]
        }
        printf "}\n"
    }'
}

# measure_lat ROUND CASE-ID METHOD PATH CONNS STREAMS: percentiles from h2load's per-request log
measure_lat() {
    local round=$1 id=$2 out=$WORK/h2load-lat.out log=$WORK/h2load.log fig
    shift 2
    h2load_args "$id" "$@"
    rm -f "$log"
    "${CLI[@]}" taskset -c 1 h2load "${H2LOAD_ARGS[@]}" -D "${LAT_MS}ms" --warm-up-time "${LAT_WARM_MS}ms" \
        --log-file="$log" "$URL" >"$out" 2>&1 &
    LOAD_PID=$!
    wait "$LOAD_PID"
    LOAD_PID=""
    fig=$(parse_h2load "$out")
    # shellcheck disable=SC2086
    set -- $fig
    # log lines: start time (µs since the epoch), status, duration (µs)
    awk '{ print $3 }' "$log" 2>/dev/null | sort -n | awk -v server="$SERVER_NAME" -v case_id="$id$(mtu_suffix "$MTU")" -v mtu="$MTU" -v round="$round" \
        -v rps="$1" -v err="$5" -v done="$3" -v ok="$4" '
        { d[NR] = $1 }
        function pct(p,    i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return d[i] }
        END {
            printf "{\"server\":\"%s\",\"case\":\"%s\",\"mtu\":%d,\"round\":%d,\"kind\":\"latency\",\"logged\":%d,\"rps_with_log\":%s,\"errors\":%d", server, case_id, mtu, round, NR, rps, err + (done - ok)
            if (NR > 0) printf ",\"p50_us\":%d,\"p99_us\":%d,\"p999_us\":%d", pct(0.5), pct(0.99), pct(0.999)
            printf "}\n"
        }' >>"$RAW"
}

# measure_idle ROUND CASE-ID [PATH]: IDLE_N idle HTTP/2 connections (each having made one request,
# GET PATH, when PATH is given); resident memory before and after
measure_idle() {
    local round=$1 id=$2 out=$WORK/idle.out rss0 rss1 m0="0 0 0 0 0" m1="0 0 0 0 0" ready="" i req=()
    [ -n "${3:-}" ] && req=(-r "$3")
    rss0=$(server_rss_kb)
    is_xdp "$SERVER_NAME" && m0=$(sluice_metrics)
    "${CLI[@]}" taskset -c 1 "$IDLE" "${req[@]}" $SRV4 "$(port_of "$SERVER_NAME")" "$IDLE_N" 256 60 >"$out" 2>&1 &
    IDLE_PID=$!
    for i in $(seq 700); do
        ready=$(sed -n 's/^ready open=\([0-9]*\) failed=\([0-9]*\) seconds=\([0-9.]*\)$/\1 \2 \3/p' "$out")
        [ -n "$ready" ] && break
        kill -0 "$IDLE_PID" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1 # let the server finish with the last ones
    rss1=$(server_rss_kb)
    is_xdp "$SERVER_NAME" && m1=$(sluice_metrics)
    stop_pid "$IDLE_PID"
    IDLE_PID=""
    cp "$out" "$LOGS/$id$(mtu_suffix "$MTU")-$SERVER_NAME-r$round.txt"
    [ -n "$ready" ] || { note "$SERVER_NAME: idle_conns did not report: $(head -c 300 "$out")"; ready="0 $IDLE_N 0"; }
    awk -v server="$SERVER_NAME" -v case_id="$id$(mtu_suffix "$MTU")" -v mtu="$MTU" -v round="$round" -v n="$IDLE_N" -v ready="$ready" -v rss0="$rss0" -v rss1="$rss1" \
        -v m0="$m0" -v m1="$m1" -v end_open="$(sed -n 's/^end open=//p' "$out")" -v xdp="$(is_xdp "$SERVER_NAME" && echo 1)" '
    BEGIN {
        split(ready, r, " "); split(m0, p, " "); split(m1, q, " ")
        open = r[1]; if (end_open == "") end_open = 0
        printf "{\"server\":\"%s\",\"case\":\"%s\",\"mtu\":%d,\"round\":%d,\"kind\":\"idle\",\"connections\":%d,\"open\":%d,", server, case_id, mtu, round, n, open
        printf "\"open_at_end\":%d,\"open_seconds\":%s,\"errors\":%d,\"rss_before_kb\":%d,\"rss_after_kb\":%d", end_open, r[3], n - end_open, rss0, rss1
        if (open > 0) printf ",\"bytes_per_idle_conn\":%.0f", (rss1 - rss0) * 1024 / open
        if (xdp) printf ",\"umem_frames_held_delta\":%d", q[5] - p[5]
        printf "}\n"
    }' >>"$RAW"
}

record_na() { # record_na SERVER CASE REASON
    jq -cn --arg s "$1" --arg c "$2" --arg r "$3" '{server: $s, case: $c, mtu: ($c | split("@") | .[1] // "1500" | tonumber), kind: "na", reason: $r}' >>"$RAW"
}

# ---- the run -----------------------------------------------------------------------------------------
START=$(date +%s)
note "HTTP servers: ${SERVERS[*]}; ${#CASES[@]} load case(s) + ${#IDLE_CASES[@]} idle case(s) of $IDLE_N connections; MTU ${MTUS[*]}$([ ${#MTUS[@]} -gt 1 ] && [ ${#MTU_CASES[@]} -gt 0 ] && echo " (at $FIRST_MTU every case, at the others ${MTU_CASES[*]})"); $ROUNDS round(s);" \
    "h2load ${TP_MS} ms (+${TP_WARM_MS} ms warm-up) per throughput run, ${LAT_MS} ms (+${LAT_WARM_MS} ms) per latency run;" \
    "expected run time ~$(( (EXPECTED_S + 59) / 60 )) min ($EXPECTED_S s)"
TOPO_MTU=${MTUS[0]} topo_up $TOPO || die "the topology did not come up"
MTU=${MTUS[0]}
# the handshake cases open a few thousand connections a second from the client namespace, and the
# full ones close first (TIME-WAIT on the client's side), connrate tens of thousands: room for
# them, in that namespace only
if [ $TLS = 1 ] || [ $CONNRATE = 1 ]; then
    in_cli sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 >/dev/null ||
        die "could not set the client namespace's port range and tcp_tw_reuse"
fi
# connrate: sluice keeps as many TIME-WAIT entries as the kernel servers may (see the top)
tcp_lines=""
if [ $CONNRATE = 1 ]; then
    tw_buckets=$(in_srv sysctl -n net.ipv4.tcp_max_tw_buckets) || die "could not read the server namespace's tcp_max_tw_buckets"
    [ "$tw_buckets" -le 1048576 ] || tw_buckets=1048576 # [tcp] max_time_wait's highest
    tcp_lines=$(printf '# as many as the kernel servers keep: net.ipv4.tcp_max_tw_buckets of the server namespace\nmax_time_wait = %s\n' "$tw_buckets")
fi
for m in "${MTUS[@]}"; do
    for h2 in nghttp2 native; do sluice_conf $h2 "$m" "$tcp_lines"; done
done

# NA["SERVER CASE-ID@MTU"] (no suffix at 1500): why the server has no figure for the case at that MTU
declare -A NA
for m in "${MTUS[@]}"; do
    sfx=$(mtu_suffix "$m")
    for s in "${SERVERS[@]}"; do
        for c in "${CASES[@]}" "${IDLE_CASES[@]}"; do
            id=${c%%|*}
            runs_at "$id" "$m" || continue
            if ! server_installed "$s"; then
                NA[$s $id$sfx]="$s is not installed"
            else
                r=$(na_reason "$s" "$id")
                [ -n "$r" ] && NA[$s $id$sfx]=$r
            fi
        done
    done
done

for round in $(seq "$ROUNDS"); do
    # rotate the orders per round so that no MTU or server always runs first (or right after another)
    for mi in "${!MTUS[@]}"; do
        m=${MTUS[$(((mi + round - 1) % ${#MTUS[@]}))]}
        sfx=$(mtu_suffix "$m")
        load_cases=() idle_cases=()
        for c in "${CASES[@]}"; do runs_at "${c%%|*}" "$m" && load_cases+=("$c"); done
        for c in "${IDLE_CASES[@]}"; do runs_at "${c%%|*}" "$m" && idle_cases+=("$c"); done
        [ $((${#load_cases[@]} + ${#idle_cases[@]})) = 0 ] && continue
        set_mtu "$m" || die "could not set the veth's MTU to $m"
        order=()
        for i in "${!SERVERS[@]}"; do order+=("${SERVERS[$(((i + round - 1) % ${#SERVERS[@]}))]}"); done
        for s in "${order[@]}"; do
            server_installed "$s" || continue
            if ! start_server "$s"; then
                stop_server
                for c in "${load_cases[@]}" "${idle_cases[@]}"; do NA[$s ${c%%|*}$sfx]="did not start at MTU $m (see http-logs/$s.log)"; done
                continue
            fi
            # idle connections first, each case on a fresh server: after the load cases (or the other
            # idle case) its allocator would hand them memory the earlier connections freed, and the
            # resident size would not move
            fresh=1
            for c in "${idle_cases[@]}"; do
                IFS='|' read -r id _ req <<<"$c"
                [ -n "${NA[$s $id$sfx]:-}" ] && continue
                if [ $fresh = 0 ]; then
                    stop_server
                    # a start right after a stop sometimes finds the previous one's state (its port, the
                    # XDP attachment) not gone yet: one more try after a pause
                    if ! start_server "$s"; then
                        stop_server
                        sleep 2
                        if ! start_server "$s"; then
                            stop_server
                            for lc in "${load_cases[@]}"; do NA[$s ${lc%%|*}$sfx]="did not start again (see http-logs/$s.log)"; done
                            NA[$s $id$sfx]="did not start again (see http-logs/$s.log)"
                            break
                        fi
                    fi
                fi
                measure_idle "$round" "$id" "$req"
                fresh=0
                sleep 1 # the server closes them (reset by the client) before the next case
            done
            [ -n "$SERVER_PID" ] || continue # a restart failed: its cases are n/a
            tls_checked=0
            for c in "${load_cases[@]}"; do
                IFS='|' read -r id _ method path conns streams <<<"$c"
                [ -n "${NA[$s $id$sfx]:-}" ] && continue
                if [ "$round" = 1 ] && is_tls_case "$id" && [ $tls_checked = 0 ]; then
                    tls_checked=1
                    r=$(check_tls "$s")
                    if [ -n "$r" ]; then
                        note "$s: $r"
                        for tc in "${load_cases[@]}"; do is_tls_case "${tc%%|*}" && NA[$s ${tc%%|*}$sfx]=$r; done
                        continue
                    fi
                fi
                if [ "$round" = 1 ]; then
                    r=$(check_case "$s" "$id" "$method" "$path")
                    if [ -n "$r" ]; then
                        NA[$s $id$sfx]=$r
                        continue
                    fi
                fi
                measure_tp "$round" "$id" "$method" "$path" "$conns" "$streams"
                is_conn_case "$id" || measure_lat "$round" "$id" "$method" "$path" "$conns" "$streams"
            done
            stop_server
            note "round $round/$ROUNDS, MTU $m: $s done ($(($(date +%s) - START)) s)"
        done
    done
done
for key in "${!NA[@]}"; do record_na "${key%% *}" "${key#* }" "${NA[$key]}"; done
ELAPSED=$(( $(date +%s) - START ))

# ---- figures: JSON, markdown, plots -------------------------------------------------------------------
# a case per (case, MTU) it ran at: id CASE@MTU (no suffix at 1500), base CASE, mtu; each case's MTUs together
case_lines() { # case_lines CASE-LINE...: each line at every MTU it runs at, the MTU's suffix on its id and the MTU last
    local c m
    for c in "$@"; do
        for m in "${MTUS[@]}"; do runs_at "${c%%|*}" "$m" && printf '%s%s|%s|%s\n' "${c%%|*}" "$(mtu_suffix "$m")" "${c#*|}" "$m"; done
    done
    return 0
}
cases_json=$( (case_lines "${CASES[@]}" | jq -R 'split("|") | (.[0] | split("@") | .[0]) as $base
                                             | {id: .[0], base: $base, mtu: (.[6] | tonumber), label: .[1], kind: "load", method: .[2], path: .[3],
                                                connections: (.[4] | tonumber), streams: (.[5] | tonumber),
                                                tls: ($base | startswith("tls-")), handshakes: ($base | startswith("tls-hs-")),
                                                per_connection: ($base | startswith("tls-hs-") or . == "connrate")}'
               case_lines "${IDLE_CASES[@]}" | jq -R --argjson n "$IDLE_N" 'split("|") | {id: .[0], base: (.[0] | split("@") | .[0]), mtu: (.[3] | tonumber),
                                                label: .[1], kind: "idle", request: (if .[2] == "" then null else "GET \(.[2])" end), connections: $n, streams: 0}'
             ) | jq -s 'map(select(.id != null and .id != ""))')
jq -s --argjson cases "$cases_json" --argjson servers "$(printf '%s\n' "${SERVERS[@]}" | jq -R . | jq -s .)" \
    --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg kernel "$(uname -r)" --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    --argjson cpus "$(nproc)" --argjson rounds "$ROUNDS" --argjson quick "$QUICK" --argjson elapsed "$ELAPSED" \
    --argjson mtus "$(printf '%s\n' "${MTUS[@]}" | jq -s .)" \
    --arg h2load "$(h2load --version 2>/dev/null | head -1)" --arg h2o "$(h2o --version 2>/dev/null | head -1)" \
    --arg nginx "$(nginx -v 2>&1 | head -1)" --arg nghttpd "$(nghttpd --version 2>/dev/null | head -1)" \
    --argjson tp_ms "$TP_MS" --argjson tp_warm_ms "$TP_WARM_MS" --argjson lat_ms "$LAT_MS" --argjson lat_warm_ms "$LAT_WARM_MS" '
    def stat: sort | {median: (if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end),
                       min: (if length == 0 then null else min end), max: (if length == 0 then null else max end), runs: .};
    def fig($rows; $k): [$rows[] | .[$k] | select(. != null)] | if length == 0 then null else stat end;
    # $k of each row over $base'"'"'s $k in the same round (h2o'"'"'s, run in the same round and case)
    def vs($rows; $base; $k): [ $rows[] as $x | ($base[] | select(.round == $x.round) | .[$k]) as $b
                                | if $x[$k] != null and $b != null and $b != 0 then $x[$k] / $b else empty end ]
                              | if length == 0 then null else stat end;
    . as $all
    | {meta: {date: $date, kernel: $kernel, cpu: $cpu, cpus: $cpus, rounds: $rounds, quick: ($quick == 1), elapsed_s: $elapsed, mtus: $mtus,
              throughput_run_ms: $tp_ms, throughput_warmup_ms: $tp_warm_ms, latency_run_ms: $lat_ms, latency_warmup_ms: $lat_warm_ms,
              versions: {h2load: $h2load, h2o: $h2o, nginx: $nginx, nghttpd: $nghttpd},
              placement: "server on CPU 0, h2load on CPU 1, veth between two network namespaces (MTU: both ends; sluice [tcp] mtu to match)"},
       cases: $cases, servers: $servers,
       results: [ $servers[] as $s | $cases[] as $c
                  | ($all | map(select(.server == $s and .case == $c.id))) as $rows
                  | ($rows | map(select(.kind == "na")) | .[0].reason) as $na
                  | ($rows | map(select(.kind == "throughput"))) as $tp
                  | ($rows | map(select(.kind == "latency"))) as $lat
                  | ($rows | map(select(.kind == "idle"))) as $idle
                  | ($all | map(select(.server == "h2o" and .case == $c.id))) as $h2o
                  | ($all | map(select($s == "sluice-xdp-log" and .server == "sluice-xdp-native" and .case == $c.id
                                       and .kind == "throughput"))) as $log_off
                  | {server: $s, case: $c.id, mtu: $c.mtu}
                    + (if $na != null then {na: $na} else
                       {rps: fig($tp; "rps"), bytes_per_s: fig($tp; "bytes_per_s"),
                        server_cpu_us_per_req: fig($tp; "server_cpu_us_per_req"), machine_cpu_us_per_req: fig($tp; "machine_cpu_us_per_req"),
                        bench_cpu_us_per_req: fig($tp; "bench_cpu_us_per_req"),
                        cpu0_busy: fig($tp; "cpu0_busy"), cpu1_busy: fig($tp; "cpu1_busy"), other_busy: fig($tp; "other_busy"),
                        veth_in_per_req: fig($tp; "veth_in_per_req"), veth_out_per_req: fig($tp; "veth_out_per_req"),
                        errors: ((($tp + $lat + $idle) | map(.errors) | add) // null),
                        late_windows: ($tp | map(select(.window_late)) | length),
                        allocs_per_req: fig($tp; "allocs_per_req"), syscalls_per_req: fig($tp; "syscalls_per_req"), copied_per_byte: fig($tp; "copied_per_byte"),
                        p50_us: fig($lat; "p50_us"), p99_us: fig($lat; "p99_us"), p999_us: fig($lat; "p999_us"),
                        rps_with_log: fig($lat; "rps_with_log"),
                        tls_resumed_share: fig($tp; "tls_resumed_share"),
                        conns_per_req: fig($tp; "conns_per_req"), server_accepted_per_req: fig($tp; "server_accepted_per_req"),
                        server_time_wait: fig($tp; "server_time_wait"), client_time_wait: fig($tp; "client_time_wait"),
                        server_tw_overflow: fig($tp; "server_tw_overflow"), time_wait_reused_share: fig($tp; "time_wait_reused_share"),
                        time_wait_dropped: fig($tp; "time_wait_dropped"), rps_per_server_core: fig($tp; "rps_per_server_core"),
                        rps_per_server_core_vs_h2o: vs($tp; $h2o | map(select(.kind == "throughput")); "rps_per_server_core"),
                        bytes_per_idle_conn: fig($idle; "bytes_per_idle_conn"), idle_open: fig($idle; "open_at_end"),
                        umem_frames_held_delta: fig($idle; "umem_frames_held_delta"),
                        rps_vs_h2o: vs($tp; $h2o | map(select(.kind == "throughput")); "rps"),
                        server_cpu_vs_h2o: vs($tp; $h2o | map(select(.kind == "throughput")); "server_cpu_us_per_req"),
                        machine_cpu_vs_h2o: vs($tp; $h2o | map(select(.kind == "throughput")); "machine_cpu_us_per_req"),
                        bench_cpu_vs_h2o: vs($tp; $h2o | map(select(.kind == "throughput")); "bench_cpu_us_per_req"),
                        idle_memory_vs_h2o: vs($idle; $h2o | map(select(.kind == "idle")); "bytes_per_idle_conn"),
                        logger_cpu_ns_per_req: fig($tp; "logger_cpu_ns_per_req"), logger_cpu_share: fig($tp; "logger_cpu_share"),
                        log_on_over_off_server_cpu: vs($tp; $log_off; "server_cpu_us_per_req"),
                        log_on_over_off_rps: vs($tp; $log_off; "rps")}
                       | with_entries(select(.value != null)) end) ],
       runs: [ .[] | select(.kind != "na") ]}' "$RAW" >"$OUT/http.json" || die "could not aggregate $RAW"

# markdown: one row per (case, server)
jq -r '
    def n($x): if $x == null then "" elif ($x | fabs) >= 100 then ($x | round | tostring)
               elif ($x | fabs) >= 10 then ((($x * 10) | round) / 10 | tostring) else ((($x * 100) | round) / 100 | tostring) end;
    def mm($f): if $f == null then "–" elif ($f.runs | length) > 1 then "\(n($f.median)) (\(n($f.min))–\(n($f.max)))" else n($f.median) end;
    def pct($f): if $f == null then "–" else "\(($f.median * 100) | round)%" end;
    def lat($r): if $r.p50_us == null then "–" else "\($r.p50_us.median | round) / \($r.p99_us.median | round) / \($r.p999_us.median | round)" end;
    . as $d
    | "Placement: \(.meta.placement). \(.meta.rounds) round(s) per case, servers interleaved; median (min–max). " +
      "Throughput runs \(.meta.throughput_run_ms) ms after \(.meta.throughput_warmup_ms) ms of warm-up; latency from separate runs with h2load --log-file (\(.meta.latency_run_ms) ms). " +
      "CPU figures are µs per request over the measured window; \"machine\" counts the busy time of every CPU (including softirq and anything else running); " +
      "\"bench\" counts only the server, h2load and every CPU'"'"'s irq and softirq time, what machine would be without other work on the machine. " +
      "Cores: busy share of CPU 0 (server) / CPU 1 (h2load, and the veth receive softirq of what it sends); others: the share of the machine that other processes took. " +
      "x h2o: the figure over h2o'"'"'s in the same round and MTU (a ratio per round, then its median). " +
      "MTU: both ends of the veth (sluice'"'"'s [tcp] mtu to match; case ids CASE@MTU above 1500); veth packets/req: the skbs through the veth per request, " +
      "in (client to server) / out (server to client).",
      ( if any(.cases[]; .handshakes) then
        "TLS handshake cases: requests/s is handshakes/s and the CPU figures are per handshake (each connection makes one request); " +
        "when CPU1 (the client'"'"'s) is the busier core, handshakes/s is the client'"'"'s limit and server CPU per handshake ranks the servers." +
        ([ .results[] | select(.tls_resumed_share) | "\(.server) \(.case) \((.tls_resumed_share.median * 1000 | round) / 10)%" ]
         | if length > 0 then " Handshakes resumed, from sluice'"'"'s counters: \(join(", "))." else "" end)
        else empty end ),
      ( if any(.cases[]; .base == "connrate") then
        "Connection rate (connrate): requests/s is connections/s (over h2load'"'"'s runs, not the time it takes to start between them) and the CPU figures are per connection (one request each, the server closing); " +
        "the kernel servers'"'"' TCP setup and teardown runs largely in softirq, part of it on CPU1, not in their process nor on CPU0: across datapaths compare machine or bench CPU. Per server, medians:",
        ( .results[] | select((.case | split("@") | .[0]) == "connrate" and .conns_per_req)
          | "- \(.server)\(if .mtu != 1500 then " (MTU \(.mtu))" else "" end): \(mm(.rps_per_server_core)) connections/s per busy server core (over CPU0'"'"'s busy share)" +
            (if .rps_per_server_core_vs_h2o then ", x h2o \(mm(.rps_per_server_core_vs_h2o))" else "" end) +
            "; \(n(.conns_per_req.median)) connections per request (the client'"'"'s TCP active opens over the requests completed)" +
            "; TIME-WAIT held by the server / the client at the end: \(.server_time_wait.median // "–" | tostring) / \(.client_time_wait.median // "–" | tostring)" +
            (if .time_wait_reused_share then "; SYNs that found their tuple in TIME-WAIT \((.time_wait_reused_share.median * 1000 | round) / 10)%, entries dropped early \(.time_wait_dropped.median)" else "" end) +
            (if (.server_tw_overflow.median // 0) > 0 then "; TIME-WAITs the kernel did not keep (overflow) \(.server_tw_overflow.median)" else "" end) )
        else empty end ),
      ( if any(.cases[]; .kind == "load") then
        "",
        "| case | MTU | server | requests/s | x h2o | MB/s | p50 / p99 / p99.9 µs | server CPU µs/req | x h2o | machine CPU µs/req | x h2o | bench CPU µs/req | x h2o | CPU0 / CPU1 busy | others | veth packets/req in / out | errors | allocs/req | syscalls/req | copied B/B |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ( .cases[] | select(.kind == "load") as $c | $d.results[] | select(.case == $c.id)
          | if .na then "| \($c.label) | \($c.mtu) | \(.server) | n/a: \(.na) | | | | | | | | | | | | | | | |"
            else "| \($c.label) | \($c.mtu) | \(.server) | \(mm(.rps)) | \(mm(.rps_vs_h2o)) | \(if .bytes_per_s then n(.bytes_per_s.median / 1e6) else "–" end) | \(lat(.)) | \(mm(.server_cpu_us_per_req)) | \(mm(.server_cpu_vs_h2o)) | \(mm(.machine_cpu_us_per_req)) | \(mm(.machine_cpu_vs_h2o)) | \(mm(.bench_cpu_us_per_req)) | \(mm(.bench_cpu_vs_h2o)) | \(pct(.cpu0_busy)) / \(pct(.cpu1_busy)) | \(pct(.other_busy)) | \(if .veth_in_per_req then "\(n(.veth_in_per_req.median)) / \(n(.veth_out_per_req.median))" else "–" end) | \(.errors // "–") | \(if .allocs_per_req then n(.allocs_per_req.median) else "–" end) | \(if .syscalls_per_req then n(.syscalls_per_req.median) else "–" end) | \(if .copied_per_byte then n(.copied_per_byte.median) else "–" end) |" end )
        else empty end ),
      ( [ .results[] | select(.log_on_over_off_server_cpu or .logger_cpu_ns_per_req)
          | "\(.case): server CPU per request \(mm(.log_on_over_off_server_cpu))x, requests/s \(mm(.log_on_over_off_rps))x; " +
            "the logger thread \(mm(.logger_cpu_ns_per_req)) ns per request, \(if .logger_cpu_share then "\((.logger_cpu_share.median * 1000 | round) / 10)%" else "–" end) of the server'"'"'s CPU per request" ]
        | if length > 0 then "", "Access log on / off (sluice-xdp-log over sluice-xdp-native, combined format to a file, a ratio per round, then its median; the logger thread'"'"'s CPU from its schedstat, which a noisy machine does not blur as it does the on/off ratio): \(join("; "))" else empty end ),
      ( [ .results[] | select((.late_windows // 0) > 0) | "\(.server) \(.case): \(.late_windows)" ]
        | if length > 0 then "", "Throughput runs whose CPU figures were left out (h2load ended before the measured window closed: a busy machine): \(join(", "))" else empty end ),
      ( if any(.cases[]; .kind == "idle") then
        "",
        "| idle connections | MTU | server | held open | memory per idle connection (B, VmRSS delta) | x h2o | UMEM frames held (delta) | errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
        ( .cases[] | select(.kind == "idle") as $c | $d.results[] | select(.case == $c.id)
          | if .na then "| \($c.label) | \($c.mtu) | \(.server) | n/a: \(.na) | | | | |"
            else "| \($c.label) | \($c.mtu) | \(.server) | \(mm(.idle_open)) | \(mm(.bytes_per_idle_conn)) | \(mm(.idle_memory_vs_h2o)) | \(if .umem_frames_held_delta then mm(.umem_frames_held_delta) else "–" end) | \(.errors // "–") |" end )
        else empty end )
' "$OUT/http.json" >"$OUT/http.md" || die "could not write $OUT/http.md"

# plots: requests/s per case and server (median, min-max bars), and the latency percentiles
plot_data() { # plot_data JQ-FIELD: rows of cases, per server columns "median min max"
    jq -r --arg f "$1" '. as $d | .cases[] | select(.kind == "load") | .id as $c
        | [$c] + [ $d.servers[] as $s | ($d.results[] | select(.server == $s and .case == $c) | .[$f]) as $v
                   | if $v == null then "NaN", "NaN", "NaN" else $v.median, $v.min, $v.max end ] | @tsv' "$OUT/http.json"
}
if [ ${#CASES[@]} = 0 ]; then
    note "no load case selected: no plots"
elif command -v gnuplot >/dev/null; then
    plot_data rps >"$WORK/rps.tsv"
    for f in p50_us p99_us p999_us; do plot_data $f >"$WORK/$f.tsv"; done
    servers_gp=${SERVERS[*]}
    gnuplot <<EOF 2>"$LOGS/gnuplot.log" || note "gnuplot failed: $(head -c 300 "$LOGS/gnuplot.log")"
set terminal pngcairo size 1200,640 noenhanced font ",10"
set datafile missing "NaN"
set datafile separator "\t"
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set key outside right top
# the case ids (CASE@MTU at other MTUs) at a slant, so that long ones do not run into each other
set xtics rotate by 30 right
set grid ytics
set logscale y
set ylabel "requests/s (log scale; median, bars min-max)"
set title "HTTP/2 throughput per case and server ($( [ $QUICK = 1 ] && echo "quick, " )$ROUNDS round(s); server on CPU 0, h2load on CPU 1)"
set output "$OUT/http-throughput.png"
servers = "$servers_gp"
plot for [i=1:words(servers)] "$WORK/rps.tsv" using (column(3*i-1)):(column(3*i)):(column(3*i+1)):xtic(1) title word(servers, i)
set output "$OUT/http-latency.png"
set terminal pngcairo size 1400,900 noenhanced font ",9"
set multiplot layout 3,1 title "HTTP/2 latency from h2load --log-file (ms, log scale; median of rounds, bars min-max)"
unset title
do for [p in "p50_us p99_us p999_us"] {
    set ylabel p[1:strlen(p)-3]." (ms)"
    plot for [i=1:words(servers)] sprintf("$WORK/%s.tsv", p) using (column(3*i-1)/1000):(column(3*i)/1000):(column(3*i+1)/1000):xtic(1) title word(servers, i)
}
unset multiplot
EOF
else
    note "gnuplot is not installed: no plots"
fi

{
    echo "HTTP/2 servers side by side ($(date -u +%Y-%m-%d), $(nproc) CPUs: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r); ${ELAPSED} s)"
    echo
    cat "$OUT/http.md"
    echo
    echo "Files: $OUT/http.json (every figure and run), $OUT/http-throughput.png, $OUT/http-latency.png, logs in $LOGS/"
} | tee "$OUT/http-report.md"
