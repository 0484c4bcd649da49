"""HyRSM's evaluation with the test-time cache (intra-related frames per video) equals evaluation that
recomputes every episode; the inter-relation is never cached (it mixes the videos of an episode)."""

import pytest
import torch

from tests.helpers.fewshot_cache import check_cached_episodes, metrics_with_and_without_cache
from vadbench.models.hyrsm import HyRSM, HyRSMLoss, HyRSMModel


def _model(cache: bool) -> HyRSM:
    torch.manual_seed(0)
    return HyRSM(net=HyRSMModel(backbone="resnet_tiny", num_classes=3), loss=HyRSMLoss(),
                 cache_eval_embeddings=cache, embed_chunk=7)


def test_cached_episode_logits_equal_recomputed(tmp_path):
    def holds_intra_related_frames(uncached, batch, recomputed, cached):
        (s0, q0), (s1, _) = recomputed, cached
        torch.testing.assert_close(s1, uncached.net.relate(s0), atol=1e-5, rtol=1e-4)   # intra-related frames
        # the eval path equals the training forward's logits
        torch.testing.assert_close(uncached.net(s0, batch.support_labels, q0, batch.way).logits,
                                   uncached.episode_logits(s0, batch.support_labels, q0, batch.way))

    check_cached_episodes(_model, tmp_path, episodes=5, check_entry=holds_intra_related_frames)


def test_trainer_test_accuracy_identical_with_and_without_cache(tmp_path):
    results = metrics_with_and_without_cache(_model, tmp_path, episodes=4)
    assert results[True]["test/accuracy"] == pytest.approx(results[False]["test/accuracy"], abs=0)
    assert results[True]["test/accuracy_ci95"] == pytest.approx(results[False]["test/accuracy_ci95"], abs=1e-12)


def test_class_id_outside_the_classifier_is_a_clear_error():
    model = HyRSMModel(backbone="resnet_tiny", num_classes=3)
    out = model(torch.rand(2, 4, model.feature_dim), torch.tensor([0, 1]), torch.rand(2, 4, model.feature_dim), 2)
    with pytest.raises(ValueError, match="num_classes"):
        HyRSMLoss()(out, torch.tensor([0, 1]), torch.tensor([0, 1, 5, 1]))
