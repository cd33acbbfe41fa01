#!/usr/bin/env bash
# Measures the syscalls moscow-time makes and writes the seccomp allow-list
# deploy/seccomp/moscow-time.json (`just seccomp`).
#
#   deploy/seccomp/generate.sh [--check]
#
# The binary is taken from the image users run (IMAGE) and traced with
# `strace -f` through everything it does: serving every route, keep-alive,
# bad and oversized requests, a slow client cut off, running out of file
# descriptors, the healthcheck subcommand (healthy and not), SIGTERM with a
# request in flight and SIGINT idle, --help, --version, usage and config
# errors, a port in use, IPv6. The arm64 binary (ARM64_IMAGE) is traced the
# same way under `qemu-aarch64-static -strace` when both are there.
# Then the container itself runs under the new profile with the kernel
# logging, instead of refusing, anything outside it (SCMP_ACT_LOG): what the
# container runtime still does between loading the filter and exec'ing the
# binary (runc's last steps) joins the list too.
#
# --check writes nothing: it fails if a traced syscall is missing from the
# committed profile (the code needs something new: run `just seccomp`).
#
# Environment:
#   IMAGE=localhost/moscow-time:scratch         the binary to trace
#   ARM64_IMAGE=localhost/moscow-time:scratch-arm64  traced if present
# Needs: podman, strace, curl, jq, and root for the kernel log (dmesg).
set -Eeuo pipefail
# A step of the workload that fails says which one (it often fails silently).
trap 'echo "error: $0: line $LINENO: \`$BASH_COMMAND\` failed" >&2' ERR

# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
profile=$seccomp_profile
image=${IMAGE:-localhost/moscow-time:scratch}
arm64_image=${ARM64_IMAGE:-localhost/moscow-time:scratch-arm64}
check=false
case ${1:-} in
"") ;;
--check) check=true ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
for tool in podman strace curl jq; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (Debian: apt-get install $tool)" >&2; exit 1; }
done
podman image exists "$image" || { echo "error: image $image not found (build it with \`just images\`)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    podman rm -f -t 0 "mt-k8s-seccomp-$$" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# extract IMAGE OUT: the binary from IMAGE, without running the image.
extract() {
    local ctr
    ctr=$(podman create --pull=never "$1") || return 1
    podman cp "$ctr:/usr/local/bin/moscow-time" "$2" && podman rm "$ctr" >/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# traced PID: the process the tracer at PID runs (strace's child), or PID
# itself (qemu-user emulates in its own process).
traced() {
    local child
    child=$(cat /proc/"$1"/task/*/children 2>/dev/null | awk '{ print $1; exit }')
    echo "${child:-$1}"
}

# raw PORT BYTES: sends BYTES on a fresh connection, prints the status line.
raw() {
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$1"
    printf '%b' "$2" >&"$fd"
    timeout 2 head -c 64 <&"$fd" | head -n 1 || true
    exec {fd}>&-
}

# workload TRACER...: runs the binary under TRACER (its last word is the
# binary) through all it does in production and in failure.
workload() {
    local port url pid fd
    port=$(free_port)
    url=http://127.0.0.1:$port
    # The server, with short timeouts so the slow paths run quickly, and a
    # descriptor limit low enough to run out of.
    (
        ulimit -n 64
        PORT=$port HOST=127.0.0.1 HEADER_READ_TIMEOUT_MS=300 SHUTDOWN_GRACE_MS=300 exec "$@"
    ) >"$work/server.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_for "$url/healthz"
    for path in / /api/time /healthz /readyz /metrics /nope; do
        curl -sS -o /dev/null "$url$path"
    done
    curl -sS -o /dev/null -I "$url/"
    curl -sS -o /dev/null -X POST -d x "$url/api/time"
    # Keep-alive and concurrency: several runtime threads wake and park.
    curl -sS -o /dev/null -o /dev/null -o /dev/null "$url/" "$url/api/time" "$url/metrics"
    seq 200 | sed "s|.*|url = \"$url/api/time\"|" >"$work/urls"
    curl -sS --no-progress-meter --parallel --parallel-max 32 -K "$work/urls" -o /dev/null -o /dev/null >/dev/null
    # Broken and oversized requests, a client that hangs up mid-request.
    raw "$port" 'GARBAGE\r\n\r\n' >/dev/null
    raw "$port" "GET / HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 20000 /dev/zero | tr '\0' a)\r\n\r\n" >/dev/null
    raw "$port" 'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' >/dev/null
    raw "$port" 'GET / HTTP/1.1\r\nHo' >/dev/null
    # A slow client, cut off by the header-read timeout.
    exec {fd}<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET / HTTP/1.1\r\n' >&"$fd"
    sleep 0.5
    exec {fd}>&-
    # Out of descriptors: accept fails and backs off, then recovers.
    python3 -c 'import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(80)]
time.sleep(0.3)' "$port"
    wait_for "$url/healthz"
    # The healthcheck subcommand: healthy, then a port nobody listens on.
    PORT=$port "$@" healthcheck
    PORT=$(free_port) "$@" healthcheck 2>/dev/null && return 1
    PORT=0 "$@" healthcheck 2>/dev/null && return 1
    # SIGTERM with a request half sent: the drain waits out the grace period.
    exec {fd}<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET /readyz HTTP/1.1\r\nHost: x\r\n' >&"$fd"
    sleep 0.1
    kill -TERM "$(traced "$pid")"
    wait "$pid" || { echo "error: the server did not exit 0 on SIGTERM" >&2; cat "$work/server.log" >&2; return 1; }
    exec {fd}>&-
    # SIGINT, idle, on IPv6 (where the machine has it).
    port=$(free_port)
    PORT=$port HOST=:: "$@" >/dev/null &
    pid=$!
    pids+=("$pid")
    wait_for "http://127.0.0.1:$port/healthz"
    curl -sS -o /dev/null -g "http://[::1]:$port/api/time" 2>/dev/null || true
    kill -INT "$(traced "$pid")"
    wait "$pid"
    # Everything that exits early.
    "$@" --version >/dev/null
    "$@" --help >/dev/null
    "$@" bogus 2>/dev/null && return 1
    PORT=80a "$@" 2>/dev/null && return 1
    python3 -c 'import socket, subprocess, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
sys.exit(subprocess.call(sys.argv[1:], env={"PORT": str(s.getsockname()[1]), "HOST": "127.0.0.1"}, stderr=subprocess.DEVNULL))' "$@" && return 1
    return 0
}

# The syscall names in an `strace -f` log (one process per file).
strace_names() {
    sed -E -n 's/^([0-9]+ +)?(<\.\.\. )?([a-z_][a-z0-9_]*)(\(| resumed>).*/\3/p' "$@" | sort -u
}
# The same from qemu-user's -strace log (`PID name(args) = ret`).
qemu_names() {
    sed -E -n 's/^[0-9]+ ([a-z_][a-z0-9_]*)\(.*/\1/p' "$@" | sort -u
}

echo "== tracing $image (amd64)"
extract "$image" "$work/moscow-time"
# Not traced: strace's own exec of the binary is the one syscall before it runs.
workload strace -f -ff -qq -o "$work/trace.amd64" "$work/moscow-time"
strace_names "$work"/trace.amd64* >"$work/amd64.names"
echo "$(wc -l <"$work/amd64.names") syscalls"
traced=$work/amd64.names

if podman image exists "$arm64_image" && command -v qemu-aarch64-static >/dev/null; then
    echo "== tracing $arm64_image (arm64, under qemu-aarch64-static)"
    extract "$arm64_image" "$work/moscow-time-arm64"
    QEMU_LOG_FILENAME=$work/trace.arm64.%d workload qemu-aarch64-static -strace "$work/moscow-time-arm64"
    qemu_names "$work"/trace.arm64* >"$work/arm64.names"
    echo "$(wc -l <"$work/arm64.names") syscalls"
    sort -u "$work/amd64.names" "$work/arm64.names" >"$work/all.names"
    traced=$work/all.names
else
    echo "== $arm64_image or qemu-aarch64-static missing: arm64 not traced"
fi

# profile NAMES_FILE RUNTIME_NAMES_FILE DEFAULT_ACTION: the profile as JSON.
profile() {
    jq -n --rawfile binary "$1" --rawfile runtime "$2" --arg default "$3" '
        def names: split("\n") | map(select(. != "")) | sort;
        # clone3 passes its flags in memory, where a filter cannot look:
        # ENOSYS makes libc fall back to clone, whose flags it can.
        ($binary | names | map(select(. != "clone" and . != "clone3"))) as $binary
        | (($runtime | names) - $binary) as $runtime
        | {
            comment: "moscow-time: the syscalls it makes, measured by deploy/seccomp/generate.sh (just seccomp); anything else fails with ENOSYS",
            defaultAction: $default,
            defaultErrnoRet: 38,
            architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            syscalls: ([
                { comment: "the binary: serving, healthcheck, shutdown, errors", names: $binary, action: "SCMP_ACT_ALLOW" },
                { comment: "threads only: clone without any namespace flag (CLONE_NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWCGROUP)",
                  names: ["clone"], action: "SCMP_ACT_ALLOW",
                  args: [{ index: 0, value: 2114060288, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }] },
                { comment: "clone3 hides its flags from the filter: refuse it so libc falls back to clone",
                  names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 }
            ] + if ($runtime | length) > 0 then
                [{ comment: "the container runtime, after it loads the filter and before it execs the binary", names: $runtime, action: "SCMP_ACT_ALLOW" }]
              else [] end)
        }'
}

if $check; then
    missing=$(comm -23 "$traced" <(jq -r '.syscalls[] | select(.action == "SCMP_ACT_ALLOW") | .names[]' "$profile" | sort -u) |
        grep -v -x -e clone3 || true)
    if [[ -n $missing ]]; then
        echo "error: the binary makes syscalls $profile does not allow: $(paste -sd ' ' <<<"$missing"); run \`just seccomp\`" >&2
        exit 1
    fi
    echo "every syscall traced is in $profile"
    exit 0
fi

# run_image PROFILE: the image, hardened, under PROFILE: serve, healthcheck, stop.
run_image() {
    local ctr=mt-k8s-seccomp-$$
    start_container "$ctr" "$image" --security-opt "seccomp=$1" &&
        curl -fsS -o /dev/null "http://$addr/api/time" &&
        podman healthcheck run "$ctr" >/dev/null 2>&1 &&
        podman stop -t 10 "$ctr" >/dev/null &&
        [[ $(podman inspect --format '{{.State.ExitCode}}' "$ctr") == 0 ]]
    local rc=$?
    podman rm -f -t 0 "$ctr" >/dev/null
    return $rc
}

# The container under the profile, logging what it lacks. The runtime's own
# syscalls after the filter is loaded show up in the kernel log (audit type
# 1326) under the container's processes.
echo "== running $image under the new profile with SCMP_ACT_LOG"
: >"$work/none"
profile "$traced" "$work/none" SCMP_ACT_LOG >"$work/log-profile.json"
since=$(awk '{ print $1 }' /proc/uptime)
run_image "$work/log-profile.json" || { echo "error: $image does not run under the logging profile" >&2; exit 1; }
# dmesg prints [seconds since boot]; the audit line names the syscall by number.
dmesg | awk -v since="$since" '
    { t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t) }
    t + 0 >= since + 0 && /type=1326/ && /arch=c000003e/ && match($0, /syscall=[0-9]+/) { print substr($0, RSTART + 8, RLENGTH - 8) }' |
    sort -un >"$work/runtime.numbers"
: >"$work/runtime.names"
while read -r nr; do
    python3 -c 'import sys, ctypes, ctypes.util
lib = ctypes.CDLL(ctypes.util.find_library("seccomp"))
lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
p = lib.seccomp_syscall_resolve_num_arch(0xC000003E, int(sys.argv[1]))
print(ctypes.string_at(p).decode() if p else "")' "$nr" >>"$work/runtime.names"
done <"$work/runtime.numbers"
echo "runtime adds: $(paste -sd ' ' "$work/runtime.names")"

# The result must run the image with errors instead of logs, or nothing is written.
profile "$traced" "$work/runtime.names" SCMP_ACT_ERRNO >"$work/profile.json"
run_image "$work/profile.json" || {
    echo "error: $image does not run under the new profile; nothing written (is an audit daemon taking the kernel's seccomp records?)" >&2
    exit 1
}
cp "$work/profile.json" "$profile"
echo "wrote $profile: $(jq '[.syscalls[] | select(.action == "SCMP_ACT_ALLOW") | .names[]] | unique | length' "$profile") syscalls allowed"
