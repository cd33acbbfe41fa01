"""Run a command the way every check does: bounded in time, output captured,
and on failure an AssertionError that shows the command and its last lines."""

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# No command of a check may hang the run: the slowest (a --no-cache image
# build) takes minutes, so this is a bound, not an estimate.
DEFAULT_TIMEOUT = 1800


class CommandFailed(AssertionError):
    """A command a check needed failed: an assertion, so pytest reports it as the check's failure."""


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def run(
    cmd: Sequence[str | Path],
    *,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs CMD; stdout and stderr are captured as text. With check, a
    non-zero exit (or the timeout) raises CommandFailed with the output."""
    argv = [str(c) for c in cmd]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, input=input, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise CommandFailed(f"`{' '.join(argv)}` took more than {timeout} s") from e
    if check and done.returncode != 0:
        raise CommandFailed(f"`{' '.join(argv)}` exited {done.returncode}:\n{tail(done.stdout + done.stderr)}")
    return done


def output(cmd: Sequence[str | Path], **kwargs) -> str:
    """The stdout of CMD, stripped; raises CommandFailed if it fails."""
    return run(cmd, **kwargs).stdout.strip()
