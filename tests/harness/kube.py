"""The Kubernetes manifests as data: the objects of deploy/kubernetes (plain
YAML and through kustomize), and kustomize overlays written for a check."""

import os
from pathlib import Path

import yaml

from .project import ROOT
from .shell import output

MANIFEST = ROOT / "deploy/kubernetes/moscow-time.yaml"


def documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def objects(path: Path = MANIFEST) -> list[dict]:
    return documents(path.read_text())


def kind(objs: list[dict], name: str) -> dict:
    """The one object of kind NAME."""
    found = [o for o in objs if o["kind"] == name]
    assert len(found) == 1, f"{len(found)} objects of kind {name}"
    return found[0]


def pod_spec(objs: list[dict]) -> dict:
    return kind(objs, "Deployment")["spec"]["template"]["spec"]


def kustomize(folder: Path) -> str:
    """`kubectl kustomize FOLDER`: the objects as YAML."""
    return output(["kubectl", "kustomize", folder])


def overlay(folder: Path, base: Path, extra: str = "") -> Path:
    """A kustomization in FOLDER on top of BASE (relative: kustomize refuses
    absolute paths) with EXTRA (YAML) appended."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(f"resources:\n  - {os.path.relpath(base, folder)}\n{extra}\n")
    return folder
