#!/usr/bin/env bash
# Mutant (tests/test_pins.py): a tool pinned by version without the
# `# renovate:` note that renovate.json's regex manager needs.
set -euo pipefail
version=1.2.3
echo "probe-tool $version"
