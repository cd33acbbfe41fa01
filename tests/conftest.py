"""pytest's configuration of every check in tests/: the options that choose
what to check, the targets each check is parametrized over, and the fixtures
that make and remove what the checks need (tests/harness has the helpers)."""

import os

import pytest

from harness import report
from harness.build import Builds
from harness.engine import ENGINES, Engine, StartFailed, unique_name
from harness.project import ARCHS, VARIANTS, build_arch, tools_path
from harness.targets import Image, Target

# The users a container of the image runs as: its own USER, and one given with --user.
USERS = {"uid65532": 65532, "uid123456": 123456}


def pytest_addoption(parser):
    g = parser.getgroup("moscow-time")
    env = os.environ.get
    g.addoption(
        "--engines", default=env("ENGINE", "podman"), help="podman, docker or both (comma-separated); env ENGINE"
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
    for name in _list(config, "--engines"):
        if name not in ENGINES:
            raise pytest.UsageError(f"ENGINE={name}: expected podman or docker")
    for arch in _list(config, "--archs"):
        if arch not in ARCHS:
            raise pytest.UsageError(f"ARCHS: unknown architecture {arch!r} (amd64, arm64)")
    for variant in _list(config, "--variants"):
        if variant not in VARIANTS:
            raise pytest.UsageError(f"VARIANTS: unknown variant {variant!r} ({', '.join(VARIANTS)})")


def pytest_generate_tests(metafunc):
    """A check that takes `target` runs once per engine × variant × arch;
    one that takes `variant_target`, once per engine × variant; `uid`, once
    per user. Session scope groups a target's checks, so its image is
    unpacked once."""
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
        metafunc.parametrize("engine", es, ids=[e.name for e in es], scope="session")


@pytest.fixture(scope="session")
def image(target, tmp_path_factory) -> Image:
    """The target's image; unpacked on first need, removed with the session's temp folder."""
    return Image(target, tmp_path_factory.mktemp("images"))


@pytest.fixture
def containers(request):
    """start(engine, image, **options) -> a started Container (engine.start),
    removed when the check ends, by name."""
    made = []

    def start(engine: Engine, image: str, prefix: str = "mt-test", **options):
        c = engine.start(image, name=unique_name(prefix), **options)
        made.append(c)
        return c

    yield start
    for c in made:
        c.remove()


class Started:
    """A container a module's checks share, or why it did not start: the
    check of starting fails with the reason, the others skip."""

    def __init__(self, container=None, error: StartFailed | None = None):
        self.container, self.error = container, error

    def require(self):
        if self.error:
            pytest.skip("the container did not start (the start check fails with the reason)")
        return self.container


@pytest.fixture(scope="module")
def shared_containers():
    """Like `containers`, for a module's shared containers: start() returns
    a Started; they are removed when the module's checks end."""
    made = []

    def start(engine: Engine, image: str, prefix: str = "mt-test", **options) -> Started:
        try:
            c = engine.start(image, name=unique_name(prefix), **options)
        except StartFailed as e:
            return Started(error=e)
        made.append(c)
        return Started(c)

    yield start
    for c in made:
        c.remove()


@pytest.fixture
def builds(request):
    """A Builds (scripts/build-image.sh under test tags) whose images and new layers go when the check ends."""
    b = Builds(engines(request.config)[0])
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


@pytest.fixture(scope="session")
def scratch_image(image_repo, engine) -> str:
    """The image the seccomp and Kubernetes checks run (IMAGE, default the scratch image)."""
    image = os.environ.get("IMAGE", f"{image_repo}:scratch")
    assert engine.image_exists(image), f"{image} not found: build it with `just images`"
    return image
