# moscow-time: build, lint, test and size the server and its three images.

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "moscow-time"
variants := "alpine distroless scratch"
# Where `just build` puts the binary (musl/build.sh: this machine's musl target).
release := "target" / env("TARGET", arch() + "-unknown-linux-musl") / "release"
tools := justfile_directory() / ".tools/bin"
# bench/pace, the bench's load generator: a crate of its own, built apart.
pace := "--manifest-path bench/pace/Cargo.toml --target-dir target/pace"
export PATH := tools + ":" + env("PATH")

# list recipes
default:
    @just --list --unsorted

# build the release binary the images ship (static-pie musl; TARGET=x86_64-unknown-linux-gnu: static glibc)
[group('build')]
build: (_need "cargo")
    musl/build.sh --bin {{ bin }}

# build one image for each of ARCHS (default "amd64 arm64"): alpine, distroless or scratch; BASES=upstream|stand-in forces the bases
[group('build')]
[no-exit-message]
image VARIANT: _podman
    scripts/build-image.sh {{ VARIANT }}

# build all three images for amd64 and arm64 (ARCHS=amd64 just images: one architecture)
[group('build')]
images: (image "alpine") (image "distroless") (image "scratch")

# run one image in the foreground on 127.0.0.1:8080, hardened as in production
[group('run')]
run VARIANT="scratch": _podman
    #!/usr/bin/env bash
    set -euo pipefail
    source scripts/lib.sh # hardening_flags, seccomp_profile
    set -x
    podman run --rm -it --pull=never "${hardening_flags[@]}" --security-opt="seccomp=$seccomp_profile" \
        -p 127.0.0.1:8080:8080 localhost/{{ bin }}:{{ VARIANT }}

# rustfmt, clippy, hadolint, shellcheck, the Kubernetes manifests; runtime deps are the four
[group('check')]
lint: _tools (_need "cargo rustfmt clippy")
    cargo fmt --all -- --check
    cargo clippy --all-targets --locked -- --deny warnings
    cargo fmt --manifest-path bench/pace/Cargo.toml -- --check
    cargo clippy --all-targets --locked {{ pace }} -- --deny warnings
    hadolint Containerfile.alpine Containerfile.distroless Containerfile.scratch cluster/pause.Containerfile
    @tests/checkov.sh
    shellcheck --external-sources scripts/*.sh tests/*.sh tests/images/*.sh tests/kubernetes/*.sh tests/seccomp/*.sh \
        tests/publish/*.sh publish/*.sh deploy/seccomp/*.sh bench/*.sh musl/*.sh .ci/run stand-ins/*.sh stand-ins/adduser \
        stand-ins/addgroup stand-ins/rustup stand-ins/setup-rust-musl cluster/*.sh
    @tests/runtime-deps.sh
    tests/kubernetes/run.sh manifests

# every test: lint, unit and integration tests, the page in a browser, then the images and their pods
[group('check')]
test: lint test-rust build test-browser test-images test-bases test-mutants test-seccomp test-kubernetes test-cluster test-publish test-sbom

# unit and integration tests of the server
[group('check')]
test-rust: (_need "cargo promtool")
    cargo test --locked
    cargo test --locked {{ pace }}

# the page in headless chromium against the release binary; screenshots in target/screenshots/
[group('check')]
test-browser: _browser build
    #!/usr/bin/env bash
    set -euo pipefail
    cd tests/browser
    # npm ci wipes node_modules/, so only when the lock file changed.
    if ! cmp -s package-lock.json node_modules/.installed-lock.json; then
        npm ci --no-audit --no-fund --loglevel=error
        cp package-lock.json node_modules/.installed-lock.json
    fi
    MOSCOW_TIME_BIN="{{ justfile_directory() / release / bin }}" \
    SCREENSHOT_DIR="{{ justfile_directory() / "target/screenshots" }}" \
        node --test --test-reporter=spec

# build the images and prove every practice they claim
[group('check')]
test-images: _tools _podman (_need "curl jq file binutils") images
    tests/images/run.sh

# the choice of bases (forced, automatic, no registry) by the images' labels, and `just doctor`
[group('check')]
test-bases: _tools _podman
    tests/bases.sh

# build deliberately broken images and prove the checks catch each one
[group('check')]
test-mutants: _tools _podman images
    tests/images/mutants.sh

# publish to a loopback TLS registry, then pull as a consumer who trusts only the test key
[group('check')]
test-publish: _tools _podman (_need "skopeo gnupg docker-registry openssl curl jq") images
    tests/publish/run.sh

# SBOMs of the six images: syft finds every crate of Cargo.lock, exact versions
[group('check')]
test-sbom: _tools _podman images
    tests/publish/sbom.sh

# prove the seccomp profile covers the binary and podman enforces it
[group('check')]
test-seccomp: _podman (_need "strace busybox-static") (image "scratch")
    tests/seccomp/run.sh

# check the Kubernetes manifests agree with the code and run their pods with podman (`just lint` checks the files)
[group('check')]
test-kubernetes: _tools _podman (_need "catatonit") (image "scratch")
    tests/kubernetes/run.sh pods

# the manifests on the real cluster of `just cluster`: its seven checks, then their mutants (CHECK=ID: that check alone)
[group('check')]
test-cluster: _tools _podman cluster (image "scratch")
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release --locked --quiet {{ pace }}
    if [[ -n ${CHECK:-} ]]; then
        exec pytest tests/cluster -k "$CHECK"
    fi
    pytest tests/cluster
    python3 tests/cluster/mutants.py

# measure the syscalls of the scratch image's binary and rewrite deploy/seccomp/moscow-time.json
[group('build')]
seccomp: _podman (image "scratch")
    deploy/seccomp/generate.sh

# table and chart (media/sizes.svg) of the image sizes
[group('report')]
sizes: _tools images
    scripts/sizes.sh

# start a single-node Kubernetes here, as root (built once into ~/.cache); then KUBECONFIG=/var/lib/moscow-time-cluster/admin.kubeconfig
[group('run')]
cluster:
    cluster/up.sh

# stop the cluster of `just cluster` and remove all it made
[group('run')]
cluster-down:
    cluster/down.sh

# both benchmarks below
[group('report')]
bench: bench-server bench-images

# requests/s, latency, memory and start/stop times against nginx and bare hyper
[group('report')]
bench-server: build
    bench/run.sh

# image build times: cold one and three images, rebuild after a src/ change
[group('report')]
bench-images: _podman
    bench/images.sh

# push the multi-arch images to REGISTRY, signed by SIGN_BY (README "Publish and verify")
[group('ship')]
[no-exit-message]
publish: _podman
    @publish/publish.sh

# SPDX and CycloneDX JSON SBOMs of the six images into target/sbom/ (SBOM_DIR)
[group('ship')]
[no-exit-message]
sbom: _tools _podman
    @publish/sbom.sh

# list every prerequisite, found or missing, with its version; fails if `just test` lacks one
[group('check')]
[no-exit-message]
doctor:
    @scripts/doctor.sh

# remove build output and the project-local tools
[group('build')]
clean:
    cargo clean
    rm -rf .tools
    -for v in {{ variants }}; do podman manifest rm localhost/{{ bin }}:$v-multiarch 2>/dev/null; \
        podman rmi --ignore localhost/{{ bin }}:$v localhost/{{ bin }}:$v-amd64 localhost/{{ bin }}:$v-arm64; done

# install hadolint, container-structure-test and dive into .tools/ on first use
_tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! cmp -s requirements-tools.txt .tools/requirements-tools.txt; then
        scripts/doctor.sh --need python3-venv
        python3 -m venv .tools
        .tools/bin/pip install --quiet --disable-pip-version-check -r requirements-tools.txt
        cp requirements-tools.txt .tools/
    fi

_browser:
    #!/usr/bin/env bash
    set -euo pipefail
    found=$(node --version 2>/dev/null || echo "no node")
    major=$(sed -n 's/^v\([0-9]*\)\..*/\1/p' <<<"$found")
    command -v npm >/dev/null || found+=", no npm"
    if [[ -z $major ]] || ((major < 20)) || [[ $found == *"no npm"* ]]; then
        echo "error: the browser tests need Node.js 20 or newer with npm (found $found); install them (Debian 13/Ubuntu 24.04: apt-get install nodejs npm, Fedora: dnf install nodejs npm)" >&2
        exit 1
    fi
    if [[ ! -x ${CHROMIUM:-/usr/bin/chromium} ]]; then
        echo "error: chromium not found at ${CHROMIUM:-/usr/bin/chromium}; install it (Debian/Ubuntu: apt-get install chromium, Fedora: dnf install chromium) or set CHROMIUM" >&2
        exit 1
    fi

_podman: (_need "podman runc/crun")

# one line for each of NAMES (see `just doctor`) that is missing, saying how to install it
[no-exit-message]
_need NAMES:
    @scripts/doctor.sh --need {{ NAMES }}
