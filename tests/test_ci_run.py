"""`.ci/run` runs the README's test command: the function that reads it is
there, finds exactly the line after the README's marker, and refuses a
README without one (a `.ci/run` that lost it once stopped at its test step)."""

import re

from harness import project
from harness.shell import run

# The function alone, out of .ci/run, so nothing else of it runs.
READER = 'source <(sed -n "/^readme_test_command()/,/^}/p" .ci/run) && readme_test_command "$1"'


def read_test_command(readme) -> tuple[int, str]:
    done = run(["bash", "-c", READER, "reader", readme], cwd=project.ROOT, check=False)
    return done.returncode, done.stdout.strip()


def test_ci_run_reads_readme_test_command():
    block = re.search(r"^<!-- ci: test command -->\n```sh\n(.+)\n```$", (project.ROOT / "README.md").read_text(), re.M)
    assert block, "README.md has no test command block after its marker"
    assert "readme_test_command README.md" in (project.ROOT / ".ci/run").read_text()
    assert read_test_command(project.ROOT / "README.md") == (0, block.group(1))


def test_ci_run_refuses_readme_without_marker(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text((project.ROOT / "README.md").read_text().replace("<!-- ci: test command -->", ""))
    assert read_test_command(readme)[0] != 0
