#!/usr/bin/env bash
# The choice of bases (scripts/build-image.sh) and `just doctor`, checked by what
# the built images' labels say and what the user reads. No check talks to a
# registry: an unreachable one is a copy of Containerfile.scratch whose pins
# name registry.invalid, which never resolves (RFC 2606). One architecture
# (this machine's), scratch and distroless only: their build stage comes from
# the cache of `just images`, so each build is a few seconds.
# One PASS/FAIL line per check, then `N passed, M failed`.
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$root" || exit 2

work=$(mktemp -d)
test_repo=localhost/moscow-time-bases-test
local_pin=registry.invalid/moscow-time-test/rust:pinned
cleanup() {
    podman rmi --ignore "$test_repo":{scratch,distroless}{,-"$arch"} "$local_pin" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
arch=$([[ $(uname -m) == aarch64 ]] && echo arm64 || echo amd64)

# shellcheck source=tests/checks.sh
source "$(dirname "$0")/checks.sh"

# build VARIANT [VAR=VALUE...]: build.sh for this arch into $test_repo, its
# output in $work/out; the variables are the environment of that one build.
build() {
    local variant=$1
    shift
    env ARCHS="$arch" TAG="$test_repo:$variant" "$@" scripts/build-image.sh "$variant" >"$work/out" 2>&1 ||
        { echo "build failed:"; tail -n 20 "$work/out"; return 1; }
}
# labels IMAGE: "BASES | BUILDER | BASE" from its labels.
labels() {
    echo "$(label "$1" "$bases_label") | $(label "$1" "$builder_label") | $(label "$1" "$base_label")"
}
# announced PATTERN: exactly one "bases: " line, and it matches PATTERN.
announced() {
    local lines
    lines=$(grep '^bases: ' "$work/out")
    # shellcheck disable=SC2053 # PATTERN is a glob
    [[ $(wc -l <<<"$lines") == 1 && $lines == $1 ]] || { echo "announcement: '$lines'"; return 1; }
}

# A Containerfile whose pins cannot be pulled: the same build stage and
# digests, another registry.
sed 's#^\(ARG [A-Z_]*_IMAGE=\)[^/]*/#\1registry.invalid/#' Containerfile.scratch >"$work/Containerfile.unreachable"
# One whose builder pin is here (the stand-in, tagged with the pin's name).
sed "s#^ARG BUILDER_IMAGE=.*#ARG BUILDER_IMAGE=$local_pin#" Containerfile.scratch >"$work/Containerfile.local-pin"

forced_stand_in() {
    build scratch BASES=stand-in || return 1
    announced "bases: BASES=stand-in: scratch is built on local stand-ins*" || return 1
    expect "labels (bases | builder | base)" "stand-in | $stand_in_builder | " "$(labels "$test_repo:scratch-$arch")" || return 1
    build distroless BASES=stand-in || return 1
    expect "labels (bases | builder | base)" "stand-in | $stand_in_builder | $stand_in_distroless-$arch" \
        "$(labels "$test_repo:distroless-$arch")"
}
check "BASES=stand-in: scratch and distroless are built on the stand-ins and labelled so" forced_stand_in

forced_upstream_fails() {
    local t0=$SECONDS rc=0
    build scratch BASES=upstream CONTAINERFILE="$work/Containerfile.unreachable" && rc=1
    cat "$work/out"
    expect "lines of output" 1 "$(wc -l <"$work/out")" || rc=1
    [[ $(cat "$work/out") == "error: BASES=upstream, but registry.invalid/library/rust:1.95.0-alpine3.23 (pinned) is not here for linux/$arch and cannot be pulled ("*"); "*"BASES unset to use the local stand-ins" ]] ||
        { echo "not the one-line error"; rc=1; }
    ((SECONDS - t0 <= 15)) || { echo "took $((SECONDS - t0)) s"; rc=1; }
    ! podman image exists "$test_repo:scratch-$arch" || { echo "an image was built"; rc=1; }
    return "$rc"
}
podman rmi --ignore "$test_repo:scratch" "$test_repo:scratch-$arch" >/dev/null
check "no registry, BASES=upstream: fails within 15 s with one line, builds nothing" forced_upstream_fails

automatic_falls_back() {
    build scratch CONTAINERFILE="$work/Containerfile.unreachable" || return 1
    announced "bases: registry.invalid/library/rust:1.95.0-alpine3.23 (registry.invalid: *) cannot be pulled, so scratch is built on local stand-ins*BASES=upstream*BASES=stand-in*" ||
        return 1
    expect "labels (bases | builder | base)" "stand-in | $stand_in_builder | " "$(labels "$test_repo:scratch-$arch")"
}
check "no registry, BASES unset: the stand-ins, announced in one line, labelled stand-in" automatic_falls_back

automatic_local_pin() {
    podman tag "$stand_in_builder" "$local_pin" || return 1
    build scratch CONTAINERFILE="$work/Containerfile.local-pin" || return 1
    ! grep '^bases: ' "$work/out" || return 1
    expect "labels (bases | builder | base)" "upstream | $local_pin | " "$(labels "$test_repo:scratch-$arch")"
}
check "BASES unset, the pin is here: the pin (upstream), no stand-in, labelled upstream" automatic_local_pin

named_wins() {
    build scratch BASES=upstream CONTAINERFILE="$work/Containerfile.unreachable" BUILDER_IMAGE="$stand_in_builder" || return 1
    expect "labels (bases | builder | base)" "named | $stand_in_builder | " "$(labels "$test_repo:scratch-$arch")"
}
check "BUILDER_IMAGE named: used as it is, even with BASES=upstream and no registry, labelled named" named_wins

# ---------------------------------------------------------------- just doctor

entries=$(grep -c '^    "[^"|]*|[^"|]*|[^"|]*|[^"|]*"$' scripts/doctor.sh)
# doctor_lines OUT: one line per prerequisite, each found or missing.
doctor_lines() {
    expect "lines" "$entries" "$(wc -l <"$1")" || return 1
    expect "lines that are not 'ok NAME' or 'missing NAME'" "" "$(grep -Ev '^(ok|missing) +[^ ]' "$1")"
}
doctor_complete() {
    scripts/doctor.sh >"$work/doctor" || { cat "$work/doctor"; return 1; }
    doctor_lines "$work/doctor"
}
check "just doctor: one line per prerequisite ($entries), exit 0 on this machine" doctor_complete

# PATH without jq: a folder of links to every other program on PATH.
doctor_missing() {
    local dir bin
    mkdir -p "$work/path"
    IFS=: read -r -a dirs <<<"$PATH"
    for dir in "${dirs[@]}"; do
        for bin in "$dir"/*; do
            [[ -x $bin && ! -e $work/path/${bin##*/} ]] && ln -s "$bin" "$work/path/${bin##*/}"
        done
    done
    rm "$work/path/jq"
    PATH=$work/path scripts/doctor.sh >"$work/doctor" 2>"$work/doctor.err" && { echo "exit 0 without jq"; return 1; }
    cat "$work/doctor" "$work/doctor.err"
    doctor_lines "$work/doctor" || return 1
    grep -Eq '^missing +jq +test +Debian/Ubuntu: apt-get install jq; Fedora: dnf install jq$' "$work/doctor" ||
        { echo "no 'missing jq' line"; return 1; }
    PATH=$work/path scripts/doctor.sh --need jq curl >"$work/need" 2>&1 && { echo "--need jq: exit 0 without jq"; return 1; }
    expect "scripts/doctor.sh --need jq curl" \
        "error: jq not found; install it (Debian/Ubuntu: apt-get install jq; Fedora: dnf install jq), or see \`just doctor\`" \
        "$(cat "$work/need")"
}
check "just doctor without jq on PATH: its line says missing and how to install it, exit 1; a recipe's check says only that" doctor_missing

summary
