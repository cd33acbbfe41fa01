"""Every pin in the repository is found by a Renovate manager, so Renovate
keeps it fresh: a new pin that no manager of renovate.json matches fails here.

The pins are found by the patterns below, in every tracked file but the docs,
the lock files and the test code. Which of them Renovate finds, Renovate
itself says: its dependency extraction (`--platform=local
--dry-run=extract`, offline) runs on a copy of the checkout. The copy also
holds the mutants of tests/pins/mutants/ at the paths they name, pins that no
manager matches, and each must be caught. The extraction takes about half a
minute, so its report is kept in ~/.cache/moscow-time/pins/ under a hash of
everything it read: a warm `just lint` reuses it, in any clone."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass

import pytest

from harness import project
from harness.project import ROOT

MUTANTS = ROOT / "tests/pins/mutants"
# The mutants and the pins each must leave unmatched (FILE: [VALUE]).
MUTANT_PINS = {
    "scripts/build-probe.sh": ["1.37.0", "sha256:" + hashlib.sha256(b"mutant").hexdigest()],
    "Containerfile.probe": ["sha256:" + hashlib.sha256(b"mutant").hexdigest()],
    "scripts/probe-tool.sh": ["1.2.3"],
}
# Why Renovate skips a dependency here but not on the forge: it is found, and
# looked up there with the forge's token.
OFFLINE_SKIPS = {"github-token-required"}
# Our own image, in manifests: built here, not a pin of anything upstream.
OURS = {"registry.example.com/team/moscow-time"}
# Not pins: docs quote them, tests and lock files follow them, fixtures fake them.
SKIP = re.compile(r"(\.md$|\.py$|\.rs$|(^|/)Cargo\.lock$|package-lock\.json$|go\.sum$|^tests/(deny|pins)/|^media/)")


@dataclass(frozen=True)
class Pin:
    file: str
    kind: str
    name: str
    value: str

    def __str__(self):
        return f"{self.file}: {self.kind} {self.name} {self.value}"


IMAGE = r"(?P<name>[a-z0-9.-]+\.[a-z]+(?::[0-9]+)?/[a-z0-9._/-]+)"
PATTERNS = [
    # An image pinned by digest, wherever it is (an ARG, a FROM, a script, a workflow).
    ("image digest", None, re.compile(IMAGE + r":[A-Za-z0-9._-]+@(?P<value>sha256:[0-9a-f]{64})")),
    # A FROM or a workflow's container naming a registry image by tag.
    (
        "image tag",
        None,
        re.compile(r"(?m)^\s*(?:FROM(?:\s+--\S+)*|image:)\s+" + IMAGE + r":(?P<value>[A-Za-z0-9._-]+)"),
    ),
    (
        "cargo install",
        None,
        re.compile(r"cargo install (?:--\S+ )*--version (?P<value>[0-9][^\s|]*) (?P<name>[a-z0-9_-]+)"),
    ),
    # A tool a script builds or downloads at a version.
    ("tool version", re.compile(r"\.sh$"), re.compile(r"(?m)^(?P<name>version)=(?P<value>[^\s$\"'(]\S*)")),
    (
        "action",
        re.compile(r"^\.github/workflows/"),
        re.compile(r"(?m)^\s*(?:-\s+)?uses:\s+(?P<name>[^@\s]+)@(?P<value>\S+)"),
    ),
    (
        "runner",
        re.compile(r"^\.github/workflows/"),
        re.compile(r"(?m)^\s*runs-on:\s+(?P<name>[a-z]+)-(?P<value>[0-9.]+)$"),
    ),
    (
        "setup version",
        re.compile(r"^\.github/workflows/"),
        re.compile(r"(?m)^\s*(?P<name>[a-z]+-version):\s+(?P<value>\S+)"),
    ),
    ("pip", re.compile(r"requirements[^/]*\.txt$"), re.compile(r"(?m)^(?P<name>[A-Za-z0-9._-]+)==(?P<value>\S+)")),
    (
        "go",
        re.compile(r"(^|/)go\.mod$"),
        re.compile(r"(?m)^\s*(?P<name>[a-z0-9./-]+\.[a-z]+/\S+|go) v?(?P<value>[0-9]\S*)"),
    ),
]


def find_pins(root, files):
    """The pins in FILES (paths relative to ROOT), by the patterns above and
    the dependency tables of Cargo.toml and package.json files."""
    pins = set()
    for file in files:
        text = (root / file).read_text(errors="replace")
        for kind, where, pattern in PATTERNS:
            if where is None or where.search(file):
                pins.update(Pin(file, kind, m["name"], m["value"]) for m in pattern.finditer(text))
        if file.endswith("Cargo.toml"):
            manifest = tomllib.loads(text)
            for table in ("dependencies", "dev-dependencies", "build-dependencies"):
                for name, spec in manifest.get(table, {}).items():
                    version = spec if isinstance(spec, str) else spec.get("version")
                    if version:
                        pins.add(Pin(file, "crate", name, version))
        if file.endswith("package.json"):
            manifest = json.loads(text)
            for table in ("dependencies", "devDependencies", "optionalDependencies"):
                pins.update(Pin(file, "npm", n, v) for n, v in manifest.get(table, {}).items())
    return pins


def tracked_files():
    """Tracked files, and new ones git does not ignore: a pin is checked before it is committed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    return sorted(f for f in listed.split("\0") if f and (ROOT / f).is_file())


def renovate_report(tmp_path_factory):
    """Renovate's extraction on a copy of the checkout plus the mutants,
    cached in ~/.cache/moscow-time/pins/ by a hash of what it reads."""
    # Only what may hold a pin: an edit to the code or the docs keeps the cache.
    files = {f: ROOT / f for f in tracked_files() if not SKIP.search(f)}
    files.update({str(m.relative_to(MUTANTS)): m for m in MUTANTS.rglob("*") if m.is_file()})
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    for lock in ("scripts/renovate.sh", "scripts/renovate/package-lock.json"):
        digest.update((ROOT / lock).read_bytes())
    cached = project.cache_dir() / "pins" / f"renovate-extract-{digest.hexdigest()[:16]}.json"
    copy = tmp_path_factory.mktemp("checkout")
    for name, source in files.items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy / name)
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        report = copy.parent / "report.json"
        # Not a git repository: Renovate's local platform lists every file.
        done = subprocess.run(
            [ROOT / "scripts/renovate.sh", "renovate", "--platform=local", "--dry-run=extract", "--onboarding=false",
             "--report-type=file", f"--report-path={report}"],
            cwd=copy, capture_output=True, text=True, timeout=600,
            env={**os.environ, "LOG_LEVEL": "warn", "RENOVATE_X_IGNORE_NODE_WARN": "true"},
        )  # fmt: skip
        assert done.returncode == 0, f"renovate's extraction failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        for stale in cached.parent.glob("renovate-extract-*.json"):
            stale.unlink()
        shutil.move(report, cached)
    return copy, json.loads(cached.read_text()), sorted(files)


@pytest.fixture(scope="module")
def extraction(tmp_path_factory):
    copy, report, files = renovate_report(tmp_path_factory)
    (repo,) = report["repositories"].values()
    found = {}
    for package_files in repo["packageFiles"].values():
        for package_file in package_files:
            for dep in package_file["deps"]:
                if dep.get("skipReason") and dep["skipReason"] not in OFFLINE_SKIPS:
                    continue
                values = {dep.get(k) for k in ("currentValue", "currentDigest", "currentVersion")} - {None}
                values |= {v.lstrip("=v") for v in values}
                found.setdefault(package_file["packageFile"], set()).update(values)
    return copy, files, found, report


def unmatched(copy, files, found):
    return sorted(
        (
            p
            for p in find_pins(copy, files)
            if p.value.lstrip("v") not in found.get(p.file, set()) and p.name not in OURS
        ),
        key=lambda p: (p.file, p.value),
    )


def test_every_pin_has_a_manager(extraction):
    copy, files, found, _ = extraction
    real = [f for f in files if f not in MUTANT_PINS]
    missed = unmatched(copy, real, found)
    assert not missed, "pins no Renovate manager finds (renovate.json, docs/dependencies.md):\n" + "\n".join(
        map(str, missed)
    )


def test_pins_are_found_at_all(extraction):
    """The patterns above still find the pins this repository is known to hold."""
    copy, files, _, _ = extraction
    kinds = {p.kind for p in find_pins(copy, files)}
    assert kinds >= {
        "image digest",
        "image tag",
        "cargo install",
        "tool version",
        "action",
        "runner",
        "pip",
        "go",
        "crate",
        "npm",
    }


@pytest.mark.parametrize("mutant", sorted(MUTANT_PINS))
def test_mutant_pin_caught(extraction, mutant):
    copy, _, found, _ = extraction
    assert (MUTANTS / mutant).is_file()
    assert [p.value for p in unmatched(copy, [mutant], found)] == MUTANT_PINS[mutant]


def test_no_renovate_problems(extraction):
    """Renovate read its configuration and every package file without an error."""
    *_, report = extraction
    assert not [p for p in report.get("problems", []) if p.get("level", 0) >= 40]
