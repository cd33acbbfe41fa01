# Shared by the image scripts (run.sh, sizes.sh, mutants.sh) and bench/images.sh:
# unpack an image the way a registry sees it, and clean up after test builds.
# shellcheck shell=bash

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH="$root/.tools/bin:$PATH"
# shellcheck disable=SC2034 # used by the scripts that source this file
repo=${IMAGE_REPO:-localhost/moscow-time}
binary_path=usr/local/bin/moscow-time

# base_image VARIANT-ARCH: the runtime stage's base as build.sh passes it
# (VARIANT_IMAGE_ARCH, else VARIANT_IMAGE, else the Containerfile's pin);
# empty for scratch.
base_image() {
    local variant=${1%-*} arch=${1##*-} name
    case $variant in
    alpine) name=ALPINE_IMAGE ;;
    distroless) name=DISTROLESS_IMAGE ;;
    *) return 0 ;;
    esac
    local per_arch=${name}_${arch^^}
    echo "${!per_arch:-${!name:-$(sed -n "s/^ARG $name=//p" "$root/Containerfile.$variant")}}"
}

# added_layers VARIANT-ARCH DIR: how many layers of the unpacked image DIR its
# runtime stage added, i.e. the layers after its base's; fails if the image
# does not start with the base's layers.
added_layers() {
    local base base_layers image_layers
    base=$(base_image "$1")
    image_layers=$(jq -r '.rootfs.diff_ids[]' "$2/$(jq -r '.[0].Config' "$2/manifest.json")")
    if [[ -z $base ]]; then
        wc -l <<<"$image_layers"
        return
    fi
    base_layers=$(podman image inspect --format '{{range .RootFS.Layers}}{{println .}}{{end}}' "$base" | grep .) ||
        { echo "base image $base not found" >&2; return 1; }
    [[ $(head -n "$(wc -l <<<"$base_layers")" <<<"$image_layers") == "$base_layers" ]] ||
        { echo "the image does not start with the layers of $base" >&2; return 1; }
    echo $(($(wc -l <<<"$image_layers") - $(wc -l <<<"$base_layers")))
}

# unpack IMAGE DIR: `podman save` IMAGE as a docker-archive to DIR.tar and
# unpack it into DIR (manifest.json, the config and one tar per layer).
unpack() {
    rm -rf "$2" "$2.tar"
    mkdir -p "$2"
    podman save --quiet --format docker-archive -o "$2.tar" "$1" && tar -xf "$2.tar" -C "$2"
}

# layers DIR: the layer tars of an unpacked image, base first, one per line.
layers() {
    jq -r '.[0].Layers[]' "$1/manifest.json" | sed "s|^|$1/|"
}

# extract_binary DIR OUT: the binary from the topmost layer that holds it.
extract_binary() {
    local layer
    for layer in $(layers "$1" | tac); do
        if tar -tf "$layer" "$binary_path" >/dev/null 2>&1; then
            tar -xOf "$layer" "$binary_path" >"$2"
            return 0
        fi
    done
    return 1
}

# copy_context DIR: the build context (what .containerignore lets through)
# and the Containerfiles, copied to DIR for probe builds that edit them.
copy_context() {
    mkdir -p "$1"
    cp -a "$root"/{Cargo.toml,Cargo.lock,src,musl,.containerignore} "$root"/Containerfile.* "$1/"
}

# remove_new_layers BUILD_LOG...: removes the layers the logged `podman build`
# runs made (not those they took from the cache), newest first. Layers a
# tagged image still uses stay.
remove_new_layers() {
    local layer
    for layer in $(cat "$@" 2>/dev/null |
        awk '/^--> Using cache/ { cached = 1; next } /^--> [0-9a-f]+$/ { if (!cached) print $2; cached = 0 }' | tac); do
        podman rmi "$layer" >/dev/null 2>&1 || true
    done
}

# mib BYTES: bytes as MiB with one decimal.
mib() {
    awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'
}
