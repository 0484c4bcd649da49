"""OTAM beyond the golden test: the evaluation cache gives the same accuracy as recomputing, the head's
distances stay float32 under bf16 autocast, backbone_passes reaches training, and bad input is refused."""

import pytest
import torch

from tests.helpers.fewshot_cache import check_cached_episodes, metrics_with_and_without_cache
from vadbench.models.otam import OTAM, OTAMHeadConfig, OTAMModel


def _model(cache: bool, **net) -> OTAM:
    torch.manual_seed(0)
    return OTAM(net=OTAMModel(backbone="resnet_tiny", **net), cache_eval_embeddings=cache, embed_chunk=5)


def test_trainer_test_accuracy_identical_with_and_without_cache(tmp_path):
    results = metrics_with_and_without_cache(_model, tmp_path, episodes=4)
    assert results[True]["test/accuracy"] == pytest.approx(results[False]["test/accuracy"], abs=0)


def test_cached_logits_equal_recomputed(tmp_path):
    check_cached_episodes(_model, tmp_path, episodes=3)


def test_head_is_a_float32_island_under_bf16_autocast():
    model = OTAMModel("resnet_tiny").eval()
    support, query = torch.rand(4, 5, 16), torch.rand(3, 5, 16)
    labels = torch.tensor([1, 0, 0, 1])
    expected = model(support, labels, query, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = model(support.bfloat16(), labels, query.bfloat16(), 2)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, model(support.bfloat16().float(), labels, query.bfloat16().float(), 2))
    assert (got - expected).abs().max() < 0.1


def test_separate_backbone_passes_reach_training():
    calls = []
    model = OTAMModel("resnet_tiny", backbone_passes="separate")
    model.backbone.register_forward_hook(lambda *a: calls.append(1))
    module = OTAM(net=model)
    s, q = module.net.embed_episode(torch.rand(2, 3, 3, 32, 32), torch.rand(2, 3, 3, 32, 32))
    assert len(calls) == 2 and s.shape == q.shape == (2, 3, 128)


def test_bad_settings_and_inputs_are_refused():
    with pytest.raises(ValueError, match="directions"):
        OTAMHeadConfig(directions="both_ways")
    with pytest.raises(ValueError, match="vertical_moves"):
        OTAMHeadConfig(vertical_moves="all")
    with pytest.raises(ValueError, match="smoothing"):
        OTAMHeadConfig(smoothing=-0.1)
    model = OTAMModel("resnet_tiny")
    with pytest.raises(ValueError, match="same number of shots"):
        model(torch.rand(3, 4, 8), torch.tensor([0, 1, 1]), torch.rand(2, 4, 8), 2)
    with pytest.raises(ValueError, match="one label per support video"):
        model(torch.rand(3, 4, 8), torch.tensor([0, 1]), torch.rand(2, 4, 8), 2)
