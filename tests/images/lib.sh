# Shared by run.sh and sizes.sh: unpack an image the way a registry sees it.
# shellcheck shell=bash

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH="$root/.tools/bin:$PATH"
repo=${IMAGE_REPO:-localhost/moscow-time}
binary_path=usr/local/bin/moscow-time

# Layers each runtime stage adds on top of its base (see the Containerfiles).
declare -A added_layers=([alpine]=2 [distroless]=1 [scratch]=1)

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

# mib BYTES: bytes as MiB with one decimal.
mib() {
    awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'
}
