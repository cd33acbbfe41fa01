#!/usr/bin/env python3
"""Instructions and allocations per request under callgrind, glibc against musl.

Run via bench/run.sh, or alone:

  bench/instructions.py --server G --hello G --server-musl M --hello-musl M

Each server answers GET /api/time on one keep-alive connection under
`valgrind --tool=callgrind`, twice (200 and 2,200 requests), so that start-up
and shutdown cancel out: the difference over 2,000 is the cost of one request.
moscow-time runs with the text and the JSON access log (to a file, as in
production), each with 1 and 2 runtime worker threads; callgrind runs one
thread at a time, so these are instruction counts, not speed, and they do not
depend on the machine's load.

With --allocations the binaries must have symbols (build them with
CARGO_PROFILE_RELEASE_STRIP=none): callgrind then also counts the calls into
the C allocator from outside it (malloc, calloc, realloc, free, ...) and the
instructions spent inside it.

Only the python3 standard library is used.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

import bench as b

RUNS = (200, 2200)
# The C allocator's entry points, in glibc and musl (mallocng).
ALLOCATOR = {"malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc",
             "memalign", "__libc_malloc", "__libc_free", "__libc_realloc", "__libc_calloc"}


def callgrind(tmp: Path, name: str, exe: str, env: dict[str, str], n: int,
              out: Path | None) -> int:
    """Total instructions of a run that answers `n` requests on one connection."""
    t = b.Target(name, [shutil.which("valgrind") or "valgrind", "--tool=callgrind",
                        f"--callgrind-out-file={out or os.devnull}", exe],
                 env=env, log=tmp / "access.log")
    proc, _ = b.start(t, tmp)
    with socket.create_connection(("127.0.0.1", t.port), timeout=30) as s:
        for _ in range(n):
            s.sendall(b.GET)
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(4096)
    b.stop(t, proc)
    stderr = (tmp / f"{name}.stderr").read_text()
    (tmp / f"{name}.stderr").unlink()
    m = re.findall(r"Collected : (\d+)", stderr)
    if not m:
        sys.exit(f"error: no callgrind total for {name}:\n{stderr[-2000:]}")
    return int(m[-1])


def allocator_use(out: Path) -> tuple[int, int]:
    """(calls into the allocator from outside it, inclusive instructions of
    those calls) in a callgrind output file."""
    names: dict[str, str] = {}
    calls = cost = 0
    fn = cfn = ""
    pending = False

    def name(ref: str) -> str:
        # "(12) malloc" defines id 12; "(12)" refers to it.
        m = re.match(r"\((\d+)\)(?: (.*))?", ref)
        if not m:
            return ref
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), "")

    for line in out.read_text().splitlines():
        if line.startswith("fn="):
            fn = name(line[3:])
        elif line.startswith("cfn="):
            cfn = name(line[4:])
        elif line.startswith("calls="):
            pending = cfn in ALLOCATOR and fn not in ALLOCATOR
            if pending:
                calls += int(line[6:].split()[0])
        elif pending and line and line[0] in "0123456789+-*":
            cost += int(line.split()[1])
            pending = False
    return calls, cost


def measure(tmp: Path, name: str, exe: str, env: dict[str, str], allocations: bool) -> dict:
    totals, allocs = [], []
    for n in RUNS:
        out = tmp / "callgrind.out" if allocations else None
        totals.append(callgrind(tmp, name, exe, env, n, out))
        if out:
            allocs.append(allocator_use(out))
            out.unlink()
    per = RUNS[1] - RUNS[0]
    result = {"instructions": (totals[1] - totals[0]) / per}
    if allocs:
        result["allocator_calls"] = (allocs[1][0] - allocs[0][0]) / per
        result["allocator_instructions"] = (allocs[1][1] - allocs[0][1]) / per
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    b.add_binary_args(ap)
    ap.add_argument("--threads", default="1,2", help="runtime worker threads, comma-separated")
    ap.add_argument("--allocations", action="store_true",
                    help="also count allocator calls (binaries with symbols)")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        print("(valgrind not found: `apt-get install valgrind` for instructions per request)")
        return
    os.sched_setaffinity(0, {b.LOAD_CORE})
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: sys.exit(128 + signum))
    tmp = Path(tempfile.mkdtemp(prefix="moscow-time-instructions."))
    try:
        print(table(args, tmp), flush=True)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        b.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def goal(server: str, ratio: float) -> str:
    """Issue 6's limit applies to the server we ship; bare hyper is the reference."""
    if server != "moscow-time":
        return ""
    return "PASS" if ratio <= 1.10 else "MISS"


def table(args: argparse.Namespace, tmp: Path) -> str:
    threads = [int(t) for t in args.threads.split(",")]
    servers = [("moscow-time", "text", args.server, args.server_musl, {}),
               ("moscow-time", "json", args.server, args.server_musl, {"LOG_FORMAT": "json"}),
               ("hello", "", args.hello, args.hello_musl, {})]
    rows = []
    for n in threads:
        for server, log, glibc, musl, env in servers:
            r = {}
            for libc, exe in (("glibc", glibc), ("musl", musl)):
                name = f"{server}-{libc}"
                r[libc] = measure(tmp, name, os.path.abspath(exe),
                                  {**env, "TOKIO_WORKER_THREADS": str(n)}, args.allocations)
                print(f"  {name:<18} {log or '-':<4} {n} thread(s): "
                      + ", ".join(f"{k} {v:,.1f}" for k, v in r[libc].items()), file=sys.stderr)
            ratio = r["musl"]["instructions"] / r["glibc"]["instructions"]
            row = (f"| {server} | {log or '—'} | {n} | {r['glibc']['instructions']:,.0f} | "
                   f"{r['musl']['instructions']:,.0f} | {ratio:.3f}× | "
                   f"{goal(server, ratio)} |")
            if args.allocations:
                row += "".join(f" {r[libc]['allocator_calls']:.1f} / "
                               f"{r[libc]['allocator_instructions']:,.0f} |"
                               for libc in ("glibc", "musl"))
            rows.append(row)
    head = ("| server | log | worker threads | glibc instructions / request | "
            "musl instructions / request | musl / glibc | goal: moscow-time ≤ 1.10× |")
    rule = "|---|---|---:|---:|---:|---:|---|"
    if args.allocations:
        head += " glibc allocator calls / instructions per request | musl: the same |"
        rule += "---:|---:|"
    return "\n".join([
        "Instructions per GET /api/time (callgrind; the difference between runs of "
        f"{RUNS[0]:,} and {RUNS[1]:,} requests on one keep-alive connection, over "
        f"{RUNS[1] - RUNS[0]:,}; access log to a file):",
        "",
        head,
        rule,
        *rows])


if __name__ == "__main__":
    main()
