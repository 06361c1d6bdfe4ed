"""Never let a feed or page URL reach a private, loopback or link-local address.

A feed item's link, or a redirect from an outlet's server, is a URL chosen by someone on the
internet. Fetching it from inside our network could reach the cloud metadata service
(169.254.169.254), a database on 127.0.0.1 or a router on 192.168.x.x (server-side request
forgery). Checking the hostname's spelling is not enough: `evil.scmp.com` may *resolve* to
127.0.0.1. So every connection is vetted by address:

* `GuardedTransport` (the default transport of `Fetcher`) resolves the host once, refuses the
  request if any address is not public, and then connects to the vetted address itself (the
  request keeps its Host header and TLS SNI/certificate check use the hostname). There is no
  second lookup for an attacker's DNS to answer differently (no time-of-check/time-of-use gap,
  no DNS rebinding). Every redirect hop is a new request, so every hop is vetted.
* When a caller supplies its own transport (replay, tests), that transport decides where the
  bytes go, so the address check becomes a pre-check of each hop's *original* URL with an
  injected resolver (see `Fetcher`). That path has the usual check-then-connect gap and is
  meant for replay and tests, where the transport is ours.

The resolver is a parameter everywhere: tests map `evil.scmp.com` to 127.0.0.1 without DNS.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Sequence

import httpx

# (host, port) → the IP addresses it resolves to, as strings.
Resolver = Callable[[str, int], Sequence[str]]
DEFAULT_PORTS = {"http": 80, "https": 443}


class AddressRefused(httpx.ConnectError):
    """The request was not sent: its host is, or resolves to, a non-public address."""


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, by the operating system's resolver (real DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def ip_problem(address: str) -> str | None:
    """Why connecting to the IP address `address` is refused, or None when it is public."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return f"{address!r} is not an IP address"
    embedded = []
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address hidden in IPv6 (::ffff:127.0.0.1, 6to4, Teredo) is judged as itself.
        embedded = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
        if ip.teredo:
            embedded.append(ip.teredo[1])
    for candidate in (ip, *embedded):
        if (
            candidate.is_loopback
            or candidate.is_private
            or candidate.is_link_local
            or candidate.is_unspecified
            or candidate.is_multicast
            or candidate.is_reserved
            or not candidate.is_global
        ):
            return f"{address} is a loopback/private/link-local or otherwise non-public address"
    return None


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def resolve_public(host: str, port: int, resolver: Resolver) -> tuple[str | None, list[str]]:
    """(why `host` must not be contacted or None, the addresses it resolved to)."""
    host = host.strip("[]")
    if is_ip_literal(host):
        problem = ip_problem(host)
        return (f"host {problem}" if problem else None), [host]
    try:
        addresses = [str(a) for a in resolver(host, port)]
    except (OSError, UnicodeError, ValueError) as exc:
        return f"cannot resolve host {host}: {exc}", []
    if not addresses:
        return f"host {host} resolves to no address", []
    for address in addresses:
        # One bad address is enough: a DNS answer mixing public and private records is an attack.
        if problem := ip_problem(address):
            return f"host {host} resolves to {problem}", addresses
    return None, addresses


def url_address_problem(url: str | httpx.URL, resolver: Resolver) -> str | None:
    """Why the host of `url` must not be contacted (non-public, or unresolvable), or None."""
    u = httpx.URL(url) if not isinstance(url, httpx.URL) else url
    if u.scheme not in DEFAULT_PORTS:
        return f"scheme {u.scheme or '(none)'!r} is not http(s)"
    if not u.host:
        return "URL has no host"
    return resolve_public(u.host, u.port or DEFAULT_PORTS[u.scheme], resolver)[0]


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that connects only to vetted public addresses, pinned per request.

    The host is resolved once per request with `resolver`; if every address is public the
    connection goes to the first one (URL host replaced by the address; Host header, TLS SNI
    and certificate verification keep the hostname). One connection pool per hostname, so a
    TLS connection verified for one host is never reused for another that shares its address.
    `ip_check` is the address policy (tests may allow 127.0.0.1 to prove the pinning).
    """

    def __init__(
        self,
        resolver: Resolver = system_resolver,
        *,
        ip_check: Callable[[str], str | None] = ip_problem,
        transport_factory: Callable[[], httpx.BaseTransport] = httpx.HTTPTransport,
    ) -> None:
        self.resolver = resolver
        self.ip_check = ip_check
        self._factory = transport_factory
        self._pools: dict[tuple[str, str, int], httpx.BaseTransport] = {}
        self._lock = threading.Lock()

    def _vet(self, request: httpx.Request) -> str:
        url = request.url
        if url.scheme not in DEFAULT_PORTS:
            raise AddressRefused(f"scheme {url.scheme!r} is not http(s)", request=request)
        host = url.host
        if not host:
            raise AddressRefused("URL has no host", request=request)
        port = url.port or DEFAULT_PORTS[url.scheme]
        if is_ip_literal(host):
            addresses = [host]
        else:
            try:
                addresses = [str(a) for a in self.resolver(host, port)]
            except (OSError, UnicodeError, ValueError) as exc:
                raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from None
            if not addresses:
                raise httpx.ConnectError(f"{host} resolves to no address", request=request)
        for address in addresses:
            if problem := self.ip_check(address):
                raise AddressRefused(f"refused {host}: {problem}", request=request)
        return addresses[0]

    def _pool(self, scheme: str, host: str, port: int) -> httpx.BaseTransport:
        key = (scheme, host, port)
        with self._lock:
            if key not in self._pools:
                self._pools[key] = self._factory()
            return self._pools[key]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        address = self._vet(request)
        url = request.url
        host = url.host
        port = url.port or DEFAULT_PORTS[url.scheme]
        if is_ip_literal(host):
            return self._pool(url.scheme, host, port).handle_request(request)
        extensions = dict(request.extensions)
        if url.scheme == "https":
            extensions["sni_hostname"] = host  # SNI and certificate check against the name
        headers = httpx.Headers(request.headers)
        headers.setdefault("Host", url.netloc.decode("ascii"))
        pinned = httpx.Request(
            request.method,
            url.copy_with(host=address),
            headers=headers,
            stream=request.stream,
            extensions=extensions,
        )
        return self._pool(url.scheme, host, port).handle_request(pinned)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
