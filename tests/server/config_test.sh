#!/usr/bin/env bash
# config_test.sh — sluice-server's settings: every documented config file and command-line error
# (one line naming file, line, section and key, exit status 2, nothing started), that a file's
# values reach the server (HTTP/2 SETTINGS seen by nghttp), that options override the file, and
# that the README documents every key `sluice-server --settings` lists.
#
#   tests/server/config_test.sh BUILD_DIR
#
# Servers run on the socket datapath on 127.0.0.1 ports 20701-20703; no root needed.
set -u

BUILD=${1:?usage: config_test.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"

SERVER=$ROOT/$BUILD/bin/sluice-server
WORK=$(mktemp -d)
SERVER_PID=""
stop() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=""
}
trap 'stop; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

CONF=$WORK/sluice.conf

# bad NAME REGEX CONTENT [OPTIONS...]: the file CONTENT is refused with status 2 and one line matching REGEX
bad() {
    local name=$1 regex=$2 content=$3
    shift 3
    printf '%b' "$content" >"$CONF"
    expect "$name" 2 "^sluice-server: error: $regex" "$SERVER" --config "$CONF" "$@"
    if [ "$STATUS" = 2 ] && [ "$(printf '%s\n' "$OUT" | wc -l)" != 1 ]; then
        not_ok "$name: one line" "$(first_lines "$OUT")"
    fi
}

S="[server]\ndatapath = socket\n"
bad "number out of range" "$CONF:5: \[http\] max_frame_size: bad value '1000': expected a number from 16384 to 16777215" \
    "$S[http]\nport = 20701\nmax_frame_size = 1000\n"
bad "not a number" "$CONF:2: \[server\] workers: bad value 'two': expected a number from 1 to 64" \
    "[server]\nworkers = two\n"
bad "negative number" "$CONF:2: \[tcp\] max_conns: bad value '-5'" "[tcp]\nmax_conns = -5\n"
bad "not a power of two" "$CONF:2: \[xdp\] ring: bad value '1000': expected a power of two from 64 to 65536" \
    "[xdp]\nring = 1000\n"
bad "frame size other than 2048 or 4096" "$CONF:2: \[xdp\] frame_size: bad value '3000'" "[xdp]\nframe_size = 3000\n"
bad "bad choice" "$CONF:2: \[server\] datapath: bad value 'dpdk': expected xdp or socket" "[server]\ndatapath = dpdk\n"
bad "bad zerocopy mode" "$CONF:2: \[xdp\] zerocopy: bad value 'maybe': expected auto, on or off" "[xdp]\nzerocopy = maybe\n"
bad "bad congestion control" "$CONF:2: \[tcp\] congestion: bad value 'bogus': expected cubic or newreno$" \
    "[tcp]\ncongestion = bogus\n"
bad "bad boolean" "$CONF:3: \[server\] busy_poll: bad value 'sometimes': expected true or false" \
    "$S""busy_poll = sometimes\n"
bad "bad CPU list" "$CONF:3: \[server\] cpus: bad CPU 'x'" "$S""cpus = 0,x\n"
bad "empty CPU in the list" "$CONF:3: \[server\] cpus: bad value '0,,1'" "$S""cpus = 0,,1\n"
bad "unknown key" "$CONF:4: \[http\] prot: unknown key \(see --settings\)" "$S[http]\nprot = 80\n"
bad "unknown section" "$CONF:4: unknown section \[htpp\]" "$S[htpp]\nport = 80\n"
bad "line without =" "$CONF:4: malformed line" "$S[http]\nport 80\n"
bad "unterminated section" "$CONF:1: malformed line" "[server\n"
bad "line too long" "$CONF:2: line longer than 198 bytes" "[http]\nstatic_dir = $(head -c 300 /dev/zero | tr '\0' a)\n"
bad "empty string" "$CONF:4: \[http\] static_dir: empty value" "$S[http]\nstatic_dir =\nport = 20701\n"
bad "two services on one port" "$CONF:6: \[services\] echo: port 20701 is already http's" \
    "$S[http]\nport = 20701\n[services]\necho = 20701\n"
bad "port out of range" "$CONF:5: \[services\] sink: bad value '70000': expected a number from 1 to 65535" \
    "$S[services]\n\nsink = 70000\n"
bad "only the first error is reported" "$CONF:2: \[server\] workers" "[server]\nworkers = 0\nqueue = x\n"
bad "rto_min_ms above rto_max_ms" "\[tcp\] rto_min_ms 5000 is above rto_max_ms 1000" \
    "$S[tcp]\nrto_min_ms = 5000\nrto_max_ms = 1000\n[http]\nport = 20701\n"
bad "access log: unknown variable" "$CONF:5: \[log\] access_format: access log format '\\\$remote_addr \\\$bogus': unknown variable '\\\$bogus'" \
    "$S[log]\naccess = $WORK/a.log\naccess_format = \$remote_addr \$bogus\n[http]\nport = 20701\n"
bad "access log: ring not a power of two" "$CONF:4: \[log\] access_ring: bad value '3000': expected a power of two from 1024 to 268435456" \
    "$S[log]\naccess_ring = 3000\n"
bad "access log: ring smaller than a record" "$CONF:4: \[log\] access_ring: bad value '512': expected a power of two from 1024 to 268435456" \
    "$S[log]\naccess_ring = 512\n"
bad "access log: a file that cannot be opened" "access log: cannot open $WORK/no/such/dir/a.log: No such file or directory" \
    "$S[log]\naccess = $WORK/no/such/dir/a.log\n[http]\nport = 20701\n"
bad "xdp without a device" "--dev DEVICE \(or \[server\] dev\) is required" "[http]\nport = 20701\n"
bad "a device on the socket datapath" "--dev is for the xdp datapath" "$S""dev = eth0\n[http]\nport = 20701\n"
bad "no service" "no service to serve" "$S"
expect "missing config file" 2 "^sluice-server: error: cannot open config file $WORK/none.conf: No such file or directory$" \
    "$SERVER" --config "$WORK/none.conf"
expect "option: bad value" 2 "^sluice-server: error: --workers: bad value '0': expected a number from 1 to 64$" \
    "$SERVER" --datapath socket --workers 0 --http 20701
expect "option: unknown" 2 "^sluice-server: error: unknown option '--wrokers'" "$SERVER" --wrokers 2
expect "option: missing value" 2 "^sluice-server: error: option '--http' of \`sluice-server\` needs a value" "$SERVER" --http
expect "option: stray argument" 2 "^sluice-server: error: unexpected argument 'extra'" \
    "$SERVER" --datapath socket --http 20701 extra
bad "option errors are checked after the file" "--ring: bad value '3'" "$S[http]\nport = 20701\n" --ring 3
# a CPU the machine does not have: the worker cannot be pinned, so the server does not start (the
# timeout turns a server that starts anyway into a failure rather than a hang)
expect "a CPU that cannot be had stops the start" 2 \
    "^sluice-server: error: worker 0: cannot pin to CPU 999: Invalid argument$" \
    timeout 10 "$SERVER" --datapath socket --workers 1 --cpus 999 --http 20701

# start CONTENT OPTIONS...: a server from the file CONTENT and options; passes once it is ready
start() {
    local content=$1 log=$WORK/server.log
    shift
    printf '%b' "$content" >"$CONF"
    "$SERVER" --config "$CONF" "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q ready "$log" && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    check "server started from the file" grep -q ready "$log"
}

start "# comments, blank lines and inline comments are fine\n\n[server]\ndatapath = socket ; kernel sockets\nworkers = 1\n[http]\nport = 20701\nmax_concurrent_streams = 7\ninitial_window_size = 300000\nmax_frame_size = 32768\n"
expect "the file's HTTP/2 settings reach the client" 0 \
    "MAX_CONCURRENT_STREAMS\(0x03\):7.*INITIAL_WINDOW_SIZE\(0x04\):300000.*MAX_FRAME_SIZE\(0x05\):32768" \
    bash -c "nghttp -nv http://127.0.0.1:20701/healthz | tr '\n' ' '"
stop

# the access log's settings reach the server: a format string, to a file; empty access: none
start "[server]\ndatapath = socket\nworkers = 1\n[http]\nport = 20701\n[log]\naccess = $WORK/access.log\naccess_format = \${status}:\$request_method:\$uri\n"
curl -sS --max-time 5 -o /dev/null http://127.0.0.1:20701/healthz
stop
expect "[log] access and access_format reach the server" 0 "^200:GET:/healthz$" cat "$WORK/access.log"
start "[server]\ndatapath = socket\nworkers = 1\n[http]\nport = 20701\n[log]\naccess =\n"
expect "[log] access empty: no access log" 0 "^absent$" \
    bash -c "curl -sS --max-time 5 http://127.0.0.1:20701/metrics | grep -q sluice_access_log && echo present || echo absent"
stop

start "[server]\ndatapath = socket\nworkers = 1\n[tcp]\ncongestion = newreno\n[http]\nport = 20702\n[services]\necho = 20703\n" --http 20701
expect "an option overrides the file's port" 0 "^ok$" curl -sS --max-time 5 --http2-prior-knowledge http://127.0.0.1:20701/healthz
expect "the file's port is not served" 7 "" curl -sS --max-time 5 http://127.0.0.1:20702/healthz
expect "the file's other services are" 0 "" bash -c "exec 3<>/dev/tcp/127.0.0.1/20703"
stop

# every key --settings lists appears in the README's configuration table, as `[section] key`
missing=""
while read -r section key _; do
    grep -qF -- "| \`$section $key\` |" "$ROOT/README.md" || missing="$missing $section$key"
done < <("$SERVER" --settings)
if [ -z "$missing" ]; then ok "README documents every config key"; else not_ok "README documents every config key" "missing:$missing"; fi
expect "--settings lists the [http] keys" 0 "^\[http\] max_concurrent_streams 1\.\.65536 \(default 100\)" "$SERVER" --settings
