"""Credits against the article-level gold set: does the article report the sentence's claim?

    python -m dedup.merge.evaluate --article-labels tests/fixtures/merge/article_credit_labels.jsonl
    python -m dedup.merge.evaluate --curve --article-labels LABELS_1.jsonl LABELS_2.jsonl

Why a second gold set (docs/merge-evaluation.md, "Session 6"): the first one
(credit_labels.jsonl) samples sentence *pairs* with word overlap from merge-1.1's composites and
weights them back, so it never sees a credit owed to a reworded sentence with little overlap,
and it counts a true pair as missed even when the outlet is credited through another of its
sentences. A credit names an outlet. Here every (composite sentence, other article) pair of a
simple random sample of stories is labelled by two blind annotators against the whole article,
so precision and recall are plain shares, per credit, with no weights.

The merger is re-run on the labelled stories (so a changed aligner is measured, not the one that
built the sample): a pair counts as credited when the composite sentence has a credit-grade
link, with no veto, to some sentence of the article, which is exactly how compose() credits.
Confidence intervals: a seeded bootstrap over stories (pairs of one story are not independent).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from dedup.embeddings import Encoder

from .compose import (
    EncoderChoice,
    SourceArticle,
    composite_version,
    credit_links,
    resolve_encoder,
)
from .sentences import normalize, split_sentences

ARTICLE_LABEL_CLUSTERS = "article_credit_clusters.jsonl"  # the stories' articles, beside labels
BOOTSTRAP = 1000
SEED = 20261129


def clusters_beside(labels: str | Path) -> Path:
    """The stories' articles of a label file: `X_labels_N.jsonl` → `X_clusters_N.jsonl` beside
    it (`article_credit_labels.jsonl` → ARTICLE_LABEL_CLUSTERS)."""
    path = Path(labels)
    return path.with_name(path.name.replace("_labels", "_clusters"))


def load_article_labels(path: str | Path) -> list[dict]:
    """Rows of `{cluster_id, item, composite_sentence, composite_article_id, article_id,
    credited, version, label, sentences, reason[, label_2, sentences_2, reason_2]}`."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def article_credit_scores(
    articles: Sequence[SourceArticle],
    encoder: Encoder | None,
    threshold: float | None = None,
    cover: float | None = None,
) -> dict[tuple[str, str], dict[str, float]]:
    """Per sentence of the story, (article id, normalised text) → {other article id: the best
    score of a credit link to one of its sentences}: the credits compose() may give that
    sentence, per article. Every sentence has an entry (empty when nothing is credited)."""
    links = credit_links(articles, encoder=encoder, threshold=threshold, cover=cover)
    out: dict[tuple[str, str], dict[str, float]] = {}
    for a in articles:
        for sent in split_sentences(a.text):
            best = out.setdefault((a.id, normalize(sent.text)), {})
            for (other, _), score in links.get((a.id, sent.start), {}).items():
                best[other] = max(score, best.get(other, score))
    return out


def agreed(rows: Sequence[dict]) -> list[int]:
    """The rows both annotators label alike (every row when there is one annotator)."""
    return [i for i, r in enumerate(rows) if r.get("label_2", r["label"]) == r["label"]]


def _article_credits(
    rows: Sequence[dict], stories: str | Path, enc: Encoder | None, threshold: float | None
) -> list[dict[str, float]]:
    """For each labelled pair, its composite sentence's credits per article (best link score)
    at `threshold` (None: the merger's own line)."""
    from .evaluate import load_clusters

    clusters = load_clusters(stories)
    cache: dict[str, dict[tuple[str, str], dict[str, float]]] = {}
    out: list[dict[str, float]] = []
    for r in rows:
        cid = r["cluster_id"]
        if cid not in cache:
            cache[cid] = article_credit_scores(clusters[cid], enc, threshold=threshold)
        own = r["composite_article_id"]
        credits = cache[cid].get((own, normalize(r["composite_sentence"])))
        if credits is None:
            raise ValueError(f"{r['item']}: the composite sentence is not a sentence of {own}")
        out.append(credits)
    return out


def merger_article_credits(
    rows: Sequence[dict], stories: str | Path, encoder: EncoderChoice = "auto"
) -> list[bool]:
    """For each labelled pair, whether the merger as it is now credits the article with the
    composite sentence."""
    credits = _article_credits(rows, stories, resolve_encoder(encoder), None)
    return [r["article_id"] in c for r, c in zip(rows, credits, strict=True)]


def merger_article_scores(
    rows: Sequence[dict], stories: str | Path, encoder: EncoderChoice = "auto"
) -> list[float]:
    """For each labelled pair, the score of the best link that would credit the article at a
    line of 0 (every other gate of the credit rule kept: floors, vetoes); 0.0 where none."""
    credits = _article_credits(rows, stories, resolve_encoder(encoder), 0.0)
    return [c.get(r["article_id"], 0.0) for r, c in zip(rows, credits, strict=True)]


PRECISION_LEVELS = (0.98, 0.95)


def recall_at_precision(
    scores: Sequence[float], y: Sequence[bool], levels: Sequence[float] = PRECISION_LEVELS
) -> dict[str, dict | None]:
    """Per precision level, the lowest credit line at which the credits are at least that
    precise, with its precision and recall: the most a model can credit at that precision.
    The line is read off the labels, so this is the curve's shape, not a held-out number."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    positives = sum(bool(t) for t in y)
    best: dict[str, dict | None] = {f"{level:.2f}": None for level in levels}
    tp = taken = 0
    for k, i in enumerate(order):
        if scores[i] <= 0:
            break
        taken += 1
        tp += bool(y[i])
        if k + 1 < len(order) and scores[order[k + 1]] == scores[i]:
            continue  # a line cannot split tied scores
        for level in levels:
            if tp / taken >= level:
                best[f"{level:.2f}"] = {
                    "line": round(scores[i], 4),
                    "precision": round(tp / taken, 4),
                    "recall": round(tp / positives, 4) if positives else None,
                    "credits": taken,
                }
    return best


def article_label_curves(
    paths: Sequence[str | Path], stories: str | Path | None = None, encoder: EncoderChoice = "auto"
) -> dict:
    """Recall at each precision level against the annotators' consensus (pairs where both
    agree; all pairs when there is one annotator), per label file and pooled over them."""
    enc = resolve_encoder(encoder)
    out: dict = {"version": composite_version(enc), "files": {}}
    pooled_s: list[float] = []
    pooled_y: list[bool] = []
    for path in paths:
        rows = load_article_labels(path)
        scores = merger_article_scores(rows, stories or clusters_beside(path), enc)
        keep = agreed(rows)
        s = [scores[i] for i in keep]
        y = [bool(rows[i]["label"]) for i in keep]
        out["files"][str(path)] = {"pairs": len(keep), **recall_at_precision(s, y)}
        pooled_s += s
        pooled_y += y
    out["pooled"] = {"pairs": len(pooled_s), **recall_at_precision(pooled_s, pooled_y)}
    return out


def _prf(pred: Sequence[bool], y: Sequence[bool]) -> dict:
    tp = sum(p and t for p, t in zip(pred, y, strict=True))
    pp, pos = sum(map(bool, pred)), sum(map(bool, y))
    return {
        "precision": round(tp / pp, 4) if pp else None,
        "recall": round(tp / pos, 4) if pos else None,
        "tp": tp,
        "credited": pp,
        "true": pos,
    }


def _bootstrap(groups: Sequence[str], pred: Sequence[bool], y: Sequence[bool]) -> dict:
    """95% intervals of precision and recall, resampling whole stories."""
    by: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        by[g].append(i)
    keys = sorted(by)
    rng = random.Random(SEED)
    ps, rs = [], []
    for _ in range(BOOTSTRAP):
        idx = [i for k in rng.choices(keys, k=len(keys)) for i in by[k]]
        m = _prf([pred[i] for i in idx], [y[i] for i in idx])
        if m["precision"] is not None:
            ps.append(m["precision"])
        if m["recall"] is not None:
            rs.append(m["recall"])

    def ci(v: list[float]) -> list[float] | None:
        if not v:
            return None
        v = sorted(v)
        return [v[int(0.025 * (len(v) - 1))], v[int(0.975 * (len(v) - 1))]]

    return {"precision_95": ci(ps), "recall_95": ci(rs)}


def kappa(y: Sequence[bool], y2: Sequence[bool]) -> float | None:
    """Cohen's kappa of two annotations."""
    n = len(y)
    if not n:
        return None
    agree = sum(a == b for a, b in zip(y, y2, strict=True)) / n
    p1, p2 = sum(y) / n, sum(y2) / n
    chance = p1 * p2 + (1 - p1) * (1 - p2)
    return round((agree - chance) / (1 - chance), 4) if chance < 1 else None


def evaluate_article_labels(
    path: str | Path, stories: str | Path | None = None, encoder: EncoderChoice = "auto"
) -> dict:
    """The merger's credits against each annotator and against their consensus (pairs where
    both agree): precision, recall, bootstrap intervals, and the annotators' agreement."""
    rows = load_article_labels(path)
    stories = stories or clusters_beside(path)
    enc = resolve_encoder(encoder)
    now = merger_article_credits(rows, stories, enc)
    groups = [r["cluster_id"] for r in rows]
    y = [bool(r["label"]) for r in rows]

    def against(labels: Sequence[bool], keep: Sequence[int]) -> dict:
        p = [now[i] for i in keep]
        t = [labels[i] for i in keep]
        return {**_prf(p, t), **_bootstrap([groups[i] for i in keep], p, t)}

    every = list(range(len(rows)))
    out: dict = {
        "path": str(path),
        "version": composite_version(enc),
        "pairs": len(rows),
        "stories": len(set(groups)),
        "merger": {"first_annotator": against(y, every)},
        "at_sampling": {
            "version": rows[0]["version"] if rows else None,
            **_prf([bool(r["credited"]) for r in rows], y),
        },
    }
    if rows and all("label_2" in r for r in rows):
        y2 = [bool(r["label_2"]) for r in rows]
        both = agreed(rows)
        out["annotators"] = {
            "agreement": round(len(both) / len(rows), 4),
            "kappa": kappa(y, y2),
            "disagreements": len(rows) - len(both),
        }
        out["merger"]["second_annotator"] = against(y2, every)
        out["merger"]["consensus"] = against(y, both)
    return out


def render_article_labels_report(r: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    def ci(v):
        return "" if not v else f" [{f(v[0])}, {f(v[1])}]"

    lines = [
        f"article-level credit labels: {r['path']}",
        f"  {r['pairs']} (composite sentence, other article) pairs from {r['stories']} stories",
    ]
    if "annotators" in r:
        a = r["annotators"]
        lines.append(
            f"  two blind annotators: agreement {f(a['agreement'])}, kappa {f(a['kappa'])}, "
            f"{a['disagreements']} pairs differ"
        )
    lines.append(f"merger now ({r['version']}), 95% intervals by resampling stories:")
    for name, m in r["merger"].items():
        lines.append(
            f"  vs {name.replace('_', ' '):<18} P {f(m['precision'])}{ci(m['precision_95'])}"
            f"  R {f(m['recall'])}{ci(m['recall_95'])}"
            f"  ({m['tp']} of {m['credited']} credits true, {m['true']} true pairs)"
        )
    s = r["at_sampling"]
    lines.append(
        f"  at sampling ({s['version']}), first annotator: P {f(s['precision'])} R {f(s['recall'])}"
    )
    return "\n".join(lines)


def render_curves(r: dict) -> str:
    """`article_label_curves` as lines: per file and pooled, recall at each precision level."""

    def one(name: str, c: dict) -> str:
        parts = []
        for level in (f"{x:.2f}" for x in PRECISION_LEVELS):
            m = c.get(level)
            parts.append(
                f"P>={level}: none"
                if m is None
                else f"P>={level}: recall {m['recall']:.3f} (line {m['line']:.3f}, "
                f"precision {m['precision']:.3f}, {m['credits']} credits)"
            )
        return f"  {name} ({c['pairs']} consensus pairs): " + "; ".join(parts)

    lines = [f"recall at precision, lines read off the labels ({r['version']}):"]
    lines += [one(path, c) for path, c in r["files"].items()]
    if len(r["files"]) > 1:
        lines.append(one("pooled", r["pooled"]))
    return "\n".join(lines)
