"""Every knob of duplicate and story detection in one frozen value, readable from `[dedup]`.

Kept separate from the algorithm so a membership's evidence can record exactly which settings
made it, and so a typo in the config fails at load time naming the key instead of being ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from dedup.embeddings import STOCK_EDGE, STOCK_WEIGHT, encoder_choice

CODE_VERSION = "dedup-1.6"
# Knobs whose default (None) is the encoder's own calibration; when set, numbers in [0, 1].
_CALIBRATED = ("embedding_weight", "embedding_edge")


@dataclass(frozen=True)
class DedupSettings:
    """Thresholds, windows and MinHash parameters.

    Duplicates: word `dup_ngram`-gram MinHash, estimated Jaccard >= `dup_threshold`.
    Stories: MinHash LSH over content-word features (bands x rows = `story_bands` x
    `story_rows`) proposes candidates; a pair is an edge when its title-weighted TF-IDF cosine is
    >= `edge_threshold` and the articles are at most `max_gap_days` apart; edges only make two
    clusters neighbours: they join by average link >= `link_threshold`, the mean weight over
    *all* their cross pairs computed exactly from the TF-IDF rows (so a pair the LSH missed is
    not taken for a wholly dissimilar one, and one shared article does not chain two stories);
    a pair the LSH did not propose counts `missed_pair_factor` of its weight.

    With a sentence encoder (`encoder`: "auto" uses it when the `embeddings` extra is
    installed, "none" never), the similarity is `(1 - embedding_weight) * TF-IDF cosine +
    embedding_weight * embedding cosine`, an edge needs the same mix of `edge_threshold` and
    `embedding_edge`, and each article's `knn_k` exact nearest neighbours are candidates too.
    """

    num_perm: int = 128
    seed: int = 1
    # duplicates
    dup_ngram: int = 3
    dup_threshold: float = 0.7
    # stories: candidates
    story_bands: int = 64
    story_rows: int = 2
    lead_words: int = 60  # words of text, after the title, that make a story's features
    # stories: confirmation and joining
    title_weight: float = 2.0
    lead_weight: float = 1.0
    body_weight: float = 0.5
    body_words: int = 400
    name_weight: float = 1.5  # capitalised words inside sentences and numbers
    edge_threshold: float = 0.15  # minimum cosine of an edge
    hub_k: int = 20  # most neighbours that set an article's local similarity scale (0: off)
    # The fewest; in between, the window is hub_size_factor x the article's estimated
    # own-story size (dedup.local_scale). hub_k_min = hub_k gives every article hub_k.
    hub_k_min: int = 5
    hub_size_factor: float = 2.0
    hub_skip: int = 3  # nearest neighbours skipped before those (likely the story itself)
    hub_weight: float = 1.0
    adjusted_threshold: float = 0.0  # minimum similarity above the pair's local scale
    cosine_share: float = 0.0  # edge weight = adjusted score + cosine_share * cosine
    # stories: sentence embeddings (the `embeddings` extra); "none" keeps the lexical scores
    encoder: str = "auto"  # one of dedup.embeddings.CHOICES, or a .npz delta (dedup.finetune)
    # story similarity = (1 - w) * TF-IDF cosine + w * embedding cosine, and the embedding
    # cosine as strong as an `edge_threshold` cosine. None: the encoder's own calibration (the
    # stock model: 0.5 and 0.55; a tuned model's delta records its own)
    embedding_weight: float | None = None
    embedding_edge: float | None = None
    knn_k: int = 10  # exact nearest neighbours proposed as candidates beside the LSH (0: off)
    link_threshold: float = 0.075
    missed_pair_factor: float = 0.3  # weight share of a pair the LSH did not propose
    same_outlet_factor: float = 0.5  # scales scores of two articles from one outlet
    max_gap_days: float = 3.0
    # incremental
    window_days: float = 3.0
    # LSH storage: {"type": "dict"} in-process, or datasketch's Redis storage_config, e.g.
    # {"type": "redis", "redis": {"host": "127.0.0.1", "port": 6379}, "basename": "newsmerge"}
    index: Mapping[str, Any] = field(default_factory=lambda: {"type": "dict"})

    def __post_init__(self) -> None:
        if self.story_bands * self.story_rows > self.num_perm:
            raise ValueError("story_bands * story_rows must be <= num_perm")
        for name in (
            "dup_threshold",
            "edge_threshold",
            "same_outlet_factor",
            "missed_pair_factor",
            "embedding_weight",
            "embedding_edge",
        ):
            value = getattr(self, name)
            if value is None and name in _CALIBRATED:
                continue
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value!r}")
        encoder_choice(self.encoder)  # raises UnknownEncoder (a ValueError) naming the choices
        if self.knn_k < 0 or self.hub_k < 0 or self.hub_skip < 0 or self.hub_k_min < 0:
            raise ValueError("knn_k, hub_k, hub_k_min and hub_skip must be >= 0")
        if self.hub_size_factor <= 0:
            raise ValueError(f"hub_size_factor must be > 0, got {self.hub_size_factor!r}")
        if self.num_perm < 2 or self.dup_ngram < 1:
            raise ValueError("num_perm must be >= 2 and dup_ngram >= 1")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> DedupSettings:
        """Build from a `[dedup]` TOML table; an unknown key raises ValueError naming it."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise ValueError(f"dedup.{key}: unknown setting (known: {', '.join(known)})")
            default = getattr(cls(), key)
            if key in _CALIBRATED:
                default = 0.0  # None means "the encoder's own"; a value must be a number
            if key == "index":
                if not isinstance(value, Mapping) or "type" not in value:
                    raise ValueError("dedup.index: expected a table with a 'type' key")
                value = dict(value)
            elif isinstance(default, str):
                if not isinstance(value, str):
                    raise ValueError(f"dedup.{key}: expected a string, got {value!r}")
            elif isinstance(default, bool) or isinstance(value, bool):
                raise ValueError(f"dedup.{key}: expected a number, got {value!r}")
            elif isinstance(default, int):
                if not isinstance(value, int):
                    raise ValueError(f"dedup.{key}: expected a whole number, got {value!r}")
            elif isinstance(default, float):
                if not isinstance(value, int | float):
                    raise ValueError(f"dedup.{key}: expected a number, got {value!r}")
                value = float(value)
            values[key] = value
        return cls(**values)

    def with_encoder(self, encoder: Any) -> DedupSettings:
        """These settings with `embedding_weight` and `embedding_edge` resolved for `encoder`
        (or None: lexical)."""
        w, edge = self.embedding_weight, self.embedding_edge
        if w is None:
            w = getattr(encoder, "embedding_weight", STOCK_WEIGHT)
        if edge is None:
            edge = getattr(encoder, "embedding_edge", STOCK_EDGE)
        return replace(self, embedding_weight=w, embedding_edge=edge)

    def evidence(self) -> dict[str, Any]:
        """The thresholds a membership was decided under, for its evidence record."""
        return {
            "code_version": CODE_VERSION,
            "dup_threshold": self.dup_threshold,
            "edge_threshold": self.edge_threshold,
            "link_threshold": self.link_threshold,
            "missed_pair_factor": self.missed_pair_factor,
            "adjusted_threshold": self.adjusted_threshold,
            "hub_k": self.hub_k,
            "hub_skip": self.hub_skip,
            "hub_k_min": self.hub_k_min,
            "hub_size_factor": self.hub_size_factor,
            "embedding_weight": self.embedding_weight,
            "embedding_edge": self.embedding_edge,
            "knn_k": self.knn_k,
            "max_gap_days": self.max_gap_days,
            "window_days": self.window_days,
            "num_perm": self.num_perm,
            "seed": self.seed,
            "story_lsh": [self.story_bands, self.story_rows],
        }
