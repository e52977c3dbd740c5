"""Server load: C concurrent clients sending text queries to ``xmodal serve`` on loopback.

Starts ``xmodal serve`` on a free 127.0.0.1 port over the ``bench/dataset.py`` data directory
(real MiniLM; random-weight ViT-B-32 via ``XMODAL_CLIP_CHECKPOINT``), waits for ``/readyz``,
then runs ``--clients`` threads, each with its own HTTP connection, sending
``GET /api/search?q=...`` back to back. Every request carries a query no other request sent
(the first words of distinct indexed chunks, each client its own slice), so the engine's
recent-query cache never answers and every request runs both encoders. The loop is bounded
twice: it stops at the deadline (``--seconds``) and after ``--max-requests`` per client, so it
always ends by itself. Reports throughput, the server's CPU time per request (on a machine
shared with other work, wall-clock throughput measures the CPU share the server got; CPU per
request measures its own cost, and 2 cores / it is the throughput two free cores would give),
p50/p99 latency, every non-200 answer and exception, and the server's peak RSS (``VmHWM``).
The server is stopped with SIGTERM at the end.

    python -m bench.server_load --parts 100000 --clients 16 --seconds 30
    python -m bench.server_load --clients 1 16 --runtimes torch onnx --precision fp32

With several ``--runtimes`` every server is started (all warm) and the load alternates
between them in ``--rounds`` phases, each server sent the same queries, so all see the same
machine load; throughput is compared with the first runtime's.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from bench import corpus, dataset
from bench.machine import describe


def settings_of(spec: str) -> dict[str, str]:
    """``A=1,B=x,y`` as {A: 1, B: "x,y"}: a piece without ``=`` continues the value before."""
    out: dict[str, str] = {}
    name = ""
    for piece in filter(None, spec.split(",")):
        if "=" in piece:
            name, _, value = piece.partition("=")
            out[name] = value
        elif name:
            out[name] += "," + piece
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status_mb(pid: int) -> dict[str, float]:
    """The kB fields of a live process's ``/proc/<pid>/status`` (VmHWM, RssAnon, ...), in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            out[key] = int(value.split()[0]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a live process, in MB."""
    return proc_status_mb(pid).get("VmHWM", float("nan"))


def start_server(data_dir: Path, port: int, threads: int,
                 extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``xmodal serve`` as a child process, ready when ``/readyz`` answers (≤ 300 s).

    The per-client search rate limit is off: every client of this benchmark is 127.0.0.1.
    """
    env = dict(os.environ, XMODAL_CLIP_CHECKPOINT=str(dataset.clip_checkpoint()),
               XMODAL_DEVICE="cpu", OMP_NUM_THREADS=str(threads), XMODAL_SEARCH_PER_SECOND="0",
               **(extra_env or {}))
    exe = Path(sys.executable).with_name("xmodal")
    proc = subprocess.Popen([str(exe), "--data", str(data_dir), "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not become ready in 300 s")


def client(base: str, queries: list[str], deadline: float, max_requests: int,
           latencies: list[float], statuses: Counter[str], lock: threading.Lock) -> None:
    """Send ``queries`` back to back until the deadline, ``max_requests`` or the last one."""
    mine, codes = [], Counter[str]()
    with httpx.Client(base_url=base, timeout=60) as http:
        for q in queries[:max_requests]:
            if time.monotonic() >= deadline:
                break
            t = time.perf_counter()
            try:
                r = http.get("/api/search", params={"q": q, "limit": 20})
                codes[str(r.status_code)] += 1
            except httpx.HTTPError as exc:
                codes[type(exc).__name__] += 1
                continue
            mine.append((time.perf_counter() - t) * 1000)
    with lock:
        latencies.extend(mine)
        statuses.update(codes)


@dataclass
class Tally:
    """What one server answered at one client count, over all its phases."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0
    cpu: float = 0.0  # the server's CPU seconds during the phases

    def phase(self, server: int, base: str, queries: list[str], clients: int, seconds: float,
              max_requests: int) -> None:
        """``clients`` threads, each its own connection and slice of ``queries``, for
        ``seconds``; ``server`` is the serving process's id."""
        lock = threading.Lock()
        cpu = cpu_seconds(server)
        deadline = time.monotonic() + seconds
        t = time.perf_counter()
        workers = [threading.Thread(target=client, args=(
            base, queries[i::clients], deadline, max_requests, self.latencies, self.statuses,
            lock)) for i in range(clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        self.wall += time.perf_counter() - t
        self.cpu += cpu_seconds(server) - cpu

    def row(self, name: str, clients: int, base: Tally | None, rss: float) -> str:
        lat = np.asarray(self.latencies or [float("nan")])
        ok = self.statuses.get("200", 0)
        rate = ok / self.wall
        ratio = f"{rate / (base.statuses.get('200', 0) / base.wall):.2f}x" if base else "1.00x"
        cpu_ms = self.cpu / max(ok, 1) * 1000
        cpu_ratio = (f"{(base.cpu / max(base.statuses.get('200', 0), 1) * 1000) / cpu_ms:.2f}x"
                     if base else "1.00x")
        return (f"| {name} | {clients} | {sum(self.statuses.values())} | "
                f"{sum(self.statuses.values()) - ok} | {rate:.1f} | {ratio} | "
                f"{cpu_ms:.0f} | {cpu_ratio} | {self.cpu / self.wall:.2f} | "
                f"{np.percentile(lat, 50):.0f} | {np.percentile(lat, 95):.0f} | "
                f"{np.percentile(lat, 99):.0f} | {rss:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=100_000)
    parser.add_argument("--clients", type=int, nargs="+", default=[16])
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="per server and client count, split over the rounds")
    parser.add_argument("--rounds", type=int, default=3,
                        help="phases per server, alternating between the servers")
    parser.add_argument("--max-requests", type=int, default=5000, help="per client and phase")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--runtimes", nargs="+", default=["auto"],
                        help="one server per XMODAL_QUERY_RUNTIME (torch, onnx, auto), all up "
                             "at once; the first is the ratios' base. RUNTIME@DIR runs the "
                             "code checked out in DIR (e.g. torch@/path/to/main: today's path); "
                             "RUNTIME,NAME=VALUE adds a setting for that server alone "
                             "(onnx,XMODAL_QUERY_INT8=text)")
    parser.add_argument("--precision", help="XMODAL_PRECISION for every server (fp32 stands "
                                            "in for an AVX2 CPU, where auto is fp32)")
    parser.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="more settings for every server, e.g. XMODAL_QUERY_INT8=text")
    parser.add_argument("--data", type=Path, default=corpus.CACHE / "data-{parts}")
    args = parser.parse_args()
    data_dir = Path(str(args.data).format(parts=args.parts))
    dataset.build(data_dir, args.parts,
                  clip_name=dataset.clip_space_name(dataset.clip_checkpoint()))
    _b, _q, texts = corpus.load()
    queries = list(dict.fromkeys(corpus.query_text(t) for t in texts))
    common = dict(item.split("=", 1) for item in args.env)
    if args.precision:
        common["XMODAL_PRECISION"] = args.precision
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    tallies: dict[tuple[str, int], Tally] = {}
    rss: dict[str, float] = {}
    try:
        for rt in args.runtimes:
            port = free_port()
            t = time.perf_counter()
            spec, _, own = rt.partition(",")
            runtime, _, code = spec.partition("@")
            env = {**common, "XMODAL_QUERY_RUNTIME": runtime, **settings_of(own)}
            if code:
                env["PYTHONPATH"] = str(Path(code).resolve())
            proc = start_server(data_dir, port, args.threads, env)
            base = f"http://127.0.0.1:{port}"
            servers[rt] = (proc, base)
            for q in ("warm up", "warm up two", "warm up three", "warm up four"):
                httpx.get(f"{base}/api/search", params={"q": q}, timeout=120).raise_for_status()
            print(f"{rt} server ready in {time.perf_counter() - t:.1f}s")
        # Every server gets the same queries; no server sees a query twice (its cache).
        used = 0
        for clients in args.clients:
            for n in range(args.rounds):
                chunk = queries[used:used + args.max_requests * clients]
                order = args.runtimes if n % 2 == 0 else args.runtimes[::-1]
                most = 0
                for rt in order:
                    tally = tallies.setdefault((rt, clients), Tally())
                    before = len(tally.latencies)
                    tally.phase(servers[rt][0].pid, servers[rt][1], chunk, clients,
                                args.seconds / args.rounds, args.max_requests)
                    most = max(most, len(tally.latencies) - before)
                used += most
        rss = {rt: peak_rss_mb(proc.pid) for rt, (proc, _b) in servers.items()}
    finally:
        for proc, _base in servers.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _base in servers.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"\n## Server load: {', '.join(map(str, args.clients))} clients, "
          f"{args.seconds:.0f} s per server and client count in {args.rounds} alternating "
          f"phases, {args.parts:,} parts\n{describe()}; settings {common or 'default'}\n")
    print("| query runtime | clients | requests | errors | throughput req/s | vs first "
          "| server CPU ms/request | requests per CPU-second vs first | server cores busy "
          "| p50 ms | p95 ms | p99 ms | server peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for clients in args.clients:
        first = tallies[(args.runtimes[0], clients)]
        for rt in args.runtimes:
            tally = tallies[(rt, clients)]
            print(tally.row(rt, clients, None if rt == args.runtimes[0] else first, rss[rt]))
    for (rt, clients), tally in tallies.items():
        print(f"status counts, {rt} at {clients} clients: {dict(tally.statuses)}")


if __name__ == "__main__":
    main()
