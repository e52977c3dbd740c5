"""Server load: C concurrent clients sending text queries to ``xmodal serve`` on loopback.

Starts ``xmodal serve`` on a free 127.0.0.1 port over the ``bench/dataset.py`` data directory
(real MiniLM; random-weight ViT-B-32 via ``XMODAL_CLIP_CHECKPOINT``), waits for ``/healthz``,
then runs ``--clients`` threads, each with its own HTTP connection, sending
``GET /api/search?q=...`` back to back. Every request carries a query no other request sent
(the first words of distinct indexed chunks, each client its own slice), so the engine's
recent-query cache never answers and every request runs both encoders. The loop is bounded
twice: it stops at the deadline (``--seconds``) and after ``--max-requests`` per client, so it
always ends by itself. Reports throughput, p50/p99 latency, every non-200 answer and
exception, and the server's peak RSS (``VmHWM``). The server is stopped with SIGTERM at the end.

    python -m bench.server_load --parts 100000 --clients 16 --seconds 30
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
from pathlib import Path

import httpx
import numpy as np

from bench import corpus, dataset
from bench.machine import describe


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


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a live process, in MB."""
    return proc_status_mb(pid).get("VmHWM", float("nan"))


def start_server(data_dir: Path, port: int, threads: int) -> subprocess.Popen[bytes]:
    """``xmodal serve`` as a child process, ready when ``/healthz`` answers (≤ 180 s)."""
    env = dict(os.environ, XMODAL_CLIP_CHECKPOINT=str(dataset.clip_checkpoint()),
               XMODAL_DEVICE="cpu", OMP_NUM_THREADS=str(threads))
    exe = Path(sys.executable).with_name("xmodal")
    proc = subprocess.Popen([str(exe), "--data", str(data_dir), "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not become healthy in 180 s")


def client(base: str, queries: list[str], deadline: float, max_requests: int,
           latencies: list[float], statuses: Counter[str], lock: threading.Lock) -> None:
    """Send ``queries`` back to back until the deadline, ``max_requests`` or the last one."""
    mine, codes = [], Counter[str]()
    with httpx.Client(base_url=base, timeout=30) as http:
        for i in range(max_requests):
            if time.monotonic() >= deadline:
                break
            if i >= len(queries):
                break
            q = queries[i]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-requests", type=int, default=5000, help="per client")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--data", type=Path, default=corpus.CACHE / "data-{parts}")
    args = parser.parse_args()
    data_dir = Path(str(args.data).format(parts=args.parts))
    dataset.build(data_dir, args.parts,
                  clip_name=dataset.clip_space_name(dataset.clip_checkpoint()))
    _b, _q, texts = corpus.load()
    queries = list(dict.fromkeys(corpus.query_text(t) for t in texts))
    port = free_port()
    t = time.perf_counter()
    server = start_server(data_dir, port, args.threads)
    base = f"http://127.0.0.1:{port}"
    try:
        print(f"server up in {time.perf_counter() - t:.1f}s")
        warm = httpx.get(f"{base}/api/search", params={"q": "warm up"}, timeout=120)
        warm.raise_for_status()
        for q in ("warm up two", "warm up three", "warm up four"):
            httpx.get(f"{base}/api/search", params={"q": q}, timeout=60)
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds
        t = time.perf_counter()
        workers = [threading.Thread(target=client, args=(
            base, queries[i::args.clients], deadline, args.max_requests, latencies, statuses,
            lock))
            for i in range(args.clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - t
        rss = peak_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    lat = np.asarray(latencies)
    ok = statuses.get("200", 0)
    errors = sum(statuses.values()) - ok
    print(f"\n## Server load: {args.clients} clients, {wall:.1f} s, {args.parts:,} parts\n"
          f"{describe()}\n")
    print("| requests | errors | throughput req/s | p50 ms | p99 ms | max ms "
          "| server peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {sum(statuses.values())} | {errors} | {ok / wall:.1f} | "
          f"{np.percentile(lat, 50):.0f} | {np.percentile(lat, 99):.0f} | {lat.max():.0f} | "
          f"{rss:.0f} |")
    print(f"\nstatus counts: {dict(statuses)}")


if __name__ == "__main__":
    main()
