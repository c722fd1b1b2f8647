#!/usr/bin/env bash
# source_cap_test.sh — the per-source connection cap (issue 18) end to end: sluice-agent load
# --max-conns-per-source N, a one-worker sluice-server on AF_XDP, and kernel TCP clients
# (tests/steer/source_cap_client.py) in a topology of its own.
#
#   tests/steer/source_cap_test.sh BUILD_DIR
#
# With a cap of N, over IPv4 and then IPv6: N connections from 10.77.0.2 (fd00:77::2) stay open,
# the N+1th cannot connect (its SYNs are dropped in XDP: drop_source_cap), a connection from a second
# client address (10.77.0.3, fd00:77::3) is accepted; the agent's `sources` and `status --json` show
# the cap and the source at N; after one of the N closes, the server gives its count back
# (sluice_afxdp_source_released_total) and a new connection from that address connects; once all
# are closed the count is 0. `sources --cap 0` then turns the cap off. Needs root, python3.
set -u

BUILD=${1:?usage: source_cap_test.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=srccap
DEV=$TOPO-s
SRV4=10.77.0.1
SRV6=fd00:77::1
PORT=80
CAP=4
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
CLIENT=$ROOT/tests/steer/source_cap_client.py
WORK=$(mktemp -d)
SERVER_PID="" CLIENT_PID=""
TOPO_CLI_TIMEOUT=60

reset_state() {
    for pid in $CLIENT_PID $SERVER_PID; do
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    SERVER_PID="" CLIENT_PID=""
    topo_down $TOPO
}
trap 'reset_state; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# metric NAME: the server's counter summed over workers (scraped from 10.77.0.4, outside the cap's way)
metric() {
    cli curl -sS -m 5 --interface 10.77.0.4 --http2-prior-knowledge "http://$SRV4:$PORT/metrics" |
        awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d", s }'
}
# steer_counter NAME: the steering program's counter from sluice-agent stats --json
steer_counter() { agent stats --dev "$DEV" --json | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }
# wait_line DIR TEXT: up to 20 s for the client's output in DIR to have the line TEXT
wait_line() {
    for _ in $(seq 200); do
        grep -qx "$2" "$1/client.out" && return 0
        kill -0 "$CLIENT_PID" 2>/dev/null || break
        sleep 0.1
    done
    grep -qx "$2" "$1/client.out"
}
# said DIR KEY WANT LABEL: the client's "KEY: VALUE" line matches WANT (an extended regex)
said() {
    local got
    got=$(sed -n "s/^$2: //p" "$1/client.out")
    if grep -Eqx "$3" <<<"$got"; then ok "$4 ($2: $got)"; else not_ok "$4" "$2: ${got:-nothing}"; fi
}

# round FAMILY SERVER ADDR OTHER_ADDR: the client's two phases from ADDR (and OTHER_ADDR), checked
round() {
    local fam=$1 server=$2 addr=$3 other=$4 dir=$WORK/$1 drops0 drops released0 released
    mkdir -p "$dir"
    drops0=$(steer_counter drop_source_cap)
    nsenter --net=/run/netns/$TOPO-cli -- timeout 90 /usr/bin/python3 "$CLIENT" "$server" $PORT $CAP "$addr" "$other" "$dir" >"$dir/client.out" 2>&1 &
    CLIENT_PID=$!
    if wait_line "$dir" "phase1 done"; then
        said "$dir" held "$CAP" "$fam: $CAP connections from one address stay open"
        said "$dir" extra timeout "$fam: connection $((CAP + 1)) from that address cannot connect: its SYN is dropped"
        said "$dir" other connected "$fam: a connection from another client address connects"
        drops=$(($(steer_counter drop_source_cap) - drops0))
        if [ "$drops" -ge 1 ]; then ok "$fam: drop_source_cap counted the refused SYNs (+$drops)"; else not_ok "$fam: drop_source_cap counted the refused SYNs" "+$drops"; fi
        expect "$fam: sources shows the cap and $addr at $CAP open" 0 "max_conns_per_source $CAP.* $addr +$CAP open, [1-9][0-9]* refused" \
            bash -c "nsenter --net=/run/netns/$TOPO-srv -- $AGENT sources --dev $DEV | tr '\n' ' '"
        expect "$fam: status --json shows the setting and the top source" 0 "\"sources\":\{\"max_conns_per_source\":$CAP,.*\"addr\":\"$addr\",\"open\":$CAP" \
            agent status --dev "$DEV" --json
    else
        not_ok "$fam: the client's first phase" "$(tr '\n' '|' <"$dir/client.out")"
    fi
    released0=$(metric sluice_afxdp_source_released_total)
    touch "$dir/close"
    if wait_line "$dir" "phase2 done"; then
        said "$dir" after-close "connected in [1-5]" "$fam: after one of the $CAP closes, a new connection from that address connects"
        released=$(($(metric sluice_afxdp_source_released_total) - released0))
        if [ "$released" -ge 1 ]; then ok "$fam: the server gave closed connections' counts back (source_released +$released)"; else not_ok "$fam: the server gave closed connections' counts back" "source_released +$released"; fi
    else
        not_ok "$fam: the client's second phase" "$(tr '\n' '|' <"$dir/client.out")"
    fi
    touch "$dir/end"
    wait "$CLIENT_PID"
    CLIENT_PID=""
    sleep 0.3 # the server ends the client's connections
    expect "$fam: sources: every connection closed, the count is back to 0" 0 "max_conns_per_source $CAP( |$)" \
        bash -c "nsenter --net=/run/netns/$TOPO-srv -- $AGENT sources --dev $DEV | tr '\n' ' ' | grep -v ' $addr *[1-9]'"
}

printf '[http]\nrequest_head_timeout_ms = 0\npreface_timeout_ms = 0\nidle_timeout_ms = 0\n' >"$WORK/cap.conf"
topo_down $TOPO
topo_up $TOPO >/dev/null
cli ip addr add 10.77.0.3/24 dev $TOPO-c # a second client address, with a count of its own
cli ip addr add 10.77.0.4/24 dev $TOPO-c # and one for /metrics
cli ip addr add fd00:77::3/64 dev $TOPO-c nodad # the second address of the IPv6 round
expect "agent load --max-conns-per-source $CAP" 0 "loaded" agent load --dev "$DEV" --max-conns-per-source $CAP
agent service add --dev "$DEV" --addr $SRV4 --port $PORT >/dev/null
agent service add --dev "$DEV" --addr $SRV6 --port $PORT >/dev/null
topo_start_server xdp 1 --config "$WORK/cap.conf" --dev "$DEV" --http $PORT

round IPv4 $SRV4 10.77.0.2 10.77.0.3
round IPv6 $SRV6 fd00:77::2 fd00:77::3
expect "sources --cap 0 turns the cap off" 0 "max_conns_per_source 0 \(off\)" agent sources --dev "$DEV" --cap 0
if [ "$(metric sluice_afxdp_source_release_failed_total)" = 0 ]; then ok "no release failed"; else not_ok "no release failed" "source_release_failed $(metric sluice_afxdp_source_release_failed_total)"; fi
topo_stop_server xdp "every frame returned"
agent unload --dev "$DEV" >/dev/null
