"""What only Docker has to prove, beside the image checks every engine runs
(test_image.py, test_runtime.py, test_build.py with --engines docker):

- the same bytes: the binary in each Docker-built image is byte-identical to
  the podman-built one of the same architecture; the layers are compared and
  reported (Docker 20.10 cannot fix file and image times: they differ);
- the healthcheck on the image's own schedule: Docker runs HEALTHCHECK itself,
  first one --interval (30 s) after the start, and the container turns
  `healthy` (the shared checks shorten the interval to save the wait).

Each check has a mutant (test_mutant_*) that must fail it. Run with
`just test-docker`; podman's images must have been built (`just images`).
"""

import hashlib
import shutil

import pytest

from harness import project
from harness.engine import Containers, Engine
from harness.image import Unpacked
from harness.report import info

MUTANT_REPO = "localhost/moscow-time-docker-mutant"


@pytest.fixture(autouse=True)
def docker_only(request):
    engines = request.config.getoption("--engines")
    if "docker" not in engines:
        pytest.skip("Docker's own checks (run with --engines docker)")


@pytest.fixture(scope="session")
def podman() -> Engine:
    if not shutil.which("podman"):
        pytest.skip("podman is not installed: no podman-built image to compare with")
    return Engine("podman")


def check_same_binary(docker_image: Unpacked, podman_image: Unpacked) -> None:
    """The two binaries are the same bytes."""
    ours, theirs = (hashlib.sha256(u.binary.read_bytes()).hexdigest() for u in (docker_image, podman_image))
    assert ours == theirs, f"Docker's {docker_image.ref}: sha256 {ours[:16]}…, podman's: {theirs[:16]}…"


def check_healthy(container, timeout: float = 75) -> None:
    """Docker's own HEALTHCHECK runs turned the container `healthy`."""
    status = container.healthcheck(timeout=timeout)
    log = (container.info()["State"].get("Health") or {}).get("Log") or [{}]
    assert status == "healthy", f"{container.name} is {status}; last check: {log[-1].get('Output', '').strip()!r}"


def test_same_binary_as_podman(target, image, podman, tmp_path):
    """Byte-identical to the binary podman built for the same architecture;
    the figures say whether the layers are too."""
    if target.engine_name != "docker":
        pytest.skip("compares Docker's images with podman's")
    if not podman.image_exists(target.ref):
        pytest.fail(f"podman has no {target.ref}: build it with `just images`")
    theirs = Unpacked(podman, target.ref, tmp_path / "podman")
    check_same_binary(image.require().unpacked, theirs)
    ours = image.unpacked.config["rootfs"]["diff_ids"]
    same = [a == b for a, b in zip(ours, theirs.config["rootfs"]["diff_ids"], strict=False)]
    info(
        f"{target.id}: binary sha256 {hashlib.sha256(theirs.binary.read_bytes()).hexdigest()[:16]}… as podman's; "
        f"layers the same as podman's: {sum(same)} of {len(ours)} (podman {len(theirs.config['rootfs']['diff_ids'])})"
    )


@pytest.fixture(scope="session", autouse=True)
def schedule_starts_early(request):
    """Docker's first scheduled healthcheck comes 30 s after the start: the
    containers start with this module's first check (pytest runs the healthy
    ones later), so the other checks run while Docker waits."""
    if "docker" in request.config.getoption("--engines"):
        request.getfixturevalue("on_schedule")


@pytest.fixture(scope="session")
def on_schedule(host_arch, image_repo, request):
    """The three host-architecture images started at once with the image's
    HEALTHCHECK schedule (--health-interval=0s: the image's), so its first
    run, 30 s on, is waited for once. Session scope: pytest interleaves this
    module with the others per target, which would restart module fixtures."""
    docker, made = Engine("docker"), Containers()
    variants = request.config.getoption("--variants").replace(",", " ").split()
    yield {
        v: made.start_shared(docker, f"{image_repo}:{v}-{host_arch}", prefix="mt-docker-health",
                             options=("--health-interval=0s",))
        for v in variants
    }  # fmt: skip
    made.remove()


def test_healthy_on_image_schedule(variant_target, on_schedule):
    """The container turns healthy by Docker's own runs of the image's HEALTHCHECK."""
    if variant_target.engine_name != "docker":
        pytest.skip("podman runs the healthcheck on demand (test_runtime.py)")
    check_healthy(on_schedule[variant_target.variant].require())


# ----------------------------------------------------------------- mutants


def test_mutant_other_binary_fails_same_binary(podman, tmp_path, host_arch, image_repo):
    """The arm64 image's binary set beside podman's amd64 one: fails same-binary."""
    docker = Engine("docker")
    ref = f"{image_repo}:scratch-{project.other_arch(host_arch)}"
    with pytest.raises(AssertionError, match="sha256"):
        check_same_binary(
            Unpacked(docker, ref, tmp_path / "docker"),
            Unpacked(podman, f"{image_repo}:scratch-{host_arch}", tmp_path / "podman"),
        )


def test_mutant_failing_healthcheck_fails_healthy(tmp_path, host_arch, image_repo, containers):
    """A HEALTHCHECK that cannot pass (on a 1 s schedule, to settle fast): fails healthy."""
    docker = Engine("docker")
    (tmp_path / "Containerfile").write_text(
        f"FROM {image_repo}:scratch-{host_arch}\n"
        'HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD ["/usr/local/bin/moscow-time", "no-such-command"]\n'
    )
    ref = f"{MUTANT_REPO}:healthcheck"
    docker("build", "-q", "-f", tmp_path / "Containerfile", "-t", ref, tmp_path)
    try:
        with pytest.raises(AssertionError, match="unhealthy"):
            check_healthy(containers(docker, ref, prefix="mt-docker-mutant"), timeout=30)
    finally:
        docker.remove_images(ref)
