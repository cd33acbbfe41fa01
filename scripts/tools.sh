#!/usr/bin/env bash
# .tools/: a venv with requirements-tools.txt, the linters and the check
# harness. uv installs them (pip, then only uv): with a warm cache uv takes
# seconds where pip took over a minute for checkov's hundred packages.
# Skipped when .tools/ already holds this requirements-tools.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

cmp -s requirements-tools.txt .tools/requirements-tools.txt && exit 0
scripts/doctor.sh --need python3-venv
# pip and uv verify TLS with their own roots unless told; a proxy needs ours.
ca=/etc/ssl/certs/ca-certificates.crt
[[ ! -r $ca ]] || export PIP_CERT=${PIP_CERT:-$ca} SSL_CERT_FILE=${SSL_CERT_FILE:-$ca}
python3 -m venv .tools
uv=$(grep -x 'uv==[0-9.]*' requirements-tools.txt)
.tools/bin/pip install --quiet --disable-pip-version-check "$uv"
.tools/bin/uv pip install --quiet --python .tools/bin/python --requirements requirements-tools.txt
cp requirements-tools.txt .tools/
