"""What the publish tests share besides fixtures: what is published, and how
a command is run and judged (tests/harness runs it). The scripts under test
are those of PUBLISH_ROOT (default: this checkout); test_publish_mutants.py points it
at a copy with one script broken.
"""

import os
import pickle
import re
from pathlib import Path

from harness import project
from harness.shell import run as harness_run

ROOT = Path(os.environ.get("PUBLISH_ROOT", project.ROOT))
# What `just publish` pushes; the mutants publish fewer, to be quicker.
VARIANTS = os.environ.get("VARIANTS", " ".join(project.VARIANTS)).split()
ARCHS = project.ARCHS
VERSION = project.version()


class Result:
    """A finished command: its exit code and its stdout and stderr together."""

    def __init__(self, done):
        self.returncode, self.stdout = done.returncode, done.stdout + done.stderr


def run(*cmd, env=None, timeout=900, cwd=None):
    """CMD with the environment plus ENV (a None value unsets), never raising on failure."""
    merged = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}
    return Result(harness_run(cmd, check=False, env=merged, timeout=timeout, cwd=cwd))


def succeeded(result):
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stdout}"
    return result.stdout


def refused(result, pattern):
    """The command failed with a line matching PATTERN; returns that line."""
    assert result.returncode != 0, f"it succeeded:\n{result.stdout}"
    line = next((line for line in result.stdout.splitlines() if re.search(pattern, line)), None)
    assert line, f"it failed (exit {result.returncode}), but not with /{pattern}/:\n{result.stdout}"
    return line


def one_error(result, code, pattern):
    """Exit CODE with one line, `error: ...PATTERN...`."""
    assert result.returncode == code, f"exit {result.returncode}, expected {code}:\n{result.stdout}"
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"expected one line:\n{result.stdout}"
    assert re.search(rf"^error: .*({pattern})", lines[0]), lines[0]


# A verify mutant's pytest (test_publish_mutants.py) checks a broken verify.sh
# against what the run that started it published, instead of publishing it
# all again: PUBLISH_SHARED names the folder of that run's fixture values.
SHARED = os.environ.get("PUBLISH_SHARED")


def kept(work: Path, name: str, make):
    """Session fixture NAME's value: the one the run that started this pytest
    made (PUBLISH_SHARED), or MAKE's, kept in WORK/shared for the verify mutants."""
    if SHARED:
        found = Path(SHARED) / f"{name}.pickle"
        return pickle.loads(found.read_bytes()) if found.exists() else make()
    value = make()
    (work / "shared").mkdir(exist_ok=True)
    (work / "shared" / f"{name}.pickle").write_bytes(pickle.dumps(value))
    return value
