"""Article text → paragraphs → sentences, with character offsets, boilerplate dropped.

Sentences come from syntok's segmenter (offline, rule-based, no model download), which reports
token offsets, so every sentence is an exact slice `text[start:end]` of the article: a credit
can always point back at what the outlet wrote. Paragraphs are runs of text separated by line
breaks (extracted page text keeps one paragraph per line).

Boilerplate is what an outlet prints around the story, not part of it: "Read more", "Follow us",
bylines, photo credits, newsletter pleas. Those sentences are dropped here so no later stage can
credit them as facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import syntok.segmenter as _segmenter


@dataclass(frozen=True)
class Sentence:
    """One sentence of one article: `article_text[start:end] == text`."""

    start: int
    end: int
    text: str
    paragraph: int  # index of the paragraph it belongs to (counting kept paragraphs)
    index: int  # position among the article's kept sentences


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


def normalize(text: str) -> str:
    """Whitespace collapsed and typographic quotes straightened: what 'verbatim' compares."""
    text = (
        text.replace("“", '"')
        .replace("”", '"')
        .replace("„", '"')
        .replace("«", '"')
        .replace("»", '"')
        .replace("‘", "'")
        .replace("’", "'")
        .replace("`", "'")
    )
    return _WS.sub(" ", text).strip()


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


def split_sentences(text: str, *, drop_boilerplate: bool = True) -> list[Sentence]:
    """Sentences of `text` in order, each an exact slice of it."""
    out: list[Sentence] = []
    para_no = 0
    for a, b in paragraphs(text):
        chunk = text[a:b]
        kept = False
        for para in _segmenter.analyze(chunk):
            for sent in para:
                if not sent:
                    continue
                s = a + sent[0].offset
                e = a + sent[-1].offset + len(sent[-1].value)
                piece = text[s:e]
                if drop_boilerplate and is_boilerplate(piece):
                    continue
                out.append(Sentence(s, e, piece, para_no, len(out)))
                kept = True
        if kept:
            para_no += 1
    return out
