#!/usr/bin/env bash
# Proves every practice the images claim, on images already built by
# `just images`. One PASS/FAIL line per check, then `N passed, M failed`;
# exits non-zero if any check failed.
#
# Environment:
#   VARIANTS="alpine distroless scratch"  images to check
#   ARCHS="amd64 arm64"                   architectures to check (arm64 runs
#                                         under qemu emulation: binfmt)
#   IMAGE_REPO=localhost/moscow-time      e.g. a deliberately broken build
#   SLOW=1                                0 skips the layer-cache and
#                                         reproducibility builds (minutes)
#   REPRO_VARIANTS=scratch                variants built twice with --no-cache
# Needs: podman (run as root: the process checks read /proc/PID/status),
# curl, jq, file, and .tools/ (`just _tools`).
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$root" || exit 2

read -r -a variants <<<"${VARIANTS:-alpine distroless scratch}"
read -r -a archs <<<"${ARCHS:-amd64 arm64}"
case $(uname -m) in
x86_64) build_arch=amd64 ;;
aarch64) build_arch=arm64 ;;
esac
read -r -a repro_variants <<<"${REPRO_VARIANTS:-scratch}"
slow=${SLOW:-1}
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
revision=$(git rev-parse HEAD)
created=$(git log -1 --format=%cI)

work=$(mktemp -d)
containers=()
probe_images=()
cleanup() {
    local c
    for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
    for c in "${probe_images[@]}"; do podman rmi -f "$c" >/dev/null 2>&1; done
    # A --no-cache build leaves hundreds of MB.
    remove_new_layers "$work"/cache*.log "$work"/repro-*.log
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/checks.sh
source "$(dirname "$0")/../checks.sh"
now_ms() { date +%s%3N; }

# ---------------------------------------------------------------- Containerfiles

build_stage() {
    # From the builder ARG to the last line before the runtime stage.
    awk '/^ARG BUILDER_IMAGE=/ { p = 1 } /^# Runtime stage/ { p = 0 } p' "$1"
}
same_build_stage() {
    local a
    a=$(build_stage Containerfile.scratch)
    [[ $a == *"FROM --platform=\${BUILDPLATFORM} \${BUILDER_IMAGE} AS build"* ]] || { echo "no build stage found in Containerfile.scratch"; return 1; }
    # echo "$(...)" trims trailing blank lines the same way "$a" did.
    # shellcheck disable=SC2005
    diff <(echo "$a") <(echo "$(build_stage Containerfile.alpine)") &&
        diff <(echo "$a") <(echo "$(build_stage Containerfile.distroless)")
}
check "Containerfiles: the build stage is byte-identical in all three" same_build_stage
# The lab's WORKDIR practice; hadolint's DL3003 rejects a `cd` in RUN instead.
workdir_first() {
    build_stage Containerfile.scratch |
        awk '$1 == "WORKDIR" && $2 ~ /^\// { ok = 1 } $1 == "COPY" { exit } END { exit !ok }' ||
        { echo "no absolute WORKDIR before the first COPY of the build stage"; return 1; }
}
check "Containerfiles: the build stage sets an absolute WORKDIR before its first COPY" workdir_first
# Cross-compiled, not emulated: the build stage is of the build platform.
build_platform() {
    # shellcheck disable=SC2016 # literal ${...} of the Containerfile
    build_stage Containerfile.scratch | grep -qx 'FROM --platform=${BUILDPLATFORM} ${BUILDER_IMAGE} AS build' ||
        { echo "the build stage is not FROM --platform=\${BUILDPLATFORM} \${BUILDER_IMAGE}"; return 1; }
}
check "Containerfiles: the build stage runs on the build platform and cross-compiles" build_platform
pinned_bases() {
    local file ref name bad=0
    local pinned='^[a-z0-9-]+(\.[a-z0-9-]+)+/[a-z0-9._/-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$'
    for file in Containerfile.alpine Containerfile.distroless Containerfile.scratch; do
        # Every FROM is scratch, the build stage, or a base ARG ...
        while read -r ref; do
            # shellcheck disable=SC2016 # a literal ${NAME}, not an expansion
            case $ref in
            scratch | build) ;;
            '${'*'}')
                name=${ref#'${'}
                name=${name%'}'}
                # ... whose default is a fully qualified name:tag@sha256:digest.
                ref=$(sed -n "s/^ARG $name=//p" "$file")
                [[ $ref =~ $pinned ]] || { echo "$file: $name='$ref' is not registry/name:tag@sha256:digest"; bad=1; }
                ;;
            *) echo "$file: FROM $ref is not a base ARG, scratch or the build stage"; bad=1 ;;
            esac
        done < <(awk '$1 == "FROM" { print ($2 ~ /^--platform=/ ? $3 : $2) }' "$file")
    done
    return $bad
}
check "Containerfiles: every base is fully qualified and pinned by tag and digest" pinned_bases
allow_list() {
    # Ignore everything, then allow back exactly what the build compiles.
    expect ".containerignore rules" $'**\n!Cargo.toml\n!Cargo.lock\n!src/\n!musl/target-spec.sh' \
        "$(grep -v -e '^#' -e '^[[:space:]]*$' .containerignore)"
}
check "Containerfiles: .containerignore allows only Cargo.toml, Cargo.lock, src/ and musl/target-spec.sh" allow_list
check "Containerfiles: .dockerignore is the same allow-list as .containerignore" \
    cmp .containerignore .dockerignore
check "Containerfiles: hadolint finds nothing" \
    hadolint Containerfile.alpine Containerfile.distroless Containerfile.scratch

# ---------------------------------------------------------------- image checks

structure_test() {
    container-structure-test test --driver tar --image "$work/$1.tar" \
        --config tests/images/structure/common.yaml \
        --config "tests/images/structure/${1%-*}.yaml" >"$work/$1.cst" 2>&1 && return 0
    # Only the failed tests and the totals.
    grep -B1 -A4 -e '^--- FAIL' "$work/$1.cst" | grep -v -e '^duration' -e '^--$'
    grep -E '^(Passes|Failures):' "$work/$1.cst"
    return 1
}

config_user() {
    expect "Config.User" "65532:65532" "$(jq -r '.[0].Config.User' "$work/$1.json")"
}

healthcheck_config() {
    local hc
    hc=$(jq -c '.[0].Healthcheck | {Test, Interval, Timeout}' "$work/$1.json")
    expect "Healthcheck" \
        '{"Test":["CMD","/usr/local/bin/moscow-time","healthcheck"],"Interval":30000000000,"Timeout":3000000000}' "$hc"
}

labels_match_checkout() {
    local l='.[0].Config.Labels["org.opencontainers.image.'
    expect version "$version" "$(jq -r "${l}version\"]" "$work/$1.json")" &&
        expect revision "$revision" "$(jq -r "${l}revision\"]" "$work/$1.json")" &&
        expect created "$created" "$(jq -r "${l}created\"]" "$work/$1.json")"
}

# The files the runtime stage adds on top of the base, one per line: no
# directories, and not the empty /etc/hosts, /etc/hostname and /etc/resolv.conf
# that buildah leaves in a RUN layer when the base lacks them (podman mounts
# its own over them).
added_files() {
    local n
    n=$(added_layers "$1" "$work/$1") || return 1
    layers "$work/$1" | tail -n "$n" |
        while read -r layer; do tar -tvf "$layer"; done |
        awk '!/^d/ && !($3 == 0 && $6 ~ /^etc\/(hosts|hostname|resolv\.conf)$/) { print $6 }' | sort -u
}
only_expected_files() {
    local want got
    case ${1%-*} in
    alpine) want=$'etc/group\netc/passwd\netc/shadow\nusr/local/bin/moscow-time' ;;
    *) want=usr/local/bin/moscow-time ;;
    esac
    got=$(added_files "$1") || return 1
    diff <(echo "$want") <(echo "$got") || { echo "(- expected, + found in the added layers)"; return 1; }
    if [[ ${1%-*} == scratch ]]; then
        # The whole image: the binary and its three parent directories.
        got=$(layers "$work/$1" | while read -r layer; do tar -tf "$layer"; done | sort -u)
        diff <(printf '%s\n' usr/ usr/local/ usr/local/bin/ "$binary_path") <(echo "$got")
    fi
}

binary_root_owned() {
    local line layer
    for layer in $(layers "$work/$1" | tac); do
        line=$(tar --numeric-owner -tvf "$layer" | grep " $binary_path\$") && break
    done
    [[ $line == "-rwxr-xr-x 0/0 "* ]] || { echo "expected -rwxr-xr-x 0/0, got: $line"; return 1; }
}

binary_static() {
    extract_binary "$work/$1" "$work/$1.bin" || { echo "binary not found"; return 1; }
    file "$work/$1.bin" | tee /dev/stderr | grep -Eq 'statically linked|static-pie linked'
}

# The binary is musl's (its strerror(0) text; glibc's is "Success" and leaves
# GLIBC_ version strings), a static PIE (ASLR without a loader), with no ELF
# interpreter and no dynamic entries that need one (NEEDED, RPATH, RUNPATH).
binary_static_pie_musl() {
    local bin=$work/$1.bin
    [[ -s $bin ]] || { echo "binary not found"; return 1; }
    file -b "$bin" | grep -q 'static-pie linked' || { echo "not static-pie: $(file -b "$bin")"; return 1; }
    if readelf -lW "$bin" | grep -q -e INTERP -e 'program interpreter'; then
        echo "has an ELF interpreter"; readelf -lW "$bin" | grep -A1 INTERP; return 1
    fi
    if readelf -dW "$bin" | grep -E '\((NEEDED|RPATH|RUNPATH)\)'; then
        echo "has dynamic entries that need a loader"; return 1
    fi
    grep -qa 'No error information' "$bin" || { echo "no musl strerror table"; return 1; }
    if grep -qa 'GLIBC_' "$bin"; then echo "has glibc symbol versions"; return 1; fi
}

# ARCH (amd64|arm64): the binary's ELF machine is that of the image config.
binary_arch() {
    local want config
    config=$(jq -r '.[0].Architecture' "$work/$1.json")
    expect "image config Architecture" "$2" "$config" || return 1
    case $2 in
    amd64) want='ELF 64-bit LSB .*x86-64' ;;
    arm64) want='ELF 64-bit LSB .*ARM aarch64' ;;
    esac
    file -b "$work/$1.bin" | grep -Eq "$want" || { echo "binary is $(file -b "$work/$1.bin"), config says $config"; return 1; }
}

size_budget() {
    local added=0 layer bin over n
    n=$(added_layers "$1" "$work/$1") || return 1
    for layer in $(layers "$work/$1" | tail -n "$n"); do
        added=$((added + $(stat -c %s "$layer")))
    done
    bin=$(stat -c %s "$work/$1.bin")
    over=$((added - bin))
    info "$1: added layers $added B = binary $bin B + $over B"
    ((over <= 16384)) || { echo "$over B over the binary, budget 16384 B"; return 1; }
}

dive_ci() {
    dive --ci --ci-config tests/images/dive-ci.yaml --source docker-archive "$work/$1.tar" |
        tee "$work/$1.dive" | grep -E 'efficiency|wasted|FAIL|PASS'
    local rc=${PIPESTATUS[0]}
    info "$1: dive $(grep -m1 'efficiency:' "$work/$1.dive" | tr -s ' ')"
    return "$rc"
}

# ---------------------------------------------------------------- runtime checks

# start VARIANT NAME [podman run options...]: runs the image detached on a free
# loopback port and waits until /healthz answers; sets $addr.
start() {
    local variant=$1 name=$2 i
    shift 2
    containers+=("$name")
    podman run -d --pull=never --name "$name" -p 127.0.0.1::8080 "$@" "$repo:$variant" \
        >"$work/$name.run" 2>&1 || { cat "$work/$name.run"; return 1; }
    addr=$(podman port "$name" 8080) || return 1
    for i in $(seq 50); do
        curl -fsS -o /dev/null --max-time 1 "http://$addr/healthz" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "no answer on $addr/healthz within 5 s"
    podman logs "$name"
    return 1
}

serves_page_and_api() {
    local page api
    page=$(curl -fsS --max-time 2 -D "$work/headers" "http://$addr/") || return 1
    grep -qi '^content-type: text/html' "$work/headers" || { cat "$work/headers"; return 1; }
    grep -Eq '<title>[0-9]{2}:[0-9]{2}:[0-9]{2} Moscow time</title>' <<<"$page" || { echo "unexpected page: $page"; return 1; }
    api=$(curl -fsS --max-time 2 "http://$addr/api/time") || return 1
    jq -e '.timezone == "Europe/Moscow" and (.unix_ms | type) == "number"' <<<"$api" >/dev/null ||
        { echo "unexpected /api/time: $api"; return 1; }
}

# process_is NAME UID: the container's process runs as UID:UID with no
# capabilities and no_new_privs, on a read-only root file system.
process_is() {
    local pid status
    pid=$(podman inspect --format '{{.State.Pid}}' "$1") || return 1
    status=$(cat "/proc/$pid/status") || return 1
    expect Uid "$2 $2 $2 $2" "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' <<<"$status")" &&
        expect Gid "$2 $2 $2 $2" "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' <<<"$status")" &&
        expect CapEff 0000000000000000 "$(awk '/^CapEff:/ { print $2 }' <<<"$status")" &&
        expect CapPrm 0000000000000000 "$(awk '/^CapPrm:/ { print $2 }' <<<"$status")" &&
        expect NoNewPrivs 1 "$(awk '/^NoNewPrivs:/ { print $2 }' <<<"$status")" &&
        expect ReadonlyRootfs true "$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$1")"
}

healthcheck_run() {
    podman healthcheck run "$1" || return 1
    expect "health status" healthy "$(podman inspect --format '{{.State.Health.Status}}' "$1")"
}

stops_fast() {
    local t0 ms code
    t0=$(now_ms)
    podman stop -t 10 "$1" >/dev/null 2>"$work/stop.err" || { cat "$work/stop.err"; return 1; }
    ms=$(($(now_ms) - t0))
    code=$(podman inspect --format '{{.State.ExitCode}}' "$1")
    echo "stopped in $ms ms, exit code $code"
    info "$1: podman stop took $ms ms"
    ((ms < 2000)) && [[ $code == 0 ]]
}

manifest_platforms() {
    expect "platforms" '["linux/amd64","linux/arm64"]' \
        "$(podman manifest inspect "$repo:$1-multiarch" | jq -c '[.manifests[].platform | "\(.os)/\(.architecture)"] | sort')"
}

hardening=(--read-only --read-only-tmpfs=false --cap-drop=all --security-opt=no-new-privileges)
# The measured seccomp profile holds the native binary's syscalls. Under
# emulation the filter sees qemu's own host syscalls instead, so arm64
# containers here keep podman's default profile (on arm64 hardware the
# profile's aarch64 names apply).
native_hardening=("${hardening[@]}" --security-opt=seccomp=deploy/seccomp/moscow-time.json)

# arm64 containers run under qemu (binfmt, flag F). Only a user's machine
# without it skips them, with one line; CI always has it.
arm64_runs=true
if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] && [[ $build_arch != arm64 ]]; then
    if [[ ${CI:-} == true ]]; then
        fail "arm64 emulation is registered (binfmt qemu-aarch64)"
    else
        info "arm64 runtime checks skipped: no qemu-aarch64 binfmt (Debian/Ubuntu: apt-get install qemu-user-static; Fedora: dnf install qemu-user-static)"
    fi
    arm64_runs=false
fi

for v in "${variants[@]}"; do
    # VARIANT is the build machine's architecture: the same image as VARIANT-ARCH.
    if [[ " ${archs[*]} " == *" $build_arch "* ]]; then
        check "$v: $repo:$v is the $build_arch image" expect "image ID" \
            "$(podman image inspect --format '{{.Id}}' "$repo:$v-$build_arch" 2>&1)" \
            "$(podman image inspect --format '{{.Id}}' "$repo:$v" 2>&1)"
    fi
    if [[ " ${archs[*]} " == *" amd64 "* && " ${archs[*]} " == *" arm64 "* ]]; then
        check "$v: the manifest list $repo:$v-multiarch holds exactly linux/amd64 and linux/arm64" manifest_platforms "$v"
    fi
for arch in "${archs[@]}"; do
    t=$v-$arch
    img=$repo:$t
    if ! podman image exists "$img"; then
        fail "$t: image $img exists (build it with \`just images\`)"
        continue
    fi
    podman image inspect "$img" >"$work/$t.json"
    if ! unpack "$img" "$work/$t" >"$work/check.out" 2>&1; then
        fail "$t: podman save" "$(cat "$work/check.out")"
        continue
    fi
    check "$t: structure test (entrypoint, port 8080, labels, files present and absent)" structure_test "$t"
    check "$t: USER is 65532:65532 (numeric, not root)" config_user "$t"
    check "$t: HEALTHCHECK runs \`moscow-time healthcheck\`" healthcheck_config "$t"
    check "$t: labels version/revision/created match the checkout" labels_match_checkout "$t"
    check "$t: the runtime stage adds only the expected files" only_expected_files "$t"
    check "$t: the binary is root-owned 0755" binary_root_owned "$t"
    check "$t: the binary is statically linked" binary_static "$t"
    check "$t: the binary is musl, static-pie, no interpreter, no loader-needing dynamic entries" binary_static_pie_musl "$t"
    check "$t: the binary's architecture is the image config's ($arch)" binary_arch "$t" "$arch"
    if [[ -s $work/$t.bin ]]; then
        check "$t: added layers are at most the binary + 16 KiB" size_budget "$t"
    fi
    check "$t: dive efficiency >= 99%" dive_ci "$t"

    if [[ $arch == arm64 ]] && ! $arm64_runs; then continue; fi
    run_opts=("${hardening[@]}") seccomp=""
    if [[ $arch == "$build_arch" ]]; then run_opts=("${native_hardening[@]}") seccomp=", seccomp profile"; fi
    name=mt-test-$t-$$
    if check "$t: starts read-only, cap-drop=all, no-new-privileges$seccomp" start "$t" "$name" "${run_opts[@]}"; then
        check "$t: serves / and /api/time on a published loopback port" serves_page_and_api
        check "$t: process is uid/gid 65532, no capabilities, no_new_privs, read-only root" process_is "$name" 65532
        check "$t: podman healthcheck run passes" healthcheck_run "$name"
        check "$t: podman stop exits 0 within 2 s" stops_fast "$name"
    fi
    name=mt-test-$t-user-$$
    if check "$t: starts as --user 123456:123456" start "$t" "$name" --user 123456:123456 "${run_opts[@]}"; then
        check "$t: serves /api/time as uid 123456" serves_page_and_api
        check "$t: process is uid/gid 123456" process_is "$name" 123456
        check "$t: podman healthcheck run passes as uid 123456" healthcheck_run "$name"
        check "$t: podman stop exits 0 within 2 s as uid 123456" stops_fast "$name"
    fi
done
done

# ---------------------------------------------------------------- layer cache

# A change to src/ only, in a copy of the build context (the checkout is not
# touched): the dependency layer must come from the cache, cargo must compile
# only moscow-time, and the other variants must reuse the whole build stage.
step_cached() { # LOG PATTERN: the STEP matching PATTERN is followed by "Using cache"
    awk -v pat="$2" 'found { print; exit } /STEP [0-9]+\/[0-9]+: / && index($0, pat) { found = 1 }' "$1" |
        grep -q '^--> Using cache'
}
cache_src_change() {
    local ctx=$work/context t0
    copy_context "$ctx"
    echo "// cache probe $(date +%s%N)" >>"$ctx/src/main.rs"
    probe_images+=(localhost/moscow-time-cache-probe:scratch{,-$build_arch})
    t0=$(now_ms)
    ARCHS=$build_arch TAG=localhost/moscow-time-cache-probe:scratch CONTEXT=$ctx \
        scripts/build-image.sh scratch >"$work/cache.log" 2>&1 || { cat "$work/cache.log"; return 1; }
    info "rebuild of scratch after a src/ change: $(($(now_ms) - t0)) ms"
    step_cached "$work/cache.log" "rm -r target/" ||
        { echo "the dependency build step was not cached"; grep -A1 'STEP [0-9]' "$work/cache.log"; return 1; }
    if grep -E '^ *Compiling ' "$work/cache.log" | grep -v 'Compiling moscow-time '; then
        echo "cargo compiled dependencies again"
        return 1
    fi
    grep -q '^ *Compiling moscow-time ' "$work/cache.log" || { echo "moscow-time was not recompiled"; return 1; }
}
cache_shared_stage() {
    local v
    for v in alpine distroless; do
        probe_images+=("localhost/moscow-time-cache-probe:$v" "localhost/moscow-time-cache-probe:$v-$build_arch")
        ARCHS=$build_arch TAG=localhost/moscow-time-cache-probe:$v CONTEXT=$work/context \
            scripts/build-image.sh "$v" >"$work/cache-$v.log" 2>&1 || { cat "$work/cache-$v.log"; return 1; }
        step_cached "$work/cache-$v.log" "install -D -m 0755" ||
            { echo "$v rebuilt the build stage"; grep -A1 'STEP [0-9]' "$work/cache-$v.log"; return 1; }
    done
}

# ---------------------------------------------------------------- reproducibility

# Two --no-cache builds of one commit: the binary and every layer are
# bit-identical. The image ID is not: buildah writes a fresh container ID into
# the docker-format config (see the INFO lines).
reproducible() {
    local v=$1 t0 i
    for i in 1 2; do
        probe_images+=("localhost/moscow-time-repro-$i:$v" "localhost/moscow-time-repro-$i:$v-$build_arch")
        t0=$(now_ms)
        ARCHS=$build_arch TAG=localhost/moscow-time-repro-$i:$v scripts/build-image.sh "$v" --no-cache \
            >"$work/repro-$i.log" 2>&1 || { cat "$work/repro-$i.log"; return 1; }
        info "clean (--no-cache) build $i of $v: $(($(now_ms) - t0)) ms"
        unpack "localhost/moscow-time-repro-$i:$v" "$work/repro-$i" || return 1
        extract_binary "$work/repro-$i" "$work/repro-$i.bin" || return 1
        podman image inspect "localhost/moscow-time-repro-$i:$v" >"$work/repro-$i.json"
    done
    local sums layers1 layers2 shipped
    sums=$(sha256sum "$work"/repro-[12].bin | awk '{ print $1 }' | sort -u)
    info "$v binary sha256: $sums"
    [[ $(wc -l <<<"$sums") == 1 ]] || { echo "the binaries differ: $sums"; return 1; }
    layers1=$(jq -c '.[0].RootFS.Layers' "$work/repro-1.json")
    layers2=$(jq -c '.[0].RootFS.Layers' "$work/repro-2.json")
    expect "layer digests" "$layers1" "$layers2" || return 1
    # The shipped image too, if it was built from this commit: the same
    # binary, and the same layers unless they came from an older commit's cache.
    local t=$v-$build_arch
    if [[ $(jq -r '.[0].Config.Labels["org.opencontainers.image.revision"]' "$work/$t.json" 2>/dev/null) == "$revision" ]]; then
        expect "binary of $repo:$t (cached build)" "$sums" "$(sha256sum <"$work/$t.bin" | awk '{ print $1 }')" || return 1
        shipped=$(jq -c '.[0].RootFS.Layers' "$work/$t.json")
        if [[ $shipped == "$layers1" ]]; then
            info "$repo:$v (cached build) has the same layers as the clean builds"
        else
            # buildah's cache ignores --timestamp: a layer first built at an
            # older commit keeps that commit's file times.
            info "$repo:$v (cached build) has other layers than the clean builds: cached from an older commit"
        fi
    else
        info "$repo:$v is from another commit: its layers are not compared"
    fi
    # What is not identical, for the record.
    info "$v image IDs: $(jq -r '.[0].Id[:12]' "$work/repro-1.json") vs $(jq -r '.[0].Id[:12]' "$work/repro-2.json")"
    local c1 c2
    c1=$(jq -r '.[0].Config' "$work/repro-1/manifest.json")
    c2=$(jq -r '.[0].Config' "$work/repro-2/manifest.json")
    info "$v config fields that differ: $(jq -rn --slurpfile a "$work/repro-1/$c1" --slurpfile b "$work/repro-2/$c2" '
        [$a[0] | paths(scalars)] as $ps
        | [$ps[] as $p | select(($a[0] | getpath($p)) != ($b[0] | getpath($p)))
            | $p | map(if type == "number" then "[]" else . end) | join(".") | gsub("\\.\\[\\]"; "[]")]
        | unique | join(", ")')"
    return 0
}

if [[ $slow == 1 ]]; then
    check "cache: after a src/ change the dependency layer is reused and only moscow-time recompiles" cache_src_change
    check "cache: alpine and distroless reuse the shared build stage" cache_shared_stage
    for v in "${repro_variants[@]}"; do
        check "$v: two --no-cache builds give a bit-identical binary and identical layers" reproducible "$v"
    done
else
    info "SLOW=0: layer-cache and reproducibility builds skipped"
fi

summary
