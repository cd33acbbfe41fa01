"""The runtime dependencies are exactly hyper, hyper-util, tokio and
http-body-util: adding one needs a measured reason (binary size, speed or
safety) in its commit message, and this check makes it a conscious edit here too."""

from harness import project
from harness.shell import output

RUNTIME_DEPS = ["http-body-util", "hyper", "hyper-util", "tokio"]


def test_runtime_deps():
    tree = output(
        ["cargo", "tree", "--locked", "--edges", "normal", "--depth", "1", "--prefix", "none", "--format", "{p}"],
        cwd=project.ROOT,
    )
    assert sorted({line.split()[0] for line in tree.splitlines()[1:]}) == RUNTIME_DEPS
