#!/usr/bin/env bash
# publish/provenance.sh VARIANT LOCAL_IMAGE...: prints a SLSA v1 provenance
# predicate (https://slsa.dev/provenance/v1) for the build of one image, or
# of a manifest list when given its images, for `cosign attest --type
# slsaprovenance1`, which wraps it in an in-toto statement whose subject is
# the digest it attests. Everything comes from the images' own labels
# (scripts/build-image.sh writes them), so it describes the build that made
# them, not today's checkout:
#   build definition  the Containerfile, Cargo.lock and the git commit (by
#                     sha256 and commit, read from the labelled commit), the
#                     platforms, the builder and runtime base images by ID;
#   run details       the build script, podman's version, the created time,
#                     and each image's config digest as a byproduct.
# Needs: podman, git, jq.
set -euo pipefail

usage="usage: $0 alpine|distroless|scratch LOCAL_IMAGE..."
variant=${1:?$usage}
shift
(($#)) || { echo "$usage" >&2; exit 2; }
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"

inspect=$(podman image inspect "$@") || { echo "error: not all of $* are local images" >&2; exit 1; }
revision=$(jq -r '[.[].Labels["org.opencontainers.image.revision"]] | unique | if length == 1 then .[0] // "" else "" end' <<<"$inspect")
[[ -n $revision ]] || { echo "error: $* do not share one revision label: build them with scripts/build-image.sh" >&2; exit 1; }

# file_sha256 PATH: the sha256 of PATH as committed in $revision.
file_sha256() {
    git -C "$root" cat-file -e "$revision:$1" 2>/dev/null ||
        { echo "error: $1 of commit $revision is not in this repository" >&2; return 1; }
    git -C "$root" show "$revision:$1" | sha256sum | cut -d' ' -f1
}
# image_dependency NAME: a resolvedDependency for a local base image, by its
# ID (the sha256 of its config) and, if it came from a registry, its digest.
image_dependency() {
    local id repo_digest
    id=$(podman image inspect --format '{{.Id}}' "$1") || { echo "error: base image $1 is not here" >&2; return 1; }
    repo_digest=$(podman image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$1" | grep -m 1 . || true)
    jq -n --arg name "$1" --arg id "$id" --arg rd "$repo_digest" \
        '{uri: "oci://\($name)", digest: {sha256: $id}} + (if $rd == "" then {} else {annotations: {repoDigest: $rd}} end)'
}

containerfile=Containerfile.$variant
containerfile_sum=$(file_sha256 "$containerfile")
lock_sum=$(file_sha256 Cargo.lock)
deps=$(jq -n --arg rev "$revision" --arg cf "$containerfile" --arg cf_sum "$containerfile_sum" --arg lock_sum "$lock_sum" \
    '[{uri: "git+moscow-time@\($rev)", digest: {gitCommit: $rev}},
      {name: $cf, digest: {sha256: $cf_sum}},
      {name: "Cargo.lock", digest: {sha256: $lock_sum}}]')
while read -r base; do
    dep=$(image_dependency "$base")
    deps=$(jq --argjson d "$dep" '. + [$d]' <<<"$deps")
done < <(jq -r --arg b "$builder_label" --arg r "$base_label" '[.[].Labels[$b, $r] // empty] | unique | .[]' <<<"$inspect")

jq -n --argjson deps "$deps" --argjson images "$inspect" --arg variant "$variant" --arg cf "$containerfile" \
    --arg podman "$(podman version --format '{{.Client.Version}}')" --arg bases_label "$bases_label" '{
    buildDefinition: {
        buildType: "urn:moscow-time:build-image:v1",
        externalParameters: {
            variant: $variant,
            containerfile: $cf,
            platforms: [$images[] | "\(.Os)/\(.Architecture)"],
            bases: ([$images[].Labels[$bases_label]] | unique | join("; "))
        },
        internalParameters: {version: $images[0].Labels["org.opencontainers.image.version"]},
        resolvedDependencies: $deps
    },
    runDetails: {
        builder: {id: "urn:moscow-time:scripts/build-image.sh", version: {podman: $podman}},
        metadata: {startedOn: $images[0].Labels["org.opencontainers.image.created"]},
        byproducts: [$images[] | {name: "image config \(.Os)/\(.Architecture)", digest: {sha256: (.Id)}}]
    }
}'
