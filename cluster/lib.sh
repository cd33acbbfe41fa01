# Shared by the cluster scripts: where the binaries and the state live.
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file

cluster_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
go=${GO:-/usr/local/go/bin/go}
# The module proxy's TLS goes through the system's roots (CI's proxy CA); the
# checksums are those of the committed go.sum (sum.golang.org is not reachable
# from CI), and the toolchain is the machine's.
export SSL_CERT_FILE=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
export GOSUMDB=${GOSUMDB:-off} GOTOOLCHAIN=${GOTOOLCHAIN:-local} GOFLAGS=${GOFLAGS:--mod=readonly}
# Everything a running cluster made, and nothing else: `just cluster-down`
# removes this folder.
state=${CLUSTER_STATE:-/var/lib/moscow-time-cluster}

# pinned MODULE: the version of MODULE that cluster/build/go.mod selects.
pinned() {
    (cd "$cluster_dir/build" && "$go" list -m -f '{{.Version}}' "$1")
}

# cluster_bin: the cache folder of the binaries built from the current pins:
# the Kubernetes version plus a hash of go.sum and the tools go.mod lists, so
# a change of any version or tool builds afresh beside the old build.
cluster_bin() {
    local hash
    hash=$(cd "$cluster_dir/build" && { cat go.sum; sed -n '/^tool (/,/^)/p' go.mod; } | sha256sum | cut -c1-12)
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/moscow-time/cluster/$(pinned k8s.io/kubernetes)-$hash/bin"
}
node=moscow-time-node
export KUBECONFIG=$state/admin.kubeconfig
containerd_socket=$state/containerd/containerd.sock
pause_image=localhost/moscow-time-cluster/pause:catatonit
# Ports on 127.0.0.1; up.sh checks they are free first.
etcd_port=12379 etcd_peer_port=12380 apiserver_port=16443
# (kube-controller-manager, kube-scheduler, kubelet, its healthz, kube-proxy's metrics and healthz)
ports=("$etcd_port" "$etcd_peer_port" "$apiserver_port" 10257 10259 10250 10248 10249 10256)
components=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

# running: whether every component recorded under $state/pid still runs.
running() {
    local name
    for name in "${components[@]}"; do
        [[ -s $state/pid/$name ]] && kill -0 "$(cat "$state/pid/$name")" 2>/dev/null || return 1
    done
}

# import_image IMAGE: copy IMAGE from podman's store into the cluster's
# containerd, under the same name, for pods that never pull.
import_image() {
    podman save --format docker-archive "$1" |
        ctr --address "$containerd_socket" --namespace k8s.io images import --local - >/dev/null
}
