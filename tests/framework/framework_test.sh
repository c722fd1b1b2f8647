#!/usr/bin/env bash
# framework_test.sh — sluice as a framework (issue 17): install into a temporary prefix, build the
# example apps out of the tree with only what was installed, run them on both datapaths against real
# clients (curl; a gRPC client from python3-grpcio), then uninstall.
#
#   tests/framework/framework_test.sh BUILD_DIR [socket|xdp]...    (default: both)
#
# What it holds the build to:
#   - `make install PREFIX=P` puts exactly the library (static, and shared with a versioned soname that
#     exports only the public API), the public headers (include/sluice/), the programs, sluice.pc and
#     the systemd units under P; with DESTDIR=D everything lands under D/P and nothing outside;
#     `make uninstall` removes every file again;
#   - examples/hello and examples/grpc-echo, copied out of the tree, build with `pkg-config sluice`
#     (PKG_CONFIG_PATH=P/lib/pkgconfig) and the installed sluice-routegen alone, and the binaries run
#     without LD_LIBRARY_PATH (sluice.pc's rpath) and take sluice-server's options;
#   - hello answers its own routes (a param, its middleware's header), the library's built-in ones,
#     and 404 for the rest, over HTTP/2 and HTTP/1.1;
#   - grpc-echo passes tests/grpc/grpc_client.py: unary, server streaming, a message over many DATA
#     frames, an unknown method, a deadline the server enforces, overload, malformed messages.
# A sanitizer build (BUILD_DIR's sluice-server built with ASan) installs a sanitized library, and the
# apps link the sanitizers through sluice.pc. Servers run in a topology of their own. Needs root.
set -u

BUILD=${1:?usage: framework_test.sh BUILD_DIR [socket|xdp]...}
shift
DATAPATHS=${*:-socket xdp}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=sframe
DEV=$TOPO-s
SRV4=10.77.0.1
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
WORK=$(mktemp -d)
PREFIX=$WORK/prefix
SERVER_PID=""
TOPO_CLI_TIMEOUT=120

reset_state() {
    if [ -n "$SERVER_PID" ]; then
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=""
    topo_down $TOPO
}
trap 'reset_state; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

SANITIZE=0
nm "$ROOT/$BUILD/bin/sluice-server" 2>/dev/null | grep -q __asan_init && SANITIZE=1

# ---- install, DESTDIR, uninstall --------------------------------------------------------------------
make_install() { make -s -C "$ROOT" BUILD="$BUILD" SANITIZE=$SANITIZE "$@" >"$WORK/make.log" 2>&1; }

installed_files() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort); }

expected_files() {
    local p=${1#/} h
    printf '%s\n' "$p/bin/sluice-agent" "$p/bin/sluice-routegen" "$p/bin/sluice-server" \
        "$p/lib/libsluice.a" "$p/lib/libsluice.so" "$p/lib/libsluice.so.0" "$p/lib/libsluice.so.0.1.0" \
        "$p/lib/pkgconfig/sluice.pc" "$p/lib/systemd/system/sluice-agent@.service" \
        "$p/lib/systemd/system/sluice-server.service"
    for h in "$ROOT"/include/sluice/*.h; do echo "$p/include/sluice/${h##*/}"; done
}

if make_install install PREFIX=/opt/sluice DESTDIR="$WORK/stage"; then
    ok "install with DESTDIR"
    if diff=$(diff <(expected_files /opt/sluice | sort) <(installed_files "$WORK/stage")); then
        ok "DESTDIR: exactly the library, headers, programs, sluice.pc and units, all under DESTDIR/PREFIX"
    else
        not_ok "DESTDIR: exactly the library, headers, programs, sluice.pc and units, all under DESTDIR/PREFIX" \
            "$(first_lines "$diff")"
    fi
    check "DESTDIR: sluice.pc and the units name PREFIX, not DESTDIR" \
        bash -c "grep -q '^prefix=/opt/sluice$' '$WORK/stage/opt/sluice/lib/pkgconfig/sluice.pc' &&
                 grep -q 'ExecStart=/opt/sluice/bin/sluice-agent load --dev %i' '$WORK/stage/opt/sluice/lib/systemd/system/sluice-agent@.service' &&
                 grep -q 'ExecStop=/opt/sluice/bin/sluice-agent unload --dev %i' '$WORK/stage/opt/sluice/lib/systemd/system/sluice-agent@.service' &&
                 grep -q 'ExecReload=/opt/sluice/bin/sluice-agent reload --dev %i' '$WORK/stage/opt/sluice/lib/systemd/system/sluice-agent@.service' &&
                 ! grep -rq '$WORK' '$WORK/stage'"
    if make_install uninstall PREFIX=/opt/sluice DESTDIR="$WORK/stage" && [ -z "$(installed_files "$WORK/stage")" ]; then
        ok "uninstall removes every installed file"
    else
        not_ok "uninstall removes every installed file" "left: $(installed_files "$WORK/stage" | head -3 | tr '\n' ' ')"
    fi
else
    not_ok "install with DESTDIR" "$(tail -3 "$WORK/make.log" | tr '\n' '|')"
fi

if ! make_install install PREFIX="$PREFIX"; then
    not_ok "install into a temporary prefix" "$(tail -3 "$WORK/make.log" | tr '\n' '|')"
    exit 1
fi
ok "install into a temporary prefix"
LIBSO=$PREFIX/lib/libsluice.so.0.1.0
check "libsluice.so's soname is libsluice.so.0" bash -c "readelf -d '$LIBSO' | grep -q 'SONAME.*\[libsluice.so.0\]'"
# the shared library exports the public API and nothing of the internals
EXPORTS=$(nm -D --defined-only "$LIBSO" | awk '{ print $3 }')
if grep -qx sluice_main <<<"$EXPORTS" && grep -qx http_respond <<<"$EXPORTS" &&
    ! grep -Eq '^(tcp_|xsk_|h2_|hpack_|app_|worker_|server_|config_|http_worker|http_mem|offload_)' <<<"$EXPORTS"; then
    ok "libsluice.so exports the public API only"
else
    not_ok "libsluice.so exports the public API only" "$(grep -Ev '^(sluice_|http_|grpc_|handler_|method_|router_offload)' <<<"$EXPORTS" | head -5 | tr '\n' ' ')"
fi

# the units as systemd reads them (the template as one instance): ExecStart paths exist, keys known
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$WORK/units"
    cp "$PREFIX/lib/systemd/system/sluice-agent@.service" "$WORK/units/sluice-agent@lo.service"
    cp "$PREFIX/lib/systemd/system/sluice-server.service" "$WORK/units/"
    expect "the systemd units pass systemd-analyze verify" 0 "" \
        bash -c "out=\$(systemd-analyze verify '$WORK/units/sluice-agent@lo.service' '$WORK/units/sluice-server.service' 2>&1); echo \"\$out\"; [ -z \"\$out\" ]"
else
    skip "the systemd units pass systemd-analyze verify" "no systemd-analyze on this machine"
fi

# ---- the examples, built out of the tree --------------------------------------------------------------
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
build_example() {
    local name=$1
    cp -r "$ROOT/examples/$name" "$WORK/src-$name"
    # nothing of the source tree may be reachable: no -I or -L into it, no sluice-routegen from it
    if (cd "$WORK/src-$name" && PATH=/usr/bin:/bin make -s O="$WORK/out-$name") >"$WORK/build-$name.log" 2>&1 &&
        ! grep -q -- "$ROOT" "$WORK/build-$name.log"; then
        ok "$name: builds out of the tree with pkg-config sluice"
    else
        not_ok "$name: builds out of the tree with pkg-config sluice" "$(tail -3 "$WORK/build-$name.log" | tr '\n' '|')"
        return 1
    fi
    if env -u LD_LIBRARY_PATH ldd "$WORK/out-$name/$name" | grep -q "libsluice.so.0 => $PREFIX/lib/libsluice.so.0"; then
        ok "$name: finds libsluice.so in the prefix without LD_LIBRARY_PATH"
    else
        not_ok "$name: finds libsluice.so in the prefix without LD_LIBRARY_PATH" "$(ldd "$WORK/out-$name/$name" | grep sluice)"
    fi
    expect "$name: --help names the app and has sluice-server's options" 0 "usage: $name --dev DEVICE.*" \
        "$WORK/out-$name/$name" --help
}

HELLO=""
GRPC_ECHO=""
build_example hello && HELLO=$WORK/out-hello/hello
build_example grpc-echo && GRPC_ECHO=$WORK/out-grpc-echo/grpc-echo

# ---- running them ---------------------------------------------------------------------------------
# start_app LABEL BINARY ARGS...: like topo_start_server, for an app
start_app() {
    local label=$1
    shift
    SERVER=$1
    shift
    topo_start_server "$label" 1 "$@"
}

hello_cases() {
    local dp=$1 url=http://$SRV4:$PORT
    expect "hello over $dp: GET / over HTTP/2" 0 '^hello, world$' cli curl -sS -m 5 --http2-prior-knowledge "$url/"
    expect "hello over $dp: a route param, and the middleware's header" 0 'x-served-by: hello \(libsluice\).*hello, ada' \
        bash -c "nsenter --net=/run/netns/$TOPO-cli -- curl -sS -m 5 -i --http2-prior-knowledge '$url/hello/ada' | tr -d '\r' | tr '\n' ' '"
    expect "hello over $dp: over HTTP/1.1" 0 '^hello, bob$' cli curl -sS -m 5 --http1.1 "$url/hello/bob"
    expect "hello over $dp: the library's /healthz" 0 'ok' cli curl -sS -m 5 --http2-prior-knowledge "$url/healthz"
    expect "hello over $dp: the library's echo, behind the app's middleware" 0 '^ping$' \
        cli curl -sS -m 5 --http2-prior-knowledge --data-binary ping "$url/echo"
    expect "hello over $dp: 404 for a path it has no route for" 0 '^404$' \
        cli curl -sS -m 5 -o /dev/null -w '%{http_code}' --http2-prior-knowledge "$url/static/x"
}

grpc_cases() {
    local dp=$1 out
    # Debian's python3, whose python3-grpcio this is: another python3 may come first in PATH
    out=$(cli /usr/bin/python3 "$ROOT/tests/grpc/grpc_client.py" --target "$SRV4:$PORT" 2>&1)
    if ! grep -q '^ok - ' <<<"$out"; then
        not_ok "grpc-echo over $dp: the gRPC client ran" "$(first_lines "$out")"
        return
    fi
    sed -n -e "s/^\(not ok\|ok\|skip\) - /\1 - grpc-echo over $dp: /p" <<<"$out"
}

cat >"$WORK/grpc.conf" <<'EOF'
# a pool of 2 threads and a short queue: overload is reachable with a few concurrent slow calls
[offload]
max_threads = 2
min_threads = 2
queue_max = 4
EOF

topo_down $TOPO
topo_up $TOPO >/dev/null
for dp in $DATAPATHS; do
    case $dp in
    socket)
        PORT=8080
        ARGS=(--datapath socket --http $PORT)
        STOPPED="stopped"
        ;;
    xdp)
        PORT=80
        ARGS=(--dev "$DEV" --http $PORT)
        STOPPED="stopped, every frame returned"
        agent load --dev "$DEV" >/dev/null
        agent service add --dev "$DEV" --addr $SRV4 --port $PORT >/dev/null
        ;;
    *)
        not_ok "datapath $dp" "expected socket or xdp"
        continue
        ;;
    esac
    if [ -n "$HELLO" ]; then
        start_app "hello-$dp" "$HELLO" "${ARGS[@]}"
        hello_cases "$dp"
        topo_stop_server "hello-$dp" "hello: $STOPPED"
    fi
    if [ -n "$GRPC_ECHO" ]; then
        start_app "grpc-echo-$dp" "$GRPC_ECHO" --config "$WORK/grpc.conf" "${ARGS[@]}"
        grpc_cases "$dp"
        topo_stop_server "grpc-echo-$dp" "grpc-echo: $STOPPED"
    fi
    [ "$dp" = xdp ] && agent unload --dev "$DEV" >/dev/null
done

if make_install uninstall PREFIX="$PREFIX" && [ -z "$(installed_files "$PREFIX")" ]; then
    ok "uninstall from the temporary prefix removes every installed file"
else
    not_ok "uninstall from the temporary prefix removes every installed file" "left: $(installed_files "$PREFIX" | head -3 | tr '\n' ' ')"
fi
