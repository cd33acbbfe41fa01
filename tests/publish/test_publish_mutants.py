"""Checks the checks: each mutant of mutants.toml is publish/publish.sh or
publish/verify.sh with one practice broken, run under the publish checks it
must make FAIL, by ID. A check that cannot fail proves nothing.

Each mutant runs in a copy of the checkout's top level (symlinks, and a copy
of publish/ with the one change) through PUBLISH_ROOT, in a pytest of its
own. A mutant of publish.sh publishes with its own registry and keys, on
the scratch variant (and alpine, where a check moves a tag to it); a mutant
of verify.sh checks what this run published (PUBLISH_SHARED), since only
the consumer's side changed.
"""

import os
import shutil
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from publishing import VERSION, run

from harness.project import ROOT as REPO

MUTANTS = tomllib.loads((Path(__file__).parent / "mutants.toml").read_text())
CHECKS = "tests/publish/test_publish.py"


def mutant_root(tmp_path, file, text, replacement):
    """A copy of the checkout's top level with publish/FILE mutated."""
    root = tmp_path / "root"
    root.mkdir()
    for entry in REPO.iterdir():
        if entry.name != "publish":
            (root / entry.name).symlink_to(entry)
    shutil.copytree(REPO / "publish", root / "publish")
    source = (root / "publish" / file).read_text()
    assert source.count(text) == 1, f"publish/{file} holds {source.count(text)} copies of the text to break, not 1"
    (root / "publish" / file).write_text(source.replace(text, replacement))
    return root


def outcomes(junit: Path) -> dict[str, str]:
    """Each check's name[ID] in a junit XML report: failed, error (in a
    fixture: the check itself never ran), skipped or passed."""
    found = {}
    for case in ET.parse(junit).iter("testcase"):
        kinds = [kind for kind in ("failure", "error", "skipped") if case.find(kind) is not None]
        found[case.get("name")] = {"failure": "failed"}.get(kinds[0], kinds[0]) if kinds else "passed"
    return found


@pytest.mark.skipif("PUBLISH_ROOT" in os.environ, reason="no mutants of mutants")
@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_caught(tmp_path, name, work):
    mutant = MUTANTS[name]
    must_fail = [check.replace("{version}", VERSION) for check in mutant["fail"]]
    root = mutant_root(tmp_path, mutant["file"], mutant["text"], mutant["replacement"])
    if mutant["file"] == "verify.sh":
        env = {"PUBLISH_SHARED": str(work / "shared")}
    else:
        moves_tag = any("moved_tag" in c or "tag_not_at" in c for c in must_fail)
        env = {"VARIANTS": "alpine scratch" if moves_tag else "scratch"}
    junit = tmp_path / "checks.xml"
    done = run(
        sys.executable, "-m", "pytest", "-q", f"--junitxml={junit}", *[f"{CHECKS}::{c}" for c in must_fail],
        env={"PUBLISH_ROOT": str(root), **env}, cwd=REPO, timeout=1800,
    )  # fmt: skip
    assert junit.exists(), f"the mutant's pytest wrote no report:\n{done.stdout}"
    found = outcomes(junit)
    missed = [f"{c} ({found.get(c, 'not run')})" for c in must_fail if found.get(c) != "failed"]
    assert not missed, f"{name}: these checks did not fail: {', '.join(missed)}\n{done.stdout[-3000:]}"
