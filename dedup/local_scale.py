"""Each article's local similarity scale, sized to the story the article seems to belong to.

Story linkage scores a pair by how much more similar the two articles are than their usual
neighbours (CSLS-style hubness correction, `dedup.stories.score_pairs`). Which neighbours are
"usual" depends on the story's size: with a window of 20 neighbours, an article of a story of
three is measured against 17 other stories, a lenient bar, so two same-topic stories join; a
window of 5 is right for it, but an article of a story of twelve would then be measured
against its own story and the story falls apart (docs/story-evaluation.md, sessions 5 and 11).

So the window follows the story: an article's own story shows as the run of neighbours before
the largest drop in similarity. That estimate is noisy per article (a near-copy at the top
makes a drop after one), so it is smoothed over the article's nearest neighbours, which belong
mostly to the same story, taking a high percentile: a story is misjudged as small more often
than as large, and too small a window is the costlier error (it splits the story).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SMOOTH_NEIGHBOURS = 10  # nearest neighbours whose size estimates smooth an article's own
SMOOTH_PERCENTILE = 75.0


def story_size_estimates(
    n: int, left: np.ndarray, right: np.ndarray, sim: np.ndarray, horizon: int
) -> np.ndarray:
    """Per article, how many of its neighbours (within its `horizon` nearest) come before the
    largest drop in similarity, smoothed over its nearest neighbours; at least 1.

    `left`, `right`, `sim` are the candidate pairs and their similarity; an article's
    neighbours are its candidates, most similar first, and a missing rank counts 0."""
    ranked, other = ranked_neighbours(n, left, right, sim, horizon + 1)
    return _sizes(ranked, other, horizon)


def _sizes(ranked: np.ndarray, other: np.ndarray, horizon: int) -> np.ndarray:
    """`story_size_estimates` from the ranked candidates (`ranked_neighbours`, at least horizon + 1
    wide), so that `local_scale` ranks them once."""
    drops = ranked[:, :horizon] - ranked[:, 1 : horizon + 1]
    own = np.argmax(drops, axis=1) + 1
    near = other[:, :SMOOTH_NEIGHBOURS]
    votes = np.where(near >= 0, own[np.maximum(near, 0)], own[:, None])
    votes = np.concatenate([own[:, None], votes], axis=1)
    smoothed = np.percentile(votes, SMOOTH_PERCENTILE, axis=1)
    return np.maximum(np.rint(smoothed).astype(np.int64), 1)


class LocalScale(NamedTuple):
    scale: np.ndarray  # per article: mean similarity of its window of neighbours
    story_size: np.ndarray  # per article: estimated own-story size counting itself; 0 unread


def local_scale(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    sim: np.ndarray,
    skip: int,
    k_min: int,
    k_max: int,
    size_factor: float,
) -> LocalScale:
    """Per article, the mean similarity of its neighbours ranked `skip` to `skip + k` (missing
    ranks count 0), where k is `size_factor` times its estimated own-story size, clipped to
    [k_min, k_max], for an article with at least `skip + k_max` candidates, else k_max;
    k_min == k_max gives every article the same window. 0 when k_max is 0.

    With the estimated story size (counting the article; 0 where no size can be read: a
    neighbourhood not seen in full, or k_min == k_max), which `dedup.leftovers` uses."""
    story_size = np.zeros(n, dtype=np.int64)
    if k_max <= 0 or not len(left):
        return LocalScale(np.zeros(n), story_size)
    k_min = min(max(k_min, 1), k_max)
    ranked, other = ranked_neighbours(n, left, right, sim, max(skip, 1) + k_max)
    k = np.full(n, k_max)
    if k_min < k_max:
        size = _sizes(ranked, other, horizon=k_max)
        # Only a neighbourhood seen in full says how large the story is: with fewer candidates
        # than the window (a small batch, a quiet topic) the largest drop is the one to
        # "nothing", and the scale keeps the widest window, which missing ranks pull to 0.
        seen = (other >= 0).sum(axis=1) >= skip + k_max
        adaptive = np.clip(np.rint(size_factor * size), k_min, k_max).astype(np.int64)
        k = np.where(seen, adaptive, k_max)
        story_size = np.where(seen, size + 1, 0)
    cols = np.arange(ranked.shape[1])[None, :]
    window = (cols >= skip) & (cols < skip + k[:, None])
    return LocalScale((ranked * window).sum(axis=1) / k, story_size)


def ranked_neighbours(
    n: int, left: np.ndarray, right: np.ndarray, sim: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """(similarity, neighbour) of each article's `width` nearest candidates, most similar
    first; 0 and -1 where it has fewer. Ties break on the neighbour's index (deterministic)."""
    node = np.concatenate([left, right])
    nb = np.concatenate([right, left])
    val = np.concatenate([sim, sim])
    order = np.lexsort((nb, -val, node))
    node, nb, val = node[order], nb[order], val[order]
    rank = np.arange(len(node)) - np.searchsorted(node, node, side="left")
    keep = rank < width
    ranked = np.zeros((n, width))
    other = np.full((n, width), -1, dtype=np.int64)
    ranked[node[keep], rank[keep]] = val[keep]
    other[node[keep], rank[keep]] = nb[keep]
    return ranked, other


__all__ = ["LocalScale", "local_scale", "ranked_neighbours", "story_size_estimates"]
