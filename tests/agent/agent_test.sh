#!/usr/bin/env bash
# agent_test.sh — sluice-agent against the real kernel, in a topology of its own.
#
#   tests/agent/agent_test.sh BUILD_DIR
#
# Creates the namespaces "sat-srv"/"sat-cli" (tools/topology.sh), loads the steering program on the
# server's veth with the agent, and checks every subcommand: attach mode, status, pins, services,
# routes (including routes written by the printed bpftool lines, text and HPACK Huffman keys, and
# what an LPM lookup then answers), load --config seeding routes from an INI file's [routes]
# section (good and bad files, errors naming FILE:LINE), workers, stats under real
# traffic from the client namespace, unload refusing while a socket is held, unload leaving no
# program, link or pin, and every documented bad input failing with its status and changing
# nothing; `status --json` parsed by jq; `reload` swapping the program while every map (and its
# contents) stays, and refusing when nothing is loaded, nothing is attached or the ABI differs;
# the agent refusing, before changing anything, a BPF filesystem private to its command's mount
# namespace (`ip netns exec`), while `nsenter --net` and `unshare -m` keep working. Reload under
# real load is tests/agent/reload_test.sh. Cleans up on every exit path. Needs root.
set -u

BUILD=${1:?usage: agent_test.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ABI=$(sed -n 's/^#define SLUICE_ABI_VERSION \([0-9]*\).*/\1/p' "$ROOT/maps/sluice_maps.h") # this build's
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=sat
DEV=$TOPO-s
PINS=/sys/fs/bpf/sluice/$DEV
AGENT=$(cd "$ROOT" && realpath "$BUILD/bin/sluice-agent")
HOLDER_BIN=$(cd "$ROOT" && realpath "$BUILD/tests/xsk_holder")
META_BIN=$(cd "$ROOT" && realpath "$BUILD/tests/xsk_meta")
FIXTURE=$ROOT/tests/bpf/fixtures/h2_curl.bin
HELD_PID=""
OTHER_PROG=/sys/fs/bpf/sat_other_prog
SCRATCH=$(mktemp -d)

# Leaves no namespace, attachment or pin behind; also run first, in case a killed run left some.
reset_state() {
    [ -n "$HELD_PID" ] && kill "$HELD_PID" 2>/dev/null && wait "$HELD_PID" 2>/dev/null
    [ -n "${META_PID:-}" ] && kill "$META_PID" 2>/dev/null && wait "$META_PID" 2>/dev/null
    rm -f "$OTHER_PROG"
    topo_down $TOPO
}
trap 'reset_state; rm -rf "$SCRATCH"' EXIT
trap 'exit 130' INT TERM

# Snapshot of everything the agent may change: pins, services, routes, attachment.
snapshot() {
    ls "$PINS" 2>/dev/null
    bpftool map dump pinned "$PINS/services" 2>/dev/null
    bpftool map dump pinned "$PINS/routes" 2>/dev/null
    bpftool map dump pinned "$PINS/meta" 2>/dev/null | grep -v loaded_at
    srv bpftool net show dev "$DEV" 2>/dev/null
}

counter() { # counter NAME -> value from `stats --json`
    agent stats --dev "$DEV" --json | jq -r ".counters.$1"
}

gone_within() { # gone_within SECONDS CMD...: CMD starts failing within SECONDS
    local limit=$(($1 * 10))
    shift
    for _ in $(seq "$limit"); do
        "$@" >/dev/null 2>&1 || return 0
        sleep 0.1
    done
    return 1
}

reset_state
topo_up $TOPO

# ---- help and usage ---------------------------------------------------------------------------
expect "help lists every command" 0 "status +program" agent --help
for cmd in load unload reload status service route workers stats; do
    expect "$cmd --help" 0 "usage: sluice-agent $cmd" agent $cmd --help
done
expect "no command is a usage error" 2 "usage:" agent
expect "unknown command" 2 "unknown command 'frobnicate'" agent frobnicate
expect "unknown option" 2 "unknown option '--bogus' for \`load\`" agent load --dev "$DEV" --bogus
expect "option without its value" 2 "needs a value" agent load --dev
expect "stray argument" 2 "unexpected argument 'extra'" agent status extra
expect "load needs --dev" 2 "needs --dev" agent load
expect "bad --mode" 2 "bad --mode 'turbo'" agent load --dev "$DEV" --mode turbo
expect "bad --max-conns-per-source" 2 "max-conns-per-source" agent load --dev "$DEV" --max-conns-per-source -1
expect "sources before load" 6 "not loaded" agent sources --dev "$DEV"
expect "missing device" 5 "device 'nosuch0' not found" agent load --dev nosuch0
expect "device name with a slash" 2 "not a valid interface name" agent load --dev a/b
expect "status before load" 6 "not loaded" agent status --dev "$DEV"
expect "reload before load" 6 "not loaded on $DEV" agent reload --dev "$DEV"
expect "reload needs --dev" 2 "needs --dev" agent reload
expect "reload of a missing device" 5 "device 'nosuch0' not found" agent reload --dev nosuch0
expect "unload before load" 6 "not loaded on $DEV" agent unload --dev "$DEV"
expect "service before load" 6 "not loaded on $DEV" agent service list --dev "$DEV"

cp "$AGENT" "$SCRATCH/sluice-agent" && chmod 755 "$SCRATCH" "$SCRATCH/sluice-agent"
expect "not root" 3 "must be run as root" setpriv --reuid=65534 --regid=65534 --clear-groups -- \
    "$SCRATCH/sluice-agent" status
expect "no BPF filesystem" 4 "no BPF filesystem" unshare -m sh -c \
    "mount -t tmpfs none /sys/fs && exec '$AGENT' status"
check "failed commands left no pins" test ! -e "$PINS"

# ---- another XDP program in the way -----------------------------------------------------------
bpftool prog load "$ROOT/$BUILD/bpf/xsks_probe.bpf.o" "$OTHER_PROG" type xdp >/dev/null 2>&1
srv bpftool net attach xdp pinned "$OTHER_PROG" dev "$DEV" >/dev/null 2>&1
expect "load refused over another XDP program" 6 "already has another XDP program" agent load --dev "$DEV"
check "refused load left no pins" test ! -e "$PINS"
srv bpftool net detach xdp dev "$DEV"
rm -f "$OTHER_PROG"

# ---- ip netns exec: a BPF filesystem that would vanish with the command is refused --------------
# `ip netns exec` runs the agent in a mount namespace of its own with a fresh /sys and no BPF
# filesystem: pins made there would go (and the program detach) when it exits (agent/bpffs.c).
HINT="private to this command's mount namespace .*nsenter --net=/run/netns/$TOPO-srv sluice-agent"
expect "ip netns exec load refused with the nsenter hint" 6 "$HINT" ip netns exec "$TOPO-srv" "$AGENT" load --dev "$DEV"
check "the refusal is one line" test "$(printf '%s\n' "$OUT" | wc -l)" -eq 1
check "refused load left no pins" test ! -e "$PINS"
expect "refused load attached nothing" 0 "" srv ip link show dev "$DEV"
if printf '%s' "$OUT" | grep -q xdp; then not_ok "refused load attached no XDP program" "$OUT"; else ok "refused load attached no XDP program"; fi
expect "ip netns exec status refused" 6 "$HINT" ip netns exec "$TOPO-srv" "$AGENT" status
expect "ip netns exec service list refused" 6 "$HINT" ip netns exec "$TOPO-srv" "$AGENT" service list --dev "$DEV"
expect "ip netns exec with a shell between refused" 6 "$HINT" \
    ip netns exec "$TOPO-srv" sh -c "'$AGENT' load --dev $DEV; exit \$?"
check "refused load through a shell left no pins" test ! -e "$PINS"
# a namespace of its own whose BPF filesystem is gone, with nobody else in it: refused too
expect "own mount namespace without the parent's bpffs refused" 6 "$HINT" srv unshare -m --propagation private \
    sh -c "umount /sys/fs/bpf 2>/dev/null; exec '$AGENT' status"
# ... but a namespace shared with another process outlives the command (a container): allowed
expect "own mount namespace shared with another process allowed" 6 "not loaded on any device" \
    srv unshare -m --propagation private sh -c "umount /sys/fs/bpf 2>/dev/null; sleep 2 & exec '$AGENT' status"

# ---- load, status, pins -----------------------------------------------------------------------
expect "load in native mode" 0 "in native mode" agent load --dev "$DEV"
PROG_ID=$(printf '%s' "$OUT" | sed -n 's/.*program id \([0-9]*\).*/\1/p')
expect "bpftool net shows driver mode" 0 "$DEV\\([0-9]+\\) driver id $PROG_ID" srv bpftool net show dev "$DEV"
expect "bpftool prog show names the program" 0 "sluice_steer" bpftool prog show id "$PROG_ID"
for m in services flows routes workers xsks stats route_stats meta link; do
    check "pinned $m" test -e "$PINS/$m"
done
expect "status shows program, mode and ABI" 0 "abi +$ABI" agent status --dev "$DEV"
expect "status shows the prefix decisions" 0 "prefix +0 decided: routed 0" agent status --dev "$DEV"
check "the parser's scratch map is not pinned" test ! -e "$PINS/prefix_scratch"
expect "status shows the program id" 0 "program +id $PROG_ID sluice_steer, link id [0-9]+, native mode" \
    agent status --dev "$DEV"
LINK_ID=$(printf '%s' "$OUT" | sed -n 's/.*link id \([0-9]*\).*/\1/p')
expect "status lists the maps" 0 "routes +id [0-9]+ +0 of 4096 entries" agent status --dev "$DEV"
expect "status without --dev shows loaded devices" 0 "^$DEV$" agent status
expect "unshare -m sees the same BPF filesystem: allowed" 0 "program +id $PROG_ID" srv unshare -m --propagation private \
    "$AGENT" status --dev "$DEV"
expect "ip netns exec status refused while loaded" 6 "$HINT" ip netns exec "$TOPO-srv" "$AGENT" status --dev "$DEV"

# ---- status --json: the same facts, one object ----------------------------------------------------
jq_status() { # jq_status [--dev DEV] FILTER: FILTER applied to `status --json`, jq -e
    local filter=${*: -1}
    agent status "${@:1:$#-1}" --json | jq -e "$filter"
}
check "status --json parses" jq_status --dev "$DEV" '.devices | length == 1'
check "status --json: dev, abi" jq_status --dev "$DEV" ".devices[0].dev == \"$DEV\" and .devices[0].abi == $ABI"
check "status --json: program id, name, link id, mode" jq_status --dev "$DEV" \
    ".devices[0].program | .attached and .id == $PROG_ID and .name == \"sluice_steer\" and .link_id == $LINK_ID and .mode == \"native\" and (.device_gone | not)"
check "status --json: every map" jq_status --dev "$DEV" \
    '.devices[0].maps | keys == (["flows","meta","route_stats","routes","services","sources","stats","workers","xsks"])'
check "status --json: routes 0 of 4096 entries, meta 1 slot" jq_status --dev "$DEV" \
    '.devices[0].maps | .routes.entries == 0 and .routes.max_entries == 4096 and .meta.slots == 1'
check "status --json: workers and prefix counters" jq_status --dev "$DEV" \
    '.devices[0] | .workers.live == 0 and .prefix.decided == 0 and .prefix.routed == 0 and .metadata.failed == 0'
check "status --json without --dev lists the device" jq_status ".devices | map(.dev) | index(\"$DEV\") != null"
expect "second load refused" 6 "already loaded on $DEV" agent load --dev "$DEV"

# ---- the per-source connection cap: off by default, set live -----------------------------------------
expect "sources: the cap is off by default" 0 "max_conns_per_source 0 \\(off\\)" agent sources --dev "$DEV"
check "status --json: sources, cap 0, none tracked" jq_status --dev "$DEV" \
    '.devices[0].sources | .max_conns_per_source == 0 and .tracked == 0 and .top == []'
expect "sources --cap sets it" 0 "max_conns_per_source 20000$" agent sources --dev "$DEV" --cap 20000
check "sources --json shows it" bash -c "nsenter --net=/run/netns/$TOPO-srv -- $AGENT sources --dev $DEV --json | jq -e '.max_conns_per_source == 20000 and .top == []'"
expect "sources: bad --cap" 2 "--cap" agent sources --dev "$DEV" --cap many
expect "sources: bad --top" 2 "--top" agent sources --dev "$DEV" --top 0
expect "sources --cap 0 turns it off" 0 "max_conns_per_source 0 \\(off\\)" agent sources --dev "$DEV" --cap 0
expect "workers: none registered" 0 "no workers registered" agent workers --dev "$DEV"

# ---- services ---------------------------------------------------------------------------------
expect "service add" 0 "service 1: 10.77.0.1 port 80" agent service add --dev "$DEV" --addr 10.77.0.1 --port 80
expect "service add IPv6 with flags" 0 "service 7: fd00:77::1 port 443" \
    agent service add --dev "$DEV" --addr fd00:77::1 --port 443 --id 7 --tls --steer
expect "service list" 0 "7 +fd00:77::1 +443 +tls,steer" agent service list --dev "$DEV"
expect "service list shows IPv4" 0 "1 +10.77.0.1 +80 +-" agent service list --dev "$DEV"
expect "bpftool dumps the service" 0 "\"port\": 443" bpftool map dump pinned "$PINS/services"

# ---- routes -----------------------------------------------------------------------------------
expect "route add to a worker" 0 "route 1: path '/api' -> worker 1" \
    agent route add --dev "$DEV" --prefix /api --worker 1
expect "route add to a group" 0 "route 2: path '' -> group 0,2,3" \
    agent route add --dev "$DEV" --prefix '' --group 0,2,3
expect "sni route lowercased" 0 "route 9: sni 'api.example.com' -> worker 0" \
    agent route add --dev "$DEV" --kind sni --prefix API.example.com --worker 0 --id 9
expect "route list" 0 "1 +path +'/api' +worker 1 +0 +0 +text\+huffman" agent route list --dev "$DEV"
check "route list shows a path route once" test "$(printf '%s\n' "$OUT" | grep -c "'/api'")" -eq 1
expect "route list shows the sni route" 0 "9 +sni +'api.example.com' +worker 0 +0 +0 +text$" agent route list --dev "$DEV"
expect "bpftool dump shows the Huffman key's text" 0 "\"kind\": 3," bpftool map dump pinned "$PINS/routes"
check "a path route is two entries, an sni route one" test "$(bpftool map dump pinned "$PINS/routes" | grep -c '"route_id"')" -eq 5
expect "bpftool dump shows the prefix as text" 0 "\"prefix\": \"/api\"" bpftool map dump pinned "$PINS/routes"
expect "bpftool dump shows the sni as text" 0 "\"prefix\": \"api.example.com\"" \
    bpftool map dump pinned "$PINS/routes"

run_lines() { # run_lines TEXT: run each line of TEXT as a command; fails on the first failure
    local line
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        $line >/dev/null || return 1
    done <<<"$1"
}

# What an LPM lookup of a key answers: the route id bpftool prints. A lookup key is any printed key:
# its prefixlen bounds how much of it is compared, so a route line for /heavy/x looks /heavy/x up.
lookup_id() { # lookup_id KEYHEX...
    bpftool map lookup pinned "$PINS/routes" key hex "$@" 2>/dev/null | sed -n 's/.*"route_id": \([0-9]*\).*/\1/p'
}
key_of() { # key_of LINE_NUMBER TEXT: the key hex bytes of the Nth printed bpftool line
    printf '%s\n' "$2" | sed -n "$1p" | sed 's/.* key hex \(.*\) value hex.*/\1/'
}

expect "--bpftool for a lookup key" 0 "" agent route add --dev "$DEV" --prefix /heavy/x --worker 0 --bpftool
RAW_KEY=$(key_of 1 "$OUT")
HUF_KEY=$(key_of 2 "$OUT")
check "a path route prints a text and a Huffman line" test "$(printf '%s\n' "$OUT" | grep -c '^bpftool map update')" -eq 2
check "the text key looks up the default route first" test "$(lookup_id $RAW_KEY)" = 2
check "the Huffman key looks up the default route first" test "$(lookup_id $HUF_KEY)" = 2

expect "route add --bpftool prints the line" 0 "^bpftool map update pinned $PINS/routes key hex" \
    agent route add --dev "$DEV" --prefix /heavy --worker 3 --bpftool
LINES=$OUT
check "route add --bpftool prints two lines for a path" test "$(printf '%s\n' "$LINES" | wc -l)" -eq 2
check "the second line is the Huffman key (kind 3)" test -n "$(printf '%s\n' "$LINES" | sed -n '2p' | grep ' key hex .. .. .. .. 03 00 00 00 ')"
expect "--bpftool changed nothing" 0 "" agent route list --dev "$DEV"
if printf '%s' "$OUT" | grep -q heavy; then not_ok "--bpftool left /heavy out" "it was added"; else ok "--bpftool left /heavy out"; fi
check "the printed bpftool lines run" run_lines "$LINES"
expect "agent lists the route bpftool added" 0 "10 +path +'/heavy' +worker 3 +0 +0 +text\+huffman" \
    agent route list --dev "$DEV"
check "bpftool changed the text lookup: /heavy/x now finds /heavy" test "$(lookup_id $RAW_KEY)" = 10
check "bpftool changed the Huffman lookup: /heavy/x now finds /heavy" test "$(lookup_id $HUF_KEY)" = 10
expect "route del --bpftool prints the line" 0 "^bpftool map delete pinned $PINS/routes key hex" \
    agent route del --dev "$DEV" --prefix /heavy --bpftool
LINES=$OUT
check "route del --bpftool prints two lines for a path" test "$(printf '%s\n' "$LINES" | wc -l)" -eq 2
check "the printed delete lines run" run_lines "$LINES"
expect "route gone after bpftool delete" 6 "no path route '/heavy'" agent route del --dev "$DEV" --prefix /heavy
check "the Huffman lookup falls back to the default route" test "$(lookup_id $HUF_KEY)" = 2

expect "route add writes both keys" 0 "route 10: path '/heavy' -> worker 3" \
    agent route add --dev "$DEV" --prefix /heavy --worker 3
check "route add: the Huffman lookup finds it" test "$(lookup_id $HUF_KEY)" = 10
expect "route add on an existing prefix keeps its id (and counters)" 0 "route 10: path '/heavy' -> worker 2" \
    agent route add --dev "$DEV" --prefix /heavy --worker 2
expect "route add --bpftool on an existing prefix prints its id" 0 "value hex 0a 00 00 00" \
    agent route add --dev "$DEV" --prefix /heavy --worker 3 --bpftool
expect "route del deletes both keys" 0 "deleted path route '/heavy'" agent route del --dev "$DEV" --prefix /heavy
check "route del: the Huffman key is gone too" test "$(lookup_id $HUF_KEY)" = 2
check "no entry left of /heavy" test "$(bpftool map dump pinned "$PINS/routes" | grep -c '"/heavy"')" -eq 0
expect "route del" 0 "deleted sni route 'api.example.com'" \
    agent route del --dev "$DEV" --kind sni --prefix api.example.com

# ---- reload: a new program through the pinned link, every map kept -----------------------------
agent service add --dev "$DEV" --addr 10.77.0.1 --port 8081 >/dev/null
agent route add --dev "$DEV" --prefix /kept --worker 4 >/dev/null
maps_state() { # the maps' ids and contents (meta without its load time)
    agent status --dev "$DEV" --json | jq -c '.devices[0].maps | map_values(.id)'
    for m in services routes workers; do bpftool map dump pinned "$PINS/$m"; done
    bpftool map dump pinned "$PINS/meta" | grep -v loaded_at
}
MAPS_BEFORE=$(maps_state)
expect "reload swaps the program" 0 "reloaded sluice_steer on $DEV: program id $PROG_ID -> [0-9]+ \\(link id $LINK_ID, native mode\\), every map kept" \
    agent reload --dev "$DEV"
NEW_PROG_ID=$(printf '%s' "$OUT" | sed -n 's/.* -> \([0-9]*\) .*/\1/p')
check "reload: a new program id ($PROG_ID -> $NEW_PROG_ID)" test -n "$NEW_PROG_ID" -a "$NEW_PROG_ID" != "$PROG_ID"
check "reload: the link runs the new program" jq_status --dev "$DEV" \
    ".devices[0].program | .id == ${NEW_PROG_ID:-0} and .link_id == $LINK_ID and .mode == \"native\""
expect "reload: bpftool link shows the new program" 0 "prog $NEW_PROG_ID" bpftool link show id "$LINK_ID"
expect "reload: still attached in driver mode" 0 "driver id $NEW_PROG_ID" srv bpftool net show dev "$DEV"
MAPS_AFTER=$(maps_state)
if [ "$MAPS_BEFORE" = "$MAPS_AFTER" ]; then ok "reload kept every map and its contents"; else
    not_ok "reload kept every map and its contents" "$(diff <(echo "$MAPS_BEFORE") <(echo "$MAPS_AFTER") | head -5 | tr '\n' '|')"
fi
check "reload: the old program is released" gone_within 5 bpftool prog show id "$PROG_ID"
expect "reload twice" 0 "program id $NEW_PROG_ID -> " agent reload --dev "$DEV"
PROG_ID=$(printf '%s' "$OUT" | sed -n 's/.* -> \([0-9]*\) .*/\1/p')
expect "ip netns exec reload refused" 6 "$HINT" ip netns exec "$TOPO-srv" "$AGENT" reload --dev "$DEV"
check "refused reload changed nothing" jq_status --dev "$DEV" ".devices[0].program.id == ${PROG_ID:-0}"
agent route del --dev "$DEV" --prefix /kept >/dev/null
agent service del --dev "$DEV" --addr 10.77.0.1 --port 8081 >/dev/null

# ---- bad input changes nothing ----------------------------------------------------------------
BEFORE=$(snapshot)
expect "bad address" 2 "bad address '10.77.0.300'" agent service add --dev "$DEV" --addr 10.77.0.300 --port 80
expect "bad port text" 2 "bad port 'http'" agent service add --dev "$DEV" --addr 10.77.0.1 --port http
expect "port too large" 2 "bad port '70000'" agent service add --dev "$DEV" --addr 10.77.0.1 --port 70000
expect "port zero" 2 "bad port '0'" agent service add --dev "$DEV" --addr 10.77.0.1 --port 0
expect "service add without port" 2 "needs --addr ADDRESS and --port PORT" \
    agent service add --dev "$DEV" --addr 10.77.0.1
expect "negative service id" 2 "bad service id '-1'" \
    agent service add --dev "$DEV" --addr 10.77.0.1 --port 81 --id -1
expect "duplicate service" 6 "already exists" agent service add --dev "$DEV" --addr 10.77.0.1 --port 80
expect "delete missing service" 6 "no service 10.77.0.9 port 80" \
    agent service del --dev "$DEV" --addr 10.77.0.9 --port 80
expect "service without action" 2 "needs add, del or list" agent service
expect "path prefix without slash" 2 "bad prefix 'api': a path prefix starts with '/'" \
    agent route add --dev "$DEV" --prefix api --worker 1
expect "prefix too long" 2 "at most 63" \
    agent route add --dev "$DEV" --prefix "/$(printf 'a%.0s' $(seq 70))" --worker 1
expect "prefix with a space" 2 "not printable ASCII" agent route add --dev "$DEV" --prefix "/a b" --worker 1
expect "prefix with a control byte" 2 "not printable ASCII" \
    agent route add --dev "$DEV" --prefix "$(printf '/a\tb')" --worker 1
expect "sni prefix with a slash" 2 "an SNI prefix holds" \
    agent route add --dev "$DEV" --kind sni --prefix a/b --worker 1
expect "bad route kind" 2 "bad --kind 'host'" agent route add --dev "$DEV" --kind host --prefix x --worker 1
expect "worker out of range" 2 "bad worker '64'" agent route add --dev "$DEV" --prefix /x --worker 64
expect "worker and group together" 2 "exactly one of --worker" \
    agent route add --dev "$DEV" --prefix /x --worker 1 --group 1,2
expect "route without target" 2 "exactly one of --worker" agent route add --dev "$DEV" --prefix /x
expect "empty group member" 2 "bad --group '1,,2'" \
    agent route add --dev "$DEV" --prefix /x --group 1,,2
expect "trailing comma in group" 2 "bad --group '1,'" agent route add --dev "$DEV" --prefix /x --group 1,
expect "route id zero" 2 "bad route id '0': expected a number from 1" agent route add --dev "$DEV" --prefix /x --worker 1 --id 0
expect "route id past route_stats" 2 "bad route id '4096': expected a number from 1 to 4095" \
    agent route add --dev "$DEV" --prefix /x --worker 1 --id 4096
expect "delete missing route" 6 "no path route '/nothing'" agent route del --dev "$DEV" --prefix /nothing
expect "stats --count without --watch" 2 "needs --watch" agent stats --dev "$DEV" --count 2
expect "stats --watch 0" 2 "bad --watch interval '0'" agent stats --dev "$DEV" --watch 0
AFTER=$(snapshot)
if [ "$BEFORE" = "$AFTER" ]; then ok "bad input changed no map, pin or attachment"; else
    not_ok "bad input changed no map, pin or attachment" "$(diff <(echo "$BEFORE") <(echo "$AFTER") | head -5 | tr '\n' '|')"
fi

# ---- real traffic through the attached program ------------------------------------------------
base_icmp=$(counter pass_not_tcp)
base_other=$(counter pass_not_service)
base_drop=$(counter drop_no_worker)
cli ping -c 3 -i 0.2 -W 1 10.77.0.1 >/dev/null 2>&1
expect "ICMP still reaches the kernel" 0 "3 received" cli ping -c 3 -i 0.2 -W 1 10.77.0.1
check "ICMP counted as pass_not_tcp" test "$(counter pass_not_tcp)" -ge $((base_icmp + 6))
expect "TCP to a non-service port reaches the kernel (refused)" 7 "" \
    cli curl -s --max-time 3 http://10.77.0.1:81/
check "non-service TCP counted" test "$(counter pass_not_service)" -gt "$base_other"
expect "service SYN without workers is dropped, not reset" 28 "" cli curl -s --max-time 1 http://10.77.0.1:80/
check "dropped SYN counted as drop_no_worker" test "$(counter drop_no_worker)" -gt "$base_drop"
expect "stats text names the counters" 0 "drop_no_worker +[1-9]" agent stats --dev "$DEV"
expect "stats shows the prefix counters" 0 "prefix_routed +0 " agent stats --dev "$DEV"
expect "stats --json has the prefix counters" 0 "\"meta_failed\":0" agent stats --dev "$DEV" --json
expect "stats --json parses" 0 "" sh -c "nsenter --net=/run/netns/$TOPO-srv '$AGENT' stats --dev $DEV --json | jq -e .counters.pass_not_ip"
expect "stats --watch --count" 0 "" agent stats --dev "$DEV" --watch 1 --count 2
check "stats --watch printed twice" test "$(printf '%s\n' "$OUT" | grep -c '^--- ')" -eq 2

# ---- a decision on real traffic: the metadata reaches the AF_XDP socket's UMEM ----------------
# xsk_meta binds worker 0 (copy mode on veth) and marks worker 1 live but overloaded, so the SYN
# hashes to 0 while the route names 1. The client sends a SYN and curl's first HTTP/2 flight from a
# raw socket (nobody answers the handshake; XDP does not need it): both frames arrive with struct
# sluice_xdp_meta in front of them, the SYN's saying "hold" (awaiting the prefix), the data's "move".
send_h2_first_flight() { # SPORT: SYN, then the fixture as one segment, from the client namespace
    cli python3 - "$1" "$FIXTURE" <<'PY'
import socket, struct, sys
sport, data = int(sys.argv[1]), open(sys.argv[2], "rb").read()
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
def seg(seq, flags, payload=b""):
    return struct.pack("!HHIIBBHHH", sport, 8080, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload
s.sendto(seg(1000, 0x02), ("10.77.0.1", 0))
s.sendto(seg(1001, 0x18, data), ("10.77.0.1", 0))
PY
}
expect "steering service" 0 "port 8080" agent service add --dev "$DEV" --addr 10.77.0.1 --port 8080 --steer
expect "route /heavy to worker 1" 0 "route [0-9]+: path '/heavy' -> worker 1" \
    agent route add --dev "$DEV" --prefix /heavy --worker 1
HEAVY_ID=$(printf '%s' "$OUT" | sed -n 's/^route \([0-9]*\):.*/\1/p')
# in the background with its output in a file: it exits by itself after two frames or 10 s
nsenter --net=/run/netns/$TOPO-srv "$META_BIN" "$DEV" 0 1 2 >"$SCRATCH/meta.out" 2>&1 &
META_PID=$!
for _ in $(seq 100); do grep -q '^ready' "$SCRATCH/meta.out" && break; sleep 0.1; done
check "AF_XDP socket bound in copy mode" grep -q '^ready' "$SCRATCH/meta.out"
send_h2_first_flight 41000
wait "$META_PID" 2>/dev/null
META_PID=""
FRAMES=$(cat "$SCRATCH/meta.out")
if printf '%s\n' "$FRAMES" | grep -q "^frame 0 len [0-9]* meta yes magic 534c4d31 target 0 route 0 state 2$"; then
    ok "the SYN arrives with metadata: awaiting the prefix"; else
    not_ok "the SYN arrives with metadata: awaiting the prefix" "$(first_lines "$FRAMES")"; fi
if printf '%s\n' "$FRAMES" | grep -q "^frame 1 len [0-9]* meta yes magic 534c4d31 target 1 route $HEAVY_ID state 3$"; then
    ok "the decision frame carries the metadata into the UMEM"; else
    not_ok "the decision frame carries the metadata into the UMEM" "$(first_lines "$FRAMES")"; fi
expect "route list counts the connection" 0 "$HEAVY_ID +path +'/heavy' +worker 1 +1 +1 +text\\+huffman" \
    agent route list --dev "$DEV"
check "stats: one decision routed" test "$(counter prefix_routed)" = 1
check "stats: one hand-off due" test "$(counter prefix_handoffs)" = 1
check "stats: metadata added to both frames" test "$(counter meta_added)" = 2
expect "status shows the decision" 0 "prefix +1 decided: routed 1 .*1 hand-offs" agent status --dev "$DEV"
agent route del --dev "$DEV" --prefix /heavy >/dev/null
agent service del --dev "$DEV" --addr 10.77.0.1 --port 8080 >/dev/null

# ---- a server holding sockets -----------------------------------------------------------------
coproc HOLDER { exec nsenter --net=/run/netns/$TOPO-srv "$HOLDER_BIN" "$DEV" 2; }
HELD_PID=$HOLDER_PID
read -r -t 10 READY <&"${HOLDER[0]}"
check "socket holder registered" test "${READY:-}" = ready
expect "workers shows the socket on queue 0" 0 "^2 +yes +0 +no +[0-9]+" agent workers --dev "$DEV"
# the holder publishes no load and no heartbeat: 0 connections, 0% busy, queue 0, never published
expect "workers shows the published load" 0 "^2 +yes +0 +no +[0-9]+ +0 +0% +0 +-$" agent workers --dev "$DEV"
expect "workers names the load columns" 0 "^WORKER .* CONNECTIONS +BUSY +QUEUE +PUBLISHED$" agent workers --dev "$DEV"
expect "status counts the live worker" 0 "workers +1 live" agent status --dev "$DEV"
expect "unload refused while a socket is held" 7 "holds AF_XDP sockets of workers 2" agent unload --dev "$DEV"
check "refused unload kept the link" test -e "$PINS/link"
kill "$HELD_PID"
wait "$HELD_PID" 2>/dev/null
HELD_PID=""
expect "workers after the holder stopped" 0 "no workers registered" agent workers --dev "$DEV"
# xsks holds a slot per (receive queue, worker): a socket on queue 3 alone is still the worker's
coproc HOLDER { exec nsenter --net=/run/netns/$TOPO-srv "$HOLDER_BIN" "$DEV" 5 3; }
HELD_PID=$HOLDER_PID
read -r -t 10 READY <&"${HOLDER[0]}"
check "socket holder registered on queue 3" test "${READY:-}" = ready
expect "workers shows the socket on queue 3" 0 "^5 +yes +3 +no +[0-9]+" agent workers --dev "$DEV"
expect "unload refused while a socket is held on queue 3" 7 "holds AF_XDP sockets of workers 5" \
    agent unload --dev "$DEV"
kill "$HELD_PID"
wait "$HELD_PID" 2>/dev/null
HELD_PID=""
expect "workers after the queue 3 holder stopped" 0 "no workers registered" agent workers --dev "$DEV"

# ---- unload -----------------------------------------------------------------------------------
expect "unload" 0 "unloaded sluice from $DEV" agent unload --dev "$DEV"
check "no pins left" test ! -e "$PINS"
expect "no XDP program on the device" 0 "" srv bpftool net show dev "$DEV"
if printf '%s' "$OUT" | grep -q "id $PROG_ID"; then not_ok "program detached" "$OUT"; else ok "program detached"; fi
check "program released" gone_within 5 bpftool prog show id "$PROG_ID"
check "link released" gone_within 5 bpftool link show id "$LINK_ID"
expect "second unload" 6 "not loaded" agent unload --dev "$DEV"

# ---- load --config: routes seeded from the [routes] section -----------------------------------
CONF=$SCRATCH/sluice.conf
cat >"$CONF" <<'EOF'
# the server's sections are the server's business
[server]
workers = 4

[routes]
path /heavy = 1            ; a worker
path /api = 0, 2           # a group
sni Heavy.Example.com = 3
path default = 0
sni default = 0,1

[http]
port = 80
EOF
bad_config() { # bad_config NAME LINE-REGEX CONTENT: load fails naming FILE:LINE, and loads nothing
    printf '%s\n' "$3" >"$SCRATCH/bad.conf"
    expect "config: $1" 2 "$SCRATCH/bad.conf:$2" agent load --dev "$DEV" --config "$SCRATCH/bad.conf"
    check "config: $1 left no pins" test ! -e "$PINS"
}
bad_config "unknown kind" "3: bad kind 'host'" "$(printf '[routes]\npath /a = 1\nhost a = 1')"
bad_config "path without slash" "2: bad prefix 'api': a path prefix starts with '/'" "$(printf '[routes]\npath api = 1')"
bad_config "worker out of range" "2: bad worker in workers '64'" "$(printf '[routes]\npath /a = 64')"
bad_config "bad group" "2: bad workers '1,,2'" "$(printf '[routes]\npath /a = 1,,2')"
bad_config "no '='" "4: expected 'KIND PREFIX = WORKER" "$(printf '[server]\nx = 1\n[routes]\npath /a 1')"
bad_config "no worker" "2: no worker after '='" "$(printf '[routes]\npath /a =')"
bad_config "extra word" "2: expected 'KIND PREFIX' before '='" "$(printf '[routes]\npath /a b = 1')"
bad_config "duplicate route" "3: path route '/a' given twice \\(first on line 2\\)" "$(printf '[routes]\npath /a = 1\npath /a = 2')"
bad_config "bad sni" "2: bad prefix 'a/b': an SNI prefix holds" "$(printf '[routes]\nsni a/b = 1')"
bad_config "line too long" "2: line longer than 198 bytes" "$(printf '[routes]\npath /%0250d = 1' 0)"
bad_config "bad section header" "1: bad section header" "$(printf '[routes\npath /a = 1')"
expect "config: missing file" 2 "cannot open $SCRATCH/none.conf" agent load --dev "$DEV" --config "$SCRATCH/none.conf"
check "config: missing file left no pins" test ! -e "$PINS"
expect "load --config seeds the routes" 0 "seeded 5 routes from $CONF" agent load --dev "$DEV" --config "$CONF"
expect "seeded: path to a worker" 0 "path +'/heavy' +worker 1 +0 +0 +text\\+huffman" agent route list --dev "$DEV"
expect "seeded: a group" 0 "path +'/api' +group 0,2 " agent route list --dev "$DEV"
expect "seeded: sni lowercased" 0 "sni +'heavy.example.com' +worker 3" agent route list --dev "$DEV"
expect "seeded: default routes" 0 "path +'' +worker 0" agent route list --dev "$DEV"
expect "seeded: sni default" 0 "sni +'' +group 0,1" agent route list --dev "$DEV"
check "seeded: 8 entries (3 path routes with Huffman keys, 2 sni)" \
    test "$(bpftool map dump pinned "$PINS/routes" | grep -c '"route_id"')" -eq 8
expect "seeded routes are text in bpftool's dump" 0 "\"text\": \"/heavy\"" bpftool map dump pinned "$PINS/routes"
expect "unload after --config" 0 "unloaded" agent unload --dev "$DEV"

# ---- generic mode and forced unload -----------------------------------------------------------
expect "load in generic mode" 0 "in generic mode \\(requested\\)" agent load --dev "$DEV" --mode generic
expect "ip link shows generic XDP" 0 "xdpgeneric" srv ip link show dev "$DEV"
expect "reload keeps generic mode" 0 "generic mode\\), every map kept" agent reload --dev "$DEV"
expect "ip link still shows generic XDP after reload" 0 "xdpgeneric" srv ip link show dev "$DEV"
coproc HOLDER { exec nsenter --net=/run/netns/$TOPO-srv "$HOLDER_BIN" "$DEV" 0; }
HELD_PID=$HOLDER_PID
read -r -t 10 READY <&"${HOLDER[0]}"
expect "unload --force despite a socket" 0 "unloaded sluice from $DEV \\(forced\\)" agent unload --dev "$DEV" --force
check "forced unload left no pins" test ! -e "$PINS"
kill "$HELD_PID"
wait "$HELD_PID" 2>/dev/null
HELD_PID=""

# ---- ABI mismatch -----------------------------------------------------------------------------
agent load --dev "$DEV" >/dev/null
bpftool map update pinned "$PINS/meta" key hex 00 00 00 00 value hex 63 00 00 00 $(printf '00 %.0s' $(seq 36))
expect "status refuses another ABI" 6 "ABI version 99, this build speaks $ABI" agent status --dev "$DEV"
expect "status of every device lists one of another ABI with the reason" 0 \
    "not shown: maps pinned for $DEV have ABI version 99" agent status
expect "load refuses another ABI" 6 "ABI version 99" agent load --dev "$DEV"
expect "service add refuses another ABI" 6 "ABI version 99" \
    agent service add --dev "$DEV" --addr 10.77.0.1 --port 80
expect "unload refuses another ABI" 6 "ABI version 99" agent unload --dev "$DEV"
expect "reload refuses another ABI in one line" 6 "^sluice-agent: error: maps pinned for $DEV have ABI version 99" agent reload --dev "$DEV"
check "refused reload: one line" test "$(printf '%s\n' "$OUT" | wc -l)" -eq 1
check "status --json lists a device of another ABI with its error" jq_status \
    ".devices[] | select(.dev == \"$DEV\") | .error | test(\"ABI version 99\")"
expect "unload --force clears another ABI" 0 "unloaded" agent unload --dev "$DEV" --force

# ---- a pinned map of another shape under the same ABI version: reload refuses, changing nothing ---
expect "load for the map check" 0 "program id" agent load --dev "$DEV"
PROG_ID=$(printf '%s' "$OUT" | sed -n 's/.*program id \([0-9]*\).*/\1/p')
ROUTES_SHAPE=$(bpftool -j map show pinned "$PINS/routes" | jq -r '"\(.bytes_key) \(.bytes_value)"')
rm -f "$PINS/routes"
bpftool map create "$PINS/routes" type lpm_trie key ${ROUTES_SHAPE% *} value ${ROUTES_SHAPE#* } entries 16 name routes flags 1
expect "reload refuses a pinned map of another shape" 6 "pinned map routes on $DEV .*16 entries.* differs from this build's" \
    agent reload --dev "$DEV"
check "the refused reload kept the program" jq_status --dev "$DEV" ".devices[0].program.id == ${PROG_ID:-0}"
expect "unload after the map check" 0 "unloaded" agent unload --dev "$DEV" --force

# ---- maps pinned without a link: nothing to reload -----------------------------------------------
agent load --dev "$DEV" >/dev/null
rm -f "$PINS/link"
expect "reload without a link refused" 6 "no program attached on $DEV" agent reload --dev "$DEV"
check "status --json: not attached" jq_status --dev "$DEV" '.devices[0].program.attached == false'
expect "unload of maps without a link" 0 "unloaded" agent unload --dev "$DEV"

# ---- device removed while loaded --------------------------------------------------------------
agent load --dev "$DEV" >/dev/null
srv ip link del "$DEV"
expect "status after the device vanished" 0 "device gone" agent status --dev "$DEV"
check "status --json after the device vanished" jq_status --dev "$DEV" '.devices[0].program | .device_gone and (.attached | not)'
expect "reload after the device vanished" 5 "device '$DEV' not found" agent reload --dev "$DEV"
expect "unload after the device vanished" 0 "unloaded" agent unload --dev "$DEV"
check "nothing pinned after all" test ! -e "$PINS"
