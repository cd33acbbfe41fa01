#!/usr/bin/env bash
# Builds the release binary the images ship, on this machine: static-pie musl
# for this machine's architecture, or static glibc when TARGET says so.
#
#   musl/build.sh [cargo build options...]      e.g. --bin moscow-time, --example hello
#   TARGET=x86_64-unknown-linux-gnu musl/build.sh   static glibc (+crt-static)
#
# musl is built the way the images' build stage does it: std from source
# (-Zbuild-std) for a target spec that is rustc's own musl spec with
# static-pie switched on (aarch64's built-in spec links static non-PIE; see
# musl/target-spec.sh). The toolchain is either rustup's (the musl target and
# rust-src installed) or Debian's rustc-web, cargo-web and rust-web-src 1.96
# with musl-dev, LLVM's libunwind and gcc's crtbegin/crtend, which
# musl/self-contained.sh gathers into the folder rustup's musl target ships.
# Prints the binary's path and size; fails unless it is static.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
arch=$(uname -m)
target=${TARGET:-$arch-unknown-linux-musl}
out=target/$target/release

# check_static BINARY KIND: file(1) calls BINARY KIND ("static-pie linked", or
# "static" for either kind), with no interpreter and no shared libraries.
check_static() {
    local description
    description=$(file -b "$1")
    [[ $description == *"$2"* ]] || { echo "error: $1 is not $2: $description" >&2; exit 1; }
    if readelf -lW "$1" | grep -q 'Requesting program interpreter'; then
        echo "error: $1 has an ELF interpreter" >&2
        exit 1
    fi
    if readelf -dW "$1" | grep -q '(NEEDED)'; then
        echo "error: $1 needs shared libraries: $(readelf -dW "$1" | grep '(NEEDED)')" >&2
        exit 1
    fi
}

# check_memcpy BINARY: on x86-64 musl the server links src/memcpy.rs, not
# musl's memcpy, whose copy loop (shr $3,%rcx; rep movsq) must not be in it.
check_memcpy() {
    if [[ $target == x86_64-unknown-linux-musl ]] && LC_ALL=C grep -qaP '\x48\xc1\xe9\x03\xf3\x48\xa5' "$1"; then
        echo "error: $1 links musl's memcpy (rep movsq), not src/memcpy.rs" >&2
        exit 1
    fi
}

# report: check and print every binary cargo built into $out.
report() {
    local binary kind=$1
    for binary in "$out/moscow-time" "$out/examples/hello"; do
        [[ -f $binary && $binary -nt Cargo.lock ]] || continue
        check_static "$binary" "$kind"
        if [[ $binary == */moscow-time ]]; then check_memcpy "$binary"; fi
        echo "$binary: $kind, $(stat -c %s "$binary") bytes"
    done
}

# cargo-auditable embeds the dependency list for SBOM tools, as the images do.
scripts/doctor.sh --need cargo-auditable

case $target in
*-linux-gnu)
    # RUSTFLAGS with an explicit --target reach only target crates, so
    # proc-macros still build as shared objects.
    RUSTFLAGS="-C target-feature=+crt-static" cargo auditable build --release --locked --target "$target" "$@"
    report "static" # "static-pie linked" or "statically linked", by rustc version
    exit 0
    ;;
*-linux-musl) ;;
*) echo "error: TARGET=$target is neither a *-linux-musl nor a *-linux-gnu target" >&2; exit 2 ;;
esac

install_hint="install one: Debian/Ubuntu \`apt-get install rustc-web cargo-web rust-web-src musl-dev libunwind-14-dev\`, or rustup \`rustup target add $target && rustup component add rust-src\`"
rustflags=()
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$target" &&
    [[ -d $(rustc --print sysroot)/lib/rustlib/src/rust/library ]]; then
    # rustup: its musl target ships the self-contained objects itself.
    rustc=$(rustup which rustc)
    cargo=$(rustup which cargo)
elif [[ -x /usr/bin/rustc && -x /usr/bin/cargo && -d /usr/lib/rustlib/src/rust/library ]] &&
    musl/self-contained.sh "$target" "target/self-contained/$target" 2>/dev/null; then
    # Debian: rustc-web and cargo-web are /usr/bin/rustc and /usr/bin/cargo.
    rustc=/usr/bin/rustc
    cargo=/usr/bin/cargo
    rustflags=(-L "$root/target/self-contained/$target")
else
    echo "error: no musl toolchain for $target found; $install_hint (or TARGET=$arch-unknown-linux-gnu for static glibc)" >&2
    exit 1
fi

mkdir -p target/specs
RUSTC=$rustc musl/target-spec.sh "$target" >"target/specs/$target.json"
# cargo-auditable runs `cargo metadata` and `rustc --print=cfg` on its own:
# the first sees -Z flags only from the environment, the second needs
# -Zunstable-options for a JSON target spec (the images' .cargo/ does the same).
printf '#!/bin/sh\nexec %q -Zunstable-options "$@"\n' "$rustc" >target/specs/rustc
chmod +x target/specs/rustc
CARGO_UNSTABLE_JSON_TARGET_SPEC=true RUSTC=$root/target/specs/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS="${rustflags[*]}" "$cargo" auditable build --release --locked \
    -Zbuild-std=std,panic_abort -Zjson-target-spec --target "target/specs/$target.json" "$@"
report "static-pie linked"
