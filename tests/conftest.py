"""pytest's configuration of every check in tests/: the options that choose
what to check, the targets each check is parametrized over, and the fixtures
that make and remove what the checks need (tests/harness has the helpers)."""

import os
import shutil

import pytest

from harness import report
from harness.build import Builds
from harness.engine import ENGINES, Containers, Engine
from harness.project import ARCHS, VARIANTS, build_arch, tools_path
from harness.targets import Image, Target

# The users a container of the image runs as: its own USER, and one given with --user.
USERS = {"uid65532": 65532, "uid123456": 123456}


def pytest_addoption(parser):
    g = parser.getgroup("moscow-time")
    env = os.environ.get
    g.addoption(
        "--engines",
        # Unset: podman if installed, else docker, as scripts/lib.sh chooses.
        default=env("ENGINE") or ("podman" if shutil.which("podman") else "docker"),
        help="podman, docker or both (comma-separated); env ENGINE",
    )
    g.addoption(
        "--image-repo", default=env("IMAGE_REPO", "localhost/moscow-time"), help="the images to check; env IMAGE_REPO"
    )
    g.addoption("--variants", default=env("VARIANTS", " ".join(VARIANTS)), help="env VARIANTS")
    g.addoption("--archs", default=env("ARCHS", " ".join(ARCHS)), help="env ARCHS")


def _list(config, name: str) -> list[str]:
    return config.getoption(name).replace(",", " ").split()


def engines(config) -> list[Engine]:
    return [Engine(name) for name in _list(config, "--engines")]


def targets(config, per_arch: bool = True) -> list[Target]:
    repo, archs = config.getoption("--image-repo"), _list(config, "--archs") if per_arch else [""]
    return [Target(e, e.name, repo, v, a) for e in engines(config) for v in _list(config, "--variants") for a in archs]


def pytest_configure(config):
    # hadolint, dive, kubectl, ... from .tools/ (`just _tools`) before the system's.
    os.environ["PATH"] = tools_path()
    for option, known in (("--engines", ENGINES), ("--archs", ARCHS), ("--variants", VARIANTS)):
        if unknown := set(_list(config, option)) - set(known):
            raise pytest.UsageError(f"{option}: unknown {', '.join(unknown)} (known: {', '.join(known)})")


def pytest_generate_tests(metafunc):
    """A check that takes `target` runs once per engine × variant × arch;
    one that takes `variant_target`, once per engine × variant; `uid`, once
    per user; `engine` (without a target), once per engine. Session scope
    groups a target's checks, so its image is unpacked once."""
    config = metafunc.config
    if "target" in metafunc.fixturenames:
        ts = targets(config)
        metafunc.parametrize("target", ts, ids=[t.id for t in ts], scope="session")
    if "variant_target" in metafunc.fixturenames:
        ts = targets(config, per_arch=False)
        metafunc.parametrize("variant_target", ts, ids=[t.id for t in ts], scope="session")
    if "uid" in metafunc.fixturenames:
        metafunc.parametrize("uid", list(USERS.values()), ids=list(USERS), scope="module")
    if "engine" in metafunc.fixturenames and "target" not in metafunc.fixturenames:
        es = engines(config)
        metafunc.parametrize("engine", es, ids=[e.name for e in es], scope="module")


@pytest.fixture(scope="session")
def image(target, tmp_path_factory) -> Image:
    """The target's image; unpacked on first need, removed with the session's temp folder."""
    return Image(target, tmp_path_factory.mktemp("images"))


@pytest.fixture
def containers():
    """start(engine, image, prefix=..., **options) -> a started Container
    (Engine.start), removed when the check ends, by name."""
    made = Containers()
    yield made.start
    made.remove()


@pytest.fixture(scope="module")
def shared_containers():
    """The same for the containers a module's checks share, as a Started
    (the container, or why it did not start), removed when the module ends."""
    made = Containers()
    yield made.start_shared
    made.remove()


@pytest.fixture
def builds(engine):
    """A Builds (scripts/build-image.sh under test tags) whose images and new layers go when the check ends."""
    b = Builds(engine)
    yield b
    b.remove()


@pytest.fixture(scope="session")
def host_arch() -> str:
    return build_arch()


@pytest.fixture(scope="session")
def image_repo(request) -> str:
    return request.config.getoption("--image-repo")


def pytest_terminal_summary(terminalreporter):
    if report.lines:
        terminalreporter.section("figures")
        for line in report.lines:
            terminalreporter.write_line(f"INFO {line}")


@pytest.fixture(scope="module")
def scratch_image(image_repo, engine) -> str:
    """The image the seccomp and Kubernetes checks run (IMAGE, default the scratch image)."""
    image = os.environ.get("IMAGE", f"{image_repo}:scratch")
    assert engine.image_exists(image), f"{image} not found: build it with `just images`"
    return image
