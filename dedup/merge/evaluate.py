"""How good the merger is: composites of labeled story clusters, and paraphrase pairs.

    python -m dedup.merge.evaluate STORIES.jsonl [--json] [--limit N]
    python -m dedup.merge.evaluate --sentences DIR [--json]     # msrp_train.tsv, sts_*.tsv
    python -m dedup.merge.evaluate --labels tests/fixtures/merge/credit_labels.jsonl [--json]
    python -m dedup.merge.evaluate --article-labels \
        tests/fixtures/merge/article_credit_labels.jsonl [--json]      # dedup.merge.gold
    python -m dedup.merge.evaluate --fit --sentences DIR --labels FILE   # refit EMBED_* (JSON)
        # --fit --labels also sweeps the margin criterion (measured, not merged; see margin_sweep)

`--encoder auto|none|minilm-l6-v2|minilm-l6-v2-facts|mpnet-base-v2|mpnet-base-v2-facts` (default
auto) picks the merger's path: the facts-tuned sentence encoder when the embeddings extra is
installed (MPNet's, merge-1.6), else the lexical score.

Composite metrics (per cluster of the story schema `{id, outlet|null, title, text, published,
cluster_id}`; an article without an outlet is its own source, credited by its id):

* faithfulness — share of composite sentences that appear, modulo whitespace and quotes, in a
  source article *at the offsets of one of their credits*;
* credit_precision — share of the credits to *other* outlets (the representative's own credit
  is faithfulness) whose cited sentence the checker finds at least plausible (Dice >=
  CONFIRM_THRESHOLD); `strict_credit_precision` is the old one-line checker;
* credit_recall — share of (composite sentence, other outlet) pairs where the checker sees a
  clear paraphrase (Dice >= MISS_THRESHOLD) in that outlet, that the composite credits;
  `strict_credit_recall` is the old one-line checker. Both checkers overstate recall and the
  gray-zone one overstates precision: the hand labels (`--labels`, docs/merge-evaluation.md)
  are the measure;
* multi_source_coverage — share of the cluster's multi-outlet facts (source sentences the
  checker matches with a sentence of another outlet) that the composite keeps (as a composite
  sentence or as the evidence of a credit);
* redundancy — share of composite sentences the checker matches with an earlier one;
* composites_per_s — compose() calls per second (one core, splitting included).

The checker is deliberately *not* the aligner: content-word overlap (Dice over lightly stemmed
words, stop words removed) with its own number reading; its gray-zone thresholds were chosen on
hand-labelled credit pairs (tests/fixtures/merge/credit_labels.jsonl). It is never the MiniLM
score either: with the encoder, credits of reworded sentences fall below its confirm line, so
it understates precision there (docs/merge-evaluation.md); the labels are the measure.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dedup.embeddings import encoder_choice, encoder_name

from . import article_from_dict, compose
from .align import (
    STOCK_CALIBRATION,
    THRESHOLD,
    EmbedCalibration,
    calibration,
    conflict,
    cosines,
    embed_combine,
    features,
    lexical,
    pair_scores,
    paired_cosines,
)
from .align import _disagree as _aligner_disagree
from .compose import EncoderChoice, SourceArticle, composite_version, resolve_encoder
from .gold import (
    article_label_curves,
    evaluate_article_labels,
    render_article_labels_report,
    render_curves,
)
from .sentences import normalize, split_sentences

# The checker's thresholds (content-word Dice). One hard line in the gray zone (0.4-0.55, where
# a human finds most pairs to be the same fact, see docs/merge-evaluation.md) cannot judge both
# sides, so the checker is gray-zone aware: a credit is *confirmed* when the evidence is at least
# plausible (CONFIRM_THRESHOLD) and a missing credit is *counted* only when the checker sees a
# clear paraphrase (MISS_THRESHOLD). Chosen on the hand-labelled pairs
# (tests/fixtures/merge/credit_labels.jsonl), not on the aligner: see `evaluate_labels`.
# CHECK_THRESHOLD is the old single line, still used for redundancy and coverage and reported
# as the "strict" numbers.
CHECK_THRESHOLD = 0.5
CONFIRM_THRESHOLD = 0.35
MISS_THRESHOLD = 0.55

_STOP = frozenset(
    [
        "a",
        "an",
        "the",
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
        "being",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "that",
        "which",
        "who",
        "whom",
        "whose",
        "this",
        "these",
        "those",
        "it",
        "its",
        "he",
        "she",
        "they",
        "them",
        "his",
        "her",
        "their",
        "we",
        "our",
        "you",
        "your",
        "i",
        "me",
        "my",
        "not",
        "no",
        "so",
        "than",
        "then",
        "there",
        "here",
        "also",
        "would",
        "will",
        "could",
        "should",
        "may",
        "might",
        "can",
        "said",
        "says",
        "say",
        "told",
        "according",
        "after",
        "before",
        "over",
        "under",
        "about",
        "into",
        "out",
        "up",
        "down",
        "more",
        "most",
        "other",
        "some",
        "such",
        "only",
        "own",
        "same",
        "too",
        "very",
        "just",
        "while",
        "when",
        "where",
        "what",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "mr",
        "mrs",
        "ms",
    ]
)
_WORD = re.compile(r"[a-z]+|\d+(?:[.,]\d+)*")
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
# The checker's own number reading (not the aligner's): digits only (number words are not
# read), a number glued to a word by a hyphen is part of a name ("COVID-19", "G-20", "H-1B"),
# a day of the month is a date ("Dec. 31"), and years are compared only with years.
_CHECK_NUM = re.compile(r"(?<![A-Za-z]-)(?<![\w.,])\d+(?:[.,]\d+)*")
_DAY_OF_MONTH = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})\b",
    re.IGNORECASE,
)


def _stem(w: str) -> str:
    for suf in ("ings", "ing", "edly", "ed", "ies", "es", "s", "ly"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def _content(text: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in _WORD.findall(normalize(text).lower()) if w not in _STOP)


def _numbers(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(years, other numbers) of `text`, normalised ("6.0" = "6", "1,000" = "1000")."""
    t = normalize(text)
    days = {m.start(1) for m in _DAY_OF_MONTH.finditer(t)}
    years, other = set(), set()
    for m in _CHECK_NUM.finditer(t):
        if m.start() in days:
            continue
        v = m.group().replace(",", "")
        try:
            f = float(v)
            v = str(int(f)) if f == int(f) else str(f)
        except ValueError:
            pass
        (years if len(v) == 4 and v[:2] in ("19", "20") else other).add(v)
    return frozenset(years), frozenset(other)


def _numbers_clash(a, b) -> bool:
    """The checker's own number test: of one kind (years, other numbers), each side has a
    number the other lacks."""
    return any(bool(x - y) and bool(y - x) for x, y in zip(a, b, strict=True))


def check_score(a: str, b: str) -> float:
    """The checker's similarity: Dice of content words (0 when numbers disagree)."""
    if _numbers_clash(_numbers(a), _numbers(b)):
        return 0.0
    ca, cb = _content(a), _content(b)
    if not ca or not cb:
        return 0.0
    return 2 * len(ca & cb) / (len(ca) + len(cb))


def legacy_check_score(a: str, b: str) -> float:
    """The checker before the labelled evaluation (merge-1.1): same Dice, but every digit
    string compared as one flat set ("6.0%" clashes with "6 percent ... 6.2 percent",
    "COVID-19" with "2,000"). Kept for the "strict" before/after numbers."""
    na = frozenset(n.replace(",", "").rstrip(".") for n in _NUM.findall(a))
    nb = frozenset(n.replace(",", "").rstrip(".") for n in _NUM.findall(b))
    if na - nb and nb - na:
        return 0.0
    ca, cb = _content(a), _content(b)
    if not ca or not cb:
        return 0.0
    return 2 * len(ca & cb) / (len(ca) + len(cb))


def check_match(a: str, b: str, threshold: float = CHECK_THRESHOLD) -> bool:
    return check_score(a, b) >= threshold


# ---------------------------------------------------------------------------------------------
# Composites of story clusters


def load_clusters(path: str | Path, limit: int | None = None) -> dict[str, list[SourceArticle]]:
    clusters: dict[str, list[SourceArticle]] = defaultdict(list)
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            d = json.loads(line)
            cid = str(d.get("cluster_id") or d["id"])
            if limit is not None and cid not in clusters and len(clusters) >= limit:
                continue
            clusters[cid].append(article_from_dict(d))
    return dict(clusters)


def evaluate_merge(
    path: str | Path,
    limit: int | None = None,
    check_threshold: float = CHECK_THRESHOLD,
    confirm: float = CONFIRM_THRESHOLD,
    miss: float = MISS_THRESHOLD,
    encoder: EncoderChoice = "auto",
) -> dict:
    enc = resolve_encoder(encoder)
    clusters = load_clusters(path, limit)
    built = []
    t0 = time.perf_counter()
    for cid, arts in clusters.items():
        built.append((cid, arts, compose(cid, arts, encoder=enc)))
    elapsed = time.perf_counter() - t0

    n_sent = faithful = 0
    cred_all = cred_ok = cred_ok_strict = 0
    rec_hit = rec_all = rec_hit_strict = rec_all_strict = 0
    multi_all = multi_kept = 0
    redundant = 0
    n_paragraphs = 0
    for _cid, arts, comp in built:
        by_id = {a.id: a for a in arts}
        sents = {a.id: split_sentences(a.text) for a in arts}
        outlets = sorted({a.outlet for a in arts})
        comp_sents = [s for p in comp.paragraphs for s in p.sentences]
        n_paragraphs += len(comp.paragraphs)
        evidence = {(c.article_id, c.start, c.end) for s in comp_sents for c in s.credits}
        for k, s in enumerate(comp_sents):
            n_sent += 1
            norm = normalize(s.text)
            own = [
                c
                for c in s.credits
                if c.article_id in by_id
                and normalize(by_id[c.article_id].text[c.start : c.end]) == norm
            ]
            if own:
                faithful += 1
            own_outlets = {c.outlet for c in own}
            for c in s.credits:
                if c.outlet in own_outlets:
                    continue
                cred_all += 1
                art = by_id.get(c.article_id)
                if art:
                    ev = art.text[c.start : c.end]
                    cred_ok += check_score(s.text, ev) >= confirm
                    cred_ok_strict += legacy_check_score(s.text, ev) >= check_threshold
            credited = {c.outlet for c in s.credits}
            for o in outlets:
                if o in own_outlets:
                    continue
                xs = [x.text for a in arts if a.outlet == o for x in sents[a.id]]
                if any(check_score(s.text, x) >= miss for x in xs):
                    rec_all += 1
                    rec_hit += o in credited
                if any(legacy_check_score(s.text, x) >= check_threshold for x in xs):
                    rec_all_strict += 1
                    rec_hit_strict += o in credited
            if any(check_match(s.text, t.text, check_threshold) for t in comp_sents[:k]):
                redundant += 1
        # multi-outlet facts of the cluster, as the checker sees them
        flat = [(a, x) for a in arts for x in sents[a.id]]
        for a, x in flat:
            if not any(
                b.outlet != a.outlet and check_match(x.text, y.text, check_threshold)
                for b, y in flat
            ):
                continue
            multi_all += 1
            kept = (a.id, x.start, x.end) in evidence or any(
                check_match(x.text, s.text, check_threshold) for s in comp_sents
            )
            multi_kept += kept

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "path": str(path),
        "clusters": len(built),
        "composite_sentences": n_sent,
        "paragraphs": n_paragraphs,
        "faithfulness": ratio(faithful, n_sent),
        "credit_precision": ratio(cred_ok, cred_all),
        "credit_recall": ratio(rec_hit, rec_all),
        "strict_credit_precision": ratio(cred_ok_strict, cred_all),
        "strict_credit_recall": ratio(rec_hit_strict, rec_all_strict),
        "multi_source_coverage": ratio(multi_kept, multi_all),
        "redundancy": ratio(redundant, n_sent),
        "composites_per_s": round(len(built) / elapsed, 1) if elapsed > 0 else None,
        "encoder": encoder_name(enc),
        "version": composite_version(enc),
        "counts": {
            "other_outlet_credits": cred_all,
            "other_outlet_credits_confirmed": cred_ok,
            "checker_matches_in_other_outlets": rec_all,
            "checker_matches_credited": rec_hit,
            "strict_other_outlet_credits_confirmed": cred_ok_strict,
            "strict_checker_matches_in_other_outlets": rec_all_strict,
            "strict_checker_matches_credited": rec_hit_strict,
            "multi_outlet_source_sentences": multi_all,
            "multi_outlet_source_sentences_kept": multi_kept,
        },
        "align_threshold": THRESHOLD if enc is None else calibration(enc).credit,
        "check_threshold": check_threshold,
        "confirm_threshold": confirm,
        "miss_threshold": miss,
    }


def render_merge_report(result: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    if "msrp" in result or "sts" in result:
        return _render_alignment(result)
    c = result["counts"]
    lines = [
        f"merge evaluation: {result['path']} ({result['version']})",
        f"  clusters {result['clusters']}, composite sentences {result['composite_sentences']}, "
        f"paragraphs {result['paragraphs']}",
        f"  faithfulness           {f(result['faithfulness'])}",
        f"  credit precision       {f(result['credit_precision'])}  "
        f"({c['other_outlet_credits_confirmed']}/{c['other_outlet_credits']} other-outlet "
        f"credits the checker finds plausible, Dice >= {result['confirm_threshold']})",
        f"  credit recall          {f(result['credit_recall'])}  "
        f"({c['checker_matches_credited']}/{c['checker_matches_in_other_outlets']} clear "
        f"checker matches, Dice >= {result['miss_threshold']}, credited)",
        f"  strict (old checker, one line at {result['check_threshold']}): precision "
        f"{f(result['strict_credit_precision'])} "
        f"({c['strict_other_outlet_credits_confirmed']}/{c['other_outlet_credits']}), "
        f"recall {f(result['strict_credit_recall'])} "
        f"({c['strict_checker_matches_credited']}/{c['strict_checker_matches_in_other_outlets']})",
        f"  multi-source coverage  {f(result['multi_source_coverage'])}  "
        f"({c['multi_outlet_source_sentences_kept']}/{c['multi_outlet_source_sentences']})",
        f"  redundancy             {f(result['redundancy'])}",
        f"  composites per second  {f(result['composites_per_s'])}",
        f"  thresholds: align {result['align_threshold']}, check {result['check_threshold']}, "
        f"confirm {result['confirm_threshold']}, miss {result['miss_threshold']}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Paraphrase pairs: choosing and reporting the alignment threshold

CHUNK = 80  # pairs per TF-IDF fit: about one story's worth of sentences (160)


def read_msrp(path: str | Path) -> list[tuple[int, str, str]]:
    rows, seen = [], set()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader, None)
        for r in reader:
            if len(r) < 5 or (r[1], r[2]) in seen:
                continue
            seen.add((r[1], r[2]))
            rows.append((int(r[0]), r[3], r[4]))
    return rows


def read_sts(path: str | Path, genre: str = "main-news", positive: float = 4.0):
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            r = line.rstrip("\n").split("\t")
            if len(r) < 7 or r[0] != genre:
                continue
            try:
                score = float(r[4])
            except ValueError:
                continue
            rows.append((int(score >= positive), r[5], r[6]))
    return rows


def _scores(
    pairs: Sequence[tuple[int, str, str]], encoder=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw score, vetoed by numbers/dates/people, numbers-disagree flag) per pair. The raw
    score is the lexical one, or the embedding one when `encoder` is given."""
    raw = np.zeros(len(pairs))
    if encoder is not None:
        cos = paired_cosines(encoder, [p[1] for p in pairs], [p[2] for p in pairs])
        raw[:] = embed_combine(cos, calibration(encoder).weights) if len(pairs) else 0.0
    else:
        for i in range(0, len(pairs), CHUNK):
            chunk = pairs[i : i + CHUNK]
            raw[i : i + len(chunk)] = pair_scores([p[1] for p in chunk], [p[2] for p in chunk])
    veto = np.zeros(len(pairs), dtype=bool)
    numdis = np.zeros(len(pairs), dtype=bool)
    for k, (_, a, b) in enumerate(pairs):
        fa, fb = features(a), features(b)
        veto[k] = conflict(fa, fb) is not None
        numdis[k] = _aligner_disagree(fa.numbers, fb.numbers)
    return raw, veto, numdis


def _prf(pred: np.ndarray, y: np.ndarray) -> dict:
    tp = int((pred & (y == 1)).sum())
    p = tp / pred.sum() if pred.sum() else 0.0
    r = tp / (y == 1).sum() if (y == 1).sum() else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def _pair_report(pairs, threshold: float, checker: bool = True, encoder=None) -> dict:
    y = np.array([p[0] for p in pairs])
    raw, veto, numdis = _scores(pairs, encoder)
    pred = (raw >= threshold) & ~veto
    out = {
        "pairs": len(pairs),
        "positives": int(y.sum()),
        "threshold": threshold,
        **_prf(pred, y),
        "lexical_only": _prf(raw >= threshold, y),  # the score alone, no vetoes (either path)
        "number_disagreement_pairs": int(numdis.sum()),
        "number_disagreement_false_merges": int((pred & numdis & (y == 0)).sum()),
        "number_disagreement_false_merges_without_veto": int(
            ((raw >= threshold) & numdis & (y == 0)).sum()
        ),
        "sweep": {
            f"{t:.2f}": _prf((raw >= t) & ~veto, y)
            for t in np.arange(0.10 if encoder is not None else 0.30, 0.81, 0.05)
        },
    }
    if checker:
        chk = np.array([check_score(a, b) for _, a, b in pairs])
        out["checker"] = {"threshold": CHECK_THRESHOLD, **_prf(chk >= CHECK_THRESHOLD, y)}
    return out


def evaluate_alignment(
    msrp_path, sts_path=None, threshold: float | None = None, encoder: EncoderChoice = "auto"
) -> dict:
    """Paraphrase precision/recall/F1 of the aligner at `threshold` on MSRP (and STS news):
    the lexical score at THRESHOLD, or the embedding score at EMBED_THRESHOLD when an encoder
    is in use."""
    enc = resolve_encoder(encoder)
    if threshold is None:
        threshold = THRESHOLD if enc is None else calibration(enc).threshold
    result = {
        "encoder": encoder_name(enc),
        "msrp": {
            "path": str(msrp_path),
            **_pair_report(read_msrp(msrp_path), threshold, encoder=enc),
        },
    }
    sts_paths = [sts_path] if isinstance(sts_path, str | Path) else list(sts_path or [])
    if sts_paths:
        result["sts"] = {
            Path(p).name: {
                "path": str(p),
                "genre": "main-news",
                "positive": "score >= 4.0",
                **_pair_report(read_sts(p), threshold, encoder=enc),
            }
            for p in sts_paths
        }
    return result


def _render_alignment(result: dict) -> str:
    name = result.get("encoder", "none")
    lines = [f"aligner score: {'lexical' if name == 'none' else name}"]
    blocks = [("MSRP train", result["msrp"])] if "msrp" in result else []
    blocks += [(f"STS {k} (news)", v) for k, v in result.get("sts", {}).items()]
    for name, r in blocks:
        lines.append(
            f"{name}: {r['pairs']} pairs ({r['positives']} positive), threshold {r['threshold']}"
            f": P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f}"
            f" | score alone (no vetoes) F1 {r['lexical_only']['f1']:.3f}"
            f" | number-disagreement false merges {r['number_disagreement_false_merges']}"
            f" (without veto {r['number_disagreement_false_merges_without_veto']})"
        )
        if "checker" in r:
            ch = r["checker"]
            lines.append(
                f"  checker (threshold {ch['threshold']}): P {ch['precision']:.3f} "
                f"R {ch['recall']:.3f} F1 {ch['f1']:.3f}"
            )
        lines.append(
            "  sweep: "
            + "  ".join(
                f"{t}:{v['precision']:.2f}/{v['recall']:.2f}/{v['f1']:.2f}"
                for t, v in r["sweep"].items()
            )
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Hand-labelled credit pairs: the merger and the checker against human judgement

LABEL_CLUSTERS = "credit_label_clusters.jsonl"  # the labelled clusters' articles, beside labels


def load_labels(path: str | Path) -> list[dict]:
    """Rows of `{cluster_id, composite_sentence, source_sentence, source_article_id, credited,
    label, reason, stratum, weight}` (see docs/merge-evaluation.md)."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def _wprf(pred: Sequence[bool], y: Sequence[bool], w: Sequence[float]) -> dict:
    """Precision, recall, agreement: raw counts and weighted by the sampling weights."""

    def one(weights):
        tp = sum(wi for p, t, wi in zip(pred, y, weights, strict=True) if p and t)
        pp = sum(wi for p, wi in zip(pred, weights, strict=True) if p)
        pos = sum(wi for t, wi in zip(y, weights, strict=True) if t)
        agree = sum(wi for p, t, wi in zip(pred, y, weights, strict=True) if p == t)
        return {
            "precision": round(tp / pp, 4) if pp else None,
            "recall": round(tp / pos, 4) if pos else None,
            "agreement": round(agree / sum(weights), 4) if weights else None,
        }

    raw = one([1.0] * len(y))
    tp = sum(1 for p, t in zip(pred, y, strict=True) if p and t)
    return {
        **raw,
        "tp": tp,
        "predicted": sum(map(bool, pred)),
        "positives": sum(map(bool, y)),
        "weighted": one(list(w)),
    }


def annotator_agreement(y: Sequence[bool], y2: Sequence[bool], w: Sequence[float]) -> dict:
    """How often two annotators agree (raw and weighted, as `_wprf` counts it) and Cohen's
    kappa (raw)."""
    both = _wprf(y2, y, w)
    n = len(y)
    differ = sum(a != b for a, b in zip(y, y2, strict=True))
    p1, p2 = sum(y) / n, sum(y2) / n
    chance = p1 * p2 + (1 - p1) * (1 - p2)
    return {
        "agreement": both["agreement"],
        "weighted_agreement": both["weighted"]["agreement"],
        "kappa": round((1 - differ / n - chance) / (1 - chance), 4) if chance < 1 else None,
        "disagreements": differ,
    }


def merger_link_scores(
    rows: Sequence[dict],
    stories: str | Path,
    encoder: EncoderChoice = "auto",
    threshold: float | None = None,
) -> list[float | None]:
    """For each labelled pair, the score of the merger's credit link from the composite
    sentence to the source sentence (compose's credit rule: aligned at credit grade, no veto),
    or None when it would not credit it; recomputed on the cluster's articles. `threshold`
    overrides the credit threshold (for sweeps)."""
    from .compose import credit_links

    enc = resolve_encoder(encoder)
    clusters = load_clusters(stories)
    cache: dict[str, tuple[dict, dict]] = {}
    out: list[float | None] = []
    for r in rows:
        cid = r["cluster_id"]
        if cid not in cache:
            arts = clusters[cid]
            links = credit_links(arts, encoder=enc, threshold=threshold)
            cache[cid] = (links, _sentence_keys(arts))
        links, keys = cache[cid]
        own = r["source_article_id"]
        src = _units(keys, r["source_sentence"], own, same=True)
        comp = _units(keys, r["composite_sentence"], own, same=False)
        if not src or not comp:
            raise ValueError(f"{cid}: labelled pair not found in the cluster's sentences")
        found = [links[c][s] for c in comp for s in src if s in links.get(c, {})]
        out.append(max(found) if found else None)
    return out


def _sentence_keys(arts: Sequence[SourceArticle]) -> dict[str, list[tuple[str, int]]]:
    """Normalised sentence text → the (article id, start offset) of every sentence with it."""
    keys: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for a in arts:
        for x in split_sentences(a.text):
            keys[normalize(x.text)].append((a.id, x.start))
    return keys


def _units(
    keys: dict[str, list[tuple[str, int]]], sentence: str, article: str, same: bool
) -> list[tuple[str, int]]:
    """The sentence units (article id, start) a labelled sentence is: the unit with its text,
    or the one that holds it (a label written before the splitter kept a multi-sentence
    quotation whole names one of its sentences). `same`: in `article`, or in the others."""
    text = normalize(sentence)
    found = [k for k in keys.get(text, []) if (k[0] == article) == same]
    if found:
        return found
    return [k for unit, ks in keys.items() if text in unit for k in ks if (k[0] == article) == same]


def merger_decisions(
    rows: Sequence[dict], stories: str | Path, encoder: EncoderChoice = "auto"
) -> list[bool]:
    """For each labelled pair, whether the merger as it is now would credit the source
    sentence to the composite sentence."""
    return [s is not None for s in merger_link_scores(rows, stories, encoder)]


def credit_threshold_sweep(
    path: str | Path,
    stories: str | Path | None = None,
    encoder: EncoderChoice = "auto",
    target: float = 0.98,
) -> dict:
    """The embedding path's credit threshold against the labels: weighted precision/recall per
    threshold, and a split-half check of choosing it there (on even rows: the threshold with
    the most weighted recall at weighted precision >= `target`, scored on the odd rows, and
    the other way round). This is how EMBED_CREDIT_THRESHOLD was chosen; the split-half
    numbers are the honest estimate of that choice."""
    enc = resolve_encoder(encoder)
    rows = load_labels(path)
    stories = stories or Path(path).with_name(LABEL_CLUSTERS)
    y = [bool(r["label"]) for r in rows]
    w = [float(r.get("weight", 1.0)) for r in rows]
    low = 0.10 if enc is not None else 0.25
    scores = merger_link_scores(rows, stories, enc, threshold=low)
    grid = [round(t, 2) for t in np.arange(low, 0.501, 0.02)]

    def decide(t: float, idx) -> list[bool]:
        return [scores[i] is not None and scores[i] >= t for i in idx]

    def at(t: float, idx) -> dict:
        return _wprf(decide(t, idx), [y[i] for i in idx], [w[i] for i in idx])

    everything = range(len(rows))
    halves = {"even": range(0, len(rows), 2), "odd": range(1, len(rows), 2)}
    split = {}
    for pick, test in (("even", "odd"), ("odd", "even")):
        on_pick = {t: at(t, halves[pick])["weighted"] for t in grid}
        ok = [
            (m["recall"] or 0.0, -t)
            for t, m in on_pick.items()
            if (m["precision"] or 0.0) >= target
        ]
        if not ok:
            split[f"chosen_on_{pick}"] = None
            continue
        t = -max(ok)[1]
        split[f"chosen_on_{pick}"] = {
            "threshold": t,
            "on_" + pick: on_pick[t],
            "on_" + test: at(t, halves[test])["weighted"],
        }
    return {
        "version": composite_version(enc),
        "target_precision": target,
        "sweep": {f"{t:.2f}": at(t, everything) for t in grid},
        "split_half": split,
    }


# ---------------------------------------------------------------------------------------------
# A story-relative (margin) credit criterion for the embedding path: measured, not in the merger
#
# Bitext mining (Artetxe & Schwenk 2019) accepts a pair that stands out from each side's
# nearest other candidates. Here: an inner pair (x in article A, y in article B) of the
# embedding path that the credit line misses would also be credited when its cosine is >=
# `floor`, x and y are each other's best match in B and A, and the cosine exceeds the mean of
# both sides' background by `gap`. The background of x is the mean cosine of its `k` best
# matches among B's other sentences (y excluded): per other article, not over the whole story,
# because a fact several outlets carry would otherwise be its own background. The content-word
# floor and the vetoes are the merger's. docs/merge-evaluation.md (merge-1.3, "margin") has
# the numbers: on the hand labels the margin carries no usable signal, so it is not merged.

MARGIN_FLOORS = (0.45, 0.50, 0.55, 0.60)
MARGIN_GAPS = tuple(round(g, 2) for g in np.arange(0.0, 0.401, 0.02))


def margin_features(
    rows: Sequence[dict], stories: str | Path, encoder: EncoderChoice = "auto", k: int = 1
) -> list[list[dict]]:
    """For each labelled pair, the inner pairs (`Sentence.facts`) between the composite
    sentence's units and the source sentence's unit, as the merger sees them: `cos`, `word`
    (content-word cosine), `veto`, `mutual` (each is the other's best match in its article),
    `gap` (cosine minus the mean of both sides' background, None when an article has no other
    sentence)."""
    from .compose import _Facts, _sorted_articles, _story_units

    enc = resolve_encoder(encoder)
    if enc is None:
        raise ValueError("the margin criterion is for the embedding path: it needs an encoder")
    clusters = load_clusters(stories)
    cache: dict[str, dict] = {}
    out: list[list[dict]] = []
    for r in rows:
        cid = r["cluster_id"]
        if cid not in cache:
            arts = _sorted_articles(clusters[cid])
            units = _story_units(arts)
            laid = _Facts.of([u.sent.facts for u in units])
            cos = cosines(enc.encode(laid.flat))
            cache[cid] = {
                "flat": laid.flat,
                "owner": laid.owner,
                "cos": cos,
                "word": lexical(laid.flat, chars=False).word,
                "unit_cos": np.maximum.reduceat(cos, laid.first, axis=1),  # fact x unit: best fact
                "art": np.array([u.article for u in units]),
                "index": {(arts[u.article].id, u.sent.start): i for i, u in enumerate(units)},
                "keys": _sentence_keys(arts),
            }
        d = cache[cid]
        own = r["source_article_id"]
        pairs = []
        for ck in _units(d["keys"], r["composite_sentence"], own, same=False):
            for sk in _units(d["keys"], r["source_sentence"], own, same=True):
                i, j = d["index"][ck], d["index"][sk]
                for p in np.flatnonzero(d["owner"] == i):
                    for q in np.flatnonzero(d["owner"] == j):
                        pairs.append(_margin_pair(d, int(p), int(q), i, j, k))
        out.append(pairs)
    return out


def _margin_pair(d: dict, p: int, q: int, i: int, j: int, k: int) -> dict:
    c = float(d["cos"][p, q])
    art, uc = d["art"], d["unit_cos"]
    in_b = np.flatnonzero(art == art[j])
    in_a = np.flatnonzero(art == art[i])
    mutual = c >= uc[p, in_b].max() and c >= uc[q, in_a].max()
    bg_p = np.sort(uc[p, in_b[in_b != j]])[::-1][:k]
    bg_q = np.sort(uc[q, in_a[in_a != i]])[::-1][:k]
    gap = None
    if len(bg_p) and len(bg_q):
        gap = round(c - (float(bg_p.mean()) + float(bg_q.mean())) / 2, 6)
    return {
        "cos": c,
        "word": float(d["word"][p, q]),
        "veto": conflict(features(d["flat"][p]), features(d["flat"][q])) is not None,
        "mutual": bool(mutual),
        "gap": gap,
    }


def _margin_credit(
    pair: dict, floor: float | None, gap: float, cal: EmbedCalibration = STOCK_CALIBRATION
) -> bool:
    """The merger's credit rule on one inner pair, or (when `floor` is set) the margin rule."""
    if pair["veto"] or pair["word"] < cal.floor:
        return False
    if float(embed_combine(pair["cos"], cal.weights)) >= cal.credit:
        return True
    if floor is None or pair["cos"] < floor or not pair["mutual"] or pair["gap"] is None:
        return False
    return pair["gap"] >= gap


def _auc(scores: Sequence[float], y: Sequence[bool], w: Sequence[float]) -> float | None:
    """Weighted ROC AUC: the chance that a true pair outscores a false one (ties count half)."""
    pos = [(s, wi) for s, t, wi in zip(scores, y, w, strict=True) if t]
    neg = [(s, wi) for s, t, wi in zip(scores, y, w, strict=True) if not t]
    total = sum(a for _, a in pos) * sum(b for _, b in neg)
    if not total:
        return None
    won = sum(a * b * (1.0 if s > u else 0.5 if s == u else 0.0) for s, a in pos for u, b in neg)
    return round(won / total, 4)


def margin_sweep(
    path: str | Path,
    stories: str | Path | None = None,
    encoder: EncoderChoice = "auto",
    target: float = 0.98,
    k: int = 1,
) -> dict:
    """The margin criterion against the labels: weighted precision/recall of "the merger's
    credit rule OR the margin rule" per (cosine floor, gap); a split-half check of choosing
    them (on one half, the most weighted recall among the settings whose *added* credits are
    at least `target` precise, ties to the stricter setting; scored on the other half); and
    how well the gap and the cosine separate the labelled pairs the credit line misses
    (mutual best match, no veto, word floor met, cosine >= the lowest floor)."""
    enc = resolve_encoder(encoder)
    rows = load_labels(path)
    stories = stories or Path(path).with_name(LABEL_CLUSTERS)
    y = [bool(r["label"]) for r in rows]
    w = [float(r.get("weight", 1.0)) for r in rows]
    pairs = margin_features(rows, stories, enc, k)
    cal = calibration(enc)
    settings = [(f, g) for f in MARGIN_FLOORS for g in MARGIN_GAPS]
    base = [any(_margin_credit(p, None, 0.0, cal) for p in ps) for ps in pairs]
    pred = {s: [any(_margin_credit(p, *s, cal) for p in ps) for ps in pairs] for s in settings}

    def at(dec: list[bool], idx) -> dict:
        return _wprf([dec[i] for i in idx], [y[i] for i in idx], [w[i] for i in idx])["weighted"]

    def added(dec: list[bool], idx) -> dict:
        new = [i for i in idx if dec[i] and not base[i]]
        ws = sum(w[i] for i in new)
        ok = sum(w[i] for i in new if y[i])
        return {
            "pairs": len(new),
            "true": sum(y[i] for i in new),
            "weighted_precision": (round(ok / ws, 4) if ws else None),
        }

    halves = {"even": range(0, len(rows), 2), "odd": range(1, len(rows), 2)}
    split = {}
    for pick, test in (("even", "odd"), ("odd", "even")):
        ok = [
            ((at(pred[s], halves[pick])["recall"] or 0.0), s[1], s[0])
            for s in settings
            if (added(pred[s], halves[pick])["weighted_precision"] or 1.0) >= target
        ]
        _, g, f = max(ok)
        split[f"chosen_on_{pick}"] = {
            "floor": f,
            "gap": g,
            "on_" + pick: at(pred[(f, g)], halves[pick]),
            "on_" + test: at(pred[(f, g)], halves[test]),
            "added_on_" + test: added(pred[(f, g)], halves[test]),
            "merger_on_" + test: at(base, halves[test]),
        }
    band = []
    for n, ps in enumerate(pairs):
        cand = [
            p
            for p in ps
            if not p["veto"]
            and p["word"] >= cal.floor
            and p["mutual"]
            and p["gap"] is not None
            and p["cos"] >= MARGIN_FLOORS[0]
        ]
        if cand and not base[n]:
            band.append((max(cand, key=lambda p: (p["gap"], p["cos"])), y[n], w[n]))
    by = [t for _, t, _ in band]
    bw = [x for _, _, x in band]
    return {
        "version": composite_version(enc),
        "k": k,
        "target_precision": target,
        "merger": at(base, range(len(rows))),
        "sweep": {
            f"floor {f:.2f}": {f"{g:.2f}": at(pred[(f, g)], range(len(rows))) for g in MARGIN_GAPS}
            for f in MARGIN_FLOORS
        },
        "split_half": split,
        "missed_band": {
            "pairs": len(band),
            "true": sum(by),
            "auc_gap": _auc([p["gap"] for p, _, _ in band], by, [1.0] * len(band)),
            "auc_gap_weighted": _auc([p["gap"] for p, _, _ in band], by, bw),
            "auc_cos": _auc([p["cos"] for p, _, _ in band], by, [1.0] * len(band)),
            "auc_cos_weighted": _auc([p["cos"] for p, _, _ in band], by, bw),
        },
    }


def fit_embedding(sentences: str | Path, encoder: EncoderChoice = "minilm-l6-v2") -> dict:
    """Refit align.EMBED_WEIGHTS and EMBED_THRESHOLD: a logistic over the cosine on MSRP train
    plus the STS train news rows (score >= 4 positive); the threshold is F1-optimal on the
    even-numbered half of MSRP train with the vetoes on."""
    from sklearn.linear_model import LogisticRegression

    enc = resolve_encoder(encoder)
    if enc is None:
        raise ValueError("fitting the embedding score needs an encoder")
    d = Path(sentences)
    msrp = read_msrp(d / "msrp_train.tsv")
    sts = read_sts(d / "sts_train.tsv")

    def cos(pairs):
        return paired_cosines(enc, [p[1] for p in pairs], [p[2] for p in pairs])

    x = np.concatenate([cos(msrp), cos(sts)])[:, None]
    y = np.array([p[0] for p in msrp] + [p[0] for p in sts])
    m = LogisticRegression(C=1e4, max_iter=1000).fit(x, y)
    weights = (round(float(m.coef_[0][0]), 3), round(float(m.intercept_[0]), 3))
    raw = 1.0 / (1.0 + np.exp(-(weights[0] * x[: len(msrp), 0] + weights[1])))
    veto = np.array([conflict(features(a), features(b)) is not None for _, a, b in msrp])
    ym = y[: len(msrp)]
    even = np.arange(len(msrp)) % 2 == 0
    grid = [round(t, 2) for t in np.arange(0.05, 0.61, 0.01)]
    f1s = [_prf(((raw >= t) & ~veto)[even], ym[even])["f1"] for t in grid]
    t = grid[int(np.argmax(f1s))]
    return {
        "weights": weights,
        "threshold": t,
        "msrp_even": _prf(((raw >= t) & ~veto)[even], ym[even]),
        "msrp_odd": _prf(((raw >= t) & ~veto)[~even], ym[~even]),
        "msrp_all": _prf((raw >= t) & ~veto, ym),
    }


def evaluate_labels(
    path: str | Path,
    stories: str | Path | None = None,
    confirm: float = CONFIRM_THRESHOLD,
    miss: float = MISS_THRESHOLD,
    encoder: EncoderChoice = "auto",
) -> dict:
    """The merger's credits and the checker's judgement against hand labels.

    merger — precision of the credits it gives now (labelled pairs it credits that are true)
             and recall over labelled-true pairs; `at_sampling` is the merger that the sample
             was drawn from (merge-1.1, the `credited` field);
    checker — the checker as a judge of "same fact": the old one-line checker, the current
             score at one line, and the gray-zone design (confirm a credit at `confirm`, count
             a miss at `miss`), with the credit precision/recall it would *report* on the
             labelled pairs next to the labels' own.
    Weighted numbers undo the stratified sampling (row weight = stratum pool / drawn): they
    estimate neus_dev-wide rates over the sampled population (given credits, and uncredited
    pairs with Dice >= 0.25).
    """
    rows = load_labels(path)
    stories = stories or Path(path).with_name(LABEL_CLUSTERS)
    y = [bool(r["label"]) for r in rows]
    w = [float(r.get("weight", 1.0)) for r in rows]
    enc = resolve_encoder(encoder)
    now = merger_decisions(rows, stories, enc)
    before = [bool(r["credited"]) for r in rows]
    a = [r["composite_sentence"] for r in rows]
    b = [r["source_sentence"] for r in rows]
    new = [check_score(x, z) for x, z in zip(a, b, strict=True)]
    old = [legacy_check_score(x, z) for x, z in zip(a, b, strict=True)]

    def reported(credited: list[bool], conf_ok: list[bool], miss_hit: list[bool]) -> dict:
        """Credit precision/recall the checker would report on the labelled pairs (weighted)
        next to what the labels say."""
        cw = [wi for c, wi in zip(credited, w, strict=True) if c]
        ok = sum(wi for c, k, wi in zip(credited, conf_ok, w, strict=True) if c and k)
        true_c = sum(wi for c, t, wi in zip(credited, y, w, strict=True) if c and t)
        seen = sum(wi for m, wi in zip(miss_hit, w, strict=True) if m)
        seen_c = sum(wi for c, m, wi in zip(credited, miss_hit, w, strict=True) if c and m)
        pos = sum(wi for t, wi in zip(y, w, strict=True) if t)
        return {
            "checker_precision": round(ok / sum(cw), 4) if cw else None,
            "label_precision": round(true_c / sum(cw), 4) if cw else None,
            "checker_recall": round(seen_c / seen, 4) if seen else None,
            "label_recall": round(true_c / pos, 4) if pos else None,
        }

    second: dict = {}
    if rows and all("label_2" in r for r in rows):  # a second, blind annotation
        y2 = [bool(r["label_2"]) for r in rows]
        both = [i for i in range(len(rows)) if y[i] == y2[i]]
        second = {
            "annotators": annotator_agreement(y, y2, w),
            "now_second_annotator": _wprf(now, y2, w),
            "now_consensus": _wprf(
                [now[i] for i in both], [y[i] for i in both], [w[i] for i in both]
            ),
        }
    return {
        "path": str(path),
        "version": composite_version(enc),
        "pairs": len(rows),
        "labelled_true": sum(y),
        "credited_at_sampling": sum(before),
        **({"annotators": second.pop("annotators")} if second else {}),
        "merger": {
            "now": _wprf(now, y, w),
            **second,
            "now_split_half": {
                "even_rows": _wprf(now[0::2], y[0::2], w[0::2]),
                "odd_rows": _wprf(now[1::2], y[1::2], w[1::2]),
            },
            "at_sampling": _wprf(before, y, w),
        },
        "checker": {
            "old_one_line": {
                "threshold": CHECK_THRESHOLD,
                **_wprf([s >= CHECK_THRESHOLD for s in old], y, w),
            },
            "one_line": {
                "threshold": CHECK_THRESHOLD,
                **_wprf([s >= CHECK_THRESHOLD for s in new], y, w),
            },
            "confirm": {"threshold": confirm, **_wprf([s >= confirm for s in new], y, w)},
            "miss": {"threshold": miss, **_wprf([s >= miss for s in new], y, w)},
            "sweep": {
                f"{t:.2f}": _wprf([s >= t for s in new], y, w) for t in np.arange(0.30, 0.71, 0.05)
            },
        },
        "reported_vs_labels": {
            "old_checker_on_merger_at_sampling": reported(
                before, [s >= CHECK_THRESHOLD for s in old], [s >= CHECK_THRESHOLD for s in old]
            ),
            "gray_zone_checker_on_merger_at_sampling": reported(
                before, [s >= confirm for s in new], [s >= miss for s in new]
            ),
            "gray_zone_checker_on_merger_now": reported(
                now, [s >= confirm for s in new], [s >= miss for s in new]
            ),
        },
    }


def render_labels_report(r: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    def line(name, m):
        wm = m["weighted"]
        return (
            f"  {name:<28} P {f(m['precision'])} R {f(m['recall'])} agree {f(m['agreement'])}"
            f"  ({m['tp']}/{m['predicted']} predicted, {m['positives']} true)"
            f" | weighted P {f(wm['precision'])} R {f(wm['recall'])} agree {f(wm['agreement'])}"
        )

    c = r["checker"]
    lines = [
        f"labelled credit pairs: {r['path']}",
        f"  {r['pairs']} pairs, {r['labelled_true']} labelled same-fact, "
        f"{r['credited_at_sampling']} credited by the merger at sampling time",
        "merger credits vs labels:",
        line(f"now ({r['version']})", r["merger"]["now"]),
        line("  even rows", r["merger"]["now_split_half"]["even_rows"]),
        line("  odd rows", r["merger"]["now_split_half"]["odd_rows"]),
        line("at sampling (merge-1.1)", r["merger"]["at_sampling"]),
    ]
    if "annotators" in r:
        an = r["annotators"]
        lines += [
            f"  second annotator (blind): agreement {f(an['agreement'])} (weighted "
            f"{f(an['weighted_agreement'])}), kappa {f(an['kappa'])}, "
            f"{an['disagreements']} pairs differ",
            line("now vs second annotator", r["merger"]["now_second_annotator"]),
            line("now vs consensus", r["merger"]["now_consensus"]),
        ]
    lines += [
        "checker as a judge of same-fact vs labels:",
        line(f"old, one line {c['old_one_line']['threshold']}", c["old_one_line"]),
        line(f"new, one line {c['one_line']['threshold']}", c["one_line"]),
        line(f"new, confirm {c['confirm']['threshold']}", c["confirm"]),
        line(f"new, miss {c['miss']['threshold']}", c["miss"]),
        "credit precision / recall the checker reports vs the labels (weighted):",
    ]
    for k, v in r["reported_vs_labels"].items():
        lines.append(
            f"  {k:<42} checker P {f(v['checker_precision'])} R {f(v['checker_recall'])}"
            f" | labels P {f(v['label_precision'])} R {f(v['label_recall'])}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m dedup.merge.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("path", nargs="?", help="story clusters, JSON Lines")
    ap.add_argument("--sentences", help="folder with msrp_train.tsv and sts_*.tsv")
    ap.add_argument(
        "--labels",
        help="hand-labelled credit pairs, JSON Lines (clusters from credit_label_clusters.jsonl "
        "beside it, or --stories)",
    )
    ap.add_argument(
        "--article-labels",
        nargs="+",
        help="hand-labelled (composite sentence, article) pairs, JSON Lines (articles from "
        "the _clusters file beside each, or --stories); see dedup.merge.gold",
    )
    ap.add_argument(
        "--curve",
        action="store_true",
        help="with --article-labels: recall at precision 0.98 and 0.95 against the consensus, "
        "per file and pooled, the line read off the labels (what the encoder could credit at "
        "that precision, not the merger's own line)",
    )
    ap.add_argument("--stories", help="story clusters the --labels pairs come from")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="first N clusters only")
    ap.add_argument(
        "--encoder",
        type=encoder_choice,
        default="auto",
        help="sentence encoder of the merger and aligner: auto (the facts-tuned MPNet when "
        "the embeddings extra is installed), none (lexical), minilm-l6-v2 or mpnet-base-v2 "
        "(stock), minilm-l6-v2-facts (merge-1.5's), mpnet-base-v2-facts",
    )
    ap.add_argument(
        "--fit",
        action="store_true",
        help="with --sentences: refit the embedding score (align.EMBED_WEIGHTS); with --labels: "
        "sweep the credit threshold, with a split-half check of choosing it there (and, with "
        "an encoder, the margin criterion, which is measured but not in the merger)",
    )
    args = ap.parse_args(argv)
    enc = resolve_encoder(args.encoder)
    if args.fit:
        if not (args.sentences or args.labels):
            ap.error("--fit needs --sentences DIR or --labels FILE")
        fits = {}
        if args.sentences:
            fits["embedding_score"] = fit_embedding(args.sentences, enc)
        if args.labels:
            fits["credit_threshold"] = credit_threshold_sweep(args.labels, args.stories, enc)
            if enc is not None:
                fits["margin"] = margin_sweep(args.labels, args.stories, enc)
        print(json.dumps(fits, indent=2))
        return 0
    if args.curve and not args.article_labels:
        ap.error("--curve needs --article-labels FILE [FILE ...]")
    if args.article_labels and args.stories and len(args.article_labels) > 1:
        ap.error("--stories goes with one --article-labels file")
    if args.curve:
        curves = article_label_curves(args.article_labels, args.stories, encoder=enc)
        print(json.dumps(curves, indent=2) if args.json else render_curves(curves))
        return 0
    if args.article_labels:
        labels = args.article_labels
        reports = [evaluate_article_labels(f, args.stories, encoder=enc) for f in labels]
        if args.json:  # one object per file: a list when there are several
            print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))
        else:
            print("\n\n".join(render_article_labels_report(r) for r in reports))
        if not args.path and not args.sentences and not args.labels:
            return 0
        print()
    if args.labels:
        lr = evaluate_labels(args.labels, args.stories, encoder=enc)
        print(json.dumps(lr, indent=2) if args.json else render_labels_report(lr))
        if not args.path and not args.sentences:
            return 0
        print()
    if not args.path and not args.sentences:
        ap.error("give a story file, --sentences DIR, --labels FILE or --article-labels FILE")
    results = []
    if args.path:
        results.append(evaluate_merge(args.path, limit=args.limit, encoder=enc))
    if args.sentences:
        d = Path(args.sentences)
        sts = [p for p in (d / "sts_train.tsv", d / "sts_dev.tsv") if p.exists()]
        results.append(evaluate_alignment(d / "msrp_train.tsv", sts, encoder=enc))
    if args.json:
        out = results[0] if len(results) == 1 else {"merge": results[0], "alignment": results[1]}
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(render_merge_report(r) for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
