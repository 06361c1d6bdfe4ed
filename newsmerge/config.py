"""Reads `config/outlets.toml` into typed settings, failing early with the file, key and cause.

A bad config found at fetch time would fail every scheduled run in the same confusing way;
found here it fails once, with a message that says exactly what to fix.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "outlets.toml"
STORE_URL_ENV = "NEWSMERGE_STORE_URL"


class ConfigError(ValueError):
    """The config file is missing, unreadable or says something newsmerge cannot use."""

    def __init__(self, path: Path | str, key: str, expected: str, got: Any = None) -> None:
        self.path, self.key, self.expected = str(path), key, expected
        detail = f" (got {got!r})" if got is not None else ""
        super().__init__(f"{path}: {key}: expected {expected}{detail}")


@dataclass(frozen=True)
class PollingConfig:
    """How politely and how far every outlet is fetched."""

    interval_minutes: int = 15
    max_backoff_minutes: int = (
        1440  # a failing feed is retried after 1, 2, 4… intervals, up to this
    )
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_retry_after_s: float = 60.0
    max_body_bytes: int = 5_000_000
    max_articles_per_feed: int = 50
    fetch_pages: bool = True
    page_concurrency: int = 4


@dataclass(frozen=True)
class OutletConfig:
    """An outlet: the name it is credited by, its feeds, the domains its pages may come from."""

    name: str
    feeds: tuple[str, ...]
    domains: tuple[str, ...]
    module: str = "generic"  # connectors.outlets.<module> holds the outlet's quirks
    polling: PollingConfig = field(default_factory=PollingConfig)

    def allows_host(self, host: str | None) -> bool:
        """True when `host` is one of the outlet's domains or a subdomain of one."""
        host = (host or "").lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.domains)


@dataclass(frozen=True)
class Config:
    outlets: tuple[OutletConfig, ...]
    store_url: str
    polling: PollingConfig
    path: str = str(DEFAULT_CONFIG)
    dedup: dict[str, Any] = field(default_factory=dict)  # dedup.DedupSettings.from_mapping

    def outlet(self, name: str) -> OutletConfig:
        for o in self.outlets:
            if o.name.lower() == name.lower() or o.module == name.lower():
                return o
        known = ", ".join(o.name for o in self.outlets)
        raise ConfigError(self.path, "outlets", f"one of {known}", name)

    def select(self, names: list[str] | None) -> tuple[OutletConfig, ...]:
        return self.outlets if not names else tuple(self.outlet(n) for n in names)


def _typed(path: Path, key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    # bool is an int in Python; in a config file `true` is never a number.
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise ConfigError(path, key, what, value)
    return value


def _polling(path: Path, raw: Any, key: str, base: PollingConfig) -> PollingConfig:
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise ConfigError(path, key, "a table", raw)
    known = {f.name: f for f in fields(PollingConfig)}
    values = {f: getattr(base, f) for f in known}
    for name, value in raw.items():
        if name not in known:
            raise ConfigError(path, f"{key}.{name}", f"one of {', '.join(known)}", name)
        kind = known[name].type
        if kind == "bool":
            _typed(path, f"{key}.{name}", value, bool, "true or false")
        elif kind == "int":
            _typed(path, f"{key}.{name}", value, int, "a whole number")
        else:
            _typed(path, f"{key}.{name}", value, (int, float), "a number")
            value = float(value)
        if not isinstance(value, bool) and value < 0:
            raise ConfigError(path, f"{key}.{name}", "a number >= 0", value)
        values[name] = value
    return PollingConfig(**values)


def _strings(path: Path, key: str, raw: Any, what: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) and s for s in raw):
        raise ConfigError(path, key, f"a non-empty list of {what}", raw)
    return tuple(raw)


def _outlet(path: Path, i: int, raw: Any, polling: PollingConfig) -> OutletConfig:
    key = f"outlets[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError(path, key, "a table", raw)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(path, f"{key}.name", "the outlet's credit name, a non-empty string", name)
    feeds = _strings(path, f"{key}.feeds", raw.get("feeds"), "feed URLs")
    for j, url in enumerate(feeds):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(path, f"{key}.feeds[{j}]", "an http(s) URL", url)
    domains = tuple(
        d.lower().lstrip(".")
        for d in _strings(path, f"{key}.domains", raw.get("domains"), "domains")
    )
    module = raw.get("module", "generic")
    if not isinstance(module, str) or not module.isidentifier():
        raise ConfigError(path, f"{key}.module", "a connectors.outlets module name", module)
    unknown = set(raw) - {"name", "feeds", "domains", "module", "polling"}
    if unknown:
        raise ConfigError(
            path, f"{key}.{sorted(unknown)[0]}", "name, feeds, domains, module or polling"
        )
    return OutletConfig(
        name=name.strip(),
        feeds=feeds,
        domains=domains,
        module=module,
        polling=_polling(path, raw.get("polling"), f"{key}.polling", polling),
    )


def load_config(path: str | Path | None = None, store_url: str | None = None) -> Config:
    """Load and validate the config; `store_url` (or NEWSMERGE_STORE_URL) overrides the file's."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "an existing TOML file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "(file)", f"valid TOML: {exc}") from None
    polling = _polling(path, raw.get("polling"), "polling", PollingConfig())
    outlets_raw = raw.get("outlets")
    if not isinstance(outlets_raw, list) or not outlets_raw:
        raise ConfigError(path, "outlets", "at least one [[outlets]] table", outlets_raw)
    outlets = tuple(_outlet(path, i, o, polling) for i, o in enumerate(outlets_raw))
    names = [o.name.lower() for o in outlets]
    for o in outlets:
        if names.count(o.name.lower()) > 1:
            raise ConfigError(path, "outlets", "unique outlet names", o.name)
    store = raw.get("store", {})
    if not isinstance(store, dict):
        raise ConfigError(path, "store", "a table", store)
    url = (
        store_url
        or os.environ.get(STORE_URL_ENV)
        or store.get("url")
        or "sqlite:///data/newsmerge.db"
    )
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(
            path, "store.url", "a SQLAlchemy URL such as sqlite:///data/newsmerge.db", url
        )
    dedup = raw.get("dedup", {})
    if not isinstance(dedup, dict):
        raise ConfigError(path, "dedup", "a table of dedup settings", dedup)
    return Config(outlets=outlets, store_url=url, polling=polling, path=str(path), dedup=dedup)
