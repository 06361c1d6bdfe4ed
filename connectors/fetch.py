"""One polite HTTP fetcher for feeds and pages, so every outlet is fetched the same careful way.

Outlets are third parties: we identify ourselves, back off when they struggle, honour
Retry-After, ask "has it changed?" before downloading a feed again, and never let a large or
decompression-bomb response take the process's memory with it.

Nor do we let a URL from the internet reach our own network: by default every request goes
through `netguard.GuardedTransport`, which connects only to vetted public addresses (every
redirect hop included). A caller that supplies its own transport (replay, tests) passes a
`resolver` to have each hop's original URL vetted before it is sent (see connectors.netguard).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from connectors.netguard import (
    AddressRefused,
    GuardedTransport,
    Resolver,
    system_resolver,
    url_address_problem,
)
from newsmerge.config import PollingConfig

log = logging.getLogger("newsmerge.connectors")

USER_AGENT = "newsmerge/0.1 (+https://github.com/newsmerge/newsmerge; news aggregation bot)"
MAX_REDIRECTS = 5
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504}) | frozenset(range(505, 600))
_CHUNK = 64 * 1024

# Given a URL about to be requested (the first or a redirect target), the reason to refuse it.
UrlCheck = Callable[[str], str | None]


class FetchError(Exception):
    """The URL could not be fetched; the message says why in words an operator can act on."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FetchResponse:
    """A fetched body (or "not modified") with the validators to send next time."""

    url: str  # the URL finally answered, after redirects
    status: int
    content: bytes
    headers: httpx.Headers
    not_modified: bool = False

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Decoder:
    """Decodes gzip/deflate incrementally, never producing more than `limit` bytes at once."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise FetchError(f"unsupported Content-Encoding {encoding!r}")

    def feed(self, data: bytes, limit: int) -> bytes:
        if self._z is None:
            return data
        try:
            # max_length bounds the output; anything left over means the body is too big.
            out = self._z.decompress(data, limit + 1)
            if self._z.unconsumed_tail:
                out += b"\0"  # more output pending: over the limit whatever it is
            return out
        except zlib.error as exc:
            raise FetchError(f"corrupt compressed body: {exc}") from None

    def finish(self) -> None:
        """Raise if the compressed stream stopped before its end (garbage or a cut-off body)."""
        if self._z is not None and not self._z.eof:
            raise FetchError("corrupt compressed body: the stream ends before its end marker")


class Fetcher:
    """GET with timeouts, bounded retries, conditional requests, size cap and redirect limit."""

    def __init__(
        self,
        polling: PollingConfig | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = USER_AGENT,
        max_redirects: int = MAX_REDIRECTS,
        resolver: Resolver | None = None,
    ) -> None:
        """`transport` None: the real network through `GuardedTransport(resolver or DNS)`, which
        vets and pins every connection. A supplied `transport` (replay, tests) routes requests
        itself; then `resolver`, when given, pre-checks the original host of every hop."""
        self.polling = polling or PollingConfig()
        self.sleep = sleep
        self.max_redirects = max_redirects
        self._precheck: Resolver | None = None
        if transport is None:
            transport = GuardedTransport(resolver or system_resolver)
        else:
            self._precheck = resolver
        p = self.polling
        self._client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(
                connect=p.connect_timeout_s,
                read=p.read_timeout_s,
                write=p.read_timeout_s,
                pool=p.connect_timeout_s,
            ),
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip"},
            follow_redirects=False,  # followed by hand so every hop can be checked and counted
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        check_url: UrlCheck | None = None,
    ) -> FetchResponse:
        """Fetch `url`, retrying what is worth retrying; raises FetchError when it cannot."""
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        p = self.polling
        attempt = 0
        while True:
            try:
                return self._get_following(url, headers, check_url)
            except _Retryable as exc:
                if attempt >= p.max_retries:
                    raise FetchError(
                        f"{exc} (gave up after {attempt + 1} attempts)", exc.status
                    ) from None
                delay = p.backoff_s * (2**attempt)
                if exc.retry_after is not None:
                    if exc.retry_after > p.max_retry_after_s:
                        raise FetchError(
                            f"{exc}: Retry-After {exc.retry_after:.0f}s exceeds the "
                            f"{p.max_retry_after_s:.0f}s we wait (max_retry_after_s)",
                            exc.status,
                        ) from None
                    delay = max(delay, exc.retry_after)
                attempt += 1
                log.info("retrying %s in %.1fs (attempt %d): %s", url, delay, attempt + 1, exc)
                self.sleep(delay)

    def _get_following(
        self, url: str, headers: dict[str, str], check_url: UrlCheck | None
    ) -> FetchResponse:
        current = url
        for _ in range(self.max_redirects + 1):
            scheme = current.split(":", 1)[0].lower() if ":" in current else ""
            if scheme not in ("http", "https"):  # file:, ftp:, gopher:, javascript: ...
                raise FetchError(f"refused {current}: scheme {scheme or '(none)'!r} is not http(s)")
            if check_url and (problem := check_url(current)):
                raise FetchError(f"refused {current}: {problem}")
            try:
                if self._precheck and (problem := url_address_problem(current, self._precheck)):
                    raise FetchError(f"refused {current}: {problem}")
                request = self._client.build_request("GET", current, headers=headers)
                response = self._client.send(request, stream=True)
            except AddressRefused as exc:  # before TransportError: never worth a retry
                raise FetchError(f"refused {current}: {exc}") from None
            except httpx.TimeoutException as exc:
                raise _Retryable(f"timed out ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                raise _Retryable(f"transport error: {type(exc).__name__}: {exc}") from None
            except httpx.InvalidURL as exc:
                raise FetchError(f"invalid URL {current!r}: {exc}") from None
            try:
                status = response.status_code
                if response.is_redirect and status != 304:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(f"HTTP {status} redirect without Location", status)
                    current = str(response.url.join(location))
                    continue
                if status == 304:
                    return FetchResponse(
                        str(response.url), status, b"", response.headers, not_modified=True
                    )
                if status in RETRY_STATUSES:
                    raise _Retryable(
                        f"HTTP {status} {response.reason_phrase}".strip(),
                        status,
                        parse_retry_after(response.headers.get("retry-after")),
                    )
                if status >= 400:
                    raise FetchError(f"HTTP {status} {response.reason_phrase}".strip(), status)
                body = self._read_capped(response)
                return FetchResponse(str(response.url), status, body, response.headers)
            finally:
                response.close()
        raise FetchError(f"more than {self.max_redirects} redirects from {url}")

    def _read_capped(self, response: httpx.Response) -> bytes:
        """Read the body, stopping as soon as it (raw or decompressed) passes max_body_bytes."""
        cap = self.polling.max_body_bytes
        too_big = f"body larger than max_body_bytes={cap}"
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            raise FetchError(f"{too_big} (Content-Length {length})", response.status_code)
        decoder = _Decoder(response.headers.get("content-encoding", ""))
        raw_total, parts, total = 0, [], 0
        try:
            for chunk in response.iter_raw(_CHUNK):
                raw_total += len(chunk)
                if raw_total > cap:
                    raise FetchError(too_big, response.status_code)
                out = decoder.feed(chunk, cap - total)
                total += len(out)
                if total > cap:
                    raise FetchError(f"{too_big} after decompression", response.status_code)
                parts.append(out)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out reading body ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"transport error reading body: {exc}") from None
        decoder.finish()
        return b"".join(parts)


class _Retryable(Exception):
    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
