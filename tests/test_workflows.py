"""The forge's workflows (.github/workflows/) are a thin list of calls, not a
second pipeline: every `run:` step is a `just` recipe that exists, or
.ci/run, which runs the README's test command; every other step is one of
the few actions named here. actionlint checks the rest (`just lint`). The
workflows cannot run on this project's machines: docs/pipeline.md."""

import re
import shutil
import subprocess

import pytest
import yaml

from harness.project import ROOT

WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
# Checkout, Node.js for the browser tests, the registry login: nothing else.
ACTIONS = {"actions/checkout", "actions/setup-node", "docker/login-action"}
RUN = re.compile(r"(?:\.tools/bin/)?just (?P<recipe>[a-z][a-z0-9-]*)(?: .*)?|bash \.ci/run(?: --setup-only)?")


@pytest.fixture(scope="module")
def recipes():
    just = shutil.which("just") or str(ROOT / ".tools/bin/just")
    listed = subprocess.run([just, "--summary"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(listed.split())


def problems(workflow, recipes):
    """What in WORKFLOW (parsed YAML) is not a thin call: one line each."""
    found = []
    for job_name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "uses" in step:
                action = step["uses"].split("@")[0]
                if action not in ACTIONS:
                    found.append(f"{job_name}: uses {action}, not one of {sorted(ACTIONS)}")
                continue
            command = step.get("run", "").strip()
            match = RUN.fullmatch(command)
            if not match:
                found.append(f"{job_name}: run {command!r} is not one `just RECIPE` or `bash .ci/run` line")
            elif match["recipe"] and match["recipe"] not in recipes:
                found.append(f"{job_name}: just {match['recipe']}: no such recipe")
    return found


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_steps_are_recipes(workflow, recipes):
    assert problems(yaml.safe_load(workflow.read_text()), recipes) == []


def test_workflows_exist():
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "release.yml"}


def test_workflow_mutant_caught(recipes):
    """A step calling a recipe that does not exist, and a step that is a
    script of its own, are both refused."""
    mutant = {
        "jobs": {"release": {"steps": [{"run": "just publish-everything"}, {"run": "podman push x\ncosign sign x"}]}}
    }
    assert len(problems(mutant, recipes)) == 2
