#!/usr/bin/env bash
# cluster/up.sh: start a single-node Kubernetes on this machine, as root:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd
# (runc, overlayfs, CNI bridge), kubelet and kube-proxy, each a process whose
# PID is recorded under $state/pid; wait until the node is Ready. Does nothing
# if the cluster already runs. cluster/down.sh undoes all of it.
#
# Every component listens on 127.0.0.1 but the kubelet's API (on the node IP,
# client certificates only), and the Services' NodePorts answer on 127.0.0.1
# only. The pod network (10.244.0.0/24 on bridge mtc0) and the Service range
# (10.96.0.0/16) stay clear of podman's 10.88.0.0/16, whose network other
# users of this machine share.
set -euo pipefail
# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "error: the cluster runs as root (containerd, kubelet, iptables)" >&2; exit 1; }
if running; then
    echo "cluster already running (state in $state; just cluster-down stops it)"
    exit 0
fi
# The two things most hosts differ in, said at once rather than failing later.
[[ $(stat -fc %T /sys/fs/cgroup) == tmpfs ]] ||
    { echo "error: just cluster needs cgroup v1 and this host is cgroup v2 ($(stat -fc %T /sys/fs/cgroup)); everything but the cluster checks runs here (docs/kubernetes-cluster.md#other-hosts)" >&2; exit 1; }
[[ $(cat /proc/1/comm) != systemd ]] ||
    { echo "error: just cluster runs its kubelet with cgroupfs beside no systemd, and PID 1 here is systemd; everything but the cluster checks runs here (docs/kubernetes-cluster.md#other-hosts)" >&2; exit 1; }
for tool in runc openssl iptables conntrack podman jq /usr/lib/cni/bridge /usr/lib/cni/host-local \
    /usr/lib/cni/loopback /usr/lib/cni/portmap /usr/bin/catatonit; do
    command -v "$tool" >/dev/null ||
        { echo "error: $tool not found; install runc openssl iptables conntrack podman jq containernetworking-plugins catatonit" >&2; exit 1; }
done
for port in "${ports[@]}"; do
    ! ss -Hltn "sport = :$port" | grep -q . ||
        { echo "error: port $port is taken on this machine; the cluster needs it" >&2; exit 1; }
done

bin=$("$cluster_dir/build.sh")
export PATH="$bin:$PATH"
start=$SECONDS
rm -rf "$state"
mkdir -p "$state"/{pki,pid,log,etcd,cni/net.d,kubelet/seccomp}
cd "$state"
node_ip=$(ip -4 route get 1.1.1.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')
# Restored by down.sh: kube-proxy turns it on for NodePorts on 127.0.0.1.
cat /proc/sys/net/ipv4/conf/all/route_localnet >route_localnet.before

# --- certificates: one CA signs every server and client certificate
openssl_quiet() { openssl "$@" 2>/dev/null; }
openssl_quiet req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=moscow-time-cluster-ca -keyout pki/ca.key -out pki/ca.crt
# cert NAME SUBJECT EXTENSIONS: pki/NAME.crt and .key signed by the CA.
cert() {
    openssl_quiet req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
        -keyout "pki/$1.key" -out "pki/$1.csr"
    openssl_quiet x509 -req -in "pki/$1.csr" -CA pki/ca.crt -CAkey pki/ca.key -CAcreateserial \
        -days 30 -out "pki/$1.crt" -extfile <(printf '%s\n' "$3")
}
client='extendedKeyUsage=clientAuth'
cert apiserver /CN=kube-apiserver "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:$node_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
cert apiserver-kubelet-client /CN=kube-apiserver-kubelet-client/O=kubeadm:cluster-admins "$client"
# The names the API server's default RBAC policy already grants.
cert admin /CN=admin/O=system:masters "$client"
cert controller-manager /CN=system:kube-controller-manager "$client"
cert scheduler /CN=system:kube-scheduler "$client"
cert kubelet "/CN=system:node:$node/O=system:nodes" "$client"
cert kube-proxy /CN=system:kube-proxy "$client"
openssl_quiet ecparam -name prime256v1 -genkey -noout -out pki/sa.key
openssl_quiet ec -in pki/sa.key -pubout -out pki/sa.pub
# kubeconfig NAME: NAME.kubeconfig, the API server as NAME.
for name in admin controller-manager scheduler kubelet kube-proxy; do
    cat >"$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: moscow-time
    cluster: {server: "https://127.0.0.1:$apiserver_port", certificate-authority: $state/pki/ca.crt}
users:
  - name: $name
    user: {client-certificate: $state/pki/$name.crt, client-key: $state/pki/$name.key}
contexts:
  - name: moscow-time
    context: {cluster: moscow-time, user: $name}
current-context: moscow-time
EOF
done

# launch NAME COMMAND...: run COMMAND in the background, its own session,
# output in log/NAME.log, PID in pid/NAME.
launch() {
    local name=$1
    shift
    setsid "$@" >"log/$name.log" 2>&1 </dev/null &
    echo $! >"pid/$name"
}
# wait_for WHAT SECONDS COMMAND...: retry COMMAND until it succeeds; after
# SECONDS, fail naming WHAT and the end of its log.
wait_for() {
    local what=$1 limit=$((SECONDS + $2))
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS > limit)) || ! kill -0 "$(cat "pid/$what")" 2>/dev/null; then
            echo "error: $what did not come up; the end of $state/log/$what.log:" >&2
            tail -n 20 "log/$what.log" >&2
            exit 1
        fi
        sleep 0.5
    done
}
healthy() { curl -sf --cacert pki/ca.crt --cert pki/admin.crt --key pki/admin.key "$1"; }

launch etcd etcd --name moscow-time --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "moscow-time=http://127.0.0.1:$etcd_peer_port" --listen-metrics-urls ""
wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"

# Privileged pods are allowed by the server, so that only the namespaces'
# Pod Security admission refuses them (what check pss proves).
launch kube-apiserver kube-apiserver --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --secure-port "$apiserver_port" --advertise-address "$node_ip" \
    --tls-cert-file pki/apiserver.crt --tls-private-key-file pki/apiserver.key --client-ca-file pki/ca.crt \
    --kubelet-client-certificate pki/apiserver-kubelet-client.crt --kubelet-client-key pki/apiserver-kubelet-client.key \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file pki/sa.pub \
    --service-account-signing-key-file pki/sa.key --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction --allow-privileged
wait_for kube-apiserver 60 healthy "https://127.0.0.1:$apiserver_port/readyz"

launch kube-controller-manager kube-controller-manager --kubeconfig controller-manager.kubeconfig \
    --authentication-kubeconfig controller-manager.kubeconfig --authorization-kubeconfig controller-manager.kubeconfig \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file pki/sa.key --root-ca-file pki/ca.crt
launch kube-scheduler kube-scheduler --kubeconfig scheduler.kubeconfig \
    --authentication-kubeconfig scheduler.kubeconfig --authorization-kubeconfig scheduler.kubeconfig \
    --bind-address 127.0.0.1 --leader-elect=false

# --- the node: containerd with runc and the CNI plugins, the kubelet, kube-proxy
# render TEMPLATE OUT: cluster/TEMPLATE with this cluster's values filled in.
render() {
    sed -e "s|@STATE@|$state|g" -e "s|@PAUSE@|$pause_image|g" -e "s|@NODE@|$node|g" -e "s|@NODE_IP@|$node_ip|g" "$cluster_dir/$1" >"$2"
}
render containerd.toml containerd.toml
render cni.conflist cni/net.d/10-moscow-time.conflist
launch containerd containerd --config containerd.toml
wait_for containerd 30 ctr --address "$containerd_socket" version
# Nothing can be pulled: the pause image is catatonit in pause mode, built
# here and imported as any image of ours is.
mkdir pause
cp /usr/bin/catatonit pause/
podman build --quiet --tag "$pause_image" --file "$cluster_dir/pause.Containerfile" pause >/dev/null
import_image "$pause_image"
cp "$cluster_dir/../deploy/seccomp/moscow-time.json" kubelet/seccomp/

# The kubelet's cgroupRoot must exist in every v1 hierarchy; a new cpuset
# starts with no CPUs or memory nodes, so it gets its parent's.
for hierarchy in /sys/fs/cgroup/*/; do
    [[ $hierarchy == */unified/ ]] || mkdir -p "${hierarchy}moscow-time-cluster"
done
cp /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/cpuset/moscow-time-cluster/
cp /sys/fs/cgroup/cpuset/cpuset.mems /sys/fs/cgroup/cpuset/moscow-time-cluster/
render kubelet.yaml kubelet/config.yaml
launch kubelet kubelet --config kubelet/config.yaml --kubeconfig kubelet.kubeconfig \
    --root-dir "$state/kubelet" --cert-dir "$state/kubelet/pki" --hostname-override "$node" --node-ip "$node_ip"
render kube-proxy.yaml kube-proxy.yaml
launch kube-proxy kube-proxy --config kube-proxy.yaml

wait_for kubelet 120 kubectl wait --for=condition=Ready "node/$node" --timeout=5s
echo "cluster up in $((SECONDS - start)) s: export KUBECONFIG=$state/admin.kubeconfig; it keeps running until just cluster-down stops it"
