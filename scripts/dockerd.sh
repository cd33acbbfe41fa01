#!/usr/bin/env bash
# Start or stop a Docker Engine of the project's own, for machines without a
# running one (CI; a Debian box with the docker.io package and no systemd):
#
#   scripts/dockerd.sh start   start dockerd unless it answers already; prints
#                              the DOCKER_HOST line to use (lib.sh uses it itself)
#   scripts/dockerd.sh stop    stop the dockerd this script started, by its PID
#   scripts/dockerd.sh status  exit 0 if it answers
#
# Its state is its own (--data-root /var/lib/moscow-time-docker, socket and PID
# file in /run/moscow-time-docker), so a system Docker, if any, is untouched.
# --iptables=false --ip-masq=false --ip-forward=false: the host's firewall
# and forwarding stay as they were. By default dockerd adds its chains and, on
# a host that did not forward, sets the FORWARD policy to DROP, which drops
# routed traffic neither engine knows (docs/docker.md "Networking"). Without
# them docker-proxy serves published ports (127.0.0.1 is all the checks use)
# and containers reach no other network, so builds use --network=host
# (build-image.sh).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

readonly data_root=${DOCKERD_DATA_ROOT:-/var/lib/moscow-time-docker}
readonly pid_file=$dockerd_run/dockerd.pid
readonly log=$dockerd_run/dockerd.log

answers() { DOCKER_HOST=unix://$dockerd_socket timeout 5 "$docker_cli" version >/dev/null 2>&1; }

case ${1:-} in
start)
    if answers; then
        echo "dockerd answers on $dockerd_socket (export DOCKER_HOST=unix://$dockerd_socket)"
        exit 0
    fi
    command -v dockerd >/dev/null ||
        { echo "error: dockerd not found; install Docker Engine (Debian/Ubuntu: apt-get install docker.io, Fedora: dnf install moby-engine)" >&2; exit 1; }
    ((EUID == 0)) || { echo "error: starting dockerd needs root" >&2; exit 1; }
    mkdir -p "$dockerd_run" "$data_root"
    # setsid: its own session, so a Ctrl-C in this shell does not reach it.
    setsid dockerd --data-root "$data_root" --exec-root "$dockerd_run/exec" \
        --pidfile "$pid_file" --host "unix://$dockerd_socket" \
        --iptables=false --ip-masq=false --ip-forward=false --userland-proxy=true \
        >"$log" 2>&1 </dev/null &
    for _ in $(seq 60); do
        answers && break
        kill -0 $! 2>/dev/null || { tail -n 5 "$log" >&2; echo "error: dockerd exited (log: $log)" >&2; exit 1; }
        sleep 0.5
    done
    answers || { echo "error: dockerd did not answer within 30 s (log: $log)" >&2; exit 1; }
    echo "dockerd $(cat "$pid_file") answers on $dockerd_socket (export DOCKER_HOST=unix://$dockerd_socket; log: $log)"
    ;;
stop)
    [[ -s $pid_file ]] || { echo "no dockerd started by this script ($pid_file)"; exit 0; }
    pid=$(cat "$pid_file")
    kill -TERM "$pid" 2>/dev/null || { rm -f "$pid_file"; exit 0; }
    # dockerd stops its containers (10 s each at most) and its containerd.
    for _ in $(seq 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "error: dockerd $pid did not stop within 30 s" >&2
        exit 1
    fi
    echo "dockerd $pid stopped"
    ;;
status) answers ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
