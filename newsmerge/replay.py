"""Replay recorded feeds and pages from a local HTTP server, so the whole pipeline runs offline.

A capture folder holds `capture.json` listing each recorded response by its original URL.
`serve_capture` serves them on 127.0.0.1 the way a real site would (status, headers, ETag and
Last-Modified with 304s, gzip), and `replay_transport` is an httpx transport that sends every
request there. Because only the transport changes, the real connector code path (httpx,
feedparser, trafilatura, the domain checks on the original URLs) is what runs.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

log = logging.getLogger("newsmerge.replay")

# Used when a recorded response has no Last-Modified: fixed, so it never depends on file mtimes.
DEFAULT_LAST_MODIFIED = "Thu, 13 Aug 2026 00:00:00 GMT"
_HOP_HEADERS = {"content-length", "content-encoding", "transfer-encoding", "connection", "etag"}


class CaptureError(ValueError):
    """The capture folder or its capture.json is missing, malformed or incomplete."""


@dataclass(frozen=True)
class CaptureResponse:
    url: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    file: str | None = None
    provenance: str = ""

    @property
    def key(self) -> str:
        """The path this response is served at: /{host}{path}?{query} of the original URL."""
        return replay_path(self.url)


@dataclass(frozen=True)
class Capture:
    path: Path
    description: str
    responses: tuple[CaptureResponse, ...]

    def by_key(self) -> dict[str, CaptureResponse]:
        return {r.key: r for r in self.responses}


def replay_path(url: str | httpx.URL) -> str:
    """`https://host/p?q` → `/host/p?q` (host lowercased, non-default port kept)."""
    u = httpx.URL(url) if not isinstance(url, httpx.URL) else url
    netloc = u.netloc.decode("ascii").lower()
    return f"/{netloc}{u.raw_path.decode('ascii')}"


def load_capture(path: str | Path) -> Capture:
    """Read a capture folder (or its capture.json), loading every body; CaptureError if bad."""
    path = Path(path)
    manifest = path if path.is_file() else path / "capture.json"
    folder = manifest.parent
    try:
        raw = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CaptureError(f"{manifest}: no such capture file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CaptureError(f"{manifest}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("responses"), list):
        raise CaptureError(f"{manifest}: expected an object with a 'responses' list")
    responses: list[CaptureResponse] = []
    seen: set[str] = set()
    for i, r in enumerate(raw["responses"]):
        where = f"{manifest}: responses[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("url"), str):
            raise CaptureError(f"{where}: expected an object with a 'url'")
        url = r["url"]
        if not url.startswith(("http://", "https://")):
            raise CaptureError(f"{where}: url must be http(s), got {url!r}")
        status = r.get("status", 200)
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise CaptureError(f"{where}: status must be an HTTP status code, got {status!r}")
        headers = r.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise CaptureError(f"{where}: headers must map strings to strings")
        body = b""
        file = r.get("file")
        if file is not None:
            if not isinstance(file, str):
                raise CaptureError(f"{where}: file must be a relative path")
            target = (folder / file).resolve()
            if not target.is_relative_to(folder.resolve()):
                raise CaptureError(f"{where}: file {file!r} is outside the capture folder")
            try:
                body = target.read_bytes()
            except FileNotFoundError:
                raise CaptureError(f"{where}: file {file!r} is listed but absent") from None
        response = CaptureResponse(url, status, body, headers, file, str(r.get("provenance", "")))
        if response.key in seen:
            raise CaptureError(f"{where}: {url} is listed twice")
        seen.add(response.key)
        responses.append(response)
    return Capture(folder, str(raw.get("description", "")), tuple(responses))


def _strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _not_modified(headers, etag: str, last_modified: str) -> bool:
    inm = headers.get("If-None-Match")
    if inm is not None:  # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
        tags = [t.strip() for t in inm.split(",")]
        return "*" in tags or etag in tags or f"W/{etag}" in tags
    ims = headers.get("If-Modified-Since")
    if ims:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False
    return False


def _handler(responses: dict[str, CaptureResponse]) -> type[BaseHTTPRequestHandler]:
    class ReplayHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "newsmerge-replay/0.1"

        def log_message(self, format: str, *args: object) -> None:
            log.debug("replay %s - %s", self.address_string(), format % args)

        def do_HEAD(self) -> None:
            self._respond(head=True)

        def do_GET(self) -> None:
            self._respond(head=False)

        def _respond(self, head: bool) -> None:
            r = responses.get(self.path)
            if r is None:
                body = f"not in capture: {self.path}\n".encode()
                self._send(404, {"Content-Type": "text/plain; charset=utf-8"}, body, head)
                return
            headers = {k: v for k, v in r.headers.items() if k.lower() not in _HOP_HEADERS}
            body = r.body
            if r.status == 200:
                etag = _strong_etag(body)
                lm = next(
                    (v for k, v in r.headers.items() if k.lower() == "last-modified"),
                    DEFAULT_LAST_MODIFIED,
                )
                headers = {k: v for k, v in headers.items() if k.lower() != "last-modified"}
                headers |= {"ETag": etag, "Last-Modified": lm}
                if _not_modified(self.headers, etag, lm):
                    self._send(304, {"ETag": etag, "Last-Modified": lm}, b"", head)
                    return
                if body and "gzip" in (self.headers.get("Accept-Encoding") or "").lower():
                    body = gzip.compress(body, mtime=0)
                    headers |= {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
            self._send(r.status, headers, body, head)

        def _send(self, status: int, headers: dict[str, str], body: bytes, head: bool) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head and status != 304 and body:
                self.wfile.write(body)

    return ReplayHandler


@dataclass(frozen=True)
class ReplayServer:
    base_url: str  # e.g. http://127.0.0.1:54321
    capture: Capture


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients closing kept-alive connections is normal; anything else is worth a log line.
        log.debug("replay connection from %s ended with an error", client_address, exc_info=True)


@contextmanager
def serve_capture(path: str | Path) -> Iterator[ReplayServer]:
    """Serve a capture on 127.0.0.1 (a free port) in a daemon thread until the block exits."""
    capture = load_capture(path)
    server = _QuietServer(("127.0.0.1", 0), _handler(capture.by_key()))
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="newsmerge-replay", daemon=True
    )
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield ReplayServer(f"http://{host}:{port}", capture)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class ReplayTransport(httpx.BaseTransport):
    """Sends each request to the replay server at /{host}{path}?{query} of its original URL.

    The httpx client still sees the original URL (response.request.url, redirects resolved
    against it), so articles carry the outlets' real URLs and domain checks see real hosts.
    """

    def __init__(self, base_url: str, inner: httpx.BaseTransport | None = None) -> None:
        self.base_url = httpx.URL(base_url.rstrip("/"))
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = self.base_url.copy_with(raw_path=replay_path(request.url).encode("ascii"))
        headers = httpx.Headers(request.headers)
        headers["Host"] = self.base_url.netloc.decode("ascii")
        headers["X-Original-URL"] = str(request.url)
        forwarded = httpx.Request(
            request.method,
            target,
            headers=headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return self._inner.handle_request(forwarded)

    def close(self) -> None:
        self._inner.close()


def replay_transport(base_url: str) -> httpx.BaseTransport:
    """An httpx transport that replays from the server at `base_url` (see `serve_capture`)."""
    return ReplayTransport(base_url)


def transport_for(replay_base_url: str | None) -> httpx.BaseTransport | None:
    """For flow tasks that pass plain strings: a replay transport, or None for the real network."""
    return replay_transport(replay_base_url) if replay_base_url else None


def main(argv: list[str] | None = None) -> None:
    """`python -m newsmerge.replay CAPTURE`: serve a capture until interrupted."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("capture", help="capture folder containing capture.json")
    args = parser.parse_args(argv)
    with serve_capture(args.capture) as server:
        print(f"serving {len(server.capture.responses)} responses at {server.base_url}")
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
