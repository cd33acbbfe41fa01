#!/usr/bin/env bash
# The docs are checked as code is (`just lint`):
#   0. README.md stays a front page: at most 250 lines, the rest in docs/;
#   1. the prerequisites table in docs/development.md is what
#      `scripts/doctor.sh --markdown` prints (--fix rewrites it);
#   2. every relative link and #anchor in README.md and docs/ resolves
#      (mdlinkcheck, offline, GitHub's heading-anchor rules), so a moved or
#      renamed section cannot leave a dead link.
# Each check is followed by its mutant, which must fail it.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"

dev=docs/development.md
begin='<!-- prerequisites:begin (scripts/doctor.sh --markdown) -->'
end='<!-- prerequisites:end -->'

# table FILE: the lines between the markers.
table() { awk -v b="$begin" -v e="$end" '$0 == e { on = 0 } on { print } $0 == b { on = 1 }' "$1"; }

lines=$(wc -l <README.md)
((lines <= 250)) || { echo "error: README.md has $lines lines (at most 250): move the detail into docs/" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts/doctor.sh --markdown >"$work/prerequisites.md"

if [[ ${1:-} == --fix ]]; then
    awk -v b="$begin" -v e="$end" -v f="$work/prerequisites.md" '
        $0 == e { while ((getline l < f) > 0) print l; on = 0 }
        !on { print } $0 == b { on = 1 }' "$dev" >"$work/dev.md"
    cp "$work/dev.md" "$dev"
    echo "rewrote the prerequisites table in $dev"
fi

if ! grep -qxF "$begin" "$dev" || ! grep -qxF "$end" "$dev"; then
    echo "error: $dev lacks the markers $begin and $end" >&2
    exit 1
fi
if ! diff -u "$work/prerequisites.md" <(table "$dev") >"$work/diff"; then
    cat "$work/diff" >&2
    echo "error: the prerequisites table in $dev is not scripts/doctor.sh's list; run scripts/check-docs.sh --fix" >&2
    exit 1
fi
# Its mutant: the table with one row less must not pass.
sed '3d' "$work/prerequisites.md" | cmp -s - <(table "$dev") &&
    { echo "error: prerequisites mutant: a table with a row missing passed" >&2; exit 1; }

mdlinkcheck --no-git --quiet README.md docs

# Its mutant: README.md and docs/ copied, everything else linked in, and the
# first link into a docs page pointed at a section that is not there.
mkdir "$work/tree"
for f in *; do ln -s "$root/$f" "$work/tree/$f"; done
rm "$work/tree/README.md" "$work/tree/docs"
cp -r README.md docs "$work/tree/"
sed -i '0,/\.md#/s//.md#no-such-section-/' "$work/tree/README.md"
cmp -s README.md "$work/tree/README.md" && { echo "error: link mutant: README.md has no link to a docs section to break" >&2; exit 1; }
if (cd "$work/tree" && mdlinkcheck --no-git --quiet README.md docs) >/dev/null 2>&1; then
    echo "error: link mutant: a link to a missing section in README.md passed the link check" >&2
    exit 1
fi
echo "docs: README.md $lines lines; the prerequisites table is doctor.sh's; every link and anchor resolves; both checks fail their mutants"
