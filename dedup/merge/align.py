"""Which sentences of different outlets state the same fact.

A fast lexical score, character n-gram TF-IDF cosine (robust to inflection, spelling and
tokenisation differences between outlets), fitted on the sentences being compared (one story's),
and vetoes for the confusions a lexical score cannot see:

* numbers disagree: each sentence has a number the other lacks ("killed 12" / "killed 15");
* dates disagree: each has a day, month or relative date the other lacks ("met Putin on
  Thursday" / "met Putin in December");
* people disagree: a different capitalised name fills the same slot ("met Putin" / "met Trump").

One sentence saying *less* (no number, no date) is not a disagreement: wire copy and rewrites
drop details all the time. The threshold was chosen on MSRP (see `dedup.merge.evaluate`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize as normalize_rows

from .sentences import normalize

# Chosen on MSRP train (evaluate_alignment): F1-optimal region with the vetoes on.
THRESHOLD = 0.5
# Two chosen facts this similar say the same thing twice: keep only the better supported one.
REDUNDANCY_THRESHOLD = 0.42

_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NUMBER_WORDS.update(
    {
        "thirty": "30",
        "forty": "40",
        "fifty": "50",
        "sixty": "60",
        "seventy": "70",
        "eighty": "80",
        "ninety": "90",
        "hundred": "100",
        "dozen": "12",
    }
)
_TEMPORAL = {
    **{
        d: d for d in ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    },
    **{
        m: m
        for m in [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    },
    **{
        a: m
        for a, m in [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "september"),
            ("sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    },
    **{r: r for r in ["yesterday", "today", "tomorrow", "tonight"]},
}
_NAME = re.compile(r"[A-Z][a-z]{2,}")
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[^\W\d_]+(?:['’-][^\W\d_]+)*")
_FUNCTION = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "and",
        "or",
        "but",
        "by",
        "with",
        "from",
        "as",
        "is",
        "was",
        "were",
        "be",
        "been",
        "has",
        "have",
        "had",
        "that",
        "which",
        "who",
        "whose",
        "his",
        "her",
        "their",
        "its",
        "it",
        "this",
        "these",
        "those",
        "said",
        "says",
        "told",
        "say",
        "according",
        "s",
        "mr",
        "mrs",
        "ms",
        "dr",
        "he",
        "she",
        "they",
        "we",
        "i",
        "you",
        "also",
        "not",
        "no",
        "than",
        "then",
        "there",
        "where",
        "when",
        "while",
    ]
)
# Capitalised words that are not names of people or places.
_NOT_NAMES = frozenset(
    [
        "the",
        "a",
        "an",
        "i",
        "he",
        "she",
        "it",
        "we",
        "they",
        "this",
        "that",
        "these",
        "those",
        "in",
        "on",
        "at",
        "of",
        "for",
        "to",
        "and",
        "but",
        "or",
        "if",
        "as",
        "by",
        "with",
        "from",
        "after",
        "before",
        "when",
        "while",
        "during",
        "mr",
        "mrs",
        "ms",
        "dr",
        "president",
        "minister",
        "prime",
        "senator",
        "governor",
        "chief",
        "secretary",
        "general",
        "sen",
        "rep",
        "said",
        "says",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)


@dataclass(frozen=True, eq=False)
class Features:
    numbers: frozenset[str]
    dates: frozenset[str]
    names: dict  # name → frozenset of (side, neighbour) slot contexts


def _number(tok: str) -> str | None:
    if tok[0].isdigit():
        t = tok.replace(",", "")
        if ":" in t:
            return t
        try:
            f = float(t.rstrip("."))
        except ValueError:
            return t
        return str(int(f)) if f == int(f) else repr(f)
    return _NUMBER_WORDS.get(tok.lower())


def features(text: str) -> Features:
    toks = _TOKEN.findall(normalize(text))
    numbers, dates, names = set(), set(), {}
    for i, tok in enumerate(toks):
        low = tok.lower()
        n = _number(tok)
        if n is not None:
            numbers.add(n)
            continue
        d = _TEMPORAL.get(low)
        if d is not None and (
            tok[0].isupper() or low in ("yesterday", "today", "tomorrow", "tonight")
        ):
            dates.add(d)
            continue
        # A person-like name: one capitalised word (not an acronym, not sentence-initial).
        # Its slot is the lowercase words beside it ("met Putin on" → met), so a different
        # name in the same slot ("met Trump") is a disagreement, "Vladimir Putin" is not.
        if i and _NAME.fullmatch(tok) and low not in _NOT_NAMES:
            ctx = names.setdefault(low, set())
            for side, k in (("p", i - 1), ("n", i + 1)):
                if 0 <= k < len(toks) and toks[k].islower():
                    ctx.add((side, toks[k]))
    return Features(frozenset(numbers), frozenset(dates), names)


def _disagree(a: frozenset[str], b: frozenset[str]) -> bool:
    """Each side states something the other does not: not a subset either way."""
    return bool(a) and bool(b) and not (a <= b or b <= a)


def _names_disagree(a: dict, b: dict) -> bool:
    only_a = set(a) - set(b)
    only_b = set(b) - set(a)
    if not only_a or not only_b:
        return False

    def slots(own: dict, keys: set, other: dict) -> set:
        return {
            c
            for k in keys
            for c in own[k]
            if c[1]
            and c[1] not in _FUNCTION
            and c[1] not in own
            and c[1] not in other
            and c[1][0].isalpha()
        }

    return bool(slots(a, only_a, b) & slots(b, only_b, a))


def conflict(a: Features, b: Features) -> str | None:
    """Why two sentences cannot state the same fact, or None when nothing vetoes it."""
    if _disagree(a.numbers, b.numbers):
        return "numbers"
    if _disagree(a.dates, b.dates):
        return "dates"
    if _names_disagree(a.names, b.names):
        return "people"
    return None


def _vectorizers() -> tuple[HashingVectorizer, HashingVectorizer]:
    # No IDF: a story has a handful to a few hundred sentences, too few for stable document
    # frequencies, and the threshold must mean the same for a 3-lead cluster and a long story.
    # Hashed features (2^20, no sign flipping) skip building a vocabulary: same cosines up to
    # rare collisions, and stateless, so a story's scores never depend on other stories.
    char = HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        lowercase=True,
        alternate_sign=False,
        norm=None,
        n_features=1 << 20,
        dtype=np.float32,
    )
    word = HashingVectorizer(
        analyzer="word",
        lowercase=True,
        alternate_sign=False,
        norm=None,
        stop_words="english",
        token_pattern=r"(?u)\b\w+\b",
        n_features=1 << 20,
        dtype=np.float32,
    )
    return char, word


def _embed(vec: HashingVectorizer, texts: list[str]):
    x = vec.transform(texts)
    x.data = 1.0 + np.log(x.data)  # sublinear tf
    return normalize_rows(x)


def similarity(texts: Sequence[str]) -> np.ndarray:
    """Lexical similarity of every pair of `texts`: the mean of character n-gram and content
    word cosines (dense, symmetric)."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    norm = [normalize(t) for t in texts]
    total = np.zeros((len(norm), len(norm)), dtype=np.float32)
    for vec in _vectorizers():
        x = _embed(vec, norm)
        total += (x @ x.T).toarray()
    return total / 2


def pair_scores(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    """Similarity of a[i] with b[i] (same score as `similarity`)."""
    norm_a = [normalize(t) for t in a]
    norm_b = [normalize(t) for t in b]
    total = np.zeros(len(norm_a))
    for vec in _vectorizers():
        xa, xb = _embed(vec, norm_a), _embed(vec, norm_b)
        total += np.asarray(xa.multiply(xb).sum(axis=1)).ravel()
    return total / 2


def aligned(score: float, fa: Features, fb: Features, threshold: float = THRESHOLD) -> bool:
    return score >= threshold and conflict(fa, fb) is None
