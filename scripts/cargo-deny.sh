#!/usr/bin/env bash
# Print the path of cargo-deny, built once from crates.io at a pinned version
# into a cache folder outside git and reused after that (as scripts/cosign.sh
# does for cosign). `cargo install --locked` builds with the lock file
# cargo-deny was released with, so every machine builds the same tree.
# Usage: scripts/cargo-deny.sh            (prints the path; builds on first use)
set -euo pipefail

version=0.20.2 # renovate: datasource=crate depName=cargo-deny
cache=${XDG_CACHE_HOME:-$HOME/.cache}/moscow-time/cargo-deny-$version
bin=$cache/bin/cargo-deny

if [[ ! -x $bin ]]; then
    command -v cargo >/dev/null || PATH=$HOME/.cargo/bin:$PATH
    command -v cargo >/dev/null || { echo "cargo-deny.sh: cargo not found (rustup: https://rustup.rs)" >&2; exit 1; }
    echo "cargo-deny.sh: building cargo-deny $version from crates.io into $cache (first use only)" >&2
    work=$(mktemp -d "${TMPDIR:-/tmp}/cargo-deny-build.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    start=$SECONDS
    # Own target dir: nothing left behind but the binary. --root into a
    # temporary folder first, so an interrupted build leaves no binary.
    CARGO_TARGET_DIR=$work/target cargo install --quiet --locked --version "$version" cargo-deny \
        --root "$work/root" >&2
    mkdir -p "$cache/bin"
    install -m 0755 "$work/root/bin/cargo-deny" "$bin.tmp" && mv "$bin.tmp" "$bin"
    echo "cargo-deny.sh: built in $((SECONDS - start)) s" >&2
fi
echo "$bin"
