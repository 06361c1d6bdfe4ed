"""newsmerge: one credited story per event, from the news of many outlets.

The analyst's entry points are `load_stories`, `load_articles` and `load_credits`. They are
imported lazily so that `import newsmerge.models` stays light for the pipeline's stages.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export", "load_articles", "load_credits", "load_stories"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from newsmerge import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'newsmerge' has no attribute {name!r}")
