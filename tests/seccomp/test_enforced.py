"""The seccomp profile enforced: the service runs, serves, passes its
healthcheck and stops cleanly under it, while a syscall outside the list is
refused. Nothing is added to the image: the refused syscall is made by the
host's static busybox, mounted read-only into a container of the image."""

import os
from pathlib import Path

import pytest

from harness import http, project
from harness.report import info
from harness.seccomp import ENGINE_DEFAULT, allowed, load

BUSYBOX = Path(os.environ.get("BUSYBOX", "/bin/busybox"))


@pytest.fixture(scope="module")
def enforced(engine, scratch_image, shared_containers):
    """The image, hardened, under the profile."""
    return shared_containers(engine, scratch_image, prefix="mt-seccomp-test", seccomp=True)


def test_enforced_starts(enforced):
    """The scratch image starts hardened under the profile and answers /healthz."""
    if enforced.error:
        raise enforced.error


def test_enforced_filter(enforced):
    """The process filters syscalls (Seccomp: 2) with exactly this profile's list, not the engine's default."""
    c = enforced.require()
    assert c.status().seccomp == 2
    handed = c.oci_config()["linux"]["seccomp"]
    assert allowed(handed) == allowed(load())


def test_enforced_serves(enforced):
    """/, /api/time, /healthz, /readyz and /metrics answer 200; POST / 405."""
    c = enforced.require()
    got = {path: c.get(path).status for path in ("/", "/api/time", "/healthz", "/readyz", "/metrics")}
    assert got == dict.fromkeys(got, 200)
    assert http.request(c.addr, "/", "POST").status == 405


def test_enforced_healthcheck(enforced):
    """`moscow-time healthcheck` passes under the profile."""
    assert enforced.require().healthcheck() == "healthy"


def test_enforced_stops(engine, scratch_image, containers):
    """SIGTERM under the profile: exit 0 within 2 s (the shutdown path under the filter)."""
    ms, code = containers(engine, scratch_image, prefix="mt-seccomp-test", seccomp=True).stop()
    info(f"stop under the profile: {ms} ms")
    assert (code, ms < 2000) == (0, True), f"exit code {code} after {ms} ms"


def busybox(engine, image: str, profile, *args: str):
    """The host's static busybox in a container of IMAGE, hardened like the service, under PROFILE."""
    return engine.run_once(
        image,
        *args,
        options=(
            *engine.run_flags(seccomp=profile),
            f"--volume={BUSYBOX}:/busybox:ro",
            "--entrypoint=/busybox",
        ),
    )


def test_denied_outside_list(engine, scratch_image):
    """mkdir(2) is not on the list: ENOSYS under the profile; the same under
    the default profile succeeds, so it is the profile that refused.
    /dev/shm is the one place uid 65532 may write."""
    assert BUSYBOX.exists(), f"{BUSYBOX} not found (Debian: apt-get install busybox-static)"
    ours = busybox(engine, scratch_image, project.SECCOMP_PROFILE, "mkdir", "/dev/shm/mt-probe")
    assert ours.returncode != 0, f"mkdir succeeded under the profile: {ours.stdout}"
    assert "Function not implemented" in ours.stderr + ours.stdout, f"expected ENOSYS, got: {ours.stderr}"
    default = busybox(engine, scratch_image, ENGINE_DEFAULT, "mkdir", "/dev/shm/mt-probe")
    assert default.returncode == 0, f"mkdir failed under the default profile too: {default.stderr}"
