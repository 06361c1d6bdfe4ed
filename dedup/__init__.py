"""Duplicate and story detection: which new articles copy, or tell the same event as, others.

Public face (see docs/architecture.md): `assign_stories` for the incremental pipeline and
`cluster` for batch evaluation; both run the same code (`dedup.stories.run`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dedup.embeddings import encoder_name, load_encoder
from dedup.settings import CODE_VERSION, DedupSettings
from dedup.stories import _Item, run
from newsmerge.models import Membership


@dataclass(frozen=True)
class Doc:
    """What dedup needs of an article."""

    id: str
    outlet: str | None
    title: str
    text: str
    published: datetime | None  # tz-aware UTC or None


@dataclass(frozen=True)
class KnownDoc(Doc):
    """An article from an earlier run, with its story and persisted signature."""

    story_id: str = ""
    signature: bytes = b""  # what Assignment.signatures gave for it earlier


@dataclass(frozen=True)
class Assignment:
    """Result of one run: a membership per new article, signatures to persist, what changed."""

    memberships: tuple[Membership, ...]
    signatures: Mapping[str, bytes]
    changed_story_ids: frozenset[str]
    relabel: Mapping[str, str] = field(default_factory=dict)  # never filled: stories never merge


def _items(new: Sequence[Doc], known: Sequence[KnownDoc]) -> list[_Item]:
    new_ids = {d.id for d in new}
    if len(new_ids) != len(new):
        raise ValueError("new documents must have unique ids")
    items = [_Item(d.id, d.outlet, d.title, d.text, d.published, None) for d in new]
    seen: set[str] = set()
    for k in known:
        if k.id in new_ids or k.id in seen:
            continue  # a re-submitted article is decided again as new
        seen.add(k.id)
        items.append(
            _Item(
                k.id,
                k.outlet,
                k.title,
                k.text,
                k.published,
                k.story_id or f"st_{k.id}",
                k.signature,
            )
        )
    return items


def assign_stories(
    new: Sequence[Doc],
    known: Sequence[KnownDoc],
    settings: DedupSettings | None = None,
    *,
    now: datetime | None = None,
) -> Assignment:
    """Put every new article into a story: an existing one (from `known`) or a new one.

    `known` is the store's active window; a known article published more than
    `settings.window_days` before `now` takes no new members. Deterministic. With the
    `embeddings` extra (and `settings.encoder` not "none") sentence embeddings join the
    similarity; the evidence records which encoder ("none" without).
    """
    settings = settings or DedupSettings()
    encoder = load_encoder(settings.encoder)
    settings = settings.with_encoder(encoder)  # the encoder's own embedding_edge
    decisions, signatures = run(_items(new, known), settings, now, encoder)
    base = settings.evidence()
    base["encoder"] = encoder_name(encoder)
    memberships = []
    for d in decisions:
        evidence = dict(base)
        evidence["reason"] = (
            "founder" if d.founder else "duplicate" if d.duplicate_of else "same_story"
        )
        memberships.append(
            Membership(
                article_id=d.doc_id,
                story_id=d.story_id,
                matched_article_id=d.matched,
                jaccard=d.jaccard,
                score=d.score,
                duplicate_of=d.duplicate_of,
                evidence=evidence,
            )
        )
    memberships.sort(key=lambda m: m.article_id)
    return Assignment(
        memberships=tuple(memberships),
        signatures=signatures,
        changed_story_ids=frozenset(d.story_id for d in decisions),
    )


def cluster(docs: Sequence[Doc], settings: DedupSettings | None = None) -> list[list[str]]:
    """Batch clustering with the same code path: lists of article ids, one per story."""
    assignment = assign_stories(docs, (), settings)
    by_story: dict[str, list[str]] = {}
    for m in assignment.memberships:
        by_story.setdefault(m.story_id, []).append(m.article_id)
    return sorted(sorted(ids) for ids in by_story.values())


__all__ = [
    "CODE_VERSION",
    "Assignment",
    "DedupSettings",
    "Doc",
    "KnownDoc",
    "assign_stories",
    "cluster",
]
