"""The live API under hostile clients: fuzzed from its own schema, traversal, floods, big bodies.

Runs against real uvicorn servers on 127.0.0.1 (``tests.fixtures_server``) with the real engine
over the real indexed corpus. What it proves, and ``docs/reliability.md`` reports:

- schemathesis, driven by the server's own ``/openapi.json`` with valid *and* invalid data,
  gets no 5xx from any operation, with and without the token;
- path traversal in every encoding we know, on every route prefix, never reads a file (neither
  ``/etc/passwd``, nor the catalog, nor a file beside the data folder);
- query strings, headers and paths far beyond any sane size are refused and the server lives;
- hostile media sent as queries or uploads are 4xx (or a normal answer), never 5xx;
- a burst of concurrent voice queries is answered 503 + ``Retry-After`` past the limit, and
  the server's memory grows by a bounded amount;
- writes need the token, and a refused write leaves nothing on disk;
- CORS answers only configured origins; no code-executing loader exists in the source.

The ``tests/test_api.py`` and ``tests/test_api_uploads.py`` suites test each behaviour once by
example; this file attacks them systematically.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests import hostile
from tests.media import speak

FUZZ_EXAMPLES = int(os.environ.get("XMODAL_FUZZ_EXAMPLES", "60"))
HOSTILE_TOKEN = "hostile-token-4e1d0c9a"
REPO = Path(__file__).resolve().parents[1]


# --- helpers -----------------------------------------------------------------------------


def raw_request(url: str, request: bytes, timeout: float = 30) -> tuple[int, bytes, bytes]:
    """Send ``request`` byte for byte; return (status or 0 if the server hung up, head, body).

    No client library sits in between, so nothing normalises ``..``, decodes ``%2F`` or
    refuses a NUL byte before the server sees it.
    """
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass  # the server may close while a huge request is still being sent
        chunks = []
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except (ConnectionResetError, TimeoutError):
            pass
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(match.group(1)) if match else 0), head, body


def raw_get(url: str, target: bytes, extra: bytes = b"") -> tuple[int, bytes, bytes]:
    host = urlsplit(url).netloc.encode()
    return raw_request(
        url,
        b"GET "
        + target
        + b" HTTP/1.1\r\nHost: "
        + host
        + b"\r\n"
        + extra
        + b"Connection: close\r\n\r\n",
    )


def assert_alive(url: str) -> None:
    r = httpx.get(url + "/healthz", timeout=30)
    assert r.status_code == 200, r.text


def rss_bytes() -> int:
    """This process's resident memory now (the servers run in threads of this process)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """Samples this process's RSS every 20 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


# --- a server of our own with a token (writes must not disturb the shared ones) ----------


@pytest.fixture(scope="module")
def token_server(offline_settings, encoders, tmp_path_factory) -> Iterator[Any]:
    """A token-protected server over its own empty data directory, 2 MB uploads."""
    from tests.fixtures_server import NO_RATE_LIMITS, LiveCorpus, _serve

    data = tmp_path_factory.mktemp("hostile-data")
    settings = offline_settings.model_copy(  # fuzzing is a burst: rates are tested elsewhere
        update={"data_dir": data, "api_token": HOSTILE_TOKEN, "max_upload_mb": 2,
                **NO_RATE_LIMITS}
    )
    server = _serve(settings, encoders)
    try:
        yield LiveCorpus.read(server.url, settings, token=HOSTILE_TOKEN)
    finally:
        server.stop()
        server.extra["engine"].close()


@pytest.fixture(scope="module")
def outside_secret(tmp_path_factory) -> Path:
    """A file beside (not inside) anything indexed, holding a word that must never be served."""
    folder = tmp_path_factory.mktemp("outside")
    secret = folder / "secret.txt"
    secret.write_text(f"{hostile.SECRET_WORD} must never leave this machine\n")
    return secret


# --- schemathesis ------------------------------------------------------------------------


@dataclass
class FuzzTally:
    """What the fuzzer sent and got back, per status and per operation."""

    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    per_op: dict[str, collections.Counter[int]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)

    def record(self, label: str, mode: str, case: Any, response: Any) -> None:
        self.statuses[response.status_code] += 1
        self.per_op.setdefault(label, collections.Counter())[response.status_code] += 1
        if response.status_code >= 500:
            self.server_errors.append(
                f"{label} [{mode}] -> {response.status_code} {response.text[:300]}\n"
                f"    {case.as_curl_command()}"
            )

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def fuzz_operation(
    op: Any,
    mode: Any,
    base_url: str,
    headers_variants: list[dict[str, str]],
    examples: int,
    tally: FuzzTally,
) -> None:
    """Up to ``examples`` generated cases of one operation in one mode (valid or invalid).

    Hypothesis runs derandomised (the same requests every run, so a failure reproduces) and
    without shrinking (bounded time).
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        for headers in headers_variants:
            r = case.call(base_url=base_url, headers=headers, timeout=120)
            tally.record(op.label, mode.value, case, r)

    try:
        run()
    except Unsatisfiable:
        pass  # an operation without parameters has no invalid form


def fuzz(base_url: str, token: str | None, examples: int) -> FuzzTally:
    """Every operation of the live schema, valid and invalid data; statuses counted.

    Each case goes out without a token and, when the server has one, with it, so both sides
    of every guard are exercised.
    """
    import schemathesis
    from hypothesis.configuration import set_hypothesis_home_dir
    from schemathesis import GenerationMode

    # Hypothesis keeps a .hypothesis folder in the working directory; not in the repository.
    set_hypothesis_home_dir(str(Path(tempfile.gettempdir()) / "xmodal-hypothesis"))
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    tally = FuzzTally()
    headers_variants: list[dict[str, str]] = [{}]
    if token:
        headers_variants.append({"Authorization": f"Bearer {token}"})
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(op, mode, base_url, headers_variants, examples, tally)
    return tally


def test_fuzzing_the_read_api_from_its_schema_gets_no_5xx(live) -> None:
    """The read-only server over the real corpus (no token: writes are not even routed)."""
    out = fuzz(live.url, None, FUZZ_EXAMPLES)
    print(f"\nfuzz read API: {out.requests} requests, statuses {dict(out.statuses)}")
    assert out.requests >= 10 * FUZZ_EXAMPLES
    assert not out.server_errors, "\n".join(out.server_errors[:10])
    assert_alive(live.url)


def test_fuzzing_with_a_token_gets_no_5xx(token_server) -> None:
    """The write endpoint included: fuzzed files go out with and without the token."""
    out = fuzz(token_server.url, token_server.token, max(5, FUZZ_EXAMPLES // 2))
    print(f"\nfuzz token API: {out.requests} requests, statuses {dict(out.statuses)}")
    index_statuses = out.per_op.get("POST /api/index")
    assert index_statuses and index_statuses.get(401), index_statuses  # tokenless half refused
    assert not out.server_errors, "\n".join(out.server_errors[:10])
    assert_alive(token_server.url)


# --- path traversal ----------------------------------------------------------------------

PREFIXES = ["/media/", "/thumbs/", "/static/", "/api/items/", "/", "/media/1/", "/docs/"]


def traversal_payloads(target: str) -> list[str]:
    """``target`` (an absolute path) reached by climbing out, in every encoding we know."""
    rel = target.lstrip("/")
    up = "../" * 12
    forms = [
        up + rel,
        "/" + rel,  # absolute, after the prefix's own slash: //etc/passwd
        target,
        up.replace("/", "%2f") + rel.replace("/", "%2f"),
        up.replace("/", "%2F") + rel.replace("/", "%2F"),
        up.replace("..", "%2e%2e") + rel,
        up.replace("..", "%2e%2e").replace("/", "%2f") + rel.replace("/", "%2f"),
        up.replace("..", "%252e%252e").replace("/", "%252f") + rel.replace("/", "%252f"),
        up.replace("/", "%252f") + rel,
        up.replace("/", "\\") + rel.replace("/", "\\"),
        up.replace("/", "%5c") + rel.replace("/", "%5c"),
        up.replace("/", "%255c") + rel,
        up.replace("..", "%c0%ae%c0%ae").replace("/", "%c0%af") + rel,
        up.replace("..", "%uff0e%uff0e") + rel,
        up.replace("../", "....//") + rel,
        up.replace("../", "..;/") + rel,
        up + rel + "%00.jpg",
        up.replace("/", "%2f") + rel + "%00",
        "..%00/" + up + rel,
        quote(target, safe=""),
        quote(quote(target, safe=""), safe=""),
        "file:" + target,
    ]
    return forms


def test_path_traversal_in_every_encoding_on_every_prefix(live, outside_secret) -> None:
    catalog = live.data_dir / "catalog.sqlite"
    targets = ["/etc/passwd", str(catalog), str(outside_secret)]
    forbidden = [b"root:x:0:0", b"SQLite format 3", hostile.SECRET_WORD.encode()]
    tried = 0
    bad: list[str] = []
    for prefix, target in itertools.product(PREFIXES, targets):
        for payload in traversal_payloads(target):
            raw = (prefix + payload).encode("utf-8", "surrogateescape")
            raw = raw.replace(b" ", b"%20")
            status, _, body = raw_get(live.url, raw)
            tried += 1
            if status >= 500 or status == 0:
                bad.append(f"{raw!r} -> {status}")
            elif any(word in body for word in forbidden):
                bad.append(f"{raw!r} -> {status} LEAKED {body[:80]!r}")
    # a raw NUL and raw backslashes in the request line itself
    for raw in (b"/static/\x00../../etc/passwd", b"/media/1\x00", b"/static/..\\..\\etc\\passwd"):
        status, _, body = raw_get(live.url, raw)
        tried += 1
        if status >= 500 or any(word in body for word in forbidden):
            bad.append(f"{raw!r} -> {status}")
    print(f"\npath traversal: {tried} requests, {len(bad)} bad")
    assert not bad, "\n".join(bad[:20])
    assert_alive(live.url)


def test_the_query_string_never_names_a_file(live, outside_secret) -> None:
    """Every parameter is a query, a number or a filter; none is opened as a path."""
    for params in (
        {"q": "../../../../etc/passwd"},
        {"q": str(outside_secret)},
        {"q": "x", "type": "../../etc/passwd"},
        {"q": "x", "path": str(outside_secret)},
        {"q": "x\x00", "limit": "1"},
    ):
        r = httpx.get(live.url + "/api/search", params=params, timeout=120)
        assert r.status_code < 500, r.text
        assert hostile.SECRET_WORD not in r.text and "root:x:0:0" not in r.text


# --- oversized requests ------------------------------------------------------------------


@pytest.mark.parametrize("size", [2_001, 16_000, 70_000, 1_000_000])
def test_oversized_query_strings_are_refused_and_the_server_lives(live, size: int) -> None:
    status, _, body = raw_get(live.url, b"/api/search?q=" + b"a" * size)
    assert status == 0 or 400 <= status < 500, (status, body[:200])
    assert_alive(live.url)


def test_oversized_headers_paths_and_parameter_counts(live) -> None:
    cases = {
        "64 KB header": (b"/api/search?q=harbour", b"X-Big: " + b"b" * 65536 + b"\r\n"),
        "1 MB cookie": (b"/api/search?q=harbour", b"Cookie: c=" + b"c" * 1_000_000 + b"\r\n"),
        "2000 headers": (
            b"/api/search?q=harbour",
            b"".join(b"X-H%d: v\r\n" % i for i in range(2000)),
        ),
        "100 KB path": (b"/media/" + b"1" * 100_000, b""),
        "20k parameters": (
            b"/api/search?q=x&" + b"&".join(b"p%d=1" % i for i in range(20000)),
            b"",
        ),
        "deep JSON weights": (
            b"/api/search?q=x&weights=" + b"%5B" * 50000 + b"%5D" * 50000,
            b"",
        ),
    }
    outcomes = {}
    for name, (target, extra) in cases.items():
        status, _, body = raw_get(live.url, target, extra)
        outcomes[name] = status
        assert status == 0 or 200 <= status < 500, (name, status, body[:200])
        assert_alive(live.url)
    print(f"\noversized requests: {outcomes}")


def test_post_search_with_deeply_nested_weights_is_400(live) -> None:
    r = httpx.post(
        live.url + "/api/search",
        data={"q": "harbour", "weights": "[" * 100_000 + "]" * 100_000},
        timeout=60,
    )
    assert r.status_code in (400, 413), r.text[:200]


# --- uploads: size, type, hostile media --------------------------------------------------


def test_a_lying_content_length_is_refused_before_the_body(live) -> None:
    host = urlsplit(live.url).netloc.encode()
    request = (
        b"POST /api/search HTTP/1.1\r\nHost: " + host + b"\r\n"
        b"Content-Type: multipart/form-data; boundary=xx\r\n"
        b"Content-Length: 10737418240\r\nConnection: close\r\n\r\n--xx\r\n"
    )
    start = time.monotonic()
    status, _, body = raw_request(live.url, request, timeout=30)
    assert status == 413, body[:200]
    assert time.monotonic() - start < 10  # not waiting for 10 GB that never come


def test_an_endless_chunked_upload_is_cut_off(live) -> None:
    """A body without a length, bigger than the limit, is refused while it streams."""
    limit = live.max_upload_mb * 1024 * 1024

    def body() -> Iterator[bytes]:
        yield b'--xx\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
        yield b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"
        sent = 0
        while sent < 4 * limit:
            yield b"\x00" * 65536
            sent += 65536

    try:
        r = httpx.post(
            live.url + "/api/search",
            content=body(),
            headers={"Content-Type": "multipart/form-data; boundary=xx"},
            timeout=60,
        )
        assert r.status_code == 413, r.text[:200]
    except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
        pass  # the server closed the connection mid-stream: also refused
    assert_alive(live.url)


HOSTILE_QUERY_FILES = {
    "image": [
        ("bomb.png", lambda d: hostile.png_zlib_bomb(d / "bomb.png")),
        ("header_bomb.png", lambda d: hostile.png_zlib_bomb(d / "hb.png", 12500, 12500)),
        ("bomb.jpg", lambda d: hostile.jpeg_header_bomb(d / "bomb.jpg")),
        ("bomb.gif", lambda d: hostile.gif_screen_bomb(d / "bomb.gif")),
        ("cut.png", lambda d: hostile.truncated(d / "cut.png", hostile.png_bytes())),
        ("magic.png", lambda d: hostile.magic_then_garbage(d / "m.png", b"\x89PNG\r\n\x1a\n")),
        ("magic.jpg", lambda d: hostile.magic_then_garbage(d / "m.jpg", b"\xff\xd8\xff\xe0")),
        ("wav_as.png", lambda d: hostile.lying_wav(d / "w.png")),
    ],
    "audio": [
        ("lying.wav", lambda d: hostile.lying_wav(d / "lying.wav")),
        ("cut.flac", lambda d: hostile.truncated(d / "cut.flac", hostile.flac_bytes())),
        (
            "magic.wav",
            lambda d: hostile.magic_then_garbage(d / "m.wav", b"RIFF\x00\x00\x00\x00WAVE"),
        ),
        ("magic.ogg", lambda d: hostile.magic_then_garbage(d / "m.ogg", b"OggS")),
        ("id3.mp3", lambda d: hostile.magic_then_garbage(d / "m.mp3", b"ID3\x04\x00")),
        ("silent_hour.flac", lambda d: hostile.silent_hour(d / "silent.flac")),
        ("png_as.wav", lambda d: hostile.truncated(d / "p.wav", hostile.png_bytes(), 1.0)),
    ],
}


@pytest.mark.parametrize(
    ("field", "name"),
    [(f, n) for f, files in HOSTILE_QUERY_FILES.items() for n, _ in files],
)
def test_hostile_media_as_a_query_is_4xx_never_5xx(live, tmp_path, field: str, name: str) -> None:
    make = dict(HOSTILE_QUERY_FILES[field])[name]
    data = Path(make(tmp_path)).read_bytes()
    start = time.monotonic()
    r = httpx.post(live.url + "/api/search", files={field: (name, data)}, timeout=300)
    took = time.monotonic() - start
    assert r.status_code < 500 or r.status_code == 503 and r.json()["error"]["code"] == "busy", (
        r.status_code,
        r.text[:300],
    )
    if r.status_code >= 400:
        assert set(r.json()["error"]) == {"code", "message"}
    assert took < 120, f"{name} took {took:.0f} s"


def test_hostile_uploads_are_reported_and_land_only_in_uploads(token_server, tmp_path) -> None:
    """Hostile files through ``POST /api/index``: a report, no 5xx, nothing outside uploads/."""
    files = []
    for field_files in HOSTILE_QUERY_FILES.values():
        for name, make in field_files:
            if name != "silent_hour.flac":
                files.append(("files", (f"../../{name}", Path(make(tmp_path)).read_bytes())))
    files.append(("files", ("..\\..\\evil.txt", b"backslash climbing\n")))
    files.append(("files", ("/etc/cron.d/evil.txt", b"absolute name\n")))
    files.append(("files", ("\x00nul.txt", b"nul in the name\n")))
    before = set(Path(token_server.data_dir).parent.iterdir())
    r = httpx.post(
        token_server.url + "/api/index",
        files=files,
        headers={"Authorization": f"Bearer {token_server.token}"},
        timeout=600,
    )
    assert r.status_code == 200, r.text[:500]
    report = r.json()
    assert report["failed"] >= len(HOSTILE_QUERY_FILES["image"]) - 1, report
    assert all(f["reason"] for f in report["failures"])
    assert set(Path(token_server.data_dir).parent.iterdir()) == before
    uploads = Path(token_server.data_dir) / "uploads"
    for path in uploads.rglob("*"):
        assert path.resolve().is_relative_to(uploads.resolve())
    assert not Path("/etc/cron.d/evil.txt").exists()


def test_a_refused_write_leaves_nothing_on_disk(token_server) -> None:
    uploads = Path(token_server.data_dir) / "uploads"
    before = sorted(uploads.rglob("*")) if uploads.exists() else []
    big = b"x" * (1024 * 1024)
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer"}):
        r = httpx.post(
            token_server.url + "/api/index",
            files=[("files", ("a.txt", big)), ("files", ("b.txt", big))],
            headers=headers,
            timeout=60,
        )
        assert r.status_code == 401, r.text[:200]
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer")
    after = sorted(uploads.rglob("*")) if uploads.exists() else []
    assert after == before


def test_the_token_is_compared_in_constant_time() -> None:
    """A timing test would be flaky; the guarantee is the primitive used, so check that."""
    import inspect

    from web import deps

    source = inspect.getsource(deps.require_token)
    assert "hmac.compare_digest" in source
    assert "==" not in source.replace("!=", "")  # no early-exit comparison beside it


# --- many concurrent voice queries -------------------------------------------------------


def test_a_burst_of_voice_queries_is_limited_not_queued(live, tmp_path) -> None:
    """24 voice questions at once against a 2-slot limit: 200s and 503s, bounded memory."""
    wav = speak(
        "where is the harbour office and when does the ferry leave for the island",
        tmp_path / "q.wav",
    ).read_bytes()
    n = 24
    answers: list[httpx.Response] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(n)

    def ask() -> None:
        try:
            with httpx.Client(base_url=live.url, timeout=300) as c:
                gate.wait()
                answers.append(c.post("/api/search", files={"audio": ("q.wav", wav)}))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    with PeakRss() as mem:
        threads = [threading.Thread(target=ask) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    statuses = collections.Counter(r.status_code for r in answers)
    print(
        f"\nvoice burst: {n} concurrent, statuses {dict(statuses)}, "
        f"memory +{(mem.peak - mem.start) / 2**20:.0f} MB"
    )
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] >= 1 and statuses[503] >= n // 2, statuses
    for r in answers:
        if r.status_code == 503:
            assert int(r.headers["retry-after"]) > 0
            assert r.json()["error"]["code"] == "busy"
    # 24 uploads of ~200 KB each plus two transcriptions: far below this.
    assert mem.peak - mem.start < 400 * 2**20
    assert_alive(live.url)


# --- CORS and loaders --------------------------------------------------------------------


def test_cors_answers_only_configured_origins(offline_settings, encoders) -> None:
    from tests.fixtures_server import _serve

    settings = offline_settings.model_copy(
        update={"cors_origins": ["https://photos.example.org"], "api_token": None}
    )
    server = _serve(settings, encoders)
    try:
        for origin, allowed in (
            ("https://photos.example.org", True),
            ("https://evil.example", False),
            ("null", False),
            ("https://photos.example.org.evil.example", False),
        ):
            r = httpx.get(server.url + "/api/stats", headers={"Origin": origin}, timeout=60)
            got = r.headers.get("access-control-allow-origin")
            assert (got == origin) if allowed else got is None, (origin, got)
            pre = httpx.options(
                server.url + "/api/search",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
                timeout=60,
            )
            got = pre.headers.get("access-control-allow-origin")
            assert (got == origin) if allowed else got is None, (origin, got)
            assert pre.headers.get("access-control-allow-credentials") != "true"
    finally:
        server.stop()
        server.extra["engine"].close()


LOADER_PATTERNS = [
    r"\bpickle\.loads?\(",
    r"\bcPickle\b",
    r"\bdill\b",
    r"\bjoblib\.load\(",
    r"\btorch\.load\((?![^)]*weights_only\s*=\s*True)",
    r"allow_pickle\s*=\s*True",
    r"\byaml\.load\((?![^)]*SafeLoader)",
    r"\bmarshal\.loads?\(",
    r"\bshelve\.open\(",
    r"(?<![.\w])eval\(",  # the builtin, not torch's model.eval()
    r"(?<![.\w])exec\(",
]
# Where a loader is used on data that never comes from a file or an upload, and why.
LOADER_ALLOWED = {
    ("retrieval/ingest/ray.py", "pickle.loads("): "results of the operator's own Ray workers",
}


def test_no_code_executing_loader_in_the_product() -> None:
    """Nothing that can run code from a file's bytes exists in retrieval/, indexer/ or web/."""
    hits = []
    for folder in ("retrieval", "indexer", "web"):
        for path in sorted((REPO / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for pattern in LOADER_PATTERNS:
                for m in re.finditer(pattern, text):
                    rel = path.relative_to(REPO).as_posix()
                    if (rel, m.group(0)) in LOADER_ALLOWED:
                        continue
                    line = text.count("\n", 0, m.start()) + 1
                    hits.append(f"{path.relative_to(REPO)}:{line}: {m.group(0)}")
    assert not hits, hits


def test_error_answers_never_carry_a_traceback(live) -> None:
    for path in (
        "/api/items/0",
        "/api/items/-1",
        "/media/999999999",
        "/api/search?q=%00",
        "/api/search?q=" + "%ff" * 100,
        "/thumbs/9223372036854775807",
    ):
        r = httpx.get(live.url + path, timeout=60)
        assert r.status_code < 500, (path, r.status_code, r.text[:200])
        assert "Traceback" not in r.text and 'File "' not in r.text
        if r.status_code >= 400:
            assert set(json.loads(r.text)) == {"error"}


def test_an_indexed_file_swapped_for_a_link_is_not_served(
    tmp_path: Path, offline_settings, encoders, outside_secret
) -> None:
    """Someone who can write in an indexed folder replaces a file with a link to a secret.

    ``/media/{id}`` serves whatever the catalog's path holds *now*; if that is a link leading
    out of the folder it was indexed from, serving it would hand out a file nobody indexed.
    """
    from indexer.pipeline import run_index
    from tests.fixtures_server import _serve

    folder = tmp_path / "shared"
    folder.mkdir()
    victim = folder / "notes.txt"
    victim.write_text("meeting notes about the harbour festival\n")
    data = tmp_path / "data"
    settings = offline_settings.model_copy(update={"data_dir": data, "api_token": None})
    run_index(settings, [folder], encoders=encoders, progress=False)
    server = _serve(settings, encoders)
    try:
        hits = httpx.get(
            server.url + "/api/search", params={"q": "harbour festival"}, timeout=120
        ).json()["results"]
        item = next(r["id"] for r in hits if r["path"].endswith("notes.txt"))
        assert httpx.get(f"{server.url}/media/{item}", timeout=60).status_code == 200
        victim.unlink()
        victim.symlink_to(outside_secret)
        for route in ("/media/", "/thumbs/"):
            r = httpx.get(f"{server.url}{route}{item}", timeout=60)
            assert hostile.SECRET_WORD not in r.text, f"{route} served a file outside the roots"
            assert r.status_code < 500
    finally:
        server.stop()
        server.extra["engine"].close()
