"""Every check the docs cite exists: a renamed or removed check cannot leave
a stale claim. The docs cite checks as backticked pytest node IDs
(`tests/images/test_runtime.py::test_process_hardening[podman-scratch-amd64-uid65532]`)
or bare check names (`test_process_hardening`)."""

import re

import pytest

from harness import project
from harness.shell import output

DOCS = [project.ROOT / "README.md", project.ROOT / "tests/README.md", *sorted((project.ROOT / "docs").glob("**/*.md"))]
NODE_ID = re.compile(r"`(tests/[\w/]+\.py::\w+(?:\[[^\]`]+\])?)`")
NAME = re.compile(r"`(test_\w+)`")


@pytest.fixture(scope="module")
def collected() -> set[str]:
    """Every check's node ID, for both engines."""
    out = output(
        ["pytest", "--collect-only", "-q", "--engines", "podman,docker", "-p", "no:randomly"], cwd=project.ROOT
    )
    return {line for line in out.splitlines() if "::" in line}


def cited() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        found += [(doc.name, m) for m in NODE_ID.findall(text) + NAME.findall(text)]
    return found


def test_cited_checks_exist(collected):
    names = {node.split("::")[-1].split("[")[0] for node in collected}
    stale = [f"{doc}: `{c}`" for doc, c in cited() if c not in (collected if "::" in c else names)]
    assert stale == [], "checks cited in the docs that `pytest --collect-only` does not find"
