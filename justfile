# moscow-time: build, lint, test and size the server and its three images.

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "moscow-time"
variants := "alpine distroless scratch"
tools := justfile_directory() / ".tools/bin"
export PATH := tools + ":" + env("PATH")

# list recipes
default:
    @just --list --unsorted

# build the release binary the images ship (static-pie musl; TARGET=x86_64-unknown-linux-gnu: static glibc)
[group('build')]
build:
    musl/build.sh --bin {{ bin }}

# build one image for each of ARCHS (default "amd64 arm64"): alpine, distroless or scratch
[group('build')]
image VARIANT: _podman
    tests/images/build.sh {{ VARIANT }}

# build all three images for amd64 and arm64 (ARCHS=amd64 just images: one architecture)
[group('build')]
images: (image "alpine") (image "distroless") (image "scratch")

# run one image in the foreground on 127.0.0.1:8080, hardened as in production
[group('run')]
run VARIANT="scratch": _podman
    podman run --rm -it --pull=never --read-only --read-only-tmpfs=false --cap-drop=all \
        --security-opt=no-new-privileges -p 127.0.0.1:8080:8080 localhost/{{ bin }}:{{ VARIANT }}

# rustfmt, clippy, hadolint and shellcheck, warnings denied; runtime deps are the four
[group('check')]
lint: _tools
    cargo fmt --all -- --check
    cargo clippy --all-targets --locked -- --deny warnings
    hadolint Containerfile.alpine Containerfile.distroless Containerfile.scratch
    shellcheck --external-sources tests/*.sh tests/images/*.sh bench/*.sh musl/*.sh .ci/run .ci/*.sh .ci/stand-ins/adduser \
        .ci/stand-ins/addgroup .ci/stand-ins/rustup .ci/stand-ins/setup-rust-musl
    @tests/runtime-deps.sh

# every test: lint, unit and integration tests, then the images
[group('check')]
test: lint test-rust build test-images test-mutants

# unit and integration tests of the server
[group('check')]
test-rust:
    cargo test --locked

# build the images and prove every practice they claim
[group('check')]
test-images: _tools _podman images
    tests/images/run.sh

# build deliberately broken images and prove the checks catch each one
[group('check')]
test-mutants: _tools _podman images
    tests/images/mutants.sh

# table and chart (media/sizes.svg) of the image sizes
[group('report')]
sizes: _tools images
    tests/images/sizes.sh

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
        python3 -m venv .tools
        .tools/bin/pip install --quiet --disable-pip-version-check -r requirements-tools.txt
        cp requirements-tools.txt .tools/
    fi

_podman:
    @command -v podman >/dev/null || { echo "error: podman not found; install it (Debian/Ubuntu: apt-get install podman, Fedora: dnf install podman)" >&2; exit 1; }
