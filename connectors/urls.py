"""Canonical URLs and the page-URL safety check.

The canonical URL is the article's identity (its id is a hash of it), so the same article
reached through an RSS link with `?at_medium=RSS` and through a shared link with `?utm_...`
must canonicalise to the same string, and the order of the remaining parameters must not matter.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from connectors.netguard import ip_problem, is_ip_literal
from newsmerge.config import OutletConfig

TRACKING_PARAMS = frozenset(
    {
        "traffic_source",
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "ocid",
        "cmpid",
        "mc_cid",
        "mc_eid",
        "ref",
        "rss",
        "ito",
        "cmp",
        "igshid",
        "_ga",
    }
)
TRACKING_PREFIXES = ("utm_", "at_")
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_tracking_param(name: str, extra: frozenset[str] = frozenset()) -> bool:
    name = name.lower()
    return name in TRACKING_PARAMS or name in extra or name.startswith(TRACKING_PREFIXES)


def canonical_url(url: str, extra_tracking: frozenset[str] = frozenset()) -> str:
    """Lowercase scheme and host, no fragment, no default port, no tracking, sorted query."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:  # "http://[::1": not a URL we can take apart; it stays what it is
        return url
    scheme = parts.scheme.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    if parts.username:  # credentials never belong in an article URL, but keep the URL honest
        netloc = f"{parts.username}@{netloc}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_param(k, extra_tracking)
    ]
    query.sort(key=lambda kv: kv[0])  # stable: repeated keys keep their order
    path = parts.path or ("/" if netloc else "")
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def _literal_ip_problem(host: str) -> str | None:
    if not is_ip_literal(host):
        return None  # a hostname: its addresses are vetted when it is fetched (netguard)
    problem = ip_problem(host)
    return f"host {problem}" if problem else None


def _web_host(url: str) -> tuple[str, str | None]:
    """The URL's host, and why it is no place to fetch from at all (None when it may be)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError as exc:
        return "", f"unparseable URL: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return host, f"scheme {parts.scheme or '(none)'!r} is not http(s)"
    if not host:
        return host, "URL has no host"
    return host, _literal_ip_problem(host)


def page_url_problem(url: str, outlet: OutletConfig) -> str | None:
    """Why an article page at `url` must not be fetched for `outlet`, or None if it may be."""
    host, problem = _web_host(url)
    if problem:
        return problem
    if not outlet.allows_host(host):
        return f"host {host} is not one of {outlet.name}'s domains ({', '.join(outlet.domains)})"
    return None


def feed_url_problem(url: str, outlet: OutletConfig, feed_url: str) -> str | None:
    """Why a feed request (the configured URL or a redirect from it) must not be followed.

    Feed URLs come from config and are trusted; where their server redirects is not. A feed may
    move within its own host or onto one of the outlet's domains (a CDN host in `domains`);
    anything else (another site, a bare IP, file:) is refused, so the feed fails loudly with
    the redirect named in its error instead of quietly reading someone else's content.
    """
    host, problem = _web_host(url)
    if problem:
        return problem
    feed_host = (urlsplit(feed_url).hostname or "").rstrip(".")
    if host != feed_host and not outlet.allows_host(host):
        return (
            f"feed redirected to another host {host} (allowed: the feed's own host {feed_host} "
            f"or {outlet.name}'s domains {', '.join(outlet.domains)})"
        )
    return None
