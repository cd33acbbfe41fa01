#!/usr/bin/env bash
# Proves what the README says of the seccomp profile deploy/seccomp/moscow-time.json:
# it is an allow-list whose default is an error, not a kill; it still covers
# every syscall the binary in the image makes; and podman enforces it: the
# service runs, serves, passes its healthcheck and stops cleanly under it,
# while a syscall outside the list is refused. Nothing is added to the image:
# the syscall that must be refused is made by the host's static busybox,
# mounted read-only into a container of the image under the same profile.
# One PASS/FAIL line per check, then `N passed, M failed`.
#
# Environment:
#   IMAGE=localhost/moscow-time:scratch   the image to run (`just images`)
#   BUSYBOX=/bin/busybox                  a static busybox (Debian busybox-static)
# Needs: podman, strace, curl, jq, root (/proc of the container, dmesg).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
image=${IMAGE:-localhost/moscow-time:scratch}
busybox=${BUSYBOX:-/bin/busybox}
profile=deploy/seccomp/moscow-time.json
podman_default=/usr/share/containers/seccomp.json

work=$(mktemp -d)
containers=()
cleanup() {
    local c
    for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/checks.sh
source "$(dirname "$0")/../checks.sh"
allowed() { # PROFILE: the syscall names it allows, one per line
    jq -r '[.syscalls[] | select(.action == "SCMP_ACT_ALLOW") | .names[]] | unique[]' "$1"
}

# ---------------------------------------------------------------- the profile

errno_not_kill() {
    expect defaultAction SCMP_ACT_ERRNO "$(jq -r .defaultAction "$profile")" &&
        expect "defaultErrnoRet (ENOSYS)" 38 "$(jq -r .defaultErrnoRet "$profile")" &&
        expect "rules that kill, trap or trace" 0 \
            "$(jq '[.. | .action? // empty | select(test("KILL|TRAP|TRACE"))] | length' "$profile")"
}
check "profile: anything not listed fails with ENOSYS (SCMP_ACT_ERRNO), nothing kills" errno_not_kill

known_names() {
    # libseccomp, as runc and crun use it, knows each name on one of the two
    # architectures (a name only one has, like x86's arch_prctl, is skipped on the other).
    allowed "$profile" | python3 -c 'import ctypes, ctypes.util, sys
lib = ctypes.CDLL(ctypes.util.find_library("seccomp"))
lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
arches = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
bad = [n for n in sys.stdin.read().split() if all(lib.seccomp_syscall_resolve_name_arch(a, n.encode()) < 0 for a in arches.values())]
print("unknown syscalls:", *bad) if bad else None
sys.exit(1 if bad else 0)'
}
check "profile: every allowed name is a syscall libseccomp knows (x86_64 or aarch64)" known_names

no_namespaces() {
    # clone only without namespace flags, clone3 (flags out of the filter's
    # sight) refused, and none of the other ways into a namespace allowed.
    expect "clone rule" '[{"index":0,"op":"SCMP_CMP_MASKED_EQ","value":2114060288,"valueTwo":0}]' \
        "$(jq -cS '[.syscalls[] | select(.names == ["clone"]) | .args[]]' "$profile")" &&
        expect "clone3" SCMP_ACT_ERRNO "$(jq -r '.syscalls[] | select(.names == ["clone3"]) | .action' "$profile")" &&
        expect "unshare setns mount pivot_root chroot ptrace bpf allowed" "" \
            "$(allowed "$profile" | grep -x -E 'unshare|setns|mount|pivot_root|chroot|ptrace|bpf|keyctl|add_key|userfaultfd' | tr '\n' ' ')"
}
check "profile: no way into a new namespace (clone flags filtered, clone3 and unshare refused)" no_namespaces

sizes() {
    local ours theirs
    ours=$(allowed "$profile" | wc -l)
    theirs=$(allowed "$podman_default" | wc -l)
    info "allowed syscalls: $ours in $profile, $theirs in podman's default $podman_default"
    ((ours < theirs))
}
check "profile: allows fewer syscalls than podman's default" sizes

if ! podman image exists "$image"; then
    fail "image $image exists (build it with \`just images\`)"
    summary
    exit 1
fi

# The binary traced again through its whole workload: a new syscall in the
# code fails here until `just seccomp` regenerates the profile.
check "profile: covers every syscall the binary in $image makes (strace of its workload)" \
    env IMAGE="$image" deploy/seccomp/generate.sh --check

# ---------------------------------------------------------------- enforced

hardening=(--read-only --read-only-tmpfs=false --cap-drop=all --security-opt=no-new-privileges)
ctr=mt-k8s-seccomp-test-$$

start() {
    containers+=("$ctr")
    podman run -d --pull=never --name "$ctr" "${hardening[@]}" --security-opt "seccomp=$profile" \
        -p 127.0.0.1::8080 "$image" >"$work/run.out" 2>&1 || { cat "$work/run.out"; return 1; }
    addr=$(podman port "$ctr" 8080) || return 1
    for _ in $(seq 50); do
        curl -fsS -o /dev/null --max-time 1 "http://$addr/healthz" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "no answer on $addr/healthz within 5 s"
    podman logs "$ctr"
    return 1
}

filtering() {
    local pid config
    pid=$(podman inspect --format '{{.State.Pid}}' "$ctr") || return 1
    expect "Seccomp in /proc/$pid/status (2 = filter)" 2 "$(awk '/^Seccomp:/ { print $2 }' "/proc/$pid/status")" || return 1
    # The filter the runtime was handed is this profile, not podman's default.
    config=$(podman inspect --format '{{.OCIConfigPath}}' "$ctr") || return 1
    diff <(allowed "$profile") <(jq -r '[.linux.seccomp.syscalls[] | select(.action == "SCMP_ACT_ALLOW") | .names[]] | unique[]' "$config")
}

serves() {
    local path code
    for path in / /api/time /healthz /readyz /metrics; do
        code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "http://$addr$path") || return 1
        expect "GET $path" 200 "$code" || return 1
    done
    expect "POST /" 405 "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 -X POST "http://$addr/")"
}

healthcheck() {
    podman healthcheck run "$ctr" 2>&1 | grep -v 'level=error msg=".*systemd'
    expect "health status" healthy "$(podman inspect --format '{{.State.Health.Status}}' "$ctr")"
}

stops() {
    local t0 ms
    t0=$(date +%s%3N)
    podman stop -t 10 "$ctr" >/dev/null || return 1
    ms=$(($(date +%s%3N) - t0))
    info "podman stop under the profile: $ms ms"
    expect "exit code" 0 "$(podman inspect --format '{{.State.ExitCode}}' "$ctr")" && ((ms < 2000))
}

if check "enforced: $image starts hardened under the profile" start; then
    check "enforced: the process filters syscalls (Seccomp: 2) with exactly this profile's list" filtering
    check "enforced: /, /api/time, /healthz, /readyz, /metrics answer 200, POST 405" serves
    check "enforced: podman healthcheck run passes (moscow-time healthcheck under the profile)" healthcheck
    check "enforced: podman stop exits 0 within 2 s (the shutdown path under the profile)" stops
fi

# busybox PROFILE ARGS...: runs the host's static busybox in a container of
# the image (its own files untouched, busybox mounted read-only), hardened
# like the service, under PROFILE.
busybox() {
    local p=$1
    shift
    podman run --rm --pull=never "${hardening[@]}" --security-opt "seccomp=$p" \
        -v "$busybox:/busybox:ro" --entrypoint /busybox "$image" "$@" 2>&1 | grep -v 'level='
    return "${PIPESTATUS[0]}"
}

denied() {
    local out
    [[ -x $busybox ]] || { echo "$busybox not found (Debian: apt-get install busybox-static)"; return 1; }
    # mkdir(2) is not on the list; /dev/shm is the one place uid 65532 may write.
    out=$(busybox "$profile" mkdir /dev/shm/mt-probe) && { echo "mkdir succeeded under the profile: $out"; return 1; }
    grep -q 'Function not implemented' <<<"$out" || { echo "expected ENOSYS, got: $out"; return 1; }
    # The same under podman's default profile succeeds, so it is the profile that refused.
    busybox "$podman_default" mkdir /dev/shm/mt-probe || { echo "mkdir failed under podman's default profile too"; return 1; }
}
check "enforced: a syscall outside the list (busybox mkdir) gets ENOSYS; under podman's default it succeeds" denied

summary
