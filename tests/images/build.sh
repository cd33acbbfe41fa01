#!/usr/bin/env bash
# Builds localhost/moscow-time:VARIANT from Containerfile.VARIANT.
#
#   tests/images/build.sh VARIANT [extra podman build options...]
#
# Labels come from the checkout: version from Cargo.toml, revision from HEAD,
# created from HEAD's commit time, which also stamps every file and the image
# (--timestamp) so two clean builds of one commit give the same layers. The
# layer cache ignores --timestamp: a layer reused from an older commit keeps
# that commit's file times, so build a release with `--no-cache` from a clean
# commit (a dirty tree is labelled with HEAD all the same).
# BUILDER_IMAGE, ALPINE_IMAGE and DISTROLESS_IMAGE, when set, replace the
# default base images (each variant gets only the ones it uses; the shared
# build stage is cached across variants either way). CONTEXT (default: the
# repository), CONTAINERFILE (default: Containerfile.VARIANT) and TAG
# (default: localhost/moscow-time:VARIANT) are for tests.
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
    --pull=missing # pulls a pinned base the first time; local stand-ins never
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

set -x
podman build "${args[@]}" "$@" \
    -f "${CONTAINERFILE:-$root/Containerfile.$variant}" \
    -t "${TAG:-localhost/moscow-time:$variant}" \
    "${CONTEXT:-$root}"
