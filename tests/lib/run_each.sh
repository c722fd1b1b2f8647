#!/usr/bin/env bash
# run_each.sh — one suite made of several C test binaries (tests/run.sh runs one command a suite):
#
#   tests/lib/run_each.sh BINARY...
#
# Runs every binary in turn, whatever the one before reported, their ok/not ok lines passing through;
# exit status 1 when any of them failed or is missing.
set -u
status=0
for bin in "$@"; do
    if [ ! -x "$bin" ]; then
        echo "not ok - $bin: not built (make BUILD=<dir> tests)"
        status=1
        continue
    fi
    "$bin" || status=1
done
exit $status
