"""Evaluation with the test-time embedding cache equals evaluation that recomputes every episode."""

import pytest
import torch

from tests.helpers.fewshot_cache import check_cached_episodes, metrics_with_and_without_cache
from vadbench.models.trx import TRX, EmbeddingCache, TRXHeadConfig, TRXModel


def _model(cache: bool) -> TRX:
    torch.manual_seed(0)
    return TRX(net=TRXModel(backbone="resnet18", head=TRXHeadConfig(seq_len=4, proj_dim=16)),
               cache_eval_embeddings=cache, embed_chunk=7)


def test_embedding_cache_gathers_and_grows():
    cache = EmbeddingCache()
    assert cache.missing(torch.tensor([3, 1, 3])).tolist() == [1, 3]
    cache.add(torch.tensor([1, 3]), torch.tensor([[1.0], [3.0]]))
    assert cache.missing(torch.tensor([3, 9, 1, 0])).tolist() == [0, 9]
    cache.add(torch.tensor([9]), torch.tensor([[9.0]]))
    assert cache.get(torch.tensor([9, 1, 3, 9])).flatten().tolist() == [9.0, 1.0, 3.0, 9.0]


def test_cached_episode_features_equal_recomputed(tmp_path):
    """The cache holds the head's per-video key/value projections; logits equal the recomputed ones."""
    n_tuples = 6 + 4  # pairs and triples of 4 frames

    def holds_projections(uncached, batch, recomputed, cached):
        (s0, q0), (s1, q1) = recomputed, cached
        assert s1.shape == (s0.shape[0], n_tuples, 2, 16)  # keys and values, not frame features
        torch.testing.assert_close(s1, uncached.net.project(s0), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(q1, uncached.net.project(q0), atol=1e-5, rtol=1e-4)

    _, cached, ds = check_cached_episodes(_model, tmp_path, episodes=5, check_entry=holds_projections, min_std=1e-3)
    # every test video embedded once, however many episodes used it
    assert int(cached._cache.filled.sum()) == len(torch.unique(torch.cat(
        [torch.cat([ds[i].support_ids, ds[i].query_ids]) for i in range(len(ds))])))


def test_projected_head_equals_head_with_shuffled_support():
    """`forward_projected` sorts the support class-major like `forward` (a mix-up changes the logits)."""
    torch.manual_seed(0)
    model = _model(True).net.eval()
    support, query = torch.randn(6, 4, 512), torch.randn(5, 4, 512)
    labels = torch.tensor([2, 0, 1, 1, 0, 2])
    with torch.no_grad():
        expected = model(support, labels, query, 3)
        got = model.forward_projected(model.project(support), labels, model.project(query), 3)
        wrong = model.forward_projected(model.project(support), torch.tensor([0, 0, 1, 1, 2, 2]), model.project(query), 3)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(wrong, expected, atol=1e-3)


def test_trainer_test_accuracy_identical_with_and_without_cache(tmp_path):
    results = metrics_with_and_without_cache(_model, tmp_path, episodes=4)
    assert results[True]["test/accuracy"] == pytest.approx(results[False]["test/accuracy"], abs=0)
    assert results[True]["test/accuracy_ci95"] == pytest.approx(results[False]["test/accuracy_ci95"], abs=1e-12)
