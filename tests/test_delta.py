"""Low-rank weight deltas (dedup.delta): the shipped tuned encoder is stock weights + a delta."""

from __future__ import annotations

import numpy as np
import pytest

from dedup.delta import DeltaMismatch, apply_delta, base_checksum, dense, extract, load, save

torch = pytest.importorskip("torch")


def _module(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(40, 30), torch.nn.LayerNorm(30))


def _tuned(stock: torch.nn.Module, rank: int) -> torch.nn.Module:
    """The stock module with a rank-`rank` change to the matrix and a change to one bias."""
    tuned = _module(0)
    rng = np.random.default_rng(1)
    change = rng.normal(size=(30, rank)) @ rng.normal(size=(rank, 40)) * 0.01
    with torch.no_grad():
        tuned[0].weight.add_(torch.from_numpy(change).float())
        tuned[1].bias.add_(0.05)
    return tuned


def test_a_low_rank_change_round_trips_through_the_file(tmp_path):
    stock = _module(0)
    tuned = _tuned(stock, rank=3)
    delta = extract(stock.state_dict(), tuned.state_dict(), rank=3)
    assert set(delta) == {"0.weight::u", "0.weight::v", "1.bias::full"}  # unchanged: left out
    path = save(tmp_path / "d.npz", delta, {"base_checksum": base_checksum(stock.state_dict())})
    apply_delta(stock, path)
    for name, t in tuned.state_dict().items():
        np.testing.assert_allclose(stock.state_dict()[name].numpy(), t.numpy(), atol=2e-4)


def test_truncation_keeps_the_largest_directions():
    stock = _module(0)
    tuned = _tuned(stock, rank=8)
    full = dense(extract(stock.state_dict(), tuned.state_dict(), rank=8))["0.weight"]
    cut = dense(extract(stock.state_dict(), tuned.state_dict(), rank=2))["0.weight"]
    assert np.linalg.matrix_rank(cut) == 2
    # the best rank-2 approximation: no worse than dropping the change altogether
    assert np.linalg.norm(full - cut) < np.linalg.norm(full)


def test_a_delta_refuses_other_stock_weights(tmp_path):
    stock = _module(0)
    delta = extract(stock.state_dict(), _tuned(stock, 2).state_dict(), rank=2)
    path = save(tmp_path / "d.npz", delta, {"base_checksum": base_checksum(stock.state_dict())})
    other = _module(7)
    before = other[0].weight.detach().clone()
    with pytest.raises(DeltaMismatch, match="other stock weights"):
        apply_delta(other, path)
    assert torch.equal(other[0].weight, before)  # nothing half-applied


def test_a_delta_for_another_layout_names_the_tensor(tmp_path):
    stock = _module(0)
    delta = extract(stock.state_dict(), _tuned(stock, 2).state_dict(), rank=2)
    path = save(tmp_path / "d.npz", delta, {})
    smaller = torch.nn.Sequential(torch.nn.Linear(40, 30))
    before = smaller[0].weight.detach().clone()
    with pytest.raises(DeltaMismatch, match=r"1\.bias"):
        apply_delta(smaller, path)
    assert torch.equal(smaller[0].weight, before)


def test_meta_and_arrays_load_back(tmp_path):
    stock = _module(0)
    delta = extract(stock.state_dict(), _tuned(stock, 2).state_dict(), rank=2)
    arrays, meta = load(save(tmp_path / "d.npz", delta, {"rank": 2, "stories": "x.jsonl"}))
    assert meta == {"rank": 2, "stories": "x.jsonl"}
    assert arrays["0.weight::u"].shape == (30, 2) and arrays["0.weight::v"].shape == (2, 40)
    assert all(a.dtype == np.float32 for a in arrays.values())
