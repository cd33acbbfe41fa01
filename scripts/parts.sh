#!/usr/bin/env bash
# What each part of `just test` took, for the summary at its end, and the
# sections of docs/results/ci.md (.ci/run's CI_RECORD).
#
#   scripts/parts.sh mark NAME   NAME ends now ("start": a new run begins)
#   scripts/parts.sh report      each part and its seconds, and the total
#   scripts/parts.sh beside RECIPE
#                                start `just RECIPE` in the background, niced,
#                                to run beside the parts that follow (most of
#                                them wait on containers and leave the CPU idle)
#   scripts/parts.sh await RECIPE
#                                wait for it, print its output, fail as it did
#   scripts/parts.sh disk-mark   remember the disk in use now (.ci/run's start)
#   scripts/parts.sh record FILE WHAT
#                                append to FILE a section headed by the date,
#                                commit and WHAT: the machine, the disk used
#                                since disk-mark, .ci/run's steps
#                                (target/ci-steps.tsv) and the parts
#
# A part's time runs from the previous mark to its own, so it includes the
# recipes it was the first to need (test-images: building the six images).
# A part run beside others counts only the time spent waiting for it.
set -euo pipefail
cd "$(dirname "$0")/.."
parts=target/test-parts.tsv steps=target/ci-steps.tsv disk=target/disk-before
beside=target/beside

# stop_beside RECIPE: the last background run of RECIPE stopped, with all it
# started (its own session), if it still runs.
stop_beside() {
    local pid
    pid=$(cat "$beside/$1.pid" 2>/dev/null) || return 0
    kill -TERM -- "-$pid" 2>/dev/null || true
    rm -f "$beside/$1.pid"
}

# GiB in use on the file systems of /var/lib and ~/.cache, each counted once.
disk_used() {
    df -BG --output=source,used /var/lib "$HOME/.cache" | awk 'NR > 1 && !seen[$1]++ { sum += $2 } END { print sum + 0 }'
}

report() {
    awk -F'\t' '
        NR == 1 { first = prev = $2; next }
        { printf "%-18s %6d s\n", $1, $2 - prev; prev = $2 }
        END { if (NR > 1) printf "%-18s %6d s\n", "total", prev - first }
    ' "$parts"
}

case ${1:-} in
mark)
    name=${2:?usage: $0 mark NAME}
    mkdir -p target
    if [[ $name == start ]]; then : >"$parts"; fi
    printf '%s\t%s\n' "$name" "$(date +%s)" >>"$parts"
    ;;
report) report ;;
beside)
    recipe=${2:?usage: $0 beside RECIPE}
    mkdir -p "$beside"
    stop_beside "$recipe"
    rm -f "$beside/$recipe.rc"
    date +%s >"$beside/$recipe.start"
    # A session of its own, so that await can stop all of it. Ctrl-C on
    # `just test` does not reach it: it runs to its end, or to the next beside.
    setsid scripts/parts.sh run-beside "$recipe" </dev/null >"$beside/$recipe.log" 2>&1 &
    echo $! >"$beside/$recipe.pid"
    echo "$recipe runs beside the next parts, niced; its output comes when it is awaited ($beside/$recipe.log)"
    ;;
run-beside)
    # The lowest CPU priority, for the parts in front to keep theirs: nice;
    # the same for its session's autogroup (setsid made it one, which nice
    # alone does not reach); and, where cgroup v1's cpu controller is root's
    # to write, a cpu cgroup of the least share for it and for its builds'
    # containers (BESIDE_CGROUP: podman build --cgroup-parent), which would
    # otherwise each get a cgroup of their own at the default share.
    recipe=$2
    cgroup=/sys/fs/cgroup/cpu/moscow-time-beside
    if mkdir -p "$cgroup" 2>/dev/null && echo 2 >"$cgroup/cpu.shares" && echo $$ >"$cgroup/cgroup.procs"; then
        export BESIDE_CGROUP=/moscow-time-beside/build
    fi
    echo 19 >/proc/self/autogroup 2>/dev/null || true
    rc=0
    nice -n 19 "${JUST:-just}" "$recipe" || rc=$?
    echo "$rc" >"$beside/$recipe.rc"
    ;;
await)
    recipe=${2:?usage: $0 await RECIPE}
    [[ -e $beside/$recipe.start ]] || { echo "error: $recipe was not started beside (scripts/parts.sh beside $recipe)" >&2; exit 2; }
    # Bounded: the builds of `just reproducible` take minutes, not an hour.
    waited=0
    while [[ ! -e $beside/$recipe.rc ]] && ((waited < 3600)); do
        sleep 1
        waited=$((waited + 1))
    done
    cat "$beside/$recipe.log"
    if [[ ! -e $beside/$recipe.rc ]]; then
        stop_beside "$recipe"
        echo "error: $recipe, run beside, did not end within an hour: stopped" >&2
        exit 1
    fi
    rm -f "$beside/$recipe.pid"
    echo "$recipe ran beside the parts before for $(($(stat -c %Y "$beside/$recipe.rc") - $(cat "$beside/$recipe.start"))) s; waited for it $waited s"
    exit "$(cat "$beside/$recipe.rc")"
    ;;
disk-mark) mkdir -p target && disk_used >"$disk" ;;
record)
    file=${2:?usage: $0 record FILE WHAT} what=${3:?usage: $0 record FILE WHAT}
    total=0
    {
        echo
        echo "### $(date -u '+%-d %b %Y'), \`$(git rev-parse --short=7 HEAD)\`: $what"
        echo
        echo "$(scripts/machine.sh); $(($(disk_used) - $(cat "$disk" 2>/dev/null || disk_used))) GiB more in use under /var/lib and ~/.cache afterwards."
        echo
        echo "| step | seconds |"
        echo "| --- | ---: |"
        if [[ -s $steps ]]; then
            while IFS=$'\t' read -r name secs; do
                echo "| $name | $secs |"
                total=$((total + secs))
            done <"$steps"
        fi
        # Without .ci/run's test step (the setup, then `just test` in a new
        # shell, as the README has it), the test command is a step of its own.
        if [[ -s $parts ]]; then
            while read -r name secs _; do
                if [[ $name != total ]]; then
                    echo "| &nbsp;&nbsp;$name | $secs |"
                elif ! grep -q '^README test command' "$steps" 2>/dev/null; then
                    echo "| just test, in a new shell | $secs |"
                    total=$((total + secs))
                fi
            done < <(report)
        fi
        echo "| **in all** | **$total** |"
    } >>"$file"
    echo "recorded in $file"
    ;;
*) echo "usage: $0 mark NAME | report | beside RECIPE | await RECIPE | disk-mark | record FILE WHAT" >&2; exit 2 ;;
esac
