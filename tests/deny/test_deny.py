"""The dependency policy (deny.toml) catches what it forbids: each mutant is
tests/deny/fixture with one dependency added that breaks one policy, and
cargo-deny (scripts/deny.sh, the same configuration as the server's check)
must fail exactly that policy's check, naming the crate.

The fixture's crates come from its vendor/ folder, which stands in for
crates.io (cargo records them as crates.io crates), and the git dependency
from a repository made here: nothing is downloaded. The advisory mutant's
crate is smallvec 1.6.0 (RUSTSEC-2021-0003), which any snapshot of the
database names."""

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.project import ROOT

FIXTURE = ROOT / "tests/deny/fixture"
DENY = ROOT / "scripts/deny.sh"
CHECKS = ("advisories", "bans", "licenses", "sources")

# name: (the check that must fail, the crate it must name, the dependency line added)
MUTANTS = {
    "licence-not-allowed": ("licenses", "readline-gpl", 'readline-gpl = "1"'),
    "git-source": ("sources", "git-helper", 'git-helper = { git = "{git}", version = "0.1" }'),
    "known-advisory": ("advisories", "smallvec", 'smallvec = "=1.6.0"'),
    "duplicate-version": ("bans", "itoa", 'itoa04 = { package = "itoa", version = "0.4" }'),
    "path-dependency": ("bans", "local-helper", 'local-helper = { path = "local-helper" }'),
}


def git_crate(where):
    """A git repository holding one crate, git-helper (MIT), as a file:// URL."""
    (where / "src").mkdir(parents=True)
    (where / "Cargo.toml").write_text(
        '[package]\nname = "git-helper"\nversion = "0.1.0"\nedition = "2024"\nlicense = "MIT"\n'
    )
    (where / "src/lib.rs").write_text("")
    for args in (["init", "--quiet"], ["add", "."], ["commit", "--quiet", "-m", "git-helper"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=where, check=True)
    return f"file://{where}"


def deny(manifest, *args):
    """scripts/deny.sh ARGS on the crate of MANIFEST, with deny.toml; its output."""
    return subprocess.run(
        [DENY, "--manifest-path", manifest, "--config", ROOT / "deny.toml", *args],
        # In the crate's folder: cargo reads its .cargo/config.toml (vendor/) from there.
        cwd=manifest.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
    )  # fmt: skip


def results(output):
    """{check: "ok" | "FAILED"} from cargo-deny's summary line."""
    found = dict(re.findall(r"\b(advisories|bans|licenses|sources) (ok|FAILED)\b", output))
    assert set(found) == set(CHECKS), f"no summary of the four checks in:\n{output}"
    return found


def crate_with(tmp_path, line):
    crate = tmp_path / "crate"
    shutil.copytree(FIXTURE, crate, ignore=shutil.ignore_patterns("target"))
    if "{git}" in line:
        line = line.replace("{git}", git_crate(tmp_path / "git-helper"))
    if line:
        with (crate / "Cargo.toml").open("a") as manifest:
            manifest.write(line + "\n")
    # The git dependency is fetched from its file:// repository; the rest is vendored.
    subprocess.run(["cargo", "generate-lockfile", "--quiet"], cwd=crate, check=True, timeout=120)
    return crate / "Cargo.toml"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """cargo-deny on the fixture ("") and on each mutant, all at once: each
    run mostly waits for cargo. Offline (the crates are vendored), once the
    advisory database is fetched."""
    crates = {
        name: crate_with(tmp_path_factory.mktemp(name or "fixture"), MUTANTS[name][2] if name else "")
        for name in ["", *MUTANTS]
    }
    fetched = deny(crates[""], "fetch", "db")
    assert fetched.returncode == 0, fetched.stdout
    with ThreadPoolExecutor() as pool:
        runs = {name: pool.submit(deny, crate, "--offline", "check", "--show-stats") for name, crate in crates.items()}
        return {name: run.result() for name, run in runs.items()}


def test_fixture_passes(outcomes):
    done = outcomes[""]
    assert done.returncode == 0, done.stdout
    assert set(results(done.stdout).values()) == {"ok"}
    # The check says which database it read, and how old it is.
    assert re.search(r"advisory database: \S+ from .+, last commit \d{4}-\d\d-\d\d \(\d+ days old\)", done.stdout)


@pytest.mark.parametrize("mutant", MUTANTS)
def test_mutant_caught(outcomes, mutant):
    check, crate, _ = MUTANTS[mutant]
    done = outcomes[mutant]
    assert done.returncode != 0, f"{mutant}: cargo-deny passed\n{done.stdout}"
    assert results(done.stdout) == {c: "FAILED" if c == check else "ok" for c in CHECKS}, done.stdout
    errors = [block for block in done.stdout.split("\n\n") if block.startswith("error")]
    assert any(crate in block for block in errors), f"{mutant}: no error names {crate}\n{done.stdout}"
