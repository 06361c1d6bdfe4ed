"""Article text → paragraphs → sentences, with character offsets, boilerplate dropped.

Sentences come from a rule-based, abbreviation-aware splitter (one regex pass per paragraph,
no model), so every sentence is an exact slice `text[start:end]` of the article: a credit can
always point back at what the outlet wrote. Paragraphs are runs of text separated by line
breaks (extracted page text keeps one paragraph per line). It replaced syntok's segmenter
(merge-1.1), which cost ~130 ms per four-article story; on the NeuS and Davos texts the two
agree on all but a handful of sentences (see tests/test_merge.py).

Wire datelines ("KYIV, Ukraine (AA) - ", "BEIRUT (AA) - ", "WASHINGTON — ") and stray leading
dashes or bullets are not part of the sentence: its start offset is moved past them, so the
composite sentence is still verbatim source text, just without the dateline.

Boilerplate is what an outlet prints around the story, not part of it: "Read more", "Follow us",
bylines, photo credits, newsletter pleas. Those sentences are dropped here so no later stage can
credit them as facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Sentence:
    """One sentence of one article: `article_text[start:end] == text`."""

    start: int
    end: int
    text: str
    paragraph: int  # index of the paragraph it belongs to (counting kept paragraphs)
    index: int  # position among the article's kept sentences
    # A quotation of several sentences is one Sentence; its inner sentences, which alignment
    # compares one by one ("We will not abandon a single family." is a fact of its own).
    parts: tuple[str, ...] = ()

    @property
    def facts(self) -> tuple[str, ...]:
        """What alignment compares: the inner sentences of a quotation, else the sentence."""
        return self.parts or (self.text,)


_PARA = re.compile(r"[^\n]+")
_WS = re.compile(r"\s+")

# Whole-sentence boilerplate: the sentence *is* navigation, a credit line or a plea.
_BOILER = re.compile(
    r"""^\W*(?:
        read\s+(?:more|also|next|the\s+full)\b
      | (?:also\s+read|see\s+also|related|recommended|more\s+on\s+this|watch|listen
         |explainer)\s*[:|–—-]
      | (?:follow|like)\s+(?:us|@|\w+\s+on\s+(?:twitter|x|facebook|instagram|telegram|whatsapp))
      | (?:sign\s+up|subscribe)\b
      | (?:click|tap)\s+here\b
      | share\s+(?:this|on)\b
      | advertisement\W*$
      | (?:image|photo|picture|video)\s*(?:source|caption|credit)?\s*[:|,]
      | (?:image|photo|picture)s?\s+(?:by|courtesy)\b
      | (?:copyright|©|\(c\))
      | all\s+rights\s+reserved
      | (?:reporting|writing|editing|additional\s+reporting)\s+by\b
      | (?:published|updated|last\s+updated)\s*(?:on|at|:)?\s*\d
      | get\s+the\s+(?:latest|best)\b.{0,60}\b(?:newsletter|inbox|app)\b
      | download\s+(?:the|our)\s+app\b
      | this\s+article\s+(?:was|is)\s+(?:originally|first)\s+published\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# Bylines are case-sensitive: "By Jane Doe" is one, "By the time he arrived" is not.
_BYLINE = re.compile(r"^\W*By\s+[A-Z][\w.'’-]+(?:\s+(?:[A-Z][\w.'’-]+|and|in))*\s*(?:$|[,|–—-])")
# Anywhere in a short sentence: photo agency credits ("Photo: AFP", "Reuters/File").
_CREDIT_LINE = re.compile(
    r"\b(?:getty\s+images|afp\s+via\s+getty|ap\s+photo|epa-efe|reuters/|/reuters|/afp|/ap\b|"
    r"shutterstock|xinhua/)\b",
    re.IGNORECASE,
)


_QUOTES = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "`": "'"}
)


def normalize(text: str) -> str:
    """Whitespace collapsed and typographic quotes straightened: what 'verbatim' compares."""
    return " ".join(text.translate(_QUOTES).split())


def is_boilerplate(sentence: str) -> bool:
    s = sentence.strip()
    if not s:
        return True
    if _BOILER.search(s) or _BYLINE.search(s):
        return True
    words = s.split()
    if len(words) <= 12 and _CREDIT_LINE.search(s):
        return True
    # Fragments without a verb-ish length ("Share", "Menu", "Kyiv, Ukraine –") are not facts.
    return len(words) < 4 and not s.endswith((".", "!", "?", '"', "”"))


def paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-blank line-delimited block, stripped of surrounding spaces."""
    out = []
    for m in _PARA.finditer(text):
        a, b = m.start(), m.end()
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


# A sentence ends at . ! ? or … (closing quotes/brackets included) followed by white space and
# something that can open a sentence: a capital, a digit, or an opening quote/bracket.
_BOUNDARY = re.compile(
    r"""[.!?…]+["'”’»)\]]*(?=\s+(?:[-–—]+\s+)?["'“‘«(\[►•@#]*[A-Z0-9À-ÖØ-Þ@#])"""
)
# A period after one of these does not end the sentence (titles, initials' company suffixes,
# month and unit abbreviations), unless what follows plainly starts a sentence (see below).
_ABBREV = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "messrs",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "gen",
        "lt",
        "col",
        "capt",
        "cpt",
        "sgt",
        "maj",
        "adm",
        "cmdr",
        "gov",
        "sen",
        "rep",
        "reps",
        "rev",
        "hon",
        "pres",
        "supt",
        "insp",
        "det",
        "cpl",
        "pvt",
        "fr",
        "no",
        "nos",
        "vol",
        "vols",
        "fig",
        "figs",
        "art",
        "arts",
        "para",
        "sec",
        "ch",
        "pp",
        "ed",
        "eds",
        "inc",
        "corp",
        "co",
        "ltd",
        "llc",
        "plc",
        "bros",
        "dept",
        "univ",
        "assn",
        "est",
        "approx",
        "vs",
        "v",
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
        "mt",
        "ft",
        "ave",
        "blvd",
        "rd",
        "hwy",
        "pt",
        "ex",
        "op",
        "cf",
        "al",
        "ariz",
        "calif",
        "colo",
        "conn",
        "fla",
        "ga",
        "ill",
        "ind",
        "kan",
        "ky",
        "la",
        "md",
        "mass",
        "mich",
        "minn",
        "miss",
        "mo",
        "mont",
        "neb",
        "nev",
        "okla",
        "ore",
        "pa",
        "penn",
        "tenn",
        "tex",
        "va",
        "vt",
        "wash",
        "wis",
        "wyo",
        "ala",
        "ark",
        "del",
    ]
)
# …but "Apple Inc. The company…", "… at 10 a.m. He said": these words open sentences.
_STARTERS = frozenset(
    [
        "The",
        "A",
        "An",
        "He",
        "She",
        "It",
        "They",
        "We",
        "I",
        "This",
        "That",
        "These",
        "Those",
        "His",
        "Her",
        "Its",
        "Their",
        "Our",
        "But",
        "And",
        "In",
        "On",
        "At",
        "As",
        "After",
        "Before",
        "When",
        "While",
        "If",
        "There",
        "Some",
        "Many",
        "Most",
        "Officials",
        "Police",
    ]
)
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.[\"'”’»)\]]*$")
_NEXT_WORD = re.compile(r"\s+[\"'“‘«(\[]*([^\s\"'“‘«(\[]+)")
# A wire dateline at the start of a sentence: "KYIV, Ukraine (AA) - ", "BEIRUT (AA) - ",
# "WASHINGTON — ", "GAZA CITY, Gaza (Reuters) – ": a place in capitals (optionally ", Region"),
# an optional agency in brackets, then a dash. Also a bare "(AA) - " and stray leading
# dashes/bullets ("- ", "• ").
_DATELINE = re.compile(
    r"""(?:
        (?:[A-Z][A-Z.'’-]+(?:\s+[A-Z][A-Z.'’-]+)*
           (?:,\s*[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*)*)?
           \s*(?:\([A-Za-z][\w .'’-]{0,30}\))?
         | \([A-Za-z][\w .'’-]{0,30}\))
        \s*[-–—]+\s+(?=["'“‘«(\[]*[A-Z0-9])
    )?(?:[-–—*]+\s+|[•·►]\s*)*""",
    re.VERBOSE,
)


def _ends_sentence(chunk: str, end: int) -> bool:
    """Whether the boundary candidate ending at `end` really ends a sentence."""
    if chunk[end - 1] not in ".\"'”’»)]" or "." not in chunk[max(0, end - 4) : end]:
        return True  # ! ? … always end one
    m = _WORD_BEFORE.search(chunk, max(0, end - 40), end)
    if m is None:
        return True
    word = m.group(1)
    low = word.lower()
    dotted = "." in word  # U.S. / a.m. / D.C.
    single = len(word) == 1 and word.isupper()  # an initial: "John F. Kennedy"
    nxt = _NEXT_WORD.match(chunk, end)
    if low in ("no", "nos") and not (nxt and nxt.group(1)[0].isdigit()):
        return True  # "No. 1" but "No. No."
    if not (dotted or single or low in _ABBREV):
        return True
    return bool(nxt) and not single and nxt.group(1) in _STARTERS


def _trim(text: str, s: int, e: int) -> int:
    """Start offset past a leading dateline or stray dash (never past the whole sentence)."""
    m = _DATELINE.match(text, s, e)
    if m and m.end() > s and m.end() < e:
        return m.end()
    return s


def sentence_spans(chunk: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of one paragraph (no line breaks inside); a quotation of
    a few sentences is one."""
    return _keep_quotes_whole(_raw_spans(chunk), chunk)


def _raw_spans(chunk: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    n = len(chunk)
    for m in _BOUNDARY.finditer(chunk):
        end = m.end()
        if end <= start or not _ends_sentence(chunk, end):
            continue
        spans.append((start, end))
        start = end
        while start < n and chunk[start].isspace():
            start += 1
    if start < n:
        spans.append((start, len(chunk.rstrip())))
    return [(a, b) for a, b in spans if b > a]


# A quotation of several sentences stays one unit: cut at its inner full stops, a composite
# would print `"We will not abandon a single family.` with its quote never closed, and credit
# the fragment inside the quotation. Only a quotation that closes within a few sentences of
# the same paragraph is joined; one that runs on (the convention for a quote continued in the
# next paragraph) or a stray inch mark leaves the sentences as they were.
_QUOTE_JOIN_MAX = 5  # sentences
_QUOTE_JOIN_CHARS = 900


def _quote_depth(text: str, depth: int) -> int:
    """Open double quotations after `text`, starting from `depth` open ones: curly quotes nest,
    a straight one closes an open quotation or opens one."""
    for ch in text:
        if ch in "“«„":
            depth += 1
        elif ch in "”»":
            depth = max(0, depth - 1)
        elif ch == '"':
            depth = depth - 1 if depth > 0 else 1
    return depth


_PART_MIN_WORDS = 6
_DOUBLE_QUOTES = '"“”«»„'


def _quote_parts(unit: str) -> tuple[str, ...]:
    """The inner sentences of a joined quotation, for alignment; a short one ("Have this
    money.", "I will sign now!") rides with the one before it, so that a few common words
    cannot credit the whole quotation."""
    if not any(q in unit for q in _DOUBLE_QUOTES):
        return ()  # only a quotation is ever joined: the common sentence skips the re-split
    parts: list[list[int]] = []
    for a, b in _raw_spans(unit):
        if parts and (
            len(unit[a:b].split()) < _PART_MIN_WORDS
            or len(unit[parts[-1][0] : parts[-1][1]].split()) < _PART_MIN_WORDS
        ):
            parts[-1][1] = b
        else:
            parts.append([a, b])
    return tuple(unit[a:b] for a, b in parts) if len(parts) > 1 else ()


# `“…?” Trump tweeted.`: a question or exclamation inside quotes ends a sentence for the
# splitter, which would leave the attribution as a sentence of its own.
_ATTRIBUTION = re.compile(
    r"^\S+(?:\s+\S+){0,4}\s+(?:said|says|asked|tweeted|wrote|told|added|replied|insisted)"
    r"\b[^.!?]*[.!?]$"
)


def _keep_quotes_whole(spans: list[tuple[int, int]], chunk: str) -> list[tuple[int, int]]:
    return _join_attributions(_join_quotations(spans, chunk), chunk)


def _join_attributions(spans: list[tuple[int, int]], chunk: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in spans:
        prev = chunk[out[-1][0] : out[-1][1]] if out else ""
        if prev[-2:-1] in ("?", "!") and prev[-1:] in '"”»' and _ATTRIBUTION.match(chunk[a:b]):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _join_quotations(spans: list[tuple[int, int]], chunk: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        depth = _quote_depth(chunk[spans[i][0] : spans[i][1]], 0)
        j = i
        while depth > 0 and j + 1 < len(spans) and j + 1 - i < _QUOTE_JOIN_MAX:
            j += 1
            depth = _quote_depth(chunk[spans[j][0] : spans[j][1]], depth)
        if j > i and depth == 0 and spans[j][1] - spans[i][0] <= _QUOTE_JOIN_CHARS:
            out.append((spans[i][0], spans[j][1]))
            i = j + 1
        else:
            out.append(spans[i])
            i += 1
    return out


def split_sentences(text: str, *, drop_boilerplate: bool = True) -> list[Sentence]:
    """Sentences of `text` in order, each an exact slice of it (datelines left out)."""
    out: list[Sentence] = []
    para_no = 0
    for a, b in paragraphs(text):
        chunk = text[a:b]
        kept = False
        for s0, e0 in sentence_spans(chunk):
            s, e = a + s0, a + e0
            if drop_boilerplate and is_boilerplate(text[s:e]):
                continue
            s = _trim(text, s, e)
            piece = text[s:e]
            if drop_boilerplate and is_boilerplate(piece):
                continue
            parts = _quote_parts(piece)
            out.append(Sentence(s, e, piece, para_no, len(out), parts))
            kept = True
        if kept:
            para_no += 1
    return out
