#!/usr/bin/env bash
# Benchmarks moscow-time on /api/time against a tuned nginx serving a file of
# the same size and against a bare hyper hello server (examples/hello.rs):
# requests/s, p50/p99 latency, idle and loaded RSS, start-to-first-200,
# SIGTERM-to-exit and static binary size, as a markdown table with the
# project's goals marked PASS/MISS (informational; a miss never fails).
#
# Servers run pinned to core 1, wrk to core 0. The measuring itself lives in
# bench/bench.py (python3 stdlib); this wrapper checks the tools and builds.
#
#   bench/run.sh                      # 5 rounds x 3 servers, 5 s each (~2 min)
#   bench/run.sh --rounds 3 --duration 3
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1: $2"); }
need wrk "apt-get install -y wrk"
need curl "apt-get install -y curl"
need taskset "apt-get install -y util-linux"
need python3 "apt-get install -y python3"
need cargo "install Rust with rustup"
# Debian puts nginx in /usr/sbin, which a non-root PATH may lack.
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "$nginx_bin" ]] || missing+=("nginx: apt-get install -y nginx-light")
if ((${#missing[@]})); then
    printf 'error: bench needs these tools:\n' >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
fi

target="${TARGET:-x86_64-unknown-linux-gnu}"
release="${CARGO_TARGET_DIR:-target}/$target/release"

# Same profile and static flags as `just build`; a no-op when it already ran.
# RUSTFLAGS with an explicit --target do not reach proc-macros. Two runs:
# an example turns on the dev-dependencies' features, and the binary measured
# must be the one `just build` ships.
export RUSTFLAGS="-C target-feature=+crt-static"
cargo build --release --locked --target "$target" --example hello
cargo build --release --locked --target "$target" --bin moscow-time

exec python3 bench/bench.py \
    --server "$release/moscow-time" \
    --hello "$release/examples/hello" \
    --nginx "$nginx_bin" \
    "$@"
