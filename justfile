# moscow-time: build, lint, test and size the server and its three images.

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "moscow-time"
variants := "alpine distroless scratch"
# Where `just build` puts the binary (musl/build.sh: this machine's musl target).
release := "target" / env("TARGET", arch() + "-unknown-linux-musl") / "release"
# TOOLS_BIN: a copy of .tools/bin for a user who cannot run root's (scripts/rootless-user.sh).
tools := env("TOOLS_BIN", justfile_directory() / ".tools/bin")
# bench/pace, the bench's load generator: a crate of its own, built apart.
pace := "--manifest-path bench/pace/Cargo.toml --target-dir target/pace"
export PATH := tools + ":" + env("PATH")
# One check of any test-* recipe: CHECK=EXPR just test-NAME (a pytest -k
# expression or node IDs; for test-cluster a check's ID). The same variable
# for every recipe, and it composes with `just test`.
check := env("CHECK", "")

# list recipes
default:
    @just --list --unsorted

# build the release binary the images ship (static-pie musl; TARGET=x86_64-unknown-linux-gnu: static glibc)
[group('build')]
build: (_need "cargo")
    musl/build.sh --bin {{ bin }}

# build one image for each of ARCHS (default "amd64 arm64"): alpine, distroless or scratch; BASES=upstream|stand-in forces the bases; ENGINE=podman|docker
[group('build')]
[no-exit-message]
image VARIANT: _engine
    scripts/build-image.sh {{ VARIANT }}

# build all three images for amd64 and arm64 (ARCHS=amd64 just images: one architecture)
[group('build')]
images: (image "alpine") (image "distroless") (image "scratch")

# run one image in the foreground on 127.0.0.1:8080, hardened as in production (ENGINE=podman|docker)
[group('run')]
[no-exit-message]
run VARIANT="scratch": _engine
    #!/usr/bin/env bash
    set -euo pipefail
    source scripts/lib.sh # engine, hardening_flags, seccomp_profile
    tty=()
    [[ ! -t 0 ]] || tty=(-it) # Ctrl-C reaches the server; none without a terminal
    set -x
    engine run --rm "${tty[@]}" --pull=never "${hardening_flags[@]}" --security-opt="seccomp=$seccomp_profile" \
        -p 127.0.0.1:8080:8080 localhost/{{ bin }}:{{ VARIANT }}

# rustfmt, clippy, shellcheck, ruff; the files' checks: Containerfiles (hadolint, checkov), Kubernetes manifests, runtime deps, checks the docs cite; the docs' links and tables; the pipeline: dependency policy (cargo-deny) and its mutants, Renovate's config and a manager for every pin, the workflows (actionlint, recipes only)
[group('check')]
lint: _tools (_need "cargo rustfmt clippy")
    cargo fmt --all -- --check
    cargo clippy --all-targets --locked -- --deny warnings
    cargo fmt --manifest-path bench/pace/Cargo.toml -- --check
    cargo clippy --all-targets --locked {{ pace }} -- --deny warnings
    shellcheck --external-sources scripts/*.sh publish/*.sh deploy/seccomp/*.sh bench/*.sh cluster/*.sh \
        musl/*.sh .ci/run stand-ins/*.sh stand-ins/adduser stand-ins/addgroup stand-ins/rustup stand-ins/setup-rust-musl
    hadolint cluster/pause.Containerfile
    ruff check tests
    ruff format --check tests
    @scripts/deny.sh
    @scripts/renovate.sh renovate-config-validator --strict --no-global renovate.json
    @"$(scripts/actionlint.sh)" -no-color
    pytest tests/images/test_containerfiles.py tests/kubernetes/test_manifests.py tests/test_runtime_deps.py tests/test_docs.py \
        tests/deny tests/test_pins.py tests/test_workflows.py tests/test_ci_run.py
    @scripts/check-docs.sh

# the dependency policy alone: cargo-deny with deny.toml (licences, bans, sources, advisories), saying which advisory database it read and its date (ADVISORY_DB: docs/dependencies.md)
[group('check')]
deny: _tools
    @scripts/deny.sh

# the everyday check, a few minutes warm: lint, the server's Rust tests, the page in a browser (no images)
[group('check')]
check: lint test-rust test-browser

# every test, CI's command: `just check`, then the images and every practice checked on them, Docker, the bases, the mutants, seccomp, the pods on podman and on a real cluster, publishing and the SBOMs; the clean rebuild and publishing run beside the parts that mostly wait (scripts/parts.sh beside); prints what each part took
[group('check')]
test: (_part "start") lint (_part "lint") test-rust (_part "test-rust") test-browser (_part "test-browser") \
    test-images (_part "test-images") (_beside "_reproducible-checks") \
    test-docker (_part "test-docker") test-rootless (_part "test-rootless") test-bases (_part "test-bases") \
    test-mutants (_part "test-mutants") test-seccomp (_part "test-seccomp") test-kubernetes (_part "test-kubernetes") \
    (_await "_reproducible-checks") (_part "test-reproducible") _publish-ready (_beside "_publish-checks") \
    test-cluster (_part "test-cluster") (_await "_publish-checks") (_part "test-publish") test-sbom (_part "test-sbom")
    @scripts/parts.sh report

# unit and integration tests of the server (conformance against nginx), and the server's mutants
[group('check')]
test-rust: (_need "cargo promtool nginx")
    cargo test --locked
    cargo test --locked {{ pace }}
    scripts/server-mutants.sh

# the page and the size chart in headless chromium, served by the debug build (the page is the same in every profile; the images' binary is checked in test-images); screenshots in target/screenshots/
[group('check')]
test-browser: _browser (_need "cargo")
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --locked --quiet --bin {{ bin }}
    cd tests/browser
    # npm ci wipes node_modules/, so only when the lock file changed.
    if ! cmp -s package-lock.json node_modules/.installed-lock.json; then
        npm ci --no-audit --no-fund --loglevel=error
        cp package-lock.json node_modules/.installed-lock.json
    fi
    MOSCOW_TIME_BIN="{{ justfile_directory() / "target/debug" / bin }}" \
    SCREENSHOT_DIR="{{ justfile_directory() / "target/screenshots" }}" \
        node --test --test-reporter=spec

# build the images and prove every practice they claim (SLOW=0: without the layer-cache and clean builds)
[group('check')]
test-images: _tools _engine (_need "curl file binutils") images (_pytest "tests/images/test_image.py" "tests/images/test_runtime.py" "tests/images/test_build.py")

# reproducible images: a build in a clean store gives the build machine's three images the layers, ID and pushed digest the cached build gave (`just test` runs it beside the parts that mostly wait: scripts/parts.sh beside)
[group('check')]
test-reproducible: _tools _podman images _reproducible-checks

# what `just test` runs beside other parts needs nothing built: the recipes before it built it
_reproducible-checks: (_pytest "tests/images/test_reproducible.py")

# the image checks and their mutants under Docker, on the six images Docker builds; its binary is podman's, byte for byte (docs/docker.md); starts the project's dockerd if none answers, and stops it after
[group('check')]
[no-exit-message]
test-docker: _tools (_need "docker curl file binutils")
    #!/usr/bin/env bash
    set -euo pipefail
    if ! scripts/dockerd.sh status; then
        ((EUID == 0)) || { echo "error: no Docker daemon answers, and starting one needs root (scripts/dockerd.sh)" >&2; exit 1; }
        trap 'scripts/dockerd.sh stop' EXIT
        scripts/dockerd.sh start
    fi
    export ENGINE=docker
    scripts/engine.sh --check
    {{ just_executable() }} images
    {{ just_executable() }} _pytest tests/images/test_image.py tests/images/test_runtime.py \
        tests/images/test_build.py tests/images/test_docker.py tests/mutants

# the image checks under rootless podman, as the ordinary user scripts/rootless-user.sh makes (ROOTLESS_USER, default mt-rootless; run as root): the amd64 images handed to it, their checks, the rootless-only ones (tests/rootless) and their mutants
[group('check')]
[no-exit-message]
test-rootless: _tools _podman (_need "curl file binutils newuidmap slirp4netns") images
    #!/usr/bin/env bash
    set -euo pipefail
    ((EUID == 0)) || { echo "error: just test-rootless makes a user and hands it the images: run it as root (as that user: ARCHS=amd64 just test-images)" >&2; exit 1; }
    images=()
    for v in ${VARIANTS:-{{ variants }}}; do images+=("${IMAGE_REPO:-localhost/{{ bin }}}:$v" "${IMAGE_REPO:-localhost/{{ bin }}}:$v-amd64"); done
    scripts/rootless-user.sh --images "${images[@]}"
    # What rootless podman needs, as the user sees it: the missing lines only.
    if ! out=$(scripts/rootless-user.sh --run scripts/doctor.sh 2>&1); then
        grep -v '^ok ' <<<"$out" >&2
        exit 1
    fi
    export ENGINE=podman ARCHS=amd64
    scripts/rootless-user.sh --run {{ just_executable() }} _pytest tests/images/test_image.py tests/images/test_runtime.py tests/rootless
    [[ -n ${CHECK:-} ]] || VARIANTS=scratch python3 tests/rootless/mutants.py

# the choice of bases (forced, automatic, no registry) by the images' labels, and `just doctor`
[group('check')]
test-bases: _tools _podman (_pytest "tests/test_bases.py" "tests/test_doctor.py")

# build deliberately broken images (tests/mutants/mutants.toml) and prove exactly the named checks fail on each
[group('check')]
test-mutants: _tools _podman images (_pytest "tests/mutants")

# publish to a loopback TLS registry, then pull (GPG) and `just verify` (cosign) as a consumer who trusts only the test keys; the mutants of publish/ must fail their checks
[group('check')]
test-publish: _publish-ready _publish-checks

_publish-ready: _tools _podman _cosign (_need "skopeo gnupg docker-registry openssl curl jq") images

_publish-checks: (_pytest "tests/publish/test_publish.py" "tests/publish/test_publish_mutants.py")

# SBOMs of the six images: syft finds every crate of Cargo.lock, exact versions
[group('check')]
test-sbom: _tools _podman images (_pytest "tests/publish/test_sbom.py")

# prove the seccomp profile covers the binary and podman enforces it
[group('check')]
test-seccomp: _tools _podman (_need "strace curl jq busybox-static") (image "scratch") (_pytest "tests/seccomp")

# check the Kubernetes manifests agree with the code and run their pods with podman (`just lint` checks the files)
[group('check')]
test-kubernetes: _tools _podman (_need "catatonit curl") (image "scratch") (_pytest "tests/kubernetes/test_drift.py" "tests/kubernetes/test_pods.py")

# the manifests on the real cluster of `just cluster` (started if need be, left running): its seven checks, then their mutants (CHECK=ID: that check alone; docs/kubernetes-cluster.md)
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
    echo "the cluster keeps running for the next run; just cluster-down stops it"

# measure the syscalls of the scratch image's binary and rewrite deploy/seccomp/moscow-time.json
[group('build')]
seccomp: _podman (image "scratch")
    deploy/seccomp/generate.sh

# table (docs/results/sizes.md) and chart (media/sizes.svg) of the image sizes (ENGINE=podman|docker)
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

# build the six images twice, each time in a clean podman store, and write whether they came out the same to docs/results/reproducible.md
[group('report')]
reproducible: _tools _podman images
    REPRO_ARCHS="amd64 arm64" REPRO_RESULTS=docs/results/reproducible.md pytest tests/images/test_reproducible.py -k 'test_reproducible and not mutant'

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

# requests/s, p99 and start-to-first-200 of the scratch image: rootless (slirp4netns, and --network=host), rootful podman, the binary on the host, side by side into docs/results/rootless.md (as root; a minute or two)
[group('report')]
bench-rootless: _podman (_need "wrk curl newuidmap slirp4netns") (image "scratch")
    bench/rootless.sh

# push the multi-arch images to REGISTRY, signed by SIGN_BY (GPG) and COSIGN_KEY, with SBOM and provenance attached (docs/verify.md)
[group('ship')]
[no-exit-message]
publish: _podman
    @[[ ${ENGINE:-podman} == podman ]] || { echo "error: just publish pushes podman's manifest lists and signs them with podman; ENGINE=${ENGINE} cannot (Docker 20.10 makes no local manifest list): build and publish with podman" >&2; exit 1; }
    @publish/publish.sh

# check IMAGE@sha256:... as a consumer: cosign signature by COSIGN_PUB, SBOM and provenance for exactly that digest (docs/verify.md)
[group('ship')]
[no-exit-message]
verify IMAGE: (_need "skopeo jq")
    @publish/verify.sh {{ quote(IMAGE) }}

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

# `just test`'s timing: what each part took, with the recipes it was the first to need (scripts/parts.sh)
_part NAME:
    @scripts/parts.sh mark {{ NAME }}

_beside RECIPE:
    @JUST="{{ just_executable() }}" scripts/parts.sh beside {{ RECIPE }}

_await RECIPE:
    @scripts/parts.sh await {{ RECIPE }}

# install the pinned linters and the check harness into .tools/ on first use (scripts/tools.sh)
_tools:
    @scripts/tools.sh

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

# the engine ENGINE names (scripts/lib.sh), or one line saying what is missing
[no-exit-message]
_engine:
    @scripts/engine.sh --check

# cosign, built once from the Go module proxy into ~/.cache/moscow-time/ (scripts/cosign.sh)
[no-exit-message]
_cosign:
    @scripts/cosign.sh >/dev/null

# pytest on PATHS, or only the checks CHECK names: node IDs (tests/...py::name[ID])
# or a -k expression (tests/README.md); SKIP: a -k expression of checks left out
[no-exit-message]
_pytest +PATHS:
    #!/usr/bin/env bash
    set -euo pipefail
    paths=({{ PATHS }})
    check={{ quote(check) }}
    skip=${SKIP:-}
    if [[ $check == *::* ]]; then
        read -r -a args <<<"$check"
    else
        args=("${paths[@]}")
        expr=${check:+($check)}
        [[ -z $skip ]] || expr+="${expr:+ and }not ($skip)"
        [[ -z $expr ]] || args+=(-k "$expr")
    fi
    [[ ${SLOW:-1} != 0 ]] || args+=(-m "not slow")
    exec pytest "${args[@]}"

# one line for each of NAMES (see `just doctor`) that is missing, saying how to install it
[no-exit-message]
_need NAMES:
    @scripts/doctor.sh --need {{ NAMES }}
