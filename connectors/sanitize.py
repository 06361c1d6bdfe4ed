"""Untrusted feed and page text → plain text that is safe to store and to render.

Everything an outlet sends is input from the internet. What leaves the connectors is plain
text: no tags (a `<script>` or `<style>` is dropped with its content, an `onerror=` attribute
or a `javascript:` link goes with its tag), entities decoded once, no control characters
(PostgreSQL refuses NUL in text; the others are invisible tricks), whitespace collapsed.

Entity decoding can turn escaped markup back into markup (`&lt;script&gt;` → `<script>`), so
stripping repeats until the text no longer changes: stored text never contains anything an
HTML renderer would treat as a tag. Renderers must still escape (defence in depth): a plain
`<` in "a < b" is legitimate text and is kept.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    }
)
# Their content is code or chrome, never reporting: dropped entirely.
_SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math"}
)
# C0/C1 controls except tab and newline, lone surrogates, and the non-characters U+FFFE/U+FFFF.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Something an HTML parser would start a tag, comment, doctype or processing instruction with.
_TAG_START = re.compile(r"<[A-Za-z/!?]")
_MAX_ROUNDS = 4


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in _BLOCK_TAGS:  # <br/>, <hr/>: a break; a self-closed <script/> has no content
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _strip_once(fragment: str) -> str:
    parser = _TextExtractor()
    parser.feed(fragment)
    parser.close()
    return "".join(parser.parts)


def strip_controls(text: str) -> str:
    """`text` without control characters (tab and newline kept), surrogates or non-characters."""
    return _CONTROL.sub("", text)


def html_to_text(fragment: str | None) -> str:
    """Visible text of an HTML fragment: tags gone (script/style with their content), entities
    decoded, controls removed, whitespace collapsed to single spaces."""
    if not fragment:
        return ""
    text = strip_controls(fragment)
    for _ in range(_MAX_ROUNDS):
        stripped = strip_controls(_strip_once(text))
        done = stripped == text or not _TAG_START.search(stripped)
        text = stripped
        if done:
            break
    # Still tag-like: a stray "a<b" the parser kept as text, or a payload nested deeper than
    # the rounds peel. Neutralise it so no renderer can ever read a tag out of stored text.
    text = _TAG_START.sub(lambda m: "\u2039" + m.group(0)[1:], text)
    return " ".join(text.split())


def clean_page_text(text: str | None) -> str:
    """Extracted page text (already plain, one paragraph per line) made safe the same way:
    controls removed and any tag-like markup stripped, line structure kept."""
    if not text:
        return ""
    text = strip_controls(text)
    if _TAG_START.search(text):
        text = "\n".join(html_to_text(line) for line in text.splitlines())
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def has_markup(text: str) -> bool:
    """True when `text` contains something an HTML parser would read as a tag."""
    return bool(_TAG_START.search(text))
