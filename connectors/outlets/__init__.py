"""Per-outlet quirks as small hooks, so the shared connector code has no outlet names in it.

Each module `connectors.outlets.<name>` defines `QUIRKS = Quirks(...)`; `generic` is the default,
so an outlet whose feed is plain RSS needs only a config table and no code.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("newsmerge.connectors")

Entry = dict[str, Any]  # a feedparser entry (a dict subclass)


def _same(entry: Entry) -> Entry:
    return entry


def _never(entry: Entry) -> bool:
    return False


def _always(url: str, entry: Entry) -> bool:
    return True


def _text(text: str) -> str:
    return text


@dataclass(frozen=True)
class Quirks:
    """What is special about one outlet's feed items.

    clean_item: fix an entry before it becomes an Article (return it, possibly modified).
    skip: drop the entry altogether (not news, an ad, a duplicate section link).
    has_page: whether the item's page carries article text worth fetching (videos don't).
    clean_text: tidy extracted page text (drop a trailing credit line, say).
    tracking_params: query parameters this outlet adds for tracking, beyond the common ones.
    """

    clean_item: Callable[[Entry], Entry] = _same
    skip: Callable[[Entry], bool] = _never
    has_page: Callable[[str, Entry], bool] = _always
    clean_text: Callable[[str], str] = _text
    tracking_params: frozenset[str] = field(default_factory=frozenset)


GENERIC = Quirks()


def quirks_for(module: str) -> Quirks:
    """The quirks of `connectors.outlets.<module>`, or the generic ones if it has none."""
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{module}":
            raise
        log.warning("no connectors.outlets.%s module; using generic quirks", module)
        return GENERIC
    quirks = getattr(mod, "QUIRKS", GENERIC)
    if not isinstance(quirks, Quirks):
        raise TypeError(f"connectors.outlets.{module}.QUIRKS must be a Quirks")
    return quirks
