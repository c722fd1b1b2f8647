#!/usr/bin/env bash
# layering_test.sh — the module boundaries of server/, checked from the include lines.
#
#   tests/layering/layering_test.sh [ROOT]      (ROOT: a source tree, the repository by default)
#
# Every quoted include names its file by path from a root ("net/tcp.h" from server/, "common/err.h"
# from the top, "bpf/X.skel.h" from the build), so the folder a file depends on is the first part of
# each include. From those edges this checks the architecture's layering (ARCHITECTURE.md, "Seams"):
#   - server/net/ (the TCP engine) reaches nothing of sluice but common/ and maps/;
#   - afxdp/ and sock/ (the datapaths) reach net/, app/, sched/, common/ and maps/ only; afxdp/ also
#     bpf/, for the skeleton of the BPF program it runs (bpf/source_release.bpf.c);
#   - http/ and h2/ never reach a datapath, however indirectly;
#   - log/ (the access log: rings, logger thread, formats) reaches only common/, so that the HTTP layer
#     and the scheduler can both use it;
#   - no folder of server/ includes one that includes it back (no cycle in the folder graph);
#   - no two source files of server/ share a name (h2_frame.c, not a second frame.c);
#   - include/sluice/ (the public API an app builds against, "sluice/http.h" from include/) includes
#     nothing but itself, or an installed app could not compile.
# Subfolders count as their top folder (http/handlers/ is http/); server/'s own files (main.c,
# config.c) are the application on top and count as "server". The last case proves the check can
# fail: it plants an include of afxdp/ in a copy of server/http/ and expects a complaint.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=${1:-.}
. tests/lib/tap.sh

# edges ROOT: one line "FROM TO FILE:LINE" per quoted include between folders of server/ (and from
# them to common/, maps/, bpf/); a name that resolves from no root is reported as TO "?".
edges() {
    local root=$1 f line inc to from
    while IFS= read -r f; do
        from=${f#server/}
        case $from in include/*) from=include ;; */*) from=${from%%/*} ;; *) from=server ;; esac
        while IFS=: read -r line inc; do
            inc=${inc#*\"}
            inc=${inc%%\"*}
            to=${inc%%/*}
            [ "$to" = "$inc" ] && to=server
            [ -e "$root/include/$inc" ] && to=include
            if [ ! -e "$root/$inc" ] && [ ! -e "$root/server/$inc" ] && [ ! -e "$root/include/$inc" ] &&
                [[ $inc != bpf/*.skel.h ]]; then
                to="?"
            fi
            [ "$to" = "$from" ] || echo "$from $to $f:$line"
        done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$root/$f")
    done < <(cd "$root" && find server common maps include -name '*.[ch]' | sort)
}

# reaches EDGES FROM TO: does a path of edges lead from folder FROM to folder TO? Prints the path
# ("http/ -> app/ -> afxdp/") and the include that starts it when it does.
reaches() {
    local edges=$1 from=$2 to=$3 todo=("$2") cur next
    local -A via=(["$2"]=)
    while [ ${#todo[@]} -gt 0 ]; do
        cur=${todo[0]}
        todo=("${todo[@]:1}")
        for next in $(awk -v f="$cur" '$1 == f { print $2 }' <<<"$edges" | sort -u); do
            [ -n "${via[$next]+set}" ] && continue
            via[$next]=$cur
            if [ "$next" = "$to" ]; then
                local path="$to/" at=$to
                while [ "$at" != "$from" ]; do
                    at=${via[$at]}
                    path="$at/ -> $path"
                done
                echo "$path ($(awk -v f="$from" -v t="${path#*-> }" 'BEGIN { sub("/.*", "", t) } $1 == f && $2 == t { print $3; exit }' <<<"$edges"))"
                return 0
            fi
            todo+=("$next")
        done
    done
    return 1
}

# report NAME OFFENDERS: one ok/not ok line; offenders are printed under a failure.
failures=0
report() {
    if [ -z "$2" ]; then
        ok "$1"
    else
        not_ok "$1" "$(wc -l <<<"$2") offending place(s)"
        sed 's/^/#   /' <<<"$2"
        failures=$((failures + 1))
    fi
}

# only EDGES FOLDER ALLOWED...: the edges out of FOLDER that go elsewhere than ALLOWED.
only() {
    local edges=$1 folder=$2
    shift 2
    awk -v f="$folder" -v ok=" $* " '$1 == f && index(ok, " " $2 " ") == 0 { print $3 ": includes " $2 "/" }' <<<"$edges"
}

check_tree() {
    local root=$1 edges folders f g bad path
    edges=$(edges "$root")
    report "every quoted include names its file by path from a root" \
        "$(awk '$2 == "?" { print $3 }' <<<"$edges")"
    report "no two source files of server/ share a name" \
        "$(cd "$root" && find server -name '*.[ch]' | awk -F/ '{ n[$NF] = n[$NF] " " $0; c[$NF]++ } END { for (f in c) if (c[f] > 1) print f ":" n[f] }')"
    report "net/ includes only common/ and maps/" "$(only "$edges" net common maps)"
    report "include/ (the public API) includes nothing of sluice but itself" "$(only "$edges" include)"
    report "log/ includes only common/" "$(only "$edges" log common)"
    report "common/ and maps/ include nothing of server/" \
        "$(only "$edges" common maps; only "$edges" maps common)"
    report "afxdp/ includes only net/, app/, sched/, common/, maps/ and bpf/ (the skeletons it runs)" \
        "$(only "$edges" afxdp net app sched common maps bpf)"
    report "sock/ includes only net/, app/, sched/, common/ and maps/" "$(only "$edges" sock net app sched common maps)"
    for f in http h2; do
        bad=""
        for g in afxdp sock; do
            path=$(reaches "$edges" "$f" "$g") && bad="$bad$path"$'\n'
        done
        report "$f/ reaches no datapath (afxdp/, sock/)" "${bad%$'\n'}"
    done
    folders=$(awk '$1 != "common" && $1 != "maps" { print $1 }' <<<"$edges" | sort -u)
    bad=""
    for f in $folders; do
        for g in $(awk -v f="$f" '$1 == f && $2 != "common" && $2 != "maps" { print $2 }' <<<"$edges" | sort -u); do
            path=$(reaches "$edges" "$g" "$f") && bad="$bad$f/ includes $g/, and $path"$'\n'
        done
    done
    report "no folder of server/ includes one that includes it back" "${bad%$'\n'}"
}

check_tree "$ROOT"
status=$((failures > 0))

# The check must be able to fail: the same tree with server/http/ including a datapath.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r server common maps include "$scratch"/
http_file=$(cd "$scratch" && ls server/http/*.c | head -1)
sed -i '0,/^#include "/s//#include "afxdp\/xdp_worker.h"\n&/' "$scratch/$http_file"
if check_tree "$scratch" | grep -q '^not ok - http/ reaches no datapath'; then
    ok "the check fails when $http_file includes afxdp/xdp_worker.h"
else
    not_ok "the check fails when $http_file includes afxdp/xdp_worker.h" "the planted include went unnoticed"
    status=1
fi
exit $status
