#!/usr/bin/env bash
# Run one of Renovate's programs with ARGS: renovate-config-validator (offline:
# it reads the config and asks no server) or renovate (tests/test_pins.py runs
# its dependency extraction on a copy of the checkout, offline too). Renovate
# and the Node.js 24 it requires (Debian 12's is older) are npm packages,
# pinned with integrity hashes in scripts/renovate/package-lock.json and
# installed once by `npm ci` into a cache folder outside git named by that
# lock file's hash, as scripts/cosign.sh does for cosign.
# Usage: scripts/renovate.sh renovate-config-validator --strict --no-global renovate.json
#        scripts/renovate.sh renovate --platform=local --dry-run=extract ...
set -euo pipefail

here=$(cd "$(dirname "$0")/renovate" && pwd)
lock_hash=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/moscow-time/renovate-$lock_hash

if [[ ! -d $cache ]]; then
    command -v npm >/dev/null || { echo "renovate.sh: npm not found (Debian: apt-get install npm)" >&2; exit 1; }
    echo "renovate.sh: installing Renovate and Node.js 24 from npm into $cache (first use only)" >&2
    start=$SECONDS
    # Installed beside it and renamed into place, as deny.sh does its snapshot.
    mkdir -p "$(dirname "$cache")"
    new=$(mktemp -d "$cache.XXXXXX")
    trap 'rm -rf "$new"' EXIT
    cp "$here/package.json" "$here/package-lock.json" "$new/"
    # npm verifies TLS with its own roots unless told; a proxy's CA is the system's.
    # --ignore-scripts: nothing of Renovate's tree needs an install script to
    # validate a config, and none runs on this machine.
    (cd "$new" && NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt} \
        npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
    mv -T "$new" "$cache" 2>/dev/null || true # another run was first: its copy is the same
    echo "renovate.sh: installed in $((SECONDS - start)) s" >&2
fi
node=$(echo "$cache"/node_modules/node-linux-*/bin/node)
[[ -x $node ]] || { echo "renovate.sh: no Node.js for $(uname -m) in $cache (the lock holds linux x64 and arm64)" >&2; exit 1; }
# RE2, the regex engine Renovate prefers, is a native module whose prebuilt
# binary comes from GitHub (not reachable here) and which needs a Node.js
# newer than npm ran under: Renovate falls back to JavaScript's RegExp, and
# says so on every run unless told. renovate.json's patterns use only what
# both engines accept (no inline flags, no lookaround).
export RENOVATE_X_IGNORE_RE2=true
case ${1:-} in
renovate) program=renovate.js ;;
renovate-config-validator) program=config-validator.js ;;
*) echo "usage: scripts/renovate.sh renovate|renovate-config-validator ARGS..." >&2; exit 2 ;;
esac
shift
exec "$node" "$cache/node_modules/renovate/dist/$program" "$@"
