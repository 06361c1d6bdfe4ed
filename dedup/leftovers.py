"""Articles the linkage left alone join the story of their mutual nearest neighbour, when that
story is smaller than both neighbourhoods say a story here is.

Average link joins an article to a story only when it is similar enough to *all* its members,
on average. A story of three whose third article is told in other words keeps two members and
leaves the third alone, though the two are what it resembles most. On NeuS's held-out stories
(all of three) that is the largest error left: about one article in six ends alone, most
of them members of a story the linkage found in part (docs/story-evaluation.md, session 12).

The rule asks for three agreements, so that a lone article is not put just anywhere:
* mutual nearest neighbours: the article's most similar candidate outside its own cluster is
  `j`, and `j`'s most similar candidate outside *its* cluster is the article;
* the pair is a candidate within the time gap whose similarity reaches a floor (the lexical
  `edge_threshold`, not the higher bar mixed for embeddings: the pair is already the lone
  article's best, and the mixed bar is what left many true ones alone);
* `j`'s cluster is smaller than the story size both articles' neighbourhoods suggest
  (`dedup.local_scale`: the run of neighbours before the largest drop in similarity), so a
  complete story takes no extra member and a neighbourhood not seen in full (a small batch)
  adopts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dedup.local_scale import ranked_neighbours


def adopt_leftovers(
    clusters: Sequence[Sequence[int]],
    pairs: np.ndarray,
    similarity: np.ndarray,
    floor: float,
    story_size: np.ndarray,
    movable: np.ndarray,
) -> tuple[list[list[int]], dict[int, int]]:
    """`clusters` with each lone `movable` article (a new one) moved into the cluster of its
    mutual nearest neighbour where the rule above allows, and {article: that neighbour} for
    the evidence; deterministic (articles in index order, ties to the smaller neighbour
    index). `pairs` (m, 2) and `similarity` (m,) are the scored candidates (within the time
    gap); `story_size` is per article, 0 where unknown."""
    members = [list(c) for c in clusters]
    n = len(story_size)
    label = np.full(n, -1, dtype=np.int64)
    for k, c in enumerate(members):
        label[c] = k
    adopted: dict[int, int] = {}
    if not len(pairs):
        return members, adopted
    # each article's most similar candidate in another cluster (-1 if none) above the floor
    left, right = pairs[:, 0], pairs[:, 1]
    keep = (similarity >= floor) & (label[left] != label[right])
    best = ranked_neighbours(n, left[keep], right[keep], similarity[keep], 1)[1][:, 0]
    for i in range(n):
        k = label[i]
        j = best[i]
        if not movable[i] or len(members[k]) != 1 or j < 0 or best[j] != i:
            continue
        target = label[j]
        room = min(story_size[i], story_size[j])
        if len(members[target]) + 1 > room:
            continue
        members[target].append(i)
        members[k] = []
        label[i] = target
        adopted[i] = int(j)
    return [c for c in members if c], adopted


__all__ = ["adopt_leftovers"]
