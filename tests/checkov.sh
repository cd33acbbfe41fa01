#!/usr/bin/env bash
# tests/checkov.sh (in `just lint`): checkov, the IaC scanner, on the three
# Containerfiles, offline (--skip-download), zero failed checks. checkov only
# recognises files named Dockerfile*, so each Containerfile.VARIANT is copied
# as Dockerfile.VARIANT into a temp folder (its findings name that file). A
# skip is a `# checkov:skip=CHECK_ID: reason` comment beside the line it excuses.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$root/.tools/bin:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for file in "$root"/Containerfile.*; do
    cp "$file" "$work/Dockerfile.${file##*.}"
done
checkov --quiet --compact --skip-download --framework dockerfile --directory "$work"
