#!/usr/bin/env bash
# Builds localhost/moscow-time:VARIANT-ARCH from Containerfile.VARIANT for each
# ARCH in ARCHS, tags the build machine's own one localhost/moscow-time:VARIANT,
# and, when ARCHS holds both, (re)creates the manifest list
# localhost/moscow-time:VARIANT-multiarch of the two (for publishing).
#
#   tests/images/build.sh VARIANT [extra podman build options...]
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
# Bases: BUILDER_IMAGE (any platform that runs here) and, per architecture,
# ALPINE_IMAGE_AMD64 / _ARM64 and DISTROLESS_IMAGE_AMD64 / _ARM64, each
# defaulting to ALPINE_IMAGE / DISTROLESS_IMAGE, which default to the
# Containerfile's pins (multi-arch indexes: podman picks the platform). Each
# variant gets only the ones it uses; the shared build stage is cached across
# variants of one architecture either way. CONTEXT (default: the repository),
# CONTAINERFILE (default: Containerfile.VARIANT) and TAG (default:
# localhost/moscow-time:VARIANT; the arch is appended) are for tests.
set -euo pipefail

variant=${1:?usage: $0 alpine|distroless|scratch [podman build options...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
case $variant in
alpine | distroless | scratch) ;;
*) echo "error: unknown variant '$variant' (alpine, distroless or scratch)" >&2; exit 2 ;;
esac

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
revision=$(git -C "$root" rev-parse HEAD)
created=$(git -C "$root" log -1 --format=%cI)
epoch=$(git -C "$root" log -1 --format=%ct)

args=(
    --format docker # podman drops HEALTHCHECK from OCI images
    --layers
    --timestamp "$epoch"
    --identity-label=false
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
case $variant in
alpine) bases=(BUILDER_IMAGE ALPINE_IMAGE) ;;
distroless) bases=(BUILDER_IMAGE DISTROLESS_IMAGE) ;;
scratch) bases=(BUILDER_IMAGE) ;;
esac
for base in "${bases[@]}"; do
    if [[ -n ${!base:-} ]]; then
        args+=(--build-arg "$base=${!base}")
    fi
done
case $variant in
alpine) bases=(ALPINE_IMAGE) ;;
distroless) bases=(DISTROLESS_IMAGE) ;;
scratch) bases=() ;;
esac

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
done
tag=${TAG:-localhost/moscow-time:$variant}

for arch in "${archs[@]}"; do
    platform_args=(--platform "linux/$arch" --build-arg "BUILDPLATFORM=linux/$build_arch")
    # Pull a pinned base the first time. Bases all present locally are used
    # as they are: podman 4.3 with --platform tries to pull a local arm64
    # image again (and fails without a registry) under --pull=missing.
    # A local runtime base is passed by image ID: by name, podman 4.3 does
    # not find a local arm64 image for a later stage ("image not known").
    pull=never
    for base in "${bases[@]}"; do
        per_arch=${base}_${arch^^}
        image=${!per_arch:-${!base:-$(sed -n "s/^ARG $base=//p" "$root/Containerfile.$variant")}}
        if podman image exists "$image"; then
            platform_args+=(--build-arg "$base=$(podman image inspect --format '{{.Id}}' "$image")")
        else
            pull=missing
            [[ -n ${!per_arch:-} ]] && platform_args+=(--build-arg "$base=${!per_arch}")
        fi
    done
    image=${BUILDER_IMAGE:-$(sed -n "s/^ARG BUILDER_IMAGE=//p" "$root/Containerfile.$variant")}
    podman image exists "$image" || pull=missing
    platform_args+=(--pull="$pull")
    (
        set -x
        podman build "${args[@]}" "${platform_args[@]}" "$@" \
            -f "${CONTAINERFILE:-$root/Containerfile.$variant}" \
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
