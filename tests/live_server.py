"""Running the real app in a real uvicorn server on 127.0.0.1, for API and browser tests.

The server runs in a background thread of the test process, so it can share the session's
already-loaded models through an injected engine, while every request still travels over a
real TCP socket through uvicorn's HTTP parser, as in production.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI


@dataclass
class LiveServer:
    """A started server: its base URL and the handles needed to stop it."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: FastAPI
    extra: dict[str, object] = field(default_factory=dict)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_server(app: FastAPI, timeout: float = 60.0) -> LiveServer:
    """Serve ``app`` on a free port of 127.0.0.1 and return once it accepts connections.

    The socket is bound here and handed to uvicorn, so no other process can take the port
    between choosing it and listening on it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # surfaced to the waiting test below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if errors or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start: {errors[0] if errors else 'exited'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"uvicorn did not start within {timeout} s")
        time.sleep(0.05)
    return LiveServer(url=f"http://127.0.0.1:{port}", server=server, thread=thread, app=app)
