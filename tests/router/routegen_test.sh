#!/usr/bin/env bash
# routegen_test.sh — sluice-routegen through its output and its refusals.
#
#   tests/router/routegen_test.sh BUILD_DIR            UPDATE_GOLDEN=1 rewrites the golden files
#
# Golden tests: each tests/router/golden/X.routes must generate exactly X.c.golden, twice the same,
# and the output must compile warning-free. Then every documented problem with a routes file, one
# bad file each: exit status 2, exactly the expected "FILE:LINE: problem" lines, and no output file
# (nor temporary file) left behind. Then usage and I/O errors. The generated router's behaviour is
# tests/router/router_test.c's business.
set -u

BUILD=${1:?usage: routegen_test.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"

ROUTEGEN=$(cd "$ROOT" && realpath "$BUILD/bin/sluice-routegen")
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
cd "$ROOT" || exit 1 # golden files name their routes file relative to the repository

if [ ! -x "$ROUTEGEN" ]; then
    not_ok "sluice-routegen is built" "no $BUILD/bin/sluice-routegen (make BUILD=$BUILD first)"
    exit 1
fi

# ---- golden output -----------------------------------------------------------------------------
for routes in tests/router/golden/*.routes; do
    name=$(basename "$routes" .routes)
    golden=${routes%.routes}.c.golden
    out=$SCRATCH/$name.c
    expect "golden $name: generates" 0 "" "$ROUTEGEN" "$routes" "$out"
    [ "${UPDATE_GOLDEN:-0}" = 1 ] && cp "$out" "$golden"
    if diff=$(diff -u "$golden" "$out" 2>&1); then
        ok "golden $name: output is $golden"
    else
        not_ok "golden $name: output is $golden" "$(first_lines "$(printf '%s' "$diff" | sed -n '3,$p')")"
    fi
    "$ROUTEGEN" "$routes" "$out.again"
    check "golden $name: the same input gives the same bytes" cmp "$out" "$out.again"
    check "golden $name: output compiles with -Wall -Wextra -Werror" \
        "${CC:-cc}" -std=gnu11 -Wall -Wextra -Werror -Iinclude -fsyntax-only "$out"
done

# ---- problems with a routes file ---------------------------------------------------------------
# error_case NAME TEXT LINE:PROBLEM...  TEXT (printf %b escapes) must be refused with status 2 and
# exactly these lines, each prefixed with the routes file's name, and leave the output directory empty.
error_case() {
    local name=$1 text=$2 dir want line
    shift 2
    dir=$SCRATCH/case$((++CASES))
    mkdir -p "$dir/out"
    printf '%b' "$text" >"$dir/bad.routes"
    want=""
    for line in "$@"; do want+="${want:+$'\n'}$dir/bad.routes:$line"; done
    OUT=$("$ROUTEGEN" "$dir/bad.routes" "$dir/out/routes.c" 2>&1)
    STATUS=$?
    if [ "$STATUS" != 2 ]; then
        not_ok "$name" "exit status $STATUS, expected 2; output: $(first_lines "$OUT")"
    elif [ "$OUT" != "$want" ]; then
        not_ok "$name" "output: $(first_lines "$OUT") expected: $(first_lines "$want")"
    elif [ -n "$(ls -A "$dir/out")" ]; then
        not_ok "$name" "left behind: $(ls -A "$dir/out" | tr '\n' ' ')"
    else
        ok "$name"
    fi
}
CASES=0
IDENT='(expected [a-z_][a-z0-9_]*)'
FIELDS='(expected METHODS PATH HANDLER [MIDDLEWARE,...])'

error_case "unknown method" 'GETS /a h\n' \
    "1: unknown method 'GETS' (expected GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS or *)"
error_case "methods are case-sensitive" '# a comment first\n\nget /a h\n' \
    "3: unknown method 'get' (expected GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS or *)"
error_case "empty method list" ', /a h\n' "1: empty method list"
error_case "empty method in a list" 'GET,,POST /a h\n' "1: empty method name in 'GET,,POST'"
error_case "method list ending in a comma" 'GET, /a h\n' "1: empty method name in 'GET,'"
error_case "'*' listed with methods" 'GET,* /a h\n' "1: '*' stands for every method and cannot be listed with others"
error_case "method listed twice" 'GET,POST,GET /a h\n' "1: method GET listed twice"
error_case "path not starting with /" 'GET a/b h\n' "1: path 'a/b' does not start with '/'"
error_case "'?' in a path" 'GET /a?b=1 h\n' "1: '?' in path '/a?b=1': query strings are stripped before routing"
error_case "empty parameter name" 'GET /a/:/b h\n' "1: parameter ':' has no name"
error_case "empty wildcard name" 'GET /a/* h\n' "1: wildcard '*' has no name"
error_case "wildcard not last" 'GET /a/*rest/b h\n' "1: wildcard '*rest' is not the last segment"
error_case "wildcard before a trailing slash" 'GET /a/*rest/ h\n' "1: wildcard '*rest' is not the last segment"
error_case "bad parameter name" 'GET /a/:Id h\n' "1: bad parameter name ':Id' $IDENT"
error_case "parameter is a whole segment" 'GET /a/:id.json h\n' "1: bad parameter name ':id.json' $IDENT"
error_case "bad wildcard name" 'GET /a/*9 h\n' "1: bad wildcard name '*9' $IDENT"
error_case "bad handler name" 'GET /a Show\n' "1: bad handler name 'Show' $IDENT"
error_case "handler name starting with a digit" 'GET /a 1h\n' "1: bad handler name '1h' $IDENT"
error_case "bad middleware name" 'GET /a h auth,Log\n' "1: bad middleware name 'Log' $IDENT"
error_case "empty middleware name" 'GET /a h auth,,log\n' "1: empty middleware name in 'auth,,log'"
error_case "parameter name twice" 'GET /a/:id/b/:id h\n' "1: name 'id' is captured twice"
error_case "parameter and wildcard with one name" 'GET /a/:x/*x h\n' "1: name 'x' is captured twice"
error_case "too many captures" 'GET /:a/:b/:c/:d/:e/:f/:g/:h/*i h\n' "1: too many captures: 9 (at most 8)"
error_case "duplicate route" 'GET /a h1\n# same again\nGET,POST /a h2\n' \
    "3: duplicate route: GET /a is already routed on line 1"
error_case "duplicate route through '*'" 'POST /u/:id h1\n* /u/:id h2\n' \
    "2: duplicate route: POST /u/:id is already routed on line 1"
error_case "parameters named two ways" 'GET /u/:id h1\nGET /u/:uid/edit h2\n' \
    "2: parameter ':uid' conflicts with ':id' on line 1 (same position, another name)"
error_case "wildcards named two ways" 'GET /f/*a h1\nPOST /f/*b h2\n' \
    "2: wildcard '*b' conflicts with '*a' on line 1 (same position, another name)"
error_case "control byte" 'GET /a\x01 h\n' "1: bad byte 0x01 in column 7 (printable ASCII only)"
error_case "non-ASCII byte" 'GET /caf\xc3\xa9 h\n' "1: bad byte 0xc3 in column 9 (printable ASCII only)"
error_case "carriage return" 'GET /a h\r\n' "1: bad byte 0x0d in column 9 (printable ASCII only)"
error_case "NUL byte" 'GET /a\x00b h\n' "1: bad byte 0x00 in column 7 (printable ASCII only)"
error_case "line too long" "GET /$(printf 'a%.0s' $(seq 4092)) h\n" "1: line too long: 4099 bytes (at most 4096)"
error_case "missing handler" 'GET /a\n' "1: missing handler $FIELDS"
error_case "missing path and handler" '  GET  # nothing else\n' "1: missing path and handler $FIELDS"
error_case "offload twice" 'GET /a h offload,auth,offload\n' "1: offload twice in 'offload,auth,offload'"
error_case "extra field" 'GET /a h auth extra\n' "1: unexpected field 'extra' after the middlewares"
error_case "every bad line is reported" 'GET /a h\nGETS /b h\nGET /c h\nGET c h\n' \
    "2: unknown method 'GETS' (expected GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS or *)" \
    "4: path 'c' does not start with '/'"

# ---- what a routes file may do -----------------------------------------------------------------
ACCEPT=$SCRATCH/accept
mkdir -p "$ACCEPT"
printf 'GET\t/a\th\n  POST /b   h   m1,m2  # spaces, tabs, a comment\nGET /c h' >"$ACCEPT/ok.routes"
expect "tabs, spaces, comments and no final newline" 0 "" "$ROUTEGEN" "$ACCEPT/ok.routes" "$ACCEPT/ok.c"
check "the longest line is accepted" bash -c "printf 'GET /%s h\n' \$(printf 'a%.0s' \$(seq 4089)) >'$ACCEPT/long.routes' &&
    '$ROUTEGEN' '$ACCEPT/long.routes' '$ACCEPT/long.c'"
: >"$ACCEPT/empty.routes"
expect "an empty file is a router without routes" 0 "" "$ROUTEGEN" "$ACCEPT/empty.routes" "$ACCEPT/empty.c"
check "that router says so" grep -q ".route_count = 0," "$ACCEPT/empty.c"
check "eight captures are accepted" bash -c "printf 'GET /:a/:b/:c/:d/:e/:f/:g/*h h\n' >'$ACCEPT/eight.routes' &&
    '$ROUTEGEN' '$ACCEPT/eight.routes' '$ACCEPT/eight.c'"
check "the output is readable by all, as the umask says" bash -c "umask 022 && '$ROUTEGEN' '$ACCEPT/ok.routes' '$ACCEPT/mode.c' &&
    [ \"\$(stat -c %a '$ACCEPT/mode.c')\" = 644 ]"
printf 'keep\n' >"$ACCEPT/existing.c"
printf 'GETS /a h\n' >"$ACCEPT/bad.routes"
"$ROUTEGEN" "$ACCEPT/bad.routes" "$ACCEPT/existing.c" 2>/dev/null
check "a refused file leaves an existing output as it was" grep -qx keep "$ACCEPT/existing.c"

# ---- usage and I/O -----------------------------------------------------------------------------
expect "--help shows the usage" 0 "^usage: sluice-routegen \[--name NAME\] ROUTES_FILE OUTPUT.c$" "$ROUTEGEN" --help
expect "--help documents the grammar" 0 "METHODS PATH HANDLER \[MIDDLEWARE,MIDDLEWARE,...\]" "$ROUTEGEN" --help
expect "no arguments" 2 "^usage: " "$ROUTEGEN"
expect "one argument" 2 "^usage: " "$ROUTEGEN" "$ACCEPT/ok.routes"
expect "three arguments" 2 "^usage: " "$ROUTEGEN" "$ACCEPT/ok.routes" "$ACCEPT/x.c" extra
expect "unknown option" 2 "^sluice-routegen: error: unknown option '-x'$" "$ROUTEGEN" -x "$ACCEPT/ok.routes" "$ACCEPT/x.c"
# --name: the one external symbol takes it, and two routers compiled under two names link side by side
expect "--name names the router" 0 "" "$ROUTEGEN" --name shop_router "$ACCEPT/ok.routes" "$SCRATCH/shop.c"
"${CC:-cc}" -std=gnu11 -Iinclude -c "$SCRATCH/shop.c" -o "$SCRATCH/shop.o"
expect "--name: the router is the output's one external definition" 0 "^shop_router$" \
    bash -c "nm --defined-only -g '$SCRATCH/shop.o' | awk '{ print \$3 }'"
for bad in route_x router_x match_x 9lives Shop ""; do
    expect "--name '$bad' is refused" 2 "^sluice-routegen: error: --name '$bad': expected" \
        "$ROUTEGEN" --name "$bad" "$ACCEPT/ok.routes" "$SCRATCH/bad-name.c"
done
check "a refused --name writes nothing" test ! -e "$SCRATCH/bad-name.c"
expect "missing routes file" 1 \
    "^sluice-routegen: error: cannot open '$SCRATCH/nope.routes': No such file or directory$" \
    "$ROUTEGEN" "$SCRATCH/nope.routes" "$ACCEPT/x.c"
expect "routes file is a directory" 1 "^sluice-routegen: error: cannot read '$SCRATCH': Is a directory$" \
    "$ROUTEGEN" "$SCRATCH" "$ACCEPT/x.c"
expect "output directory missing" 1 \
    "^sluice-routegen: error: cannot create a temporary file beside '$SCRATCH/no/dir.c': No such file or directory$" \
    "$ROUTEGEN" "$ACCEPT/ok.routes" "$SCRATCH/no/dir.c"
check "I/O errors leave no output" test ! -e "$ACCEPT/x.c"
