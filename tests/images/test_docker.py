"""The image checks under Docker (issue 17): the six images Docker built from
the same Containerfiles (`ENGINE=docker just images`), run by Docker.

Each check is a function that raises AssertionError; `test_*` runs it on the
real images, `test_mutant_*` on a deliberately broken input and passes only
if the check fails (the mutant names the check IDs it must fail).

Engine-specific here (podman's checks differ, tests/images/run.sh):
- healthcheck: Docker runs the image's HEALTHCHECK on its own schedule (the
  first run after --interval, 30 s) and the container must turn `healthy`;
  podman runs it on demand (`podman healthcheck run`).
- same bytes: the binary must be byte-identical to the podman-built one;
  the layers are not, as Docker 20.10 cannot fix file and image times
  (docs/docker.md).
- layer cache: BuildKit reports reused steps as CACHED.
- no manifest list: Docker 20.10 has none outside a registry.

Run: `just test-docker` (or ENGINE=docker ... pytest tests/images/test_docker.py -k ID).
"""

import concurrent.futures
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("alpine", "distroless", "scratch")
ARCHS = ("amd64", "arm64")
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
BINARY = "usr/local/bin/moscow-time"
MUTANTS = "localhost/mt-docker-mutant"
# What production runs with (justfile `run`, deploy/); podman adds --read-only-tmpfs=false.
HARDENING = (
    "--read-only",
    "--cap-drop=all",
    "--security-opt=no-new-privileges",
    f"--security-opt=seccomp={ROOT / 'deploy/seccomp/moscow-time.json'}",
)


# The docker client, daemon and image names as scripts/lib.sh chooses them
# with ENGINE=docker: the one place that does.
DOCKER, _host, REPO = subprocess.run(
    ["bash", "-c", 'source scripts/lib.sh && printf "%s\\n" "$docker_cli" "${DOCKER_HOST:-}" "$repo"'],
    cwd=ROOT, env=dict(os.environ, ENGINE="docker"), check=True, capture_output=True, text=True,
).stdout.splitlines()
os.environ["DOCKER_HOST"] = _host
os.environ["DOCKER_BUILDKIT"] = "1"
VERSION = re.search(r'^version\s*=\s*"(.*)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode:
        raise AssertionError(f"docker {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def inspect(what: str, ref: str) -> dict:
    return json.loads(docker(what, "inspect", ref).stdout)[0]


def binary_of(ref: str, engine: str = "docker") -> bytes:
    """The server binary in image REF as saved by ENGINE (the topmost layer holding it)."""
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "image.tar"
        cmd = [DOCKER, "save", "-o", tar, ref] if engine == "docker" else \
            ["podman", "save", "--quiet", "--format", "docker-archive", "-o", tar, ref]
        subprocess.run(cmd, check=True, capture_output=True)
        with tarfile.open(tar) as image:
            layers = json.load(image.extractfile("manifest.json"))[0]["Layers"]
            for layer in reversed(layers):
                with tarfile.open(fileobj=io.BytesIO(image.extractfile(layer).read())) as files:
                    if BINARY in files.getnames():
                        return files.extractfile(BINARY).read()
    raise AssertionError(f"{ref}: no {BINARY} in any layer")


# ----------------------------------------------------------------- checks


def check_built(ref: str, arch: str) -> None:
    """Built by Docker for ARCH from this checkout (its labels)."""
    info = inspect("image", ref)
    assert info["Architecture"] == arch, f"{ref} is {info['Architecture']}, not {arch}"
    labels = info["Config"].get("Labels") or {}
    assert labels.get("org.opencontainers.image.version") == VERSION, f"{ref}: version label {labels}"


def check_static(data: bytes) -> None:
    """A static-pie ELF: no program interpreter, no shared library needed."""
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        headers = subprocess.run(["readelf", "-lhdW", f.name], capture_output=True, text=True, check=True).stdout
    assert "DYN (" in headers, "not a position-independent executable"
    assert "INTERP" not in headers, "has a program interpreter (dynamically linked)"
    assert "(NEEDED)" not in headers, "needs shared libraries"


def check_same_binary(docker_ref: str, podman_ref: str) -> None:
    """The binary Docker built is byte for byte the one podman built."""
    ours, theirs = binary_of(docker_ref), binary_of(podman_ref, "podman")
    assert ours == theirs, (
        f"{docker_ref} sha256 {hashlib.sha256(ours).hexdigest()[:16]}, "
        f"podman's {podman_ref} {hashlib.sha256(theirs).hexdigest()[:16]}"
    )


def check_user(ref: str) -> None:
    user = inspect("image", ref)["Config"].get("User")
    assert user == "65532:65532", f"{ref} runs as {user!r}"


def check_hardened(name: str) -> None:
    """What the kernel says of the running server: uid, capabilities,
    no_new_privs, seccomp filter, read-only root."""
    info = inspect("container", name)
    status = dict(
        line.split(":\t", 1) for line in Path(f"/proc/{info['State']['Pid']}/status").read_text().splitlines()
        if ":\t" in line
    )
    assert status["Uid"].split()[:2] == ["65532", "65532"], f"uid {status['Uid']}"
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, f"caps {status['CapEff']}"
    assert status["NoNewPrivs"].strip() == "1", "no_new_privs is off"
    assert status["Seccomp"].strip() == "2", "no seccomp filter"
    assert info["HostConfig"]["ReadonlyRootfs"] is True, "root filesystem is writable"


def check_healthy(name: str, timeout: float = 75) -> None:
    """Docker ran the image's HEALTHCHECK itself and the container turned healthy."""
    deadline = time.monotonic() + timeout
    health = "none"
    while time.monotonic() < deadline:
        health = inspect("container", name)["State"].get("Health", {}).get("Status", "none")
        if health in ("healthy", "unhealthy", "none"):
            break
        time.sleep(0.5)
    log = inspect("container", name)["State"].get("Health", {}).get("Log") or [{}]
    assert health == "healthy", f"{name} is {health}; last check: {log[-1].get('Output', '').strip()!r}"


def check_stop(name: str) -> None:
    """`docker stop` (SIGTERM) ends it with exit code 0 within 2 s."""
    start = time.monotonic()
    docker("stop", "-t", "10", name)
    ms = (time.monotonic() - start) * 1000
    code = inspect("container", name)["State"]["ExitCode"]
    assert code == 0, f"exit code {code}"
    assert ms < 2000, f"docker stop took {ms:.0f} ms"


def check_cache(log: str) -> None:
    """A rebuild after a change in src/ reuses the dependency layer (BuildKit: CACHED)."""
    step = re.search(r"^#(\d+) \[build \d+/\d+\] RUN mkdir src", log, re.M)
    assert step, "no dependency step in the build log"
    assert re.search(rf"^#{step.group(1)} CACHED$", log, re.M), "the dependency step ran again"


# ----------------------------------------------------------------- fixtures


def start(ref: str, *options: str, hardening: tuple[str, ...] = HARDENING) -> str:
    """Runs REF detached on a free loopback port; returns once /healthz answers."""
    name = f"mt-docker-check-{os.getpid()}-{abs(hash((ref, options, hardening))) % 10**8}"
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--pull=never", "--name", name, "-p", "127.0.0.1::8080", *hardening, *options, ref)
    addr = docker("port", name, "8080").stdout.split()[0]
    for _ in range(50):
        try:
            with urllib.request.urlopen(f"http://{addr}/healthz", timeout=1) as r:
                if r.status == 200:
                    return name
        except OSError:
            time.sleep(0.1)
    logs = docker("logs", name, check=False)
    docker("rm", "-f", name, check=False)
    raise AssertionError(f"{ref}: no answer on {addr}/healthz; logs: {logs.stdout}{logs.stderr}")


@pytest.fixture(scope="module", autouse=True)
def daemon():
    if not shutil.which(DOCKER) or docker("version", check=False).returncode:
        pytest.fail(f"no Docker daemon answers ({os.environ['DOCKER_HOST'] or 'default socket'}): scripts/dockerd.sh start")
    yield
    for name in docker("ps", "-aq", "--filter", f"name=mt-docker-check-{os.getpid()}-").stdout.split():
        docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def running():
    """The three host-architecture images, started together so Docker's first
    healthcheck (30 s after start) is waited for once."""
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        names = dict(zip(VARIANTS, pool.map(lambda v: start(f"{REPO}:{v}-{HOST_ARCH}"), VARIANTS)))
    return names


IMAGES = [f"{v}-{a}" for v in VARIANTS for a in ARCHS]


def docker_ids(param: str) -> str:
    """Test IDs name the engine, beside podman's checks of the same images."""
    return f"docker-{param}"


# ----------------------------------------------------------------- the real images


@pytest.mark.parametrize("image", IMAGES, ids=docker_ids)
def test_built(image):
    check_built(f"{REPO}:{image}", image.rsplit("-", 1)[1])


@pytest.mark.parametrize("image", IMAGES, ids=docker_ids)
def test_static_binary(image):
    check_static(binary_of(f"{REPO}:{image}"))


@pytest.mark.parametrize("image", IMAGES, ids=docker_ids)
def test_same_binary_as_podman(image):
    if not shutil.which("podman"):
        pytest.skip("podman is not installed: no podman-built image to compare with")
    if subprocess.run(["podman", "image", "exists", f"{REPO}:{image}"]).returncode:
        pytest.fail(f"podman has no {REPO}:{image}: build it (just images)")
    check_same_binary(f"{REPO}:{image}", f"{REPO}:{image}")


@pytest.mark.parametrize("image", IMAGES, ids=docker_ids)
def test_user(image):
    check_user(f"{REPO}:{image}")


@pytest.mark.parametrize("variant", VARIANTS, ids=docker_ids)
def test_hardened(variant, running):
    check_hardened(running[variant])


@pytest.mark.parametrize("variant", VARIANTS, ids=docker_ids)
def test_healthy(variant, running):
    check_healthy(running[variant])


@pytest.mark.parametrize("variant", VARIANTS, ids=docker_ids)
def test_stop(variant, running):
    check_healthy(running[variant])  # stop after the healthcheck, not during it
    check_stop(running[variant])


@pytest.mark.parametrize("image", [f"{v}-arm64" for v in VARIANTS], ids=docker_ids)
def test_arm64_runs(image):
    """The arm64 images run (under qemu binfmt on amd64) and say their version."""
    done = docker("run", "--rm", "--pull=never", "--platform", "linux/arm64", f"{REPO}:{image}", "--version")
    assert VERSION in done.stdout, done.stdout


def build_log(context: Path, containerfile: str, tag: str) -> str:
    """Builds like scripts/build-image.sh (host architecture, stand-in or
    chosen bases from the real image's labels) and returns BuildKit's log."""
    env = dict(os.environ, ENGINE="docker", ARCHS=HOST_ARCH, CONTEXT=str(context),
               CONTAINERFILE=str(context / containerfile), TAG=tag)
    done = subprocess.run([ROOT / "scripts/build-image.sh", "scratch", "--progress=plain"], env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


@pytest.fixture(scope="module")
def changed_context(tmp_path_factory):
    """The build context with a change in src/, as a developer's next build."""
    ctx = tmp_path_factory.mktemp("context")
    subprocess.run(["bash", "-c", f'source scripts/lib.sh && copy_context "{ctx}"'], cwd=ROOT, check=True)
    with open(ctx / "src/main.rs", "a") as f:
        f.write(f"// changed by test_docker.py at {time.time()}\n")
    return ctx


def test_docker_layer_cache(changed_context):
    tag = f"{MUTANTS}:cache"
    try:
        check_cache(build_log(changed_context, "Containerfile.scratch", tag))
    finally:
        docker("rmi", "-f", f"{tag}-{HOST_ARCH}", tag, check=False)


# ----------------------------------------------------------------- mutants


@pytest.fixture(scope="module")
def mutant_context(tmp_path_factory):
    """A context holding a dynamically linked program, for the binary mutants."""
    ctx = tmp_path_factory.mktemp("mutant")
    shutil.copy("/usr/bin/env", ctx / "dynamic")
    return ctx


def mutant(ctx: Path, name: str, *lines: str) -> str:
    """An image FROM the real scratch image with LINES added."""
    ref = f"{MUTANTS}:{name}"
    (ctx / f"Containerfile.{name}").write_text("\n".join([f"FROM {REPO}:scratch-{HOST_ARCH}", *lines]) + "\n")
    docker("build", "-q", "-f", ctx / f"Containerfile.{name}", "-t", ref, ctx)
    return ref


@pytest.fixture(scope="module", autouse=True)
def remove_mutants():
    yield
    refs = docker("images", "-q", MUTANTS, check=False).stdout.split()
    if refs:
        docker("rmi", "-f", *set(refs), check=False)


def test_mutant_other_arch_fails_built():
    """The amd64 image under an arm64 name: fails built."""
    docker("tag", f"{REPO}:scratch-amd64", f"{MUTANTS}:arch")
    with pytest.raises(AssertionError, match="not arm64"):
        check_built(f"{MUTANTS}:arch", "arm64")


def test_mutant_dynamic_binary_fails_static_and_same(mutant_context):
    """A dynamically linked program in the binary's place: fails static-binary and same-binary."""
    ref = mutant(mutant_context, "dynamic", f"COPY --chmod=0755 dynamic /{BINARY}")
    with pytest.raises(AssertionError, match="interpreter"):
        check_static(binary_of(ref))
    if shutil.which("podman"):
        with pytest.raises(AssertionError, match="podman's"):
            check_same_binary(ref, f"{REPO}:scratch-{HOST_ARCH}")


def test_mutant_root_user_fails_user_and_hardened(mutant_context):
    """USER 0: fails user and hardened."""
    ref = mutant(mutant_context, "root", "USER 0:0")
    with pytest.raises(AssertionError, match="runs as"):
        check_user(ref)
    name = start(ref)
    with pytest.raises(AssertionError, match="uid"):
        check_hardened(name)


def test_mutant_no_no_new_privileges_fails_hardened():
    """Run without --security-opt=no-new-privileges: fails hardened."""
    name = start(f"{REPO}:scratch-{HOST_ARCH}", hardening=tuple(f for f in HARDENING if "no-new-privileges" not in f))
    with pytest.raises(AssertionError, match="no_new_privs"):
        check_hardened(name)


def test_mutant_broken_healthcheck_fails_healthy(mutant_context):
    """A HEALTHCHECK that cannot pass (quick schedule so it settles fast): fails healthy."""
    ref = mutant(mutant_context, "health",
                 'HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD ["/usr/local/bin/moscow-time", "no-such-command"]')
    with pytest.raises(AssertionError, match="unhealthy"):
        check_healthy(start(ref), timeout=30)


def test_mutant_stopsignal_fails_stop(mutant_context):
    """STOPSIGNAL SIGUSR1, which the server does not handle: fails stop (exit 138)."""
    name = start(mutant(mutant_context, "stopsignal", "STOPSIGNAL SIGUSR1"))
    with pytest.raises(AssertionError, match="exit code"):
        check_stop(name)


def test_mutant_sources_before_manifests_fails_cache(changed_context):
    """The Containerfile copying src/ before the dependency build: fails layer-cache."""
    text = (changed_context / "Containerfile.scratch").read_text()
    moved = text.replace("COPY Cargo.toml Cargo.lock ./\n", "COPY Cargo.toml Cargo.lock ./\nCOPY src /tmp/src\n")
    assert moved != text
    (changed_context / "Containerfile.mutant").write_text(moved)
    tag = f"{MUTANTS}:cache-mutant"
    log = build_log(changed_context, "Containerfile.mutant", tag)
    with pytest.raises(AssertionError, match="ran again"):
        check_cache(log)
