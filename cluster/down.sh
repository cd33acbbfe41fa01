#!/usr/bin/env bash
# cluster/down.sh: stop what cluster/up.sh started, by the PIDs it recorded,
# and remove what it made: the pods' containers, kube-proxy's and the
# kubelet's iptables rules, the bridge mtc0, the mounts and cgroups below the
# cluster's own paths, and the state folder. Safe to run twice, or after a failed start.
set -euo pipefail
# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -d $state ]] || { echo "no cluster (no $state)"; exit 0; }
bin=$(cluster_bin)
export PATH="$bin:$PATH"

# stop NAME...: SIGTERM each recorded process, wait up to 10 s, then SIGKILL.
stop() {
    local name pid
    for name; do
        pid=$(cat "$state/pid/$name" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}

# The kubelet first, so nothing restarts the containers stopped next.
stop kubelet kube-proxy
if [[ -S $containerd_socket ]]; then
    cri() { ctr --address "$containerd_socket" --namespace k8s.io "$@"; }
    for task in $(cri tasks ls -q 2>/dev/null); do
        cri tasks kill --signal SIGKILL "$task" >/dev/null 2>&1 || true
    done
    sleep 1
    # Deleting its last task ends a pod's runc shim.
    for task in $(cri tasks ls -q 2>/dev/null); do cri tasks delete --force "$task" >/dev/null 2>&1 || true; done
fi
stop containerd kube-scheduler kube-controller-manager kube-apiserver etcd

[[ -x $bin/kube-proxy ]] && kube-proxy --cleanup >/dev/null 2>&1 || true
# The kubelet's own chains, which kube-proxy --cleanup leaves.
for ipt in iptables ip6tables; do
    for chain in INPUT OUTPUT; do
        while "$ipt" -t filter -D "$chain" -j KUBE-FIREWALL 2>/dev/null; do :; done
    done
    for table in filter nat mangle; do
        for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
            "$ipt" -t "$table" -F "$chain" 2>/dev/null && "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
        done
    done
done
if [[ -s $state/route_localnet.before ]]; then
    cat "$state/route_localnet.before" >/proc/sys/net/ipv4/conf/all/route_localnet
fi
# The deepest first: pods' network namespaces, rootfs and shm mounts.
awk -v s="$state/" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r mount; do umount -l "$mount"; done
ip link delete mtc0 2>/dev/null || true
rm -f /var/lib/cni/results/moscow-time-cluster-*
for cgroup in /sys/fs/cgroup/*/moscow-time-cluster; do
    [[ -d $cgroup ]] && find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null || true
done
rm -rf "$state"
echo "cluster down"
