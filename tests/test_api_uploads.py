"""Writing through the API: ``POST /api/index`` with a token, and ``xmodal serve``'s binding.

Runs against the ``writable`` server (its own empty data directory), so the read-only API and
page tests always see the same corpus.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from indexer.cmd_serve import is_loopback

DOC = b"The lighthouse keeper logs every passing ship in a green ledger.\n"


@pytest.fixture()
def wclient(writable) -> httpx.Client:
    with httpx.Client(base_url=writable.url, timeout=300) as c:
        yield c


def auth(writable, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token if token is not None else writable.token}"}


def test_the_index_endpoint_is_documented_when_a_token_is_set(wclient) -> None:
    paths = wclient.get("/openapi.json").json()["paths"]
    assert "post" in paths["/api/index"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dGVzdDp0ZXN0"},
        {"Authorization": "test-token-9f1c2b7e"},
    ],
)
def test_writes_need_the_token(wclient, headers) -> None:
    r = wclient.post("/api/index", files={"files": ("a.txt", DOC, "text/plain")}, headers=headers)
    assert r.status_code in (401, 403), r.text
    assert set(r.json()["error"]) == {"code", "message"}


def test_an_uploaded_document_is_indexed_and_searchable(wclient, writable) -> None:
    r = wclient.post(
        "/api/index",
        files=[("files", ("../../lighthouse.txt", DOC, "text/plain"))],
        headers=auth(writable),
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["added"] == 1 and report["failed"] == 0
    saved = list((writable.data_dir / "uploads").rglob("*.txt"))
    assert [p.name for p in saved] == ["lighthouse.txt"]
    assert saved[0].resolve().is_relative_to((writable.data_dir / "uploads").resolve())
    hits = wclient.get("/api/search", params={"q": "lighthouse ledger"}).json()["results"]
    assert hits and hits[0]["path"] == str(saved[0])
    assert wclient.get(hits[0]["media_url"]).content == DOC


@pytest.mark.parametrize("name", ["run.sh", "page.svg", "model.pkl", "noext"])
def test_unsupported_upload_types_are_415(wclient, writable, name: str) -> None:
    r = wclient.post(
        "/api/index", files={"files": (name, b"#!/bin/sh\n", "text/plain")}, headers=auth(writable)
    )
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"


def test_an_upload_over_the_limit_is_413_before_indexing(wclient, writable) -> None:
    big = b"word " * (writable.max_upload_mb * 1024 * 1024 // 5 + 10)
    r = wclient.post(
        "/api/index", files={"files": ("big.txt", big, "text/plain")}, headers=auth(writable)
    )
    assert r.status_code == 413
    assert not list((writable.data_dir / "uploads").rglob("big.txt"))


def test_a_client_that_sends_its_whole_upload_first_still_reads_the_413(writable) -> None:
    # Like requests or httpx: the whole body goes out before the answer is read. The server
    # refuses on the declared length; if it closed without reading the body, this send would
    # break and the 413 could be lost to the reset.
    size = writable.max_upload_mb * 1024 * 1024 + 1
    host, port = writable.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        head = (
            f"POST /api/index HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {writable.token}"
            f"\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\r\n"
        )
        s.sendall(head.encode())
        time.sleep(0.3)  # time for the server to refuse before the body arrives
        s.sendall(b"x" * size)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413")
    assert answer.endswith(b"}") and b'"too_large"' in answer


def test_a_broken_upload_is_reported_not_crashed(wclient, writable) -> None:
    r = wclient.post(
        "/api/index",
        files={"files": ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image/png")},
        headers=auth(writable),
    )
    assert r.status_code == 200, r.text
    assert r.json()["failed"] == 1 and r.json()["failures"][0]["reason"]


# ---------------------------------------------------------------- xmodal serve


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path: Path, *args: str, env_extra: dict[str, str] | None = None):
    env = {k: v for k, v in os.environ.items() if k != "XMODAL_API_TOKEN"}
    env.update(env_extra or {})
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from indexer.cli import main; main()",
            "--data",
            str(tmp_path / "data"),
            "serve",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        start_new_session=True,
    )


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read())
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("xmodal serve did not answer /healthz")


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_serve_binds_loopback_by_default(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path, "--port", str(port))
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        assert httpx.get(f"http://127.0.0.1:{port}/api/stats", timeout=30).status_code == 200
    finally:
        err = _stop(proc)
    assert "warning" not in err.lower()
    assert f"127.0.0.1:{port}" in err


def test_serve_warns_when_exposed_without_a_token(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path, "--host", "0.0.0.0", "--port", str(port))
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
    finally:
        err = _stop(proc)
    assert "without XMODAL_API_TOKEN" in err


def test_a_write_without_the_token_is_refused_before_its_body_is_read(wclient, writable) -> None:
    """401, not 413 or a parse: an anonymous client cannot make the server take in a body."""
    big = b"x" * (writable.max_upload_mb * 1024 * 1024 + 1)
    r = wclient.post("/api/index", files={"files": ("big.txt", big, "text/plain")})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "unauthorized"


def test_an_indexed_file_swapped_for_a_link_is_not_served(wclient, writable, tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("zq-private-marker, never to be served\n")
    r = wclient.post(
        "/api/index",
        files={"files": ("swap.txt", b"a note about the swap test\n", "text/plain")},
        headers=auth(writable),
    )
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    saved = next((writable.data_dir / "uploads").rglob("swap.txt"))
    hit = wclient.get("/api/search", params={"q": "note about the swap test"}).json()["results"]
    item = next(h["id"] for h in hit if h["path"] == str(saved))
    assert wclient.get(f"/media/{item}").status_code == 200
    saved.unlink()
    saved.symlink_to(secret)
    r = wclient.get(f"/media/{item}")
    assert r.status_code == 404 and "zq-private-marker" not in r.text
