#!/usr/bin/env bash
# Builds localhost/moscow-time:VARIANT-ARCH from Containerfile.VARIANT for each
# ARCH in ARCHS, tags the build machine's own one localhost/moscow-time:VARIANT,
# and, when ARCHS holds both, (re)creates the manifest list
# localhost/moscow-time:VARIANT-multiarch of the two (for publishing).
#
#   scripts/build-image.sh VARIANT [extra build options...]
#   ARCHS="amd64 arm64" (default) or one of them
#   ENGINE=podman (default if installed) or docker (scripts/lib.sh)
#
# The build stage runs on the build machine's platform (BUILDPLATFORM, passed:
# buildah 1.28 does not set it, and Docker 20.10's BuildKit leaves the global
# `ARG BUILDPLATFORM` that buildah needs empty) and cross-compiles; only the
# runtime stage is of the target architecture.
# Docker builds with BuildKit, one --platform build per architecture (Debian
# 12 has no buildx), and makes no manifest list: `docker manifest` only
# works against a registry, so publishing stays podman's (just publish).
# Labels come from the checkout: version from Cargo.toml, revision from HEAD,
# created from the time of the last commit that changed the build's inputs
# (lib.sh: source_commit), which podman also stamps on every file and the
# image (--timestamp) so two clean builds of one commit give the same layers,
# and reproducible() drops the build's random IDs from the config, so they
# give the same image IDs and digests too; Docker 20.10 has no such option
# (docs/docker.md). The layer cache ignores --timestamp, and a layer it reuses
# keeps the file times it was made with: the inputs' time, not HEAD's, makes
# that the same time whenever the inputs are the same, and SOURCE_DATE_EPOCH
# puts the time into the key of alpine's runtime RUN step, which no input
# changes. A COPY is keyed by content only: a commit that changes an input
# but not the binary gets the older time on its cached COPY layer (a dirty
# tree is labelled with HEAD all the same).
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

variant=${1:?usage: $0 alpine|distroless|scratch [build options...]}
shift
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
need_engine
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
    engine image inspect --format '{{.Id}} {{.Architecture}}' "$1" 2>/dev/null | awk -v a="$2" '$2 == a { print $1; exit }'
}

# short IMAGE: IMAGE without its digest, for messages.
short() { echo "${1%@sha256:*}"; }

# pullable IMAGE: its registry serves IMAGE's manifest within probe_timeout
# seconds; if not, sets why to the reason in a few words.
pullable() {
    local out ref=$1 name
    # manifest inspect refuses NAME:TAG@DIGEST; the digest decides.
    if [[ $ref == *@* ]]; then
        name=${ref%@*}
        [[ ${name##*/} == *:* ]] && name=${name%:*}
        ref=$name@${1#*@}
    fi
    if out=$(timeout "$probe_timeout" "$engine_cli" manifest inspect "$ref" 2>&1 >/dev/null); then
        return 0
    elif (($? == 124)); then
        why="no answer from ${1%%/*} within $probe_timeout s"
    else
        out=$(grep . <<<"$out" | tail -n 1)
        out=${out#Error: }
        # "pinging container registry HOST: Get ...: dial tcp: lookup HOST ...: no such host"
        # Docker: "... error pinging v2 registry: Get "https://HOST/v2/": dial tcp: ...: no such host"
        if [[ $out =~ pinging\ container\ registry\ ([^:]+):.*:\ ([^:]+)$ ||
            $out =~ pinging\ v2\ registry:\ Get\ \"https://([^/]+)/.*:\ ([^:]+)$ ]]; then
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
                "reach its registry, name a mirror (docs/building.md \"Behind a mirror\"), or leave BASES unset to use the local stand-ins" >&2
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
# podman is given bases by ID: by name, podman 4.3 does not find a local arm64
# image for a later stage ("image not known"), and with --platform it tries
# to pull a local image again under --pull=missing. BuildKit takes names only
# (and uses the local image when its architecture is the one built), so
# Docker gets IMAGE itself.
image_id() {
    local id out
    id=$(local_id "$1" "$2")
    if [[ -z $id ]]; then
        out=$(engine pull --quiet --platform "linux/$2" "$1" 2>&1) ||
            { echo "error: cannot pull $(short "$1") for linux/$2: $(grep . <<<"$out" | tail -n 1)" >&2; exit 1; }
        id=$(local_id "$1" "$2")
        [[ -n $id ]] || { echo "error: $(short "$1") has no linux/$2 image" >&2; exit 1; }
    fi
    if [[ $ENGINE == docker ]]; then echo "$1"; else echo "$id"; fi
}

# reproducible IMAGE: rewrite IMAGE's config without what buildah 1.28 makes
# differ between two builds of one commit: the build container's random ID
# (config.Hostname, container_config.Hostname, container), the parent
# intermediate image and the history comments naming intermediate images.
# Layers, labels, times and every other field stay; the image ID (the
# config's digest) and so every pushed digest become the same for the same
# commit. buildah 1.28 has no option for it (--timestamp and
# --identity-label=false do the rest), so skopeo copies the image out and back.
reproducible() (
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    skopeo copy --quiet "containers-storage:$1" "dir:$dir" || exit 1
    config=$dir/$(jq -r '.config.digest | ltrimstr("sha256:")' "$dir/manifest.json") || exit 1
    jq -c 'del(.container, .parent) | .config.Hostname = "" | .container_config.Hostname = ""
        | .history |= map(del(.comment))' "$config" >"$dir/config.json" || exit 1
    sum=$(sha256sum <"$dir/config.json" | cut -d' ' -f1)
    rm "$config" && mv "$dir/config.json" "$dir/$sum" || exit 1
    jq --arg d "sha256:$sum" --argjson size "$(stat -c %s "$dir/$sum")" '.config.digest = $d | .config.size = $size' \
        "$dir/manifest.json" >"$dir/manifest.new" || exit 1
    mv "$dir/manifest.new" "$dir/manifest.json" && skopeo copy --quiet "dir:$dir" "containers-storage:$1"
)

version=$(project_version)
revision=$(git -C "$root" rev-parse HEAD)
created=$(git -C "$root" log -1 --format=%cI "$source_commit")
epoch=$(git -C "$root" log -1 --format=%ct "$source_commit")

if [[ $ENGINE == podman ]]; then
    args=(
        --format docker # podman drops HEALTHCHECK from OCI images
        --layers
        --timestamp "$epoch"
        --identity-label=false
        --pull=never # every base is here by now (image_id)
    )
else
    # dockerd.sh's daemon gives containers no route out (--iptables=false);
    # the build stage fetches crates, so its RUN steps use the host's network.
    args=(--network=host)
fi
# The Containerfiles label from these ARGs, but buildah 1.28 keys its layer
# cache on the unexpanded LABEL line and reuses it after a new commit, keeping
# the old values. --label appends a LABEL step with the literal values, which
# does change the cache key; it also restamps the image with --timestamp.
args+=(
    --build-arg "VERSION=$version" --label "org.opencontainers.image.version=$version"
    --build-arg "REVISION=$revision" --label "org.opencontainers.image.revision=$revision"
    --build-arg "CREATED=$created" --label "org.opencontainers.image.created=$created"
    --build-arg "SOURCE_DATE_EPOCH=$epoch"
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
        engine build "${args[@]}" "${platform_args[@]}" "$@" \
            -f "$containerfile" \
            -t "$tag-$arch" \
            "${CONTEXT:-$root}"
    )
    if [[ $ENGINE == podman ]]; then
        reproducible "$tag-$arch" || { echo "error: cannot rewrite $tag-$arch's config (skopeo, jq)" >&2; exit 1; }
    fi
    if [[ $arch == "$build_arch" ]]; then
        engine tag "$tag-$arch" "$tag"
    fi
done

if [[ $ENGINE == podman && " ${archs[*]} " == *" amd64 "* && " ${archs[*]} " == *" arm64 "* ]]; then
    podman manifest rm "$tag-multiarch" >/dev/null 2>&1 || true
    podman manifest create "$tag-multiarch" >/dev/null
    for arch in amd64 arm64; do
        podman manifest add "$tag-multiarch" "containers-storage:$tag-$arch" >/dev/null
    done
    echo "manifest list $tag-multiarch: linux/amd64, linux/arm64"
fi
