"""Checks the checks: each mutant of mutants.toml is built under a tag of its
own and tests/images is run on it alone; exactly the checks the table names
must fail. Each mutant rebuilds only a runtime stage (the build stage comes
from the cache of `just images`); its images and new layers are removed."""

import fnmatch
import os
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import project
from harness.shell import run

HERE = Path(__file__).parent
MUTANTS = tomllib.loads((HERE / "mutants.toml").read_text())
CHECKS = ["tests/images/test_image.py", "tests/images/test_runtime.py"]


def failed_checks(junit: Path) -> set[str]:
    """The checks (name[ID]) that failed or errored in a junit XML report."""
    return {
        case.get("name")
        for case in ET.parse(junit).iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    }


def matches(check: str, pattern: str, target_id: str) -> bool:
    """Whether CHECK (name[ID]) is PATTERN: a name (any ID of the target) or
    name[PARAMS], PARAMS (wildcards allowed) being what follows the target in the ID."""
    name, _, check_id = check.partition("[")
    want, _, params = pattern.partition("[")
    id_pattern = f"{target_id}-{params[:-1]}" if params else f"{target_id}*"
    return name == want and fnmatch.fnmatchcase(check_id[:-1], id_pattern)


def mutate(variant: str, script: str, out: Path) -> Path:
    original = project.ROOT / f"Containerfile.{variant}"
    out.write_text(run(["sed", script, original]).stdout)
    assert out.read_text() != original.read_text(), f"the sed script changed nothing in {original.name}"
    return out


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant(name, engine, builds, image_repo, tmp_path):
    mutant = MUTANTS[name]
    variant, arch = mutant["target"].split("-")
    containerfile = mutate(variant, mutant["sed"], tmp_path / f"Containerfile.{name}")
    repo = f"localhost/moscow-time-mutant-{name}-{os.getpid()}"
    # arch-mismatch: the variant's image of the other architecture, by ID
    # (podman 4.3 does not find a local image of another platform by name).
    other = f"{image_repo}:{variant}-{project.other_arch(arch)}"
    other_id = engine.image_id(other) if engine.image_exists(other) else ""
    builds.build(
        variant, f"{repo}:{variant}", "--build-arg", f"OTHER_ARCH_IMAGE={other_id}",
        archs=arch, CONTAINERFILE=str(containerfile),
    )  # fmt: skip
    junit = tmp_path / "checks.xml"
    done = run(
        ["pytest", *CHECKS, "-q", "-m", "not slow", f"--junitxml={junit}", f"--image-repo={repo}",
         f"--variants={variant}", f"--archs={arch}", f"--engines={engine.name}"],
        cwd=project.ROOT, check=False,
    )  # fmt: skip
    assert junit.exists(), done.stdout + done.stderr
    target_id = f"{engine.name}-{variant}-{arch}"
    failed = failed_checks(junit)
    not_caught = [p for p in mutant["fail"] if not any(matches(c, p, target_id) for c in failed)]
    unexpected = sorted(c for c in failed if not any(matches(c, p, target_id) for p in mutant["fail"]))
    assert (not_caught, unexpected) == ([], []), (
        f"must fail but passed: {not_caught}; failed but not named in mutants.toml: {unexpected}\n"
        + "\n".join(line for line in done.stdout.splitlines() if "FAILED" in line or "ERROR" in line)
    )
