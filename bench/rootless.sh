#!/usr/bin/env bash
# What rootless podman costs, measured side by side in one run, as root: the
# scratch image's /api/time through
#
#   rootless podman   as the user of scripts/rootless-user.sh, -p through
#                     slirp4netns (rootlessport), and with --network=host
#   rootful podman    -p through netavark's bridge
#   the host          the image's own binary, no container
#
# requests/s and p99 (wrk, loopback, ROUNDS rounds of DURATION s, the median
# round), and start-to-first-200: from `podman run -d` (or exec) to the first
# 200 from /api/time (the median of ROUNDS starts). Every container runs with
# the hardening flags and the seccomp profile. Nothing is pinned to a core:
# rootless podman on cgroup v1 has no cpuset, so nobody gets one. Writes
# docs/results/rootless.md (RESULTS).
#
#   bench/rootless.sh                       # about a minute and a half
#   ROUNDS=5 DURATION=10 bench/rootless.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh # hardening_flags, seccomp_profile, unpack, extract_binary

((EUID == 0)) || { echo "error: bench/rootless.sh compares rootful with rootless podman: run it as root" >&2; exit 1; }
image=${IMAGE:-$repo:scratch-amd64}
rounds=${ROUNDS:-3}
duration=${DURATION:-5}
connections=${CONNECTIONS:-32}
results=${RESULTS:-docs/results/rootless.md}
port=18431

scripts/rootless-user.sh --images "$image" >/dev/null
work=$(mktemp -d)
chmod 0755 "$work"
names=()
cleanup() {
    for n in "${names[@]}"; do
        podman rm -f -t 0 "$n" >/dev/null 2>&1 || true
        scripts/rootless-user.sh --run podman rm -f -t 0 "$n" >/dev/null 2>&1 || true
    done
    [[ -z ${host_pid:-} ]] || kill "$host_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
unpack "$image" "$work/image"
extract_binary "$work/image" "$work/moscow-time"
chmod 0755 "$work/moscow-time"

# first_200 T0: waits (10 s at most) for /api/time; prints the ms since T0.
first_200() {
    local _
    for _ in $(seq 2000); do
        if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/api/time" 2>/dev/null; then
            echo $(($(date +%s%3N) - $1))
            return
        fi
        sleep 0.005
    done
    echo "error: no 200 on 127.0.0.1:$port within 10 s" >&2
    return 1
}
# median: of the numbers on stdin.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# start MODE NAME: starts the server the MODE way on $port, detached.
start() {
    local flags=("${hardening_flags[@]}" --security-opt="seccomp=$seccomp_profile")
    case $1 in
    host)
        PORT=$port HOST=127.0.0.1 "$work/moscow-time" >/dev/null 2>&1 &
        host_pid=$!
        ;;
    rootful) podman run -d --pull=never --name "$2" "${flags[@]}" -p "127.0.0.1:$port:8080" "$image" >/dev/null ;;
    rootless)
        scripts/rootless-user.sh --run podman run -d --pull=never --name "$2" "${flags[@]}" \
            -p "127.0.0.1:$port:8080" "$image" >/dev/null
        ;;
    rootless-host-net)
        scripts/rootless-user.sh --run podman run -d --pull=never --name "$2" "${flags[@]}" \
            --network=host -e PORT="$port" -e HOST=127.0.0.1 "$image" >/dev/null
        ;;
    esac
}
stop() {
    case $1 in
    host) kill "$host_pid"; wait "$host_pid" || true; host_pid= ;;
    rootful) podman rm -f -t 0 "$2" >/dev/null 2>&1 ;;
    *) scripts/rootless-user.sh --run podman rm -f -t 0 "$2" >/dev/null 2>&1 ;;
    esac
}

modes=(rootless rootless-host-net rootful host)
declare -A label=(
    [rootless]="rootless podman, -p (slirp4netns, rootlessport)"
    [rootless-host-net]="rootless podman, --network=host"
    [rootful]="rootful podman, -p (netavark bridge)"
    [host]="the binary on the host"
)
rows=()
for mode in "${modes[@]}"; do
    starts=() rps=() p99=()
    for round in $(seq "$rounds"); do
        name=mt-bench-$mode-$$-$round
        names+=("$name")
        t0=$(date +%s%3N)
        start "$mode" "$name"
        starts+=("$(first_200 "$t0")")
        out=$(wrk -t1 -c"$connections" -d"${duration}s" --latency "http://127.0.0.1:$port/api/time")
        rps+=("$(awk '/^Requests\/sec:/ { printf "%d", $2 }' <<<"$out")")
        # wrk prints 99% as e.g. 1.23ms or 850.00us.
        p99+=("$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; printf "%.2f", v }' <<<"$out")")
        stop "$mode" "$name"
    done
    r=$(printf '%s\n' "${rps[@]}" | median)
    rows+=("| ${label[$mode]} | $r | $(printf '%s\n' "${p99[@]}" | median) | $(printf '%s\n' "${starts[@]}" | median) |")
    echo "${label[$mode]}: $r requests/s" >&2
done

{
    echo "# Rootless podman against rootful and the host"
    echo
    echo "Written by \`just bench-rootless\` (bench/rootless.sh); do not edit by hand."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "- machine: $(scripts/machine.sh)"
    echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- bench scripts || echo ", with uncommitted changes to bench/ or scripts/")"
    echo "- $(podman --version), $(slirp4netns --version | head -n 1), $(runc --version | head -n 1), cgroup $(
        [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]] && echo v2 || echo v1
    )"
    echo "- load: $image, GET /api/time on 127.0.0.1, wrk 1 thread, $connections connections, $rounds rounds of $duration s (the median round); nothing pinned; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- start to first 200: from \`podman run -d\` (or exec) to the first 200 from /api/time, polled every 5 ms; the median of $rounds starts"
    echo
    echo "| how it runs | requests/s | p99 (ms) | start to first 200 (ms) |"
    echo "| --- | ---: | ---: | ---: |"
    printf '%s\n' "${rows[@]}"
} >"$results"
cat "$results"
