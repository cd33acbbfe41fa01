#!/usr/bin/env bash
# The prerequisites of the recipes, in one table (docs/development.md shows it: --markdown).
#
#   scripts/doctor.sh              every prerequisite, found or missing, with its
#                                version; exit 1 if one `just test` needs is missing
#                                (run as an ordinary user: one rootless podman needs)
#   scripts/doctor.sh --markdown   the same list as a Markdown table, for
#                                docs/development.md (scripts/check-docs.sh
#                                checks the copy there)
#   scripts/doctor.sh --need NAME...
#                                nothing if all NAMEs are there, else one line each
#                                saying how to install it; exit 1 (for recipes)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$HOME/.cargo/bin:$PATH"

host_target=$(uname -m)-unknown-linux-musl
# What a cold `just test` leaves in /var/lib and ~/.cache, with room to spare
# (docs/results/ci.md has the measured figure).
min_disk_gib=40
# The docs' table holds for every machine.
[[ ${1:-} != --markdown ]] || host_target=ARCH-unknown-linux-musl

# NAME|needed by (test: `just test` needs it; rootless: an ordinary user's podman; else the recipe, optional)|Debian/Ubuntu|Fedora|what for
prerequisites=(
    "podman|test|apt-get install podman|dnf install podman|builds and runs the images"
    "runc/crun|test|apt-get install runc|dnf install crun|podman's container runtime"
    "podman-ulimits|test|bash .ci/run --setup-only (installs .ci/containers.conf as /etc/containers/containers.conf.d/moscow-time.conf)|the same|containers start: this host's hard open-files limit is below the one podman gives containers"
    "docker|test|apt-get install docker.io (Engine and a BuildKit CLI; scripts/dockerd.sh starts it)|dnf install moby-engine|builds and runs the images with ENGINE=docker (just test-docker)"
    "just|test|bash .ci/run --setup-only puts it in /usr/local/bin (or pip install rust-just, cargo install just)|dnf install just|the recipes"
    "cargo|test|rustup (https://rustup.rs); Debian 12: apt-get install rustc-web cargo-web|dnf install rust cargo|the server and its tests"
    "rustfmt|test|rustup component add rustfmt|dnf install rustfmt|just lint"
    "clippy|test|rustup component add clippy|dnf install clippy|just lint"
    "cargo-auditable|just build|cargo install --locked --version 0.7.7 cargo-auditable|cargo install --locked --version 0.7.7 cargo-auditable|just build embeds the dependency list"
    "musl-toolchain|just build|rustup target add $host_target && rustup component add rust-src; Debian 12: apt-get install rustc-web cargo-web rust-web-src musl-dev libunwind-14-dev|rustup target add $host_target && rustup component add rust-src|just build's static-pie binary"
    "git|test|apt-get install git|dnf install git|the checkout's commit times; cargo-deny reads the advisory database with it"
    "python3-venv|test|apt-get install python3-venv|dnf install python3|installs the pinned linters into .tools/ on first use"
    "curl|test|apt-get install curl|dnf install curl|image checks"
    "jq|test|apt-get install jq|dnf install jq|image checks"
    "file|test|apt-get install file|dnf install file|static-binary checks"
    "binutils|test|apt-get install binutils|dnf install binutils|static-binary checks"
    "promtool|test|apt-get install prometheus|promtool from the release tarball, https://prometheus.io/download/|a test checks /metrics with it"
    "nodejs|test|Node.js 20+ with npm: apt-get install nodejs npm (Debian 13, Ubuntu 24.04)|dnf install nodejs npm|the browser tests (npm ci installs playwright-core)"
    "chromium|test|apt-get install chromium|dnf install chromium|the browser tests drive it headless (or the one CHROMIUM names)"
    "strace|test|apt-get install strace|dnf install strace|just seccomp measures the syscalls"
    "busybox-static|test|apt-get install busybox-static|dnf install busybox|the seccomp test runs it under the profile"
    "catatonit|test|apt-get install catatonit|dnf install catatonit|the pause process of podman kube play's pods"
    "qemu-user-static|test|apt-get install qemu-user-static binfmt-support|dnf install qemu-user-static|the arm64 images: alpine's build step, the arm64 checks"
    "debootstrap|test|apt-get install debootstrap|dnf install debootstrap|the stand-in bases"
    "dpkg-deb|test|apt-get install dpkg|dnf install dpkg|the stand-in bases"
    "apt-bookworm-arm64|test|Debian 12: dpkg --add-architecture arm64 && apt-get update (the stand-in bases are Debian 12 packages)|none: the stand-in bases need a Debian 12 host|the stand-in bases' arm64 packages"
    "go|test|Go 1.26+ from https://go.dev/dl into /usr/local/go (Debian 12's golang is 1.19)|dnf install golang (1.26+)|builds the cluster, cosign and actionlint from the Go module proxy (once, cached in ~/.cache/moscow-time)"
    "cgroup-v1|test|a host booted with cgroup v1; on cgroup v2 everything but just test-cluster runs (docs/kubernetes-cluster.md#other-hosts)|the same|just cluster: Kubernetes 1.37's kubelet on cgroup v1 (failCgroupV1: false)"
    "pid1-not-systemd|test|a host (or VM, or container) whose PID 1 is not systemd; else everything but just test-cluster runs (docs/kubernetes-cluster.md#other-hosts)|the same|just cluster: the kubelet's cgroupfs driver, beside no systemd"
    "cni-plugins|test|apt-get install containernetworking-plugins|dnf install containernetworking-plugins|just cluster's pod network (bridge, host-local, loopback, portmap)"
    "iptables|test|apt-get install iptables|dnf install iptables-nft|just cluster's kube-proxy"
    "conntrack|test|apt-get install conntrack|dnf install conntrack-tools|just cluster's kube-proxy"
    "disk-space|test|free $min_disk_gib GiB under /var/lib (podman's and Docker's stores, the cluster) and ~/.cache|the same|the images of both engines, the stand-in bases, the clean builds, the cluster"
    "root|test|run as root (debootstrap for the stand-ins, podman kube play, binfmt)|run as root|the stand-ins, podman kube play, binfmt"
    "skopeo|test|apt-get install skopeo|dnf install skopeo|just publish signs with it"
    "gnupg|test|apt-get install gnupg|dnf install gnupg2|just publish signs with it"
    "docker-registry|test|apt-get install docker-registry|the registry binary of https://github.com/distribution/distribution/releases as docker-registry on PATH|just test-publish: a real registry with TLS"
    "openssl|test|apt-get install openssl|dnf install openssl|just test-publish: the registry's TLS"
    "wrk|just bench|apt-get install wrk|dnf install wrk|the server bench"
    "nginx|test|apt-get install nginx-light|dnf install nginx|tests/conformance.rs compares the server with it; the server bench's baseline"
    "valgrind|just bench|apt-get install valgrind|dnf install valgrind|instructions per request"
    # Rootless podman (docs/rootless.md): what an ordinary user's podman needs
    # from the host. Run as that user, these and only these decide the exit status.
    "subuid-range|rootless|as root, once: scripts/rootless-user.sh USER (or usermod --add-subuids 100000-299999 --add-subgids 100000-299999 USER)|the same|the container's uids map to the user's subordinate ids in /etc/subuid and /etc/subgid (65536 covers the image's 65532; --user 123456 needs more)"
    "newuidmap|rootless|apt-get install uidmap|dnf install shadow-utils|newuidmap and newgidmap (setuid root) write those ranges into podman's user namespace"
    "user-namespaces|rootless|as root: sysctl -w user.max_user_namespaces=15000 (older Debian kernels: kernel.unprivileged_userns_clone=1)|the same|an unprivileged user may create a user namespace"
    "slirp4netns|rootless|apt-get install slirp4netns|dnf install slirp4netns|the network and -p of a rootless container (podman 4.3 cannot use pasta)"
    "rootless-storage|rootless|the kernel's overlay in a user namespace (Linux 5.13+) or apt-get install fuse-overlayfs, and the overlay driver in ~/.config/containers/storage.conf (scripts/rootless-user.sh writes it)|dnf install fuse-overlayfs, and the same storage.conf|layers shared, not copied: podman 4.3 without a storage.conf takes vfs, a full copy of every layer"
    "runtime-dir|rootless|as root: scripts/rootless-user.sh USER makes /run/user/UID; then export XDG_RUNTIME_DIR=/run/user/\$(id -u) (its ~/.profile does)|the same|podman's locks, sockets and pause process; without systemd-logind nothing makes it at login"
    "rootless-cgroups|rootless|none on cgroup v1: rootless containers get no limits; cgroup v2 with cpu, memory and pids delegated to the user (systemd: Delegate= for user@.service) gives them|the same|--memory, --cpus, --pids-limit and a pod's limits (informational: never missing)"
    "low-ports|rootless|as root: sysctl -w net.ipv4.ip_unprivileged_port_start=80 (every user may then bind 80), or publish 1024 and up (-p 8080:8080)|the same|publishing a port below 1024, such as -p 80:8080 (informational: never missing)"
)

# first_line COMMAND...: the first line COMMAND prints, if it succeeds.
first_line() {
    local out
    out=$("$@" 2>&1) || return 1
    head -n 1 <<<"$out"
}

# version NAME: prints the version of prerequisite NAME; fails if it is missing.
version() {
    case $1 in
    runc/crun) first_line runc --version || first_line crun --version ;;
    # The Engine, which the checks start with scripts/dockerd.sh if none runs.
    docker) command -v dockerd >/dev/null && first_line dockerd --version ;;
    cargo) first_line cargo --version && command -v rustc >/dev/null ;;
    rustfmt) first_line cargo fmt --version ;;
    clippy) first_line cargo clippy --version ;;
    cargo-auditable) command -v cargo-auditable >/dev/null && cargo install --list | grep -m 1 '^cargo-auditable ' ;;
    musl-toolchain)
        # What musl/build.sh looks for: rustup's musl target with rust-src, or
        # Debian's Rust with musl/self-contained.sh's objects.
        if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$host_target" &&
            [[ -d $(rustc --print sysroot)/lib/rustlib/src/rust/library ]]; then
            echo "rustup $host_target, $(rustc --version)"
        elif [[ -x /usr/bin/rustc && -d /usr/lib/rustlib/src/rust/library ]] &&
            musl/self-contained.sh "$host_target" "$(mktemp -d)" >/dev/null 2>&1; then
            echo "Debian packages, $(/usr/bin/rustc --version)"
        else
            return 1
        fi
        ;;
    python3-venv) python3 -c 'import ensurepip, venv' 2>/dev/null && first_line python3 --version ;;
    binutils) first_line readelf --version ;;
    promtool) first_line promtool --version ;;
    nodejs)
        local v
        v=$(node --version 2>/dev/null) && command -v npm >/dev/null || return 1
        if ! [[ ${v#v} =~ ^([0-9]+) ]] || ((BASH_REMATCH[1] < 20)); then
            echo "$v (too old)"
            return 1
        fi
        echo "node $v, npm $(npm --version)"
        ;;
    # Debian's /usr/bin/chromium is a wrapper script that may complain first.
    chromium) "${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | tail -n 1 ;;
    strace) first_line strace -V ;;
    busybox-static)
        [[ -x ${BUSYBOX:-/bin/busybox} ]] && file -b "${BUSYBOX:-/bin/busybox}" | grep -q static &&
            first_line "${BUSYBOX:-/bin/busybox}" --help
        ;;
    catatonit) first_line catatonit --version || first_line /usr/libexec/podman/catatonit --version ;;
    qemu-user-static)
        # The other architecture's binfmt handler (flag F: it works in containers).
        local other
        other=$([[ $(uname -m) == x86_64 ]] && echo aarch64 || echo x86_64)
        grep -q '^flags: .*F' "/proc/sys/fs/binfmt_misc/qemu-$other" 2>/dev/null &&
            first_line "qemu-$other-static" --version
        ;;
    dpkg-deb) first_line dpkg-deb --version ;;
    apt-bookworm-arm64)
        local out
        out=$(apt-cache madison rustc-web musl-dev:arm64 2>/dev/null) &&
            grep -q '^ *musl-dev:arm64 ' <<<"$out" &&
            awk '$1 == "rustc-web" { print "rustc-web " $3 ", arm64 lists"; found = 1; exit } END { exit !found }' <<<"$out"
        ;;
    root) ((EUID == 0)) && echo "uid 0" ;;
    podman-ulimits)
        local hard max
        hard=$(ulimit -Hn) max=$(cat /proc/sys/fs/nr_open)
        if [[ $hard == unlimited ]] || ((hard >= max)); then
            echo "open files: hard limit $hard, podman's default fits"
        elif [[ -n ${CONTAINERS_CONF:-} ]] || grep -qs '^ *"nofile=' /etc/containers/containers.conf.d/*.conf /etc/containers/containers.conf; then
            echo "open files: hard limit $hard, containers get their own ulimits"
        else
            echo "open files: hard limit $hard below $max"
            return 1
        fi
        ;;
    go)
        local out
        out=$(command -v go || echo /usr/local/go/bin/go)
        out=$("$out" version 2>/dev/null) || return 1
        if ! [[ $out =~ go1\.([0-9]+) ]] || ((BASH_REMATCH[1] < 26)); then
            echo "$out (too old)"
            return 1
        fi
        echo "$out"
        ;;
    cgroup-v1)
        local fs
        fs=$(stat -fc %T /sys/fs/cgroup)
        [[ $fs == tmpfs ]] || { echo "cgroup v2 ($fs)"; return 1; }
        echo "cgroup v1$([[ -d /sys/fs/cgroup/unified ]] && echo ", hybrid")"
        ;;
    pid1-not-systemd)
        local init
        init=$(cat /proc/1/comm)
        [[ $init != systemd ]] || { echo "PID 1 is systemd"; return 1; }
        echo "PID 1 is $init"
        ;;
    cni-plugins)
        local plugin
        for plugin in bridge host-local loopback portmap; do [[ -x /usr/lib/cni/$plugin ]] || return 1; done
        echo "bridge, host-local, loopback, portmap in /usr/lib/cni"
        ;;
    iptables) first_line iptables --version ;;
    conntrack) first_line conntrack --version ;;
    disk-space)
        local free
        free=$(df -BG --output=avail /var/lib | awk 'NR == 2 { print $1 + 0 }')
        ((free >= min_disk_gib)) || { echo "$free GiB free under /var/lib"; return 1; }
        echo "$free GiB free under /var/lib"
        ;;
    gnupg) first_line gpg --version ;;
    docker-registry) command -v docker-registry >/dev/null && first_line docker-registry --version ;;
    openssl) first_line openssl version ;;
    nginx) first_line nginx -v ;;
    wrk) command -v wrk >/dev/null && { wrk --version 2>&1 || true; } | head -n 1 ;;
    git) first_line git --version ;;
    just | podman | curl | jq | file | skopeo | debootstrap | valgrind)
        command -v "$1" >/dev/null || return 1
        case $1 in
        debootstrap) dpkg-query -W -f='debootstrap ${Version}\n' debootstrap 2>/dev/null || echo debootstrap ;;
        *) first_line "$1" --version ;;
        esac
        ;;
    # Rootless podman: as root, the per-user entries say so and pass.
    subuid-range)
        ((EUID != 0)) || { echo "root runs podman rootful; a user gets a range from scripts/rootless-user.sh"; return 0; }
        local ids kind user
        user=$(id -un)
        for kind in uid gid; do
            ids=$(awk -F: -v u="$user" -v id="$EUID" '$1 == u || $1 == id { n += $3 } END { print n + 0 }' /etc/sub$kind 2>/dev/null)
            ((ids >= 65536)) || { echo "$ids sub${kind}s for $user"; return 1; }
            printf '%s sub%ss ' "$ids" "$kind"
        done
        echo "for $user"
        ;;
    newuidmap)
        local tool
        for tool in newuidmap newgidmap; do
            tool=$(command -v "$tool") || return 1
            [[ -u $tool ]] || getcap "$tool" 2>/dev/null | grep -q cap_set || { echo "$tool is neither setuid nor has capabilities"; return 1; }
        done
        echo "$(dpkg-query -W -f='uidmap ${Version}' uidmap 2>/dev/null || echo newuidmap, newgidmap), setuid"
        ;;
    user-namespaces) unshare --user true 2>/dev/null && echo "allowed (user.max_user_namespaces=$(cat /proc/sys/user/max_user_namespaces))" ;;
    slirp4netns) first_line slirp4netns --version ;;
    rootless-storage)
        local how conf=${XDG_CONFIG_HOME:-$HOME/.config}/containers/storage.conf
        # shellcheck disable=SC2016 # expanded by the inner shell
        if unshare --user --map-root-user --mount sh -c 'd=$(mktemp -d) && mkdir "$d/l" "$d/u" "$d/w" "$d/m" &&
            mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m"; s=$?; rm -rf "$d"; exit $s' 2>/dev/null; then
            how="kernel overlay in a user namespace"
        elif command -v fuse-overlayfs >/dev/null && [[ -c /dev/fuse ]]; then
            how=$(first_line fuse-overlayfs --version)
        else
            return 1
        fi
        ((EUID != 0)) || { echo "$how"; return 0; }
        grep -qs '^ *driver *= *"overlay"' "$conf" /etc/containers/storage.conf || { echo "$how, but no driver = \"overlay\" in $conf: podman takes vfs"; return 1; }
        echo "$how, overlay"
        ;;
    runtime-dir)
        ((EUID != 0)) || { echo "root's is /run"; return 0; }
        [[ -n ${XDG_RUNTIME_DIR:-} ]] || { echo "XDG_RUNTIME_DIR is not set"; return 1; }
        [[ -d $XDG_RUNTIME_DIR && -O $XDG_RUNTIME_DIR && $(stat -c %a "$XDG_RUNTIME_DIR") == 700 ]] ||
            { echo "$XDG_RUNTIME_DIR is not a directory of $(id -un)'s, mode 700"; return 1; }
        echo "XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR"
        ;;
    rootless-cgroups)
        local controllers
        if [[ $(stat -fc %T /sys/fs/cgroup) != cgroup2fs ]]; then
            echo "cgroup v1: rootless containers run without limits"
        elif controllers=$(cat "/sys/fs/cgroup/user.slice/user-$EUID.slice/user@$EUID.service/cgroup.controllers" 2>/dev/null) &&
            [[ $controllers == *memory* && $controllers == *pids* ]]; then
            echo "cgroup v2, delegated: $controllers"
        else
            echo "cgroup v2, not delegated to this user: no limits"
        fi
        ;;
    low-ports)
        local start
        start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)
        echo "a user may publish ports from $start up$( ((start <= 80)) || echo ", not 80 or 443")"
        ;;
    *) echo "unknown prerequisite '$1'" >&2; return 2 ;;
    esac
}

# hint ENTRY: how to install it, in one line.
hint() {
    local name needed debian fedora
    IFS='|' read -r name needed debian fedora _ <<<"$1"
    echo "Debian/Ubuntu: $debian; Fedora: $fedora"
}

entry() {
    local e
    for e in "${prerequisites[@]}"; do
        [[ ${e%%|*} == "$1" ]] && { echo "$e"; return; }
    done
    echo "error: scripts/doctor.sh knows no prerequisite '$1'" >&2
    exit 2
}

if [[ ${1:-} == --markdown ]]; then
    echo "| prerequisite | needed by | what for | Debian/Ubuntu | Fedora |"
    echo "| --- | --- | --- | --- | --- |"
    for e in "${prerequisites[@]}"; do
        IFS='|' read -r name needed debian fedora why <<<"$e"
        case $needed in
        test) needed="\`just test\`" ;;
        rootless) needed="rootless podman" ;;
        *) needed="\`$needed\`" ;;
        esac
        echo "| $name | $needed | $why | $debian | $fedora |"
    done
    exit 0
fi

if [[ ${1:-} == --need ]]; then
    shift
    missing=0
    for name in "$@"; do
        e=$(entry "$name")
        if ! version "$name" >/dev/null 2>&1; then
            echo "error: $name not found; install it ($(hint "$e")), or see \`just doctor\`" >&2
            missing=1
        fi
    done
    exit "$missing"
fi

# Root runs `just test`; an ordinary user, rootless podman: what it lacks decides the exit status.
counted=test purpose="\`just test\`"
((EUID == 0)) || counted=rootless purpose="rootless podman (docs/rootless.md)"
missing=0
for e in "${prerequisites[@]}"; do
    IFS='|' read -r name needed _ <<<"$e"
    if v=$(version "$name" 2>/dev/null) && [[ -n $v ]]; then
        printf '%-8s %-26s %-18s %s\n' ok "$name" "$needed" "${v:0:70}"
    else
        printf '%-8s %-26s %-18s %s\n' missing "$name" "$needed" "$(hint "$e")"
        [[ $needed != "$counted" ]] || missing=$((missing + 1))
    fi
done
if ((missing)); then
    echo "$missing prerequisite(s) of $purpose missing" >&2
    exit 1
fi
