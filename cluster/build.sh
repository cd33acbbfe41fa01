#!/usr/bin/env bash
# cluster/build.sh: build the cluster's binaries (Kubernetes, etcd,
# containerd) from the pins in cluster/build/go.mod, once, into a cache
# folder outside git named by those pins; print that folder's bin/.
# The first build takes long (see docs/kubernetes-cluster.md); later calls
# return at once.
set -euo pipefail
# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=$(cluster_bin)
if [[ -x $bin/.complete ]]; then
    echo "$bin"
    exit 0
fi

command -v "$go" >/dev/null || { echo "error: Go 1.26 or newer not found at $go (set GO)" >&2; exit 1; }
mkdir -p "$bin"
start=$SECONDS
cd "$cluster_dir/build"
k8s=$(pinned k8s.io/kubernetes)
containerd=$(pinned github.com/containerd/containerd/v2)
echo "building Kubernetes $k8s, etcd $(pinned go.etcd.io/etcd/server/v3), containerd $containerd into $bin" >&2
# The version strings a release build stamps, so `kubectl version` and the
# node's kubeletVersion tell the truth.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s
    -X k8s.io/component-base/version.gitMajor=$(cut -d. -f1 <<<"${k8s#v}")
    -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$k8s")
    -X k8s.io/component-base/version.gitTreeState=clean
    -X k8s.io/client-go/pkg/version.gitVersion=$k8s
    -X github.com/containerd/containerd/v2/version.Version=$containerd"
# Static binaries, as the upstream releases are; the tool directives of
# go.mod list what to build.
CGO_ENABLED=0 "$go" build -trimpath -ldflags="$(tr -s ' \n' ' ' <<<"$ldflags")" -o "$bin/" tool
# etcd's main package is its server module: go names it "server".
mv "$bin/server" "$bin/etcd"
printf 'built in %d s\n' $((SECONDS - start)) >"$bin/.complete"
chmod +x "$bin/.complete"
echo "built in $((SECONDS - start)) s" >&2
echo "$bin"
