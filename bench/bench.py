#!/usr/bin/env python3
"""moscow-time against tuned nginx and a bare hyper server; run via bench/run.sh.

Each round starts every server fresh, pinned to core 1 (wrk and this script
run on core 0), in the order nginx, hello, moscow-time, so that drift on this
shared machine hits all three alike. Per server and round it measures:

  start     spawn -> first 200 on the endpoint (tight connect/GET loop)
  idle RSS  VmRSS after that first 200 and a short settle, before any load
  req/s     wrk -t1 -c64 --latency after a 1 s warm-up; p50/p99 from --latency
  load RSS  VmRSS right after the 64-connection run
  stop      SIGTERM (nginx: SIGQUIT, its graceful stop) -> process reaped

and prints the medians as a markdown table with the goals marked PASS/MISS.
Only the python3 standard library is used.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

LOAD_CORE = 0  # wrk and this script
SERVER_CORE = 1  # the server under test
PATH = "/api/time"
# One keep-alive GET of PATH, as the scripts that speak HTTP themselves send it.
GET = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
SETTLE_S = 0.3  # let the server go idle before reading RSS or stopping it

# Every process this script started and has not reaped yet, for cleanup.
LIVE: set[subprocess.Popen] = set()


@dataclass
class Target:
    """One server under test."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stop_signal: signal.Signals = signal.SIGTERM
    # Called with the port before each start (nginx: writes its config).
    prepare: Callable[[int], None] | None = None
    # Where its stdout goes (moscow-time's access log, as in production).
    log: Path | None = None
    # The cores it may run on.
    cores: frozenset[int] = frozenset({1})
    # Set up by `start`.
    port: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str = PATH, timeout: float = 2.0) -> tuple[bytes, bytes]:
    """One GET with Connection: close; returns (status line + headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", body


def is_200(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            return s.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def start(t: Target, tmp: Path) -> tuple[subprocess.Popen, float]:
    """Spawns the target and returns it with the ms from spawn to first 200."""
    t.port = free_port()
    env = {**os.environ, **t.env, "PORT": str(t.port), "HOST": "127.0.0.1"}
    if t.prepare:
        t.prepare(t.port)
    out = open(t.log or os.devnull, "wb")  # noqa: SIM115 (closed right below)
    err = open(tmp / f"{t.name}.stderr", "ab")  # noqa: SIM115
    t0 = time.perf_counter()
    proc = subprocess.Popen(t.argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            preexec_fn=lambda: os.sched_setaffinity(0, t.cores))  # as taskset
    LIVE.add(proc)
    out.close()
    err.close()
    while not is_200(t.port):
        if proc.poll() is not None:
            LIVE.discard(proc)
            sys.exit(f"error: {t.name} exited with {proc.returncode} before answering 200 on "
                     f"{PATH}; its stderr:\n{(tmp / f'{t.name}.stderr').read_text()[-2000:]}")
        if time.perf_counter() - t0 > START_TIMEOUT_S:
            sys.exit(f"error: {t.name} gave no 200 on {PATH} within {START_TIMEOUT_S:.0f} s")
    return proc, (time.perf_counter() - t0) * 1000


def stop(t: Target, proc: subprocess.Popen) -> tuple[float, int]:
    """Sends the stop signal and returns (ms until the process is gone, exit code)."""
    pidfd = os.pidfd_open(proc.pid)
    try:
        t0 = time.perf_counter()
        os.kill(proc.pid, t.stop_signal)
        # A pidfd turns readable the moment the process exits: exact, and bounded.
        if not select.select([pidfd], [], [], STOP_TIMEOUT_S)[0]:
            sys.exit(f"error: {t.name} still running {STOP_TIMEOUT_S:.0f} s after {t.stop_signal.name}")
        elapsed = (time.perf_counter() - t0) * 1000
    finally:
        os.close(pidfd)
    rc = proc.wait()
    LIVE.discard(proc)
    return elapsed, rc


def descendants(pid: int) -> list[int]:
    """pid and all its descendants (nginx: master and worker)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, []))
    return found


def rss_kib(pid: int) -> int:
    """VmRSS of pid plus its descendants, in KiB."""
    total = 0
    for p in descendants(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        if m := re.search(r"^VmRSS:\s+(\d+) kB", status, re.M):
            total += int(m.group(1))
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of pid and its descendants, all threads, in seconds."""
    ticks = 0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def core_times() -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies per core from /proc/stat."""
    cores = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if m := re.match(r"cpu(\d+) (.*)", line):
            v = [int(x) for x in m.group(2).split()]
            idle = v[3] + v[4]  # idle + iowait
            cores[int(m.group(1))] = (sum(v[:8]) - idle, sum(v[:8]))
    return cores


def busy_pct(before: dict, after: dict, core: int) -> float:
    busy, total = (a - b for a, b in zip(after[core], before[core]))
    return 100 * busy / total if total else 0.0


def busy_seconds(before: dict, after: dict, cores: set[int]) -> float:
    return sum(after[c][0] - before[c][0] for c in cores) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of this script's reaped children (wrk)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(port: int, seconds: float, connections: int, latency: bool = True,
        cores: str = str(LOAD_CORE)) -> dict:
    cmd = ["taskset", "-c", cores, "wrk", "-t1", f"-c{connections}",
           f"-d{seconds}s", f"http://127.0.0.1:{port}{PATH}"]
    if latency:
        cmd.insert(-1, "--latency")
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{run.stdout}{run.stderr}")
    out = run.stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "raw": out}
    for pct in ("50", "99"):
        if m := re.search(rf"^\s+{pct}(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
            result[f"p{pct}"] = float(m.group(1)) * UNITS_MS[m.group(2)]
    problems = re.findall(r"^\s*(Non-2xx or 3xx responses: \d+|Socket errors: .*)$", out, re.M)
    result["problems"] = problems
    return result


def run_once(t: Target, tmp: Path, args: argparse.Namespace, first: bool) -> dict:
    proc, start_ms = start(t, tmp)
    m: dict = {"start_ms": start_ms}
    if first:
        head, body = http_get(t.port)
        m["head_bytes"], m["body_bytes"] = len(head), len(body)
        m["head"] = head.decode(errors="replace")
    time.sleep(SETTLE_S)
    m["idle_rss"] = rss_kib(proc.pid)
    if args.warmup > 0:
        wrk(t.port, args.warmup, args.connections, latency=False, cores=args.load_cores)
    cpu_before, cores_before, wrk_before = cpu_seconds(proc.pid), core_times(), children_cpu()
    w = wrk(t.port, args.duration, args.connections, cores=args.load_cores)
    cpu, cores_after = cpu_seconds(proc.pid) - cpu_before, core_times()
    wrk_cpu = children_cpu() - wrk_before
    # How busy each core was: the load core near 100% means wrk was the limit;
    # the server core well above the server's own CPU means something else ran
    # there (softirq work of loopback is part of it, other jobs the rest).
    m["load_core_pct"] = busy_pct(cores_before, cores_after, LOAD_CORE)
    m["server_core_pct"] = busy_pct(cores_before, cores_after, SERVER_CORE)
    # CPU on the two cores that neither the server nor wrk used: other jobs on
    # this shared machine, plus some unattributed loopback softirq work.
    both = busy_seconds(cores_before, cores_after, {LOAD_CORE, SERVER_CORE})
    m["foreign_pct"] = max(0.0, 100 * (both - cpu - wrk_cpu) / args.duration)
    m.update(rps=w["rps"], p50=w.get("p50"), p99=w.get("p99"), problems=w["problems"])
    # The one wrk thread can saturate its core before the server does; the
    # server's own CPU use shows how much headroom it had.
    m["cpu_pct"] = 100 * cpu / args.duration
    m["req_per_cpu_ms"] = w["rps"] * args.duration / cpu / 1000 if cpu else None
    time.sleep(SETTLE_S)
    m["load_rss"] = rss_kib(proc.pid)
    m["stop_ms"], m["rc"] = stop(t, proc)
    if t.log:
        t.log.unlink(missing_ok=True)  # hundreds of MB of access log per run
    return m


QUIET_WAIT_LEFT = [0.0]  # seconds of --quiet-wait budget left, set in main


def wait_for_quiet(args: argparse.Namespace, most: float = 15.0) -> None:
    """Waits (within --quiet-wait in total, 15 s at a time) until other jobs use
    less than --max-noise % of a core on the two cores for half a second."""
    deadline = time.monotonic() + min(most, QUIET_WAIT_LEFT[0])
    started = time.monotonic()
    while True:
        before = core_times()
        time.sleep(0.5)
        busy = busy_seconds(before, core_times(), {LOAD_CORE, SERVER_CORE}) / 0.5
        if 100 * busy <= args.max_noise or time.monotonic() >= deadline:
            break
    QUIET_WAIT_LEFT[0] = max(0.0, QUIET_WAIT_LEFT[0] - (time.monotonic() - started - 0.5))


def measure(t: Target, tmp: Path, args: argparse.Namespace, first: bool) -> dict:
    """run_once in a quiet moment, repeated (up to --retries times) while other
    jobs took more than --max-noise % of a core during the load: this machine
    is shared."""
    best: dict | None = None
    for attempt in range(args.retries + 1):
        wait_for_quiet(args)
        m = run_once(t, tmp, args, first)
        if best is None or m["foreign_pct"] < best["foreign_pct"]:
            best = m
        if m["foreign_pct"] <= args.max_noise:
            break
        if attempt < args.retries:
            print(f"  ({t.name}: other jobs took {m['foreign_pct']:.0f}% of a core; "
                  f"running again)", file=sys.stderr)
    best["attempts"] = attempt + 1  # the least noisy attempt is kept
    return best


NGINX_CONF = """\
# Tuned the usual way for a static file: one worker, no access log,
# sendfile + tcp_nopush, cached open fds, long keep-alive.
daemon off;            # stay in the foreground: we time the master's pid
master_process on;     # master + 1 worker, as in production
worker_processes {workers};
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;

worker_rlimit_nofile {rlimit};

events {{
    worker_connections {connections};
    multi_accept on;
}}

http {{
    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_min_uses 1;
    open_file_cache_errors on;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ }}
    default_type application/json;

    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
    }}
}}
"""


def nginx_target(nginx: str, tmp: Path, body: bytes, workers: int = 1,
                 connections: int = 1024) -> Target:
    """nginx serving `body` at PATH, its config written for each start's port."""
    root = tmp / "nginx"
    (root / "www" / PATH.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (root / "www" / PATH.lstrip("/")).write_bytes(body)
    user = "user root;" if os.geteuid() == 0 else ""  # else the worker runs as nobody

    def write_conf(port: int) -> None:
        (root / "nginx.conf").write_text(NGINX_CONF.format(
            tmp=root, user=user, port=port, workers=workers, connections=connections,
            rlimit=connections + 64))

    argv = [nginx, "-p", f"{root}/", "-e", f"{root}/error.log", "-c", f"{root}/nginx.conf"]
    return Target("nginx", argv, stop_signal=signal.SIGQUIT, prepare=write_conf)


# (label, key, format, goal, check on (moscow-time's value, its ratio to nginx,
# its ratio to bare hyper)); moscow-time and hello are the musl builds when given.
ROWS = [
    ("requests/s", "rps", "{:,.0f}", "≥ 1.4× nginx, ≥ 0.9× hello",
     lambda mt, rn, rh: rn >= 1.4 and rh >= 0.9),
    ("server CPU under load (% of a core)", "cpu_pct", "{:.0f}", "", None),
    ("requests per server CPU-ms", "req_per_cpu_ms", "{:.1f}", "", None),
    ("latency p50 (ms)", "p50", "{:.3f}", "", None),
    ("latency p99 (ms)", "p99", "{:.3f}", "", None),
    ("idle RSS (MiB)", "idle_rss", "{:.2f}", "≤ 1.0 MiB", lambda mt, rn, rh: mt <= 1.0),
    ("RSS after load (MiB)", "load_rss", "{:.2f}", "≤ 1.5× hello", lambda mt, rn, rh: rh <= 1.5),
    ("start to first 200 (ms)", "start_ms", "{:.1f}", "≤ 1.2× hello", lambda mt, rn, rh: rh <= 1.2),
    ("SIGTERM to exit (ms)", "stop_ms", "{:.1f}", "< 50 ms", lambda mt, rn, rh: mt < 50),
]

def median(results: list[dict], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    if not values:
        return None
    value = statistics.median(values)
    return value / 1024 if key.endswith("_rss") else value


def paired_ratio(results: dict[str, list[dict]], key: str, a: str, b: str) -> float | None:
    """Median over rounds of a/b within each round: the servers of one round ran
    seconds apart, so this cancels the drift between rounds better than a
    ratio of medians."""
    ratios = [ra[key] / rb[key] for ra, rb in zip(results[a], results[b])
              if ra.get(key) is not None and rb.get(key)]
    return statistics.median(ratios) if ratios else None


def fmt_ratio(r: float | None) -> str:
    return f"{r:.2f}×" if r is not None else "—"


def table(results: dict[str, list[dict]], sizes: dict[str, int], mt: str, hello: str) -> str:
    """One row per measure, one column per server, then the ratios: `mt` and
    `hello` are the builds the goals are about (musl when measured)."""
    names = list(results)
    pairs = [(mt, "nginx"), (mt, hello)]
    pairs += [(f"{n}-musl", f"{n}-glibc") for n in ("moscow-time", "hello")
              if f"{n}-musl" in results and f"{n}-glibc" in results]
    lines = ["| | " + " | ".join(names) + " | " + " | ".join(f"{a} / {b}" for a, b in pairs)
             + " | goal | |",
             "|---|" + "---:|" * (len(names) + len(pairs)) + "---|---|"]
    for label, key, fmt, goal, check in ROWS:
        med = {n: median(results[n], key) for n in names}
        cells = [fmt.format(med[n]) if med[n] is not None else "—" for n in names]
        ratios = [paired_ratio(results, key, a, b) for a, b in pairs]
        verdict = ""
        if check and None not in (med[mt], ratios[0], ratios[1]):
            # Judged on the ratios as printed, so a 1.40× never reads MISS.
            ok = check(med[mt], round(ratios[0], 2), round(ratios[1], 2))
            verdict = "PASS" if ok else "MISS"
        lines.append(f"| {label} | {' | '.join(cells)} | "
                     f"{' | '.join(fmt_ratio(r) for r in ratios)} | {goal} | {verdict} |")
    cells = [f"{sizes[n]:,}" if n in sizes else "n/a (dynamic)" for n in names]
    ratios = [fmt_ratio(sizes[a] / sizes[b]) if a in sizes and b in sizes else "—" for a, b in pairs]
    lines.append(f"| binary (bytes) | {' | '.join(cells)} | {' | '.join(ratios)} | | |")
    return "\n".join(lines)


def per_round(results: dict[str, list[dict]], key: str, fmt: str) -> str:
    return "; ".join(f"{n} " + ", ".join(fmt.format(r[key]) for r in rs) for n, rs in results.items())


def sh(*cmd: str) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def cleanup() -> None:
    for proc in list(LIVE):
        for pid in reversed(descendants(proc.pid)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        LIVE.discard(proc)


def add_binary_args(ap: argparse.ArgumentParser, musl_required: bool = True) -> None:
    """The four Rust servers every bench script measures, built both ways."""
    ap.add_argument("--server", required=True, help="moscow-time (static glibc)")
    ap.add_argument("--hello", required=True, help="examples/hello (static glibc)")
    ap.add_argument("--server-musl", required=musl_required,
                    help="moscow-time (static-pie musl, the one the images ship)")
    ap.add_argument("--hello-musl", required=musl_required,
                    help="examples/hello (static-pie musl)")


def add_noise_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--max-noise", type=float, default=10,
                    help="%% of a core other jobs may take during a run before it is redone")
    ap.add_argument("--retries", type=int, default=1, help="redos of a noisy run, at most")
    ap.add_argument("--quiet-wait", type=float, default=90,
                    help="seconds to wait in all, at most, for other jobs to go quiet before runs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_binary_args(ap, musl_required=False)
    ap.add_argument("--workers", default="1,2",
                    help="runtime worker threads to measure with, comma-separated (1: server on "
                         "core 1, wrk on core 0; more: both on both cores)")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=4, help="seconds per measured wrk run")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each run, or 0")
    ap.add_argument("--connections", type=int, default=64)
    add_noise_args(ap)
    args = ap.parse_args()

    if not {LOAD_CORE, SERVER_CORE} <= os.sched_getaffinity(0):
        sys.exit(f"error: the bench needs cores {LOAD_CORE} and {SERVER_CORE}; "
                 f"this process may use {sorted(os.sched_getaffinity(0))}")
    for exe in (args.server, args.hello, args.nginx, args.server_musl, args.hello_musl):
        if exe and not os.access(exe, os.X_OK):
            sys.exit(f"error: {exe} is not an executable file")
    os.sched_setaffinity(0, {LOAD_CORE})

    # Turn SIGTERM/SIGHUP into an exception so the finally below cleans up.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: sys.exit(128 + signum))
    QUIET_WAIT_LEFT[0] = args.quiet_wait
    tmp = Path(tempfile.mkdtemp(prefix="moscow-time-bench."))
    tmp.chmod(0o755)  # nginx's worker reads www/ below it
    try:
        bench(args, tmp)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def bench(args: argparse.Namespace, tmp: Path) -> None:
    # glibc first, then musl: the builds to compare, named by their libc.
    builds = [("hello-glibc", args.hello, None), ("hello-musl", args.hello_musl, None),
              ("moscow-time-glibc", args.server, "access.log"),
              ("moscow-time-musl", args.server_musl, "access.log")]
    builds = [(name, os.path.abspath(exe), log) for name, exe, log in builds if exe]
    mt = "moscow-time-musl" if args.server_musl else "moscow-time-glibc"
    hello = "hello-musl" if args.hello_musl else "hello-glibc"

    # One real /api/time body, fetched with curl, sizes nginx's file.
    probe = Target(mt, [os.path.abspath(args.server_musl or args.server)])
    proc, _ = start(probe, tmp)
    body = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{probe.port}{PATH}"],
                          capture_output=True, check=True).stdout
    stop(probe, proc)
    sizes = {name: os.path.getsize(exe) for name, exe, _ in builds}
    workers = [int(w) for w in args.workers.split(",")]
    per_run = args.warmup + args.duration + 2 * SETTLE_S + 0.2
    print(f"bench: {len(workers)} thread counts x {args.rounds} rounds x {len(builds) + 1} "
          f"servers, wrk -t1 -c{args.connections} -d{args.duration:g}s --latency after "
          f"{args.warmup:g} s warm-up, "
          f"~{len(workers) * args.rounds * (len(builds) + 1) * per_run / 60:.1f} min",
          file=sys.stderr)
    all_results = []
    for threads in workers:
        cores = frozenset({SERVER_CORE}) if threads == 1 else frozenset({LOAD_CORE, SERVER_CORE})
        args.load_cores = str(LOAD_CORE) if threads == 1 else f"{LOAD_CORE},{SERVER_CORE}"
        targets = [nginx_target(args.nginx, tmp, body, workers=threads)]
        targets += [Target(name, [exe], env={"TOKIO_WORKER_THREADS": str(threads)},
                           log=tmp / log if log else None) for name, exe, log in builds]
        for t in targets:
            t.cores = cores
        results: dict[str, list[dict]] = {t.name: [] for t in targets}
        for rnd in range(args.rounds):
            for t in targets:
                m = measure(t, tmp, args, first=rnd == 0)
                results[t.name].append(m)
                warn = f"  WARNING: {', '.join(m['problems'])}" if m["problems"] else ""
                if m["rc"] != 0:
                    warn += f"  WARNING: exit code {m['rc']}"
                print(f"  {threads} thread(s), round {rnd + 1}/{args.rounds} {t.name:<18} "
                      f"{m['rps']:>10,.0f} req/s  cpu {m['cpu_pct']:3.0f}% (wrk's core "
                      f"{m['load_core_pct']:3.0f}%, others {m['foreign_pct']:3.0f}%)  "
                      f"p99 {m['p99']:.3f} ms  idle {m['idle_rss'] / 1024:.2f} MiB{warn}",
                      file=sys.stderr)
        all_results.append((threads, results))

    for threads, results in all_results:
        print()
        where = (f"each server pinned to core {SERVER_CORE}, wrk to core {LOAD_CORE}"
                 if threads == 1 else "servers and wrk on both cores")
        print(f"**{threads} runtime worker thread(s)** (nginx: {threads} worker process(es)); "
              f"{where}:")
        print()
        print(table(results, sizes, mt, hello))
    first = all_results[0][1]
    print()
    print(f"Medians of {args.rounds} interleaved rounds per thread count on {cpu_model()}, "
          f"{platform.system()} {platform.release()}; `wrk -t1 -c{args.connections} "
          f"-d{args.duration:g}s --latency` after a {args.warmup:g} s warm-up, all on GET {PATH} "
          f"over loopback. Ratios are the median of the per-round ratios (each round's servers "
          f"ran seconds apart), so they can differ a little from the ratio of the medians.")
    print()
    print("- moscow-time: its access log on, stdout to a file; idle = after the first 200. "
          "glibc: `+crt-static`; musl: static-pie, std built from source (musl/build.sh); "
          "both the release profile. Threads: TOKIO_WORKER_THREADS.")
    print("- hello: examples/hello.rs, a bare hyper 1.x http1 server, 200 \"Hello, World!\" "
          "to everything; same profile, both ways.")
    print(f"- nginx: {sh(args.nginx, '-v')} (Debian), master + workers, access_log off, "
          f"sendfile, tcp_nopush, open_file_cache, keepalive_requests 1000000, serving a "
          f"{first['nginx'][0]['body_bytes']}-byte file (one real /api/time body). RSS is master "
          f"+ workers; stop is SIGQUIT (graceful, like our SIGTERM drain) to the master.")
    print("- response bytes (headers + body): " + ", ".join(
        f"{n} {rs[0]['head_bytes']} + {rs[0]['body_bytes']}" for n, rs in first.items()) + ".")
    every = [r for _, results in all_results for rs in results.values() for r in rs]
    foreign = statistics.median(r["foreign_pct"] for r in every)
    redone = sum(r["attempts"] - 1 for r in every)
    print(f"- noise: during the median run, other work took {foreign:.0f}% of a core on the two "
          f"cores used (other jobs on this shared machine, unattributed softirq); {redone} "
          f"run(s) were redone because others took over {args.max_noise:g}%, and "
          f"{args.quiet_wait - QUIET_WAIT_LEFT[0]:.0f} s were spent waiting for quiet moments.")
    for threads, results in all_results:
        print(f"- requests/s per round, {threads} thread(s): "
              f"{per_round(results, 'rps', '{:,.0f}')}.")
    print(f"- {sh('rustc', '-V')}, {sh('wrk', '-v')}.")
    print()
    print("Goals are informational: a MISS does not fail the bench.")


if __name__ == "__main__":
    main()
