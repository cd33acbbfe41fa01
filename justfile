# moscow-time: build, lint, test and size the server and its three images.

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "moscow-time"
variants := "alpine distroless scratch"
# Static glibc here (`+crt-static`); with the musl target installed use
# `TARGET=x86_64-unknown-linux-musl just build`.
target := env("TARGET", "x86_64-unknown-linux-gnu")
release := "target" / target / "release"
tools := justfile_directory() / ".tools/bin"
export PATH := tools + ":" + env("PATH")

# list recipes
default:
    @just --list --unsorted

# build the fully static release binary and prove it is static
[group('build')]
build:
    #!/usr/bin/env bash
    set -euo pipefail
    # RUSTFLAGS with an explicit --target reach only target crates, so
    # proc-macros still build as shared objects.
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target {{ target }}
    binary={{ release }}/{{ bin }}
    if readelf -d "$binary" | grep -q NEEDED; then
        echo "error: $binary needs shared libraries:" >&2
        readelf -d "$binary" | grep NEEDED >&2
        exit 1
    fi
    file "$binary" | grep -q 'static' || { echo "error: $binary is not statically linked" >&2; exit 1; }
    echo "$binary: static, $(stat -c %s "$binary") bytes"

# build one image: alpine, distroless or scratch
[group('build')]
image VARIANT: _podman
    tests/images/build.sh {{ VARIANT }}

# build all three images
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
    shellcheck --external-sources tests/*.sh tests/images/*.sh tests/publish/*.sh publish/*.sh bench/*.sh .ci/run .ci/*.sh .ci/stand-ins/adduser \
        .ci/stand-ins/addgroup .ci/stand-ins/rustc-crt-static
    @tests/runtime-deps.sh

# every test: lint, unit and integration tests, then the images
[group('check')]
test: lint test-rust build test-images test-mutants test-publish test-sbom

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

# publish to a loopback TLS registry, then pull as a consumer who trusts only the test key
[group('check')]
test-publish: _tools _podman images
    tests/publish/run.sh

# SBOMs of the six images: syft finds every crate of Cargo.lock, exact versions
[group('check')]
test-sbom: _tools _podman images
    tests/publish/sbom.sh

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

# remove build output and the project-local tools
[group('build')]
clean:
    cargo clean
    rm -rf .tools
    -podman rmi --ignore localhost/{{ bin }}:alpine localhost/{{ bin }}:distroless localhost/{{ bin }}:scratch

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
