#!/usr/bin/env bash
# Checks the checks: builds deliberately broken images, each from a copy of a
# Containerfile with one practice broken, runs run.sh on it, and requires the
# checks of that practice to FAIL. A check that cannot fail proves nothing.
# Each mutant rebuilds only a runtime stage (the build stage comes from the
# cache of `just images`), and the images are removed at the end.
#
#   tests/images/mutants.sh [NAME...]     # default: every mutant
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$root" || exit 2

# name|variant-arch|sed script that breaks the Containerfile|checks that must FAIL (;-separated)
mutants=(
    "root-user|scratch-amd64|s/^USER 65532:65532$/USER 0:0/|USER is 65532:65532;process is uid/gid 65532"
    "shell-in-scratch|scratch-amd64|/^USER /i COPY --from=build /out/moscow-time /bin/sh|structure test;adds only the expected files;at most the binary + 16 KiB"
    "writable-binary|scratch-amd64|s/--chown=0:0 --chmod=0755/--chown=65532:65532 --chmod=0775/|root-owned 0755;structure test"
    "no-healthcheck|scratch-amd64|/^HEALTHCHECK/,/CMD \\[/d|HEALTHCHECK runs;podman healthcheck run passes"
    "shell-form-entrypoint|alpine-amd64|s#^ENTRYPOINT .*#ENTRYPOINT /usr/local/bin/moscow-time#|structure test"
    "shell-as-pid-1|alpine-amd64|s#^ENTRYPOINT .*#ENTRYPOINT [\"/bin/sh\", \"-c\", \"/usr/local/bin/moscow-time; true\"]#|structure test;starts read-only"
    "wasted-layer|alpine-amd64|/^USER /i RUN dd if=/dev/zero of=/waste bs=1024 count=2048\\nRUN rm /waste|dive efficiency;at most the binary + 16 KiB;adds only the expected files"
    # The base's busybox (not musl static-pie, or not static at all) as the binary.
    "not-static-pie-musl|alpine-amd64|/^USER /i RUN cp /bin/busybox /usr/local/bin/moscow-time|musl, static-pie"
    # A build stage that ignores TARGETARCH: the amd64 binary in the arm64 image
    # (OTHER_ARCH_IMAGE, from `just images`, stands in for that build stage).
    "arch-mismatch|scratch-arm64|/^COPY --from=build/s#--from=build \(.*\) /out/#--from=other \1 /usr/local/bin/#;s#^FROM scratch#FROM \${OTHER_ARCH_IMAGE} AS other\nFROM scratch#;1i ARG OTHER_ARCH_IMAGE|architecture is the image config's"
    # arm64 under emulation: a container that never serves and one with no healthcheck.
    "arm64-no-serve|scratch-arm64|s#^ENTRYPOINT .*#ENTRYPOINT [\"/usr/local/bin/moscow-time\", \"--version\"]#|starts read-only"
    "arm64-no-healthcheck|scratch-arm64|/^HEALTHCHECK/,/CMD \\[/d|HEALTHCHECK runs;podman healthcheck run passes"
    "arm64-sigterm-ignored|alpine-arm64|s#^ENTRYPOINT .*#ENTRYPOINT [\"/bin/sh\", \"-c\", \"/usr/local/bin/moscow-time; true\"]#|podman stop exits 0 within 2 s"
)

work=$(mktemp -d)
built=()
cleanup() {
    local image
    for image in "${built[@]}"; do podman rmi -f "$image" >/dev/null 2>&1; done
    remove_new_layers "$work"/*.build.log
    rm -rf "$work"
}
trap cleanup EXIT

selected=("$@")
caught=0
missed=0
for mutant in "${mutants[@]}"; do
    IFS='|' read -r name target script must_fail <<<"$mutant"
    variant=${target%-*} arch=${target##*-}
    if ((${#selected[@]})) && [[ " ${selected[*]} " != *" $name "* ]]; then continue; fi
    file=$work/Containerfile.$name
    if ! sed "$script" "Containerfile.$variant" >"$file" || cmp -s "$file" "Containerfile.$variant"; then
        echo "MISS $name: the sed script failed or changed nothing in Containerfile.$variant"
        missed=$((missed + 1))
        continue
    fi
    mutant_repo=localhost/moscow-time-mutant-$name
    built+=("$mutant_repo:$variant" "$mutant_repo:$target")
    # arch-mismatch: the same variant's image of the other architecture, by ID
    # (podman 4.3 does not find a local image of another platform by name).
    other=$([[ $arch == amd64 ]] && echo arm64 || echo amd64)
    if ! ARCHS=$arch CONTAINERFILE=$file TAG=$mutant_repo:$variant scripts/build-image.sh "$variant" \
        --build-arg OTHER_ARCH_IMAGE="$(podman image inspect --format '{{.Id}}' "$repo:$variant-$other" 2>/dev/null)" \
        >"$work/$name.build.log" 2>&1; then
        echo "MISS $name: the broken image did not build"
        tail -n 20 "$work/$name.build.log" | sed 's/^/    /'
        missed=$((missed + 1))
        continue
    fi
    IMAGE_REPO=$mutant_repo VARIANTS=$variant ARCHS=$arch SLOW=0 tests/images/run.sh >"$work/$name.run.log" 2>&1 3>&1
    IFS=';' read -r -a checks <<<"$must_fail"
    for c in "${checks[@]}"; do
        if grep -q "^FAIL $target: .*$c" "$work/$name.run.log"; then
            echo "CAUGHT $name: FAIL $target: ...$c"
            caught=$((caught + 1))
        else
            echo "MISS $name: no failing check matches '$c'"
            grep -E '^(PASS|FAIL)' "$work/$name.run.log" | sed 's/^/    /'
            missed=$((missed + 1))
        fi
    done
done

echo "$caught caught, $missed missed"
((missed == 0 && caught > 0))
