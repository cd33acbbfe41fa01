"""The images at run time, under each engine: they start hardened (read-only
root, no capabilities, no privilege gain; this machine's architecture also
under the seccomp profile), serve, run as their user or the one given,
pass their healthcheck and stop at once with exit 0. arm64 runs under qemu."""

import json
import os
import re
from pathlib import Path

import pytest

from harness import proc
from harness.engine import StartFailed
from harness.report import info

QEMU_AARCH64 = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


def test_arm64_emulation_registered(host_arch):
    """arm64 containers run under qemu (binfmt). A user's machine without it skips them; CI must have it."""
    if host_arch == "arm64" or QEMU_AARCH64.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"no {QEMU_AARCH64}: CI runs the arm64 images under qemu")
    pytest.skip(
        "arm64 runtime checks skipped: no qemu-aarch64 binfmt (Debian/Ubuntu: apt-get install "
        "qemu-user-static; Fedora: dnf install qemu-user-static)"
    )


def run_options(target, host_arch, uid):
    """The seccomp profile holds the native binary's syscalls. Under emulation
    the filter sees qemu's own host syscalls instead, so arm64 containers here
    keep the engine's default profile (on arm64 hardware the profile applies)."""
    if target.arch != host_arch and not QEMU_AARCH64.exists():
        pytest.skip("no qemu-aarch64 binfmt (test_arm64_emulation_registered)")
    options = () if uid == 65532 else (f"--user={uid}:{uid}",)
    return {"seccomp": target.arch == host_arch, "options": options}


@pytest.fixture(scope="module")
def service(target, uid, image, host_arch, shared_containers):
    """The target's image running hardened as UID, shared by the checks that only read it."""
    image.require()
    return shared_containers(target.engine, target.ref, **run_options(target, host_arch, uid))


def test_starts_hardened(service):
    """Starts with the hardening flags (and seccomp profile, natively) and answers /healthz within 5 s."""
    service.raise_error()


def test_serves_page_and_api(service):
    c = service.require()
    page = c.get("/")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html"), page.headers
    assert re.search(r"<title>\d{2}:\d{2}:\d{2} Moscow time</title>", page.text), page.text[:500]
    api = c.get("/api/time")
    assert api.status == 200
    body = json.loads(api.body)
    assert body["timezone"] == "Europe/Moscow" and isinstance(body["unix_ms"], int), body


def test_process_hardening(service, uid):
    """uid/gid as expected, no capabilities, no_new_privs, read-only root: from /proc/PID."""
    c = service.require()
    assert proc.hardening_problems(c.status(), uid) == []


def test_healthcheck(service):
    """The image's HEALTHCHECK (`moscow-time healthcheck`) passes under the engine."""
    assert service.require().healthcheck() == "healthy"


def test_stops_fast(target, uid, image, host_arch, containers):
    """SIGTERM stops it with exit 0 within 2 s (a container of its own: stopping is final)."""
    image.require()
    try:
        c = containers(target.engine, target.ref, **run_options(target, host_arch, uid))
    except StartFailed:
        pytest.skip("it did not start (test_starts_hardened fails with the reason)")
    ms, code = c.stop(timeout=3)  # SIGKILL after 3 s: past 2 s it fails anyway
    info(f"{target.id} as uid {uid}: stop took {ms} ms, exit code {code}")
    assert code == 0 and ms < 2000, f"stopped in {ms} ms, exit code {code}"
