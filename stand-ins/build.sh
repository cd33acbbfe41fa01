#!/usr/bin/env bash
# stand-ins/build.sh: build the LOCAL base images used instead of the pinned
# upstream ones where those cannot be pulled: one builder (it runs on the build
# machine and cross-compiles) and the two runtime bases for amd64 and arm64.
#
#   stand-ins/build.sh [--check] [builder] [alpine-ARCH] [distroless-ARCH]...
#   (default: all of them, for each ARCH in ARCHS, default "amd64 arm64";
#   --check: build nothing, exit 1 if one is missing or out of date)
#
# Why: without a container registry (an offline machine, our CI) rust:alpine,
# distroless/cc and alpine cannot be pulled, but package registries may still
# be reached. These stand-ins are made from Debian 12 (bookworm) packages only,
# labelled as stand-ins, and tagged (names in scripts/lib.sh)
#   localhost/moscow-time-stand-in/rust:1.96-bookworm-musl      for rust:1.95.0-alpine3.23
#   localhost/moscow-time-stand-in/distroless-cc:debian12-ARCH  for distroless/cc-debian12:nonroot
#   localhost/moscow-time-stand-in/alpine:busybox-ARCH          for alpine:3.23
# with ARCH amd64 and arm64 (the runtime bases are built for that architecture
# from its Debian packages; nothing runs under emulation).
# scripts/build-image.sh (`just images`) runs this when it chooses them.
#
# Idempotent: an image is rebuilt only when its inputs (the files in
# stand-ins/ and musl/self-contained.sh) change; FORCE=1 rebuilds anyway.
# Built by the chosen ENGINE (podman or docker, scripts/lib.sh) from the same
# files; Docker loads podman's up-to-date ones instead of building its own
# (the same inputs, one build).
# Downloads are cached in stand-ins/work/ (gitignored). Needs root, the engine,
# debootstrap, dpkg-deb and a Debian 12 apt with the arm64 architecture
# (dpkg --add-architecture arm64; apt-get update); says so in one line
# otherwise. All images get a fixed creation time (reproducibility).
set -euo pipefail

script=$(realpath "$0")
cd "$(dirname "$script")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

readonly rust_image=$stand_in_builder
readonly distroless_image=$stand_in_distroless
readonly alpine_image=$stand_in_alpine
read -r -a archs <<<"${ARCHS:-amd64 arm64}"
check_only=false
if [[ ${1:-} == --check ]]; then
    check_only=true
    shift
fi
wanted=("$@")
if ((${#wanted[@]} == 0)); then
    wanted=(builder)
    for arch in "${archs[@]}"; do wanted+=("alpine-$arch" "distroless-$arch"); done
fi

readonly assets=stand-ins
readonly work=stand-ins/work
readonly epoch=1704067200 # 2024-01-01T00:00:00Z
readonly mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What gcr.io/distroless/cc-debian12 is made of.
readonly distroless_debs=(base-files netbase tzdata ca-certificates libc6 libgcc-s1 libgomp1 libstdc++6 libssl3)

# The builder's packages beyond debootstrap's: Rust 1.96 (bookworm-security,
# which debootstrap does not read) and arm64's musl and LLVM libunwind.
readonly rust_debs=(rustc-web cargo-web rust-web-src libstd-rust-web-dev libstd-rust-web-1.96 libllvm22
    musl-dev:arm64 libunwind-14-dev:arm64)
key=$(find "$assets" musl/self-contained.sh -maxdepth 1 -type f -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16)

# prerequisites: one line for each thing missing to build a stand-in (from
# `just doctor`'s table), then exit 1. Only called when one has to be built.
prerequisites() {
    scripts/doctor.sh --need root "$ENGINE" debootstrap dpkg-deb apt-bookworm-arm64 || {
        echo "error: so the stand-in bases cannot be built here; let $ENGINE pull the pinned bases or name your own (docs/building.md, \"The bases\")" >&2
        exit 1
    }
}

# up_to_date TAG: the image exists and was built from the current inputs.
up_to_date() {
    [[ ${FORCE:-0} != 1 ]] &&
        [[ $(engine image inspect --format "{{ index .Config.Labels \"$stand_in_key_label\" }}" "$1" 2>/dev/null) == "$key" ]]
}

# build TAG CONTAINERFILE CONTEXT [BUILD-ARGS...]: build (podman: with a fixed
# timestamp; Docker 20.10 has no such option), then drop the image the tag
# pointed to before.
build() {
    local tag=$1 file=$2 context=$3 old engine_args=()
    shift 3
    if [[ $ENGINE == podman ]]; then
        engine_args=(--pull=never --timestamp "$epoch" --identity-label=false)
    fi
    old=$(engine image inspect --format '{{ .Id }}' "$tag" 2>/dev/null || true)
    engine build "${engine_args[@]}" \
        --label "$stand_in_key_label=$key" --file "$file" --tag "$tag" "$@" "$context"
    if [[ -n $old && $old != "$(engine image inspect --format '{{ .Id }}' "$tag")" ]]; then
        engine rmi "$old" >/dev/null 2>&1 || true
    fi
}

# tar_rootfs DIR TARBALL: a deterministic tarball of a rootfs directory.
tar_rootfs() {
    tar --sort=name --numeric-owner --mtime="@$epoch" --exclude='./dev/*' --exclude='./proc/*' \
        -C "$1" -cf "$2" .
}

# deb PACKAGE[:ARCH]: path of the cached .deb of PACKAGE for ARCH (default
# amd64; downloaded on first use).
deb() {
    local found name=${1%%:*} arch=amd64
    [[ $1 == *:* ]] && arch=${1#*:}
    mkdir -p "$work/debs"
    found=$(compgen -G "$work/debs/${name}_*_${arch}.deb" || compgen -G "$work/debs/${name}_*_all.deb" || true)
    if [[ -z $found ]]; then
        (cd "$work/debs" && apt-get download -q -o APT::Sandbox::User=root "$name:$arch" >&2)
        found=$(compgen -G "$work/debs/${name}_*_${arch}.deb" || compgen -G "$work/debs/${name}_*_all.deb")
    fi
    tail -n 1 <<<"$found"
}

# ca_bundle ROOT: /etc/ssl/certs/ca-certificates.crt from the certificates of
# the ca-certificates package (what its postinst would generate).
ca_bundle() {
    mkdir -p "$1/etc/ssl/certs"
    LC_ALL=C cat "$1"/usr/share/ca-certificates/mozilla/*.crt >"$1/etc/ssl/certs/ca-certificates.crt"
}

build_rust() {
    local ctx=$work/rust pkg
    # The debootstrap rootfs is the slow part: cache it as a tarball.
    if [[ ! -f $work/bookworm-musl-builder.tar ]]; then
        rm -rf "$work/debootstrap"
        mkdir -p "$work"
        debootstrap --variant=minbase \
            --include=gcc,libc6-dev,ca-certificates,musl-dev,lld-14,libunwind-14-dev,gcc-aarch64-linux-gnu,libcurl4,libgit2-1.5,libsqlite3-0,libssh2-1,libssl3,libedit2,libffi8,libxml2,libz3-4,libzstd1 \
            bookworm "$work/debootstrap" "$mirror"
        # debootstrap can leave /proc mounted (binfmt-support's postinst).
        umount "$work/debootstrap/proc" 2>/dev/null || true
        rm -rf "$work/debootstrap"/var/cache/apt/archives/*.deb "$work/debootstrap"/var/lib/apt/lists/*
        tar_rootfs "$work/debootstrap" "$work/bookworm-musl-builder.tar.part"
        mv "$work/bookworm-musl-builder.tar.part" "$work/bookworm-musl-builder.tar"
        rm -rf "$work/debootstrap"
    fi
    rm -rf "$ctx"
    mkdir -p "$ctx/debs"
    ln "$work/bookworm-musl-builder.tar" "$ctx/rootfs.tar"
    for pkg in "${rust_debs[@]}"; do
        ln "$(deb "$pkg")" "$ctx/debs/"
    done
    cp "$assets/setup-rust-musl" "$assets/rustup" musl/self-contained.sh "$ctx/"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca-certificates.crt"
    build "$rust_image" "$assets/Containerfile.rust" "$ctx"
}

# register ROOT DEB: records DEB as installed in ROOT's package database the
# way distroless does (/var/lib/dpkg/status.d/NAME, the package's control
# fields), so syft and scanners list the stand-in's OS packages as they do
# the upstream base's.
register() {
    local db=$1/var/lib/dpkg/status.d
    mkdir -p "$db"
    dpkg-deb -f "$2" >"$db/$(dpkg-deb -f "$2" Package)"
}

# build_distroless ARCH
build_distroless() {
    local arch=$1 tag=$distroless_image-$1 ctx=$work/distroless-$1 root=$work/distroless-$1/rootfs pkg file
    rm -rf "$ctx"
    mkdir -p "$root"
    for pkg in "${distroless_debs[@]}"; do
        file=$(deb "$pkg:$arch")
        dpkg-deb -x "$file" "$root"
        register "$root" "$file"
    done
    ca_bundle "$root"
    # Keep the licences, drop docs, tools and scripts (no shell to run them).
    find "$root/usr/share/doc" -type f ! -name copyright -delete
    rm -rf "$root"/usr/share/{man,info,lintian,gcc,gdb} "$root/etc/update-motd.d" \
        "$root/usr/sbin/update-ca-certificates"
    # Users, groups and directories as in distroless' base image.
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
tty:x:5:
staff:x:50:
nobody:x:65534:
nonroot:x:65532:
EOF
    printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
    install -d -m 0700 "$root/root"
    install -d -m 0700 -o 65532 -g 65532 "$root/home/nonroot"
    install -d -m 1777 "$root/tmp"
    # The promise of distroless: nothing to execute but the libraries.
    if compgen -G "$root/bin/*" >/dev/null || compgen -G "$root/usr/bin/*" >/dev/null ||
        compgen -G "$root/sbin/*" >/dev/null || compgen -G "$root/usr/sbin/*" >/dev/null; then
        echo "error: the distroless stand-in would contain programs:" >&2
        ls "$root"/{bin,sbin,usr/bin,usr/sbin} >&2 2>/dev/null || true
        exit 1
    fi
    tar_rootfs "$root" "$ctx/rootfs.tar"
    rm -rf "$root"
    build "$tag" "$assets/Containerfile.distroless" "$ctx" --platform "linux/$arch"
}

# build_alpine ARCH
build_alpine() {
    local arch=$1 tag=$alpine_image-$1 ctx=$work/alpine-$1 root=$work/alpine-$1/rootfs applet file
    rm -rf "$ctx"
    mkdir -p "$root"
    file=$(deb "busybox-static:$arch")
    dpkg-deb -x "$file" "$ctx/deb"
    install -D -m 0755 "$ctx/deb/bin/busybox" "$root/bin/busybox"
    register "$root" "$file"
    # Every applet as an absolute symlink to /bin/busybox, as Alpine does. The
    # list comes from the amd64 build of the same package (same applets), so
    # no arm64 binary has to run.
    dpkg-deb -x "$(deb busybox-static:amd64)" "$ctx/list"
    while read -r applet; do
        mkdir -p "$root/$(dirname "$applet")"
        [[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
    done < <("$ctx/list/bin/busybox" --list-full)
    [[ -e $root/sbin/nologin ]] || ln -s /bin/busybox "$root/sbin/nologin"
    install -m 0755 "$assets/addgroup" "$assets/adduser" "$root/usr/sbin/"
    mkdir -p "$root/etc" "$root/home" "$root/var" "$root/usr/local/bin"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' >"$root/etc/passwd"
    printf 'root:x:0:root\nnobody:x:65534:\n' >"$root/etc/group"
    printf 'root:*::0:::::\nnobody:*::0:::::\n' >"$root/etc/shadow"
    chmod 0640 "$root/etc/shadow"
    # Its packages are Debian 12's: scanners match them against Debian's advisories.
    printf 'NAME="Stand-in for Alpine Linux (Debian 12 busybox-static)"\nID=debian\nVERSION_ID="12"\n' >"$root/etc/os-release"
    # Alpine ships a CA bundle too (ca-certificates-bundle).
    file=$(deb ca-certificates:all)
    dpkg-deb -x "$file" "$ctx/deb"
    ca_bundle "$ctx/deb"
    install -D -m 0644 "$ctx/deb/etc/ssl/certs/ca-certificates.crt" "$root/etc/ssl/certs/ca-certificates.crt"
    register "$root" "$file"
    install -d -m 0700 "$root/root"
    install -d -m 1777 "$root/tmp"
    tar_rootfs "$root" "$ctx/rootfs.tar"
    rm -rf "$root" "$ctx/deb" "$ctx/list"
    build "$tag" "$assets/Containerfile.alpine" "$ctx" --platform "linux/$arch"
}

# stand_in_tag NAME: the tag of stand-in NAME (builder, alpine-ARCH, distroless-ARCH).
stand_in_tag() {
    case $1 in
    builder) echo "$rust_image" ;;
    alpine-*) echo "$alpine_image-${1#*-}" ;;
    distroless-*) echo "$distroless_image-${1#*-}" ;;
    esac
}

missing=()
for image in "${wanted[@]}"; do
    case $image in
    builder | alpine-amd64 | alpine-arm64 | distroless-amd64 | distroless-arm64) tag=$(stand_in_tag "$image") ;;
    *) echo "error: unknown stand-in '$image' (builder, alpine-ARCH, distroless-ARCH; ARCH amd64 or arm64)" >&2; exit 2 ;;
    esac
    if up_to_date "$tag"; then
        echo "$tag is up to date"
    else
        missing+=("$image")
    fi
done
if $check_only; then
    ((${#missing[@]} == 0))
    exit
fi
# from_podman TAG: Docker takes the stand-in podman built from the same
# inputs (podman save | docker load) rather than building it a second time.
from_podman() {
    [[ $ENGINE == docker ]] && command -v podman >/dev/null &&
        [[ $(podman image inspect --format "{{ index .Config.Labels \"$stand_in_key_label\" }}" "$1" 2>/dev/null) == "$key" ]] &&
        podman save --quiet --format docker-archive "$1" | engine load --quiet &&
        echo "$1: loaded from podman's store"
}

still_missing=()
for image in "${missing[@]}"; do
    from_podman "$(stand_in_tag "$image")" || still_missing+=("$image")
done
missing=("${still_missing[@]}")
((${#missing[@]} == 0)) || prerequisites
for image in "${missing[@]}"; do
    case $image in
    builder) build_rust ;;
    alpine-*) build_alpine "${image#*-}" ;;
    distroless-*) build_distroless "${image#*-}" ;;
    esac
done
engine images --filter reference="${rust_image%%/*}/${rust_image#*/}" --filter reference="$alpine_image-*" \
    --filter reference="$distroless_image-*"
