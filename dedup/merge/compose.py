"""One composite per story: aligned sentences grouped into facts, each credited to its outlets.

Faithful by construction: a composite sentence is a source sentence (whitespace collapsed), and
its credits are exactly the articles that contain a sentence aligned with *that* sentence (plus
its own), each with the character offsets of the aligned sentence, so every credit can be
checked against the article text.

Steps (all deterministic: inputs are sorted first, every tie has an explicit key):
1. split every article into sentences (boilerplate dropped);
2. align sentences of different articles (lexical score, or a sentence-embedding score when an
   encoder is available, plus number/date/people vetoes that no score overrides);
3. facts, greedily: the sentence supported by most outlets becomes a fact's representative, and
   every sentence aligned with it is used up; a candidate too similar to a chosen fact is
   redundant and dropped;
4. keep the facts carried by two or more outlets when the story has any, else the primary
   article's own sentences (a single-outlet story still gets a composite); when fewer than
   `MIN_FACTS` are shared, the articles' leads fill in (two outlets may share only a side
   detail while the news itself is in one outlet's first sentence);
5. primary source = the outlet carrying most kept facts; facts ordered as the primary tells
   them (others slotted in by their relative position in their own article); consecutive facts
   with the same outlets form a paragraph.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from dedup.embeddings import Encoder, encoder_name, load_sentence_encoder
from newsmerge.models import Composite, CompositeSentence, Credit, Paragraph

from .align import (
    CREDIT_COVER,
    CREDIT_THRESHOLD,
    REDUNDANCY_THRESHOLD,
    THRESHOLD,
    calibration,
    conflict,
    embed_similarity,
    features,
    lexical,
)
from .sentences import Sentence, split_sentences

# The code version; a composite built with an encoder carries its name too
# ("merge-1.6+mpnet-base-v2-facts"), since the paths credit differently.
VERSION = "merge-1.6"
MAX_PARAGRAPH_SENTENCES = 4
# A composite of fewer shared facts than this takes the articles' leads too: a feed item that
# is only a summary often shares one side detail with the full story, not the news.
MIN_FACTS = 3
_WS = re.compile(r"\s+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SourceArticle:
    id: str
    outlet: str
    title: str
    text: str
    published: datetime | None = None
    url: str = ""


@dataclass
class _Unit:
    article: int  # index into the sorted articles
    sent: Sentence
    rel: float  # relative position in its article, 0..1


def _published_key(a: SourceArticle) -> float:
    if a.published is None:
        return float("inf")
    p = a.published if a.published.tzinfo else a.published.replace(tzinfo=UTC)
    return (p - _EPOCH).total_seconds()


def _sorted_articles(articles: Sequence[SourceArticle]) -> list[SourceArticle]:
    seen: dict[str, SourceArticle] = {}
    for a in sorted(articles, key=lambda a: (a.outlet, a.id, a.url, a.title, a.text)):
        seen.setdefault(a.id, a)
    return list(seen.values())


EncoderChoice = str | Encoder | None


def resolve_encoder(encoder: EncoderChoice) -> Encoder | None:
    """An encoder from a choice: "auto" (MiniLM when the embeddings extra is installed, else
    None), "none", a model name (the stock sentence model either way, see
    dedup.embeddings.load_sentence_encoder), an Encoder, or None (lexical)."""
    if encoder is None or not isinstance(encoder, str):
        return encoder
    return load_sentence_encoder(encoder)


def composite_version(encoder: Encoder | None) -> str:
    return VERSION if encoder is None else f"{VERSION}+{encoder_name(encoder)}"


@dataclass(frozen=True)
class _Facts:
    """Units' facts laid out flat: `flat[k]` belongs to unit `owner[k]`; a unit's facts start at
    `first[unit]` (so `np.maximum.reduceat(x, first)` reduces fact rows to unit rows)."""

    flat: list[str]
    owner: np.ndarray
    first: np.ndarray

    @classmethod
    def of(cls, facts: Sequence[tuple[str, ...]]) -> _Facts:
        owner = np.repeat(np.arange(len(facts)), [len(fs) for fs in facts])
        first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
        return cls([f for fs in facts for f in fs], owner, first)


class _Alignment:
    """Credit-grade alignment of one story's sentences: the score matrix, the vetoes'
    features (computed lazily) and, per sentence, the sentences of other articles it may be
    credited with (adjacency, with scores).

    Without an encoder: the lexical score at `threshold` and IDF-weighted cover at `cover`.
    With one: the embedding score (all the story's sentences in one encode call) at
    `threshold`, and content-word cosine at `cover` (the encoder's `calibration`). The vetoes apply
    to both."""

    def __init__(
        self,
        texts: list[str],
        art_of: np.ndarray,
        threshold: float,
        cover: float,
        encoder: Encoder | None = None,
        facts: Sequence[tuple[str, ...]] | None = None,
    ):
        n = len(texts)
        self.texts = texts
        # What is compared: each sentence, or each inner sentence of a quotation (a unit's
        # similarity to another is its best-matching inner pair that nothing vetoes).
        laid = _Facts.of(facts or [(t,) for t in texts])
        flat, owner = laid.flat, laid.owner
        if encoder is None:
            lx = lexical(flat)
            psim = lx.score()
            # a credit's evidence must carry the fact's core: both sentences' IDF-weighted
            # content words mostly shared (asymmetric cover, the weaker direction)
            pcore = np.minimum(lx.cover, lx.cover.T) >= cover
        else:
            psim = embed_similarity(encoder.encode(flat), calibration(encoder).weights)
            # some content words in common: topic alone embeds close inside one story
            pcore = lexical(flat, chars=False).word >= cover
        if len(flat) == n:
            self.sim = psim
        else:  # the best inner pair of each two units
            rows = np.maximum.reduceat(psim, laid.first, axis=0)
            self.sim = np.maximum.reduceat(rows, laid.first, axis=1)
        self._laid = laid
        self._feats: dict[int, object] = {}  # vetoes' features of units that need them
        self._pfeats: dict[int, object] = {}  # and of facts
        pfeat = self._fact_feat

        # Alignment: pairs from different articles above the threshold that nothing vetoes.
        pa = art_of[owner]
        cand = np.argwhere(np.triu((psim >= threshold) & pcore, k=1) & (pa[:, None] != pa[None, :]))
        self.adj: list[dict[int, float]] = [{} for _ in range(n)]
        for p, q in cand.tolist():
            if conflict(pfeat(p), pfeat(q)) is None:
                i, j = int(owner[p]), int(owner[q])
                score = float(psim[p, q])
                if score > self.adj[i].get(j, -1.0):
                    self.adj[i][j] = self.adj[j][i] = score

    def _fact_feat(self, k: int):
        f = self._pfeats.get(k)
        if f is None:
            f = self._pfeats[k] = features(self._laid.flat[k])
        return f

    def feat(self, i: int):
        """The vetoes' features of unit i (a one-fact unit shares its fact's)."""
        first = int(self._laid.first[i])
        last = first + 1 == len(self._laid.owner) or self._laid.owner[first + 1] != i
        if last:
            return self._fact_feat(first)
        f = self._feats.get(i)
        if f is None:
            f = self._feats[i] = features(self.texts[i])
        return f


def _story_units(arts: Sequence[SourceArticle]) -> list[_Unit]:
    units: list[_Unit] = []
    for ai, art in enumerate(arts):
        sents = split_sentences(art.text)
        for s in sents:
            units.append(_Unit(ai, s, s.index / max(len(sents), 1)))
    return units


def _thresholds(
    encoder: Encoder | None,
    threshold: float | None,
    cover: float | None,
    redundancy: float | None,
) -> tuple[float, float, float]:
    """The credit threshold, cover and redundancy threshold of the path in use (explicit
    values win)."""
    if encoder is None:
        defaults = (CREDIT_THRESHOLD, CREDIT_COVER, REDUNDANCY_THRESHOLD)
    else:
        cal = calibration(encoder)
        defaults = (cal.credit, cal.floor, cal.redundancy)
    return (
        defaults[0] if threshold is None else threshold,
        defaults[1] if cover is None else cover,
        defaults[2] if redundancy is None else redundancy,
    )


def credit_links(
    articles: Sequence[SourceArticle],
    *,
    encoder: EncoderChoice = "auto",
    threshold: float | None = None,
    cover: float | None = None,
) -> dict[tuple[str, int], dict[tuple[str, int], float]]:
    """Which sentences compose() may credit with which: (article id, start offset) of a
    sentence → {(article id, start offset) of an aligned sentence of another article: score}.
    The merger's per-pair credit decision, for evaluation against labelled pairs."""
    enc = resolve_encoder(encoder)
    threshold, cover, _ = _thresholds(enc, threshold, cover, None)
    arts = _sorted_articles(articles)
    units = _story_units(arts)
    if not units:
        return {}
    al = _Alignment(
        [u.sent.text for u in units],
        np.array([u.article for u in units]),
        threshold,
        cover,
        enc,
        [u.sent.facts for u in units],
    )
    key = [(arts[u.article].id, u.sent.start) for u in units]
    return {key[i]: {key[j]: s for j, s in al.adj[i].items()} for i in range(len(units))}


def compose(
    story_id: str,
    articles: Sequence[SourceArticle],
    *,
    encoder: EncoderChoice = "auto",
    threshold: float | None = None,
    cover: float | None = None,
    redundancy: float | None = None,
    min_outlets: int | None = None,
    max_paragraph_sentences: int = MAX_PARAGRAPH_SENTENCES,
    min_facts: int = MIN_FACTS,
) -> Composite:
    """The story's credited composite (see the module docstring for how).

    `encoder`: "auto" (the sentence encoder when the embeddings extra is installed, else the
    lexical score), "none", "minilm-l6-v2", or an Encoder. Thresholds left at None take the
    path's defaults (align.CREDIT_* without an encoder, the encoder's `calibration`)."""
    enc = resolve_encoder(encoder)
    threshold, cover, redundancy = _thresholds(enc, threshold, cover, redundancy)
    version = composite_version(enc)
    arts = _sorted_articles(articles)
    units = _story_units(arts)
    if not units:
        return Composite(
            story_id=story_id,
            headline=arts[0].title if arts else "",
            primary_outlet=arts[0].outlet if arts else "",
            paragraphs=(),
            article_ids=tuple(a.id for a in arts),
            version=version,
        )

    n = len(units)
    texts = [u.sent.text for u in units]
    art_of = np.array([u.article for u in units])
    al = _Alignment(texts, art_of, threshold, cover, enc, [u.sent.facts for u in units])
    sim, adj, feat = al.sim, al.adj, al.feat
    outlet_of = [arts[u.article].outlet for u in units]

    support = [{outlet_of[i]} | {outlet_of[j] for j in adj[i]} for i in range(n)]
    outlets = sorted({a.outlet for a in arts})
    first_pub = {o: min(_published_key(a) for a in arts if a.outlet == o) for o in outlets}
    multi = {o: 0 for o in outlets}
    for i in range(n):
        if len(support[i]) > 1:
            multi[outlet_of[i]] += 1
    prov_rank = {
        o: r for r, o in enumerate(sorted(outlets, key=lambda o: (-multi[o], first_pub[o], o)))
    }

    def support_score(i: int) -> float:
        best: dict[str, float] = {}
        for j, s in adj[i].items():
            o = outlet_of[j]
            best[o] = max(best.get(o, 0.0), s)
        return sum(best.values())

    order = sorted(
        range(n),
        key=lambda i: (
            -len(support[i]),
            -round(support_score(i), 6),
            prov_rank[outlet_of[i]],
            units[i].article,
            units[i].sent.index,
        ),
    )
    need = min_outlets if min_outlets is not None else (2 if len(support[order[0]]) > 1 else 1)

    chosen: list[int] = []
    used = np.zeros(n, dtype=bool)
    # the paraphrase line (MSRP-fitted), below the credit line: "the same thing said"
    paraphrase = min(redundancy, THRESHOLD if enc is None else calibration(enc).threshold)

    def take(i: int, lead: bool = False) -> None:
        """Choose `i` unless used up or redundant with a chosen fact (similar, and no veto
        making the two different facts). A `lead` filling in is redundant with a fact that
        other articles carry when it is merely a paraphrase of it, whatever the vetoes say; a
        fact its own article carries too is that article's other sentence, not a restatement."""
        if used[i]:
            return
        used[i] = True

        def restates(c: int) -> bool:
            if not lead:
                return sim[i, c] >= redundancy and conflict(feat(i), feat(c)) is None
            carriers = {units[c].article} | {units[j].article for j in adj[c]}
            return units[i].article not in carriers and sim[i, c] >= paraphrase

        if any(restates(c) for c in chosen):
            return
        chosen.append(i)
        for j in adj[i]:
            used[j] = True

    for i in order:
        if len(support[i]) < need:
            break
        take(i)
    if need > 1 and min_outlets is None and len(chosen) < min_facts:
        # Too little is shared to tell the story: the articles' leads (the news itself) fill
        # in, the most-sharing outlet's first.
        rest = sorted(
            (i for i in range(n) if not used[i] and units[i].sent.index == 0),
            key=lambda i: (prov_rank[outlet_of[i]], units[i].article),
        )
        for i in rest:
            if len(chosen) >= min_facts:
                break
            take(i, lead=True)

    # Credits: the representative itself plus, per other article, its best aligned sentence.
    def credits_for(i: int) -> list[tuple[int, int]]:  # (article index, unit index)
        best: dict[int, tuple[float, int]] = {units[i].article: (2.0, i)}
        for j, s in adj[i].items():
            a = units[j].article
            cur = best.get(a)
            if cur is None or (s, -j) > (cur[0], -cur[1]):
                best[a] = (s, j)
        return sorted((a, j) for a, (_, j) in best.items())

    fact_credits = {i: credits_for(i) for i in chosen}
    carried = {o: 0 for o in outlets}
    for i in chosen:
        for o in {arts[a].outlet for a, _ in fact_credits[i]}:
            carried[o] += 1
    primary = min(outlets, key=lambda o: (-carried[o], prov_rank[o]))
    if need == 1 and min_outlets is None:
        # No fact is shared: the composite is the primary's best-covered article, told once.
        prim_arts = [a for a in range(len(arts)) if arts[a].outlet == primary]
        counts = {a: sum(units[i].article == a for i in chosen) for a in prim_arts}
        keep_art = min(prim_arts, key=lambda a: (-counts[a], a))
        chosen = [i for i in chosen if units[i].article == keep_art]
    outlet_rank = {
        o: r
        for r, o in enumerate(
            sorted(outlets, key=lambda o: (o != primary, -carried[o], first_pub[o], o))
        )
    }

    def position(i: int) -> tuple:
        prim = [units[j].rel for _, j in fact_credits[i] if outlet_of[j] == primary]
        pos = min(prim) if prim else units[i].rel
        return (pos, outlet_rank[outlet_of[i]], units[i].article, units[i].sent.index)

    chosen.sort(key=position)

    paragraphs: list[Paragraph] = []
    cur: list[CompositeSentence] = []
    cur_outlets: tuple[str, ...] = ()
    for i in chosen:
        creds = tuple(
            sorted(
                (
                    Credit(arts[a].outlet, arts[a].id, units[j].sent.start, units[j].sent.end)
                    for a, j in fact_credits[i]
                ),
                key=lambda c: (outlet_rank[c.outlet], c.article_id),
            )
        )
        outs = tuple(sorted({c.outlet for c in creds}, key=lambda o: outlet_rank[o]))
        sentence = CompositeSentence(_WS.sub(" ", texts[i]).strip(), creds)
        if cur and (outs != cur_outlets or len(cur) >= max_paragraph_sentences):
            paragraphs.append(Paragraph(tuple(cur), cur_outlets))
            cur = []
        cur.append(sentence)
        cur_outlets = outs
    if cur:
        paragraphs.append(Paragraph(tuple(cur), cur_outlets))

    prim_arts = [a for a in range(len(arts)) if arts[a].outlet == primary]
    n_cred = {
        a: sum(units[j].article == a for i in chosen for _, j in fact_credits[i]) for a in prim_arts
    }
    head_art = min(prim_arts, key=lambda a: (-n_cred[a], _published_key(arts[a]), a))
    return Composite(
        story_id=story_id,
        headline=_WS.sub(" ", arts[head_art].title).strip(),
        primary_outlet=primary,
        paragraphs=tuple(paragraphs),
        article_ids=tuple(a.id for a in arts),
        version=version,
    )
