#!/usr/bin/env bash
# Rootless podman for an ordinary user, set up by root once (docs/rootless.md).
#
#   scripts/rootless-user.sh [--images REF...]
#       makes the user ROOTLESS_USER (default mt-rootless) if need be, gives it
#       a subuid/subgid range and a runtime directory (/run/user/UID, what
#       systemd-logind would make), then hands it images from root's store by
#       `podman save | podman load` run as that user: REFs and their runtime
#       bases, or, without --images, the stand-in bases (which need root to
#       build: debootstrap) and every localhost/moscow-time image root has.
#       Idempotent: what is already there is left as it is, an image the user
#       has under the same ID is not handed over again.
#   scripts/rootless-user.sh --run COMMAND...
#       runs COMMAND as that user in this checkout, with the environment a
#       login would give it (HOME, XDG_RUNTIME_DIR), git trusting the
#       checkout, which root owns, and the checks' variables passed on (CHECK,
#       SKIP, SLOW, ENGINE, ARCHS, VARIANTS, IMAGE_REPO). The recipes use it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh # stand_in_*, base_label

user=${ROOTLESS_USER:-mt-rootless}
# Subordinate ids: the container's uids 1..N map to these. 65536 (useradd's
# default) covers the image's 65532 but not the checks' --user 123456.
id_count=200000

die() { echo "error: $*" >&2; exit 1; }
((EUID == 0)) || die "scripts/rootless-user.sh sets up a user for rootless podman: run it as root, once (docs/rootless.md)"

# as_user COMMAND...: COMMAND as the user, with a login's environment.
as_user() {
    local uid
    uid=$(id -u "$user")
    runuser -u "$user" -- env -i \
        HOME="$(getent passwd "$user" | cut -d: -f6)" USER="$user" LOGNAME="$user" \
        PATH="${user_tools:-$root/.tools/bin}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" ${user_tools:+TOOLS_BIN="$user_tools"} \
        XDG_RUNTIME_DIR="/run/user/$uid" LANG=C.UTF-8 \
        GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0="*" \
        ${CHECK+CHECK="$CHECK"} ${SKIP+SKIP="$SKIP"} ${SLOW+SLOW="$SLOW"} \
        ${ENGINE+ENGINE="$ENGINE"} ${ARCHS+ARCHS="$ARCHS"} ${VARIANTS+VARIANTS="$VARIANTS"} \
        ${IMAGE_REPO+IMAGE_REPO="$IMAGE_REPO"} ${ROOTLESS_MUTANT+ROOTLESS_MUTANT="$ROOTLESS_MUTANT"} \
        ROOTLESS_USER="$user" PYTHONDONTWRITEBYTECODE=1 \
        "$@"
}

# user_tools: the checkout's .tools/ venv runs on root's Python, which may
# live where the user cannot read it (pyenv under /root). Then the user gets
# a venv of its own on the system's Python, of the same minor version, that
# reads .tools' packages, and copies of .tools' scripts that start it; its
# bin/, with links to .tools' other programs, is the user's TOOLS_BIN (the
# justfile and the checks read it) and first on PATH. Remade when
# requirements-tools.txt changes.
user_tools=
user_tools() {
    [[ -d $root/.tools ]] || return 0
    as_user test -x "$(readlink -f "$root/.tools/bin/python3")" && return 0
    local venv version script
    venv=$(getent passwd "$user" | cut -d: -f6)/.cache/moscow-time/tools-$(sha256sum <<<"$root" | cut -c1-12)
    user_tools=$venv/bin
    as_user cmp -s "$root/requirements-tools.txt" "$venv/requirements-tools.txt" && return 0
    version=$("$root/.tools/bin/python3" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    [[ $(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) == "$version" ]] ||
        die "$root/.tools runs on a Python $user cannot run, and /usr/bin/python3 is not $version: make .tools with /usr/bin/python3 (rm -rf .tools; PATH=/usr/bin:\$PATH just _tools)"
    as_user rm -rf "$venv"
    as_user /usr/bin/python3 -m venv --without-pip "$venv"
    as_user sh -c "echo '$root/.tools/lib/python$version/site-packages' >'$venv/lib/python$version/site-packages/moscow-time-tools.pth'"
    for script in "$root"/.tools/bin/*; do
        [[ ! -e $venv/bin/${script##*/} && -f $script && -x $script ]] || continue
        # pip writes python3 into the first line, uv python.
        if head -n 1 "$script" | grep -qxE "#!$root/\.tools/bin/python(3(\.[0-9]+)?)?"; then
            sed "1s|.*|#!$venv/bin/python3|" "$script" | as_user sh -c "cat >'$venv/bin/${script##*/}' && chmod +x '$venv/bin/${script##*/}'"
        else
            as_user ln -s "$script" "$venv/bin/"
        fi
    done
    as_user cp "$root/requirements-tools.txt" "$venv/"
}

if [[ ${1:-} == --run ]]; then
    shift
    id "$user" >/dev/null 2>&1 || die "no user $user: run scripts/rootless-user.sh first"
    cd "$root"
    if ! as_user test -r "$root/justfile" -a -x "$root/scripts/doctor.sh"; then
        # A checkout the user cannot reach (a clone under /root): run in a
        # mirror of hard links where it can, made anew, nothing copied.
        mirror=/var/tmp/moscow-time-rootless-checkout
        rm -rf "$mirror"
        cp -al "$root" "$mirror" 2>/dev/null ||
            die "$user cannot read this checkout ($root), and $mirror cannot mirror it: clone it where others may read it (not under /root)"
        echo "$user cannot read $root: running in $mirror, a mirror of hard links" >&2
        root=$mirror
        cd "$root"
    fi
    user_tools
    as_user "$@"
    exit
fi

# ranges FILE: the user's total count of subordinate ids in FILE.
ranges() { awk -F: -v u="$user" -v id="$(id -u "$user")" '$1 == u || $1 == id { n += $3 } END { print n + 0 }' "$1"; }
# next_free FILE: the first id after every range in FILE (at least 100000, login.defs' SUB_UID_MIN).
next_free() { awk -F: 'BEGIN { n = 100000 } $2 + $3 > n { n = $2 + $3 } END { print n }' "$1"; }

if ! id "$user" >/dev/null 2>&1; then
    # No automatic range (useradd's 65536): the one below, of id_count.
    useradd --create-home --shell /bin/bash -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$user"
    echo "made user $user"
fi
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)

changed=0
touch /etc/subuid /etc/subgid
for kind in uid gid; do
    have=$(ranges /etc/sub$kind)
    if ((have < id_count)); then
        start=$(next_free /etc/sub$kind)
        usermod "--add-sub${kind}s" "$start-$((start + id_count - have - 1))" "$user"
        echo "gave $user sub${kind}s $start-$((start + id_count - have - 1))"
        changed=1
    fi
done

# What systemd-logind makes at login: /run is a tmpfs, so after a reboot this
# script runs again (or root makes the directory).
install -d -m 0700 -o "$user" -g "$(id -g "$user")" "/run/user/$uid"
profile=$home/.profile
# shellcheck disable=SC2016 # expanded at each login
line='export XDG_RUNTIME_DIR=/run/user/$(id -u) # no systemd-logind here: scripts/rootless-user.sh makes it'
if ! grep -qsF "$line" "$profile"; then
    echo "$line" >>"$profile"
    chown "$user:" "$profile"
fi

# The storage driver: the kernel's overlay inside the user namespace (Linux
# 5.13+), else fuse-overlayfs; podman 4.3 left to itself takes vfs here, which
# copies every layer in full.
storage=$home/.config/containers/storage.conf
if [[ ! -e $storage ]]; then
    # shellcheck disable=SC2016 # expanded by the user's shell
    if as_user unshare --user --map-root-user --mount sh -c 'd=$(mktemp -d) && mkdir "$d/l" "$d/u" "$d/w" "$d/m" &&
        mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m"; s=$?; rm -rf "$d"; exit $s' 2>/dev/null; then
        options=""
    elif command -v fuse-overlayfs >/dev/null; then
        options=$'\n[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"'
    else
        die "neither the kernel's overlay in a user namespace nor fuse-overlayfs here: apt-get install fuse-overlayfs (Fedora: dnf install fuse-overlayfs)"
    fi
    as_user mkdir -p "$(dirname "$storage")"
    printf '# scripts/rootless-user.sh: overlay, not vfs (docs/rootless.md)\n[storage]\ndriver = "overlay"\n%s\n' "$options" |
        as_user tee "$storage" >/dev/null
    if [[ $(as_user podman info --format '{{.Store.GraphDriverName}}' 2>/dev/null) != overlay ]]; then
        echo "note: $user's podman store was made with another driver; as $user: podman system reset (removes its images), then run this again" >&2
    fi
fi

# A new range reaches a podman that ran before only after it restarts its user namespace.
((changed == 0)) || as_user podman system migrate >/dev/null 2>&1 || true

if [[ ${1:-} == --images ]]; then
    shift
    refs=("$@")
else
    refs=("$stand_in_builder")
    for a in amd64 arm64; do refs+=("$stand_in_alpine-$a" "$stand_in_distroless-$a"); done
    mapfile -t -O "${#refs[@]}" refs < <(podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$repo" | grep -v -e ':<none>$' -e '-multiarch$')
fi

# The runtime bases of the images, for the checks that compare an image with its base.
for ref in "${refs[@]}"; do
    base=$(podman image inspect --format "{{index .Config.Labels \"$base_label\"}}" "$ref" 2>/dev/null || true)
    [[ -z $base || $base == "<no value>" ]] || refs+=("$base")
done

wanted=()
for ref in $(printf '%s\n' "${refs[@]}" | sort -u); do
    id=$(podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null) || { echo "skipped $ref: root has no such image"; continue; }
    [[ $(as_user podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null) == "$id" ]] || wanted+=("$ref")
done
if ((${#wanted[@]} == 0)); then
    echo "$user ($uid): has every image asked for"
    exit 0
fi
echo "handing ${#wanted[@]} image(s) to $user: ${wanted[*]}"
# docker-archive keeps each image's config, so the user's copy has the same ID.
podman save --quiet --multi-image-archive --format docker-archive "${wanted[@]}" | as_user podman load --quiet >/dev/null
echo "$user ($uid): has ${wanted[*]}"
