#!/usr/bin/env bash
# One line naming this machine for the results files (docs/results/*.md):
# architecture, cores, CPU model, memory, kernel.
set -euo pipefail
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '$1 == "MemTotal:" { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
echo "$(uname -m), $(nproc) cores (${model:-unknown CPU}), $mem, Linux $(uname -r)"
