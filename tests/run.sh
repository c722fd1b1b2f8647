#!/usr/bin/env bash
# run.sh — runs the test suites and prints the one summary line CI reads.
#
#   tests/run.sh [--quick] BUILD_DIR [SUITE...]    every suite, or only SUITE... in the order given
#   tests/run.sh --list                            the suite names, one line each on what they test
#
# SUITE may also be a comma-separated list (net,http). An unknown name is an error (exit status 2)
# and nothing runs. --quick (`make check`) leaves out the fuzz suites and runs the suites that need
# no root first, then the ones that do; with SUITE... named it keeps their order, and a fuzz suite
# named is reported skipped.
#
# Each suite prints "ok - …", "not ok - …" or "skip - …" lines (tests/lib/check.h, tests/lib/tap.sh);
# this counts them over all suites and ends with "N passed, N failed, N skipped". A suite that
# exits non-zero without reporting a failure, or runs past its time limit, counts as one failure.
# Exit status: 0 when nothing failed, 2 for a bad command line.
set -u

cd "$(dirname "$0")/.." || exit 1

usage() {
    echo "usage: tests/run.sh [--quick] BUILD_DIR [SUITE[,SUITE...]...] | tests/run.sh --list" >&2
    exit 2
}

QUICK=0 LIST=0
ARGS=()
for arg in "$@"; do
    case "$arg" in
    --quick) QUICK=1 ;;
    --list) LIST=1 ;;
    -h | --help) usage ;;
    -*) echo "run.sh: error: unknown option '$arg'" >&2; usage ;;
    *) ARGS+=("$arg") ;;
    esac
done
BUILD=${ARGS[0]:-build/san}

# name|time limit in seconds|needs: user, root or fuzz (a fuzz suite is left out by --quick)|command|what it tests
SUITES=(
    "layering|60|user|tests/layering/layering_test.sh|includes: each folder reaches only what the architecture allows, no cycles"
    "net|600|user|$BUILD/tests/tcp_test|TCP engine: two engines over a simulated lossy link (tests/net/tcp_test.c)"
    "fuzz-tcp|300|fuzz|tests/fuzz/run_fuzz.sh $BUILD 60 tcp|TCP engine under libFuzzer for 60 s"
    "fuzz-h2|300|fuzz|tests/fuzz/run_fuzz.sh $BUILD 30 h2 h2_diff:30 hpack:20|HTTP input path under libFuzzer (both HTTP/2 sessions) 30 s, our HTTP/2 session against nghttp2's 30 s, HPACK against nghttp2's decoder 20 s"
    "net-kernel|600|root|tests/net/tap_test.sh $BUILD|TCP engine against Linux's TCP over a TAP device in a namespace"
    "net-script|600|user|$BUILD/tests/tcp_script_test|TCP engine: scripted segment-by-segment RFC cases (tests/net/tcp_script_test.c)"
    "bpf|300|root|$BUILD/tests/steer_test|XDP steering program through BPF_PROG_TEST_RUN (tests/bpf/steer_test.c)"
    "agent|600|root|tests/agent/agent_test.sh $BUILD|sluice-agent's every command against the kernel, in a namespace topology"
    "agent-reload|300|root|tests/agent/reload_test.sh $BUILD|sluice-agent reload under load: the XDP program swapped twice while h2load and curl (a connection per request) run against sluice-server on AF_XDP, with 0 failed requests and every map kept, in a topology"
    "h1parse|120|user|$BUILD/tests/h1_parse_test|HTTP/1.1 request framing: heads, chunked bodies, smuggling probes (tests/http/h1_parse_test.c)"
    "hpack|120|user|$BUILD/tests/hpack_test|HPACK: RFC 7541 examples, against libnghttp2's deflater and inflater (tests/h2/hpack_test.c)"
    "tls-ticket|120|user|$BUILD/tests/ticket_test|TLS session ticket keys: key file, rotation, resumption across contexts (tests/tls/ticket_test.c)"
    "fuzz-h1|300|fuzz|tests/fuzz/run_fuzz.sh $BUILD 30 h1 h1_diff|HTTP/1.1 framing under libFuzzer, alone and against http-parser, 30 s each"
    "limits|120|user|tests/lib/run_each.sh $BUILD/tests/rate_limit_test $BUILD/tests/breaker_test|overload limits on a fake clock: per-client rate limit, per-route breaker, with threads (tests/http/rate_limit_test.c, tests/offload/breaker_test.c)"
    "spin|60|user|$BUILD/tests/spin_test|AF_XDP adaptive spinning on a simulated clock: packets closer than poll_spin_us, steady or jittered, keep the worker awake; farther ones stop it spinning; never past the bound (tests/afxdp/spin_test.c)"
    "stream|30|user|$BUILD/tests/stream_test|the deterministic stream that the source service, /bytes and the test clients generate and check: stream_fill equals its byte-by-byte definition from every position, and known bytes pin it (tests/common/stream_test.c)"
    "latency|60|user|$BUILD/tests/latency_test|request duration histograms: bucket bounds (le inclusive, +Inf), status classes, routes out of range as none, _sum (tests/http/latency_test.c)"
    "offload|120|user|tests/offload/offload_test.sh $BUILD|offload pool: the Chase–Lev deque against thieves, jobs run once, queue bound, stop, sizing under a step load, Retry-After; again under ThreadSanitizer (tests/offload/)"
    "access-log|120|user|tests/lib/run_each.sh $BUILD/tests/access_log_test $BUILD/tsan/tests/access_log_test|access log in memory: formats byte by byte, the worker's ring (full: dropped and counted), the logger thread against a producer on a tiny ring and across a reopen; again under ThreadSanitizer (tests/log/access_log_test.c)"
    "grpc|60|user|$BUILD/tests/grpc_test|gRPC: the message reader over every split of DATA chunks, its bounds, the library's HTTP errors as grpc-status (tests/http/grpc_test.c)"
    "router|120|user|$BUILD/tests/router_test|compiled router: matching, precedence, dispatch (tests/router/router_test.c)"
    "routegen|120|user|tests/router/routegen_test.sh $BUILD|sluice-routegen: golden outputs and errors"
    "docs|60|user|tests/docs/handlers_doc_test.sh $BUILD|docs/handlers.md: every C example compiles, its routes file compiles with sluice-routegen and names only defined handlers"
    "takeover|240|root|tests/server/takeover_test.sh $BUILD|server takeover: on the socket datapath a second generation (--takeover) replaces the first under h2load, curl and bare connects; on AF_XDP two takeovers in a row over one shared UMEM, on alternating halves of the worker slots; 0 failed requests, no reset; the old one exits by itself; the refusals, in two topologies"
    "soak|420|root|tools/soak.sh --seconds 120 $BUILD|soak: two minutes of mixed load (HTTP/1.1, HTTP/2, TLS, downloads and uploads, a connection per request) over AF_XDP with 1% loss and duplication, a route change every 10 s, a server takeover and a program reload; no request fails, nothing grows without bound (tools/soak.sh)"
    "afxdp|900|root|tests/afxdp/datapath_test.sh $BUILD|sluice-server over AF_XDP against kernel clients, with loss, in a topology"
    "config|120|user|tests/server/config_test.sh $BUILD|sluice-server's config file and options, on 127.0.0.1"
    "http|900|root|tests/http/http_test.sh $BUILD|HTTP/2 and HTTP/1.1 against curl, nghttp, h2load on both datapaths, in a topology"
    "http1|600|root|tests/http/h1_strict_test.sh $BUILD|HTTP/1.1 strict and leak-free (issue 12): raw requests from h1_probe on both datapaths, in a topology"
    "tls|900|root|tests/tls/tls_test.sh $BUILD|TLS 1.3/1.2 on both datapaths: s_client, curl, nghttp, h2load, resumption, 0-RTT, SNI, reload, loss, malformed handshakes, in a topology"
    "h2flood|180|user|tests/http/h2_flood_test.sh $BUILD|HTTP/2 flood defences of the native codec (HPACK bomb, rapid reset, CONTINUATION, control floods, zero window, concurrency, trailers, reconnecting sources) against sluice-server on 127.0.0.1"
    "offload-http|900|root|tests/http/offload_http_test.sh $BUILD|slow handlers on the offload pool and overload (503 Retry-After) on both datapaths, with curl and h2load, in a topology"
    "slow-clients|300|root|tests/http/slow_client_test.sh $BUILD|slow and silent clients (issue 18): the TLS handshake, HTTP/2 preface, HTTP/1.1 head (slowloris), request body and idle deadlines fire with their outcome and counter, and steady clients are not cut, on both datapaths, in a topology"
    "access-log-http|300|root|tests/log/access_log_http_test.sh $BUILD|access log against curl, nghttp and h2load on both datapaths: one correct line per request within a second (HTTP/1.1, HTTP/2, IPv4, IPv6, TLS, JSON checked field by field with jq), requests ended by their body deadline (408, 499), SIGUSR1 rotation under h2load without a line lost, a tiny ring counting its drops, the combined format, in a topology"
    "framework|900|root|tests/framework/framework_test.sh $BUILD|sluice as a framework: make install/uninstall (DESTDIR too), examples/hello and examples/grpc-echo built out of the tree with pkg-config sluice, run on both datapaths against curl and a python3-grpcio client, in a topology"
    "usdt|300|root|tests/http/usdt_test.sh $BUILD|USDT probes and latency histograms: bpftrace -l lists every probe; bpftrace attached to sluice-server on both datapaths sees exactly the connections, requests (route, path, status), TLS handshakes, hand-offs and 429s curl and h2load made; README's one-liners; /metrics histograms against the counters, in a topology"
    "source-cap|120|root|tests/steer/source_cap_test.sh $BUILD|the per-source connection cap (issue 18): N kernel TCP connections from one address held, the N+1th dropped in XDP and counted, another address served, the count given back on close, over IPv4 and IPv6, against sluice-server on AF_XDP, in a topology"
    "steer|600|root|tests/steer/steer_test.sh $BUILD|stream-prefix steering and load-aware steering (two choices, SYN shedding) end to end with real clients, in a topology"
    "syn-flood|300|root|tests/flood/syn_flood_test.sh $BUILD|spoofed SYN floods (issue 18): without cookies the worker pays, past the half-open threshold and for a --syncookie service XDP answers with SYN cookies, curl still gets 200, in a topology"
)

declare -A LIMIT NEEDS CMD
NAMES=()
for suite in "${SUITES[@]}"; do
    IFS='|' read -r name limit needs cmd what <<<"$suite"
    NAMES+=("$name")
    LIMIT[$name]=$limit NEEDS[$name]=$needs CMD[$name]=$cmd
    if [ "$LIST" = 1 ]; then printf '%-11s %-5s %s\n' "$name" "$needs" "$what"; fi
done
[ "$LIST" = 1 ] && exit 0

# the selection: the names given, in their order; by default all (with --quick: no root first)
RUN=()
for arg in "${ARGS[@]:1}"; do
    IFS=',' read -ra picked <<<"$arg"
    for name in "${picked[@]}"; do
        if [ -z "${LIMIT[$name]+set}" ]; then
            echo "run.sh: error: no suite named '$name'; the suites are: ${NAMES[*]} (tests/run.sh --list)" >&2
            exit 2
        fi
        RUN+=("$name")
    done
done
if [ ${#RUN[@]} -eq 0 ]; then
    if [ "$QUICK" = 1 ]; then
        for needs in user root; do
            for name in "${NAMES[@]}"; do [ "${NEEDS[$name]}" = "$needs" ] && RUN+=("$name"); done
        done
    else
        RUN=("${NAMES[@]}")
    fi
fi

[ -d "$BUILD" ] || { echo "run.sh: error: no build directory '$BUILD' (make BUILD=$BUILD tests builds it)" >&2; exit 2; }

passed=0 failed=0 skipped=0
LOG=$(mktemp) FAILURES=$(mktemp)
trap 'rm -f "$LOG" "$FAILURES"' EXIT

if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: note: not root; the BPF and namespace suites will fail (they need CAP_BPF and CAP_NET_ADMIN)"
fi

for name in "${RUN[@]}"; do
    limit=${LIMIT[$name]} cmd=${CMD[$name]}
    if [ "$QUICK" = 1 ] && [ "${NEEDS[$name]}" = fuzz ]; then
        echo "skip - $name: --quick does not run the fuzz suites"
        skipped=$((skipped + 1))
        continue
    fi
    echo "# suite $name: $cmd"
    start=$(date +%s)
    # shellcheck disable=SC2086
    timeout --kill-after=10 "$limit" $cmd 2>&1 | tee "$LOG" | sed "s/^\(ok\|not ok\|skip\) - /\1 - $name: /"
    status=${PIPESTATUS[0]}
    p=$(grep -c '^ok - ' "$LOG")
    f=$(grep -c '^not ok - ' "$LOG")
    s=$(grep -c '^skip - ' "$LOG")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
            echo "not ok - suite ran past its ${limit}s limit" >>"$LOG"
        else
            echo "not ok - suite exited with status $status without reporting a failure" >>"$LOG"
        fi
        tail -1 "$LOG" | sed "s/^not ok - /not ok - $name: /"
        f=1
    fi
    grep '^not ok - ' "$LOG" | sed "s/^not ok - /not ok - $name: /" >>"$FAILURES"
    echo "# suite $name: $p passed, $f failed, $s skipped in $(($(date +%s) - start))s"
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done

# A long run's failures scroll far up; repeat them just above the summary.
if [ -s "$FAILURES" ]; then
    echo "# failures:"
    sed 's/^/#   /' "$FAILURES"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
