"""A composite as plain text (the seed's form), Markdown with links, or JSON (and back).

The seed's form: a first line `Credited from: <primary>`, then one line per paragraph whose last
sentence carries the credit, "…, according to SCMP and AA." — every third paragraph says
"as reported by" instead, as the seed does. A sentence that already attributes its claim
("…, Kyiv's air force said.", "…, according to officials.") is never given a second "according
to": its credit reads "as reported by", which credits the reporting, not the claim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from newsmerge.models import Composite, CompositeSentence, Credit, Paragraph

ACCORDING = "according to"
REPORTED = "as reported by"

# The sentence already names who says so: a reporting verb in its closing clause, or any
# "according to".
_ATTRIBUTED = re.compile(
    r"(?:\baccording\s+to\b"
    r"|\b(?:said|says|say|told|tells|reported|reports|announced|stated|added|wrote|claimed"
    r"|confirmed|noted|warned|insisted|argued|explained|tweeted|posted)\b[^.!?;:]{0,60}"
    r"[.!?][\"'”’)]*\s*$)",
    re.IGNORECASE,
)
_TRAILING_ABBREV = re.compile(r"(?:\b[A-Za-z]\.){2,}$")
_QUOTE_CLOSE = "\"'”’»"


def join_names(names: Sequence[str]) -> str:
    """ "SCMP", "SCMP and AA", "SCMP, AA and BBC"."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def has_attribution(sentence: str) -> bool:
    return bool(_ATTRIBUTED.search(sentence))


def credit_phrase(paragraph_index: int, last_sentence: str) -> str:
    """Which credit phrase a paragraph ends with: deterministic, never doubling an attribution."""
    if has_attribution(last_sentence):
        return REPORTED
    return REPORTED if paragraph_index % 3 == 2 else ACCORDING


def attach_credit(sentence: str, phrase: str, names: str) -> str:
    """Append ", <phrase> <names>" before the sentence's final punctuation."""
    s = sentence.rstrip()
    credit = f"{phrase} {names}"
    if len(s) >= 2 and s[-1] in _QUOTE_CLOSE and s[-2] in ".,":
        # …solved." → …solved," according to X.
        return f"{s[:-2]},{s[-1]} {credit}."
    if len(s) >= 2 and s[-1] in _QUOTE_CLOSE and s[-2] in "!?":
        return f"{s}, {credit}."
    if s.endswith(".") and not _TRAILING_ABBREV.search(s):
        return f"{s[:-1]}, {credit}."
    if s.endswith((".", ")")) or (s and s[-1] in _QUOTE_CLOSE):
        return f"{s}, {credit}."
    if s.endswith(("!", "?")):
        return f"{s[:-1]}, {credit}{s[-1]}"
    return f"{s.rstrip(',;:')}, {credit}."


def _paragraph_text(k: int, p: Paragraph, names: str) -> str:
    body = [s.text for s in p.sentences]
    body[-1] = attach_credit(body[-1], credit_phrase(k, body[-1]), names)
    return " ".join(body)


def render_text(c: Composite) -> str:
    lines = [f"Credited from: {c.primary_outlet}"]
    for k, p in enumerate(c.paragraphs):
        lines.append(_paragraph_text(k, p, join_names(p.outlets)))
    return "\n".join(lines) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>])")
_MD_LIST_START = re.compile(r"^(\s*)(-|\d+(?=[.)]))")


def _md_escape(text: str) -> str:
    """Source text made inert in Markdown: every inline marker backslash-escaped, HTML as
    entities (no raw tags or links survive), a leading list/heading marker escaped, all on one
    line."""
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    m = _MD_LIST_START.match(text)
    if m and m.group(2) == "-":  # "- item" would be a list
        return m.group(1) + "\\-" + text[m.end() :]
    if m:  # "1. one" would be an ordered list: escape the dot
        return m.group(1) + m.group(2) + "\\" + text[m.end() :]
    return text


def _safe_url(url: str) -> str:
    """Only http(s) links, with the characters that would end a Markdown link encoded."""
    if not re.match(r"(?i)^https?://", url or ""):
        return ""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C")


def _outlet_article(p: Paragraph | None, outlet: str, c: Composite) -> str | None:
    """The article behind an outlet's credit: first in the paragraph, else in the composite."""
    paragraphs = [p] if p is not None else list(c.paragraphs)
    for q in paragraphs:
        for s in q.sentences:
            for cr in s.credits:
                if cr.outlet == outlet:
                    return cr.article_id
    return None


def render_markdown(c: Composite, urls: Mapping[str, str]) -> str:
    """Markdown: headline, credited-from line and credits that link to the source articles."""

    def link(outlet: str, p: Paragraph | None) -> str:
        aid = _outlet_article(p, outlet, c)
        url = _safe_url(urls.get(aid, "")) if aid else ""
        return f"[{_md_escape(outlet)}]({url})" if url else _md_escape(outlet)

    out = []
    if c.headline:
        out.append(f"# {_md_escape(c.headline)}")
        out.append("")
    out.append(f"Credited from: {link(c.primary_outlet, None)}")
    for k, p in enumerate(c.paragraphs):
        body = [_md_escape(s.text) for s in p.sentences]
        names = join_names([link(o, p) for o in p.outlets])
        body[-1] = attach_credit(body[-1], credit_phrase(k, p.sentences[-1].text), names)
        out.append("")
        out.append(" ".join(body))
    return "\n".join(out) + "\n"


def to_json(c: Composite) -> dict:
    return {
        "story_id": c.story_id,
        "headline": c.headline,
        "primary_outlet": c.primary_outlet,
        "article_ids": list(c.article_ids),
        "version": c.version,
        "paragraphs": [
            {
                "outlets": list(p.outlets),
                "sentences": [
                    {
                        "text": s.text,
                        "credits": [
                            {
                                "outlet": cr.outlet,
                                "article_id": cr.article_id,
                                "start": cr.start,
                                "end": cr.end,
                            }
                            for cr in s.credits
                        ],
                    }
                    for s in p.sentences
                ],
            }
            for p in c.paragraphs
        ],
    }


def from_json(d: dict) -> Composite:
    return Composite(
        story_id=d["story_id"],
        headline=d.get("headline", ""),
        primary_outlet=d.get("primary_outlet", ""),
        paragraphs=tuple(
            Paragraph(
                sentences=tuple(
                    CompositeSentence(
                        text=s["text"],
                        credits=tuple(
                            Credit(cr["outlet"], cr["article_id"], int(cr["start"]), int(cr["end"]))
                            for cr in s["credits"]
                        ),
                    )
                    for s in p["sentences"]
                ),
                outlets=tuple(p["outlets"]),
            )
            for p in d.get("paragraphs", [])
        ),
        article_ids=tuple(d.get("article_ids", ())),
        version=d.get("version", ""),
    )
