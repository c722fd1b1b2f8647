#!/usr/bin/env bash
# soak.sh — sluice-server over AF_XDP under mixed load, live changes and faults for a while, watched
# every second for anything that grows without bound, and not one request may fail.
#
#   tools/soak.sh [--seconds N] [--out DIR] BUILD_DIR     (default 120 s; needs root, `make tests`)
#
# In a topology of its own (tools/topology.sh, "soak"), with 1% loss and 1% duplication both ways
# (tests/afxdp/netem.bpf.c on the client's veth), a two-worker server with cleartext and TLS ports
# serves at once, for N seconds:
#   - h2load over long-lived HTTP/2 connections (runs of up to 5 minutes, below): small and bulk
#     responses (/healthz, /bytes/100, /bytes/65536, /bytes/1048576);
#   - h2load over HTTP/1.1 keep-alive connections, and over TLS (HTTP/2, ALPN);
#   - a client opening a new connection per request (curl): downloads checked by size, 64 KiB
#     uploads checked by their echo, HTTP/1.1, HTTP/2 and HTTPS in turn;
#   - a route change every 10 s (/bytes moves between the two workers: new connections follow it,
#     existing ones stay where they are), a server takeover a quarter of the way in (a new
#     generation started with --takeover shares the UMEM and takes the new connections; the first
#     one serves h2load's long-lived connections until their run ends, then exits by itself),
#     and a program reload (`sluice-agent reload`) halfway.
# Each second it records the server's resident set, UMEM frames in use, open connections and open
# files (DIR/samples.csv, a line each: seconds, rss_kb, frames, conns, fds, requests: the newest
# generation's, the frames over the shared UMEM). It fails when
# a request failed or errored (any client), when a quantity's peak in the last third of the run is
# past its peak in the second third by more than its slack (growth that does not level off), when
# the frames and files in use once the load is over are not back near where they started, or when
# the server does not stop with every frame returned. Prints ok / not ok lines (tests/lib/tap.sh),
# so that `make test` runs it (suite "soak", two minutes) and an operator runs it for longer.
#
# The h2load clients run in segments of at most SEGMENT_SECS (300) back to back: their connections
# live long but turn over, as clients' do, so that the generation taken over sees its last one close
# within its drain_ms (the run's length plus a minute, at most 600 s, the setting's bound) however
# long the run.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=120 OUTDIR="" SEGMENT_SECS=300
usage() {
    echo "usage: tools/soak.sh [--seconds N] [--out DIR] BUILD_DIR" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) SECS=${2:-}; shift 2 || usage ;;
    --out) OUTDIR=${2:-}; shift 2 || usage ;;
    -h | --help) usage ;;
    -*) echo "soak.sh: error: unknown option '$1'" >&2; usage ;;
    *) break ;;
    esac
done
[ $# = 1 ] || usage
BUILD=$1
case $SECS in
'' | *[!0-9]*) echo "soak.sh: error: --seconds takes a number of seconds (30 or more): '$SECS'" >&2; exit 2 ;;
esac
[ "$SECS" -ge 30 ] || { echo "soak.sh: error: --seconds must be 30 or more (a route change every 10 s, a reload halfway): $SECS" >&2; exit 2; }
for f in bin/sluice-server bin/sluice-agent tests/netem; do
    [ -x "$ROOT/$BUILD/$f" ] || { echo "soak.sh: error: $BUILD/$f not found (make BUILD=$BUILD all tests)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "soak.sh: error: needs root (namespaces, XDP)" >&2; exit 2; }

. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=soak
DEV=$TOPO-s
SRV4=10.77.0.1
URL=http://$SRV4:80
TURL=https://$SRV4:443
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
NETEM=$(realpath "$ROOT/$BUILD/tests/netem")
WORK=$(mktemp -d)
SAMPLES=${OUTDIR:-$WORK}/samples.csv
mkdir -p "$(dirname "$SAMPLES")" || exit 2
SERVER_PID="" OLD_PID="" NETEM_PID="" LOAD_PIDS=()
TOPO_CLI_TIMEOUT=$((SECS + 120)) # a client still running two minutes past the end is stopped
DRAIN_MS=$(((SECS + 60) * 1000))
[ "$DRAIN_MS" -le 600000 ] || DRAIN_MS=600000

reset_state() {
    for pid in "${LOAD_PIDS[@]}" $NETEM_PID $SERVER_PID $OLD_PID; do
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    SERVER_PID="" OLD_PID="" NETEM_PID="" LOAD_PIDS=()
    topo_down $TOPO
}
trap 'reset_state; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

scrape() { cli curl -sS -m 5 --http2-prior-knowledge "$URL/metrics" 2>/dev/null; }
# sum NAME METRICS: the samples of NAME summed over workers
sum() { awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d", s }' <<<"$2"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null; }
fds() { find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# sample T: one line of samples.csv
sample() {
    local m
    m=$(scrape)
    echo "$1,$(rss_kb),$(sum sluice_afxdp_umem_frames_in_use "$m"),$(sum sluice_tcp_connections "$m"),$(fds),$(sum sluice_http_requests_total "$m")"
}

reset_state
topo_up $TOPO >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=soak.test \
    -addext subjectAltName=DNS:soak.test -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1 ||
    not_ok "a self-signed certificate" "$(tail -2 "$WORK/openssl.log" | tr '\n' '|')"
check "soak: agent loaded the program" agent load --dev "$DEV"
check "soak: cleartext service with steering" agent service add --dev "$DEV" --addr $SRV4 --port 80 --steer
check "soak: TLS service" agent service add --dev "$DEV" --addr $SRV4 --port 443 --tls
check "soak: route /bytes -> worker 1" agent route add --dev "$DEV" --prefix /bytes --worker 1
check "soak: route / -> worker 0" agent route add --dev "$DEV" --prefix / --worker 0
head -c 65536 /dev/urandom >"$WORK/upload"
SERVER_ARGS=(--dev "$DEV" --http 80 --https 443 --cert "$WORK/cert.pem" --key "$WORK/key.pem" --pid-file "$WORK/soak.pid")
topo_start_server soak 2 "${SERVER_ARGS[@]}" --drain-ms "$DRAIN_MS"
nsenter --net=/run/netns/$TOPO-cli -- "$NETEM" "$TOPO-c" 10000 10000 >"$WORK/netem.log" 2>&1 &
NETEM_PID=$!
for _ in $(seq 50); do grep -q ready "$WORK/netem.log" && break; sleep 0.1; done
check "soak: 1% loss and 1% duplication injected both ways" grep -q ready "$WORK/netem.log"
START=$(sample 0)

# ---- the load, all of it for SECS seconds ----
printf '%s\n' "$URL/healthz" "$URL/bytes/100" "$URL/bytes/65536" "$URL/bytes/1048576" >"$WORK/h2.urls"
# h2load_segments KIND ARGS...: h2load ARGS for SECS in all, in runs of at most SEGMENT_SECS, their
# output appended to h2load-KIND.log
h2load_segments() {
    local kind=$1 left=$SECS d
    shift
    : >"$WORK/h2load-$kind.log"
    while [ "$left" -gt 0 ]; do
        d=$((left < SEGMENT_SECS ? left : SEGMENT_SECS))
        cli h2load -D "$d" "$@" >>"$WORK/h2load-$kind.log" 2>&1
        left=$((left - d))
    done
}
h2load_segments h2 -c 8 -m 4 --rps 40 -i "$WORK/h2.urls" &
LOAD_PIDS+=($!)
h2load_segments h1 --h1 -c 4 --rps 40 "$URL/bytes/100" "$URL/healthz" "$URL/bytes/16384" &
LOAD_PIDS+=($!)
h2load_segments tls -c 4 -m 4 --rps 20 "$TURL/bytes/4096" "$TURL/healthz" &
LOAD_PIDS+=($!)
# one line per request: its name and OK or what went wrong
cli bash -c "end=\$((SECONDS + $SECS)); i=0
    while [ \$SECONDS -lt \$end ]; do
        i=\$((i + 1)); n=\$(( (i * 7919) % 300000 + 1 ))
        case \$((i % 4)) in
        0) got=\$(curl -sS --max-time 30 --fail --http2-prior-knowledge -o /dev/null -w '%{size_download}' $URL/bytes/\$n) ;;
        1) got=\$(curl -sS --max-time 30 --fail --http1.1 -o /dev/null -w '%{size_download}' $URL/bytes/\$n) ;;
        2) got=\$(curl -sS --max-time 30 --fail -k --http2 -o /dev/null -w '%{size_download}' $TURL/bytes/\$n) ;;
        3) n=65536; got=\$(curl -sS --max-time 30 --fail --http2-prior-knowledge --data-binary @$WORK/upload $URL/echo | cmp -s - $WORK/upload && echo 65536) ;;
        esac
        if [ \"\$got\" = \"\$n\" ]; then echo \"\$i OK\"; else echo \"\$i FAILED: case \$((i % 4)) want \$n got '\$got'\"; fi
    done" >"$WORK/curl.log" 2>"$WORK/curl.err" &
LOAD_PIDS+=($!)

# ---- every second a sample, every 10 s a route change, a reload halfway ----
echo "seconds,rss_kb,frames_in_use,connections,open_files,requests" >"$SAMPLES"
T0=$SECONDS
worker=1 reloaded=0 taken=0 changes=0 change_failed=0 next_sample=0 next_change=10 t=0
while [ "$t" -lt "$SECS" ] && kill -0 "$SERVER_PID" 2>/dev/null; do
    if [ "$t" -ge "$next_sample" ]; then
        sample "$t" >>"$SAMPLES"
        next_sample=$((t + 1))
    fi
    if [ "$t" -ge "$next_change" ]; then
        next_change=$((next_change + 10)) worker=$((1 - worker)) changes=$((changes + 1))
        agent route add --dev "$DEV" --prefix /bytes --worker $worker >/dev/null 2>>"$WORK/route.err" || change_failed=$((change_failed + 1))
    fi
    if [ "$taken" = 0 ] && [ "$t" -ge $((SECS / 4)) ]; then
        taken=1 OLD_PID=$SERVER_PID
        topo_start_server takeover 2 "${SERVER_ARGS[@]}" --takeover
        check "soak: server takeover a quarter of the way in, under load: the new generation shares the UMEM" \
            grep -q "shared with the generation taken over" "$WORK/server-takeover.log"
    fi
    if [ "$reloaded" = 0 ] && [ "$t" -ge $((SECS / 2)) ]; then
        reloaded=1
        expect "soak: program reload halfway, under load" 0 "every map kept" agent reload --dev "$DEV"
    fi
    sleep 0.2
    t=$((SECONDS - T0))
done
check "soak: $changes route changes, every 10 s, all applied" test "$change_failed" = 0 -a "$changes" = $(((SECS - 1) / 10))
for pid in "${LOAD_PIDS[@]}"; do wait "$pid"; done
LOAD_PIDS=()

# ---- no request failed ----
for kind in h2 h1 tls; do
    # over every segment's run (one without a summary counts as failed)
    summary=$(awk '/^starting benchmark/ { runs++ } /^requests:/ { n++; t += $2; d += $6; f += $10; e += $12; o += $14 }
        END { if (n) printf "requests: %d total, %d done, %d failed, %d errored, %d timeout (%d run(s), %d without a summary)", t, d, f, e, o, n, runs - n }' \
        "$WORK/h2load-$kind.log")
    echo "# h2load $kind: $summary; status codes: $(awk '/^status codes:/ { for (i = 0; i < 4; i++) c[i] += $(3 + 2 * i) }
        END { printf "%d 2xx, %d 3xx, %d 4xx, %d 5xx", c[0], c[1], c[2], c[3] }' "$WORK/h2load-$kind.log")"
    done_=$(sed -n 's/.* \([0-9]*\) done.*/\1/p' <<<"$summary")
    if grep -q ' 0 failed, 0 errored, 0 timeout (.*, 0 without a summary)' <<<"$summary" && [ "${done_:-0}" -gt 0 ]; then
        ok "soak: h2load $kind: ${done_} requests, none failed"
    else
        not_ok "soak: h2load $kind: every request succeeded" "${summary:-no summary: $(tail -2 "$WORK/h2load-$kind.log" | tr '\n' '|')}"
    fi
done
curls=$(wc -l <"$WORK/curl.log")
curl_failed=$(grep -c FAILED "$WORK/curl.log")
if [ "$curls" -gt 0 ] && [ "$curl_failed" = 0 ]; then
    ok "soak: $curls requests on new connections (downloads, uploads; HTTP/1.1, HTTP/2, HTTPS), none failed"
else
    not_ok "soak: requests on new connections, none failed" "$curl_failed of $curls: $(grep -m 2 FAILED "$WORK/curl.log" | tr '\n' '|') $(head -c 200 "$WORK/curl.err")"
fi

# ---- nothing grows without bound ----
# growth COLUMN NAME SLACK: the peak of the last third against the peak of the second third
growth() {
    awk -F, -v c="$1" -v name="$2" -v slack="$3" -v n="$(($(wc -l <"$SAMPLES") - 1))" '
        NR == 1 { next }
        { i = NR - 1 }
        i > n / 3 && i <= 2 * n / 3 && $c > mid { mid = $c }
        i > 2 * n / 3 && $c > last { last = $c }
        END {
            printf "%s: peak %d in the second third, %d in the last (slack %d)\n", name, mid, last, slack
            exit !(n >= 9 && last <= mid + slack)
        }' "$SAMPLES"
}
for g in "2 resident-set-kB 16384" "3 UMEM-frames-in-use 2048" "4 connections 32" "5 open-files 16"; do
    # shellcheck disable=SC2086
    if said=$(growth $g); then ok "soak: $said"; else not_ok "soak: ${g#* } grew without bound" "$said"; fi
done
if [ -n "$OLD_PID" ] && timeout 30 tail --pid="$OLD_PID" -f /dev/null; then
    wait "$OLD_PID"
    check "soak: the generation taken over exited 0 by itself once h2load's connections closed" \
        test "$?" = 0 -a -n "$(grep 'hand-over: every connection closed' "$WORK/server-soak.log")"
else
    not_ok "soak: the generation taken over exited by itself" "$(tail -2 "$WORK/server-soak.log" | tr '\n' '|')"
fi
OLD_PID=""
sleep 3 # the last connections close; their TIME-WAIT holds no frame
END=$(sample "$SECS")
echo "# soak: at start (seconds,rss_kB,frames,connections,files,requests) $START; after the load $END"
IFS=, read -r _ rss0 frames0 _ fds0 _ <<<"$START"
IFS=, read -r _ rss1 frames1 conns1 fds1 reqs1 <<<"$END"
check "soak: UMEM frames in use back near the start once the load is over ($frames0 -> $frames1)" test "$frames1" -le $((frames0 + 256))
check "soak: open files back where they started ($fds0 -> $fds1)" test "$fds1" -le $((fds0 + 2))
check "soak: no connection left open but the scrape's ($conns1)" test "$conns1" -le 2
echo "# soak: resident set $rss0 -> $rss1 kB, $reqs1 requests served"
kill -TERM "$NETEM_PID" 2>/dev/null
wait "$NETEM_PID"
NETEM_PID=""
echo "# soak: netem $(tail -1 "$WORK/netem.log")"
check "soak: netem dropped and duplicated packets" grep -Eq "dropped [1-9][0-9]* duplicated [1-9]" "$WORK/netem.log"
topo_stop_server takeover "every frame returned"
