#!/usr/bin/env bash
# The chosen engine's CLI (ENGINE=podman or docker; scripts/lib.sh chooses
# when unset), for recipes: `scripts/engine.sh run ...`; `--check`: nothing,
# or one line saying what is missing; `--name`: podman or docker.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
need_engine
case ${1:-} in
--check) exit 0 ;;
--name) echo "$ENGINE"; exit 0 ;;
esac
engine "$@"
