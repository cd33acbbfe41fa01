#!/usr/bin/env bash
# The runtime dependencies are exactly hyper, hyper-util, tokio and
# http-body-util: adding one needs a measured reason in its commit message,
# and this check makes the addition a conscious edit here too.
set -euo pipefail
cd "$(dirname "$0")/.."

want="http-body-util hyper hyper-util tokio"
got=$(cargo tree --locked --edges normal --depth 1 --prefix none --format '{p}' |
    tail -n +2 | awk '{ print $1 }' | sort -u | xargs)
if [[ $got != "$want" ]]; then
    echo "error: runtime dependencies are '$got', expected '$want'" >&2
    echo "(a new one needs a measured reason, binary size, speed or safety, in its commit message)" >&2
    exit 1
fi
echo "runtime dependencies: $got"
