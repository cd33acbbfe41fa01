#!/usr/bin/env bash
# publish/sbom.sh (`just sbom`): an SPDX JSON and a CycloneDX JSON SBOM of
# each per-architecture image, made by syft from the saved image. syft reads
# the crates from the dependency list cargo-auditable embeds in the binary,
# and the OS packages from the base's package database (alpine, distroless).
#
# Environment:
#   SBOM_DIR    where the SBOMs go (default target/sbom):
#               moscow-time-VARIANT-ARCH.spdx.json and .cdx.json
#   IMAGE_REPO  the local images, VARIANT-ARCH (default localhost/moscow-time)
#   VARIANTS    default "alpine distroless scratch"
#   ARCHES      default "amd64 arm64"
#   SBOM_CACHE  a folder for SBOMs by image ID: an image whose SBOMs are
#               there is not scanned again (the publish checks, which
#               publish the same images many times, set one for their run)
# Needs: podman, syft (.tools/), jq.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$root/.tools/bin:$PATH"
repo=${IMAGE_REPO:-localhost/moscow-time}
read -r -a variants <<<"${VARIANTS:-alpine distroless scratch}"
read -r -a arches <<<"${ARCHES:-amd64 arm64}"
out=${SBOM_DIR:-$root/target/sbom}
build_recipe="just images"

for v in "${variants[@]}"; do
    for a in "${arches[@]}"; do
        podman image exists "$repo:$v-$a" ||
            { echo "error: $repo:$v-$a not found: build the multi-arch images with \`$build_recipe\`" >&2; exit 1; }
    done
done

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for v in "${variants[@]}"; do
    for a in "${arches[@]}"; do
        name=moscow-time-$v-$a
        # Made in $out, or in SBOM_CACHE under the image's ID (and the
        # repository, which the SBOMs name) and copied from there.
        made=$out/$name
        [[ -z ${SBOM_CACHE:-} ]] ||
            made=$SBOM_CACHE/$(podman image inspect --format '{{.Id}}' "$repo:$v-$a")-$(sha256sum <<<"$repo" | cut -c1-8)-$v-$a
        if [[ -z ${SBOM_CACHE:-} || ! -f $made.cdx.json ]]; then
            mkdir -p "$(dirname "$made")"
            podman save --quiet --format docker-archive -o "$work/$name.tar" "$repo:$v-$a"
            # Saved, not pulled: syft sees exactly the local image, no registry or daemon.
            syft scan --quiet --source-name "$repo" --source-version "$v-$a" "docker-archive:$work/$name.tar" \
                -o "spdx-json=$made.spdx.json" -o "cyclonedx-json=$made.cdx.json"
            rm "$work/$name.tar"
        fi
        if [[ $made != "$out/$name" ]]; then
            cp "$made.spdx.json" "$out/$name.spdx.json"
            cp "$made.cdx.json" "$out/$name.cdx.json"
        fi
        jq -r --arg name "$name" '[.components[]? | .purl // "" | select(startswith("pkg:cargo/"))] as $crates
            | [.components[]? | .purl // "" | select(test("^pkg:(apk|deb)/"))] as $os
            | [.components[]? | select(.type == "operating-system") | .name] as $distro
            | [.components[]? | select(.type != "operating-system" and ((.purl // "") | test("^pkg:(cargo|apk|deb)/") | not))
                | .name] as $other
            | "\($name): \($crates | length) crates, \($os | length) OS packages"
              + (if $distro == [] then "" else ", OS \($distro | join(" "))" end)
              + (if $other == [] then "" else ", other: \($other | join(" "))" end)' "$out/$name.cdx.json"
    done
done
echo "SBOMs in $out"
