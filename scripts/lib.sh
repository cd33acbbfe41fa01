# Shared by the shell scripts (scripts/, stand-ins/build.sh, bench/images.sh,
# deploy/seccomp/generate.sh, publish/) and read by the checks in tests/
# (tests/harness): the engine (podman or docker) and its CLI, the bases and
# their labels, the version, the hardening flags, starting a container, and
# unpacking an image as a registry sees it.
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$root/.tools/bin:$PATH"
repo=${IMAGE_REPO:-localhost/moscow-time}
# What an image build reads: the Containerfiles, the ignore file and the paths
# it lets into the context. The last commit that changed one of them gives
# every image its created time and file times (build-image.sh), so a commit
# that changes none (docs, tests) builds the same images as its parent, from
# the layer cache or from nothing.
build_inputs=(Containerfile.alpine Containerfile.distroless Containerfile.scratch .containerignore)
while read -r allowed; do build_inputs+=("$allowed"); done < <(sed -n 's/^!//p' "$root/.containerignore")
source_commit=$(git -C "$root" log -1 --format=%H -- "${build_inputs[@]}" 2>/dev/null || true)
binary_path=usr/local/bin/moscow-time
seccomp_profile=$root/deploy/seccomp/moscow-time.json

# The engine: ENGINE=podman or docker; unset, podman if it is installed, else
# docker. Every image command goes through `engine` (below), so the scripts
# are the same for both; what differs is in the few `if docker` places.
# Docker: the client is DOCKER if set, else the first `docker` on PATH that
# can build with BuildKit (a 20.10 CLI, or 23+ with the buildx plugin, which
# 23+ needs for BuildKit), else /usr/bin/docker; the daemon is DOCKER_HOST's,
# else scripts/dockerd.sh's if it runs, else the default socket.
dockerd_run=/run/moscow-time-docker
dockerd_socket=$dockerd_run/docker.sock
if [[ -z ${ENGINE:-} ]]; then
    if command -v podman >/dev/null; then ENGINE=podman; elif command -v docker >/dev/null; then ENGINE=docker; else ENGINE=podman; fi
fi
case $ENGINE in
podman | docker) ;;
*) echo "error: ENGINE=$ENGINE: expected podman or docker" >&2; exit 2 ;;
esac
export ENGINE

# buildkit_client DOCKER: DOCKER is a CLI that builds with BuildKit.
buildkit_client() {
    local version
    version=$("$1" --version 2>/dev/null) || return 1
    [[ $version =~ version\ ([0-9]+)\. ]] || return 1
    ((BASH_REMATCH[1] < 23)) || "$1" buildx version >/dev/null 2>&1
}
docker_cli=${DOCKER:-}
if [[ -z $docker_cli ]]; then
    for candidate in $(type -P -a docker) /usr/bin/docker; do
        if buildkit_client "$candidate"; then docker_cli=$candidate; break; fi
    done
fi
docker_cli=${docker_cli:-docker}
if [[ -z ${DOCKER_HOST:-} && -S $dockerd_socket ]]; then export DOCKER_HOST=unix://$dockerd_socket; fi
export DOCKER_BUILDKIT=1

engine_cli=$([[ $ENGINE == docker ]] && echo "$docker_cli" || echo podman)

# engine ARGS...: the chosen engine's CLI.
engine() { "$engine_cli" "$@"; }

# need_engine: nothing if the engine is here and answers, else one line saying
# how to get it, and exit 1.
need_engine() {
    local out
    if [[ $ENGINE == podman ]]; then
        command -v podman >/dev/null && return
        echo "error: ENGINE=podman but podman is not installed (Debian/Ubuntu: apt-get install podman, Fedora: dnf install podman), or use ENGINE=docker" >&2
        exit 1
    fi
    if ! buildkit_client "$docker_cli"; then
        echo "error: ENGINE=docker needs a docker CLI that builds with BuildKit ($docker_cli is not one: Docker 23+ needs the buildx plugin); set DOCKER=/path/to/docker or install docker.io (Debian/Ubuntu) or docker-buildx" >&2
        exit 1
    fi
    out=$(timeout 10 "$docker_cli" version --format '{{.Server.Version}}' 2>&1) && return
    echo "error: ENGINE=docker: no Docker daemon answers (${DOCKER_HOST:-the default socket}: $(tail -n 1 <<<"$out")); start one (scripts/dockerd.sh start, as root)" >&2
    exit 1
}

# The hardening every container of the image runs with, defined here only
# (`just run`, start_container below, the checks via tests/harness): read-only
# root, no capabilities, no privilege gain. podman would also mount writable
# tmpfs on /tmp, /var/tmp and /run of a read-only container; nothing is
# written, so none.
hardening_flags=(--read-only --cap-drop=all --security-opt=no-new-privileges)
[[ $ENGINE != podman ]] || hardening_flags+=(--read-only-tmpfs=false)

# project_version: the package version in Cargo.toml.
project_version() {
    sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1
}

# start_container NAME IMAGE [run options...]: runs IMAGE detached as NAME,
# hardened, published on a free loopback port, and waits (5 s at most) until
# /healthz answers; sets addr (HOST:PORT). If it does not answer: its logs on
# stderr, status 1 (the caller removes NAME).
start_container() {
    local name=$1 image=$2
    shift 2
    engine run -d --pull=never --name "$name" -p 127.0.0.1::8080 "${hardening_flags[@]}" "$@" "$image" >/dev/null &&
        addr=$(engine port "$name" 8080 | head -n 1) || return 1
    wait_for "http://$addr/healthz" || { engine logs "$name" >&2; return 1; }
}

# wait_for URL: until URL answers, 5 s at most; else one line on stderr, status 1.
wait_for() {
    local _
    for _ in $(seq 50); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "error: no answer from $1 within 5 s" >&2
    return 1
}

# The bases. scripts/build-image.sh chooses them (the user's BUILDER_IMAGE,
# ALPINE_IMAGE, DISTROLESS_IMAGE and their _AMD64/_ARM64; else the
# Containerfiles' pins; else these local stand-ins, built by
# stand-ins/build.sh) and records its choice in each image's labels, where
# every other script reads it: no script needs the variables exported.
stand_in_builder=localhost/moscow-time-stand-in/rust:1.96-bookworm-musl
stand_in_alpine=localhost/moscow-time-stand-in/alpine:busybox                 # + -ARCH
stand_in_distroless=localhost/moscow-time-stand-in/distroless-cc:debian12     # + -ARCH
stand_in_key_label=io.github.moscow-time.stand-in.key
# upstream, stand-in or named (the user's), or "ORIGIN builder, ORIGIN runtime"
bases_label=io.github.moscow-time.bases
builder_label=io.github.moscow-time.builder.name
# The runtime stage's base (alpine and distroless; scratch has none).
base_label=org.opencontainers.image.base.name

# label IMAGE KEY: the value of label KEY of the local IMAGE; empty if none.
label() {
    engine image inspect "$1" 2>/dev/null | jq -r --arg k "$2" '.[0].Config.Labels[$k] // empty'
}

# base_image VARIANT-ARCH: the runtime stage's base that build.sh used for
# $repo:VARIANT-ARCH, from its label; empty for scratch.
base_image() {
    case ${1%-*} in
    alpine | distroless) ;;
    *) return 0 ;;
    esac
    local base
    base=$(label "$repo:$1" "$base_label")
    [[ -n $base ]] || { echo "$repo:$1 has no $base_label label; build it again (just images)" >&2; return 1; }
    echo "$base"
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
    base_layers=$(engine image inspect --format '{{range .RootFS.Layers}}{{println .}}{{end}}' "$base" | grep .) ||
        { echo "base image $base not found" >&2; return 1; }
    [[ $(head -n "$(wc -l <<<"$base_layers")" <<<"$image_layers") == "$base_layers" ]] ||
        { echo "the image does not start with the layers of $base" >&2; return 1; }
    echo $(($(wc -l <<<"$image_layers") - $(wc -l <<<"$base_layers")))
}

# unpack IMAGE DIR: save IMAGE as a docker-archive to DIR.tar (Docker's only
# format) and unpack it into DIR (manifest.json, the config and one tar per
# layer).
unpack() {
    rm -rf "$2" "$2.tar"
    mkdir -p "$2"
    if [[ $ENGINE == docker ]]; then
        engine save -o "$2.tar" "$1"
    else
        podman save --quiet --format docker-archive -o "$2.tar" "$1"
    fi && tar -xf "$2.tar" -C "$2"
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

# copy_context DIR: the build context (what .containerignore lets through,
# read from it) and the Containerfiles, copied to DIR for probe builds that
# edit them.
copy_context() {
    local name
    mkdir -p "$1"
    cp -a "$root"/.containerignore "$root"/Containerfile.* "$1/"
    sed -n 's#^!\(.*[^/]\)/*$#\1#p' "$root/.containerignore" | while read -r name; do
        mkdir -p "$1/$(dirname "$name")" && cp -a "$root/$name" "$1/$name"
    done
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
