"""Train only a transformer's top layers, from lower-layer states computed once.

Why: fine-tuning all of all-mpnet-base-v2 on NeuS's stories takes about 6 h on 2 cores (a
step reads 72 texts forward and backward through 12 layers). With the lower layers frozen,
their output for every text is the same at every step, so it is computed once (about 25 min
for NeuS dev's 8,277 articles through MPNet's lower ten layers at 128 word pieces, 3.2 GB of
float32) and each step runs only the
top layers: 7.3 s a step for the top 2 of MPNet. The result is exact, not an approximation:
`UpperLayers.encode` equals `SentenceTransformer.encode` of the same model
(tests/test_upper_layers.py), and a delta of the tuned top layers (dedup.delta) leaves the
cached states valid, so held-out texts are scored from the cache too.

    upper = UpperLayers(model, top=2)          # a sentence-transformers model, mean pooling
    upper.cache(texts)                         # lower states of every text, once
    vectors = upper.embed([0, 5, 9])           # unit vectors with gradients (training)
    upper.encode(np.arange(len(texts)))        # numpy, eval mode, no gradients
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)


class UpperLayers:
    """The top `top` encoder layers of a sentence-transformers model (BERT or MPNet body, mean
    pooling, normalised output) over cached states of the layers below."""

    def __init__(self, model, top: int) -> None:
        self.model = model
        self.body = model[0].auto_model
        n = len(self.body.encoder.layer)
        if not 1 <= top <= n:
            raise ValueError(f"top must be 1..{n} layers, got {top}")
        self.split = n - top
        self.states = None  # (texts, max_seq_length, hidden) float32
        self.masks = None  # (texts, max_seq_length) attention masks

    def trainable(self) -> list:
        """Freeze everything below the top layers; return the top layers' parameters."""
        for p in self.body.parameters():
            p.requires_grad_(False)
        params = [p for layer in self.body.encoder.layer[self.split :] for p in layer.parameters()]
        for p in params:
            p.requires_grad_(True)
        return params

    def _run(self, h, mask, layers):
        from transformers.masking_utils import create_bidirectional_mask

        extended = create_bidirectional_mask(
            config=self.body.config, inputs_embeds=h, attention_mask=mask
        )
        extra = {}
        if hasattr(self.body.encoder, "compute_position_bias"):  # MPNet's relative positions
            extra["position_bias"] = self.body.encoder.compute_position_bias(h)
        for layer in layers:
            out = layer(h, attention_mask=extended, **extra)
            h = out[0] if isinstance(out, tuple) else out  # MPNet's layers return a tuple
        return h

    def cache(self, texts: Sequence[str], batch: int = 64) -> None:
        """Run every text through the frozen lower layers once."""
        import torch

        length = self.model.max_seq_length
        width = self.body.config.hidden_size
        self.states = torch.zeros((len(texts), length, width), dtype=torch.float32)
        self.masks = torch.zeros((len(texts), length), dtype=torch.long)
        self.body.eval()
        tokenize = getattr(self.model, "preprocess", self.model.tokenize)
        t0 = time.perf_counter()
        with torch.no_grad():
            for s in range(0, len(texts), batch):
                feats = tokenize(list(texts[s : s + batch]))
                ids, mask = feats["input_ids"], feats["attention_mask"]
                h = self._run(
                    self.body.embeddings(input_ids=ids), mask, self.body.encoder.layer[: self.split]
                )
                self.states[s : s + len(ids), : h.shape[1]] = h
                self.masks[s : s + len(ids), : mask.shape[1]] = mask
                if (s // batch) % 16 == 15:
                    log.info(
                        "lower layers: %d of %d texts, %.0f s",
                        s + len(ids),
                        len(texts),
                        time.perf_counter() - t0,
                    )

    def embed(self, idx: Sequence[int]):
        """Unit vectors of the cached texts `idx` through the top layers (with gradients when
        the model is in training mode)."""
        import torch

        at = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        mask = self.masks[at]
        n = int(mask.sum(1).max())  # padding past the longest text changes nothing: trim it
        mask = mask[:, :n]
        h = self._run(self.states[at, :n], mask, self.body.encoder.layer[self.split :])
        weights = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1)

    def encode(self, idx: Sequence[int], batch: int = 128) -> np.ndarray:
        """`embed` in eval mode without gradients, as numpy (restores the training mode)."""
        import torch

        training = self.body.training
        self.body.eval()
        idx = np.asarray(idx, dtype=np.int64)
        with torch.no_grad():
            parts = [self.embed(idx[s : s + batch]).numpy() for s in range(0, len(idx), batch)]
        self.body.train(training)
        return np.concatenate(parts) if parts else np.zeros((0, self.body.config.hidden_size))
