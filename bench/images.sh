#!/usr/bin/env bash
# Image build times, as ratios to a cold build of one image (scratch, for
# this machine's architecture):
#   - cold `just images`: the six images (three variants, amd64 and arm64),
#     one after the other, as `just images` builds them;
#   - a rebuild of one image after a change to src/ only;
#   - a rebuild with nothing changed.
# "Cold" means none of this project's layers are in the cache while the base
# images are (as on a machine that has pulled them): each round builds from
# a copy of the sources whose Cargo.toml ends in a fresh comment, which
# invalidates every layer from the manifests on. The user's images and cache
# are left alone, and the layers these builds made are removed at the end.
# Cold builds download the crates, so they include that fetch.
# ENGINE=docker measures Docker's BuildKit the same way; its build cache
# keeps the layers (`docker builder prune` frees them).
#
#   bench/images.sh [ROUNDS]     # default 2 rounds, ~8 min each here
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$root"

rounds=${1:-2}
work=$(mktemp -d)
case $(uname -m) in
aarch64) build_arch=arm64 ;;
*) build_arch=amd64 ;;
esac
tags=()
for v in alpine distroless scratch; do
    tags+=("localhost/moscow-time-bench:$v" "localhost/moscow-time-bench:$v-"{amd64,arm64})
done
cleanup() {
    local tag
    if [[ $ENGINE == podman ]]; then
        for v in alpine distroless scratch; do podman manifest rm "localhost/moscow-time-bench:$v-multiarch" >/dev/null 2>&1; done
    fi
    for tag in "${tags[@]}"; do engine rmi -f "$tag" >/dev/null 2>&1; done
    [[ $ENGINE == docker ]] || remove_new_layers "$work"/*.log
    rm -rf "$work"
}
trap cleanup EXIT

# fresh_context DIR: a copy of the build context no cached layer matches.
fresh_context() {
    copy_context "$1"
    echo "# build-time probe $(date +%s%N)" >>"$1/Cargo.toml"
}

# timed_build CONTEXT VARIANT LOG [ARCHS]: builds VARIANT for ARCHS (default:
# this machine's), prints the milliseconds it took.
timed_build() {
    local t0 tag=localhost/moscow-time-bench:$2
    t0=$(date +%s%3N)
    ARCHS=${4:-$build_arch} TAG=$tag CONTEXT=$1 scripts/build-image.sh "$2" >>"$3" 2>&1 ||
        { echo "error: building $2 failed; see the log:" >&2; tail -n 30 "$3" >&2; exit 1; }
    echo $(($(date +%s%3N) - t0))
}

secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

one=() six=() src=() noop=()
for r in $(seq "$rounds"); do
    fresh_context "$work/one-$r"
    one+=("$(timed_build "$work/one-$r" scratch "$work/one-$r.log")")

    fresh_context "$work/six-$r"
    t=0
    for v in alpine distroless scratch; do
        t=$((t + $(timed_build "$work/six-$r" "$v" "$work/six-$r.log" "amd64 arm64")))
    done
    six+=("$t")

    echo "// build-time probe $(date +%s%N)" >>"$work/six-$r/src/main.rs"
    src+=("$(timed_build "$work/six-$r" scratch "$work/src-$r.log")")
    noop+=("$(timed_build "$work/six-$r" scratch "$work/noop-$r.log")")

    echo "  round $r/$rounds: one image $(secs "${one[-1]}"), six $(secs "${six[-1]}")," \
        "src/ change $(secs "${src[-1]}"), no change $(secs "${noop[-1]}")" >&2
done

m_one=$(printf '%s\n' "${one[@]}" | median)
m_six=$(printf '%s\n' "${six[@]}" | median)
m_src=$(printf '%s\n' "${src[@]}" | median)
m_noop=$(printf '%s\n' "${noop[@]}" | median)
goal() { awk -v a="$1" -v b="$2" -v max="$3" 'BEGIN { print (a / b <= max) ? "PASS" : "MISS" }'; }

echo "| build | time | vs a cold build of one image | goal | |"
echo "| --- | ---: | ---: | --- | --- |"
echo "| cold, one image (scratch-$build_arch) | $(secs "$m_one") | 1.00× | | |"
echo "| cold, six images (\`just images\`: 3 variants × amd64, arm64) | $(secs "$m_six") | $(ratio "$m_six" "$m_one") | ≤ 2.5× | $(goal "$m_six" "$m_one" 2.5) |"
echo "| after a change to src/ only | $(secs "$m_src") | $(ratio "$m_src" "$m_one") | ≤ 0.40× | $(goal "$m_src" "$m_one" 0.4) |"
echo "| nothing changed | $(secs "$m_noop") | $(ratio "$m_noop" "$m_one") | | |"
echo
echo "$ENGINE; medians of $rounds rounds; $(nproc) cores; builder $(label localhost/moscow-time-bench:scratch "$builder_label")" \
    "($(label localhost/moscow-time-bench:scratch "$bases_label"))." \
    "Goals are informational: a MISS does not fail the bench."
