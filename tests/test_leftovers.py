"""A lone article joins the story of its mutual nearest neighbour when that story is smaller
than the neighbourhoods say (dedup.leftovers)."""

from __future__ import annotations

import numpy as np

from dedup.leftovers import adopt_leftovers


def _pairs(sims: dict[tuple[int, int], float]) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.array(sorted(sims), dtype=np.int64)
    return pairs, np.array([sims[tuple(p)] for p in pairs.tolist()])


# Articles 0, 1 form a story the linkage found; 2 is the third article of that story, told in
# other words, left alone; 3 and 4 are an unrelated pair, 5 an unrelated lone article.
SIMS = {
    (0, 1): 0.80,
    (0, 2): 0.40,
    (1, 2): 0.45,
    (2, 3): 0.30,
    (3, 4): 0.85,
    (4, 5): 0.35,
    (1, 5): 0.20,
}
CLUSTERS = [[0, 1], [2], [3, 4], [5]]
NEW = np.ones(6, dtype=bool)


def test_the_third_article_of_a_story_found_in_part_joins_it():
    pairs, sim = _pairs(SIMS)
    size = np.full(6, 3)  # every neighbourhood says: stories of three
    clusters, adopted = adopt_leftovers(CLUSTERS, pairs, sim, 0.15, size, NEW)
    assert sorted(map(sorted, clusters)) == [[0, 1, 2], [3, 4, 5]]
    assert adopted == {2: 1, 5: 4}  # the evidence names the neighbour it matched


def test_a_complete_story_a_small_batch_or_a_weak_pair_adopts_nothing():
    pairs, sim = _pairs(SIMS)
    same = sorted(map(sorted, CLUSTERS))
    two = np.full(6, 2)  # stories of two: [0, 1] is complete
    assert sorted(map(sorted, adopt_leftovers(CLUSTERS, pairs, sim, 0.15, two, NEW)[0])) == same
    unseen = np.zeros(6, dtype=np.int64)  # no size could be read (a small batch)
    assert sorted(map(sorted, adopt_leftovers(CLUSTERS, pairs, sim, 0.15, unseen, NEW)[0])) == same
    size = np.full(6, 3)
    assert sorted(map(sorted, adopt_leftovers(CLUSTERS, pairs, sim, 0.5, size, NEW)[0])) == same
    known = np.zeros(6, dtype=bool)  # only new articles are decided
    assert sorted(map(sorted, adopt_leftovers(CLUSTERS, pairs, sim, 0.15, size, known)[0])) == same


def test_only_mutual_nearest_neighbours_join():
    """5's nearest is 4, but 4's nearest outside its story is 2 (raised here): 5 stays alone."""
    sims = dict(SIMS)
    sims[(2, 4)] = 0.50
    pairs, sim = _pairs(sims)
    clusters, adopted = adopt_leftovers(CLUSTERS, pairs, sim, 0.15, np.full(6, 3), NEW)
    assert [5] in clusters and 5 not in adopted
