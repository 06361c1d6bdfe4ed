"""How good the merger is: composites of labeled story clusters, and paraphrase pairs.

    python -m dedup.merge.evaluate STORIES.jsonl [--json] [--limit N]
    python -m dedup.merge.evaluate --sentences DIR [--json]     # msrp_train.tsv, sts_*.tsv

Composite metrics (per cluster of the story schema `{id, outlet|null, title, text, published,
cluster_id}`; an article without an outlet is its own source, credited by its id):

* faithfulness — share of composite sentences that appear, modulo whitespace and quotes, in a
  source article *at the offsets of one of their credits*;
* credit_precision — share of the credits to *other* outlets (the representative's own credit
  is faithfulness) whose cited sentence the checker matches with the composite sentence;
* credit_recall — share of (composite sentence, other outlet) pairs where the checker finds a
  matching sentence in that outlet, that the composite credits;
* multi_source_coverage — share of the cluster's multi-outlet facts (source sentences the
  checker matches with a sentence of another outlet) that the composite keeps (as a composite
  sentence or as the evidence of a credit);
* redundancy — share of composite sentences the checker matches with an earlier one;
* composites_per_s — compose() calls per second (one core, splitting included).

The checker is deliberately *not* the aligner: content-word overlap (Dice over lightly stemmed
words, stop words removed) with its own number check, calibrated on MSRP like the aligner.
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

from . import article_from_dict, compose
from .align import THRESHOLD, conflict, features, pair_scores
from .align import _disagree as _aligner_disagree
from .compose import SourceArticle
from .sentences import normalize, split_sentences

CHECK_THRESHOLD = 0.5

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


def _stem(w: str) -> str:
    for suf in ("ings", "ing", "edly", "ed", "ies", "es", "s", "ly"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def _content(text: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in _WORD.findall(normalize(text).lower()) if w not in _STOP)


def _numbers(text: str) -> frozenset[str]:
    return frozenset(n.replace(",", "").rstrip(".") for n in _NUM.findall(text))


def _numbers_clash(a: frozenset[str], b: frozenset[str]) -> bool:
    """The checker's own number test (not the aligner's): each side has a number the other
    lacks."""
    return bool(a - b) and bool(b - a)


def check_score(a: str, b: str) -> float:
    """The checker's similarity: Dice of content words (0 when numbers disagree)."""
    if _numbers_clash(_numbers(a), _numbers(b)):
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
    path: str | Path, limit: int | None = None, check_threshold: float = CHECK_THRESHOLD
) -> dict:
    clusters = load_clusters(path, limit)
    built = []
    t0 = time.perf_counter()
    for cid, arts in clusters.items():
        built.append((cid, arts, compose(cid, arts)))
    elapsed = time.perf_counter() - t0

    n_sent = faithful = 0
    cred_ok = cred_all = 0
    rec_hit = rec_all = 0
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
                if art and check_match(s.text, art.text[c.start : c.end], check_threshold):
                    cred_ok += 1
            credited = {c.outlet for c in s.credits}
            for o in outlets:
                if o in own_outlets:
                    continue
                has = any(
                    check_match(s.text, x.text, check_threshold)
                    for a in arts
                    if a.outlet == o
                    for x in sents[a.id]
                )
                if has:
                    rec_all += 1
                    rec_hit += o in credited
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
        "multi_source_coverage": ratio(multi_kept, multi_all),
        "redundancy": ratio(redundant, n_sent),
        "composites_per_s": round(len(built) / elapsed, 1) if elapsed > 0 else None,
        "counts": {
            "other_outlet_credits": cred_all,
            "other_outlet_credits_confirmed": cred_ok,
            "checker_matches_in_other_outlets": rec_all,
            "checker_matches_credited": rec_hit,
            "multi_outlet_source_sentences": multi_all,
            "multi_outlet_source_sentences_kept": multi_kept,
        },
        "align_threshold": THRESHOLD,
        "check_threshold": check_threshold,
    }


def render_merge_report(result: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    if "msrp" in result or "sts" in result:
        return _render_alignment(result)
    c = result["counts"]
    lines = [
        f"merge evaluation: {result['path']}",
        f"  clusters {result['clusters']}, composite sentences {result['composite_sentences']}, "
        f"paragraphs {result['paragraphs']}",
        f"  faithfulness           {f(result['faithfulness'])}",
        f"  credit precision       {f(result['credit_precision'])}  "
        f"({c['other_outlet_credits_confirmed']}/{c['other_outlet_credits']} other-outlet "
        "credits confirmed by the checker)",
        f"  credit recall          {f(result['credit_recall'])}  "
        f"({c['checker_matches_credited']}/{c['checker_matches_in_other_outlets']} checker "
        "matches credited)",
        f"  multi-source coverage  {f(result['multi_source_coverage'])}  "
        f"({c['multi_outlet_source_sentences_kept']}/{c['multi_outlet_source_sentences']})",
        f"  redundancy             {f(result['redundancy'])}",
        f"  composites per second  {f(result['composites_per_s'])}",
        f"  thresholds: align {result['align_threshold']}, check {result['check_threshold']}",
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


def _scores(pairs: Sequence[tuple[int, str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw lexical score, vetoed by numbers/dates/people, numbers-disagree flag) per pair."""
    raw = np.zeros(len(pairs))
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


def _pair_report(pairs, threshold: float, checker: bool = True) -> dict:
    y = np.array([p[0] for p in pairs])
    raw, veto, numdis = _scores(pairs)
    pred = (raw >= threshold) & ~veto
    out = {
        "pairs": len(pairs),
        "positives": int(y.sum()),
        "threshold": threshold,
        **_prf(pred, y),
        "lexical_only": _prf(raw >= threshold, y),
        "number_disagreement_pairs": int(numdis.sum()),
        "number_disagreement_false_merges": int((pred & numdis & (y == 0)).sum()),
        "number_disagreement_false_merges_without_veto": int(
            ((raw >= threshold) & numdis & (y == 0)).sum()
        ),
        "sweep": {f"{t:.2f}": _prf((raw >= t) & ~veto, y) for t in np.arange(0.30, 0.81, 0.05)},
    }
    if checker:
        chk = np.array([check_score(a, b) for _, a, b in pairs])
        out["checker"] = {"threshold": CHECK_THRESHOLD, **_prf(chk >= CHECK_THRESHOLD, y)}
    return out


def evaluate_alignment(msrp_path, sts_path=None, threshold: float = THRESHOLD) -> dict:
    """Paraphrase precision/recall/F1 of the aligner at `threshold` on MSRP (and STS news)."""
    result = {"msrp": {"path": str(msrp_path), **_pair_report(read_msrp(msrp_path), threshold)}}
    sts_paths = [sts_path] if isinstance(sts_path, str | Path) else list(sts_path or [])
    if sts_paths:
        result["sts"] = {
            Path(p).name: {
                "path": str(p),
                "genre": "main-news",
                "positive": "score >= 4.0",
                **_pair_report(read_sts(p), threshold),
            }
            for p in sts_paths
        }
    return result


def _render_alignment(result: dict) -> str:
    lines = []
    blocks = [("MSRP train", result["msrp"])] if "msrp" in result else []
    blocks += [(f"STS {k} (news)", v) for k, v in result.get("sts", {}).items()]
    for name, r in blocks:
        lines.append(
            f"{name}: {r['pairs']} pairs ({r['positives']} positive), threshold {r['threshold']}"
            f": P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f}"
            f" | lexical only F1 {r['lexical_only']['f1']:.3f}"
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


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m dedup.merge.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("path", nargs="?", help="story clusters, JSON Lines")
    ap.add_argument("--sentences", help="folder with msrp_train.tsv and sts_*.tsv")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="first N clusters only")
    args = ap.parse_args(argv)
    if not args.path and not args.sentences:
        ap.error("give a story file or --sentences DIR")
    results = []
    if args.path:
        results.append(evaluate_merge(args.path, limit=args.limit))
    if args.sentences:
        d = Path(args.sentences)
        sts = [p for p in (d / "sts_train.tsv", d / "sts_dev.tsv") if p.exists()]
        results.append(evaluate_alignment(d / "msrp_train.tsv", sts))
    if args.json:
        out = results[0] if len(results) == 1 else {"merge": results[0], "alignment": results[1]}
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(render_merge_report(r) for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
