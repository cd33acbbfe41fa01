#!/usr/bin/env bash
# Print the path of cosign, built once from the Go module proxy at a pinned
# version into a cache folder outside git and reused after that. The CI
# machine can download packages and modules but no release binary; the
# module proxy serves cosign's source like any other Go module.
# Usage: scripts/cosign.sh            (prints the path; builds on first use)
set -euo pipefail

# v2: signs and verifies with a key offline (--tlog-upload=false).
version=v2.6.5 # renovate: datasource=go depName=github.com/sigstore/cosign/v2
cache=${XDG_CACHE_HOME:-$HOME/.cache}/moscow-time/cosign-$version
bin=$cache/cosign

if [[ ! -x $bin ]]; then
    command -v go >/dev/null || PATH=/usr/local/go/bin:$PATH
    command -v go >/dev/null || { echo "cosign.sh: go not found (Debian: apt-get install golang; or /usr/local/go)" >&2; exit 1; }
    echo "cosign.sh: building cosign $version from the Go module proxy into $cache (first use only)" >&2
    work=$(mktemp -d "${TMPDIR:-/tmp}/cosign-build.XXXXXX")
    trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
    start=$SECONDS
    # Own GOPATH and GOCACHE: the build is the same cold build everywhere and
    # leaves nothing behind but the binary. The proxy's CA is the system's.
    env GOPATH="$work/gopath" GOCACHE="$work/cache" GOBIN="$work/bin" \
        GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local \
        SSL_CERT_FILE="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" \
        go install -trimpath -ldflags=-s "github.com/sigstore/cosign/v2/cmd/cosign@$version" >&2
    mkdir -p "$cache"
    install -m 0755 "$work/bin/cosign" "$bin.tmp" && mv "$bin.tmp" "$bin"
    echo "cosign.sh: built in $((SECONDS - start)) s" >&2
fi
echo "$bin"
