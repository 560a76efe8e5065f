"""A minimal Hugging Face Hub on 127.0.0.1, for testing the download path without the internet.

It serves what huggingface_hub 2.4's ``model_info``, ``list_repo_files``, ``snapshot_download`` and
``hf_hub_download`` ask for (read from its client code):

- ``GET /api/models/ORG/NAME[/revision/REV]``: repo info, ``sha`` and ``siblings``;
- ``GET /api/models/ORG/NAME/tree/REV[/PATH]``: the tree listing (files with size, oid, lfs);
- ``HEAD``/``GET /ORG/NAME/resolve/REV/PATH``: the file, with ``X-Repo-Commit``, ``ETag``,
  ``X-Linked-Etag``/``X-Linked-Size`` for LFS files, and ``Range`` (206) when asked.

A repo may misbehave on every request (``mode``): "missing" 404 with ``X-Error-Code: RepoNotFound``,
"gated" 401 with ``X-Error-Code: GatedRepo``, "500", "429", "hang" (sleeps ``hang_seconds``, at
most 10 s, then closes), or "drop" (sends half of each weights file, then closes the connection,
``drop_times`` times). Every request is recorded in ``requests``; past ``MAX_REQUESTS`` in one
test the server answers 503, and a test using it fails after ``TEST_SECONDS``.

Fixtures ``cache`` (an empty HF cache, online, ``EASYNLU_HUB_TIMEOUT=2``) and ``local_hub`` (a
server, ``HF_ENDPOINT`` pointing at it; stopped at teardown) are imported by the tests that use
them (as ``cache_fixture, local_hub_fixture``). huggingface_hub read HF_HUB_OFFLINE=1 at import
(conftest), so ``constants.HF_HUB_OFFLINE`` is switched off per test. easynlu reads HF_ENDPOINT at
call time and passes ``endpoint=`` to huggingface_hub, so the module-level copy
(``constants.ENDPOINT``, read at import) needs no patching.
"""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import huggingface_hub.constants
import pytest

import easynlu

COMMIT = "a" * 40
_LFS = (".safetensors", ".bin")
MAX_REQUESTS = 200  # per test: beyond this the server answers 503 and does no work
TEST_SECONDS = 60  # hard limit on a test that uses the server (SIGALRM in the main thread)


@dataclass
class Repo:
    """A repo's files (relative path -> bytes) and how the server behaves for it."""

    files: dict[str, bytes]
    mode: str = "ok"  # ok | gated | 500 | 429 | hang | drop
    drop_times: int = 1  # for "drop": how many weights downloads are cut before one succeeds
    hang_seconds: float = 10.0


@dataclass
class LocalHub:
    """The server's state: repos by id, and each request seen as (method, path, Range header)."""

    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, repo_id: str, model_dir: Path, mode: str = "ok", skip: tuple[str, ...] = (),
            extra: dict[str, bytes] | None = None) -> Repo:
        """Serve the files of ``model_dir`` (minus ``skip``, plus ``extra``) as ``repo_id``."""
        files = {f.relative_to(model_dir).as_posix(): f.read_bytes() for f in sorted(model_dir.rglob("*"))
                 if f.is_file() and f.relative_to(model_dir).as_posix() not in skip}
        files.update(extra or {})
        repo = self.repos[repo_id] = Repo(files, mode)
        return repo

    def fetched(self, repo_id: str) -> list[str]:
        """The files of ``repo_id`` that were GET from /resolve/, in order."""
        prefix = f"/{repo_id}/resolve/"
        return [path[len(prefix):].split("/", 1)[1] for method, path, _ in self.requests
                if method == "GET" and path.startswith(prefix)]


class _Handler(BaseHTTPRequestHandler):
    hub: LocalHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, head: bool = False) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, data: object) -> None:
        self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json", "X-Repo-Commit": COMMIT})

    def _serve(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        with self.hub.lock:
            self.hub.requests.append((self.command, path, self.headers.get("Range")))
            too_many = len(self.hub.requests) > MAX_REQUESTS
        if too_many:
            return self._send(503, b"", {"X-Error-Message": "too many requests in one test"}, head)
        parts = path.strip("/").split("/")
        api = parts[:2] == ["api", "models"]
        repo_id = "/".join(parts[2:4] if api else parts[:2])
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            return self._send(404, b'{"error":"Repository not found"}', {
                "X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"}, head)
        if repo.mode == "gated":
            return self._send(401, b"", {"X-Error-Code": "GatedRepo", "X-Error-Message":
                                         f"Access to model {repo_id} is restricted. You must be authenticated."}, head)
        if repo.mode in ("500", "429"):
            return self._send(int(repo.mode), b"{}", {"X-Error-Message": "try later"}, head)
        if repo.mode == "hang":
            time.sleep(min(repo.hang_seconds, 10.0))
            self.close_connection = True
            return None
        rest = parts[4:] if api else parts[2:]
        if api and not rest or api and rest[0] == "revision":
            return self._json({"id": repo_id, "modelId": repo_id, "sha": COMMIT, "private": False,
                               "siblings": [{"rfilename": name} for name in repo.files]})
        if api and rest[0] == "tree":
            return self._json([_tree_entry(name, data) for name, data in repo.files.items()])
        if not api and rest and rest[0] == "resolve" and len(rest) > 2:
            return self._file(repo, "/".join(rest[2:]), head)
        return self._send(404, b"", {"X-Error-Code": "EntryNotFound"}, head)

    def _file(self, repo: Repo, name: str, head: bool) -> None:
        data = repo.files.get(name)
        if data is None:
            return self._send(404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT}, head)
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{_etag(name, data)}"', "Accept-Ranges": "bytes"}
        if name.endswith(_LFS):
            headers |= {"X-Linked-Etag": f'"{_etag(name, data)}"', "X-Linked-Size": str(len(data))}
        start = 0
        wanted = self.headers.get("Range")
        if wanted and wanted.startswith("bytes=") and not head:
            start = int(wanted[6:].split("-")[0] or 0)
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if head or not (repo.mode == "drop" and name.endswith(_LFS) and repo.drop_times > 0):
            return self._send(206 if start else 200, body, headers, head)
        repo.drop_times -= 1
        self.send_response(206 if start else 200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        return None


def _etag(name: str, data: bytes) -> str:
    """LFS files: their sha256, as the Hub; others: a git-blob-like sha1."""
    if name.endswith(_LFS):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _tree_entry(name: str, data: bytes) -> dict[str, object]:
    entry: dict[str, object] = {"type": "file", "oid": _etag(name, data) if not name.endswith(_LFS) else
                                hashlib.sha1(data).hexdigest(), "size": len(data), "path": name}
    if name.endswith(_LFS):
        entry["lfs"] = {"oid": _etag(name, data), "size": len(data), "pointerSize": 134}
    return entry


def start() -> tuple[LocalHub, ThreadingHTTPServer]:
    """Start a LocalHub on 127.0.0.1 on a free port, in a daemon thread; stop it with ``server.shutdown()``."""
    hub = LocalHub()
    handler = type("Handler", (_Handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return hub, server


@pytest.fixture(name="cache")
def cache_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty HF cache, online (HF_HUB_OFFLINE off), easynlu waiting 2 s for the Hub."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("EASYNLU_HUB_TIMEOUT", "2")
    yield tmp_path / "hf"
    easynlu.unload()  # models loaded from this cache must not outlive it


@pytest.fixture(name="local_hub")
def local_hub_fixture(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalHub]:
    """A LocalHub for one test, with HF_ENDPOINT pointing at it; the test fails after TEST_SECONDS."""
    def too_long(signum: int, frame: object) -> None:
        raise TimeoutError(f"a test with the local Hub ran over {TEST_SECONDS} s")

    hub, server = start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(TEST_SECONDS)
    try:
        yield hub
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        server.shutdown()
        server.server_close()


def snapshot(cache: Path, model: str) -> Path:
    """Where huggingface_hub puts ``model``'s files at the server's commit."""
    return cache / ("models--" + model.replace("/", "--")) / "snapshots" / COMMIT


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
