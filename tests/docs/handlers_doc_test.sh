#!/usr/bin/env bash
# handlers_doc_test.sh — docs/handlers.md's examples are real: every ```c block compiles, every
# ```routes block compiles with sluice-routegen, and every handler and middleware those routes name
# is defined in the page or among the library's built-in handlers.
#
#   tests/docs/handlers_doc_test.sh BUILD_DIR
#
# Each ```c block is a whole file (its first line names it: "/* name.c — ..."), compiled alone with
# cc -std=gnu11 -Wall -Wextra -Werror -Iinclude -fsyntax-only, as an app's would be against the
# installed headers. No server runs: a few seconds in all.
set -u

BUILD=${1:?usage: handlers_doc_test.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"

DOC=docs/handlers.md
CC=${CC:-cc}
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
cd "$ROOT" || exit 1
ROUTEGEN=$BUILD/bin/sluice-routegen

# blocks LANG: writes each ```LANG block of the page to $SCRATCH/LANG.N, prints N
blocks() {
    awk -v lang="$1" -v dir="$SCRATCH" '
        /^```/ && inside { inside = 0; close(file); next }
        $0 == "```" lang { inside = 1; n++; file = dir "/" lang "." n; printf "" > file; next }
        inside { print > file }
        END { print n + 0 }' "$DOC"
}

nc=$(blocks c)
nroutes=$(blocks routes)
check "$DOC has C examples" test "$nc" -gt 0
check "$DOC has a routes file" test "$nroutes" -gt 0

for i in $(seq 1 "$nc"); do
    src=$SCRATCH/c.$i
    name=$(sed -n '1s|^/\* \([A-Za-z0-9_.]*\.c\) .*|\1|p' "$src")
    name=${name:-block $i}
    mv "$src" "$SCRATCH/$i.c"
    expect "$name compiles with -Wall -Wextra -Werror" 0 "" \
        "$CC" -std=gnu11 -Wall -Wextra -Werror -Iinclude -fsyntax-only "$SCRATCH/$i.c"
done

if [ ! -x "$ROUTEGEN" ]; then
    not_ok "sluice-routegen is built" "no $ROUTEGEN (make BUILD=$BUILD first)"
    exit 1
fi
for i in $(seq 1 "$nroutes"); do
    out=$SCRATCH/routes.$i.c
    expect "routes block $i: sluice-routegen accepts it" 0 "" "$ROUTEGEN" "$SCRATCH/routes.$i" "$out"
    check "routes block $i: its router compiles" \
        "$CC" -std=gnu11 -Wall -Wextra -Werror -Iinclude -fsyntax-only "$out"
    missing=""
    for fn in $(sed -n 's/^int \(\(handler\|middleware\)_[a-z0-9_]*\)(struct http_request \*req);$/\1/p' "$out"); do
        grep -qs "^int $fn(struct http_request \*req)$" "$SCRATCH"/*.c server/http/handlers/*.c ||
            missing+=" $fn"
    done
    if [ -z "$missing" ]; then
        ok "routes block $i: every handler and middleware it names is defined"
    else
        not_ok "routes block $i: every handler and middleware it names is defined" "missing:$missing"
    fi
done
