"""What the image checks run on: each engine × variant × architecture
(a Target), whose ID (podman-scratch-amd64) is part of every check's ID."""

import functools
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .engine import Engine
from .image import Unpacked


@dataclass(frozen=True)
class Target:
    engine: Engine = field(compare=False)
    engine_name: str
    repo: str
    variant: str
    arch: str = ""  # empty: the variant as a whole (its manifest list, its host tag)

    @property
    def id(self) -> str:
        return "-".join(p for p in (self.engine_name, self.variant, self.arch) if p)

    @property
    def ref(self) -> str:
        return f"{self.repo}:{self.variant}-{self.arch}" if self.arch else f"{self.repo}:{self.variant}"


class Image:
    """One target's image, its facts computed once, on first need, by
    whichever check asks first (the session fixture `image` keeps it)."""

    def __init__(self, target: Target, workdir: Path):
        self.target, self.engine, self.ref = target, target.engine, target.ref
        self.workdir = workdir

    @functools.cached_property
    def exists(self) -> bool:
        return self.engine.image_exists(self.ref)

    def require(self) -> "Image":
        """Self, or a skip when the image is not there (test_image_exists fails for it)."""
        if not self.exists:
            pytest.skip(f"{self.ref} not found (test_image_exists fails for it)")
        return self

    @functools.cached_property
    def info(self) -> dict:
        return self.require().engine.image_info(self.ref)

    @property
    def labels(self) -> dict[str, str]:
        return self.info["Config"].get("Labels") or {}

    @functools.cached_property
    def unpacked(self) -> Unpacked:
        return Unpacked(self.require().engine, self.ref, self.workdir / self.target.id)
