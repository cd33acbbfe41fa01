#!/usr/bin/env python3
"""Heavy traffic: latency at fixed rates, scale, memory per connection.

Run via bench/run.sh, after bench.py (whose helpers it uses). Three tables,
each side by side with tuned nginx and the bare hyper server (examples/hello),
the Rust servers as their musl builds with one runtime worker thread:

  latency   bench/pace at a constant rate (50 % and 90 % of bare hyper's
            saturation, measured first with wrk), latency counted from when
            each request was due (coordinated omission): p50, p99 and p99.9
  scale     wrk -t1 at 64, 1,000 and 10,000 keep-alive connections: req/s and
            the peak RSS during the run
  memory    RSS per idle keep-alive connection at 1,000 and 10,000 of them,
            hyper's knobs one at a time, and RSS once they are closed

(Instructions per request, glibc against musl: bench/instructions.py.)

Only the python3 standard library is used.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench as b

RATES = (0.5, 0.9)  # of bare hyper's saturation
SCALE = (64, 1000, 10_000)
IDLE = (1000, 10_000)
# Long enough that no timeout closes an idle connection while it is measured.
NO_TIMEOUTS = {"KEEPALIVE_TIMEOUT_MS": "600000", "HEADER_READ_TIMEOUT_MS": "600000"}
# moscow-time parks a connection idle for a sweeper tick (1 s here), within two.
IDLE_SETTLE_S = 2.5


def pace(pace_bin: str, port: int, rate: int, seconds: float, connections: int = 64) -> dict:
    """GET /api/time at `rate` with bench/pace: latency counted from when each
    request was due, so a stall is charged for everything queued behind it."""
    cmd = ["taskset", "-c", str(b.LOAD_CORE), pace_bin, f"127.0.0.1:{port}", b.PATH,
           str(rate), f"{seconds:g}", str(connections)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    out = json.loads(run.stdout)
    return {"rps": out["achieved"], "p50": out["p50_ms"], "p99": out["p99_ms"],
            "p999": out["p999_ms"], "errors": out["errors"]}


def latency(args: argparse.Namespace, tmp: Path, nginx: b.Target, hello: b.Target,
            mt: b.Target) -> str:
    proc, _ = b.start(hello, tmp)
    b.wrk(hello.port, 1, 64, latency=False)
    saturation = b.wrk(hello.port, 3, 64, latency=False)["rps"]
    b.stop(hello, proc)
    rows = []
    for share in RATES:
        rate = int(saturation * share)
        runs: dict[str, list[dict]] = {t.name: [] for t in (nginx, hello, mt)}
        for _ in range(args.rounds):
            for t in (nginx, hello, mt):
                b.wait_for_quiet(args)
                proc, _ = b.start(t, tmp)
                b.wrk(t.port, 1, 64, latency=False)  # warm-up
                runs[t.name].append(pace(args.pace, t.port, rate, args.latency_duration))
                b.stop(t, proc)
                if t.log:
                    t.log.unlink(missing_ok=True)
                r = runs[t.name][-1]
                print(f"  latency {share:.0%} ({rate:,}/s) {t.name:<18} {r['rps']:>9,.0f} req/s "
                      f"p50 {r['p50']:.3f} p99 {r['p99']:.3f} p99.9 {r['p999']:.3f} ms"
                      + (f"  WARNING: {r['errors']} errors" if r["errors"] else ""),
                      file=sys.stderr)
        for name, rs in runs.items():
            med = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50", "p99", "p999")}
            ratio = statistics.median(a["p99"] / h["p99"] for a, h in zip(rs, runs[hello.name]))
            goal = ""
            if name == mt.name:
                goal = "PASS" if round(ratio, 2) <= 1.2 else "MISS"
            rows.append(f"| {share:.0%} ({rate:,}/s) | {name} | {med['rps']:,.0f} | "
                        f"{med['p50']:.3f} | {med['p99']:.3f} | {med['p999']:.3f} | "
                        f"{ratio:.2f}× | {goal} |")
    return "\n".join([
        f"Constant rate, `bench/pace` with 64 connections for {args.latency_duration:g} s on core "
        f"{b.LOAD_CORE}, servers on core {b.SERVER_CORE}; bare hyper saturates at "
        f"{saturation:,.0f} req/s (`wrk -t1 -c64`); medians of {args.rounds} interleaved rounds. "
        "Goal: moscow-time's p99 at most 1.2× bare hyper's.",
        "",
        "| rate | server | achieved req/s | p50 (ms) | p99 (ms) | p99.9 (ms) | p99 / hello | goal |",
        "|---|---|---:|---:|---:|---:|---:|---|",
        *rows])


def peak_rss_during(pid: int, cmd: list[str]) -> tuple[subprocess.CompletedProcess, int]:
    """Runs cmd and samples pid's RSS every 100 ms while it runs."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, b.rss_kib(pid))
        time.sleep(0.1)
    out, err = proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), peak


def scale(args: argparse.Namespace, tmp: Path, targets: list[b.Target]) -> str:
    rows = []
    for conns in SCALE:
        results: dict[str, dict] = {}
        for t in targets:
            b.wait_for_quiet(args)
            proc, _ = b.start(t, tmp)
            cmd = ["taskset", "-c", str(b.LOAD_CORE), "wrk", "-t1", f"-c{conns}",
                   f"-d{args.duration:g}s", f"http://127.0.0.1:{t.port}{b.PATH}"]
            run, peak = peak_rss_during(proc.pid, cmd)
            m = re.search(r"Requests/sec:\s+([\d.]+)", run.stdout)
            if run.returncode != 0 or not m:
                sys.exit(f"error: {' '.join(cmd)} failed:\n{run.stdout}{run.stderr}")
            errors = re.findall(r"Socket errors: .*|Non-2xx.*", run.stdout)
            results[t.name] = {"rps": float(m.group(1)), "rss": peak / 1024, "errors": errors}
            b.stop(t, proc)
            if t.log:
                t.log.unlink(missing_ok=True)
            print(f"  scale {conns:>6} {t.name:<18} {results[t.name]['rps']:>9,.0f} req/s "
                  f"peak RSS {peak / 1024:.1f} MiB {' '.join(errors)}", file=sys.stderr)
        cells = " | ".join(f"{r['rps']:,.0f} / {r['rss']:.1f}" for r in results.values())
        names = list(results)
        mt, hello = results[names[-1]], results[names[1]]
        rows.append(f"| {conns:,} | {cells} | {mt['rps'] / results['nginx']['rps']:.2f}× | "
                    f"{mt['rps'] / hello['rps']:.2f}× |")
    names = [t.name for t in targets]
    return "\n".join([
        f"Keep-alive connections held by `wrk -t1 -cN -d{args.duration:g}s` (core {b.LOAD_CORE}; "
        f"servers on core {b.SERVER_CORE}, one thread or worker): requests/s / peak RSS (MiB) "
        "during the run, one run each.",
        "",
        f"| connections | {' | '.join(names)} | {names[-1]} / nginx req/s | "
        f"{names[-1]} / {names[1]} req/s |",
        "|---:|" + "---:|" * (len(names) + 2),
        *rows])


def open_idle(port: int, count: int, request: bool) -> list[socket.socket]:
    """count connections; each sends one GET and reads its answer if `request`."""
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if request:
            s.sendall(b.GET)
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(4096)
        socks.append(s)
    return socks


def memory(args: argparse.Namespace, tmp: Path, configs: list[tuple[str, b.Target]]) -> str:
    rows = []
    for label, t in configs:
        silent = label.endswith("(silent)")
        per_conn, after = [], []
        for count in IDLE:
            b.wait_for_quiet(args)
            proc, _ = b.start(t, tmp)
            time.sleep(b.SETTLE_S)
            idle = b.rss_kib(proc.pid)
            socks = open_idle(t.port, count, request=not silent)
            time.sleep(IDLE_SETTLE_S)
            held = b.rss_kib(proc.pid)
            if "KEEPALIVE_TIMEOUT_MS=1000" in label:
                time.sleep(2.5)  # the server closes them itself
            for s in socks:
                s.close()
            time.sleep(1.0)
            closed = b.rss_kib(proc.pid)
            b.stop(t, proc)
            per_conn.append((held - idle) / count)
            after.append((closed - idle) / 1024)
            print(f"  memory {label:<42} {count:>6}: idle {idle / 1024:.2f} MiB, held "
                  f"{held / 1024:.2f} MiB ({(held - idle) / count:.2f} KiB each), closed "
                  f"{closed / 1024:.2f} MiB", file=sys.stderr)
        rows.append(f"| {label} | " + " | ".join(f"{k:.2f}" for k in per_conn) + " | "
                    + " | ".join(f"{a:+.2f}" for a in after) + " |")
    return "\n".join([
        "RSS per connection (KiB) at 1,000 and 10,000 connections that each sent one GET and "
        f"stay open, idle (silent: sent nothing), {IDLE_SETTLE_S:g} s after the last one opened, "
        "and RSS left over once they are closed, "
        "against the idle RSS before (MiB; nginx: master + worker). Servers on core "
        f"{b.SERVER_CORE}, one thread or worker. Goal: at most 8 KiB per idle connection, and "
        "back within 0.5 MiB of idle.",
        "",
        "| server | KiB/conn at 1,000 | at 10,000 | after closing 1,000 | after closing 10,000 |",
        "|---|---:|---:|---:|---:|",
        *rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    b.add_binary_args(ap)
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--pace", required=True, help="bench/pace, the constant-rate load generator")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the latency table")
    ap.add_argument("--duration", type=float, default=4, help="seconds per scale run")
    # A stall of the machine (tens of ms, see the README) moves a 4 s run's p99;
    # over 10 s each run sees several and the rounds agree better.
    ap.add_argument("--latency-duration", type=float, default=10,
                    help="seconds per constant-rate run")
    ap.add_argument("--only", default="latency,scale,memory")
    b.add_noise_args(ap)
    args = ap.parse_args()
    os.sched_setaffinity(0, {b.LOAD_CORE})
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: sys.exit(128 + signum))
    b.QUIET_WAIT_LEFT[0] = args.quiet_wait
    tmp = Path(tempfile.mkdtemp(prefix="moscow-time-stress."))
    tmp.chmod(0o755)
    try:
        run(args, tmp)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        b.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> None:
    one = {"TOKIO_WORKER_THREADS": "1"}
    mt = b.Target("moscow-time-musl", [os.path.abspath(args.server_musl)], env=one,
                  log=tmp / "access.log")
    hello = b.Target("hello-musl", [os.path.abspath(args.hello_musl)], env=one)
    proc, _ = b.start(mt, tmp)
    body = b.http_get(mt.port)[1]
    b.stop(mt, proc)
    only = args.only.split(",")
    if "latency" in only:
        nginx = b.nginx_target(args.nginx, tmp, body)
        print(latency(args, tmp, nginx, hello, mt), flush=True)
        print()
    if "scale" in only:
        nginx = b.nginx_target(args.nginx, tmp, body, connections=max(SCALE) + 100)
        print(scale(args, tmp, [nginx, hello, mt]), flush=True)
        print()
    if "memory" in only:
        nginx = b.nginx_target(args.nginx, tmp, body, connections=max(IDLE) + 100)

        def variant(name: str, exe: str, **env: str) -> tuple[str, b.Target]:
            label = name + "".join(f" {k}={v}" for k, v in env.items() if k in (
                "HELLO_MAX_BUF_SIZE", "HELLO_WRITEV")) + (
                " KEEPALIVE_TIMEOUT_MS=1000" if env.get("KEEPALIVE_TIMEOUT_MS") == "1000" else "")
            return label, b.Target(name, [os.path.abspath(exe)], env={**one, **env})

        configs = [
            ("nginx", nginx),
            variant("hello-musl", args.hello_musl),
            variant("hello-musl", args.hello_musl, HELLO_MAX_BUF_SIZE="8192"),
            variant("hello-musl", args.hello_musl, HELLO_WRITEV="0"),
            variant("hello-musl", args.hello_musl, HELLO_WRITEV="1"),
            variant("hello-glibc", args.hello),
            variant("moscow-time-musl", args.server_musl, **NO_TIMEOUTS),
            variant("moscow-time-glibc", args.server, **NO_TIMEOUTS),
            variant("moscow-time-musl", args.server_musl, **{**NO_TIMEOUTS,
                                                              "KEEPALIVE_TIMEOUT_MS": "1000"}),
        ]
        configs += [(f"{label} (silent)", t) for label, t in (
            ("hello-musl", b.Target("hello-musl", [os.path.abspath(args.hello_musl)], env=one)),
            variant("moscow-time-musl", args.server_musl, **NO_TIMEOUTS))]
        print(memory(args, tmp, configs), flush=True)
        print()


if __name__ == "__main__":
    main()
