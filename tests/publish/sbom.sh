#!/usr/bin/env bash
# tests/publish/sbom.sh (`just test-sbom`): `just sbom` for the six images,
# then checks that syft found every crate of the binary, with its exact
# version, against Cargo.lock. One PASS/FAIL line per check, then
# `N passed, M failed`; exits non-zero if any check failed.
#
# Two closures of Cargo.lock's normal (non-dev, non-build) dependencies,
# without proc-macros (they run in the compiler and are not in the binary):
#   compiled  `cargo tree -e normal,no-proc-macro --target T`: what the release
#             build compiles, features resolved as that build resolves them;
#   recorded  the same walk over `cargo metadata --filter-platform T`, which
#             resolves features with the dev-dependencies' too, as
#             cargo-auditable records them.
# The SBOM must hold every compiled crate and be exactly the recorded set.
#
# Environment:
#   IMAGE_REPO  the local images, VARIANT-ARCH (default localhost/moscow-time)
# Needs: podman, syft (.tools/), cargo, jq, just, binutils.
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$root" || exit 2
variants=(alpine distroless scratch)
# Upstream builds musl binaries, CI's stand-in builder static glibc ones; the
# closures must agree for both, so the check holds whichever the image has.
declare -A targets=([amd64]="x86_64-unknown-linux-musl x86_64-unknown-linux-gnu"
    [arm64]="aarch64-unknown-linux-musl aarch64-unknown-linux-gnu")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shellcheck source=tests/checks.sh
source "$(dirname "$0")/../checks.sh"

# compiled TARGET, recorded TARGET: NAME@VERSION, one per line, sorted.
compiled() {
    cargo tree -q --locked -e normal,no-proc-macro --target "$1" --prefix none --format '{p}' |
        sed -E 's/ \(.*//; s/ v/@/' | sort -u
}
recorded() {
    cargo metadata -q --locked --format-version 1 --filter-platform "$1" | jq -r '
        (.packages | map({key: .id, value: .}) | from_entries) as $pkgs
        | (.resolve.nodes | map({key: .id, value: .}) | from_entries) as $nodes
        | def proc_macro: any($pkgs[.].targets[]; .kind | index("proc-macro"));
          [.resolve.root | recurse($nodes[.].deps[] | select(any(.dep_kinds[]; .kind == null)) | .pkg
                                   | select(proc_macro | not))]
        | unique | map($pkgs[.] | "\(.name)@\(.version)") | .[]' | sort -u
}
# cdx_crates FILE, spdx_crates FILE: the crates an SBOM lists, NAME@VERSION.
cdx_crates() {
    jq -r '.components[]?.purl // empty | select(startswith("pkg:cargo/")) | ltrimstr("pkg:cargo/")' "$1" | sort -u
}
spdx_crates() {
    jq -r '.packages[].externalRefs[]? | select(.referenceType == "purl") | .referenceLocator
        | select(startswith("pkg:cargo/")) | ltrimstr("pkg:cargo/")' "$1" | sort -u
}
# dependency_list_size VARIANT ARCH: the bytes of the binary's .dep-v0
# section, cargo-auditable's compressed dependency list (at most 2 KiB).
dependency_list_size() {
    local dir=$work/image hex size
    unpack "$repo:$1-$2" "$dir" && extract_binary "$dir" "$work/binary" || return 1
    hex=$(readelf -S -W "$work/binary" | awk '$2 == ".dep-v0" { print $6 }')
    rm -rf "$dir" "$dir.tar" "$work/binary"
    [[ -n $hex ]] || { echo "the binary has no .dep-v0 section: not built with cargo auditable"; return 1; }
    size=$((16#$hex))
    info "$1 linux/$2: the dependency list takes $size bytes"
    ((size <= 2048)) || { echo "the dependency list takes $size bytes, more than 2 KiB"; return 1; }
}
# os_packages FILE: the base's packages (apk, deb) a CycloneDX SBOM lists.
os_packages() {
    jq -r '.components[]?.purl // empty | select(test("^pkg:(apk|deb)/"))' "$1"
}

if SBOM_DIR=$work/sbom just sbom >"$work/sbom.out" 2>&1; then
    pass "sbom: just sbom writes SPDX and CycloneDX SBOMs of the six images"
    while read -r line; do info "$line"; done < <(grep -v '^SBOMs in' "$work/sbom.out")
else
    fail "sbom: just sbom writes SPDX and CycloneDX SBOMs of the six images" "$(cat "$work/sbom.out")"
fi

# closures ARCH: $work/compiled-ARCH and $work/recorded-ARCH, the same for each of its targets.
closures() {
    local t first=
    for t in ${targets[$1]}; do
        compiled "$t" >"$work/compiled-$t" && recorded "$t" >"$work/recorded-$t" || return 1
        if [[ -z $first ]]; then
            first=$t
            cp "$work/compiled-$t" "$work/compiled-$1" && cp "$work/recorded-$t" "$work/recorded-$1"
        elif ! cmp -s "$work/compiled-$first" "$work/compiled-$t" || ! cmp -s "$work/recorded-$first" "$work/recorded-$t"; then
            echo "the closures for $first and $t differ"
            return 1
        fi
    done
}
for arch in amd64 arm64; do
    check "sbom: Cargo.lock resolves to the same crates for ${targets[$arch]// / and }" closures "$arch"
    info "linux/$arch: $(wc -l <"$work/compiled-$arch") crates compiled into the binary; cargo-auditable also records" \
        "$(comm -13 "$work/compiled-$arch" "$work/recorded-$arch" | paste -sd ' ') (features the dev-dependencies enable)"
done

# crates_match VARIANT ARCH: both SBOMs list every compiled crate and exactly the recorded ones.
crates_match() {
    local base=$work/sbom/moscow-time-$1-$2
    local missing
    cdx_crates "$base.cdx.json" >"$work/cdx" || return 1
    spdx_crates "$base.spdx.json" >"$work/spdx" || return 1
    missing=$(comm -23 "$work/compiled-$2" "$work/cdx")
    [[ -z $missing ]] || { echo "compiled into the binary but not in the SBOM: ${missing//$'\n'/ }"; return 1; }
    diff "$work/recorded-$2" "$work/cdx" || { echo "CycloneDX: crates differ from Cargo.lock's (< Cargo.lock, > SBOM)"; return 1; }
    diff "$work/cdx" "$work/spdx" || { echo "SPDX and CycloneDX list other crates (< CycloneDX, > SPDX)"; return 1; }
}
for v in "${variants[@]}"; do
    for arch in amd64 arm64; do
        check "sbom: $v linux/$arch carries its dependency list in the binary, at most 2 KiB" \
            dependency_list_size "$v" "$arch"
        check "sbom: $v linux/$arch lists the $(wc -l <"$work/recorded-$arch") crates of Cargo.lock, exact versions, SPDX and CycloneDX alike" \
            crates_match "$v" "$arch"
    done
done

# The base's OS packages: syft reads them from the package database
# (alpine's /lib/apk/db/installed, distroless' /var/lib/dpkg/status.d/, which
# the stand-ins have too).
for v in alpine distroless; do
    for arch in amd64 arm64; do
        check "sbom: $v linux/$arch lists the base's OS packages" \
            test -n "$(os_packages "$work/sbom/moscow-time-$v-$arch.cdx.json")"
    done
done

summary
