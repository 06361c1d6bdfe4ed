"""Story features that survive rewording: content-word stems, names and numbers.

Two outlets telling one event share few word trigrams but many content words, names and
numbers. A document becomes (a) a *set* of stems from its title and lead, which MinHash LSH
indexes to propose candidates, and (b) a weighted term vector (title counted more than the lead,
the lead more than the body; names and numbers more than common words) that confirms a
candidate by TF-IDF cosine.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from dedup.settings import DedupSettings

_WORD = re.compile(r"[^\W_]+(?:['’.][^\W_]+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?]['\"’”)]*\s*$")

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his how
    i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves said says say saying told tell tells
    according new news also may might must shall one year years day days week weeks month
    months time times last first next since yet still monday tuesday wednesday thursday
    friday saturday sunday today yesterday tomorrow mr mrs ms dr via amid among per get
    gets got make makes made take takes took back well like even many much people report
    reports reported reporting s t u
    """.split()  # noqa: SIM905
)


def stem(word: str) -> str:
    """A deliberately light stemmer: folds plurals and -ed/-ing so 'slams'/'slammed' meet."""
    w = word.lower().replace("’", "'").replace(".", "")
    if w.endswith("'s"):
        w = w[:-2]
    w = w.replace("'", "")
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif (len(w) > 4 and w.endswith("ed")) or (len(w) > 3 and w.endswith("es") and w[-3] in "sxz"):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]  # slamm -> slam
    return w


@dataclass(frozen=True)
class DocTerms:
    """A document's story terms: the feature set for MinHash and weighted counts for TF-IDF."""

    feature_set: tuple[str, ...]
    weights: dict[str, float]


def _terms(text: str, limit: int | None, in_title: bool) -> list[tuple[str, bool]]:
    """(stem, is_name_or_number) for content words of `text`, at most `limit` words read."""
    out: list[tuple[str, bool]] = []
    prev_end = 0
    for i, m in enumerate(_WORD.finditer(text)):
        if limit is not None and i >= limit:
            break
        raw = m.group()
        low = raw.lower()
        if low in STOPWORDS or (len(low) < 2 and not low.isdigit()):
            prev_end = m.end()
            continue
        s = stem(raw)
        if not s or s in STOPWORDS:
            prev_end = m.end()
            continue
        gap = text[max(0, prev_end - 3) : m.start()]
        starts_sentence = i == 0 or bool(_SENTENCE_END.search(gap))
        is_name = any(c.isdigit() for c in raw) or (
            raw[0].isupper() and not starts_sentence and not in_title
        )
        out.append((s, is_name))
        prev_end = m.end()
    return out


def doc_terms(title: str, text: str, settings: DedupSettings) -> DocTerms:
    """Title, lead and body terms of one document with their weights."""
    title_terms = _terms(title, None, in_title=True)
    body_terms = _terms(text, settings.body_words, in_title=False)
    n_lead = 0
    lead_limit = settings.lead_words
    # Lead = content terms among the first `lead_words` words; approximate by term count ratio.
    words_seen = 0
    for words_seen, _m in enumerate(_WORD.finditer(text), start=1):
        if words_seen >= lead_limit:
            break
    if words_seen:
        n_lead = len(_terms(text, lead_limit, in_title=False))
    names = {s for s, is_name in body_terms if is_name}
    weights: Counter[str] = Counter()
    for s, _ in title_terms:
        weights[s] += settings.title_weight
    for k, (s, _) in enumerate(body_terms):
        weights[s] += settings.lead_weight if k < n_lead else settings.body_weight
    for s in weights:
        if s in names or any(c.isdigit() for c in s):
            weights[s] *= settings.name_weight
    features = {s for s, _ in title_terms} | {s for s, _ in body_terms[:n_lead]}
    return DocTerms(tuple(sorted(features)), dict(weights))


def tfidf_matrix(terms: Sequence[DocTerms]) -> sparse.csr_matrix:
    """L2-normalised TF-IDF rows (sublinear tf, smoothed idf over these documents)."""
    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i, t in enumerate(terms):
        for term, w in t.weights.items():
            j = vocab.setdefault(term, len(vocab))
            rows.append(i)
            cols.append(j)
            vals.append(1.0 + math.log(w) if w >= 1.0 else w)
    n = len(terms)
    m = sparse.csr_matrix((vals, (rows, cols)), shape=(n, len(vocab)), dtype=np.float64)
    df = np.bincount(cols, minlength=len(vocab)) if cols else np.zeros(0)
    idf = np.log((n + 1) / (df + 1)) + 1.0
    m = m @ sparse.diags(idf)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ m)
