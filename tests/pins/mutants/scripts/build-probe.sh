#!/usr/bin/env bash
# Mutant (tests/test_pins.py): a Containerfile in a heredoc, its FROM pinned
# by tag and digest where no Renovate manager reads.
set -euo pipefail
podman build -t localhost/probe -f - . <<'CONTAINERFILE'
FROM docker.io/library/busybox:1.37.0@sha256:137b58a5a3c1aa8fb7373808338a45c3ae6556a85ff00d8644e9b6f393fcb4a5
CONTAINERFILE
