"""The rootless checks' fixtures: who the ordinary user is, its subordinate
ids, and the image running hardened under its podman (or under a mutant's)."""

import os
import pwd

import pytest

from harness.proc import status

# ROOTLESS_MUTANT=NAME (tests/rootless/mutants.py): podman run options that break one promise.
MUTANT_OPTIONS = {"keep-id": ("--userns=keep-id",), "seccomp-unconfined": ("--security-opt=seccomp=unconfined",)}


def subordinate(user: pwd.struct_passwd, kind: str) -> list[tuple[int, int]]:
    """USER's ranges in /etc/subuid (KIND uid) or /etc/subgid, as (start, count)."""
    ranges = []
    with open(f"/etc/sub{kind}") as f:
        for line in f:
            name, start, count = line.strip().split(":")
            if name in (user.pw_name, str(user.pw_uid)):
                ranges.append((int(start), int(count)))
    return ranges


@pytest.fixture(scope="session")
def rootless_user() -> pwd.struct_passwd:
    """The ordinary user the checks expect to run as (ROOTLESS_USER; scripts/rootless-user.sh --run sets it)."""
    return pwd.getpwnam(os.environ.get("ROOTLESS_USER") or pwd.getpwuid(os.getuid()).pw_name)


@pytest.fixture(scope="session")
def subuids(rootless_user) -> list[tuple[int, int]]:
    ranges = subordinate(rootless_user, "uid")
    assert ranges, f"{rootless_user.pw_name} has no range in /etc/subuid: scripts/rootless-user.sh"
    return ranges


@pytest.fixture(scope="module")
def rootless_service(target, image, shared_containers):
    """The target's image running hardened under the seccomp profile as its
    own user, shared by the checks that only read it."""
    image.require()
    options = MUTANT_OPTIONS.get(os.environ.get("ROOTLESS_MUTANT", ""), ())
    return shared_containers(target.engine, target.ref, prefix="mt-rootless", seccomp=True, options=options)


@pytest.fixture(scope="module")
def rootless_pid(rootless_service) -> int:
    c = rootless_service.require()
    status(c.pid)  # readable by the user: the process is in its user namespace
    return c.pid
