#!/usr/bin/env bash
# What each part of `just test` took, for the summary at its end and for
# docs/results/ci.md (.ci/run).
#
#   scripts/parts.sh mark NAME   NAME ends now ("start": a new run begins)
#   scripts/parts.sh report      each part and its seconds, and the total
#
# A part's time runs from the previous mark to its own, so it includes the
# recipes it was the first to need (test-images: building the six images).
set -euo pipefail
file=${PARTS_FILE:-$(dirname "$0")/../target/test-parts.tsv}

case ${1:-} in
mark)
    name=${2:?usage: $0 mark NAME}
    mkdir -p "$(dirname "$file")"
    if [[ $name == start ]]; then : >"$file"; fi
    printf '%s\t%s\n' "$name" "$(date +%s)" >>"$file"
    ;;
report)
    awk -F'\t' '
        NR == 1 { first = prev = $2; next }
        { printf "%-18s %6d s\n", $1, $2 - prev; prev = $2 }
        END { if (NR > 1) printf "%-18s %6d s\n", "just test", prev - first }
    ' "$file"
    ;;
*) echo "usage: $0 mark NAME | report" >&2; exit 2 ;;
esac
