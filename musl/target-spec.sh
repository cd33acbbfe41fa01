#!/bin/sh
# Prints rustc's own target spec for a musl TARGET with static-pie switched on:
#
#   musl/target-spec.sh x86_64-unknown-linux-musl > x86_64-unknown-linux-musl.json
#
# rustc links a static PIE only when the spec says
# "static-position-independent-executables"; x86_64-unknown-linux-musl does,
# aarch64-unknown-linux-musl (rustc 1.95, 1.96) does not, so its binaries come
# out "statically linked" at a fixed address (no ASLR) although the code is
# position-independent. The spec file keeps the triple as its name, so the
# output is still target/TARGET/release and rustc still finds the musl objects
# in lib/rustlib/TARGET/lib/self-contained. Building for it needs std from
# source: cargo -Zbuild-std -Zjson-target-spec with RUSTC_BOOTSTRAP=1.
# POSIX sh and awk: it also runs in the images' build stage (busybox).
set -eu
case ${1:-} in
*-linux-musl) ;;
*) echo "usage: $0 ARCH-unknown-linux-musl" >&2; exit 2 ;;
esac
RUSTC_BOOTSTRAP=1 "${RUSTC:-rustc}" -Z unstable-options --print target-spec-json --target "$1" |
    awk '
        /"static-position-independent-executables"/ { next }
        { print }
        /^ *"position-independent-executables": true,$/ {
            indent = $0; sub(/".*/, "", indent)
            print indent "\"static-position-independent-executables\": true,"
            added = 1
        }
        END { if (!added) { print "target-spec.sh: no position-independent-executables in the spec" > "/dev/stderr"; exit 1 } }
    '
