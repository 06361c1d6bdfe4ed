"""The local similarity scale follows the size of an article's own story (dedup.local_scale)."""

from __future__ import annotations

import numpy as np

from dedup.local_scale import local_scale, story_size_estimates
from dedup.settings import DedupSettings

OWN, TOPIC, OTHER = 0.85, 0.45, 0.15


def _topic_graph(small: int = 6, big: int = 12, others: int = 12):
    """All pairs of: `small` stories of three on one topic (each other's nearest stories),
    one story of `big` articles, and `others` unrelated articles."""
    story = [f"s{k}" for k in range(small) for _ in range(3)]
    story += ["big"] * big + [f"o{k}" for k in range(others)]
    n = len(story)
    left, right = np.triu_indices(n, k=1)
    sim = np.full(len(left), OTHER)
    same = np.array([story[i] == story[j] for i, j in zip(left, right, strict=True)])
    topic = np.array(
        [story[i][0] == "s" and story[j][0] == "s" for i, j in zip(left, right, strict=True)]
    )
    sim[topic] = TOPIC
    sim[same] = OWN
    return story, n, left, right, sim


SETTINGS = DedupSettings()


def _scale(n, left, right, sim, k_min, settings=SETTINGS):
    return local_scale(
        n,
        left,
        right,
        sim,
        skip=settings.hub_skip,
        k_min=k_min,
        k_max=settings.hub_k,
        size_factor=settings.hub_size_factor,
    ).scale


def test_story_sizes_are_read_off_the_drop_in_similarity():
    story, n, left, right, sim = _topic_graph()
    size = story_size_estimates(n, left, right, sim, horizon=20)
    small = [size[i] for i, s in enumerate(story) if s.startswith("s")]
    big = [size[i] for i, s in enumerate(story) if s == "big"]
    assert set(small) == {2}  # two story-mates before the drop to the topic's other stories
    assert set(big) == {11}


def test_stories_of_three_on_one_topic_stay_apart_and_a_story_of_twelve_keeps_the_wide_window():
    """The user-visible point: a story of three is only "more similar than usual" when it
    beats the topic's other stories, while a story of twelve is not measured against itself."""
    story, n, left, right, sim = _topic_graph()
    fixed = _scale(n, left, right, sim, k_min=20)
    adaptive = _scale(n, left, right, sim, k_min=5)
    s0 = story.index("s0")
    # A same-topic pair of two stories of three passes the link bar above the fixed scale and
    # sits exactly at the adaptive one.
    assert TOPIC - fixed[s0] >= SETTINGS.link_threshold
    assert abs(TOPIC - adaptive[s0]) < 1e-9
    b = story.index("big")
    assert adaptive[b] == fixed[b]  # twice eleven is clipped to the widest window, hub_k
    assert OWN - adaptive[b] > 0.15  # the large story's own pairs stay well above its scale


def test_equal_bounds_give_every_article_the_widest_window():
    _, n, left, right, sim = _topic_graph()
    rng = np.random.default_rng(7)
    sim = sim + rng.uniform(0, 0.01, len(sim))
    got = _scale(n, left, right, sim, k_min=20)
    for i in range(n):
        mine = np.sort(sim[(left == i) | (right == i)])[::-1]
        assert np.isclose(got[i], mine[3:23].sum() / 20)


def test_a_neighbourhood_seen_only_in_part_keeps_the_widest_window():
    """In a small batch the largest drop is the one to "no more candidates": no size can be
    read off it, so the scale stays the widest window's (missing ranks count 0)."""
    _, n, left, right, sim = _topic_graph(small=2, big=0, others=3)  # 9 articles
    assert n < 3 + 20
    assert np.allclose(_scale(n, left, right, sim, k_min=5), _scale(n, left, right, sim, k_min=20))


def test_no_pairs_or_no_window_mean_no_scale():
    empty = np.zeros(0, dtype=np.int64)
    assert not _scale(4, empty, empty, np.zeros(0), k_min=5).any()
    _, n, left, right, sim = _topic_graph()
    off = local_scale(n, left, right, sim, skip=3, k_min=0, k_max=0, size_factor=2.0)
    assert not off.scale.any() and not off.story_size.any()
