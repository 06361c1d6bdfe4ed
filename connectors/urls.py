"""Canonical URLs and the page-URL safety check.

The canonical URL is the article's identity (its id is a hash of it), so the same article
reached through an RSS link with `?at_medium=RSS` and through a shared link with `?utm_...`
must canonicalise to the same string, and the order of the remaining parameters must not matter.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
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
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None  # a hostname: resolving it is left to a later issue
    if (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
    ):
        return f"host {host} is a loopback/private/link-local address"
    return None


def page_url_problem(url: str, outlet: OutletConfig) -> str | None:
    """Why an article page at `url` must not be fetched for `outlet`, or None if it may be."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        return f"unparseable URL: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} is not http(s)"
    if not host:
        return "URL has no host"
    if problem := _literal_ip_problem(host):
        return problem
    if not outlet.allows_host(host):
        return f"host {host} is not one of {outlet.name}'s domains ({', '.join(outlet.domains)})"
    return None
