"""A tiny scriptable HTTP server on 127.0.0.1 for connector tests: faults on demand.

Routes map a request path to a sequence of replies (the last one repeats), so "500 then 200",
"429 with Retry-After", "stall past the read timeout" or "gzip bomb" are one line each. Every
request is recorded so tests can assert what was sent (conditional headers, User-Agent).

Body faults: `truncate` promises the whole body in Content-Length, sends only the first bytes
and hangs up (a body cut off mid-XML); `stream` sends that many bytes chunked, generated as
they are written and with no Content-Length (a 50 MB body costs the server no memory and the
client must stop it while streaming); `body_delay` stalls after the headers (a read that stalls
mid-response).
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stall before answering (read-timeout tests)
    gzip: bool = False  # gzip the body when the client accepts it
    raw_gzip: bytes | None = None  # send these bytes as a gzip body as-is (bombs)
    etag: str | None = None  # answer 304 when If-None-Match matches
    last_modified: str | None = None  # answer 304 when If-Modified-Since equals it
    truncate: int | None = None  # send only this many body bytes, then close the connection
    stream: int | None = None  # stream this many bytes of body, repeated (chunked, lazily)
    body_delay: float = 0.0  # stall this long after the headers, before the body


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up (timeouts, size caps) are what these tests provoke


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class FaultServer:
    """`with FaultServer() as s: s.route("/x", Reply(500), Reply(200, b"ok"))`."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _next(self, path: str) -> Reply:
        with self._lock:
            replies = self.routes.get(path)
            if not replies:
                return Reply(404, b"not found")
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def __enter__(self) -> FaultServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with outer._lock:
                    outer.requests.append(Seen(self.path, dict(self.headers.items())))
                r = outer._next(self.path)
                if r.delay:
                    time.sleep(r.delay)
                headers = dict(r.headers)
                body = r.body
                status = r.status
                if r.etag:
                    headers["ETag"] = r.etag
                if r.last_modified:
                    headers["Last-Modified"] = r.last_modified
                inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
                if (r.etag and inm == r.etag) or (
                    r.last_modified and inm is None and ims == r.last_modified
                ):
                    status, body = 304, b""
                accepts = "gzip" in (self.headers.get("Accept-Encoding") or "")
                if r.raw_gzip is not None:
                    body = r.raw_gzip
                    headers["Content-Encoding"] = "gzip"
                elif r.gzip and accepts and body:
                    body = gzip.compress(body)
                    headers["Content-Encoding"] = "gzip"
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    if r.stream is not None:
                        self.send_header("Transfer-Encoding", "chunked")
                    elif status != 304:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if r.body_delay:
                        self.wfile.flush()
                        time.sleep(r.body_delay)
                    if r.stream is not None:
                        self._stream(r.stream, body or b"x")
                    elif r.truncate is not None:
                        self.wfile.write(body[: r.truncate])
                        self.wfile.flush()
                        self.close_connection = True
                    elif status != 304:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up: that is the point

            def _stream(self, total: int, pattern: bytes) -> None:
                if len(pattern) < 65536:  # the same cycle, in pieces worth writing
                    pattern = pattern * (65536 // len(pattern) + 1)
                sent = 0
                while sent < total:
                    start = sent % len(pattern)
                    piece = pattern[start : start + 65536][: total - sent]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    sent += len(piece)
                self.wfile.write(b"0\r\n\r\n")

        server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
