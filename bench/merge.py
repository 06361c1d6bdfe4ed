"""Composites per second for stories of four ~800-word articles, on one core.

    python -m bench.merge [--stories 40] [--words 800] [--encoder auto|none|minilm-l6-v2]
                          [--cold-stories 5] [--json]

Two modes: lexical (no encoder) and, when the embeddings extra is installed, embedding
(all-MiniLM-L6-v2 through dedup.embeddings). The embedding mode is measured three ways, since
encoding dominates its cost: *cold* (an empty disk cache: every sentence is encoded, as when a
story's articles are new; `--cold-stories` stories, the model already loaded), *warm disk* (a
new process's view: vectors read from the SQLite cache, as when the pipeline rebuilds a story
whose articles it has seen) and *warm memory* (the same encoder again: vectors in its
in-process memo). The model load is timed apart.

The stories are synthetic and deterministic (seeded): each of four outlets writes ~800 words
from a shared pool of facts (reworded: words dropped, synonyms swapped, clauses reordered) and
facts of its own, built from a vocabulary of news words and the sentences of the Davos golden
story. Reported against a simple baseline measured in the same run: split on end punctuation
with a regex and merge sentences that are identical after lowercasing (no offsets kept, no
vetoes, no paraphrase alignment) — what a naive exact-duplicate merger costs.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from dedup.embeddings import CachedEncoder, encoder_choice, load_sentence_encoder
from dedup.merge import SourceArticle, compose, load_articles

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "merge" / "davos.jsonl"
OUTLETS = ["SCMP", "AA", "BBC", "Al Jazeera"]
NOUNS = [
    "minister",
    "officials",
    "government",
    "ministry",
    "army",
    "troops",
    "talks",
    "ceasefire",
    "sanctions",
    "election",
    "parliament",
    "court",
    "police",
    "protesters",
    "residents",
    "economy",
    "inflation",
    "prices",
    "exports",
    "bank",
    "budget",
    "region",
    "border",
    "city",
    "capital",
    "village",
    "hospital",
    "school",
    "refugees",
    "aid",
    "convoy",
    "negotiators",
    "delegation",
    "summit",
    "agreement",
    "plan",
    "proposal",
    "report",
    "investigation",
]
VERBS = [
    "said",
    "announced",
    "warned",
    "confirmed",
    "rejected",
    "approved",
    "criticised",
    "welcomed",
    "demanded",
    "promised",
    "denied",
    "suspended",
    "launched",
    "expanded",
    "delayed",
    "signed",
]
ADJ = [
    "new",
    "major",
    "senior",
    "regional",
    "national",
    "foreign",
    "local",
    "military",
    "economic",
    "urgent",
    "formal",
    "fresh",
]
NAMES = [
    "Anwar Ibrahim",
    "Olaf Kern",
    "Maria Duarte",
    "Ahmed Saleh",
    "Li Wei",
    "Ruth Okafor",
    "Ivan Petrov",
    "Sofia Lind",
]
SYN = {
    "said": "stated",
    "announced": "unveiled",
    "warned": "cautioned",
    "new": "fresh",
    "major": "significant",
    "talks": "negotiations",
    "officials": "authorities",
    "city": "town",
    "plan": "proposal",
    "criticised": "condemned",
}


def _sentence(rng: random.Random) -> str:
    n = rng.randint(14, 26)
    words = [rng.choice(NAMES), rng.choice(VERBS), "that", "the", rng.choice(ADJ)]
    while len(words) < n:
        words += rng.choice(
            [
                [rng.choice(NOUNS)],
                ["the", rng.choice(ADJ), rng.choice(NOUNS)],
                ["in", "the", rng.choice(NOUNS)],
                [str(rng.randint(2, 900))],
                ["and", rng.choice(NOUNS)],
            ]
        )
    return " ".join(words) + "."


def _reword(s: str, rng: random.Random) -> str:
    words = s[:-1].split()
    out = [SYN.get(w, w) if rng.random() < 0.5 else w for w in words]
    if len(out) > 10 and rng.random() < 0.5:
        del out[rng.randrange(5, len(out) - 1)]
    return " ".join(out) + "."


def make_stories(n: int, words: int = 800, seed: int = 13) -> list[list[SourceArticle]]:
    rng = random.Random(seed)
    davos = [s for a in load_articles(FIXTURE) for s in a.text.split("\n") if len(s) > 60]
    stories = []
    for k in range(n):
        facts = [_sentence(rng) for _ in range(10)] + rng.sample(davos, 6)
        arts = []
        for o, outlet in enumerate(OUTLETS):
            paras, count = [], 0
            shared = [f for f in facts if rng.random() < 0.55]
            own = iter([_sentence(rng) for _ in range(80)])
            pool = [_reword(f, rng) if rng.random() < 0.6 else f for f in shared]
            while count < words:
                s = pool.pop(0) if pool and rng.random() < 0.4 else next(own)
                para = s if rng.random() < 0.6 or not paras else None
                if para is None:
                    paras[-1] += " " + s
                else:
                    paras.append(s)
                count += len(s.split())
            arts.append(
                SourceArticle(
                    id=f"b{k}-{o}", outlet=outlet, title=f"Story {k}", text="\n".join(paras)
                )
            )
        stories.append(arts)
    return stories


_SPLIT = re.compile(r"(?<=[.!?])\s+")


def baseline(articles: list[SourceArticle]) -> list[tuple[str, list[str]]]:
    """Exact-duplicate merger: identical sentences (lowercased) credited together."""
    seen: dict[str, list[str]] = defaultdict(list)
    first: dict[str, str] = {}
    for a in articles:
        for s in _SPLIT.split(a.text):
            key = " ".join(s.lower().split())
            if key:
                first.setdefault(key, s)
                if a.outlet not in seen[key]:
                    seen[key].append(a.outlet)
    return [(first[k], v) for k, v in seen.items() if len(v) > 1]


def _rate(fn, stories) -> float:
    t0 = time.perf_counter()
    for i, arts in enumerate(stories):
        fn(i, arts)
    return len(stories) / (time.perf_counter() - t0)


def _embedding_rates(encoder, stories, cold_n: int) -> dict:
    """Cold, warm-disk and warm-memory composites/s of the embedding path (see the module
    docstring), each cache in a temporary folder of its own."""
    with tempfile.TemporaryDirectory(prefix="bench-merge-cache-") as tmp:
        path = Path(tmp) / "embeddings.sqlite"
        t0 = time.perf_counter()
        inner = encoder.inner if isinstance(encoder, CachedEncoder) else encoder
        inner.encode(["warm up the model"])
        load_s = time.perf_counter() - t0
        cold = CachedEncoder(inner, path)
        cold_rate = _rate(lambda i, arts: compose(f"s{i}", arts, encoder=cold), stories[:cold_n])
        # fill the disk cache with the rest, untimed
        for arts in stories[cold_n:]:
            compose("fill", arts, encoder=cold)
        disk = CachedEncoder(inner, path)
        disk_rate = _rate(lambda i, arts: compose(f"s{i}", arts, encoder=disk), stories)
        memo_rate = _rate(lambda i, arts: compose(f"s{i}", arts, encoder=disk), stories)
    return {
        "encoder": encoder.name,
        "model_load_s": round(load_s, 2),
        "cold_stories": min(cold_n, len(stories)),
        "cold_composites_per_s": round(cold_rate, 2),
        "warm_disk_composites_per_s": round(disk_rate, 1),
        "warm_memory_composites_per_s": round(memo_rate, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.merge")
    ap.add_argument("--stories", type=int, default=40)
    ap.add_argument("--words", type=int, default=800)
    ap.add_argument(
        "--encoder",
        type=encoder_choice,
        default="auto",
        help="embedding mode's encoder (auto: MiniLM when installed); none: lexical only",
    )
    ap.add_argument("--cold-stories", type=int, default=5, help="stories timed with no cache")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    stories = make_stories(args.stories, args.words)
    compose("warmup", stories[0], encoder="none")
    words = sum(len(a.text.split()) for arts in stories for a in arts) / len(stories)
    base = _rate(lambda i, arts: baseline(arts), stories)
    rate = _rate(lambda i, arts: compose(f"s{i}", arts, encoder="none"), stories)
    facts = sum(
        len(p.sentences)
        for arts in stories[:10]
        for p in compose("x", arts, encoder="none").paragraphs
    )
    result = {
        "stories": len(stories),
        "articles_per_story": 4,
        "words_per_story": round(words),
        "composites_per_s": round(rate, 1),
        "baseline_exact_merge_per_s": round(base, 1),
        "ratio_to_baseline": round(rate / base, 4),
        "target_composites_per_s": 50,
        "mean_composite_sentences": round(facts / min(10, len(stories)), 1),
    }
    encoder = load_sentence_encoder(args.encoder)
    if encoder is not None:
        result["embedding"] = _embedding_rates(encoder, stories, args.cold_stories)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"merge, lexical: {result['composites_per_s']} composites/s for stories of 4 "
            f"articles, {result['words_per_story']} words per story (target >= 50); baseline "
            f"exact-duplicate merge {result['baseline_exact_merge_per_s']}/s in the same run "
            f"(ratio {result['ratio_to_baseline']}); {result['mean_composite_sentences']} "
            "composite sentences per story"
        )
        e = result.get("embedding")
        if e:
            print(
                f"merge, embedding ({e['encoder']}): cold cache "
                f"{e['cold_composites_per_s']}/s ({e['cold_stories']} stories), warm disk "
                f"cache {e['warm_disk_composites_per_s']}/s, warm memory "
                f"{e['warm_memory_composites_per_s']}/s; model load {e['model_load_s']} s"
            )
        else:
            print("merge, embedding: no encoder (embeddings extra not installed or --encoder none)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
