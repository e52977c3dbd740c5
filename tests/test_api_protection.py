"""The server's own defences, over real HTTP: the Host allow-list (DNS rebinding), per-client
rate limits on searches and uploads, the cap on stored uploads, and ``GET /api/limits``.

The ``guarded`` server has small limits so each can be reached in a few requests. Clients are
told apart by address, so tests connect from different loopback addresses (127.0.0.2, ...)
to get buckets of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from retrieval.config import Settings
from tests.fixtures_server import TOKEN, LiveCorpus, _serve
from web.hosts import allowed_host_names
from web.rate_limit import TokenBuckets

SEARCH_BURST = 3
SEARCH_PER_SECOND = 0.5  # a token every 2 s
UPLOAD_BURST = 2
CAP_MB = 1
DOC = b"The ferry timetable changes on the first of March.\n"


@pytest.fixture(scope="module")
def guarded(
    offline_settings: Settings, encoders: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveCorpus]:
    """An empty data directory served with a token, one extra host name and small limits."""
    settings = offline_settings.model_copy(
        update={
            "data_dir": tmp_path_factory.mktemp("guarded-data"),
            "api_token": TOKEN,
            "allowed_hosts": ["photos.lan"],
            "search_burst": SEARCH_BURST,
            "search_per_second": SEARCH_PER_SECOND,
            "upload_burst": UPLOAD_BURST,
            "upload_per_second": 0.01,
            "max_uploads_total_mb": CAP_MB,
        }
    )
    server = _serve(settings, encoders)
    try:
        yield LiveCorpus.read(server.url, settings, token=TOKEN)
    finally:
        server.stop()
        server.extra["engine"].close()


def client_from(address: str, url: str) -> httpx.Client:
    """An HTTP client whose connections come from ``address`` (any 127.x.y.z is this host)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=url, transport=transport, timeout=120)


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]["code"]


@pytest.mark.parametrize(
    "host", ["rebind.example", "rebind.example:8000", "localhost.evil.example", "photos.lan.evil"]
)
def test_a_foreign_host_name_is_refused(guarded, host) -> None:
    with httpx.Client(base_url=guarded.url, timeout=60) as c:
        r = c.get("/api/stats", headers={"Host": host})
    assert r.status_code == 400
    assert error_code(r) == "host_not_allowed"
    assert "XMODAL_ALLOWED_HOSTS" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "host",
    ["localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "app.localhost:{port}",
     "192.168.1.20:8000", "photos.lan", "PHOTOS.LAN.:{port}"],
)
def test_loopback_names_addresses_and_listed_names_are_served(guarded, host) -> None:
    port = guarded.url.rsplit(":", 1)[1]
    with httpx.Client(base_url=guarded.url, timeout=60) as c:
        r = c.get("/api/stats", headers={"Host": host.format(port=port)})
    assert r.status_code == 200, r.text


TRICKY_HOSTS = [
    "", "127.0.0.1.rebind.example", "localhost.", "localhost@rebind.example",
    "rebind.example#localhost", "2130706433", "0x7f000001", "0177.0.0.1", "127.1",
    "[::ffff:127.0.0.1]:80", "[::1", "localhost:99999", "xn--80ak6aa92e.com", "例え.jp",
    "a" * 300, "photos.lan:80:80", "127.0.0.1 rebind.example",
]


def test_tricky_host_values_are_served_or_refused_never_5xx(guarded) -> None:
    """Address-looking names, IDNs, ports and junk: each either passes as loopback/IP or is 400."""
    outcome: dict[int, int] = {}
    with httpx.Client(base_url=guarded.url, timeout=60) as c:
        for host in TRICKY_HOSTS:
            r = c.get("/api/stats", headers={"Host": host.encode("utf-8")})
            outcome[r.status_code] = outcome.get(r.status_code, 0) + 1
            assert r.status_code in (200, 400), (host, r.status_code)
            if r.status_code == 400:
                assert error_code(r) in ("host_not_allowed", "bad_request"), host
    print(f"\ntricky Host values: {len(TRICKY_HOSTS)}, statuses {outcome}")
    assert outcome.get(400, 0) >= len(TRICKY_HOSTS) - 4


def test_the_default_server_refuses_a_rebound_name_too(live) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as c:
        assert c.get("/api/stats", headers={"Host": "attacker.example"}).status_code == 400
        assert c.get("/api/stats").status_code == 200


def test_a_star_turns_the_check_off_and_names_come_from_the_environment(tmp_path) -> None:
    """``xmodal serve`` reads XMODAL_ALLOWED_HOSTS as a comma-separated list."""
    assert allowed_host_names(Settings(data_dir=tmp_path, allowed_hosts=["*"])) is None
    env = {**os.environ, "XMODAL_DATA": str(tmp_path), "XMODAL_ALLOWED_HOSTS": "photos.lan, nas"}
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from indexer.cli import main; main()",
         "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url, proc)
        with httpx.Client(base_url=url, timeout=30) as c:
            assert c.get("/healthz", headers={"Host": "nas:8000"}).status_code == 200
            assert c.get("/healthz", headers={"Host": "photos.lan"}).status_code == 200
            assert c.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
    finally:
        proc.terminate()
        proc.wait(30)


def test_searches_past_the_burst_get_429_with_retry_after(guarded) -> None:
    with client_from("127.0.0.2", guarded.url) as c:
        codes = [c.get("/api/search", params={"q": "ferry"}).status_code
                 for _ in range(SEARCH_BURST)]
        assert codes == [200] * SEARCH_BURST
        refused = c.get("/api/search", params={"q": "ferry"})
        assert refused.status_code == 429
        assert error_code(refused) == "too_many_searches"
        wait = int(refused.headers["Retry-After"])
        assert 1 <= wait <= 1 / SEARCH_PER_SECOND
        # Another address has its own bucket, while this one is still empty.
        with client_from("127.0.0.3", guarded.url) as other:
            assert other.get("/api/search", params={"q": "ferry"}).status_code == 200
        time.sleep(wait + 0.2)
        assert c.get("/api/search", params={"q": "ferry"}).status_code == 200


def test_uploads_past_the_burst_get_429_before_the_body_is_read(guarded) -> None:
    big = b"x" * 500_000
    with client_from("127.0.0.4", guarded.url) as c:
        for _ in range(UPLOAD_BURST):  # no token: refused by the write guard, but counted
            r = c.post("/api/index", files={"files": ("a.txt", DOC, "text/plain")})
            assert r.status_code == 401
        r = c.post("/api/index", files={"files": ("a.txt", big, "text/plain")},
                   headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 429, r.text
    assert error_code(r) == "too_many_uploads"
    assert int(r.headers["Retry-After"]) >= 1


def test_stored_uploads_are_capped(guarded) -> None:
    earlier = guarded.data_dir / "uploads" / "earlier"
    earlier.mkdir(parents=True)
    (earlier / "old.txt").write_bytes(b"o" * (CAP_MB * 1024 * 1024 - 100_000))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with client_from("127.0.0.5", guarded.url) as c:
        r = c.post("/api/index", files={"files": ("big.txt", b"b" * 200_000, "text/plain")},
                   headers=auth)
        assert r.status_code == 413, r.text
        assert error_code(r) == "upload_quota_exceeded"
        assert f"{CAP_MB} MB" in r.json()["error"]["message"]
        assert [p.name for p in (guarded.data_dir / "uploads").iterdir()] == ["earlier"]
        r = c.post("/api/index", files={"files": ("ferry.txt", DOC, "text/plain")}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 1


def test_the_limits_are_published(guarded) -> None:
    with httpx.Client(base_url=guarded.url, timeout=60) as c:
        limits = c.get("/api/limits").json()
    assert limits["max_upload_bytes"] == 50 * 1024 * 1024
    assert limits["uploads_enabled"] is True
    assert limits["max_uploads_total_bytes"] == CAP_MB * 1024 * 1024
    assert (limits["search_burst"], limits["search_per_second"]) == (SEARCH_BURST, 0.5)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until ``url``/healthz answers; fails with the server's stderr if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            httpx.get(f"{url}/healthz", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError("serve did not start")



def test_a_bucket_refills_at_its_rate_never_past_its_burst() -> None:
    now = [100.0]
    buckets = TokenBuckets(burst=2, per_second=0.5, clock=lambda: now[0], max_clients=2)
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(2.0)  # empty: one token back in 2 s
    now[0] += 1.0
    assert buckets.take("a") == pytest.approx(1.0)  # half a token so far
    now[0] += 60.0  # a long pause refills to the burst, not beyond
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") > 0
    buckets.take("b")
    buckets.take("c")  # a third client: the least recently seen ("a") is forgotten
    assert buckets.take("a") == 0.0
