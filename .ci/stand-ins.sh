#!/usr/bin/env bash
# .ci/stand-ins.sh: build the three LOCAL base images that CI uses instead of
# the upstream ones.
#
# Why: CI machines reach package registries (Debian, crates.io, ...) but no
# container registry, so rust:alpine, distroless/cc and alpine cannot be
# pulled. These stand-ins are made from Debian bookworm packages and this
# machine's Rust toolchain, labelled as stand-ins, and tagged
#   localhost/ci-stand-in/rust:1.95-bookworm      for rust:1.95.0-alpine3.23
#   localhost/ci-stand-in/distroless-cc:debian12  for distroless/cc-debian12:nonroot
#   localhost/ci-stand-in/alpine:busybox          for alpine:3.23
# .ci/run passes them to the justfile as BUILDER_IMAGE, DISTROLESS_IMAGE and
# ALPINE_IMAGE. Users never need them.
#
# Idempotent: an image is rebuilt only when its inputs (this script, the files
# in .ci/stand-ins/, the host's rustc) change; FORCE=1 rebuilds anyway.
# Downloads are cached in .ci/work/ (gitignored); from nothing it takes about
# two minutes. Needs root, podman, debootstrap, dpkg-deb and apt lists
# (apt-get update). All images get a fixed creation time (reproducibility).
set -euo pipefail

script=$(realpath "$0")
cd "$(dirname "$script")/.."
export PATH="$HOME/.cargo/bin:$PATH"

readonly rust_image=localhost/ci-stand-in/rust:1.95-bookworm
readonly distroless_image=localhost/ci-stand-in/distroless-cc:debian12
readonly alpine_image=localhost/ci-stand-in/alpine:busybox

readonly assets=.ci/stand-ins
readonly work=.ci/work
readonly epoch=1704067200 # 2024-01-01T00:00:00Z
readonly mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What gcr.io/distroless/cc-debian12 is made of.
readonly distroless_debs=(base-files netbase tzdata ca-certificates libc6 libgcc-s1 libgomp1 libstdc++6 libssl3)

sysroot=$(rustc --print sysroot)
rust_version=$(rustc -vV | sed -n 's/^release: //p')
if [[ $rust_version != 1.95.* ]]; then
    echo "warning: host rustc is $rust_version, but $rust_image is tagged 1.95" >&2
fi
key=$({ cat "$script" "$assets"/*; rustc -vV; } | sha256sum | cut -c1-16)

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
    tar --sort=name --numeric-owner --mtime="@$epoch" --exclude='./dev/*' \
        -C "$1" -cf "$2" .
}

# deb PACKAGE: path of the cached .deb of PACKAGE (downloaded on first use).
deb() {
    local found
    mkdir -p "$work/debs"
    found=$(compgen -G "$work/debs/${1}_*.deb" | tail -n 1 || true)
    if [[ -z $found ]]; then
        (cd "$work/debs" && apt-get download -q -o APT::Sandbox::User=root "$1" >&2)
        found=$(compgen -G "$work/debs/${1}_*.deb" | tail -n 1)
    fi
    echo "$found"
}

# ca_bundle ROOT: /etc/ssl/certs/ca-certificates.crt from the certificates of
# the ca-certificates package (what its postinst would generate).
ca_bundle() {
    mkdir -p "$1/etc/ssl/certs"
    LC_ALL=C cat "$1"/usr/share/ca-certificates/mozilla/*.crt >"$1/etc/ssl/certs/ca-certificates.crt"
}

build_rust() {
    local ctx=$work/rust
    if up_to_date "$rust_image"; then
        echo "$rust_image is up to date"
        return
    fi
    # The debootstrap rootfs is the slow part: cache it as a tarball.
    if [[ ! -f $work/bookworm-builder.tar ]]; then
        rm -rf "$work/debootstrap"
        mkdir -p "$work"
        debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates \
            bookworm "$work/debootstrap" "$mirror"
        rm -rf "$work/debootstrap"/var/cache/apt/archives/*.deb "$work/debootstrap"/var/lib/apt/lists/*
        tar_rootfs "$work/debootstrap" "$work/bookworm-builder.tar.part"
        mv "$work/bookworm-builder.tar.part" "$work/bookworm-builder.tar"
        rm -rf "$work/debootstrap"
    fi
    rm -rf "$ctx"
    mkdir -p "$ctx"
    ln "$work/bookworm-builder.tar" "$ctx/rootfs.tar"
    cp "$assets/rustc-crt-static" "$ctx/"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca-certificates.crt"
    build "$rust_image" "$assets/Containerfile.rust" "$ctx" --build-context "toolchain=$sysroot"
}

build_distroless() {
    local ctx=$work/distroless root=$work/distroless/rootfs pkg file
    if up_to_date "$distroless_image"; then
        echo "$distroless_image is up to date"
        return
    fi
    rm -rf "$ctx"
    mkdir -p "$root"
    for pkg in "${distroless_debs[@]}"; do
        file=$(deb "$pkg")
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
    build "$distroless_image" "$assets/Containerfile.distroless" "$ctx"
}

build_alpine() {
    local ctx=$work/alpine root=$work/alpine/rootfs applet file
    if up_to_date "$alpine_image"; then
        echo "$alpine_image is up to date"
        return
    fi
    rm -rf "$ctx"
    mkdir -p "$root"
    file=$(deb busybox-static)
    dpkg-deb -x "$file" "$ctx/deb"
    install -D -m 0755 "$ctx/deb/bin/busybox" "$root/bin/busybox"
    # Every applet as an absolute symlink to /bin/busybox, as Alpine does.
    while read -r applet; do
        mkdir -p "$root/$(dirname "$applet")"
        [[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
    done < <("$root/bin/busybox" --list-full)
    [[ -e $root/sbin/nologin ]] || ln -s /bin/busybox "$root/sbin/nologin"
    install -m 0755 "$assets/addgroup" "$assets/adduser" "$root/usr/sbin/"
    mkdir -p "$root/etc" "$root/home" "$root/var" "$root/usr/local/bin"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' >"$root/etc/passwd"
    printf 'root:x:0:root\nnobody:x:65534:\n' >"$root/etc/group"
    printf 'root:*::0:::::\nnobody:*::0:::::\n' >"$root/etc/shadow"
    chmod 0640 "$root/etc/shadow"
    printf 'NAME="CI stand-in for Alpine Linux (Debian busybox-static)"\nID=ci-stand-in\n' >"$root/etc/os-release"
    # Alpine ships a CA bundle too (ca-certificates-bundle).
    file=$(deb ca-certificates)
    dpkg-deb -x "$file" "$ctx/deb"
    ca_bundle "$ctx/deb"
    install -D -m 0644 "$ctx/deb/etc/ssl/certs/ca-certificates.crt" "$root/etc/ssl/certs/ca-certificates.crt"
    install -d -m 0700 "$root/root"
    install -d -m 1777 "$root/tmp"
    tar_rootfs "$root" "$ctx/rootfs.tar"
    rm -rf "$root" "$ctx/deb"
    build "$alpine_image" "$assets/Containerfile.alpine" "$ctx"
}

build_alpine
build_distroless
build_rust
podman images --filter reference='localhost/ci-stand-in/*'
