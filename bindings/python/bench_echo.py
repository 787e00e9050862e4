#!/usr/bin/env python3
"""Echo benchmark: libws's asyncio binding against the `websockets` package.

Starts examples/python/echo_server.py (libws.asyncio) and
bench/peers/python-websockets/server.py (websockets) pinned to one CPU
(``taskset -c SERVER_CPU``), drives each with the project's load generator
pinned to another CPU, for every workload, ``--runs`` times, interleaving the
two servers, and prints the median msgs/s of each plus the ratio.

Usage (from anywhere; builds /tmp/loadgen with `go build` if missing):

    python3 bindings/python/bench_echo.py [--runs 3] [--duration 3s]
        [--workloads 100x20,10x1024,200x16384] [--server-cpu 0] [--loadgen-cpu 1]
        [--profile]   # cProfile the libws server during one 100x20 run

Each loadgen run is, e.g.:
    taskset -c 1 /tmp/loadgen -url ws://127.0.0.1:PORT/ -conns 100 -size 20 -duration 3s -json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SERVERS = {
    "libws (asyncio)": os.path.join(ROOT, "examples", "python", "echo_server.py"),
    "websockets": os.path.join(ROOT, "bench", "peers", "python-websockets", "server.py"),
}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def taskset(cpu: Optional[str]) -> List[str]:
    if cpu is None or cpu == "" or not shutil.which("taskset"):
        return []
    return ["taskset", "-c", cpu]


def start(script: str, cpu: Optional[str], extra_env: Optional[Dict[str, str]] = None,
          wrapper: Optional[List[str]] = None) -> Tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ)
    env.update(extra_env or {})
    cmd = taskset(cpu) + [sys.executable] + (wrapper or []) + [script, str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_listening(port, proc)
    return proc, port


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err.decode(errors="replace")


def loadgen_cmd(loadgen: str, cpu: Optional[str], port: int, conns: int, size: int, duration: str) -> List[str]:
    return taskset(cpu) + [loadgen, "-url", f"ws://127.0.0.1:{port}/", "-conns", str(conns),
                           "-size", str(size), "-duration", duration, "-json"]


def run_loadgen(cmd: List[str]) -> dict:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"loadgen failed ({r.returncode}): {r.stdout}\n{r.stderr}")
    if r.returncode != 0 or report.get("error"):
        raise RuntimeError(f"loadgen reported an error: {report.get('error')} {r.stderr}")
    return report


def ensure_loadgen(path: str) -> str:
    if os.path.exists(path):
        return path
    subprocess.run(["go", "build", "-o", path, "./bench/loadgen"], cwd=ROOT, check=True)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loadgen", default="/tmp/loadgen")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", default="3s")
    ap.add_argument("--workloads", default="100x20,10x1024,200x16384", help="CONNSxSIZE,...")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--loadgen-cpu", default="1")
    ap.add_argument("--only", choices=sorted(SERVERS), action="append", help="benchmark only these servers")
    ap.add_argument("--profile", action="store_true", help="cProfile the libws server under 100x20 and exit")
    args = ap.parse_args()

    loadgen = ensure_loadgen(args.loadgen)
    if args.profile:
        return profile(loadgen, args)
    workloads = [tuple(int(x) for x in w.split("x")) for w in args.workloads.split(",")]
    names = args.only or list(SERVERS)
    servers = {}
    try:
        for name in names:
            servers[name] = start(SERVERS[name], args.server_cpu)
        results: Dict[Tuple[str, Tuple[int, int]], List[dict]] = {}
        for conns, size in workloads:
            for run in range(args.runs):
                for name in names:  # interleaved, so that noise hits both
                    _, port = servers[name]
                    cmd = loadgen_cmd(loadgen, args.loadgen_cpu, port, conns, size, args.duration)
                    rep = run_loadgen(cmd)
                    results.setdefault((name, (conns, size)), []).append(rep)
                    print(f"  {name:16} {conns:4}x{size:<6} run {run + 1}: {rep['msgs_per_sec']:10.0f} msgs/s"
                          f"  p50 {rep['p50_us']:8.1f} us  p99 {rep['p99_us']:8.1f} us", file=sys.stderr, flush=True)
    finally:
        for name, (proc, _) in servers.items():
            stop(proc)

    print()
    print(f"median of {args.runs} runs, {args.duration} each; servers on CPU {args.server_cpu}, "
          f"loadgen on CPU {args.loadgen_cpu}")
    head = "| workload (conns x bytes) | " + " | ".join(f"{n} msgs/s" for n in names)
    if len(names) == 2:
        head += " | ratio"
    print(head + " |")
    print("|" + "---|" * (len(names) + 1 + (len(names) == 2)))
    for conns, size in workloads:
        meds = [statistics.median(r["msgs_per_sec"] for r in results[(n, (conns, size))]) for n in names]
        row = f"| {conns} x {size} | " + " | ".join(f"{m:,.0f}" for m in meds)
        if len(names) == 2:
            row += f" | {meds[0] / meds[1]:.1f}x"
        print(row + " |")
    return 0


def profile(loadgen: str, args: argparse.Namespace) -> int:
    out = "/tmp/libws_echo.prof"
    proc, port = start(SERVERS["libws (asyncio)"], args.server_cpu,
                       wrapper=["-m", "cProfile", "-o", out])
    try:
        rep = run_loadgen(loadgen_cmd(loadgen, args.loadgen_cpu, port, 100, 20, args.duration))
        print(f"under cProfile: {rep['msgs_per_sec']:.0f} msgs/s")
    finally:
        stop(proc)
    import pstats

    pstats.Stats(out).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
