"""Which sentences of different outlets state the same fact.

A fast lexical score, character n-gram TF-IDF cosine (robust to inflection, spelling and
tokenisation differences between outlets), fitted on the sentences being compared (one story's),
and vetoes for the confusions a lexical score cannot see:

* numbers disagree: each sentence has a number the other lacks ("killed 12" / "killed 15");
* dates disagree: each dates the *event* with a day or month the other lacks ("met Putin on
  Thursday" / "met Putin in December"); the day something was said or announced ("the White
  House confirmed on Monday"), a reference time ("since September") and an attribute ("the
  December shooting") are not compared (merge-1.3);
* people disagree: a different capitalised name fills the same slot ("met Putin" / "met Trump");
  a name the other sentence mentions anywhere, sentence-initial too, is not a different one.

One sentence saying *less* (no number, no date) is not a disagreement: wire copy and rewrites
drop details all the time. The threshold was chosen on MSRP (see `dedup.merge.evaluate`).

With a sentence encoder (dedup.embeddings), the score is a logistic over the cosine of the two
sentences' vectors instead (`embed_similarity`, bottom of this module); the vetoes are the same
and stay absolute.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np
from scipy import sparse

from .sentences import normalize

# Chosen on MSRP train (evaluate_alignment): F1-optimal on the even-numbered half with the
# vetoes on (reported on the odd half and the whole).
THRESHOLD = 0.34
# Two chosen facts this similar say the same thing twice: keep only the better supported one.
REDUNDANCY_THRESHOLD = 0.30
# A credit needs more than "paraphrase": the score at this level AND the weaker direction of
# IDF-weighted content-word cover at CREDIT_COVER (the evidence carries the fact's core, not
# just its topic). Chosen on the first 600 neus_dev clusters (see the report in
# dedup/merge/evaluate.py), confirmed on all of them.
CREDIT_THRESHOLD = 0.38
CREDIT_COVER = 0.33

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
_RELATIVE = frozenset(["yesterday", "today", "tomorrow", "tonight"])
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


# What a date word is doing in its sentence. Only the dates of the *event* are compared: the day
# something was said or announced ("the White House confirmed on Monday", "officials said
# Tuesday") is not the fact's date, and a reference time ("since September", "until after the
# November election") or an attribute ("the December shooting") is another slot.
_REPORT = frozenset(
    [
        "said",
        "says",
        "say",
        "saying",
        "told",
        "tells",
        "announced",
        "announces",
        "announcing",
        "confirmed",
        "confirms",
        "reported",
        "reports",
        "reporting",
        "stated",
        "declared",
        "tweeted",
        "wrote",
        "added",
        "noted",
        "argued",
        "insisted",
        "claimed",
        "revealed",
        "disclosed",
        "acknowledged",
        "admitted",
        "pledged",
        "vowed",
        "promised",
        "warned",
        "statement",
        "interview",
        "briefing",
        "conference",
        "tweet",
    ]
)
_REFERENCE = frozenset(["since", "until", "till", "before", "after", "through", "ahead", "the"])
_DATE_MODS = frozenset(["on", "late", "early", "last", "this", "next", "in", "a", "an"])
_DAY_PARTS = frozenset(["morning", "afternoon", "evening", "night"])


@dataclass(frozen=True, eq=False)
class Features:
    numbers: frozenset[str]
    dates: frozenset[str]  # every date word
    names: dict  # name → frozenset of (side, neighbour) slot contexts
    events: frozenset[str] = frozenset()  # the dates of the event (not of a statement)
    reported: frozenset[str] = frozenset()  # the dates of a statement ("said Monday")
    mentions: frozenset[str] = frozenset()  # every capitalised word, sentence-initial too


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


def _date_role(toks: list[str], i: int) -> str:
    """ "report" (the day something was said), "reference" (since/until/the ... : another
    slot) or "event" for the date word toks[i]."""
    j = i - 1
    if j >= 0 and toks[j].lower() in _REFERENCE:
        return "reference"
    while j >= 0 and toks[j].lower() in _DATE_MODS:
        j -= 1
    if j >= 0 and toks[j].lower() in _REPORT:
        return "report"
    if j >= 0 and toks[j].lower() in _REFERENCE:
        return "reference"
    k = i + 1
    while k < len(toks) and (toks[k].lower() in _DAY_PARTS or toks[k][0].isdigit()):
        k += 1
    if k < len(toks) and toks[k].lower() in _REPORT:
        return "report"
    return "event"


def features(text: str) -> Features:
    toks = _TOKEN.findall(normalize(text))
    numbers, dates, events, reported, names = set(), set(), set(), set(), {}
    mentions = set()
    for i, tok in enumerate(toks):
        if tok.islower() and tok not in _NUMBER_WORDS and tok not in _TEMPORAL:
            continue  # the common case: a plain lowercase word
        low = tok.lower()
        n = _number(tok)
        if n is not None:
            numbers.add(n)
            continue
        d = _TEMPORAL.get(low)
        if d is not None:
            # Relative days ("yesterday", "today") are not compared: "said Tuesday" and "said
            # yesterday" are often the same day seen from two publication dates.
            if tok[0].isupper() and d not in _RELATIVE:
                dates.add(d)
                role = _date_role(toks, i)
                if role == "event":
                    events.add(d)
                elif role == "report":
                    reported.add(d)
            continue
        if _NAME.fullmatch(tok) and low not in _NOT_NAMES:
            mentions.add(low)
        # A person-like name: one capitalised word (not an acronym, not sentence-initial).
        # Its slot is the lowercase words beside it ("met Putin on" → met), so a different
        # name in the same slot ("met Trump") is a disagreement, "Vladimir Putin" is not.
        if i and _NAME.fullmatch(tok) and low not in _NOT_NAMES:
            ctx = names.setdefault(low, set())
            for side, k in (("p", i - 1), ("n", i + 1)):
                if 0 <= k < len(toks) and toks[k].islower():
                    ctx.add((side, toks[k]))
    return Features(
        frozenset(numbers),
        frozenset(dates),
        names,
        frozenset(events),
        frozenset(reported),
        frozenset(mentions),
    )


def _disagree(a: frozenset[str], b: frozenset[str]) -> bool:
    """Each side states something the other does not: not a subset either way."""
    return bool(a) and bool(b) and not (a <= b or b <= a)


def _variant(x: str, y: str) -> bool:
    """Two spellings of one name ("Extremadura"/"Extramadura", "Guangdong"/"Guandong")."""
    if x[:4] == y[:4]:
        return True
    if abs(len(x) - len(y)) > 2:
        return False
    return SequenceMatcher(None, x, y).ratio() >= 0.8


def _names_disagree(fa: Features, fb: Features) -> bool:
    a, b = fa.names, fb.names
    # a name the other sentence mentions anywhere (sentence-initial too) is not "only" here
    only_a = set(a) - set(b) - fb.mentions
    only_b = set(b) - set(a) - fa.mentions
    if only_a and only_b:
        same = {(x, y) for x in only_a for y in only_b if _variant(x, y)}
        only_a -= {x for x, _ in same}
        only_b -= {y for _, y in same}
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
    """Why two sentences cannot state the same fact, or None when nothing vetoes it.

    numbers — each side has a number the other lacks (flat: whatever the numbers count);
    dates — the event's dates disagree: each side dates the event with a day or month the
            other lacks (the day of a statement, a "since"/"until" time and an attribute
            such as "the December shooting" are not compared);
    people — a different name in the same slot."""
    if _disagree(a.numbers, b.numbers):
        return "numbers"
    # A statement's day stands in for the event's when its sentence dates no event and the
    # other sentence gives no statement day to match it with ("denied on Tuesday" / "the
    # Times reported Monday"); two statement days are compared only when neither sentence
    # dates the event.
    ea = a.events or (a.dates if a.reported and not b.reported else frozenset())
    eb = b.events or (b.dates if b.reported and not a.reported else frozenset())
    if _disagree(ea, eb):
        return "dates"
    if not a.events and not b.events and _disagree(a.reported, b.reported):
        return "dates"
    if _names_disagree(a, b):
        return "people"
    return None


# ---------------------------------------------------------------------------------------------
# Lexical scores, one story at a time (numpy + scipy.sparse; nothing cached across stories)

_STOP = _FUNCTION | frozenset(
    [
        "are",
        "am",
        "do",
        "does",
        "did",
        "being",
        "will",
        "would",
        "could",
        "should",
        "can",
        "may",
        "might",
        "shall",
        "must",
        "into",
        "onto",
        "over",
        "under",
        "about",
        "after",
        "before",
        "up",
        "down",
        "out",
        "off",
        "more",
        "most",
        "other",
        "some",
        "such",
        "only",
        "own",
        "same",
        "so",
        "too",
        "very",
        "just",
        "all",
        "any",
        "both",
        "each",
        "few",
        "many",
        "much",
        "again",
        "further",
        "once",
        "here",
        "what",
        "how",
        "why",
        "whom",
        "if",
        "because",
        "until",
        "against",
        "between",
        "through",
        "during",
        "above",
        "below",
        "me",
        "my",
        "our",
        "ours",
        "your",
        "yours",
        "him",
        "them",
        "us",
        "one",
        "s",
        "t",
    ]
)
_CHAR_NS = (3, 4, 5)
_MULT = np.uint64(1000003)


def _stem(w: str) -> str:
    """Light suffix stripping: "killed"/"kills"/"killing" → "kill", "parties" → "party"."""
    if len(w) > 4 and w[-1] == "s":
        if w.endswith("ies"):
            return w[:-3] + "y"
        if not w.endswith("ss"):
            w = w[:-1]
    for suf in ("ing", "ed"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)]
    return w


_POSSESSIVE = re.compile(r"'s\b")


def _tokens(text: str) -> list[str]:
    """Lowercase word and number tokens, possessive 's dropped."""
    return _TOKEN.findall(_POSSESSIVE.sub("", normalize(text).lower()))


def _csr(rows, cols, data, shape) -> sparse.csr_matrix:
    m = sparse.coo_matrix(
        (np.asarray(data, dtype=np.float64), (np.asarray(rows), np.asarray(cols))), shape=shape
    ).tocsr()
    m.sum_duplicates()
    return m


def _char_grams(vocab: list[str]) -> sparse.csr_matrix:
    """vocab × hashed character n-grams of " word " (n = 3, 4, 5), vectorised with numpy."""
    padded = [" " + w + " " for w in vocab]
    lens = np.fromiter((len(w) for w in padded), dtype=np.int64, count=len(padded))
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    rows, hashes = [], []
    for n in _CHAR_NS:
        count = np.maximum(lens - n + 1, 0)
        total = int(count.sum())
        if not total:
            continue
        word = np.repeat(np.arange(len(vocab)), count)
        first = np.repeat(np.cumsum(count) - count, count)
        pos = starts[word] + (np.arange(total) - first)
        h = np.full(total, n, dtype=np.uint64)
        for k in range(n):
            h = h * _MULT + codes[pos + k]
        rows.append(word)
        hashes.append(h)
    if not rows:
        return sparse.csr_matrix((len(vocab), 1))
    rows_a = np.concatenate(rows)
    uniq, cols = np.unique(np.concatenate(hashes), return_inverse=True)
    return _csr(rows_a, cols, np.ones(len(rows_a)), (len(vocab), len(uniq)))


def _l2(m: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to unit length (in place)."""
    lengths = np.diff(m.indptr)
    sq = np.zeros(m.shape[0])
    nz = lengths > 0
    if m.nnz:
        sq[nz] = np.add.reduceat(m.data * m.data, m.indptr[:-1][nz])
    sq[sq == 0] = 1.0
    m.data = m.data / np.repeat(np.sqrt(sq), lengths)
    return m


@dataclass
class Lexical:
    """Pairwise lexical features of one story's sentences (dense n × n arrays).

    char — cosine of sublinear character 3–5-gram counts (spelling, inflection, tokenisation);
    word — cosine of content-word (stemmed, stop words out) counts;
    cover — IDF-weighted share of row i's content words that sentence j also has (asymmetric:
            cover[i, j] is how much of i's content j carries); IDF is the story's own, so words
            every sentence shares (the topic) weigh least.
    """

    char: np.ndarray
    word: np.ndarray
    cover: np.ndarray

    def score(self) -> np.ndarray:
        return combine(self.char, self.word, self.cover, self.cover.T)


def lexical(texts: Sequence[str], chars: bool = True) -> Lexical:
    """The story's lexical features; `chars=False` skips the character n-grams (the costly
    part; `char` is then all zeros), for the embedding path, which needs only the words."""
    n = len(texts)
    per_text = [_tokens(t) for t in texts]
    all_toks = [tok for toks in per_text for tok in toks]
    if not all_toks:
        z = np.zeros((n, n))
        return Lexical(z, z, z)
    words_list = list(dict.fromkeys(all_toks))  # first-seen order: deterministic
    vocab = {w: k for k, w in enumerate(words_list)}
    rows = np.repeat(np.arange(n), [len(toks) for toks in per_text])
    cols = np.fromiter(map(vocab.__getitem__, all_toks), dtype=np.int64, count=len(all_toks))
    if chars:
        counts = _csr(rows, cols, np.ones(len(rows)), (n, len(vocab)))
        grams = counts @ _char_grams(words_list)
        grams.data = 1.0 + np.log(grams.data)
        grams = _l2(grams)
        char = (grams @ grams.T).toarray()
    else:
        char = np.zeros((n, n))

    # content words: each vocabulary entry stemmed once, stop words mapped out (-1)
    cvocab: dict[str, int] = {}
    cmap = np.fromiter(
        (-1 if w in _STOP else cvocab.setdefault(_stem(w), len(cvocab)) for w in words_list),
        dtype=np.int64,
        count=len(words_list),
    )
    ccols = cmap[cols]
    keep = ccols >= 0
    words = _csr(rows[keep], ccols[keep], np.ones(int(keep.sum())), (n, max(len(cvocab), 1)))
    present = words.copy()
    present.data[:] = 1.0
    words.data = 1.0 + np.log(words.data)
    words = _l2(words)
    word = (words @ words.T).toarray()

    df = np.asarray(present.sum(axis=0)).ravel()
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    weighted = present.copy()
    weighted.data = idf[weighted.indices]
    mass = np.asarray(weighted.sum(axis=1)).ravel()
    mass[mass == 0] = 1.0
    cover = (weighted @ present.T).toarray() / mass[:, None]
    return Lexical(char, word, cover)


# Logistic combination of the features, fitted on one half of MSRP train (see
# dedup.merge.evaluate --fit); the score is a probability-like 0..1 number.
# The two cover features added nothing on MSRP (F1 0.806 either way) and are kept at 0 here;
# `cover` is still used for credits (see CREDIT_COVER).
WEIGHTS = (4.89, 2.06, 0.0, 0.0, -3.99)  # char, word, min cover, max cover, intercept


def combine(char, word, cover_ab, cover_ba) -> np.ndarray:
    w = WEIGHTS
    lo = np.minimum(cover_ab, cover_ba)
    hi = np.maximum(cover_ab, cover_ba)
    z = w[0] * char + w[1] * word + w[2] * lo + w[3] * hi + w[4]
    return 1.0 / (1.0 + np.exp(-z))


def similarity(texts: Sequence[str]) -> np.ndarray:
    """The aligner's score for every pair of `texts` (dense, symmetric, fitted per call)."""
    if not texts:
        return np.zeros((0, 0))
    return lexical(texts).score()


def pair_scores(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    """Score of a[i] with b[i], fitted over all of a and b together (like one story)."""
    n = len(a)
    if not n:
        return np.zeros(0)
    lx = lexical(list(a) + list(b))
    idx = np.arange(n)
    return combine(
        lx.char[idx, idx + n], lx.word[idx, idx + n], lx.cover[idx, idx + n], lx.cover[idx + n, idx]
    )


def aligned(score: float, fa: Features, fb: Features, threshold: float = THRESHOLD) -> bool:
    return score >= threshold and conflict(fa, fb) is None


# ---------------------------------------------------------------------------------------------
# Embedding score (when an encoder is available: dedup.embeddings, all-MiniLM-L6-v2)
#
# A logistic over the cosine of the two sentences' unit vectors, fitted on MSRP train plus the
# STS train news rows (score >= 4 is a paraphrase): P = 1 / (1 + exp(-(8.124 cos - 6.309))).
# Lexical features were tried in the same fit (char, word: 1.92, 2.53, cos 4.95): they raise
# the MSRP and STS-dev AUCs a little (0.778 / 0.863 against 0.749 / 0.851), but inside one story
# word overlap is mostly the story's topic, and at the credit operating point they cost half
# the recall on the hand labels (docs/merge-evaluation.md). The vetoes (`conflict`) stay
# absolute on top of the score.
EMBED_WEIGHTS = (8.124, -6.309)  # cos, intercept
# F1-optimal on the even-numbered half of MSRP train with the vetoes on (as THRESHOLD); both
# refitted by `python -m dedup.merge.evaluate --fit --sentences DIR`.
EMBED_THRESHOLD = 0.16  # cos >= 0.573
# A credit: the score at this level (cos >= 0.660). No cover condition: a reworded sentence
# shares few words by definition. Chosen on the hand-labelled credit pairs: the midpoint of the
# thresholds a split-half choice picks (0.26 on the even rows, 0.30 on the odd ones; `--fit
# --labels`), see docs/merge-evaluation.md for what each half scores on the other.
EMBED_CREDIT_THRESHOLD = 0.28
# ... and the two sentences' content words (stemmed, stop words out) at least this cosine
# (Lexical.word). Inside one story, sentences that share almost no content words but embed
# close are about half the time a different claim on the same topic (a hand-judged sample of
# neus_dev credits, docs/merge-evaluation.md); no labelled true pair falls below 0.25.
EMBED_WORD_FLOOR = 0.25
# Two chosen facts this similar say the same thing twice (as REDUNDANCY_THRESHOLD).
EMBED_REDUNDANCY_THRESHOLD = 0.28


def cosines(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine of unit rows, in float64 and rounded to 1e-6, so a comparison with a
    threshold does not depend on the BLAS kernel or thread count."""
    v = np.asarray(vectors, dtype=np.float64)
    return np.round(v @ v.T, 6)


def paired_cosines(encoder, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    """Cosine of each pair (a[k], b[k]) under `encoder`, rounded like `cosines`."""
    va = encoder.encode(list(a)).astype(np.float64)
    vb = encoder.encode(list(b)).astype(np.float64)
    return np.round((va * vb).sum(axis=1), 6)


@dataclass(frozen=True)
class EmbedCalibration:
    """An encoder's own scale for the merger: the logistic over the cosine, the paraphrase
    (MSRP) line, the credit line, the content-word floor and the redundancy line, all in score
    units. Fine-tuning moves every cosine, so a tuned sentence encoder carries its own in its
    delta's meta ("merge"); the stock model's are the EMBED_* constants above."""

    weights: tuple[float, float] = EMBED_WEIGHTS
    threshold: float = EMBED_THRESHOLD
    credit: float = EMBED_CREDIT_THRESHOLD
    floor: float = EMBED_WORD_FLOOR
    redundancy: float = EMBED_REDUNDANCY_THRESHOLD


STOCK_CALIBRATION = EmbedCalibration()


def calibration(encoder) -> EmbedCalibration:
    """The merger's scale for `encoder`: its delta's record, else the stock model's."""
    record = getattr(encoder, "merge_calibration", None)
    if not record:
        return STOCK_CALIBRATION
    return EmbedCalibration(**{**record, "weights": tuple(record["weights"])})


def embed_combine(cos, weights: tuple[float, float] = EMBED_WEIGHTS) -> np.ndarray:
    w = weights
    return 1.0 / (1.0 + np.exp(-(w[0] * np.asarray(cos, dtype=np.float64) + w[1])))


def embed_similarity(
    vectors: np.ndarray, weights: tuple[float, float] = EMBED_WEIGHTS
) -> np.ndarray:
    """The embedding aligner's score for every pair of rows of `vectors` (unit vectors)."""
    return embed_combine(cosines(vectors), weights)
