"""Duplicates and stories: MinHash LSH proposes, scores and a time window confirm, average link
joins. One code path serves the incremental pipeline (`assign`) and batch evaluation.

Why two levels: a copy of an article (re-polled item, wire copy republished) shares most word
trigrams, so word-trigram MinHash at a high Jaccard finds it and nothing else. The same event
told by another outlet shares few trigrams but many content words, names and numbers, so a
second MinHash over those features, indexed with LSH banding tuned for low Jaccard, proposes
candidates that a title-weighted TF-IDF cosine and a time window confirm.

Where outlets tell one event in different words even content words fail; with the optional
sentence encoder (`dedup.embeddings`) the story similarity mixes the TF-IDF cosine with the
embedding cosine, and each article's exact nearest neighbours under that mix are proposed as
candidates beside the LSH's (which still proposes; without the encoder it alone does).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from scipy import sparse

from dedup.embeddings import Encoder
from dedup.features import DocTerms, doc_terms, tfidf_matrix
from dedup.index import SignatureIndex
from dedup.leftovers import adopt_leftovers
from dedup.linkage import average_link
from dedup.local_scale import local_scale
from dedup.settings import CODE_VERSION, DedupSettings
from dedup.shingles import batch_shingle_hashes
from dedup.signatures import estimated_jaccard, minhash_hashes, pack, shingle_signatures, unpack

FEATURES_VERSION = "f1"


@dataclass(frozen=True)
class _Item:
    """A document inside one run: new, or known (with the story it already belongs to)."""

    id: str
    outlet: str | None
    title: str
    text: str
    published: datetime | None
    story_id: str | None  # None for new documents
    signature: bytes = b""


@dataclass(frozen=True)
class Decision:
    """The outcome for one new document, before it becomes a `Membership`."""

    doc_id: str
    story_id: str
    matched: str | None
    jaccard: float | None
    score: float | None
    duplicate_of: str | None
    founder: bool


def story_signatures(terms: Sequence[DocTerms], settings: DedupSettings) -> np.ndarray:
    """MinHash of each document's story feature set (stems are tokens, so n=1 shingles)."""
    h, off = batch_shingle_hashes([" ".join(t.feature_set) for t in terms], 1)
    return minhash_hashes(h, off, settings.num_perm, settings.seed)


def dup_text(title: str, text: str) -> str:
    return f"{title}\n{text}"


def _gap_ok(a: datetime | None, b: datetime | None, days: float) -> bool:
    return a is None or b is None or abs(a - b) <= timedelta(days=days)


def run(
    items: Sequence[_Item],
    settings: DedupSettings,
    now: datetime | None,
    encoder: Encoder | None = None,
) -> tuple[list[Decision], dict[str, bytes]]:
    """Decide a story for every new item (story_id None) given the known ones.

    With an `encoder`, story similarity mixes in the embedding cosine (see `Similarity`); the
    vectors of known items come from the encoder's cache, so only new texts are encoded."""
    settings = settings.with_encoder(encoder)
    items = sorted(items, key=lambda d: (d.story_id is None, d.id))
    n = len(items)
    is_new = np.array([d.story_id is None for d in items], dtype=bool)
    new_idx = np.flatnonzero(is_new)
    if len(new_idx) == 0:
        return [], {}
    terms = [doc_terms(d.title, d.text, settings) for d in items]

    # Signatures: reuse persisted ones, compute the rest in one batch.
    dup_sig = np.empty((n, settings.num_perm), dtype=np.uint32)
    st_sig = np.empty((n, settings.num_perm), dtype=np.uint32)
    todo = []
    for i, d in enumerate(items):
        got = (
            None
            if d.story_id is None
            else unpack(d.signature, settings.num_perm, settings.seed, _features_tag(settings))
        )
        if got is None:
            todo.append(i)
        else:
            dup_sig[i], st_sig[i] = got
    if todo:
        dup_sig[todo] = shingle_signatures(
            [dup_text(items[i].title, items[i].text) for i in todo],
            settings.dup_ngram,
            settings.num_perm,
            settings.seed,
        )
        st_sig[todo] = story_signatures([terms[i] for i in todo], settings)
    signatures = {
        items[i].id: pack(dup_sig[i], st_sig[i], settings.seed, _features_tag(settings))
        for i in new_idx
    }

    # Known documents outside the window take no new members.
    open_ = np.ones(n, dtype=bool)
    if now is not None:
        horizon = now - timedelta(days=settings.window_days)
        for i, d in enumerate(items):
            if d.story_id is not None and d.published is not None and d.published < horizon:
                open_[i] = False

    vectors = None
    if encoder is not None and settings.embedding_weight > 0.0:
        # Known documents were encoded in earlier runs: their vectors come from the cache.
        vectors = encoder.encode([embed_text(d.title, d.text) for d in items])
    sim = Similarity(items, tfidf_matrix(terms), vectors, settings)
    near = sim.nearest(open_, settings.knn_k) if vectors is not None else None
    pairs = candidate_pairs(items, dup_sig, st_sig, open_, settings, near)
    scored = score_pairs(items, pairs, dup_sig, sim, settings)
    dup_pairs, edges = select_edges(scored, is_new, settings, sim.edge_threshold)

    # Initial clusters: each known story, each new document; duplicates are glued first.
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    story_root: dict[str, int] = {}
    for i, d in enumerate(items):
        if d.story_id is not None:
            r = story_root.setdefault(d.story_id, i)
            parent[find(i)] = find(r)
    dup_of: dict[int, tuple[int, float]] = {}
    for (i, j), jd in sorted(dup_pairs.items(), key=lambda kv: (-kv[1], kv[0])):
        ri, rj = find(i), find(j)
        if ri == rj:
            continue
        known_i = items[ri].story_id is not None
        known_j = items[rj].story_id is not None
        if known_i and known_j:
            continue  # two known stories never merge
        # The copy is the new one, or of two new ones the later published.
        if is_new[i] and is_new[j]:
            later_i = _founding_key(items[i]) > _founding_key(items[j])
            new_one, other = (i, j) if later_i else (j, i)
        else:
            new_one, other = (i, j) if is_new[i] else (j, i)
        dup_of.setdefault(new_one, (other, jd))
        if known_i:
            parent[rj] = ri
        else:
            parent[ri] = rj
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[find(i)].append(i)
    roots = sorted(groups)
    initial = [groups[r] for r in roots]
    frozen = [items[r].story_id is not None for r in roots]
    clusters = average_link(
        initial,
        edges,
        settings.link_threshold,
        frozen,
        _pair_mean(items, sim, scored, settings),
    )
    clusters, adopted = adopt_leftovers(
        clusters,
        scored.pairs,
        scored.cosine,
        settings.edge_threshold,
        scored.story_size,
        is_new,
    )

    decisions: list[Decision] = []
    taken = {d.story_id for d in items if d.story_id is not None}
    for members in clusters:
        members = sorted(members)
        story_ids = {items[i].story_id for i in members if items[i].story_id is not None}
        if story_ids:
            story_id = min(story_ids)
            founder = None
        else:
            founder = min(members, key=lambda i: _founding_key(items[i]))
            story_id = "st_" + items[founder].id
            # Re-deciding a window (newsmerge.pipeline.redecide_window), the founder may have
            # founded a story whose older members stay in it: never reuse that id.
            suffix = 1
            while story_id in taken:
                suffix += 1
                story_id = f"st_{items[founder].id}.{suffix}"
            taken.add(story_id)
        for i in members:
            if not is_new[i]:
                continue
            if i == founder:
                decisions.append(Decision(items[i].id, story_id, None, None, None, None, True))
                continue
            if i in dup_of and dup_of[i][0] in members:
                j, jd = dup_of[i]
                decisions.append(
                    Decision(
                        items[i].id,
                        story_id,
                        items[j].id,
                        jd,
                        edges.get((min(i, j), max(i, j))),
                        items[j].id,
                        False,
                    )
                )
                continue
            if i in adopted:  # a lone article joined its mutual nearest neighbour
                best = adopted[i]
            else:
                best = max(
                    (j for j in members if j != i),
                    key=lambda j: (edges.get((min(i, j), max(i, j)), 0.0), -j),
                )
            score = edges.get((min(i, best), max(i, best)))
            decisions.append(
                Decision(
                    items[i].id,
                    story_id,
                    items[best].id,
                    estimated_jaccard(st_sig[i], st_sig[best]),
                    score,
                    None,
                    False,
                )
            )
    return decisions, signatures


def embed_text(title: str, text: str) -> str:
    """What the sentence encoder reads: the title, then the start of the text (the encoder
    truncates at 256 word pieces, so 300 words are plenty)."""
    title = " ".join(title.split())
    body = " ".join(text.split()[:300])
    if title and body:
        return f"{title}{' ' if title[-1] in '.!?:;' else '. '}{body}"
    return title or body


class Similarity:
    """Story similarity of two items: `(1 - w) * TF-IDF cosine + w * embedding cosine` with
    `w = embedding_weight` (the TF-IDF cosine alone without vectors), rounded to 1e-6 so ties
    and thresholds do not depend on the BLAS summation order. Two articles of one outlet that
    are not copies count `same_outlet_factor` of it (`block`; `score_pairs` for `raw`).

    MiniLM cosines sit higher than TF-IDF ones (two reports of different earthquakes score
    ~0.5), so an edge's minimum mixes like the score does (`edge_threshold`)."""

    def __init__(
        self,
        items: Sequence[_Item],
        matrix: sparse.csr_matrix,
        vectors: np.ndarray | None,
        settings: DedupSettings,
    ) -> None:
        settings = settings.with_encoder(None)  # callers resolve it for their encoder first
        self.matrix = matrix
        self.vectors = vectors
        self.weight = settings.embedding_weight if vectors is not None else 0.0
        self.settings = settings
        # An edge's bar mixes like its score: a TF-IDF cosine of `edge_threshold` and an
        # embedding cosine of `embedding_edge` are each as strong as the other.
        w = self.weight
        self.edge_threshold = (1.0 - w) * settings.edge_threshold + w * settings.embedding_edge
        self.ts = np.array([d.published.timestamp() if d.published else np.nan for d in items])
        self.outlets = np.array([d.outlet or "" for d in items], dtype=object)

    def raw(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Similarity of the pairs (left[k], right[k]), before the same-outlet factor."""
        cos = np.asarray(self.matrix[left].multiply(self.matrix[right]).sum(axis=1)).ravel()
        if self.vectors is not None and self.weight > 0.0:
            emb = np.einsum("ij,ij->i", self.vectors[left], self.vectors[right], dtype=np.float64)
            cos = (1.0 - self.weight) * cos + self.weight * emb
        return np.round(cos, 6)

    def block(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        """Dense similarity of every a in `ia` to every b in `ib`, same-outlet factor applied."""
        cos = (self.matrix[ia] @ self.matrix[ib].T).toarray()
        if self.vectors is not None and self.weight > 0.0:
            emb = self.vectors[ia].astype(np.float64) @ self.vectors[ib].astype(np.float64).T
            cos = (1.0 - self.weight) * cos + self.weight * emb
        cos = np.round(cos, 6)
        oa, ob = self.outlets[ia][:, None], self.outlets[ib][None, :]
        same = (oa == ob) & (oa != "")
        return np.where(same & (cos < 0.999), cos * self.settings.same_outlet_factor, cos)

    def gap_ok(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        gap = np.abs(self.ts[ia][:, None] - self.ts[ib][None, :])
        return ~(gap > self.settings.max_gap_days * 86400.0)  # NaN (no date) passes

    def nearest(
        self, open_: np.ndarray, k: int, chunk: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each open item's `k` most similar other open items within `max_gap_days`, exactly,
        in row chunks (memory O(chunk x n), not O(n^2)): indices (n, k), -1 where there are
        fewer, and similarities (n, k), NaN there; best first, ties to the lower index."""
        n = len(self.ts)
        idx = np.full((n, k), -1, dtype=np.int64)
        val = np.full((n, k), np.nan)
        live = np.flatnonzero(open_)
        if k == 0 or len(live) < 2:
            return idx, val
        chunk = chunk or max(1, (1 << 21) // len(live))
        kk = min(k, len(live) - 1)
        for start in range(0, len(live), chunk):
            rows = live[start : start + chunk]
            block = self.block(rows, live)
            block[~self.gap_ok(rows, live)] = -np.inf
            block[np.arange(len(rows)), np.arange(start, start + len(rows))] = -np.inf
            # exact top kk with ties to the lower index: partition, then sort the survivors
            part = np.argpartition(-block, kk - 1, axis=1)[:, :kk]
            cut = np.take_along_axis(block, part, axis=1).min(axis=1, keepdims=True)
            for r in range(len(rows)):
                cand = np.flatnonzero(block[r] >= cut[r])
                v = block[r, cand]
                order = np.lexsort((cand, -v))[:kk]
                cand, v = cand[order], v[order]
                ok = np.isfinite(v)
                idx[rows[r], : ok.sum()] = live[cand[ok]]
                val[rows[r], : ok.sum()] = v[ok]
        return idx, val


def most_similar(
    docs: Sequence,
    settings: DedupSettings,
    encoder: Encoder | None = None,
    chunk: int = 512,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Each document's most similar other document within `max_gap_days` (of another group,
    with `groups`), by the story similarity of `settings` (documents: anything with id, outlet,
    title, text, published); exact, in row chunks. For diagnostics and training, not the
    pipeline."""
    settings = settings.with_encoder(encoder)
    items = [_Item(d.id, d.outlet, d.title, d.text, d.published, None) for d in docs]
    vectors = None
    if encoder is not None and settings.embedding_weight > 0.0:
        vectors = encoder.encode([embed_text(d.title, d.text) for d in items])
    sim = Similarity(
        items,
        tfidf_matrix([doc_terms(d.title, d.text, settings) for d in items]),
        vectors,
        settings,
    )
    n = len(items)
    best = np.empty(n, dtype=np.int64)
    everyone = np.arange(n)
    for start in range(0, n, chunk):
        rows = everyone[start : start + chunk]
        block = sim.block(rows, everyone)
        block[~sim.gap_ok(rows, everyone)] = -np.inf
        block[np.arange(len(rows)), rows] = -np.inf
        if groups is not None:
            block[groups[rows][:, None] == groups[None, :]] = -np.inf
        best[rows] = block.argmax(axis=1)
    return best


def candidate_pairs(
    items: Sequence[_Item],
    dup_sig: np.ndarray,
    st_sig: np.ndarray,
    open_: np.ndarray,
    settings: DedupSettings,
    near: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(i, j), i < j, proposed by either LSH index, or among each other's `knn_k` exact
    nearest neighbours (`near`), among documents open to matching.

    Every live document is queried, known ones too: their neighbourhoods set the local scale
    of similarity (see `score_pairs`)."""
    pos = {d.id: i for i, d in enumerate(items)}
    live = np.flatnonzero(open_)
    dup_index = SignatureIndex(
        "dup",
        settings.num_perm,
        settings.seed,
        threshold=settings.dup_threshold,
        storage=settings.index,
    )
    st_index = SignatureIndex(
        "story",
        settings.num_perm,
        settings.seed,
        params=(settings.story_bands, settings.story_rows),
        storage=settings.index,
    )
    dup_index.sync({items[i].id: dup_sig[i] for i in live})
    st_index.sync({items[i].id: st_sig[i] for i in live})
    left: list[int] = []
    right: list[int] = []
    for i in live.tolist():
        for key in dup_index.query(dup_sig[i]) + st_index.query(st_sig[i]):
            j = pos.get(key)
            if j is not None and j > i and open_[j]:
                left.append(i)
                right.append(j)
    if near is not None and settings.knn_k > 0:
        nb = near[0][:, : settings.knn_k]
        src = np.repeat(np.arange(len(items)), nb.shape[1])
        dst = nb.ravel()
        ok = dst >= 0
        src, dst = src[ok], dst[ok]
        left.extend(np.minimum(src, dst).tolist())
        right.extend(np.maximum(src, dst).tolist())
    if not left:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.array([left, right], dtype=np.int64).T, axis=0)


@dataclass(frozen=True)
class ScoredPairs:
    """Candidate pairs within the time gap and their evidence, as parallel arrays."""

    pairs: np.ndarray  # (m, 2) int
    dup_jaccard: np.ndarray  # estimated Jaccard of the duplicate signatures
    cosine: np.ndarray  # title-weighted TF-IDF cosine (same-outlet pairs scaled down)
    adjusted: np.ndarray  # cosine minus the local similarity scale of both articles
    scale: np.ndarray  # per article: its local similarity scale (0 when hub_k is 0)
    story_size: np.ndarray  # per article: its estimated own-story size (0 where unknown)


def score_pairs(
    items: Sequence[_Item],
    pairs: np.ndarray,
    dup_sig: np.ndarray,
    sim: Similarity,
    settings: DedupSettings,
) -> ScoredPairs:
    """Score candidate pairs; drop those further apart in time than `max_gap_days`.

    Local scaling: in a dense topic (many Covid or election stories) every article has many
    fairly similar neighbours, in a sparse one few. Subtracting each article's mean similarity
    to its candidates ranked `hub_skip` to `hub_skip + hub_k` (CSLS-style hubness correction;
    the first `hub_skip` are likely its own story; missing ranks count 0) makes "more similar
    than this article's usual neighbours" the criterion instead of one absolute score for all.
    How many neighbours make "usual" follows the size of the article's own story
    (`dedup.local_scale`): `hub_k_min` to `hub_k`.
    """
    n = len(items)
    ts = sim.ts
    if len(pairs):
        gap = np.abs(ts[pairs[:, 0]] - ts[pairs[:, 1]])
        ok = np.isnan(gap) | (gap <= settings.max_gap_days * 86400.0)
        pairs = pairs[ok]
    left, right = pairs[:, 0], pairs[:, 1]
    dup_j = (dup_sig[left] == dup_sig[right]).mean(axis=1) if len(pairs) else np.zeros(0)
    cos = sim.raw(left, right)
    outlets = sim.outlets
    same = (outlets[left] == outlets[right]) & (outlets[left] != "")
    cos = np.where(same & (dup_j < settings.dup_threshold), cos * settings.same_outlet_factor, cos)
    scale, story_size = local_scale(
        n,
        left,
        right,
        cos,
        skip=settings.hub_skip,
        k_min=settings.hub_k_min,
        k_max=settings.hub_k,
        size_factor=settings.hub_size_factor,
    )
    adjusted = cos - settings.hub_weight * 0.5 * (scale[left] + scale[right])
    return ScoredPairs(pairs, dup_j, cos, adjusted, scale, story_size)


def select_edges(
    scored: ScoredPairs,
    is_new: np.ndarray,
    settings: DedupSettings,
    edge_threshold: float | None = None,
) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
    """Duplicate pairs and story edges (weight = adjusted score) that involve a new article.

    An edge needs a similarity >= `edge_threshold` (default `settings.edge_threshold`; with
    embeddings `Similarity.edge_threshold`, the bars mixed like the scores)."""
    if edge_threshold is None:
        edge_threshold = settings.edge_threshold
    p = scored.pairs
    involved = is_new[p[:, 0]] | is_new[p[:, 1]] if len(p) else np.zeros(0, dtype=bool)
    is_dup = involved & (scored.dup_jaccard >= settings.dup_threshold)
    is_edge = (
        involved
        & ~is_dup
        & (scored.cosine >= edge_threshold)
        & (scored.adjusted >= settings.adjusted_threshold)
    )
    dup_pairs = {
        (int(i), int(j)): float(v)
        for (i, j), v in zip(p[is_dup].tolist(), scored.dup_jaccard[is_dup], strict=True)
    }
    edges = {pair: 1.0 for pair in dup_pairs}
    for (i, j), c, a in zip(
        p[is_edge].tolist(), scored.cosine[is_edge], scored.adjusted[is_edge], strict=True
    ):
        edges[(i, j)] = float(max(a, 0.0) + settings.cosine_share * c)
    return dup_pairs, edges


def _pair_mean(items: Sequence[_Item], sim: Similarity, scored: ScoredPairs, settings):
    """Mean edge weight over all cross pairs of two clusters, computed exactly from the
    similarity (the same weight `select_edges` gives an edge, 0 below the thresholds or beyond
    the time gap), for the average-link merge check. A pair never proposed (by the LSH or as
    exact nearest neighbours) counts only `missed_pair_factor` of its weight: too few shared
    features to be proposed is evidence against, though not proof, that the two tell
    different events."""
    scale = scored.scale
    n = len(items)
    p = scored.pairs
    proposed = np.unique(np.r_[p[:, 0] * n + p[:, 1], p[:, 1] * n + p[:, 0]])

    def mean(a: Sequence[int], b: Sequence[int]) -> float:
        ia, ib = np.asarray(a), np.asarray(b)
        cos = sim.block(ia, ib)
        adj = cos - settings.hub_weight * 0.5 * (scale[ia][:, None] + scale[ib][None, :])
        w = np.maximum(adj, 0.0) + settings.cosine_share * cos
        # Below the edge bar a pair is no evidence at all: in a small window (one poll) the
        # local scale is low, and many weak same-region pairs must not add up to a join.
        w = np.where(cos >= sim.edge_threshold, w, 0.0)
        if settings.missed_pair_factor < 1.0:
            keys = ia[:, None] * n + ib[None, :]
            at = np.minimum(np.searchsorted(proposed, keys), max(len(proposed) - 1, 0))
            hit = proposed[at] == keys if len(proposed) else np.zeros(keys.shape, dtype=bool)
            w = np.where(hit, w, settings.missed_pair_factor * w)
        return float(np.where(sim.gap_ok(ia, ib), w, 0.0).mean())

    return mean


def _founding_key(d: _Item) -> tuple:
    ts = d.published.timestamp() if d.published is not None else float("inf")
    return (ts, d.id)


def _features_tag(settings: DedupSettings) -> str:
    return f"{FEATURES_VERSION}:{settings.dup_ngram}:{settings.lead_words}"


__all__ = ["CODE_VERSION", "Decision", "run"]
