#!/usr/bin/env bash
# Print the path of actionlint, built once from the Go module proxy at a
# pinned version into a cache folder outside git and reused after that (as
# scripts/cosign.sh does for cosign: the module proxy serves actionlint's
# source like any other Go module, where GitHub's release downloads cannot
# be reached).
# Usage: scripts/actionlint.sh            (prints the path; builds on first use)
set -euo pipefail

version=v1.7.12 # renovate: datasource=go depName=github.com/rhysd/actionlint
cache=${XDG_CACHE_HOME:-$HOME/.cache}/moscow-time/actionlint-$version
bin=$cache/actionlint

if [[ ! -x $bin ]]; then
    command -v go >/dev/null || PATH=/usr/local/go/bin:$PATH
    command -v go >/dev/null || { echo "actionlint.sh: go not found (Debian: apt-get install golang; or /usr/local/go)" >&2; exit 1; }
    echo "actionlint.sh: building actionlint $version from the Go module proxy into $cache (first use only)" >&2
    work=$(mktemp -d "${TMPDIR:-/tmp}/actionlint-build.XXXXXX")
    trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
    start=$SECONDS
    # Own GOPATH and GOCACHE, as scripts/cosign.sh: the same cold build
    # everywhere, nothing left behind but the binary.
    env GOPATH="$work/gopath" GOCACHE="$work/cache" GOBIN="$work/bin" \
        GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local \
        SSL_CERT_FILE="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" \
        go install -trimpath -ldflags=-s "github.com/rhysd/actionlint/cmd/actionlint@$version" >&2
    mkdir -p "$cache"
    install -m 0755 "$work/bin/actionlint" "$bin.tmp" && mv "$bin.tmp" "$bin"
    echo "actionlint.sh: built in $((SECONDS - start)) s" >&2
fi
echo "$bin"
