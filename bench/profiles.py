#!/usr/bin/env python3
"""Release-profile study: binary size and /api/time requests/s per profile knob.

Varies one knob at a time from the profile in Cargo.toml (opt-level, lto,
codegen-units, panic) through CARGO_PROFILE_RELEASE_* overrides, so
Cargo.toml is never edited. Builds moscow-time and examples/hello for each
variant from a `git archive` snapshot of HEAD into its own target dir under
/tmp (other people's builds and working trees stay untouched), then measures
them with bench.py's pinned setup: variants and binaries interleaved within
each round, medians over the rounds. The builds are static glibc
(x86_64-unknown-linux-gnu, +crt-static), not the musl binary the images ship.

The table goes to stdout and, when every variant ran, to
docs/results/profiles.md (--results), with the date, machine and commit.

    python3 bench/profiles.py                    # build + 3 rounds, ~15 min
    python3 bench/profiles.py --rounds 1 --variants baseline opt-z    # prints only
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the measuring code, shared with bench/run.sh)

TARGET = "x86_64-unknown-linux-gnu"
# name -> (knob as written in Cargo.toml, CARGO_PROFILE_RELEASE_* overrides)
VARIANTS = {
    "baseline": ("as in Cargo.toml", {}),
    "opt-s": ('opt-level = "s"', {"OPT_LEVEL": "s"}),
    "opt-z": ('opt-level = "z"', {"OPT_LEVEL": "z"}),
    "lto-thin": ('lto = "thin"', {"LTO": "thin"}),
    "lto-off": ('lto = "off"', {"LTO": "off"}),
    "cgu-16": ("codegen-units = 16", {"CODEGEN_UNITS": "16"}),
    "unwind": ('panic = "unwind"', {"PANIC": "unwind"}),
}


def build(name: str, src: Path, root: Path) -> dict[str, Path]:
    overrides = {f"CARGO_PROFILE_RELEASE_{k}": v for k, v in VARIANTS[name][1].items()}
    target_dir = root / f"target-{name}"
    env = {**os.environ, **overrides, "CARGO_TARGET_DIR": str(target_dir),
           "RUSTFLAGS": "-C target-feature=+crt-static"}
    print(f"build {name} {' '.join(f'{k}={v}' for k, v in overrides.items())}", file=sys.stderr)
    # Two runs: an example turns on the dev-dependencies' features, and the
    # binary measured must be the one `just build` ships.
    for target in (["--example", "hello"], ["--bin", "moscow-time"]):
        subprocess.run(["cargo", "build", "--quiet", "--release", "--locked", "--target", TARGET,
                        *target], cwd=src, env=env, check=True)
    release = target_dir / TARGET / "release"
    return {"moscow-time": release / "moscow-time", "hello": release / "examples" / "hello"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--connections", type=int, default=64)
    bench.add_noise_args(ap)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--root", default="/tmp/moscow-time-profiles",
                    help="snapshot and target dirs (kept, so a rerun only measures)")
    ap.add_argument("--results", default="docs/results/profiles.md",
                    help="the results file, written when every variant ran (relative to the repo)")
    args = ap.parse_args()

    repo = Path(__file__).resolve().parent.parent
    root = Path(args.root)
    src = root / "src"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()
    # Re-snapshot (and so rebuild) only when what the binaries are built from changed.
    inputs = subprocess.run(["git", "rev-parse", "HEAD:src", "HEAD:examples", "HEAD:Cargo.toml",
                             "HEAD:Cargo.lock"], cwd=repo, capture_output=True, text=True,
                            check=True).stdout
    if (src / ".inputs").exists() and (src / ".inputs").read_text() != inputs:
        shutil.rmtree(src)
    if not src.exists():
        src.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=repo, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
        (src / ".inputs").write_text(inputs)
        (src / ".commit").write_text(head)
    head = (src / ".commit").read_text()
    bins = {v: build(v, src, root) for v in args.variants}

    os.sched_setaffinity(0, {bench.LOAD_CORE})
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    bench.QUIET_WAIT_LEFT[0] = args.quiet_wait
    tmp = Path(tempfile.mkdtemp(prefix="moscow-time-profiles."))
    results: dict[tuple[str, str], list[dict]] = {}
    try:
        for rnd in range(args.rounds):
            for v in args.variants:
                for b in ("moscow-time", "hello"):
                    log = tmp / "access.log" if b == "moscow-time" else None
                    t = bench.Target(f"{v}-{b}", [str(bins[v][b])], log=log)
                    m = bench.measure(t, tmp, args, first=False)
                    results.setdefault((v, b), []).append(m)
                    print(f"  round {rnd + 1}/{args.rounds} {v:<9} {b:<12} {m['rps']:>9,.0f} req/s"
                          f"  {m['req_per_cpu_ms']:5.1f} req/CPU-ms  core {bench.SERVER_CORE} "
                          f"{m['server_core_pct']:3.0f}% busy, others {m['foreign_pct']:3.0f}%",
                          file=sys.stderr)
    finally:
        bench.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(v: str, b: str, key: str) -> float:
        return statistics.median(r[key] for r in results[(v, b)])

    def rel(v: str, b: str, key: str) -> str:
        """Median over rounds of this variant / baseline in the same round."""
        if v == "baseline" or "baseline" not in args.variants:
            return ""
        r = statistics.median(x[key] / y[key] for x, y in
                              zip(results[(v, b)], results[("baseline", b)]))
        return f" ({r - 1:+.0%})"

    def size(v: str, b: str) -> str:
        s = bins[v][b].stat().st_size
        base = bins.get("baseline", {}).get(b)
        delta = f" ({s / base.stat().st_size - 1:+.0%})" if base and v != "baseline" else ""
        return f"{s:,}{delta}"

    table = [
        "| variant | moscow-time bytes | hello bytes | moscow-time req/s | hello req/s "
        "| moscow-time req/CPU-ms | hello req/CPU-ms | moscow-time idle RSS KiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in args.variants:
        table.append(
            f"| {VARIANTS[v][0]} | {size(v, 'moscow-time')} | {size(v, 'hello')} "
            f"| {med(v, 'moscow-time', 'rps'):,.0f}{rel(v, 'moscow-time', 'rps')} "
            f"| {med(v, 'hello', 'rps'):,.0f}{rel(v, 'hello', 'rps')} "
            f"| {med(v, 'moscow-time', 'req_per_cpu_ms'):.1f}"
            f"{rel(v, 'moscow-time', 'req_per_cpu_ms')} "
            f"| {med(v, 'hello', 'req_per_cpu_ms'):.1f}{rel(v, 'hello', 'req_per_cpu_ms')} "
            f"| {med(v, 'moscow-time', 'idle_rss'):,.0f} |")
    note = (f"Commit {head}; one knob changed from the release profile in Cargo.toml "
            f"(codegen-units = 1, lto = \"fat\", panic = \"abort\", strip = \"symbols\", "
            f"opt-level 3); static (+crt-static) {TARGET}. Medians of {args.rounds} rounds, "
            f"variants interleaved; each server on core {bench.SERVER_CORE}, `wrk -t1 "
            f"-c{args.connections} -d{args.duration}s` on core {bench.LOAD_CORE} after a "
            f"{args.warmup} s warm-up, GET /api/time, moscow-time's access log on (to a file). "
            f"(±%) is the median per-round change against the baseline.")
    print()
    print("\n".join(table))
    print()
    print(note)

    if set(args.variants) != set(VARIANTS):
        print("some variants only: the results file is left as it is", file=sys.stderr)
        return
    machine = subprocess.run([repo / "scripts/machine.sh"], capture_output=True, text=True,
                             check=True).stdout.strip()
    results = repo / args.results
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(
        "# Release profile study\n\n"
        f"Generated by `python3 bench/profiles.py` on "
        f"{time.strftime('%-d %b %Y, %H:%M UTC', time.gmtime())}, {machine}, at commit {head}. "
        f"Static glibc builds ({TARGET}, +crt-static), not the musl binary the images ship. "
        "Do not edit: run `python3 bench/profiles.py` again, with nothing else running.\n\n"
        + "\n".join(table) + "\n\n" + note + "\n")
    print(f"wrote {results}", file=sys.stderr)


if __name__ == "__main__":
    main()
