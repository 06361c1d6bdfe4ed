"""Fine-tune the story encoder on labelled stories, to tell one event from its neighbours.

Why: all-MiniLM-L6-v2 places "Biden signs the bill" and "Biden unveils the plan" as close as
two reports of one event, which caps story detection on NeuS (docs/story-evaluation.md).
Trained on half of NeuS dev's stories with the hard negative each article is most easily
confused with, the other half's nearest-neighbour accuracy rose from 0.761 to 0.816 in one
epoch (0.813 as a rank-32 delta), and ECB+ (never trained on) rose too.

    python -m dedup.finetune STORIES.jsonl --out DIR [--half even|odd|all] [--epochs 1]
        [--rank 32] [--init EARLIER_DIR --mine model]
        [--base mpnet-base-v2 --top-layers 2]

Training pairs are the articles of one story (`cluster_id`); each anchor also sees its hardest
wrong article (the most similar other-story article under the production TF-IDF + stock
MiniLM mix) and the batch's other positives as negatives (multiple-negatives ranking loss,
scale 20). `--half even` trains on a seeded half of the stories and reports nearest-neighbour
accuracy on the other half: before (the stock encoder), after (the tuned model) and after
compression (the delta the pipeline loads).

`--base mpnet-base-v2` tunes all-mpnet-base-v2 instead (dedup.models). All of it would take
about 6 h here; `--top-layers 2` trains its top two layers over lower states computed once
(dedup.upper_layers: 25 min for NeuS dev, then 7.3 s a step on 2 cores).

DIR receives the full model (sentence-transformers' format) and `<base>-news.npz`
(`minilm-l6-v2-news.npz`, `mpnet-base-v2-news.npz`), the tuning as a rank-`--rank` weight
delta over the stock model (dedup.delta, a few MB). The pipeline runs on it with
`--encoder DIR/<base>-news.npz` (or `encoder = "..."` in `[dedup]`); the deltas shipped in
dedup/weights/ say in their meta record which stories and half they were made from.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dedup import Doc
from dedup.delta import base_checksum, extract, save
from dedup.embeddings import MINILM, MPNET, SentenceEncoder, load_encoder
from dedup.evaluate import split_stories
from dedup.settings import DedupSettings
from dedup.stories import embed_text, most_similar
from dedup.upper_layers import UpperLayers

log = logging.getLogger(__name__)

RANK = 32  # SVD rank of the shipped weight delta (docs/story-evaluation.md: rank vs accuracy)
# The tuned model's calibration (DedupSettings.embedding_weight / embedding_edge), per base,
# recorded in the delta's meta: tuning lifts every cosine, so the edge bar sits higher than the
# stock model's 0.55, and TF-IDF takes a larger share. Measured for this recipe on held-out NeuS
# stories, ECB+ and the golden tests (docs/story-evaluation.md). A deployment overrides them
# with `embedding_weight` / `embedding_edge` in `[dedup]`.
# MPNet's top-two-layer model (shipped since session 13 as mpnet-base-v2-news) at its best
# held-out NeuS setting that keeps ECB+ above 0.85 (docs/story-evaluation.md, "Session 9");
# with dedup-1.6's leftover rule it is the best held-out result (session 12).
CALIBRATION = {MINILM: (0.4, 0.6), MPNET: (0.7, 0.7)}
# Word pieces the tuned model reads in story detection, recorded in the delta: None keeps the
# stock model's (MiniLM's 256, measured so); MPNet reads the 128 it was tuned and measured at,
# a third of the cost of its stock 384.
TRAIN_LENGTH = 128  # word pieces per text in training
READ_LENGTH = {MINILM: None, MPNET: TRAIN_LENGTH}


def nearest_accuracy(vectors: np.ndarray, labels: np.ndarray) -> float:
    sim = vectors @ vectors.T
    np.fill_diagonal(sim, -np.inf)
    return float((labels[sim.argmax(axis=1)] == labels).mean())


def ranking_step(opt, logits, mask) -> float:
    """One step of the multiple-negatives ranking loss: row i's answer is column i, every other
    column a negative unless `mask` says it may be another right answer. Returns the loss."""
    import torch

    loss = torch.nn.functional.cross_entropy(
        logits.masked_fill(mask, -1e9), torch.arange(logits.shape[0])
    )
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.item())


def finetune(
    path: str | Path,
    out: str | Path,
    half: str = "all",
    epochs: int = 1,
    batch: int = 24,
    lr: float = 2e-5,
    max_steps: int | None = None,
    rank: int = RANK,
    init: str | Path | None = None,
    mine: str = "stock",
    base: str = MINILM,
    top_layers: int | None = None,
) -> dict:
    """`init`: a saved model (an earlier run's DIR) to continue from instead of the stock
    `base` (MINILM or MPNET). `mine`: "stock" takes each anchor's hard negative from the
    production mix under the stock MiniLM encoder, once; "model" re-mines it before every epoch
    with the model being trained, so the negatives stay the ones it still confuses.
    `top_layers`: train only the top N layers, from lower states computed once
    (dedup.upper_layers): what makes MPNet trainable here."""
    import torch

    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    titles = [r.get("title") or "" for r in rows]
    bodies = [r.get("text") or "" for r in rows]
    texts = [embed_text(t, x) for t, x in zip(titles, bodies, strict=True)]
    labels = np.array([r["cluster_id"] for r in rows])
    train = split_stories(labels, half)
    held = np.flatnonzero(~train)
    if init is None:
        model = SentenceEncoder(base=base)._load()
    else:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(init), device="cpu")
    model.max_seq_length = TRAIN_LENGTH
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    upper = None
    if top_layers is not None:
        upper = UpperLayers(model, top_layers)
        upper.cache(texts)
        encode, embed, params = upper.encode, upper.embed, upper.trainable()
    else:
        tokenize = getattr(model, "preprocess", model.tokenize)

        def encode(idx: np.ndarray) -> np.ndarray:
            return model.encode(
                [texts[i] for i in idx],
                batch_size=64,
                normalize_embeddings=True,
                show_progress_bar=False,
            )

        def embed(idx: list[int]):
            feats = tokenize([texts[i] for i in idx])
            return torch.nn.functional.normalize(model(feats)["sentence_embedding"], dim=1)

        params = list(model.parameters())

    report: dict = {"path": str(path), "half": half, "epochs": epochs, "mine": mine, "base": base}
    if init is not None:
        report["init"] = str(init)
    if top_layers is not None:
        report["top_layers"] = top_layers
    stock = load_encoder(MINILM)  # the production stock encoder (256 word pieces, cached)
    if len(held):
        # before training: stock MiniLM as production runs it (its vectors are cached); any
        # other start is the model itself, as training reads it (MPNet's production 384 word
        # pieces would take 15 min on NeuS's held-out half)
        fresh = base == MINILM and init is None and upper is None
        before = stock.encode([texts[i] for i in held]) if fresh else encode(held)
        report["held_out_before"] = round(nearest_accuracy(before, labels[held]), 4)
    tr = np.flatnonzero(train)
    # each anchor's hardest wrong article: with mine="stock", the other story's article the
    # production mix finds most similar (the stock encoder's vectors, cached), once; with
    # mine="model", re-mined before each epoch (`remine`)
    hard_of: dict[int, int] = {}
    if mine == "stock":
        docs = [Doc(str(i), None, titles[i], bodies[i], None) for i in tr]
        hard = tr[most_similar(docs, DedupSettings(), stock, groups=labels[tr])]
        hard_of = dict(zip(tr.tolist(), hard.tolist(), strict=True))
    groups: dict[str, list[int]] = defaultdict(list)
    for i in tr.tolist():
        groups[labels[i]].append(i)
    pairs = [(a, b) for g in groups.values() for a in g for b in g if a != b]
    opt = torch.optim.AdamW(params, lr=lr)

    def remine() -> dict[int, int]:
        """Each training anchor's most similar other-story article under the current model."""
        vectors = encode(tr)  # SentenceTransformer.encode runs in eval mode without gradients
        model.train()
        sim = vectors @ vectors.T
        sim[labels[tr][:, None] == labels[tr][None, :]] = -np.inf
        return dict(zip(tr.tolist(), tr[sim.argmax(axis=1)].tolist(), strict=True))

    steps, t0 = 0, time.perf_counter()
    model.train()
    for epoch in range(epochs):
        if mine == "model":
            hard_of = remine()
            log.info("epoch %d: hard negatives re-mined, %.0f s", epoch, time.perf_counter() - t0)
        rng.shuffle(pairs)
        for s in range(0, len(pairs), batch):
            chunk = pairs[s : s + batch]
            anchors = [a for a, _ in chunk]
            cands = [b for _, b in chunk] + [hard_of[a] for a in anchors]
            logits = (
                embed(anchors)
                @ torch.cat([embed(cands[: len(chunk)]), embed(cands[len(chunk) :])]).T
                * 20.0
            )
            same = torch.tensor(labels[anchors][:, None] == labels[cands][None, :])
            same[torch.arange(len(chunk)), torch.arange(len(chunk))] = False  # its own positive
            loss = ranking_step(opt, logits, same)
            steps += 1
            if steps % 50 == 0:
                log.info(
                    "epoch %d: %d/%d pairs, loss %.3f, %.0f s",
                    epoch,
                    s,
                    len(pairs),
                    loss,
                    time.perf_counter() - t0,
                )
            if max_steps is not None and steps >= max_steps:
                break
        if max_steps is not None and steps >= max_steps:
            break
    model.eval()
    Path(out).mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    report.update(
        steps=steps, pairs=len(pairs), seconds=round(time.perf_counter() - t0, 1), out=str(out)
    )
    recipe = {
        "epochs": epochs,
        "batch": batch,
        "lr": lr,
        "scale": 20.0,
        "max_seq_length": TRAIN_LENGTH,
        "mine": mine,
        "init": None if init is None else Path(init).name,
        "top_layers": top_layers,
    }
    weight, edge = CALIBRATION[base]
    meta = {
        "stories": Path(path).name,
        "half": half,
        "steps": steps,
        "recipe": recipe,
        "embedding_weight": weight,
        "embedding_edge": edge,
    }
    if READ_LENGTH[base]:
        meta["max_seq_length"] = READ_LENGTH[base]
    delta = export_delta(model, Path(out), rank, meta, base)
    report["delta"] = str(delta)
    if len(held):
        report["held_out_after"] = round(nearest_accuracy(encode(held), labels[held]), 4)
        shipped = SentenceEncoder(delta=delta, name=delta.stem)
        if upper is not None:  # the delta leaves the lower layers, so their cache, as they were
            check = UpperLayers(shipped._load(), top_layers)
            check.states, check.masks = upper.states, upper.masks
            vectors = check.encode(held)
            if READ_LENGTH[base] == TRAIN_LENGTH:
                # these are the vectors production reads (same layers, same length): cache them
                # so `dedup.evaluate --half odd --encoder DELTA` does not encode the half again
                # (15 min for MPNet on NeuS's held-out half); load_encoder gives the cache key
                # evaluate reads
                load_encoder(str(delta)).store([texts[i] for i in held], vectors)
        else:
            vectors = shipped.encode([texts[i] for i in held])
        report["held_out_after_delta"] = round(nearest_accuracy(vectors, labels[held]), 4)
    return report


def export_delta(
    model, out: Path, rank: int = RANK, meta: dict | None = None, base: str = MINILM
) -> Path:
    """Write `out/<base>-news.npz` (minilm-l6-v2-news.npz, mpnet-base-v2-news.npz): the tuned
    weights as a rank-`rank` delta over the stock model (dedup.delta), the form the pipeline
    loads (copy it to dedup/weights/)."""
    stock = SentenceEncoder(base=base)._load().state_dict()
    delta = extract(stock, model.state_dict(), rank)
    record = {**(meta or {}), "base": base, "rank": rank, "base_checksum": base_checksum(stock)}
    return save(out / f"{base}-news.npz", delta, record)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dedup.finetune", description=__doc__)
    parser.add_argument("path")
    parser.add_argument("--out", required=True)
    parser.add_argument("--half", choices=("even", "odd", "all"), default="all")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rank", type=int, default=RANK, help="SVD rank of the saved delta")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--lr", type=float, default=2e-5, help="AdamW learning rate")
    parser.add_argument("--init", default=None, help="continue from a saved model (a DIR)")
    parser.add_argument("--base", choices=(MINILM, MPNET), default=MINILM, help="stock model")
    parser.add_argument(
        "--top-layers",
        type=int,
        default=None,
        help="train only the top N layers (lower states computed once; MPNet: 2)",
    )
    parser.add_argument(
        "--mine",
        choices=("stock", "model"),
        default="stock",
        help="hard negatives: the stock production mix once, or re-mined by the model each epoch "
        "(model: better neighbours but worse clusters held out, docs/story-evaluation.md)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(
        json.dumps(
            finetune(
                args.path,
                args.out,
                args.half,
                args.epochs,
                max_steps=args.max_steps,
                lr=args.lr,
                rank=args.rank,
                init=args.init,
                mine=args.mine,
                base=args.base,
                top_layers=args.top_layers,
            ),
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
