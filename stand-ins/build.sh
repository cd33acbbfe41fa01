#!/usr/bin/env bash
# .ci/stand-ins.sh: build the LOCAL base images that CI uses instead of the
# upstream ones: one builder (it runs on the build machine and cross-compiles)
# and the two runtime bases for each of amd64 and arm64.
#
# Why: CI machines reach package registries (Debian, crates.io, ...) but no
# container registry, so rust:alpine, distroless/cc and alpine cannot be
# pulled. These stand-ins are made from Debian bookworm packages only,
# labelled as stand-ins, and tagged
#   localhost/ci-stand-in/rust:1.96-bookworm-musl      for rust:1.95.0-alpine3.23
#   localhost/ci-stand-in/distroless-cc:debian12-ARCH  for distroless/cc-debian12:nonroot
#   localhost/ci-stand-in/alpine:busybox-ARCH          for alpine:3.23
# with ARCH amd64 and arm64 (the runtime bases are built for that architecture
# from its Debian packages; nothing runs under emulation). .ci/run passes them
# to the justfile as BUILDER_IMAGE, DISTROLESS_IMAGE_ARCH and ALPINE_IMAGE_ARCH.
# Users never need them.
#
# Idempotent: an image is rebuilt only when its inputs (this script, the files
# in .ci/stand-ins/ and musl/) change; FORCE=1 rebuilds anyway. Downloads are
# cached in .ci/work/ (gitignored). Needs root, podman, debootstrap, dpkg-deb
# and apt lists with the arm64 architecture (dpkg --add-architecture arm64;
# apt-get update). All images get a fixed creation time (reproducibility).
set -euo pipefail

script=$(realpath "$0")
cd "$(dirname "$script")/.."

readonly rust_image=localhost/ci-stand-in/rust:1.96-bookworm-musl
readonly distroless_image=localhost/ci-stand-in/distroless-cc:debian12
readonly alpine_image=localhost/ci-stand-in/alpine:busybox
read -r -a archs <<<"${ARCHS:-amd64 arm64}"

readonly assets=.ci/stand-ins
readonly work=.ci/work
readonly epoch=1704067200 # 2024-01-01T00:00:00Z
readonly mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What gcr.io/distroless/cc-debian12 is made of.
readonly distroless_debs=(base-files netbase tzdata ca-certificates libc6 libgcc-s1 libgomp1 libstdc++6 libssl3)

# The builder's packages beyond debootstrap's: Rust 1.96 (bookworm-security,
# which debootstrap does not read) and arm64's musl and LLVM libunwind.
readonly rust_debs=(rustc-web cargo-web rust-web-src libstd-rust-web-dev libstd-rust-web-1.96 libllvm22
    musl-dev:arm64 libunwind-14-dev:arm64)
key=$({ cat "$script" "$assets"/* musl/self-contained.sh; } | sha256sum | cut -c1-16)

# up_to_date TAG: the image exists and was built from the current inputs.
up_to_date() {
    [[ ${FORCE:-0} != 1 ]] &&
        [[ $(podman image inspect --format '{{ index .Labels "ci.stand-in.key" }}' "$1" 2>/dev/null) == "$key" ]]
}

# build TAG CONTAINERFILE CONTEXT [PODMAN-BUILD-ARGS...]: build with a fixed
# timestamp, then drop the image the tag pointed to before.
build() {
    local tag=$1 file=$2 context=$3 old
    shift 3
    old=$(podman image inspect --format '{{ .Id }}' "$tag" 2>/dev/null || true)
    podman build --pull=never --timestamp "$epoch" --identity-label=false \
        --label "ci.stand-in.key=$key" --file "$file" --tag "$tag" "$@" "$context"
    if [[ -n $old && $old != "$(podman image inspect --format '{{ .Id }}' "$tag")" ]]; then
        podman rmi "$old" >/dev/null 2>&1 || true
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
    if up_to_date "$rust_image"; then
        echo "$rust_image is up to date"
        return
    fi
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

# build_distroless ARCH
build_distroless() {
    local arch=$1 tag=$distroless_image-$1 ctx=$work/distroless-$1 root=$work/distroless-$1/rootfs pkg file
    if up_to_date "$tag"; then
        echo "$tag is up to date"
        return
    fi
    rm -rf "$ctx"
    mkdir -p "$root"
    for pkg in "${distroless_debs[@]}"; do
        file=$(deb "$pkg:$arch")
        dpkg-deb -x "$file" "$root"
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
    if up_to_date "$tag"; then
        echo "$tag is up to date"
        return
    fi
    rm -rf "$ctx"
    mkdir -p "$root"
    file=$(deb "busybox-static:$arch")
    dpkg-deb -x "$file" "$ctx/deb"
    install -D -m 0755 "$ctx/deb/bin/busybox" "$root/bin/busybox"
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
    printf 'NAME="CI stand-in for Alpine Linux (Debian busybox-static)"\nID=ci-stand-in\n' >"$root/etc/os-release"
    # Alpine ships a CA bundle too (ca-certificates-bundle).
    file=$(deb ca-certificates:all)
    dpkg-deb -x "$file" "$ctx/deb"
    ca_bundle "$ctx/deb"
    install -D -m 0644 "$ctx/deb/etc/ssl/certs/ca-certificates.crt" "$root/etc/ssl/certs/ca-certificates.crt"
    install -d -m 0700 "$root/root"
    install -d -m 1777 "$root/tmp"
    tar_rootfs "$root" "$ctx/rootfs.tar"
    rm -rf "$root" "$ctx/deb" "$ctx/list"
    build "$tag" "$assets/Containerfile.alpine" "$ctx" --platform "linux/$arch"
}

for arch in "${archs[@]}"; do
    build_alpine "$arch"
    build_distroless "$arch"
done
build_rust
podman images --filter reference='localhost/ci-stand-in/*'
