"""Image builds a check makes (scripts/build-image.sh under another tag) and
their removal: the tags, and the layers those builds made rather than took
from the cache, so a --no-cache build does not leave hundreds of MB behind."""

import os
import re
import shutil
from pathlib import Path

from .engine import Engine
from .project import ROOT, build_arch
from .shell import run


def copy_context(dest: Path) -> Path:
    """The build context (what .containerignore lets through) and the
    Containerfiles, copied to DEST for builds that edit them."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Cargo.toml", "Cargo.lock", ".containerignore"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("src", "musl"):
        shutil.copytree(ROOT / name, dest / name, symlinks=True)
    for f in ROOT.glob("Containerfile.*"):
        shutil.copy2(f, dest / f.name)
    return dest


def new_layers(log: str) -> list[str]:
    """The layer IDs a `podman build` log shows as made (not from the
    cache), newest first."""
    made, cached = [], False
    for line in log.splitlines():
        if line.startswith("--> Using cache"):
            cached = True
        elif m := re.fullmatch(r"--> ([0-9a-f]+)", line):
            if not cached:
                made.append(m.group(1))
            cached = False
    return made[::-1]


class Builds:
    """The images a check builds; remove() deletes their tags and new layers."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.tags: list[str] = []
        self.logs: list[str] = []

    def build(self, variant: str, tag: str, *extra: str, archs: str | None = None, check: bool = True, **env: str):
        """scripts/build-image.sh VARIANT EXTRA... with TAG (+ -ARCH), for ARCHS
        (default this machine's), with ENV; returns the CompletedProcess
        (output in .stdout and .stderr). Raises on failure when CHECK."""
        archs = archs or build_arch()
        self.tags += [tag, f"{tag}-multiarch"] + [f"{tag}-{a}" for a in archs.split()]
        done = run(
            [ROOT / "scripts/build-image.sh", variant, *extra],
            env={**os.environ, "ARCHS": archs, "TAG": tag, **env},
            check=check,
        )
        self.logs.append(done.stdout + done.stderr)
        return done

    def remove(self) -> None:
        for tag in self.tags:
            if tag.endswith("-multiarch"):
                self.engine("manifest", "rm", tag, check=False)
        self.engine.remove_images(*self.tags)
        for log in self.logs:
            for layer in new_layers(log):
                self.engine("rmi", layer, check=False)
