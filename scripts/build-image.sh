#!/usr/bin/env bash
# Builds localhost/moscow-time:VARIANT-ARCH from Containerfile.VARIANT for each
# ARCH in ARCHS, tags the build machine's own one localhost/moscow-time:VARIANT,
# and, when ARCHS holds both, (re)creates the manifest list
# localhost/moscow-time:VARIANT-multiarch of the two (for publishing).
#
#   scripts/build-image.sh VARIANT [extra podman build options...]
#   ARCHS="amd64 arm64" (default) or one of them
#
# The build stage runs on the build machine's platform (BUILDPLATFORM, which
# buildah 1.28 does not set, so it is passed) and cross-compiles; only the
# runtime stage is of the target architecture.
# Labels come from the checkout: version from Cargo.toml, revision from HEAD,
# created from HEAD's commit time, which also stamps every file and the image
# (--timestamp) so two clean builds of one commit give the same layers. The
# layer cache ignores --timestamp: a layer reused from an older commit keeps
# that commit's file times, so build a release with `--no-cache` from a clean
# commit (a dirty tree is labelled with HEAD all the same).
# Bases, chosen here and nowhere else, each one in this order:
#   1. the one the user named: BUILDER_IMAGE (runs on the build machine) and,
#      per architecture, ALPINE_IMAGE_AMD64 / _ARM64 and DISTROLESS_IMAGE_AMD64
#      / _ARM64, each defaulting to ALPINE_IMAGE / DISTROLESS_IMAGE;
#   2. else the Containerfile's pin, when it is here or its registry answers
#      within 10 s (probe_timeout; podman manifest inspect: registries.conf
#      mirrors and proxies apply);
#   3. else the local stand-in (stand-ins/build.sh, built on first use), with
#      one line saying so and why.
# BASES=upstream fails in one line instead of step 3; BASES=stand-in skips
# step 2. Every image is labelled with what it was built on (lib.sh:
# bases_label, builder_label, base_label), which the other scripts read.
# Each variant gets only the bases it uses; the shared build stage is cached
# across variants of one architecture either way. CONTEXT (default: the
# repository), CONTAINERFILE (default: Containerfile.VARIANT; its pins are the
# ones used) and TAG (default: localhost/moscow-time:VARIANT; the arch is
# appended) are for tests.
set -euo pipefail

variant=${1:?usage: $0 alpine|distroless|scratch [podman build options...]}
shift
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
case $variant in
alpine) runtime_var=ALPINE_IMAGE ;;
distroless) runtime_var=DISTROLESS_IMAGE ;;
scratch) runtime_var= ;;
*) echo "error: unknown variant '$variant' (alpine, distroless or scratch)" >&2; exit 2 ;;
esac
containerfile=${CONTAINERFILE:-$root/Containerfile.$variant}
bases_mode=${BASES:-auto}
case $bases_mode in
auto | upstream | stand-in) ;;
*) echo "error: BASES=$bases_mode: expected upstream (the pinned bases or fail), stand-in (the local ones) or nothing (upstream if it can be had)" >&2; exit 2 ;;
esac
readonly probe_timeout=10

read -r -a archs <<<"${ARCHS:-amd64 arm64}"
case $(uname -m) in
x86_64) build_arch=amd64 ;;
aarch64) build_arch=arm64 ;;
*) echo "error: this machine ($(uname -m)) is neither amd64 nor arm64" >&2; exit 2 ;;
esac
for arch in "${archs[@]}"; do
    case $arch in
    amd64 | arm64) ;;
    *) echo "error: ARCHS: unknown architecture '$arch' (amd64, arm64)" >&2; exit 2 ;;
    esac
    # alpine's runtime stage has a RUN step: another architecture's runs under qemu.
    qemu=qemu-$([[ $arch == arm64 ]] && echo aarch64 || echo x86_64)
    if [[ $variant == alpine && $arch != "$build_arch" && ! -e /proc/sys/fs/binfmt_misc/$qemu ]]; then
        echo "error: alpine for linux/$arch runs a step under emulation, and no $qemu binfmt handler is registered;" \
            "install qemu-user-static (Debian/Ubuntu: apt-get install qemu-user-static binfmt-support, Fedora: dnf install qemu-user-static) or set ARCHS=$build_arch" >&2
        exit 1
    fi
done
tag=${TAG:-localhost/moscow-time:$variant}

# local_id IMAGE ARCH: the ID of IMAGE if it is here for ARCH, else nothing.
local_id() {
    podman image inspect --format '{{.Id}} {{.Architecture}}' "$1" 2>/dev/null | awk -v a="$2" '$2 == a { print $1; exit }'
}

# short IMAGE: IMAGE without its digest, for messages.
short() { echo "${1%@sha256:*}"; }

# pullable IMAGE: its registry serves IMAGE's manifest within probe_timeout
# seconds; if not, sets why to the reason in a few words.
pullable() {
    local out ref=$1 name
    # podman manifest inspect refuses NAME:TAG@DIGEST; the digest decides.
    if [[ $ref == *@* ]]; then
        name=${ref%@*}
        [[ ${name##*/} == *:* ]] && name=${name%:*}
        ref=$name@${1#*@}
    fi
    if out=$(timeout "$probe_timeout" podman manifest inspect "$ref" 2>&1 >/dev/null); then
        return 0
    elif (($? == 124)); then
        why="no answer from ${1%%/*} within $probe_timeout s"
    else
        out=$(grep . <<<"$out" | tail -n 1)
        out=${out#Error: }
        # "pinging container registry HOST: Get ...: dial tcp: lookup HOST ...: no such host"
        if [[ $out =~ pinging\ container\ registry\ ([^:]+):.*:\ ([^:]+)$ ]]; then
            out="${BASH_REMATCH[1]}: ${BASH_REMATCH[2]}"
        fi
        why=$out
    fi
    return 1
}

# choose VAR ARCH: the base for build ARG VAR on ARCH: sets base and origin
# (named, upstream or stand-in); a pin that cannot be had goes to unavailable,
# with the reason.
unavailable=() why='' stand_ins=()
choose() {
    local var=$1 arch=$2 per_arch=${1}_${2^^}
    [[ $var == BUILDER_IMAGE ]] && per_arch=$var
    if [[ -n ${!per_arch:-} || -n ${!var:-} ]]; then
        base=${!per_arch:-${!var}} origin=named
        return
    fi
    if [[ $bases_mode != stand-in ]]; then
        base=$(sed -n "s/^ARG $var=//p" "$containerfile") origin=upstream
        [[ -n $base ]] || { echo "error: $containerfile has no ARG $var=IMAGE" >&2; exit 2; }
        if [[ -n $(local_id "$base" "$arch") ]] || pullable "$base"; then
            return
        fi
        if [[ $bases_mode == upstream ]]; then
            echo "error: BASES=upstream, but $(short "$base") (pinned) is not here for linux/$arch and cannot be pulled ($why);" \
                "reach its registry, name a mirror (README \"Offline and mirror builds\"), or leave BASES unset to use the local stand-ins" >&2
            exit 1
        fi
        [[ " ${unavailable[*]} " == *" $(short "$base") ("* ]] || unavailable+=("$(short "$base") ($why)")
    fi
    origin=stand-in
    case $var in
    BUILDER_IMAGE) base=$stand_in_builder stand_ins+=(builder) ;;
    ALPINE_IMAGE) base=$stand_in_alpine-$arch stand_ins+=("alpine-$arch") ;;
    DISTROLESS_IMAGE) base=$stand_in_distroless-$arch stand_ins+=("distroless-$arch") ;;
    esac
}

choose BUILDER_IMAGE "$build_arch"
builder=$base builder_origin=$origin
declare -A runtime runtime_origin
if [[ -n $runtime_var ]]; then
    for arch in "${archs[@]}"; do
        choose "$runtime_var" "$arch"
        runtime[$arch]=$base runtime_origin[$arch]=$origin
    done
fi

# The stand-ins, announced in one line, and built (once) if they are not up to date.
if ((${#stand_ins[@]})); then
    log=$root/stand-ins/work/build.log
    building=
    if ! "$root/stand-ins/build.sh" --check "${stand_ins[@]}" >/dev/null 2>&1; then
        building=" (building them now, once: a few minutes; log: ${log#"$root"/})"
    fi
    if ((${#unavailable[@]})); then
        list=$(printf '%s and ' "${unavailable[@]}")
        echo "bases: ${list% and } cannot be pulled, so $variant is built on local stand-ins made from Debian packages$building;" \
            "BASES=upstream insists on the pins, BASES=stand-in skips the registry check" >&2
    else
        echo "bases: BASES=stand-in: $variant is built on local stand-ins made from Debian packages, not the pinned bases$building" >&2
    fi
    if [[ -n $building ]]; then
        mkdir -p "$(dirname "$log")"
        if ! "$root/stand-ins/build.sh" "${stand_ins[@]}" >"$log" 2>&1; then
            grep '^error:' "$log" >&2 || tail -n 20 "$log" >&2
            echo "error: building the stand-in bases failed (log: $log)" >&2
            exit 1
        fi
    fi
fi

# image_id IMAGE ARCH: the local ID of IMAGE for ARCH, pulled first if need be.
# Bases are passed by ID: by name, podman 4.3 does not find a local arm64
# image for a later stage ("image not known"), and with --platform it tries
# to pull a local image again under --pull=missing.
image_id() {
    local id out
    id=$(local_id "$1" "$2")
    if [[ -z $id ]]; then
        out=$(podman pull --quiet --platform "linux/$2" "$1" 2>&1) ||
            { echo "error: cannot pull $(short "$1") for linux/$2: $(grep . <<<"$out" | tail -n 1)" >&2; exit 1; }
        id=$(local_id "$1" "$2")
        [[ -n $id ]] || { echo "error: $(short "$1") has no linux/$2 image" >&2; exit 1; }
    fi
    echo "$id"
}

version=$(project_version)
revision=$(git -C "$root" rev-parse HEAD)
created=$(git -C "$root" log -1 --format=%cI)
epoch=$(git -C "$root" log -1 --format=%ct)

args=(
    --format docker # podman drops HEALTHCHECK from OCI images
    --layers
    --timestamp "$epoch"
    --identity-label=false
    --pull=never # every base is here by now (image_id)
)
# The Containerfiles label from these ARGs, but buildah 1.28 keys its layer
# cache on the unexpanded LABEL line and reuses it after a new commit, keeping
# the old values. --label appends a LABEL step with the literal values, which
# does change the cache key; it also restamps the image with --timestamp.
args+=(
    --build-arg "VERSION=$version" --label "org.opencontainers.image.version=$version"
    --build-arg "REVISION=$revision" --label "org.opencontainers.image.revision=$revision"
    --build-arg "CREATED=$created" --label "org.opencontainers.image.created=$created"
)
builder_id=$(image_id "$builder" "$build_arch")
args+=(--build-arg "BUILDER_IMAGE=$builder_id" --label "$builder_label=$builder")

for arch in "${archs[@]}"; do
    platform_args=(--platform "linux/$arch" --build-arg "BUILDPLATFORM=linux/$build_arch")
    origins=$builder_origin
    what="builder $builder ($builder_origin)"
    if [[ -n $runtime_var ]]; then
        runtime_id=$(image_id "${runtime[$arch]}" "$arch")
        platform_args+=(--build-arg "$runtime_var=$runtime_id" --label "$base_label=${runtime[$arch]}")
        what+=", runtime base ${runtime[$arch]} (${runtime_origin[$arch]})"
        [[ ${runtime_origin[$arch]} == "$builder_origin" ]] ||
            origins="$builder_origin builder, ${runtime_origin[$arch]} runtime"
    fi
    platform_args+=(--label "$bases_label=$origins")
    echo "$variant-$arch: $what" >&2
    (
        set -x
        podman build "${args[@]}" "${platform_args[@]}" "$@" \
            -f "$containerfile" \
            -t "$tag-$arch" \
            "${CONTEXT:-$root}"
    )
    if [[ $arch == "$build_arch" ]]; then
        podman tag "$tag-$arch" "$tag"
    fi
done

if [[ " ${archs[*]} " == *" amd64 "* && " ${archs[*]} " == *" arm64 "* ]]; then
    podman manifest rm "$tag-multiarch" >/dev/null 2>&1 || true
    podman manifest create "$tag-multiarch" >/dev/null
    for arch in amd64 arm64; do
        podman manifest add "$tag-multiarch" "containers-storage:$tag-$arch" >/dev/null
    done
    echo "manifest list $tag-multiarch: linux/amd64, linux/arm64"
fi
