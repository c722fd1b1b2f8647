#!/usr/bin/env bash
# datapath.sh — sluice over AF_XDP against sluice over kernel sockets: the same services (echo,
# sink, source), the same kernel clients, side by side in one run, at MTU 1500 and over a sweep of
# link MTUs (the copy-mode floor: what copy mode costs per packet and per byte on this veth).
#
#   tools/bench/datapath.sh BUILD_DIR OUT_DIR [ROUNDS] [BULK_MIB] [RR_SECONDS]
#   DP_MTUS="1500 4000 9000 16000 32000 65000"   the sweep's MTUs (environment; the default shown)
#
# The server runs pinned to CPU 0 (one worker), the client (tests/net/kernel_client) to CPU 1, in
# a topology of its own ("sbn"). Cases: an upload of BULK_MIB (default 1024) to the sink, a download
# of as much from the source, at every MTU of DP_MTUS (both veth ends, and sluice's [tcp] mtu), and
# at MTU 1500 also RR_SECONDS (default 5) of 64-byte request/response rounds over 16 connections to
# echo. Each round runs every MTU, in an order rotating per round, and at each the two datapaths
# (also rotating), so drift hits all alike; the median is reported with min-max. Over AF_XDP, at
# an MTU above ~3.8 KB the server sends segments of up to the MTU as chains of 4 KiB UMEM frames
# (multi-buffer: one skb per segment) but still offers an MSS of one receive frame (~3.7 KB), so
# uploads stay at ~3.7 KB per packet; over sockets the kernel sends GSO packets of up to 64 KB
# through the veth at any MTU (downloads), while the client's segments are cut to its MTU (the
# topology turns its checksum offload off, and with it GSO through the veth: uploads).
#
# Measured per run, from /proc: the server process's CPU (utime and stime apart), the client's
# (bash's `times` over it: utime and stime), the ksoftirqd threads', every CPU's busy time, CPU 0's
# and CPU 1's busy share, and the packets through the veth in each direction (/proc/net/dev of the
# server's namespace: skbs, so a GSO packet or a multi-buffer chain is one). This kernel counts
# CPU time by ticks without IRQ_TIME_ACCOUNTING: a tick in softirq goes to the softirq column of
# /proc/stat AND to the stime of the process it interrupted, so the softirq that runs in the
# server's or the client's system calls (over veth the receive runs in softirq on the SENDER's CPU,
# in its send call) is their stime, and only ksoftirqd's is apart. Reported:
#   - machine CPU per byte: every CPU's busy time (includes other processes on a shared machine);
#   - server CPU per byte: sluice-server's utime+stime (with the softirq its sends run: over veth
#     the client's TCP receive of what it sends);
#   - transfer CPU: the server's CPU, the client's kernel time (stime) and ksoftirqd's: what the
#     transfer costs the machine, less the client's own user-space checking (it generates the
#     expected stream and computes two SHA-256s per byte, which no real client does) and less other
#     processes (softirq that a tick finds in the idle loop or in another process is missed);
#   - kernel CPU: transfer CPU less sluice's user time: the kernel's part alone (copy-mode AF_XDP
#     transmit and receive, veth, the client's TCP; over sockets also the server's TCP); sluice's
#     user time holds its services' own work per byte too (the source generates its stream, the
#     sink hashes what it gets with SHA-256), the same over both datapaths;
#   - packets per second (data direction) and transfer CPU per packet;
#   - client CPU: the client process's share of its core, and CPU 1's busy share: a client at
#     ~100% is the limit, and the report says so (its figures then measure the client).
# The fit, per datapath and direction: over every run of the sweep, least squares of
#   CPU ns per byte = a / (bytes per packet) + b     (i.e. cost = a per packet + b per byte)
# for the kernel CPU (the floor: what copy mode, veth and the client's kernel cost per skb and per
# byte) and for the transfer CPU (what sluice reaches, its user-space work added), with R^2. When
# the packet size varies less than 2x over the sweep (sockets' downloads: GSO), a and b cannot be
# told apart: b is then the mean and a is "–". Then, at MTU 1500, 9000 and 65000: sluice's transfer
# CPU per byte against the floor at the same packet size, also with the services' own per-byte work
# set aside (the stream and SHA-256 per byte, measured on CPU 0 by service_cost before the sweep: a
# real server's handlers do their own work, not these), and the gap between the datapaths split
# into its per-packet and per-byte parts (from the transfer fits).
# Writes OUT_DIR/datapath.md (and datapath-runs.txt: every run; datapath-logs/: the servers' logs
# with their stop reports) and prints it. Every process it starts is stopped by PID, and the
# topology is removed (pins included) on every exit path. Needs root.
set -eu

usage="usage: datapath.sh BUILD_DIR OUT_DIR [ROUNDS] [BULK_MIB] [RR_SECONDS]"
BUILD=${1:?$usage}
OUT=${2:?$usage}
ROUNDS=${3:-3}
BULK_MIB=${4:-1024}
RR_SECONDS=${5:-5}
read -ra MTUS <<<"${DP_MTUS:-1500 4000 9000 16000 32000 65000}"
for m in "${MTUS[@]}"; do
    case $m in *[!0-9]* | "") echo "datapath.sh: error: DP_MTUS: '$m' is not a number" >&2; exit 2 ;; esac
    if [ "$m" -lt 1280 ] || [ "$m" -gt 65535 ]; then echo "datapath.sh: error: DP_MTUS: $m is outside 1280-65535" >&2; exit 2; fi
done
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOPO=sbn
DEV=$TOPO-s
CLI_DEV=$TOPO-c
ADDR=10.77.0.1
BULK=$((BULK_MIB << 20))
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
CLIENT=$(realpath "$ROOT/$BUILD/tests/kernel_client")
TICK=$(getconf CLK_TCK)
SERVER_PID=""
XDP_LOADED=0
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOGS=$OUT/datapath-logs
RAW=$OUT/datapath-runs.txt
WORK=$(mktemp -d /tmp/sluice-datapath.XXXXXX)
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
    fi
    topo_down $TOPO
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cpu_snapshot: "busy ksoftirqd cpu0_busy cpu0_total cpu1_busy cpu1_total" in ticks (busy: user,
# nice, system, irq, softirq, steal; total adds idle and iowait; ksoftirqd: its threads' utime+stime)
KSOFTIRQD=$(pgrep '^ksoftirqd/' | sed 's|^|/proc/|; s|$|/stat|' | tr '\n' ' ')
cpu_snapshot() {
    # shellcheck disable=SC2086 # the ksoftirqd threads' stat files
    awk 'FILENAME == "/proc/stat" && /^cpu[01]? / { b = $2 + $3 + $4 + $7 + $8 + $9; s[$1] = b; t[$1] = b + $5 + $6 }
         FILENAME != "/proc/stat" { sub(/^.*\) /, ""); k += $12 + $13 }
         END { printf "%.0f %.0f %.0f %.0f %.0f %.0f\n", s["cpu"], k, s["cpu0"], t["cpu0"], s["cpu1"], t["cpu1"] }' /proc/stat $KSOFTIRQD
}

process_cpu() { # "utime stime" of a process, in ticks
    awk '{ sub(/^.*\) /, ""); print $12, $13 }' "/proc/$1/stat"
}

veth_packets() { # "rx tx" packets of the server's end of the veth (/proc/net/dev of its namespace)
    # shellcheck disable=SC2016 # an awk program; a long count may follow the name's colon unspaced
    in_srv awk -v dev="$DEV" '{ sub(/^ */, ""); i = index($0, ":") } i && substr($0, 1, i - 1) == dev { split(substr($0, i + 1), v, " "); print v[2], v[10] }' /proc/net/dev
}

set_mtu() { # set_mtu MTU: both ends of the veth (no XDP program attached), and sluice's [tcp] mtu
    ip -n "$TOPO-srv" link set "$DEV" mtu "$1"
    ip -n "$TOPO-cli" link set "$CLI_DEV" mtu "$1"
    printf '# sluice-server for tools/bench/datapath.sh: the link MTU\n[tcp]\nmtu = %s\n' "$1" >"$WORK/mtu$1.conf"
}

start_server() { # start_server xdp|socket MTU ROUND
    local log=$LOGS/server-$1-mtu$2-r$3.log extra=()
    if [ "$1" = xdp ]; then
        in_srv "$AGENT" load --dev "$DEV" >/dev/null
        XDP_LOADED=1
        for port in 7 9 19; do in_srv "$AGENT" service add --dev "$DEV" --addr $ADDR --port $port >/dev/null; done
        extra=(--dev "$DEV")
    fi
    nsenter --net=/run/netns/$TOPO-srv -- taskset -c 0 "$SERVER" --config "$WORK/mtu$2.conf" --datapath "$1" \
        "${extra[@]}" --workers 1 --cpus 0 --echo 7 --sink 9 --source 19 >"$log" 2>&1 &
    SERVER_PID=$!
    topo_server_ready "$SERVER_PID" "$log" && return 0
    echo "datapath.sh: error: sluice-server ($1, MTU $2) did not start: $(head -2 "$log")" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
    if [ $XDP_LOADED = 1 ]; then
        in_srv "$AGENT" unload --dev "$DEV" >/dev/null
        XDP_LOADED=0
    fi
}

secs() { # secs 1m2.345s: seconds
    awk -v t="$1" 'BEGIN { split(t, p, "m"); sub(/s$/, "", p[2]); printf "%.3f", p[1] * 60 + p[2] }'
}

# measure DATAPATH CASE MTU ROUND CLIENT-ARGS...: one run; appends to RAW "datapath case mtu round
# units seconds busy ksoftirqd cpu0_busy cpu0_total cpu1_busy cpu1_total server_utime server_stime (ticks)
# client_user client_sys (s) rx_packets tx_packets (the server's end)"
measure() {
    local dp=$1 case=$2 mtu=$3 round=$4 out c0 c1 s0 s1 p0 p1 units u s
    shift 4
    c0=$(cpu_snapshot)
    s0=$(process_cpu "$SERVER_PID")
    p0=$(veth_packets)
    # the client's CPU from bash's `times` (its second line: the children's, the client alone), after
    # the client's own output; `times` in the shell itself, not a subshell (whose children have none)
    # shellcheck disable=SC2016 # for the inner bash
    out=$(nsenter --net=/run/netns/$TOPO-cli -- taskset -c 1 bash -c '"$@"; rc=$?; echo client-times; times; exit $rc' \
        _ "$CLIENT" "$@" --timeout 120) || { echo "datapath.sh: error: $dp $case MTU $mtu: the client failed: $out" >&2; exit 1; }
    c1=$(cpu_snapshot)
    s1=$(process_cpu "$SERVER_PID")
    p1=$(veth_packets)
    case $case in
    rr) units=$(printf '%s\n' "$out" | sed -n 's/^rr: \([0-9]*\) round trips in \([0-9.]*\) s.*/\1 \2/p') ;;
    *) units=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9]*\) bytes in \([0-9.]*\) s.*/\1 \2/p') ;;
    esac
    [ -n "$units" ] || { echo "datapath.sh: error: $dp $case MTU $mtu: no figure in: $out" >&2; exit 1; }
    read -r u s _ <<<"$(printf '%s\n' "$out" | sed -n '/^client-times$/ { n; n; p; }')"
    u=$(secs "${u:-0m0s}") s=$(secs "${s:-0m0s}")
    # shellcheck disable=SC2086
    set -- $c0 $c1 $s0 $s1 $p0 $p1
    echo "$dp $case $mtu $round $units $(($7 - $1)) $(($8 - $2)) $(($9 - $3)) $((${10} - $4)) $((${11} - $5)) $((${12} - $6))" \
        "$((${15} - ${13})) $((${16} - ${14})) $u $s $((${19} - ${17})) $((${20} - ${18}))" >>"$RAW"
}

run_cases() { # run_cases DATAPATH MTU ROUND
    measure "$1" upload "$2" "$3" upload --addr $ADDR --port 9 --bytes $BULK
    measure "$1" download "$2" "$3" download --addr $ADDR --port 19 --bytes $BULK --seed 3
    [ "$2" = 1500 ] && measure "$1" rr "$2" "$3" rr --addr $ADDR --port 7 --conns 16 --bytes 64 --seconds "$RR_SECONDS"
    return 0
}

mkdir -p "$LOGS"
: >"$RAW"
# the services' own work per byte, on the server's core, in segment-sized pieces: "stream NS sha256 NS"
read -r _ SVC_STREAM _ SVC_SHA <<<"$(taskset -c 0 "$BUILD/tools/service_cost" 256)" || true
[ -n "${SVC_SHA:-}" ] || { echo "datapath.sh: error: no figure from $BUILD/tools/service_cost (make all builds it)" >&2; exit 1; }
# the RR case runs at MTU 1500 only: make sure the sweep has it
[[ " ${MTUS[*]} " == *" 1500 "* ]] || MTUS=(1500 "${MTUS[@]}")
START=$(date +%s)
echo "datapath.sh: $ROUNDS round(s) at MTU ${MTUS[*]}, $BULK_MIB MiB each way per run; about $((ROUNDS * (${#MTUS[@]} * 2 * (2 + 2 * BULK_MIB / 350) + 2 * RR_SECONDS) / 60 + 1)) min (kernel_client checks every byte: ~350 MiB/s)" >&2
topo_up $TOPO
for round in $(seq "$ROUNDS"); do
    for i in "${!MTUS[@]}"; do
        mtu=${MTUS[$(((i + round - 1) % ${#MTUS[@]}))]}
        set_mtu "$mtu"
        dps=(xdp socket)
        [ $((round % 2)) = 0 ] && dps=(socket xdp)
        for dp in "${dps[@]}"; do
            start_server "$dp" "$mtu" "$round"
            run_cases "$dp" "$mtu" "$round"
            stop_server
        done
    done
    echo "datapath.sh: round $round of $ROUNDS done ($(($(date +%s) - START)) s)" >&2
done

# ---- the report ------------------------------------------------------------------------------------
awk -v tick="$TICK" -v mtus="${MTUS[*]}" -v svc_stream="$SVC_STREAM" -v svc_sha="$SVC_SHA" '
function median(a, n,    i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
function lo_hi(a, n,    i, l, h) { l = h = a[1]; for (i = 2; i <= n; i++) { if (a[i] < l) l = a[i]; if (a[i] > h) h = a[i] }; LO = l; HI = h }
# med(KEY, FIELD): the median of FIELD over the runs of KEY (LO, HI: its range)
function med(key, f,    i, m, v) { m = n[key]; for (i = 1; i <= m; i++) v[i] = val[key, i, f]; lo_hi(v, m); return median(v, m) }
function mm(key, f, fmt,    x) { x = med(key, f); return n[key] > 1 ? sprintf(fmt " (" fmt "-" fmt ")", x, LO, HI) : sprintf(fmt, x) }
# fit(DP DIR, WHAT): least squares of ns/byte = a * packets/byte + b over every run of the sweep
function fit(k, what,    i, j, m, sx, sy, sxx, sxy, x, y, xl, xh, mean, ss, sr, pred) {
    m = 0; sx = sy = sxx = sxy = 0; xl = 1e18; xh = 0
    for (j = 1; j <= nkeys[k]; j++) for (i = 1; i <= n[keys[k, j]]; i++) {
        x = val[keys[k, j], i, "ppb"]; y = val[keys[k, j], i, what]
        m++; X[m] = x; Y[m] = y; sx += x; sy += y; sxx += x * x; sxy += x * y
        if (x < xl) xl = x; if (x > xh) xh = x
    }
    FITN = m
    if (m < 2 || xl <= 0 || xh / xl < 2 || m * sxx - sx * sx <= 0) { FITA = ""; FITB = m ? sy / m : 0; FITR = ""; return }
    FITA = (m * sxy - sx * sy) / (m * sxx - sx * sx); FITB = (sy - FITA * sx) / m
    mean = sy / m; ss = sr = 0
    for (i = 1; i <= m; i++) { pred = FITA * X[i] + FITB; ss += (Y[i] - mean) ^ 2; sr += (Y[i] - pred) ^ 2 }
    FITR = ss > 0 ? 1 - sr / ss : 1
}
function at(a, b, ppb) { return (a == "" ? 0 : a) * ppb + b }
{
    dp = $1; c = $2; mtu = $3; key = dp " " c " " mtu
    if (!(key in n)) { n[key] = 0; if (c != "rr") { kk = dp " " c; keys[kk, ++nkeys[kk]] = key } }
    k = ++n[key]
    units = $5; s = $6
    busy = $7 / tick; ksirq = $8 / tick; su = $13 / tick; ss = $14 / tick; cu = $15; cs = $16
    transfer = su + ss + cs + ksirq; kernel = transfer - su
    val[key, k, "cpu0"] = $10 > 0 ? $9 / $10 : 0; val[key, k, "cpu1"] = $12 > 0 ? $11 / $12 : 0
    val[key, k, "client"] = s > 0 ? (cu + cs) / s : 0
    if (c == "rr") {
        val[key, k, "rate"] = units / s
        val[key, k, "mbusy"] = busy * 1e6 / units; val[key, k, "srv"] = (su + ss) * 1e6 / units
        val[key, k, "mib"] = units / s
        next
    }
    # data direction: the server sends (tx) the download, receives (rx) the upload
    pk = c == "download" ? $18 : $17; rev = c == "download" ? $17 : $18
    val[key, k, "mib"] = units / 1048576 / s; val[key, k, "mbs"] = units / 1e6 / s
    val[key, k, "mbusy"] = busy * 1e6 / (units / 1048576); val[key, k, "srv"] = (su + ss) * 1e6 / (units / 1048576)
    val[key, k, "machine"] = busy * 1e9 / units; val[key, k, "server"] = (su + ss) * 1e9 / units
    val[key, k, "transfer"] = transfer * 1e9 / units; val[key, k, "kernel"] = kernel * 1e9 / units
    val[key, k, "bpp"] = pk > 0 ? units / pk : 0; val[key, k, "ppb"] = pk > 0 ? pk / units : 0
    val[key, k, "pps"] = pk / s; val[key, k, "nspp"] = pk > 0 ? transfer * 1e9 / pk : 0
    val[key, k, "acks"] = pk > 0 ? rev / pk : 0
}
END {
    nm = split(mtus, M, " ")
    split("upload download rr", cases, " "); split("xdp socket", dps, " ")
    print "At MTU 1500 (the server'"'"'s CPU and the machine'"'"'s per MiB or per round trip):"
    print ""
    printf "| case | datapath | rate (median, min-max) | machine CPU µs/unit | server CPU µs/unit |\n|---|---|---:|---:|---:|\n"
    for (ci = 1; ci <= 3; ci++) for (d = 1; d <= 2; d++) {
        key = dps[d] " " cases[ci] " 1500"
        if (!n[key]) continue
        unit = cases[ci] == "rr" ? "round trips/s" : "MiB/s"
        printf "| %s | %s | %s %s | %.2f | %.2f |\n", cases[ci], dps[d], mm(key, "mib", "%.0f"), unit, med(key, "mbusy"), med(key, "srv")
        mr[dps[d], ci] = med(key, "mib"); mb[dps[d], ci] = med(key, "mbusy"); ms[dps[d], ci] = med(key, "srv")
    }
    printf "\nxdp / socket ratios (median): "
    for (ci = 1; ci <= 3; ci++) if (mr["socket", ci] > 0 && mb["socket", ci] > 0 && ms["socket", ci] > 0)
        printf "%s rate %.2fx, machine CPU/unit %.2fx, server CPU/unit %.2fx; ", cases[ci], mr["xdp", ci] / mr["socket", ci], mb["xdp", ci] / mb["socket", ci], ms["xdp", ci] / ms["socket", ci]
    printf "\n\n"

    print "MTU sweep (median over the rounds, min-max for MB/s). ns/B: CPU ns per byte moved; machine: every CPU'"'"'s busy time (other processes included);"
    print "server: sluice-server'"'"'s; transfer: the server'"'"'s + the client'"'"'s kernel time + ksoftirqd'"'"'s (the client'"'"'s own checking and other processes left out);"
    print "kernel: transfer less sluice'"'"'s user time. B/packet and packets/s: the data direction through the veth (skbs); acks/packet: the other direction'"'"'s over it;"
    print "ns/packet: transfer CPU per data packet. Client: the client process'"'"'s share of its core; CPU0 (server) / CPU1 (client) busy."
    print ""
    printf "| case | datapath | MTU | MB/s | B/packet | packets/s | acks/packet | machine ns/B | server ns/B | transfer ns/B | kernel ns/B | ns/packet | client | CPU0 / CPU1 |\n"
    printf "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for (ci = 1; ci <= 2; ci++) for (d = 1; d <= 2; d++) for (mi = 1; mi <= nm; mi++) {
        key = dps[d] " " cases[ci] " " M[mi]
        if (!n[key]) continue
        cl = med(key, "client"); if (cl >= 0.9) bound = bound sprintf(" %s %s %d (%.0f%%);", dps[d], cases[ci], M[mi], cl * 100)
        printf "| %s | %s | %d | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f%% | %.0f%% / %.0f%% |\n", cases[ci], dps[d], M[mi], mm(key, "mbs", "%.0f"),
            med(key, "bpp"), med(key, "pps"), med(key, "acks"), med(key, "machine"), med(key, "server"), med(key, "transfer"), med(key, "kernel"),
            med(key, "nspp"), cl * 100, med(key, "cpu0") * 100, med(key, "cpu1") * 100
    }
    if (bound != "")
        printf "\nThe client is the limit (its process at 90%% or more of its core: its MB/s measure kernel_client, which generates and SHA-256s every byte; CPU per byte and per packet still hold):%s\n", bound

    print ""
    print "The floor: least squares over every run of the sweep of CPU ns/byte = a / (bytes per packet) + b, i.e. a ns per packet + b ns per byte;"
    print "kernel: the copy-mode floor (the kernel'"'"'s part: AF_XDP copy-mode transmit/receive, veth, the client'"'"'s TCP; over sockets also the server'"'"'s TCP);"
    print "transfer: what sluice reaches (its user-space work added). \"–\": the packet size varied less than 2x over the sweep, a and b are not separable (b: the mean)."
    print ""
    printf "| case | datapath | CPU | a ns/packet | b ns/byte | R² | runs |\n|---|---|---|---:|---:|---:|---:|\n"
    for (ci = 1; ci <= 2; ci++) for (d = 1; d <= 2; d++) {
        kk = dps[d] " " cases[ci]
        if (!nkeys[kk]) continue
        split("kernel transfer", whats, " ")
        for (w = 1; w <= 2; w++) {
            fit(kk, whats[w]); A[kk, whats[w]] = FITA; B[kk, whats[w]] = FITB
            printf "| %s | %s | %s | %s | %.3f | %s | %d |\n", cases[ci], dps[d], whats[w], (FITA == "" ? "–" : sprintf("%.0f", FITA)), FITB,
                (FITR == "" ? "–" : sprintf("%.3f", FITR)), FITN
        }
    }

    print ""
    print "Against the floor, at MTU 1500, 9000 and 65000 (medians): sluice'"'"'s transfer CPU per byte over the kernel floor'"'"'s at the same packet size"
    print "(sluice'"'"'s user time: the engine or the socket calls, and the services'"'"' own per-byte work, the source'"'"'s stream and the sink'"'"'s SHA-256, alike on both datapaths),"
    printf "then the same with the services'"'"' own work set aside (\"service aside\": transfer less %.3f ns/B for the source'"'"'s stream, %.3f for the sink'"'"'s SHA-256, service_cost on CPU 0),\n", svc_stream, svc_sha
    print "and xdp - socket in transfer ns/byte, split by the transfer fits into its per-packet part (a x packets/byte) and its per-byte part (b):"
    print ""
    printf "| case | MTU | xdp MB/s | xdp transfer ns/B | xdp floor ns/B | x floor | service aside | socket MB/s | socket transfer ns/B | socket floor ns/B | x floor | service aside | xdp - socket ns/B | per packet | per byte |\n"
    printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    split("1500 9000 65000", Q, " ")
    for (ci = 1; ci <= 2; ci++) for (qi = 1; qi <= 3; qi++) {
        kx = "xdp " cases[ci] " " Q[qi]; ks = "socket " cases[ci] " " Q[qi]
        if (!n[kx] || !n[ks]) continue
        px = med(kx, "ppb"); ps = med(ks, "ppb"); tx = med(kx, "transfer"); ts = med(ks, "transfer")
        fx = at(A["xdp " cases[ci], "kernel"], B["xdp " cases[ci], "kernel"], px)
        fs = at(A["socket " cases[ci], "kernel"], B["socket " cases[ci], "kernel"], ps)
        gp = at(A["xdp " cases[ci], "transfer"], 0, px) - at(A["socket " cases[ci], "transfer"], 0, ps)
        gb = B["xdp " cases[ci], "transfer"] - B["socket " cases[ci], "transfer"]
        svc = cases[ci] == "download" ? svc_stream : svc_sha
        printf "| %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", cases[ci], Q[qi], med(kx, "mbs"), tx, fx,
            (fx > 0 ? tx / fx : 0), (fx > 0 ? (tx - svc) / fx : 0), med(ks, "mbs"), ts, fs, (fs > 0 ? ts / fs : 0), (fs > 0 ? (ts - svc) / fs : 0), tx - ts, gp, gb
    }
}' "$RAW" >"$OUT/datapath.md"
cat "$OUT/datapath.md"
