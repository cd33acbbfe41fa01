#!/usr/bin/env bash
# Benchmarks moscow-time on /api/time against a tuned nginx serving a file of
# the same size and against a bare hyper hello server (examples/hello.rs),
# each Rust server built as the static-pie musl binary the images ship and as
# static glibc:
#
#   bench/bench.py   requests/s, p50/p99 latency, idle and loaded RSS, start
#                    and stop times, binary size, with 1 and 2 worker threads
#   bench/stress.py  latency at a constant rate (bench/pace), requests/s and RSS at
#                    64 to 10,000 connections, memory per idle connection
#   bench/instructions.py  instructions per request (callgrind), glibc
#                    against musl, text and JSON log, 1 and 2 threads
#
# as markdown tables with the project's goals marked PASS/MISS (informational;
# a miss never fails). With one thread servers run pinned to core 1, the load
# generator to core 0. Python stdlib only; this wrapper checks tools, builds.
#
#   bench/run.sh                      # about 15 minutes
#   bench/run.sh --rounds 2 --duration 3   (options for bench.py)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1: $2"); }
need wrk "apt-get install -y wrk"
need curl "apt-get install -y curl"
need taskset "apt-get install -y util-linux"
need python3 "apt-get install -y python3"
need cargo "install Rust with rustup"
need valgrind "apt-get install -y valgrind (instructions per request)"
# Debian puts nginx in /usr/sbin, which a non-root PATH may lack.
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "$nginx_bin" ]] || missing+=("nginx: apt-get install -y nginx-light")
if ((${#missing[@]})); then
    printf 'error: bench needs these tools:\n' >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
fi

# 10,000 connections need more descriptors than the usual 1024 (wrk, servers).
ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= 12000)) || { echo "error: bench needs ulimit -n >= 12000 (hard limit is $(ulimit -Hn))" >&2; exit 1; }

arch=$(uname -m)
gnu="${CARGO_TARGET_DIR:-target}/$arch-unknown-linux-gnu/release"
musl="${CARGO_TARGET_DIR:-target}/$arch-unknown-linux-musl/release"

# The same builds as `just build`, both ways (a no-op when up to date): the
# static-pie musl binary the images ship, and static glibc for comparison.
# Two runs each: an example turns on the dev-dependencies' features, and the
# binary measured must be the one `just build` ships. SERVER_MUSL and
# HELLO_MUSL name musl binaries built elsewhere instead.
TARGET=$arch-unknown-linux-gnu musl/build.sh --example hello
TARGET=$arch-unknown-linux-gnu musl/build.sh --bin moscow-time
if [[ -z ${SERVER_MUSL:-} || -z ${HELLO_MUSL:-} ]]; then
    musl/build.sh --example hello
    musl/build.sh --bin moscow-time
fi
server_musl=${SERVER_MUSL:-$musl/moscow-time}
hello_musl=${HELLO_MUSL:-$musl/examples/hello}

# The constant-rate load generator of the latency table (bench/pace/src/main.rs).
cargo build --release --locked --quiet --manifest-path bench/pace/Cargo.toml --target-dir target/pace
pace=target/pace/release/pace

python3 bench/bench.py \
    --server "$gnu/moscow-time" --hello "$gnu/examples/hello" \
    --server-musl "$server_musl" --hello-musl "$hello_musl" \
    --nginx "$nginx_bin" "$@"
echo
python3 bench/stress.py \
    --server "$gnu/moscow-time" --hello "$gnu/examples/hello" \
    --server-musl "$server_musl" --hello-musl "$hello_musl" \
    --nginx "$nginx_bin" --pace "$pace"
echo
exec python3 bench/instructions.py \
    --server "$gnu/moscow-time" --hello "$gnu/examples/hello" \
    --server-musl "$server_musl" --hello-musl "$hello_musl"
